package net

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

var (
	benchOnce sync.Once
	benchNet  *Net
	benchErr  error
)

func fullVGG16(b *testing.B) *Net {
	benchOnce.Do(func() {
		var params map[string]Tensor
		if params, benchErr = RandomInit("vgg16", 1000, 1); benchErr == nil {
			benchNet, benchErr = New("vgg16", params)
		}
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchNet
}

// BenchmarkVGG16Forward times the full VGG-16 (random init, 1000 classes) on
// a batch of 8 images at 224 px through to the logits — the study's
// workload — and, in the same run, PyTorch on this machine with 2 threads
// (testdata/net/bench.py; skipped if /usr/bin/python3 has no torch). It
// reports images/s of both and their ratio (>1: Go is faster).
func BenchmarkVGG16Forward(b *testing.B) { benchForward(b, "vgg16", fullVGG16(b)) }

// BenchmarkResNet50Forward is BenchmarkVGG16Forward for ResNet-50
// (torchvision's initialisation, 1000 classes).
func BenchmarkResNet50Forward(b *testing.B) {
	params, err := RandomInit("resnet50", 1000, 1)
	if err != nil {
		b.Fatal(err)
	}
	nt, err := New("resnet50", params)
	if err != nil {
		b.Fatal(err)
	}
	benchForward(b, "resnet50", nt)
}

// benchForward times nt on 8 random images at 224 px to the logits (best
// of b.N after a warm-up) and runs bench.py's PyTorch timing of arch.
func benchForward(b *testing.B, arch string, nt *Net) {
	const n, size = 8, 224
	x := randImages(2, n, size, size)
	ctx := context.Background()
	sink := func(string, []float32, int, int, int) error { return nil }
	if err := nt.Forward(ctx, x, n, size, size, []string{"logits"}, sink); err != nil { // warm-up
		b.Fatal(err)
	}
	b.ResetTimer()
	best := time.Duration(1<<63 - 1)
	for i := 0; i < b.N; i++ {
		t := time.Now()
		if err := nt.Forward(ctx, x, n, size, size, []string{"logits"}, sink); err != nil {
			b.Fatal(err)
		}
		best = min(best, time.Since(t))
	}
	b.StopTimer()
	goRate := n / best.Seconds()
	b.ReportMetric(goRate, "images/s")
	b.ReportMetric(0, "ns/op")

	script := filepath.Join("..", "..", "..", "testdata", "net", "bench.py")
	out, err := exec.Command("/usr/bin/python3", script, strconv.Itoa(n), strconv.Itoa(size), "3", arch).Output()
	if err != nil {
		b.Logf("PyTorch reference not run: %v", err)
		return
	}
	var ref struct {
		ImagesPerS float64 `json:"images_per_s"`
		Threads    int     `json:"threads"`
		Torch      string  `json:"torch"`
	}
	if err := json.Unmarshal(out, &ref); err != nil {
		b.Fatalf("bench.py output %q: %v", out, err)
	}
	b.ReportMetric(ref.ImagesPerS, "torch-images/s")
	b.ReportMetric(goRate/ref.ImagesPerS, "go/torch")
	b.Logf("%s: Go %.2f images/s (best of %d), PyTorch %s (%d threads) %.2f images/s: ratio %.2f", arch, goRate, b.N, ref.Torch, ref.Threads, ref.ImagesPerS, goRate/ref.ImagesPerS)
}

// BenchmarkLesion compares, for one lesioned conv13 channel of the full
// VGG-16 (1000 classes) on 64 images, the Lesioner (fc6 contribution
// subtracted, then fc7 and fc8) with re-running ForwardFrom("conv13").
func BenchmarkLesion(b *testing.B) {
	const n = 64
	nt := fullVGG16(b)
	ctx := context.Background()
	acts := randSlice(rand.New(rand.NewPCG(3, 3)), n*512*14*14)
	relu(acts)
	les, err := nt.NewLesioner(ctx, acts, n, 512, 14, 14)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Lesioner", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := les.Logits(ctx, []int{i % 512}, nil); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lesions/s")
	})
	b.Run("ForwardFrom", func(b *testing.B) {
		zeroed := slices.Clone(acts)
		for i := 0; i < b.N; i++ {
			k := i % 512
			for j := 0; j < n; j++ {
				clear(zeroed[(j*512+k)*196 : (j*512+k+1)*196])
			}
			err := nt.ForwardFrom(ctx, "conv13", zeroed, n, 512, 14, 14, []string{"logits"}, func(string, []float32, int, int, int) error { return nil })
			if err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lesions/s")
	})
}

// BenchmarkTrainStep times one training step — forward, backward and the
// SGD update (momentum 0.9, weight decay 1e-4) — of VGG-16 ÷ 8 with a
// 256-256 classifier and 108 classes on a batch of 32 images at 64 px (the
// train stage's network), reporting images/s of the best step. Its PyTorch
// counterpart is bench/ref.py's train group.
func BenchmarkTrainStep(b *testing.B) {
	const n, size, classes = 32, 64, 108
	a, err := Scaled("vgg16", 8, 256, classes)
	if err != nil {
		b.Fatal(err)
	}
	params, err := RandomInitArch(a, 1)
	if err != nil {
		b.Fatal(err)
	}
	tr, err := NewTrainer("vgg16", params, n, size, size)
	if err != nil {
		b.Fatal(err)
	}
	x := randImages(2, n, size, size)
	labels := make([]int, n)
	for i := range labels {
		labels[i] = (i * 37) % classes
	}
	opt := &SGD{Momentum: 0.9, WeightDecay: 1e-4}
	ctx := context.Background()
	step := func() {
		if _, _, err := tr.Step(ctx, x, labels); err != nil {
			b.Fatal(err)
		}
		if err := opt.Update(0.01, params, tr.Grads()); err != nil {
			b.Fatal(err)
		}
	}
	step() // warm-up
	b.ReportAllocs()
	b.ResetTimer()
	best := time.Duration(1<<63 - 1)
	for i := 0; i < b.N; i++ {
		t := time.Now()
		step()
		best = min(best, time.Since(t))
	}
	b.ReportMetric(n/best.Seconds(), "images/s")
}
