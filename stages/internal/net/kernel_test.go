package net

import (
	"math"
	"math/rand/v2"
	"syscall"
	"testing"
)

func TestMicroKernelsMatchGeneric(t *testing.T) {
	t.Logf("kernel in use: %s (nr = %d)", Kernel(), nr)
	rng := rand.New(rand.NewPCG(1, 2))
	for name, k := range asmKernels() {
		w := k.nr
		for _, kc := range []int{1, 2, 3, 7, 64, 385} {
			for flags := 0; flags < 4; flags++ {
				a := randSlice(rng, kc*mr)
				b := randSlice(rng, kc*w)
				bias := randSlice(rng, mr)
				ldc := w + 5
				c0 := randSlice(rng, mr*ldc)
				c1 := append([]float32(nil), c0...)
				c2 := append([]float32(nil), c0...)
				k.fn(kc, a, b, c1, ldc, bias, flags)
				microN(w, kc, a, b, c2, ldc, bias, flags)
				for i := range c1 {
					if d := math.Abs(float64(c1[i] - c2[i])); d > 1e-4*(1+math.Abs(float64(c2[i]))) {
						t.Fatalf("%s kc=%d flags=%d: c[%d] = %g, generic %g", name, kc, flags, i, c1[i], c2[i])
					}
					if i%ldc >= w && c1[i] != c0[i] {
						t.Fatalf("%s kc=%d flags=%d: wrote outside the tile at %d", name, kc, flags, i)
					}
				}
			}
		}
		// NaN propagates through ReLU as in PyTorch.
		a := make([]float32, mr)
		b := make([]float32, w)
		a[0] = float32(math.NaN())
		c := make([]float32, mr*w)
		k.fn(1, a, b, c, w, make([]float32, mr), kReLU)
		if !math.IsNaN(float64(c[0])) {
			t.Errorf("%s: ReLU(NaN) = %g, want NaN", name, c[0])
		}
	}
}

func TestGemmMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, dims := range [][3]int{{1, 1, 1}, {5, 7, 3}, {4, 24, 10}, {13, 50, 600}, {64, 300, 1000}} {
		m, n, k := dims[0], dims[1], dims[2]
		w := randSlice(rng, m*k)
		x := randSlice(rng, n*k) // n×k
		bias := randSlice(rng, m)
		pa := newPackedA(w, m, k, bias)
		out := make([]float32, m*n)
		if err := pa.matmul(nil, out, n, true, false, func(c0, cols int) packFunc { return packNK(x[c0*k:], k, cols) }); err != nil {
			t.Fatal(err)
		}
		// B given as k×n
		xt := make([]float32, k*n)
		for i := 0; i < n; i++ {
			for j := 0; j < k; j++ {
				xt[j*n+i] = x[i*k+j]
			}
		}
		out2 := make([]float32, m*n)
		if err := pa.matmul(nil, out2, n, true, false, func(c0, cols int) packFunc { return packKN(xt, n, c0, cols) }); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				s := float64(bias[i])
				for kk := 0; kk < k; kk++ {
					s += float64(w[i*k+kk]) * float64(x[j*k+kk])
				}
				s = max(s, 0)
				for _, o := range []float32{out[i*n+j], out2[i*n+j]} {
					if math.Abs(float64(o)-s) > 1e-4*(1+math.Abs(s)) {
						t.Fatalf("%v: out[%d][%d] = %g, want %g", dims, i, j, o, s)
					}
				}
			}
		}
	}
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

func BenchmarkGemm(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	m, n, k := 256, 3136, 2304
	pa := newPackedA(randSlice(rng, m*k), m, k, nil)
	xt := randSlice(rng, k*n)
	out := make([]float32, m*n)
	b.ResetTimer()
	c0 := cpuSeconds()
	for i := 0; i < b.N; i++ {
		pa.matmul(nil, out, n, true, false, func(c0, cols int) packFunc { return packKN(xt, n, c0, cols) })
	}
	flop := 2 * float64(m*n*k) * float64(b.N)
	b.ReportMetric(flop/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	b.ReportMetric(flop/(cpuSeconds()-c0)/1e9, "GFLOP/cpu-s")
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec) + float64(ru.Utime.Usec)/1e6 + float64(ru.Stime.Sec) + float64(ru.Stime.Usec)/1e6
}
