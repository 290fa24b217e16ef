// Package metrictest writes inputs for the tests of the kinds that compute
// the metrics (study.Study): image tables and layer matrices as an extract
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

	"selectivity/cache/arrowfile"
	"selectivity/stages"
	"selectivity/stages/internal/data"
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
	in := stages.Input{Stage: "acts", Dir: dir, Files: []string{data.ImagesFile}}
	WriteImages(t, filepath.Join(dir, data.ImagesFile), im)
	for _, l := range layers {
		dl := data.Layer{Name: l.Name, Level: data.LevelUnit}
		if l.Aggregation != "" {
			dl.Level, dl.Aggregation = data.LevelKernel, l.Aggregation
		}
		meta := dl.Meta(l.Shape, nil)
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
	tab := &data.Table{Path: im.Path, Category: im.Category, Domain: im.Domain, Identity: im.Identity, Image: make([]int, len(im.Path))}
	if tab.Identity == nil {
		tab.Identity = make([]string, len(im.Path))
	}
	for i := range tab.Image {
		tab.Image[i] = i
		if im.Image != nil {
			tab.Image[i] = int(im.Image[i])
		}
	}
	if err := data.WriteImages(path, tab, nil); err != nil {
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
	b, err := os.ReadFile(filepath.Join(filepath.Dir(here), "..", "..", "..", "..", "testdata", "metric", "fixtures.json"))
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
