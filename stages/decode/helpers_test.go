package decode

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"selectivity/cache/arrowfile"
	"selectivity/pipeline/pipelinetest"
	"selectivity/stages"
	"selectivity/stages/internal/data"
)

// fixture is testdata/decode/fixtures.json (see gen.py there).
type fixture struct {
	Identities int               `json:"identities"`
	M          int               `json:"images_per_identity"`
	Features   int               `json:"features"`
	Identity   []int             `json:"identity"`
	Image      []int             `json:"image"`
	X          [][]float64       `json:"x"`
	Values     map[string][]any  `json:"values"`
	Selected   map[string][]bool `json:"selected"`
	TopN       int               `json:"top_n"`
	Chance     float64           `json:"chance"`
	Sets       map[string]refSet `json:"sets"`
}

type refSet struct {
	Kernels []int `json:"kernels"`
	Folds   []struct {
		Predicted []int   `json:"predicted"`
		Accuracy  float64 `json:"accuracy"`
	} `json:"folds"`
	Mean   float64 `json:"mean"`
	SD     float64 `json:"sd"`
	CILow  float64 `json:"ci_low"`
	CIHigh float64 `json:"ci_high"`
}

var fixturePath = filepath.Join("..", "..", "testdata", "decode", "fixtures.json")

func loadFixture(t testing.TB) *fixture {
	t.Helper()
	b, err := os.ReadFile(fixturePath)
	if err != nil {
		t.Fatal(err)
	}
	var f fixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

// values returns metric m's values (the JSON's "NaN" strings as NaN).
func (f *fixture) values(m string) []float64 {
	out := make([]float64, len(f.Values[m]))
	for i, v := range f.Values[m] {
		switch x := v.(type) {
		case float64:
			out[i] = x
		default:
			out[i] = math.NaN()
		}
	}
	return out
}

func idName(i int) string { return fmt.Sprintf("id%03d", i+1) }

// writeFeatures writes an aggregate-format kernel-level layer file and an
// images.arrow (identity set) into dir. identity[r] < 0 leaves row r
// without identity.
func writeFeatures(t testing.TB, dir, layer, agg string, x [][]float64, identity []int) {
	t.Helper()
	cols := len(x[0])
	meta := map[string]string{"level": "kernel", "layer": layer, "aggregation": agg, "shape": arrowfile.FormatInts(cols)}
	err := arrowfile.WriteMatrixBatched(filepath.Join(dir, layer+".arrow"), len(x), cols, 7, meta, func(r int, dst []float32) {
		for j, v := range x[r] {
			dst[j] = float32(v)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	tab := &data.Table{Source: "synthetic", Layout: "identities"}
	count := map[int]int{}
	for _, id := range identity {
		name := ""
		if id >= 0 {
			name = idName(id)
		}
		count[id]++
		tab.Path = append(tab.Path, fmt.Sprintf("synthetic/%s/%d.png", name, count[id]))
		tab.Category = append(tab.Category, "face")
		tab.Domain = append(tab.Domain, "faces")
		tab.Identity = append(tab.Identity, name)
		tab.Image = append(tab.Image, count[id])
	}
	if err := data.WriteImages(filepath.Join(dir, "images.arrow"), tab, nil); err != nil {
		t.Fatal(err)
	}
}

// writeMetrics writes a metric-format kernel-level table for the given
// metrics into dir/<layer>.arrow.
func writeMetrics(t testing.TB, dir, layer string, metrics []string, values map[string][]float64, selected map[string][]bool) {
	t.Helper()
	var tab arrowfile.Table
	n := 0
	for _, m := range metrics {
		n = len(values[m])
	}
	item := make([]int64, n)
	for i := range item {
		item[i] = int64(i)
	}
	tab.Int64s("item", item)
	for _, m := range metrics {
		tab.Float64s(ValueColumn[m], values[m])
		tab.Bools(data.SelectedColumn(m), selected[m])
	}
	meta := map[string]string{"level": "kernel", "layer": layer, "aggregation": "l2", "metrics": strings.Join(metrics, ",")}
	if err := tab.Write(filepath.Join(dir, layer+".arrow"), meta); err != nil {
		t.Fatal(err)
	}
}

// run runs the decode kind on the inputs and returns the output folder.
func run(t testing.TB, p *Params, features stages.Input, metrics ...stages.Input) (string, []string, error) {
	t.Helper()
	out := t.TempDir()
	var logs []string
	job := &stages.Job{
		Stage:    "decode",
		Params:   p,
		Inputs:   map[string][]stages.Input{"features": {features}, "metrics": metrics},
		OutDir:   out,
		Progress: pipelinetest.Progress{},
		Logf:     func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) },
	}
	err := Kind{}.Run(context.Background(), job)
	return out, logs, err
}

// decodingRow is one row of decoding.arrow.
type decodingRow struct {
	set                     string
	kernels, draws          int64
	mean, sd, ciLow, ciHigh float64
	chance                  float64
	folds                   []float64
}

func readDecoding(t testing.TB, path string) ([]decodingRow, map[string]string) {
	t.Helper()
	r, err := arrowfile.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rec, err := r.Record(0)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	col := func(name string) arrow.Array {
		idx := rec.Schema().FieldIndices(name)
		if len(idx) != 1 {
			t.Fatalf("decoding.arrow: no column %q", name)
		}
		return rec.Column(idx[0])
	}
	var out []decodingRow
	folds := col("folds").(*array.List)
	fv := folds.ListValues().(*array.Float64)
	for i := range int(rec.NumRows()) {
		s, e := folds.ValueOffsets(i)
		out = append(out, decodingRow{
			set:     strings.Clone(col("set").(*array.String).Value(i)),
			kernels: col("n_kernels").(*array.Int64).Value(i),
			draws:   col("draws").(*array.Int64).Value(i),
			mean:    col("mean").(*array.Float64).Value(i),
			sd:      col("sd").(*array.Float64).Value(i),
			ciLow:   col("ci_low").(*array.Float64).Value(i),
			ciHigh:  col("ci_high").(*array.Float64).Value(i),
			chance:  col("chance").(*array.Float64).Value(i),
			folds:   append([]float64(nil), fv.Float64Values()[s:e]...),
		})
	}
	meta := map[string]string{}
	md := r.Schema().Metadata()
	for i, k := range md.Keys() {
		meta[k] = md.Values()[i]
	}
	return out, meta
}
