package permutation

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"selectivity/pipeline/pipelinetest"
	"selectivity/stages"
	"selectivity/stages/internal/data"
	"selectivity/stages/internal/stats/fixture"
	"selectivity/stages/internal/study/metrictest"
)

type F = fixture.Float

// nullFixture is testdata/permutation/fixtures.json (testdata/permutation/gen.py).
type nullFixture struct {
	Cases []struct {
		Name, Input  string
		Permutations int
		Seed         int64
		Params       map[string]any
		Perms        [][]int
		Null         []struct {
			Layer, Metric                string
			Permutation, Items, Selected int
			Mean, Q05, Q50, Q95          F
		}
		Summary []struct {
			Layer, Metric   string
			Items, Observed int
			ObservedPercent F `json:"observed_percent"`
			MeanPercent     F `json:"mean_percent"`
			Q025, Q975, P   F
		}
	}
}

// TestAgainstReference: the permutations, every permutation's selected
// count and value distribution, and the summary agree with numpy / scipy /
// statsmodels recomputing the same permutations (testdata/permutation/gen.py);
// counts exactly, the rest to 1e-9 relative.
func TestAgainstReference(t *testing.T) {
	b, err := os.ReadFile("../../testdata/permutation/fixtures.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx nullFixture
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	mfx := metrictest.LoadFixture(t)
	for _, c := range fx.Cases {
		t.Run(c.Name, func(t *testing.T) {
			p := params(t, c.Params)
			p.Permutations, p.Seed = c.Permutations, c.Seed
			out, err := run(t, mfx.Input(t, c.Input), p)
			if err != nil {
				t.Fatal(err)
			}
			perm := metrictest.Open(t, filepath.Join(out, data.PermutationsFile))
			src := metrictest.Ints(t, perm, "source")
			for b, pi := range c.Perms {
				for j, s := range pi {
					if got := src[b*len(pi)+j]; got != int64(s) {
						t.Fatalf("permutation %d position %d: source %d, reference %d", b, j, got, s)
					}
				}
			}
			nt := metrictest.Open(t, filepath.Join(out, data.PermutationNullFile))
			layer, met := metrictest.Strings(t, nt, "layer"), metrictest.Strings(t, nt, "metric")
			pb, sel := metrictest.Ints(t, nt, "permutation"), metrictest.Ints(t, nt, "selected")
			if len(layer) != len(c.Null) {
				t.Fatalf("null.arrow: %d rows, reference %d", len(layer), len(c.Null))
			}
			for col, want := range map[string]func(i int) F{
				"value_mean": func(i int) F { return c.Null[i].Mean },
				"value_q05":  func(i int) F { return c.Null[i].Q05 },
				"value_q50":  func(i int) F { return c.Null[i].Q50 },
				"value_q95":  func(i int) F { return c.Null[i].Q95 },
			} {
				got := metrictest.Floats(t, nt, col)
				for i := range got {
					if !metrictest.Agree(got[i], float64(want(i))) {
						t.Errorf("null row %d (%s %s perm %d): %s %v, reference %v", i, layer[i], met[i], pb[i], col, got[i], float64(want(i)))
					}
				}
			}
			for i, w := range c.Null {
				if layer[i] != w.Layer || met[i] != w.Metric || pb[i] != int64(w.Permutation) || sel[i] != int64(w.Selected) {
					t.Errorf("null row %d: %s %s perm %d selected %d; reference %+v", i, layer[i], met[i], pb[i], sel[i], w)
				}
			}
			s := metrictest.Open(t, filepath.Join(out, data.PermutationSummaryFile))
			sl, sm, obs := metrictest.Strings(t, s, "layer"), metrictest.Strings(t, s, "metric"), metrictest.Ints(t, s, "observed_selected")
			cols := map[string][]float64{}
			for _, col := range []string{"observed_percent", "null_mean_percent", "null_q025_percent", "null_q975_percent", "false_positive_rate", "p_value"} {
				cols[col] = metrictest.Floats(t, s, col)
			}
			if len(sl) != len(c.Summary) {
				t.Fatalf("summary: %d rows, reference %d", len(sl), len(c.Summary))
			}
			for i, w := range c.Summary {
				if sl[i] != w.Layer || sm[i] != w.Metric || obs[i] != int64(w.Observed) {
					t.Errorf("summary row %d: %s %s observed %d; reference %+v", i, sl[i], sm[i], obs[i], w)
				}
				for col, want := range map[string]F{"observed_percent": w.ObservedPercent, "null_mean_percent": w.MeanPercent,
					"null_q025_percent": w.Q025, "null_q975_percent": w.Q975, "false_positive_rate": w.MeanPercent / 100, "p_value": w.P} {
					if !metrictest.Agree(cols[col][i], float64(want)) {
						t.Errorf("summary row %d (%s %s): %s %v, reference %v", i, sl[i], sm[i], col, cols[col][i], float64(want))
					}
				}
			}
		})
	}
}

// TestNominalRate: on exchangeable data (independent normal responses, the
// labels meaning nothing) the null selects at the tests' nominal rates:
// Mann–Whitney at α = 0.001 selects about α of the items (the count over
// all permutations within 4 binomial standard deviations of its mean),
// and the t-test intersection with BH at q = 0.05 — under the complete
// null BH controls the probability of any rejection at q — selects
// anything in at most about q of the permutations (within 3 binomial
// standard deviations above q).
func TestNominalRate(t *testing.T) {
	const perCat, units, P = 20, 4000, 40
	cats := [][2]string{{"adult", "faces"}, {"child", "faces"}, {"body", "bodies"}, {"limb", "bodies"},
		{"word", "characters"}, {"number", "characters"}, {"car", "objects"}, {"house", "places"}}
	var im metrictest.Images
	for _, c := range cats {
		for k := range perCat {
			im.Path = append(im.Path, fmt.Sprintf("%s/%d.png", c[0], k))
			im.Category, im.Domain = append(im.Category, c[0]), append(im.Domain, c[1])
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	acts := make([][]float32, len(im.Path))
	for r := range acts {
		acts[r] = make([]float32, units)
		for i := range acts[r] {
			acts[r][i] = float32(rng.NormFloat64())
		}
	}
	in := metrictest.WriteInput(t, im, []metrictest.Layer{{Name: "conv", Shape: []int{units, 1, 1}, Items: units,
		Rows: func(r int, dst []float32) { copy(dst, acts[r]) }}})
	p := params(t, map[string]any{"metrics": []string{"wilcoxon", "ttest"}})
	p.Permutations, p.Seed = P, 5
	out, err := run(t, in, p)
	if err != nil {
		t.Fatal(err)
	}
	nt := metrictest.Open(t, filepath.Join(out, data.PermutationNullFile))
	met, sel := metrictest.Strings(t, nt, "metric"), metrictest.Ints(t, nt, "selected")
	var wsel, tAny int
	for i := range met {
		switch met[i] {
		case "wilcoxon":
			wsel += int(sel[i])
		case "ttest":
			if sel[i] > 0 {
				tAny++
			}
		}
	}
	n, alpha := float64(units*P), p.Alpha
	mean, sd := n*alpha, math.Sqrt(n*alpha*(1-alpha))
	t.Logf("Mann–Whitney: %d of %.0f selected (expected %.0f ± %.1f); t-test: %d of %d permutations select anything", wsel, n, mean, sd, tAny, P)
	if math.Abs(float64(wsel)-mean) > 4*sd {
		t.Errorf("Mann–Whitney selects %d of %.0f item-permutations at α %g: expected %.0f ± %.1f", wsel, n, alpha, mean, sd)
	}
	if lim := P*p.Q + 3*math.Sqrt(P*p.Q*(1-p.Q)); float64(tAny) > lim {
		t.Errorf("t-test + BH selects items in %d of %d permutations, above %.1f (q = %g)", tAny, P, lim, p.Q)
	}
}

// TestPValue: where the fixture's face-selective items are selected far
// above every permutation, the permutation p is its floor 1/(1+P).
func TestPValue(t *testing.T) {
	mfx := metrictest.LoadFixture(t)
	p := params(t, nil)
	p.Permutations = 9
	out, err := run(t, mfx.Input(t, "unit"), p)
	if err != nil {
		t.Fatal(err)
	}
	s := metrictest.Open(t, filepath.Join(out, data.PermutationSummaryFile))
	pv, obs := metrictest.Floats(t, s, "p_value"), metrictest.Ints(t, s, "observed_selected")
	for i := range pv {
		if obs[i] > 10 && pv[i] != 0.1 {
			t.Errorf("row %d: %d selected, p %v; want 1/(1+9)", i, obs[i], pv[i])
		}
	}
}

func TestBadInput(t *testing.T) {
	mfx := metrictest.LoadFixture(t)
	in := mfx.Input(t, "unit")
	if _, err := run(t, in, params(t, map[string]any{"preferred": "animals"})); err == nil ||
		!strings.HasPrefix(err.Error(), `permutation: input acts: preferred "animals" is neither a domain nor a category`) {
		t.Errorf("unknown preferred: error %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	job := &stages.Job{Stage: "n", Params: params(t, nil), OutDir: t.TempDir(),
		Inputs: map[string][]stages.Input{"acts": {in}}, Progress: pipelinetest.Progress{}}
	if err := (kind{}).Run(ctx, job); err != context.Canceled {
		t.Errorf("cancelled run: %v", err)
	}
}

func params(t testing.TB, over map[string]any) *Params {
	return metrictest.Params[*Params](t, kind{}, over)
}

func run(t testing.TB, in stages.Input, p *Params) (string, error) {
	return metrictest.Run(t, kind{}, p, in)
}
