package reliability

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"selectivity/pipeline/pipelinetest"
	"selectivity/stages"
	"selectivity/stages/internal/study/metrictest"
)

// BenchmarkStudySplits runs the reliability kind with its defaults (all
// four metrics, Mann–Whitney, Student against the 4 other domains + BH) on
// a unit-level layer of the study's 1440 images (10 fLOC categories × 144;
// faces 288 against 1152) × 5,000 units of post-ReLU noise, faces a little
// higher in every 10th unit, with 10 splits (20 halves of 720 images).
// s/unit-split is the best run's time per unit and split: R = 100 splits
// over conv13's 100,352 units take about 100 · 100,352 times that
// (min/R100-conv13). $SELECTIVITY_BENCH_UNITS and $SELECTIVITY_BENCH_SPLITS
// change the size (100352 and 100: the study's).
//
//	GOMAXPROCS=2 go test -run '^$' -bench BenchmarkStudySplits -benchtime 1x -count 2 ./stages/reliability/
func BenchmarkStudySplits(b *testing.B) {
	const nImages = 1440
	units, splits := envInt("SELECTIVITY_BENCH_UNITS", 5000), envInt("SELECTIVITY_BENCH_SPLITS", 10)
	cats := [][2]string{{"adult", "faces"}, {"child", "faces"}, {"body", "bodies"}, {"limb", "bodies"},
		{"word", "characters"}, {"number", "characters"}, {"car", "objects"}, {"instrument", "objects"},
		{"house", "places"}, {"corridor", "places"}}
	var im metrictest.Images
	for i := range nImages {
		c := cats[i*len(cats)/nImages]
		im.Path = append(im.Path, fmt.Sprintf("%s/%d.png", c[0], i))
		im.Category, im.Domain = append(im.Category, c[0]), append(im.Domain, c[1])
	}
	rng := rand.New(rand.NewPCG(3, 4))
	in := metrictest.WriteInput(b, im, []metrictest.Layer{{Name: "conv13", Shape: []int{units, 1, 1}, Items: units,
		Rows: func(r int, dst []float32) {
			face := im.Domain[r] == "faces"
			for i := range dst {
				v := rng.NormFloat64()
				if face && i%10 == 0 {
					v += 0.5
				}
				dst[i] = float32(max(v, 0))
			}
		}}})
	p := kind{}.NewParams().(*Params)
	p.Splits = splits
	best := math.Inf(1)
	for b.Loop() {
		job := &stages.Job{Stage: "reliability", Params: p, OutDir: b.TempDir(),
			Inputs: map[string][]stages.Input{"acts": {in}}, Progress: pipelinetest.Progress{}, Logf: func(string, ...any) {}}
		t := time.Now()
		if err := (kind{}).Run(context.Background(), job); err != nil {
			b.Fatal(err)
		}
		best = min(best, time.Since(t).Seconds())
	}
	b.ReportMetric(best, "best-s")
	b.ReportMetric(best/float64(units*splits), "s/unit-split")
	b.ReportMetric(best/float64(units*splits)*100*100352/60, "min/R100-conv13")
}

// envInt is the positive integer in $name, or def.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
