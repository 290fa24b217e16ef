// Package metrictest writes inputs for the tests of the kinds that compute
// the metrics (metric.Study): image tables and layer matrices as an extract
// or aggregate stage writes them, and the metric kind's reference fixture
// (testdata/metric/fixtures.json, written by testdata/metric/gen.py) as
// such an input.
package metrictest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"selectivity/cache/arrowfile"
	"selectivity/stages"
	"selectivity/stages/internal/stats/fixture"
)

// Images is an image table: one entry per row.
type Images struct {
	Path, Category, Domain, Identity []string
	Image                            []int32
}

// Layer is one layer matrix to write: Rows(r, dst) fills image r's row.
type Layer struct {
	Name        string
	Shape       []int  // C, H, W at unit level; C at kernel level
	Aggregation string // "" for a unit-level layer
	Items       int
	Rows        func(r int, dst []float32)
}

// WriteInput writes images.arrow and the layers into a new folder, as an
// extract stage (unit level) or aggregate stage (kernel level) would, in
// record batches of 10 rows.
func WriteInput(t testing.TB, im Images, layers []Layer) stages.Input {
	t.Helper()
	dir := t.TempDir()
	in := stages.Input{Stage: "acts", Dir: dir, Files: []string{"images.arrow"}}
	WriteImages(t, filepath.Join(dir, "images.arrow"), im)
	for _, l := range layers {
		meta := map[string]string{"layer": l.Name, "shape": arrowfile.FormatInts(l.Shape...), "level": "unit"}
		if l.Aggregation != "" {
			meta["level"], meta["aggregation"] = "kernel", l.Aggregation
		}
		name := l.Name + ".arrow"
		if err := arrowfile.WriteMatrixBatched(filepath.Join(dir, name), len(im.Path), l.Items, 10, meta, l.Rows); err != nil {
			t.Fatal(err)
		}
		in.Files = append(in.Files, name)
	}
	return in
}

// WriteImages writes an image table as the extract stage does.
func WriteImages(t testing.TB, path string, im Images) {
	t.Helper()
	n := len(im.Path)
	idx := make([]int32, n)
	for i := range idx {
		idx[i] = int32(i)
	}
	if im.Identity == nil {
		im.Identity = make([]string, n)
	}
	if im.Image == nil {
		im.Image = idx
	}
	mem := memory.DefaultAllocator
	ints := func(v []int32) arrow.Array {
		b := array.NewInt32Builder(mem)
		b.AppendValues(v, nil)
		return b.NewArray()
	}
	str := func(v []string) arrow.Array {
		b := array.NewStringBuilder(mem)
		b.AppendValues(v, nil)
		return b.NewArray()
	}
	cols := []arrow.Array{ints(idx), str(im.Path), str(im.Category), str(im.Domain), str(im.Identity), ints(im.Image)}
	fields := []arrow.Field{
		{Name: "index", Type: arrow.PrimitiveTypes.Int32}, {Name: "path", Type: arrow.BinaryTypes.String},
		{Name: "category", Type: arrow.BinaryTypes.String}, {Name: "domain", Type: arrow.BinaryTypes.String},
		{Name: "identity", Type: arrow.BinaryTypes.String}, {Name: "image", Type: arrow.PrimitiveTypes.Int32},
	}
	if err := arrowfile.WriteTable(path, arrowfile.NewSchema(fields, nil), cols...); err != nil {
		t.Fatal(err)
	}
}

// Fixture is what testdata/metric/fixtures.json holds of the inputs.
type Fixture struct {
	Images Images
	Layers []struct {
		Name  string
		Shape []int
		Acts  [][]fixture.Float
	}
	Aggregate map[string]map[string][][]fixture.Float
}

// LoadFixture reads testdata/metric/fixtures.json.
func LoadFixture(t testing.TB) *Fixture {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(here), "..", "..", "..", "testdata", "metric", "fixtures.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fx Fixture
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatalf("metric fixture: %v", err)
	}
	return &fx
}

// Input writes the fixture as an extract stage's output (input "unit") or
// an aggregate stage's (mean, l2 or max: the reference aggregation).
func (fx *Fixture) Input(t testing.TB, input string) stages.Input {
	t.Helper()
	var layers []Layer
	for _, l := range fx.Layers {
		rows, shape, agg := l.Acts, l.Shape, ""
		if input != "unit" {
			rows, shape, agg = fx.Aggregate[l.Name][input], l.Shape[:1], input
		}
		layers = append(layers, Layer{Name: l.Name, Shape: shape, Aggregation: agg, Items: len(rows[0]),
			Rows: func(r int, dst []float32) {
				for i, v := range rows[r] {
					dst[i] = float32(v)
				}
			}})
	}
	return WriteInput(t, fx.Images, layers)
}
