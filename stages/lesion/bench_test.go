package lesion

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"selectivity/stages/internal/net"
)

// BenchmarkStudySize measures the stage's costs at the study's size: a
// VGG-16 with 2137 outputs (random weights), conv13 (512 kernels, 14×14 at
// 224 px). It reports the forward pass to conv13 per image (done once per
// task image) and the cost of one lesion on 200 task images through the
// stage's evaluation (Lesioner head, lesions stacked stackRows rows to a
// GEMM, + cross-entropy), also as GFLOP/s: a lesion's multiply-adds are
// fc6's subtracted slice (P²·fc6.Out), fc7 and fc8, per image, times 2.
// Before timing it checks that the stacked logits of the first lesion are
// bit for bit those of the lesion alone. Run with
//
//	go test ./stages/lesion -run XXX -bench StudySize -benchtime 3x
//
// (best of 3; bench/ref.py lesion's lesion200stack is PyTorch on the same
// job with the same algorithm).
func BenchmarkStudySize(b *testing.B) {
	ctx := context.Background()
	params, err := net.RandomInit("vgg16", 2137, 1)
	if err != nil {
		b.Fatal(err)
	}
	nt, err := net.New("vgg16", params)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const fwd, n = 4, 200
	x := make([]float32, fwd*3*224*224)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	var acts []float32
	start := time.Now()
	err = nt.Forward(ctx, x, fwd, 224, 224, []string{"conv13"}, func(_ string, d []float32, _, _, _ int) error {
		acts = append(acts, d...)
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	perImage := time.Since(start).Seconds() / fwd
	// 200 images' activations: the forward pass's, repeated.
	per := 512 * 14 * 14
	all := make([]float32, n*per)
	for i := range n {
		copy(all[i*per:(i+1)*per], acts[(i%fwd)*per:(i%fwd+1)*per])
	}
	l, err := nt.NewLesioner(ctx, all, n, 512, 14, 14)
	if err != nil {
		b.Fatal(err)
	}
	labels := make([]int, n)
	for i := range labels {
		labels[i] = rng.IntN(2137)
	}
	r := &runner{nt: nt, layer: "conv13", fast: true, classes: 2137}
	t := &task{labels: labels, evals: []evaluator{l}}
	lesions := 3 * max(1, stackRows/n)
	sets := make([][]int, lesions)
	for k := range sets {
		sets[k] = []int{k * 31 % 512}
	}
	alone, err := l.Logits(ctx, sets[0], nil)
	if err != nil {
		b.Fatal(err)
	}
	stacked, err := l.LogitsSets(ctx, sets[:2], nil)
	if err != nil {
		b.Fatal(err)
	}
	if !slices.Equal(alone, stacked[:len(alone)]) {
		b.Fatal("stacked logits differ from the lesion's alone")
	}
	fc := nt.Arch().FC
	p := nt.Arch().AvgPool
	flops := 2 * float64(n) * float64(p*p*fc[0].Out+fc[1].In*fc[1].Out+fc[2].In*fc[2].Out)
	// Each iteration times the lesions stacked and, as a comparison in the
	// same run, one lesion per GEMM (the stage before stacking); the best
	// iteration of each is reported.
	stack := stackRows
	defer func() { stackRows = stack }()
	best := map[int]float64{}
	timed := func(rows int) {
		stackRows = rows
		start := time.Now()
		if _, err := r.evaluate(ctx, t, sets, nil); err != nil {
			b.Fatal(err)
		}
		sec := time.Since(start).Seconds() / float64(lesions)
		if v, ok := best[rows]; !ok || sec < v {
			best[rows] = sec
		}
	}
	b.ResetTimer()
	for b.Loop() {
		timed(stack)
		timed(n)
	}
	b.StopTimer()
	perLesion, single := best[stack], best[n]
	b.ReportMetric(perLesion, "s/lesion@200img")
	b.ReportMetric(flops/perLesion/1e9, "GFLOP/s")
	b.ReportMetric(single, "s/lesion-unstacked")
	b.ReportMetric(flops/single/1e9, "GFLOP/s-unstacked")
	b.ReportMetric(perImage, "s/img-forward")
	b.Logf("GEMM kernel %s: forward to conv13 %.3f s/image; one lesion on %d images %.4f s = %.1f GFLOP/s (%d lesions, %d stacked; one per GEMM: %.4f s = %.1f GFLOP/s); 512 lesions %.1f s",
		net.Kernel(), perImage, n, perLesion, flops/perLesion/1e9, lesions, stack/n, single, flops/single/1e9, 512*perLesion)
}
