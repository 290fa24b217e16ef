package pipeline

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"selectivity/cache/arrowfile"
	"selectivity/stages"
)

// tableKind writes table.arrow: a float64 column of n copies of value
// and a string column; and, with volatile: true, a note.txt that differs
// at every run, declared volatile.
type tableKind struct{}

type tableParams struct {
	Value    float64 `yaml:"value"`
	Volatile bool    `yaml:"volatile"`
}

func (tableKind) Name() string          { return "test-verify-table" }
func (tableKind) Version() string       { return "1" }
func (tableKind) Doc() string           { return "writes a small Arrow table (verify tests only)" }
func (tableKind) NewParams() any        { return &tableParams{Value: 1} }
func (tableKind) Inputs() []stages.Slot { return nil }

func (tableKind) VolatileOutputs() []string { return []string{"note.txt"} }

var runs int

func (tableKind) Run(ctx context.Context, job *stages.Job) error {
	p := job.Params.(*tableParams)
	var t arrowfile.Table
	t.Float64s("v", []float64{p.Value, p.Value, math.NaN()})
	t.Strings("s", []string{"a", "b", "c"})
	if err := t.Write(job.Output("table.arrow"), nil); err != nil {
		return err
	}
	if !p.Volatile {
		return nil
	}
	runs++
	return os.WriteFile(job.Output("note.txt"), []byte(strings.Repeat("x", runs)), 0o644)
}

func init() { stages.Register(tableKind{}) }

const verifyExp = `
stages:
  t:
    kind: test-verify-table
    params: {value: 0.5, volatile: true}
  src:
    kind: test-source
    params: {value: 2}
`

func verify(t *testing.T, file string, opts VerifyOptions) *VerifyReport {
	t.Helper()
	exp, err := Load(file, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Verify(context.Background(), exp, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestVerify(t *testing.T) {
	dir := t.TempDir()
	file := write(t, dir, "exp.yaml", verifyExp)
	exp, err := Load(file, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(context.Background(), exp, VerifyOptions{}); err == nil || !strings.Contains(err.Error(), "no lock file") {
		t.Errorf("without a lock file: %v", err)
	}
	mustRun(t, file)
	lockBefore, _ := os.ReadFile(exp.LockFile)

	// Untouched: identical, the volatile note listed, nothing of the
	// experiment's own written.
	r := verify(t, file, VerifyOptions{Jobs: 1})
	if !r.OK() || r.Stages != 2 || len(r.Volatile) != 1 || r.Volatile[0].File != "note.txt" {
		t.Fatalf("untouched: %+v", r)
	}
	if lockAfter, _ := os.ReadFile(exp.LockFile); string(lockAfter) != string(lockBefore) {
		t.Error("verify rewrote the experiment's lock file")
	}

	// A changed parameter: the key differs, named.
	write(t, dir, "exp.yaml", strings.Replace(verifyExp, "value: 2", "value: 3", 1))
	r = verify(t, file, VerifyOptions{})
	if r.OK() || len(r.Differences) != 2 || r.Differences[0].Stage != "src" || !strings.Contains(r.Differences[0].What, "key differs") ||
		r.Differences[1].File != "values.txt" {
		t.Errorf("changed parameter: %v", r.Differences)
	}
	write(t, dir, "exp.yaml", verifyExp)

	// A lock whose table digest differs (as on another CPU): a difference,
	// unless a committed copy agrees within the tolerance.
	lock, err := ReadLockFile(exp.LockFile)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range lock.Stages["t"].Outputs {
		if o.Name == "table.arrow" {
			lock.Stages["t"].Outputs[i].SHA256 = strings.Repeat("0", 64)
		}
	}
	if err := lock.Write(exp.LockFile); err != nil {
		t.Fatal(err)
	}
	r = verify(t, file, VerifyOptions{})
	if r.OK() || len(r.Differences) != 1 || r.Differences[0].File != "table.arrow" || !strings.Contains(r.Differences[0].What, "no committed table") ||
		!strings.Contains(r.Differences[0].What, "bump its Version") {
		t.Errorf("digest differs, no tables: %v", r.Differences)
	}
	tables := filepath.Join(dir, "tables")
	committed := func(v float64) {
		var tb arrowfile.Table
		tb.Float64s("v", []float64{v, v, math.NaN()})
		tb.Strings("s", []string{"a", "b", "c"})
		if err := os.MkdirAll(filepath.Join(tables, "t"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := tb.Write(filepath.Join(tables, "t", "table.arrow"), nil); err != nil {
			t.Fatal(err)
		}
	}
	committed(0.5 * (1 + 1e-9))
	r = verify(t, file, VerifyOptions{Tables: tables, Tolerance: 1e-6})
	if !r.OK() || len(r.Close) != 1 || r.MaxDeviation < 0.9e-9 || r.MaxDeviation > 1.1e-9 {
		t.Errorf("within tolerance: %+v", r)
	}
	committed(0.5 * (1 + 1e-3))
	r = verify(t, file, VerifyOptions{Tables: tables, Tolerance: 1e-6})
	if r.OK() || !strings.Contains(r.Differences[0].String(), "t/table.arrow: column v, row 0") {
		t.Errorf("beyond tolerance: %v", r.Differences)
	}

	// A stage removed from the experiment but still in the lock.
	write(t, dir, "exp.yaml", verifyExp[:strings.Index(verifyExp, "  src:")])
	r = verify(t, file, VerifyOptions{Tables: tables, Tolerance: 1})
	if r.OK() || r.Differences[len(r.Differences)-1].What != "in the lock file, not in the experiment" {
		t.Errorf("removed stage: %v", r.Differences)
	}
}

func TestSaveTables(t *testing.T) {
	dir := t.TempDir()
	file := write(t, dir, "exp.yaml", verifyExp)
	mustRun(t, file)
	exp, err := Load(file, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tables := filepath.Join(dir, "tables")
	keep := write(t, tables, "mine.txt", "a user's file")
	_, store := plan(t, file)
	n, err := SaveTables(exp, store, tables, 1<<20)
	if err != nil || n != 1 {
		t.Fatalf("saved %d tables, %v; want 1 (values.txt and note.txt are no Arrow tables)", n, err)
	}
	if _, err := os.Stat(filepath.Join(tables, "t", "table.arrow")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("a file already in the folder was removed: %v", err)
	}
	if n, _ := SaveTables(exp, store, tables, 10); n != 0 {
		t.Errorf("%d tables larger than 10 bytes saved", n)
	}
}

func TestCompareTables(t *testing.T) {
	dir := t.TempDir()
	write1 := func(name string, build func(*arrowfile.Table)) string {
		var tb arrowfile.Table
		build(&tb)
		p := filepath.Join(dir, name)
		if err := tb.Write(p, nil); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := write1("base.arrow", func(tb *arrowfile.Table) {
		tb.Float64s("x", []float64{1, math.NaN(), math.Inf(1), 0})
		tb.Float64Lists("l", [][]float64{{1, 2}, {3}, nil, {4}})
		tb.Int64s("n", []int64{1, 2, 3, 4})
	})
	for _, tc := range []struct {
		name  string
		build func(*arrowfile.Table)
		dev   float64
		err   string
	}{
		{"same", func(tb *arrowfile.Table) {
			tb.Float64s("x", []float64{1, math.NaN(), math.Inf(1), 0})
			tb.Float64Lists("l", [][]float64{{1, 2}, {3}, nil, {4}})
			tb.Int64s("n", []int64{1, 2, 3, 4})
		}, 0, ""},
		{"close float and list value", func(tb *arrowfile.Table) {
			tb.Float64s("x", []float64{1 + 1e-7, math.NaN(), math.Inf(1), 0})
			tb.Float64Lists("l", [][]float64{{1, 2 * (1 + 2e-7)}, {3}, nil, {4}})
			tb.Int64s("n", []int64{1, 2, 3, 4})
		}, 2e-7, ""},
		{"Inf against a number", func(tb *arrowfile.Table) {
			tb.Float64s("x", []float64{1, math.NaN(), 5, 0})
			tb.Float64Lists("l", [][]float64{{1, 2}, {3}, nil, {4}})
			tb.Int64s("n", []int64{1, 2, 3, 4})
		}, 0, "column x, row 2"},
		{"integer differs", func(tb *arrowfile.Table) {
			tb.Float64s("x", []float64{1, math.NaN(), math.Inf(1), 0})
			tb.Float64Lists("l", [][]float64{{1, 2}, {3}, nil, {4}})
			tb.Int64s("n", []int64{1, 2, 30, 4})
		}, 0, "column n, row 2"},
		{"list lengths differ", func(tb *arrowfile.Table) {
			tb.Float64s("x", []float64{1, math.NaN(), math.Inf(1), 0})
			tb.Float64Lists("l", [][]float64{{1, 2}, {3, 3}, nil, {4}})
			tb.Int64s("n", []int64{1, 2, 3, 4})
		}, 0, "column l, row 1"},
		{"schema", func(tb *arrowfile.Table) { tb.Float64s("x", []float64{1, 2, 3, 4}) }, 0, "schema"},
	} {
		got := write1(tc.name+".arrow", tc.build)
		dev, err := CompareTables(base, got, 1e-6)
		switch {
		case tc.err == "" && (err != nil || math.Abs(dev-tc.dev) > 1e-9):
			t.Errorf("%s: deviation %g, %v; want %g", tc.name, dev, err, tc.dev)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
		}
	}
}
