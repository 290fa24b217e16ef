package correlate

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"

	"selectivity/cache/arrowfile"
	"selectivity/pipeline/pipelinetest"
	"selectivity/stages"
	"selectivity/stages/internal/data"
	"selectivity/stages/internal/stats/fixture"
	_ "selectivity/stages/metric"
)

// The fixtures are scipy's answers, written by testdata/metric/gen.py:
// spearmanr between the reference metric values of each case and layer
// (±Inf ranked as extremes), and the mean and scipy.stats.sem of those ρ.
const fixturePath = "../../testdata/metric/fixtures.json"

// F is a fixture float: NaN and ±Inf arrive as strings.
type F = fixture.Float

type fxCase struct {
	Name   string
	Input  string
	Params struct{ Metrics []string }
	Layers map[string]struct {
		FSI    []F `json:"fsi"`
		DPrime []F `json:"dprime"`
		WZ     []F `json:"wilcoxon_z"`
		TT     []F `json:"ttest_t"`
	}
	Spearman []struct {
		Layer, A, B string
		Rho         F
		N           int
	}
	Consistency []struct {
		Layer     string
		Mean, SEM F
		Pairs     int
	}
}

func loadCases(t *testing.T) []fxCase {
	t.Helper()
	b, err := os.ReadFile(fixturePath)
	if err != nil {
		t.Fatal(err)
	}
	var fx struct{ Cases []fxCase }
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	return fx.Cases
}

func fs(v []F) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// writeMetricStage writes a case's reference values as a metric stage's
// outputs: one table per layer (item and the metrics' value columns, with
// level and aggregation metadata) and summary.arrow.
func writeMetricStage(t *testing.T, c fxCase, matrix map[string]string) stages.Input {
	t.Helper()
	dir := t.TempDir()
	in := stages.Input{Stage: "metric@" + c.Name, Matrix: matrix, Dir: dir}
	metrics := c.Params.Metrics
	if metrics == nil {
		metrics = data.Metrics
	}
	level, agg := "unit", ""
	if c.Input != "unit" {
		level, agg = "kernel", c.Input
	}
	var sumLayers []string
	for _, name := range []string{"conv_a", "conv_b"} {
		l := c.Layers[name]
		cols := map[string][]F{"fsi": l.FSI, "dprime": l.DPrime, "wilcoxon": l.WZ, "ttest": l.TT}
		var tb arrowfile.Table
		item := make([]int64, len(l.FSI))
		for i := range item {
			item[i] = int64(i)
		}
		tb.Int64s("item", item)
		// Written in the caller's order: the kind must sort them.
		for _, m := range metrics {
			tb.Float64s(data.ValueColumn[m], fs(cols[m]))
		}
		if err := tb.Write(filepath.Join(dir, name+".arrow"), map[string]string{"level": level, "aggregation": agg, "layer": name}); err != nil {
			t.Fatal(err)
		}
		in.Files = append(in.Files, name+".arrow")
		for range metrics {
			sumLayers = append(sumLayers, name)
		}
	}
	var tb arrowfile.Table
	tb.Strings("layer", sumLayers)
	if err := tb.Write(filepath.Join(dir, data.MetricSummaryFile), nil); err != nil {
		t.Fatal(err)
	}
	in.Files = append(in.Files, data.MetricSummaryFile)
	return in
}

func run(t *testing.T, p *Params, inputs map[string][]stages.Input) (string, error) {
	t.Helper()
	out := t.TempDir()
	job := &stages.Job{Stage: "correlate", Params: p, OutDir: out, Inputs: inputs, Progress: pipelinetest.Progress{}}
	return out, kind{}.Run(context.Background(), job)
}

// table reads an output table's columns: strings, float64s and int64s.
type table struct {
	str map[string][]string
	f64 map[string][]float64
	i64 map[string][]int64
	n   int
}

func readTable(t *testing.T, path string) *table {
	t.Helper()
	r, err := arrowfile.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tb := &table{str: map[string][]string{}, f64: map[string][]float64{}, i64: map[string][]int64{}, n: int(r.NumRows())}
	for b := range r.NumRecords() {
		rec, err := r.Record(b)
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range rec.Schema().Fields() {
			switch c := rec.Column(i).(type) {
			case *array.String:
				for k := range c.Len() {
					tb.str[f.Name] = append(tb.str[f.Name], strings.Clone(c.Value(k)))
				}
			case *array.Float64:
				tb.f64[f.Name] = append(tb.f64[f.Name], c.Float64Values()...)
			case *array.Int64:
				tb.i64[f.Name] = append(tb.i64[f.Name], c.Int64Values()...)
			default:
				t.Fatalf("%s: column %s is %T", path, f.Name, c)
			}
		}
		rec.Release()
	}
	return tb
}

func agree(got, want float64) bool {
	if math.IsNaN(got) || math.IsNaN(want) {
		return math.IsNaN(got) && math.IsNaN(want)
	}
	d := math.Abs(got - want)
	return d <= 1e-9*math.Max(math.Abs(got), math.Abs(want)) || d <= 1e-12
}

// TestMetricsModeAgainstScipy: every case of the fixtures as one input of
// a single correlate stage; each metric pair's ρ and n equal scipy's
// spearmanr, each layer's mean and SEM equal numpy's mean and scipy's sem.
func TestMetricsModeAgainstScipy(t *testing.T) {
	cases := loadCases(t)
	var ins []stages.Input
	for i, c := range cases {
		m := map[string]string{"case": c.Name}
		if i%2 == 0 {
			m["input"] = "clash" // a matrix key named like a fixed column
		}
		ins = append(ins, writeMetricStage(t, c, m))
	}
	out, err := run(t, &Params{Mode: "metrics"}, map[string][]stages.Input{"values": ins})
	if err != nil {
		t.Fatal(err)
	}
	pairs := readTable(t, filepath.Join(out, data.CorrelatePairsFile))
	cons := readTable(t, filepath.Join(out, data.ConsistencyFile))
	row, crow := 0, 0
	for i, c := range cases {
		for _, w := range c.Spearman {
			if row >= pairs.n {
				t.Fatalf("pairs.arrow ends at row %d", row)
			}
			got := fmt.Sprint(pairs.str["input"][row], pairs.str["case"][row], pairs.str["layer"][row], pairs.str["metric_a"][row], pairs.str["metric_b"][row])
			want := fmt.Sprint(ins[i].Stage, c.Name, w.Layer, w.A, w.B)
			if got != want {
				t.Fatalf("pairs row %d: %s, want %s", row, got, want)
			}
			if rho := pairs.f64["rho"][row]; !agree(rho, float64(w.Rho)) || pairs.i64["n"][row] != int64(w.N) {
				t.Errorf("%s %s %s–%s: ρ %v n %d, scipy %v n %d", c.Name, w.Layer, w.A, w.B, rho, pairs.i64["n"][row], float64(w.Rho), w.N)
			}
			if mi := pairs.str["matrix_input"][row]; (i%2 == 0) != (mi == "clash") {
				t.Errorf("row %d: matrix_input %q", row, mi)
			}
			row++
		}
		for _, w := range c.Consistency {
			if cons.str["layer"][crow] != w.Layer || cons.str["input"][crow] != ins[i].Stage {
				t.Fatalf("consistency row %d: %s %s, want %s %s", crow, cons.str["input"][crow], cons.str["layer"][crow], ins[i].Stage, w.Layer)
			}
			if !agree(cons.f64["mean_rho"][crow], float64(w.Mean)) || !agree(cons.f64["sem"][crow], float64(w.SEM)) || cons.i64["pairs"][crow] != int64(w.Pairs) {
				t.Errorf("%s %s: mean %v sem %v pairs %d; want %v %v %d", c.Name, w.Layer,
					cons.f64["mean_rho"][crow], cons.f64["sem"][crow], cons.i64["pairs"][crow], float64(w.Mean), float64(w.SEM), w.Pairs)
			}
			wantLevel := "unit"
			if c.Input != "unit" {
				wantLevel = "kernel"
			}
			if cons.str["level"][crow] != wantLevel {
				t.Errorf("%s: level %q", c.Name, cons.str["level"][crow])
			}
			crow++
		}
	}
	if row != pairs.n || crow != cons.n {
		t.Errorf("%d pair rows and %d consistency rows, want %d and %d", pairs.n, cons.n, row, crow)
	}
}

// TestValuesMode: two value columns over the same items; the fsi of one
// stage against the dprime of another equals scipy's ρ of the pair.
func TestValuesMode(t *testing.T) {
	cases := loadCases(t)
	def := cases[0]
	x := writeMetricStage(t, def, nil)
	y := writeMetricStage(t, def, nil)
	y.Stage = "other"
	p := &Params{Mode: "values", XColumn: "fsi", YColumn: "dprime"}
	out, err := run(t, p, map[string][]stages.Input{"x": {x}, "y": {y}})
	if err != nil {
		t.Fatal(err)
	}
	tb := readTable(t, filepath.Join(out, data.SpearmanFile))
	if tb.n != 2 || !slices.Equal(tb.str["layer"], []string{"conv_a", "conv_b"}) {
		t.Fatalf("layers %v", tb.str["layer"])
	}
	for i, layer := range tb.str["layer"] {
		for _, w := range def.Spearman {
			if w.Layer == layer && w.A == "fsi" && w.B == "dprime" {
				if !agree(tb.f64["rho"][i], float64(w.Rho)) || tb.i64["n"][i] != int64(w.N) {
					t.Errorf("%s: ρ %v n %d, scipy %v n %d", layer, tb.f64["rho"][i], tb.i64["n"][i], float64(w.Rho), w.N)
				}
			}
		}
		if tb.str["x_stage"][i] != x.Stage || tb.str["y_stage"][i] != "other" || tb.str["x"][i] != "fsi" || tb.str["y"][i] != "dprime" {
			t.Errorf("row %d: %v %v %v %v", i, tb.str["x_stage"][i], tb.str["x"][i], tb.str["y_stage"][i], tb.str["y"][i])
		}
	}
	p.Layer = "conv_b"
	out, err = run(t, p, map[string][]stages.Input{"x": {x}, "y": {y}})
	if err != nil {
		t.Fatal(err)
	}
	if tb := readTable(t, filepath.Join(out, data.SpearmanFile)); tb.n != 1 || tb.str["layer"][0] != "conv_b" {
		t.Errorf("layer conv_b: %v", tb.str["layer"])
	}

	// Different item counts, different items, a missing column.
	short := writeMetricStage(t, cases[len(cases)-1], nil) // kernel level: 24 items
	if _, err := run(t, &Params{Mode: "values", XColumn: "fsi", YColumn: "fsi", Layer: "conv_a"}, map[string][]stages.Input{"x": {x}, "y": {short}}); err == nil || !strings.Contains(err.Error(), "has 192 items") {
		t.Errorf("item count mismatch: %v", err)
	}
	shuffled := writeMetricStage(t, def, nil)
	var tbw arrowfile.Table
	items := make([]int64, 192)
	for i := range items {
		items[i] = int64(191 - i)
	}
	tbw.Int64s("item", items)
	tbw.Float64s("fsi", fs(def.Layers["conv_a"].FSI))
	if err := tbw.Write(shuffled.Path("conv_a.arrow"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, &Params{Mode: "values", XColumn: "fsi", YColumn: "fsi", Layer: "conv_a"}, map[string][]stages.Input{"x": {x}, "y": {shuffled}}); err == nil || !strings.Contains(err.Error(), "different items") {
		t.Errorf("item order mismatch: %v", err)
	}
	if _, err := run(t, &Params{Mode: "values", XColumn: "fsi", YColumn: "effect"}, map[string][]stages.Input{"x": {x}, "y": {y}}); err == nil || !strings.Contains(err.Error(), "no layer table") {
		t.Errorf("missing column: %v", err)
	}
	if errs := (&Params{Mode: "values"}).Validate(); len(errs) != 2 {
		t.Errorf("values without columns: %v", errs)
	}
	if _, err := run(t, &Params{Mode: "metrics"}, map[string][]stages.Input{"x": {x}}); err == nil {
		t.Error("mode metrics accepted inputs x")
	}
}

func TestNotAMetricStage(t *testing.T) {
	in := stages.Input{Stage: "extract@x", Dir: t.TempDir(), Files: []string{"images.arrow"}}
	if _, err := run(t, &Params{Mode: "metrics"}, map[string][]stages.Input{"values": {in}}); err == nil || !strings.Contains(err.Error(), "not a metric stage") {
		t.Errorf("error %v", err)
	}
}

// TestValuesBootstrap: with bootstrap > 0, the percentile interval of ρ
// equals numpy/scipy's on the same resamplings of the items
// (testdata/correlate/gen.py: fsi against dprime, default case), and it
// holds the observed ρ; without it the table has no interval columns.
func TestValuesBootstrap(t *testing.T) {
	b, err := os.ReadFile("../../testdata/correlate/fixtures.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Draws  int
		Seed   int64
		Layers []struct {
			Layer   string
			RhoQ025 F `json:"rho_q025"`
			RhoQ975 F `json:"rho_q975"`
		}
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	def := loadCases(t)[0]
	x := writeMetricStage(t, def, nil)
	p := &Params{Mode: "values", XColumn: "fsi", YColumn: "dprime", Bootstrap: ref.Draws, Seed: ref.Seed}
	out, err := run(t, p, map[string][]stages.Input{"x": {x}, "y": {x}})
	if err != nil {
		t.Fatal(err)
	}
	tb := readTable(t, filepath.Join(out, data.SpearmanFile))
	for i, w := range ref.Layers {
		lo, hi := tb.f64["rho_q025"][i], tb.f64["rho_q975"][i]
		if tb.str["layer"][i] != w.Layer || !agree(lo, float64(w.RhoQ025)) || !agree(hi, float64(w.RhoQ975)) || tb.i64["bootstrap"][i] != int64(ref.Draws) {
			t.Errorf("%s: interval [%v, %v], reference %s [%v, %v]", tb.str["layer"][i], lo, hi, w.Layer, float64(w.RhoQ025), float64(w.RhoQ975))
		}
		if r := tb.f64["rho"][i]; !(lo <= r && r <= hi) {
			t.Errorf("%s: ρ %v outside its interval [%v, %v]", w.Layer, r, lo, hi)
		}
	}
	p.Bootstrap = 0
	out, err = run(t, p, map[string][]stages.Input{"x": {x}, "y": {x}})
	if err != nil {
		t.Fatal(err)
	}
	if tb := readTable(t, filepath.Join(out, data.SpearmanFile)); tb.f64["rho_q025"] != nil {
		t.Error("bootstrap 0 wrote an interval")
	}
}
