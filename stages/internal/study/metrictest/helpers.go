package metrictest

import (
	"context"
	"math"
	"testing"

	"gopkg.in/yaml.v3"

	"selectivity/cache/arrowfile"
	"selectivity/pipeline/pipelinetest"
	"selectivity/stages"
)

// Params returns kind k's defaults with over (keys as an experiment file
// writes them) decoded on top, validated.
func Params[P any](t testing.TB, k stages.Kind, over map[string]any) P {
	t.Helper()
	p := k.NewParams().(P)
	b, err := yaml.Marshal(over)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, p); err != nil {
		t.Fatal(err)
	}
	if v, ok := any(p).(stages.Validator); ok {
		if errs := v.Validate(); len(errs) > 0 {
			t.Fatalf("params %v: %v", over, errs)
		}
	}
	return p
}

// Run runs kind k with params p on in, its acts input, into a new folder,
// and returns the folder.
func Run(t testing.TB, k stages.Kind, p any, in stages.Input) (string, error) {
	t.Helper()
	out := t.TempDir()
	job := &stages.Job{Stage: k.Name(), Params: p, OutDir: out,
		Inputs: map[string][]stages.Input{"acts": {in}}, Progress: pipelinetest.Progress{}, Logf: t.Logf}
	return out, k.Run(context.Background(), job)
}

// Open opens an Arrow file, closed when the test ends.
func Open(t testing.TB, path string) *arrowfile.Reader {
	t.Helper()
	r, err := arrowfile.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// Floats, Ints and Strings read a column, failing t if they cannot.
func Floats(t testing.TB, r *arrowfile.Reader, col string) []float64 {
	t.Helper()
	return must(t, arrowfile.Float64Column)(r, col)
}

func Ints(t testing.TB, r *arrowfile.Reader, col string) []int64 {
	t.Helper()
	return must(t, arrowfile.Int64Column)(r, col)
}

func Strings(t testing.TB, r *arrowfile.Reader, col string) []string {
	t.Helper()
	return must(t, arrowfile.StringColumn)(r, col)
}

// must wraps a column reader to fail t on an error.
func must[T any](t testing.TB, read func(*arrowfile.Reader, string) (T, error)) func(*arrowfile.Reader, string) T {
	return func(r *arrowfile.Reader, col string) T {
		t.Helper()
		v, err := read(r, col)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// Agree reports whether got matches want as the reference fixtures are
// matched: both NaN, the same infinity, or within 1e-9 relative or 1e-12
// absolute.
func Agree(got, want float64) bool {
	switch {
	case math.IsNaN(want) || math.IsNaN(got):
		return math.IsNaN(want) && math.IsNaN(got)
	case math.IsInf(want, 0) || math.IsInf(got, 0):
		return got == want
	}
	d := math.Abs(got - want)
	return d <= 1e-9*math.Max(math.Abs(got), math.Abs(want)) || d <= 1e-12
}
