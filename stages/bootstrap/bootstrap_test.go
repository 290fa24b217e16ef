package bootstrap

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
	"selectivity/stages/internal/stats/fixture"
	"selectivity/stages/internal/study/metrictest"
)

type F = fixture.Float

// bootFixture is testdata/bootstrap/fixtures.json (testdata/bootstrap/gen.py).
type bootFixture struct {
	Cases []struct {
		Name, Input string
		Draws       int
		Seed        int64
		Params      map[string]any
		Picks       [][]int
		Percent     []struct {
			Layer, Metric  string
			Draw, Selected int
		}
		Consistency []struct {
			Layer       string
			Draw, Pairs int
			MeanRho     F `json:"mean_rho"`
		}
		Summary []map[string]any
	}
}

// TestAgainstReference: the draws, every draw's selected counts and
// consistency, and the summary's intervals agree with numpy / scipy /
// statsmodels recomputing the same draws (testdata/bootstrap/gen.py):
// counts exactly, the rest to 1e-9 relative.
func TestAgainstReference(t *testing.T) {
	b, err := os.ReadFile("../../testdata/bootstrap/fixtures.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx bootFixture
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	mfx := metrictest.LoadFixture(t)
	for _, c := range fx.Cases {
		t.Run(c.Name, func(t *testing.T) {
			p := params(t, c.Params)
			p.Draws, p.Seed = c.Draws, c.Seed
			out, err := run(t, mfx.Input(t, c.Input), p)
			if err != nil {
				t.Fatal(err)
			}
			src := metrictest.Ints(t, metrictest.Open(t, filepath.Join(out, data.BootstrapDrawsFile)), "source")
			for d, pick := range c.Picks {
				for j, s := range pick {
					if got := src[d*len(pick)+j]; got != int64(s) {
						t.Fatalf("draw %d position %d: source %d, reference %d", d, j, got, s)
					}
				}
			}
			pt := metrictest.Open(t, filepath.Join(out, data.BootstrapPercentFile))
			layer, met, draw, sel := metrictest.Strings(t, pt, "layer"), metrictest.Strings(t, pt, "metric"), metrictest.Ints(t, pt, "draw"), metrictest.Ints(t, pt, "selected")
			if len(layer) != len(c.Percent) {
				t.Fatalf("percent.arrow: %d rows, reference %d", len(layer), len(c.Percent))
			}
			for i, w := range c.Percent {
				if layer[i] != w.Layer || met[i] != w.Metric || draw[i] != int64(w.Draw) || sel[i] != int64(w.Selected) {
					t.Errorf("percent row %d: %s %s draw %d selected %d; reference %+v", i, layer[i], met[i], draw[i], sel[i], w)
				}
			}
			ct := metrictest.Open(t, filepath.Join(out, data.BootstrapConsistencyFile))
			cl, rho, pairs := metrictest.Strings(t, ct, "layer"), metrictest.Floats(t, ct, "mean_rho"), metrictest.Ints(t, ct, "pairs")
			if len(cl) != len(c.Consistency) {
				t.Fatalf("consistency.arrow: %d rows, reference %d", len(cl), len(c.Consistency))
			}
			for i, w := range c.Consistency {
				if cl[i] != w.Layer || pairs[i] != int64(w.Pairs) || !metrictest.Agree(rho[i], float64(w.MeanRho)) {
					t.Errorf("consistency row %d: %s ρ %v (%d pairs); reference %+v", i, cl[i], rho[i], pairs[i], w)
				}
			}
			s := metrictest.Open(t, filepath.Join(out, data.BootstrapSummaryFile))
			sl, sm := metrictest.Strings(t, s, "layer"), metrictest.Strings(t, s, "metric")
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
					if sl[i] != w["layer"] || sm[i] != w["metric"] || !metrictest.Agree(got[i], float64(want)) {
						t.Errorf("summary row %d (%s %s): %s %v, reference %v", i, sl[i], sm[i], col, got[i], float64(want))
					}
				}
			}
		})
	}
}

// TestDraws: every position draws from its own category, the draws repeat
// images (with replacement) and depend on the seed only.
func TestDraws(t *testing.T) {
	cat := strings.Split("x y x z x y x z z x", " ")
	ds := Draws(cat, 30, 2)
	repeats := false
	for d, pick := range ds {
		for j, s := range pick {
			if cat[s] != cat[j] {
				t.Fatalf("draw %d: position %d (%s) takes position %d (%s)", d, j, cat[j], s, cat[s])
			}
		}
		sorted := slices.Clone(pick)
		slices.Sort(sorted)
		repeats = repeats || len(slices.Compact(sorted)) < len(pick)
	}
	if !repeats {
		t.Error("30 draws without a repeated image")
	}
	if again := Draws(cat, 30, 2); !slices.EqualFunc(ds, again, slices.Equal[[]int]) {
		t.Error("the same seed drew other resamplings")
	}
}

func TestBadInput(t *testing.T) {
	mfx := metrictest.LoadFixture(t)
	_, err := run(t, mfx.Input(t, "unit"), params(t, map[string]any{"layers": []string{"conv9"}}))
	if err == nil || !strings.Contains(err.Error(), `no layer "conv9"`) {
		t.Errorf("unknown layer: error %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	job := &stages.Job{Stage: "b", Params: params(t, nil), OutDir: t.TempDir(),
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
