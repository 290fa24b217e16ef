package decode

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"selectivity/pipeline/pipelinetest"
)

// BenchmarkDecodeStudySize runs the whole stage at the study's size:
// 100 identities × 10 images, conv13's 512 kernels, N = 96, four metrics,
// 10 random draws and all kernels: 15 feature sets × 10 folds. Run with
//
//	go test ./stages/decode -run XXX -bench StudySize -benchtime 1x
func BenchmarkDecodeStudySize(b *testing.B) {
	const ids, m, c = 100, 10, 512
	rng := rand.New(rand.NewPCG(5, 6))
	proto := make([]float64, ids*c)
	for i := range proto {
		proto[i] = rng.NormFloat64()
	}
	x := make([][]float64, ids*m)
	identity := make([]int, ids*m)
	for i := range ids {
		for k := range m {
			row := make([]float64, c)
			for j := range row {
				row[j] = math.Exp(0.3 * (0.6*proto[i*c+j] + rng.NormFloat64()))
			}
			x[i*m+k], identity[i*m+k] = row, i
		}
	}
	feat, met := b.TempDir(), b.TempDir()
	writeFeatures(b, feat, "conv13", "l2", x, identity)
	vals, sel := map[string][]float64{}, map[string][]bool{}
	for _, name := range MetricNames {
		vals[name], sel[name] = make([]float64, c), make([]bool, c)
		for j := range c {
			vals[name][j] = rng.NormFloat64()
			sel[name][j] = j < 96+rng.IntN(50)
		}
	}
	for j := range c { // the smallest selection: 96 kernels
		sel["ttest"][j] = j < 96
	}
	writeMetrics(b, met, "conv13", MetricNames, vals, sel)
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		out, logs, err := run(b, DefaultParams(), pipelinetest.Input(b, "aggregate", feat), pipelinetest.Input(b, "metric", met))
		if err != nil {
			b.Fatal(err)
		}
		rows, meta := readDecoding(b, out+"/"+DecodingFile)
		b.Logf("%v; %.1f s; not converged %s", logs, time.Since(start).Seconds(), meta["not_converged"])
		for _, r := range rows {
			b.Logf("%-8s N=%3d mean %.3f CI [%.3f, %.3f]", r.set, r.kernels, r.mean, r.ciLow, r.ciHigh)
		}
	}
}
