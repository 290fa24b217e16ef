package study

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"gopkg.in/yaml.v3"

	"selectivity/cache/arrowfile"
	"selectivity/pipeline/pipelinetest"
	"selectivity/stages"
	"selectivity/stages/internal/stats/fixture"
)

// The fixtures are numpy's / scipy's / statsmodels' answers, written by
// testdata/metric/gen.py (see there for the cases and the conventions).
const fixturePath = "../../../testdata/metric/fixtures.json"

// F is a fixture float: NaN and ±Inf arrive as strings.
type F = fixture.Float

type fixtures struct {
	Versions map[string]string
	Images   fxImages
	Layers   []struct {
		Name  string
		Shape []int
		Acts  [][]F
	}
	Aggregate map[string]map[string][][]F
	Cases     []fxCase
}

type fxImages struct {
	Path, Category, Domain, Identity []string
	Image                            []int32
}

type fxCase struct {
	Name    string
	Input   string // unit, or the aggregation of a kernel-level input
	Params  map[string]any
	Layers  map[string]fxLayer
	Summary []struct {
		Layer, Level, Aggregation, Metric string
		Items, Selected                   int
		Percent                           F
	}
}

type fxLayer struct {
	Items    int
	Groups   []string
	Selected map[string][]int
	FSI      []F            `json:"fsi"`
	DPrime   []F            `json:"dprime"`
	WZ       []F            `json:"wilcoxon_z"`
	WP       []F            `json:"wilcoxon_p"`
	TT       []F            `json:"ttest_t"`
	TP       map[string][]F `json:"ttest_p"`
	TQ       map[string][]F `json:"ttest_q"`
}

var (
	fxOnce sync.Once
	fx     fixtures
	fxErr  error
)

func loadFixtures(t testing.TB) *fixtures {
	t.Helper()
	fxOnce.Do(func() {
		b, err := os.ReadFile(fixturePath)
		if err != nil {
			fxErr = err
			return
		}
		fxErr = json.Unmarshal(b, &fx)
	})
	if fxErr != nil {
		t.Fatalf("fixtures: %v", fxErr)
	}
	return &fx
}

func (fx *fixtures) caseNamed(t testing.TB, name string) fxCase {
	t.Helper()
	for _, c := range fx.Cases {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no fixture case %q", name)
	return fxCase{}
}

// writeImages writes an image table as the extract stage does.
func writeImages(t testing.TB, path string, im fxImages) {
	t.Helper()
	n := len(im.Path)
	idx := make([]int32, n)
	for i := range idx {
		idx[i] = int32(i)
	}
	mem := memory.DefaultAllocator
	ib := array.NewInt32Builder(mem)
	ib.AppendValues(idx, nil)
	imb := array.NewInt32Builder(mem)
	imb.AppendValues(im.Image, nil)
	str := func(v []string) arrow.Array {
		b := array.NewStringBuilder(mem)
		b.AppendValues(v, nil)
		return b.NewArray()
	}
	cols := []arrow.Array{ib.NewArray(), str(im.Path), str(im.Category), str(im.Domain), str(im.Identity), imb.NewArray()}
	fields := []arrow.Field{
		{Name: "index", Type: arrow.PrimitiveTypes.Int32}, {Name: "path", Type: arrow.BinaryTypes.String},
		{Name: "category", Type: arrow.BinaryTypes.String}, {Name: "domain", Type: arrow.BinaryTypes.String},
		{Name: "identity", Type: arrow.BinaryTypes.String}, {Name: "image", Type: arrow.PrimitiveTypes.Int32},
	}
	if err := arrowfile.WriteTable(path, arrowfile.NewSchema(fields, nil), cols...); err != nil {
		t.Fatal(err)
	}
}

// writeInput writes the fixture's image table and layers into a new folder
// as an extract stage (input "unit") or an aggregate stage (input mean, l2
// or max: the reference aggregation) would, in record batches of 10 rows.
func writeInput(t testing.TB, fx *fixtures, input string) stages.Input {
	return writeInputCompressed(t, fx, input, arrowfile.Uncompressed)
}

// writeInputCompressed is writeInput with the layers compressed by c.
func writeInputCompressed(t testing.TB, fx *fixtures, input string, c arrowfile.Compression) stages.Input {
	t.Helper()
	dir := t.TempDir()
	in := stages.Input{Stage: "acts", Dir: dir, Files: []string{"images.arrow"}}
	writeImages(t, filepath.Join(dir, "images.arrow"), fx.Images)
	for _, l := range fx.Layers {
		meta := map[string]string{"layer": l.Name}
		rows := l.Acts
		if input == "unit" {
			meta["level"], meta["shape"] = "unit", arrowfile.FormatInts(l.Shape...)
		} else {
			meta["level"], meta["aggregation"], meta["shape"] = "kernel", input, arrowfile.FormatInts(l.Shape[0])
			rows = fx.Aggregate[l.Name][input]
		}
		name := l.Name + ".arrow"
		err := arrowfile.WriteMatrixCompressed(filepath.Join(dir, name), len(rows), len(rows[0]), 10, c, meta, func(r int, dst []float32) {
			for i, v := range rows[r] {
				dst[i] = float32(v)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		in.Files = append(in.Files, name)
	}
	// Files that are not layers are ignored.
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	in.Files = append(in.Files, "notes.txt")
	return in
}

// params returns the defaults overlaid with a case's parameters, decoded
// through the yaml tags.
func params(t testing.TB, over map[string]any) *Params {
	t.Helper()
	p := Defaults()
	b, err := yaml.Marshal(over)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, p); err != nil {
		t.Fatal(err)
	}
	if errs := p.Validate(); len(errs) > 0 {
		t.Fatalf("params %v: %v", over, errs)
	}
	return p
}

// run runs the metric kind on in and returns its output folder.
func run(t testing.TB, in stages.Input, p *Params) (string, error) {
	t.Helper()
	out := t.TempDir()
	job := &stages.Job{
		Stage: "metric", Params: p, OutDir: out,
		Inputs:   map[string][]stages.Input{"acts": {in}},
		Progress: pipelinetest.Progress{},
		Logf:     func(string, ...any) {},
	}
	return out, Run(context.Background(), job)
}

// openTable opens an output table.
func openTable(t testing.TB, path string) *arrowfile.Reader {
	t.Helper()
	r, err := arrowfile.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func floats(t testing.TB, r *arrowfile.Reader, col string) []float64 {
	t.Helper()
	v, err := arrowfile.Float64Column(r, col)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// column returns all values of column col as a Go slice (bool, string or
// int64 columns).
func column[T bool | string | int64](t testing.TB, r *arrowfile.Reader, col string) []T {
	t.Helper()
	var v any
	var err error
	switch any(*new(T)).(type) {
	case bool:
		v, err = arrowfile.BoolColumn(r, col)
	case string:
		v, err = arrowfile.StringColumn(r, col)
	case int64:
		v, err = arrowfile.Int64Column(r, col)
	}
	if err != nil {
		t.Fatal(err)
	}
	return v.([]T)
}

// agree reports whether got agrees with want: both NaN, the same infinity,
// or within 1e-9 relative or 1e-12 absolute.
func agree(got, want float64) bool {
	switch {
	case math.IsNaN(want) || math.IsNaN(got):
		return math.IsNaN(want) && math.IsNaN(got)
	case math.IsInf(want, 0) || math.IsInf(got, 0):
		return got == want
	}
	d := math.Abs(got - want)
	return d <= 1e-9*math.Max(math.Abs(got), math.Abs(want)) || d <= 1e-12
}

func fs(v []F) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// indices lists the positions of the true values.
func indices(b []bool) []int {
	out := []int{}
	for i, v := range b {
		if v {
			out = append(out, i)
		}
	}
	return out
}
