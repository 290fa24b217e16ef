package net

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkConvLayers times VGG-16's convolution shapes (2 images); the
// reported GFLOP/s is from the fastest iteration, which is the least
// disturbed by other load on a shared machine.
func BenchmarkConvLayers(b *testing.B) {
	for _, s := range [][3]int{{3, 64, 224}, {64, 64, 224}, {128, 128, 112}, {256, 256, 56}, {512, 512, 28}, {512, 512, 14}} {
		cin, cout, hw := s[0], s[1], s[2]
		b.Run(fmt.Sprintf("%d-%d-%d", cin, cout, hw), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			c := Conv{Tap: "x", In: cin, Out: cout, Kernel: 3, Stride: 1, Pad: 1}
			l := &convLayer{Conv: c, a: newPackedA(randSlice(rng, cout*cin*9), cout, cin*9, make([]float32, cout))}
			n := 2
			in := randSlice(rng, n*cin*hw*hw)
			var mem arena
			best, bestCPU := time.Hour, 1e9
			for i := 0; i < b.N; i++ {
				t, c := time.Now(), cpuSeconds()
				out, _, _, err := l.forward(&mem, in, n, hw, hw)
				if err != nil {
					b.Fatal(err)
				}
				mem.put(out)
				best, bestCPU = min(best, time.Since(t)), min(bestCPU, cpuSeconds()-c)
			}
			flop := 2 * float64(n*hw*hw*cout*cin*9)
			b.ReportMetric(flop/best.Seconds()/1e9, "GFLOP/s")
			b.ReportMetric(flop/bestCPU/1e9, "GFLOP/cpu-s")
		})
	}
}
