package metric

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"testing"
	"time"

	"selectivity/cache/arrowfile"
	"selectivity/pipeline/pipelinetest"
	"selectivity/stages"
)

// BenchmarkCompareMetricUnit runs the whole metric kind with its defaults
// (fsi, dprime, wilcoxon mannwhitneyu, ttest student against the 4 other
// domains with FDR BH) on a synthetic unit-level layer of 1440 images (10
// fLOC categories × 144; faces 288 against 1152) × 20,000 units, read from
// a page-cached arrow file, outputs written. bench/run.sh compares it with
// bench/ref.py's numpy/scipy/statsmodels version of the same four metrics
// on the same values (ref.py regenerates them bit for bit), in memory. It
// logs the result line so that the selected counts can be checked against
// the reference's. best-s is the fastest single run (run.sh's number).
func BenchmarkCompareMetricUnit(b *testing.B) {
	const nImages, units = 1440, 20_000
	dir := b.TempDir()
	writeCompareLayer(b, dir, nImages, units)
	in := stages.Input{Stage: "extract", Dir: dir, Files: []string{"images.arrow", "conv.arrow"}}
	p := kind{}.NewParams().(*Params)
	once := func(logf func(string, ...any)) {
		job := &stages.Job{Stage: "metric", Params: p, OutDir: b.TempDir(),
			Inputs: map[string][]stages.Input{"acts": {in}}, Progress: pipelinetest.Progress{}, Logf: logf}
		if err := (kind{}).Run(context.Background(), job); err != nil {
			b.Fatal(err)
		}
	}
	var line string
	once(func(f string, a ...any) { line = fmt.Sprintf(f, a...) }) // warm-up: page cache, buffers
	best := math.Inf(1)
	b.ResetTimer()
	for b.Loop() {
		t := time.Now()
		once(func(string, ...any) {})
		best = min(best, time.Since(t).Seconds())
	}
	b.StopTimer()
	b.ReportMetric(best, "best-s")
	b.Logf("result: %s", line)
}

// writeCompareLayer is writeSynthetic (peak_test.go) for a testing.TB:
// images.arrow (10 fLOC categories × 144) and conv.arrow (images × units of
// post-ReLU xorshift noise in [−1.2, 0.8), faces +0.5 in every 10th unit).
func writeCompareLayer(t testing.TB, dir string, nImages, units int) {
	cats := [][2]string{{"adult", "faces"}, {"child", "faces"}, {"body", "bodies"}, {"limb", "bodies"},
		{"word", "characters"}, {"number", "characters"}, {"car", "objects"}, {"instrument", "objects"},
		{"house", "places"}, {"corridor", "places"}}
	var im fxImages
	for i := range nImages {
		c := cats[i*len(cats)/nImages]
		im.Path = append(im.Path, fmt.Sprintf("stimuli/%s/%s-%d.jpg", c[0], c[0], i))
		im.Category, im.Domain, im.Identity, im.Image = append(im.Category, c[0]), append(im.Domain, c[1]), append(im.Identity, ""), append(im.Image, int32(i))
	}
	writeImages(t, filepath.Join(dir, "images.arrow"), im)
	shape := []int{units, 1, 1}
	if units%400 == 0 {
		shape = []int{units / 400, 20, 20}
	}
	meta := map[string]string{"layer": "conv", "level": "unit", "shape": arrowfile.FormatInts(shape...)}
	if err := arrowfile.WriteMatrix(filepath.Join(dir, "conv.arrow"), nImages, units, meta, func(r int, dst []float32) {
		s := uint64(r)*0x9E3779B97F4A7C15 + 1
		face := im.Domain[r] == "faces"
		for i := range dst {
			s ^= s << 13
			s ^= s >> 7
			s ^= s << 17
			v := float32(s>>40)/float32(1<<24)*2 - 1.2 // uniform in [-1.2, 0.8)
			if face && i%10 == 0 {
				v += 0.5
			}
			if v > 0 {
				dst[i] = v
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
}
