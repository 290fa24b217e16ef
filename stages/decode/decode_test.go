package decode

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"selectivity/pipeline/pipelinetest"
)

// fixtureInputs writes the fixture's features and metric values as an
// aggregate stage and one metric stage.
func fixtureInputs(t *testing.T, f *fixture) (feat, met string) {
	t.Helper()
	feat, met = t.TempDir(), t.TempDir()
	writeFeatures(t, feat, "conv13", "l2", f.X, f.Identity)
	vals := map[string][]float64{}
	for _, m := range MetricNames {
		vals[m] = f.values(m)
	}
	writeMetrics(t, met, "conv13", MetricNames, vals, f.Selected)
	return feat, met
}

// TestDecodeMatchesScikitLearn runs the stage on the fixture: N, each
// metric's kernels, every fold's accuracy, the mean and CI equal
// scikit-learn's (StandardScaler + LinearSVC() + scipy's t quantile).
func TestDecodeMatchesScikitLearn(t *testing.T) {
	f := loadFixture(t)
	feat, met := fixtureInputs(t, f)
	p := DefaultParams()
	p.RandomDraws = 3
	out, logs, err := run(t, p, pipelinetest.Input(t, "aggregate", feat), pipelinetest.Input(t, "metric", met))
	if err != nil {
		t.Fatal(err)
	}
	t.Log(strings.Join(logs, "\n"))
	rows, meta := readDecoding(t, out+"/"+DecodingFile)
	wantSets := []string{"fsi", "dprime", "wilcoxon", "ttest", "random", "all"}
	var got []string
	for _, r := range rows {
		got = append(got, r.set)
	}
	if !slices.Equal(got, wantSets) {
		t.Fatalf("sets %v, want %v", got, wantSets)
	}
	if meta["top_n"] != "10" || f.TopN != 10 {
		t.Errorf("top_n %s, fixture %d", meta["top_n"], f.TopN)
	}
	for _, r := range rows {
		if math.Abs(r.chance-f.Chance) > 1e-15 {
			t.Errorf("%s: chance %v", r.set, r.chance)
		}
		if r.set == "random" {
			if r.draws != 3 || r.kernels != 10 || len(r.folds) != f.M {
				t.Errorf("random: %+v", r)
			}
			continue
		}
		ref := f.Sets[r.set]
		if int(r.kernels) != len(ref.Kernels) {
			t.Errorf("%s: %d kernels, want %d", r.set, r.kernels, len(ref.Kernels))
		}
		for k, fo := range ref.Folds {
			if r.folds[k] != fo.Accuracy {
				t.Errorf("%s fold %d: accuracy %v, scikit-learn %v", r.set, k, r.folds[k], fo.Accuracy)
			}
		}
		for _, c := range []struct {
			name      string
			got, want float64
		}{{"mean", r.mean, ref.Mean}, {"sd", r.sd, ref.SD}, {"ci_low", r.ciLow, ref.CILow}, {"ci_high", r.ciHigh, ref.CIHigh}} {
			if math.Abs(c.got-c.want) > 1e-12 {
				t.Errorf("%s: %s %v, reference %v", r.set, c.name, c.got, c.want)
			}
		}
	}
	// The kernels chosen are gen.py's (ties by index, NaN last).
	for _, m := range MetricNames {
		if k := TopN(f.values(m), f.TopN); !slices.Equal(k, f.Sets[m].Kernels) {
			t.Errorf("%s: top kernels %v, gen.py %v", m, k, f.Sets[m].Kernels)
		}
	}
	// Same inputs and seed: identical output (deterministic).
	out2, _, err := run(t, p, pipelinetest.Input(t, "aggregate", feat), pipelinetest.Input(t, "metric", met))
	if err != nil {
		t.Fatal(err)
	}
	rows2, _ := readDecoding(t, out2+"/"+DecodingFile)
	for i := range rows {
		if !slices.Equal(rows[i].folds, rows2[i].folds) {
			t.Errorf("%s: second run %v, first %v", rows[i].set, rows2[i].folds, rows[i].folds)
		}
	}
}

func TestTopN(t *testing.T) {
	nan := math.NaN()
	v := []float64{1, 3, nan, 3, -1, nan, 2, 3}
	if got := TopN(v, 8); !slices.Equal(got, []int{1, 3, 7, 6, 0, 4, 2, 5}) {
		t.Errorf("TopN %v", got)
	}
	if got := TopN(v, 2); !slices.Equal(got, []int{1, 3}) {
		t.Errorf("TopN 2: %v", got)
	}
	inf := math.Inf(1)
	if got := TopN([]float64{0, inf, -inf, nan}, 4); !slices.Equal(got, []int{1, 0, 2, 3}) {
		t.Errorf("TopN ±Inf: %v", got)
	}
}

func TestRandomKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[int]int{}
	for range 2000 {
		k := randomKernels(rng, 10, 3)
		if len(k) != 3 || !slices.IsSorted(k) || k[0] == k[1] || k[1] == k[2] {
			t.Fatalf("draw %v", k)
		}
		for _, j := range k {
			seen[j]++
		}
	}
	for j := range 10 {
		if seen[j] < 500 || seen[j] > 700 { // expected 600
			t.Errorf("kernel %d drawn %d times of 2000×3", j, seen[j])
		}
	}
}

func TestTopNParamAndErrors(t *testing.T) {
	f := loadFixture(t)
	feat, met := fixtureInputs(t, f)
	p := DefaultParams()
	p.RandomDraws = 0
	p.TopN = 5
	p.Metrics = []string{"ttest", "fsi"}
	out, _, err := run(t, p, pipelinetest.Input(t, "aggregate", feat), pipelinetest.Input(t, "metric", met))
	if err != nil {
		t.Fatal(err)
	}
	rows, meta := readDecoding(t, out+"/"+DecodingFile)
	if len(rows) != 3 || rows[0].set != "fsi" || rows[1].set != "ttest" || rows[2].set != "all" || rows[0].kernels != 5 || rows[2].kernels != 40 {
		t.Errorf("rows %+v", rows)
	}
	if meta["top_n_rule"] != "parameter" {
		t.Errorf("top_n_rule %q", meta["top_n_rule"])
	}

	check := func(name string, err error, want string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, want)
		}
	}
	// Uneven identities.
	uneven := t.TempDir()
	writeFeatures(t, uneven, "conv13", "l2", f.X[:len(f.X)-1], f.Identity[:len(f.Identity)-1])
	_, _, err = run(t, DefaultParams(), pipelinetest.Input(t, "aggregate", uneven), pipelinetest.Input(t, "metric", met))
	check("uneven", err, "same number of images per identity")
	// Images without identity (a category set).
	noID := t.TempDir()
	ids := slices.Clone(f.Identity)
	ids[3] = -1
	writeFeatures(t, noID, "conv13", "l2", f.X, ids)
	_, _, err = run(t, DefaultParams(), pipelinetest.Input(t, "aggregate", noID), pipelinetest.Input(t, "metric", met))
	check("no identity", err, "identity set")
	// A metric in two stages.
	_, _, err = run(t, DefaultParams(), pipelinetest.Input(t, "aggregate", feat), pipelinetest.Input(t, "metric@a", met), pipelinetest.Input(t, "metric@b", met))
	check("twice", err, "in both metric@a and metric@b")
	// A metric missing.
	part := t.TempDir()
	writeMetrics(t, part, "conv13", []string{"fsi"}, map[string][]float64{"fsi": f.values("fsi")}, f.Selected)
	_, _, err = run(t, DefaultParams(), pipelinetest.Input(t, "aggregate", feat), pipelinetest.Input(t, "metric", part))
	check("missing", err, "holds dprime, wilcoxon, ttest of layer conv13")
	// Wrong layer.
	p = DefaultParams()
	p.Layer = "conv10"
	_, _, err = run(t, p, pipelinetest.Input(t, "aggregate", feat), pipelinetest.Input(t, "metric", met))
	check("layer", err, "conv10")
	// No kernel selected.
	none := t.TempDir()
	sel := map[string][]bool{}
	vals := map[string][]float64{}
	for _, m := range MetricNames {
		sel[m] = make([]bool, f.Features)
		vals[m] = f.values(m)
	}
	writeMetrics(t, none, "conv13", MetricNames, vals, sel)
	_, _, err = run(t, DefaultParams(), pipelinetest.Input(t, "aggregate", feat), pipelinetest.Input(t, "metric", none))
	check("none selected", err, "set top_n")
	// Kernel count mismatch.
	short := t.TempDir()
	for _, m := range MetricNames {
		vals[m], sel[m] = vals[m][:30], f.Selected[m][:30]
	}
	writeMetrics(t, short, "conv13", MetricNames, vals, sel)
	_, _, err = run(t, DefaultParams(), pipelinetest.Input(t, "aggregate", feat), pipelinetest.Input(t, "metric", short))
	check("count", err, "30 rows, but the features have 40 kernels")
}

func TestValidate(t *testing.T) {
	p := DefaultParams()
	if errs := p.Validate(); len(errs) != 0 {
		t.Errorf("defaults: %v", errs)
	}
	p.C, p.Tol, p.Metrics = 0, -1, []string{"fsi", "fsi"}
	if errs := p.Validate(); len(errs) != 3 {
		t.Errorf("errors %v", errs)
	}
}

func TestSummary(t *testing.T) {
	// scipy: t.ppf(0.975, 4) = 2.7764451051977987
	mean, sd, lo, hi := Summary([]float64{0.5, 0.6, 0.7, 0.8, 0.9})
	h := 2.7764451051977987 * math.Sqrt(0.025) / math.Sqrt(5)
	if math.Abs(mean-0.7) > 1e-15 || math.Abs(sd-math.Sqrt(0.025)) > 1e-15 || math.Abs(lo-(0.7-h)) > 1e-12 || math.Abs(hi-(0.7+h)) > 1e-12 {
		t.Errorf("Summary: %v %v %v %v", mean, sd, lo, hi)
	}
}
