package variants

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"selectivity/pipeline/pipelinetest"
	"selectivity/stages"
	"selectivity/stages/internal/data"
	"selectivity/stages/internal/golden"
	"selectivity/stages/internal/stats"
	"selectivity/stages/internal/stats/fixture"
	"selectivity/stages/internal/study"
	"selectivity/stages/internal/study/metrictest"
)

// metricCases is what the test needs of testdata/metric/fixtures.json:
// numpy/scipy's values and selected sets per case.
type metricCases struct {
	Cases []metricCase
}

type metricCase struct {
	Name, Input string
	Params      map[string]any
	Layers      map[string]struct {
		Items    int
		Selected map[string][]int
		FSI      []fixture.Float `json:"fsi"`
		DPrime   []fixture.Float `json:"dprime"`
		WZ       []fixture.Float `json:"wilcoxon_z"`
		TT       []fixture.Float `json:"ttest_t"`
	}
}

// TestAgainstMetricReference runs the metric kind on the metric fixture
// with five of its variant cases and compares them: every pair's Jaccard
// equals that of numpy/scipy's selected sets, its Spearman that of their
// values (to 1e-9), and the % selected and its move from the baseline
// follow from those sets.
func TestAgainstMetricReference(t *testing.T) {
	b, err := os.ReadFile("../../testdata/metric/fixtures.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx metricCases
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	names := []string{"default", "ranksums", "welch", "by", "ddof1"}
	in := metrictest.LoadFixture(t).Input(t, "unit")
	var ins []stages.Input
	for _, name := range names {
		i := slices.IndexFunc(fx.Cases, func(c metricCase) bool { return c.Name == name })
		ins = append(ins, runMetric(t, in, "metric@"+name, name, fx.Cases[i].Params))
	}
	out := t.TempDir()
	job := &stages.Job{Stage: "variants", Params: &Params{}, OutDir: out,
		Inputs: map[string][]stages.Input{"metrics": ins}, Progress: pipelinetest.Progress{}}
	if err := (kind{}).Run(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, kind{}, out)
	ref := func(name, layer string) (map[string][]bool, map[string][]float64) {
		for _, c := range fx.Cases {
			if c.Name != name {
				continue
			}
			l := c.Layers[layer]
			sel := map[string][]bool{}
			for m, idx := range l.Selected {
				s := make([]bool, l.Items)
				for _, i := range idx {
					s[i] = true
				}
				sel[m] = s
			}
			f := func(v []fixture.Float) []float64 {
				out := make([]float64, len(v))
				for i, x := range v {
					out[i] = float64(x)
				}
				return out
			}
			return sel, map[string][]float64{"fsi": f(l.FSI), "dprime": f(l.DPrime), "wilcoxon": f(l.WZ), "ttest": f(l.TT)}
		}
		t.Fatalf("no case %s", name)
		return nil, nil
	}
	r := metrictest.Open(t, filepath.Join(out, data.VariantPairsFile))
	layer, met, a, bb := metrictest.Strings(t, r, "layer"), metrictest.Strings(t, r, "metric"), metrictest.Strings(t, r, "a"), metrictest.Strings(t, r, "b")
	rho, jac := metrictest.Floats(t, r, "spearman"), metrictest.Floats(t, r, "jaccard")
	if want := 2 * 4 * len(names) * (len(names) - 1) / 2; len(layer) != want {
		t.Fatalf("pairs.arrow: %d rows, want %d (2 layers × 4 metrics × 10 pairs)", len(layer), want)
	}
	for i := range layer {
		sa, va := ref(strings.TrimPrefix(a[i], "metric@"), layer[i])
		sb, vb := ref(strings.TrimPrefix(bb[i], "metric@"), layer[i])
		if w := stats.Jaccard(sa[met[i]], sb[met[i]]); !(w == jac[i] || math.IsNaN(w) && math.IsNaN(jac[i])) {
			t.Errorf("row %d (%s %s %s–%s): Jaccard %v, reference sets give %v", i, layer[i], met[i], a[i], bb[i], jac[i], w)
		}
		if w := stats.Spearman(stats.TieRound(va[met[i]]), stats.TieRound(vb[met[i]])); math.Abs(w-rho[i]) > 1e-9 {
			t.Errorf("row %d (%s %s %s–%s): Spearman %v, reference values give %v", i, layer[i], met[i], a[i], bb[i], rho[i], w)
		}
	}
	pc := metrictest.Open(t, filepath.Join(out, data.VariantPercentFile))
	v, pl, pm := metrictest.Strings(t, pc, "variant"), metrictest.Strings(t, pc, "layer"), metrictest.Strings(t, pc, "metric")
	pct, delta, mx := metrictest.Floats(t, pc, "percent"), metrictest.Floats(t, pc, "delta_percent"), metrictest.Strings(t, pc, "case")
	for i := range v {
		s, _ := ref(mx[i], pl[i])
		s0, _ := ref("default", pl[i])
		k, k0 := 0, 0
		for j := range s[pm[i]] {
			if s[pm[i]][j] {
				k++
			}
			if s0[pm[i]][j] {
				k0++
			}
		}
		n := float64(len(s[pm[i]]))
		if pct[i] != 100*float64(k)/n || math.Abs(delta[i]-(100*float64(k)/n-100*float64(k0)/n)) > 1e-12 {
			t.Errorf("percent row %d (%s %s %s): %v (Δ %v); reference %d of %v selected, baseline %d", i, v[i], pl[i], pm[i], pct[i], delta[i], k, n, k0)
		}
	}
}

// TestMismatchedLevels: unit- and kernel-level variants are an error
// naming both stages.
func TestMismatchedLevels(t *testing.T) {
	mfx := metrictest.LoadFixture(t)
	u := runMetric(t, mfx.Input(t, "unit"), "metric@unit", "unit", nil)
	k := runMetric(t, mfx.Input(t, "mean"), "metric@mean", "mean", nil)
	job := &stages.Job{Stage: "variants", Params: &Params{}, OutDir: t.TempDir(),
		Inputs: map[string][]stages.Input{"metrics": {u, k}}, Progress: pipelinetest.Progress{}}
	err := (kind{}).Run(context.Background(), job)
	if err == nil || !strings.Contains(err.Error(), "metric@unit has 192 items, metric@mean has 24") {
		t.Errorf("error %v", err)
	}
	job.Inputs["metrics"] = []stages.Input{u}
	if err := (kind{}).Run(context.Background(), job); err == nil || !strings.Contains(err.Error(), "two or more") {
		t.Errorf("one input: error %v", err)
	}
}

// runMetric runs the metric kind with the given parameters on in.
func runMetric(t *testing.T, in stages.Input, stage, caseName string, over map[string]any) stages.Input {
	t.Helper()
	p := study.Defaults()
	b, _ := yaml.Marshal(over)
	if err := yaml.Unmarshal(b, p); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	job := &stages.Job{Stage: stage, Params: p, OutDir: out,
		Inputs: map[string][]stages.Input{"acts": {in}}, Progress: pipelinetest.Progress{}}
	if err := study.Run(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(out)
	res := stages.Input{Stage: stage, Dir: out, Matrix: map[string]string{"case": caseName}}
	for _, e := range ents {
		res.Files = append(res.Files, e.Name())
	}
	return res
}
