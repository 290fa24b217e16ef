package reliability

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"selectivity/pipeline/pipelinetest"
	"selectivity/stages"
	"selectivity/stages/internal/data"
	"selectivity/stages/internal/golden"
	"selectivity/stages/internal/stats/fixture"
	"selectivity/stages/internal/study/metrictest"
)

type F = fixture.Float

// relFixture is testdata/reliability/fixtures.json (testdata/reliability/gen.py).
type relFixture struct {
	Cases []struct {
		Name, Input string
		Splits      int
		Seed        int64
		Params      map[string]any
		Halves      [][2][]int
		Rows        []struct {
			Layer, Metric                      string
			Split, Items, SelectedA, SelectedB int `json:"-"`
			Spearman, Reliability, Jaccard     F
		}
		Summary []map[string]any
	}
}

// TestAgainstReference: the halves, every split's Spearman, reliability,
// Jaccard and selected counts, and the summary agree with numpy / scipy /
// statsmodels recomputing the same splits (testdata/reliability/gen.py):
// counts exactly, the rest to 1e-9 relative.
func TestAgainstReference(t *testing.T) {
	b, err := os.ReadFile("../../testdata/reliability/fixtures.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx relFixture
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	// The counts, which the struct tags above leave out.
	var raw struct {
		Cases []struct {
			Rows []struct {
				Split     int `json:"split"`
				SelectedA int `json:"selected_a"`
				SelectedB int `json:"selected_b"`
			}
		}
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	mfx := metrictest.LoadFixture(t)
	for ci, c := range fx.Cases {
		t.Run(c.Name, func(t *testing.T) {
			p := params(t, c.Params)
			p.Splits, p.Seed = c.Splits, c.Seed
			out, err := run(t, mfx.Input(t, c.Input), p)
			if err != nil {
				t.Fatal(err)
			}
			if ci == 0 {
				golden.Check(t, kind{}, out)
			}
			h := metrictest.Open(t, filepath.Join(out, data.ReliabilityHalvesFile))
			half := metrictest.Strings(t, h, "half")
			for s, ab := range c.Halves {
				m := len(ab[0]) + len(ab[1])
				for k, pos := range ab {
					for _, j := range pos {
						if got := half[s*m+j]; got != string(rune('a'+k)) {
							t.Fatalf("split %d position %d: half %s, reference %c", s, j, got, 'a'+k)
						}
					}
				}
			}
			sp := metrictest.Open(t, filepath.Join(out, data.ReliabilitySplitsFile))
			layer, met := metrictest.Strings(t, sp, "layer"), metrictest.Strings(t, sp, "metric")
			split, ka, kb := metrictest.Ints(t, sp, "split"), metrictest.Ints(t, sp, "selected_a"), metrictest.Ints(t, sp, "selected_b")
			rho, rel, jac := metrictest.Floats(t, sp, "spearman"), metrictest.Floats(t, sp, "reliability"), metrictest.Floats(t, sp, "jaccard")
			if len(layer) != len(c.Rows) {
				t.Fatalf("splits.arrow: %d rows, reference %d", len(layer), len(c.Rows))
			}
			for i, w := range c.Rows {
				rw := raw.Cases[ci].Rows[i]
				if layer[i] != w.Layer || met[i] != w.Metric || split[i] != int64(rw.Split) || ka[i] != int64(rw.SelectedA) || kb[i] != int64(rw.SelectedB) {
					t.Errorf("row %d: %s %s split %d selected %d/%d; reference %s %s %+v", i, layer[i], met[i], split[i], ka[i], kb[i], w.Layer, w.Metric, rw)
				}
				if !metrictest.Agree(rho[i], float64(w.Spearman)) || !metrictest.Agree(rel[i], float64(w.Reliability)) || !metrictest.Agree(jac[i], float64(w.Jaccard)) {
					t.Errorf("row %d (%s %s split %d): ρ %v reliability %v Jaccard %v; reference %v %v %v", i, layer[i], met[i], split[i],
						rho[i], rel[i], jac[i], float64(w.Spearman), float64(w.Reliability), float64(w.Jaccard))
				}
			}
			s := metrictest.Open(t, filepath.Join(out, data.ReliabilitySummaryFile))
			sl := metrictest.Strings(t, s, "layer")
			if len(sl) != len(c.Summary) {
				t.Fatalf("summary: %d rows, reference %d", len(sl), len(c.Summary))
			}
			for _, col := range summaryCols {
				got := metrictest.Floats(t, s, col)
				for i, w := range c.Summary {
					var want F
					bw, _ := json.Marshal(w[col])
					if err := json.Unmarshal(bw, &want); err != nil {
						t.Fatal(err)
					}
					if sl[i] != w["layer"] || !metrictest.Agree(got[i], float64(want)) {
						t.Errorf("summary row %d (%s): %s %v, reference %v (%v)", i, sl[i], col, got[i], float64(want), w["layer"])
					}
				}
			}
		})
	}
}

// TestHalves: every split halves every category (⌊n/2⌋ in a, the rest in
// b), the halves partition the positions, and the draws depend on the
// seed only.
func TestHalves(t *testing.T) {
	cat := strings.Split("x y x z x y x z z x", " ")
	hs := Halves(cat, 20, 3)
	if !slices.EqualFunc(hs, Halves(cat, 20, 3), func(a, b [2][]int) bool { return slices.Equal(a[0], b[0]) && slices.Equal(a[1], b[1]) }) {
		t.Error("the same seed drew other splits")
	}
	differ := false
	for s, h := range hs {
		count := map[string][2]int{}
		all := append(slices.Clone(h[0]), h[1]...)
		slices.Sort(all)
		if len(all) != len(cat) || slices.Compact(all)[len(cat)-1] != len(cat)-1 {
			t.Fatalf("split %d: halves %v do not partition the positions", s, h)
		}
		for k, pos := range h {
			for _, j := range pos {
				c := count[cat[j]]
				c[k]++
				count[cat[j]] = c
			}
		}
		for c, n := range count {
			if n[0] != (n[0]+n[1])/2 {
				t.Errorf("split %d: category %s split %d/%d", s, c, n[0], n[1])
			}
		}
		differ = differ || !slices.Equal(h[0], hs[0][0])
	}
	if !differ {
		t.Error("20 splits all alike")
	}
}

// TestBadInput: a half on which the t-test is undefined is an error naming
// the split.
func TestBadInput(t *testing.T) {
	mfx := metrictest.LoadFixture(t)
	// corridor has 3 images: half a holds one, too few for a t-test group.
	_, err := run(t, mfx.Input(t, "mean"), params(t, map[string]any{"compare": "categories"}))
	if err == nil || !strings.Contains(err.Error(), `reliability: input acts: split 0, half a: t-test: comparison group "corridor" has 1 image`) {
		t.Errorf("error %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	job := &stages.Job{Stage: "r", Params: params(t, nil), OutDir: t.TempDir(),
		Inputs: map[string][]stages.Input{"acts": {mfx.Input(t, "mean")}}, Progress: pipelinetest.Progress{}}
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
