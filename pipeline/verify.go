package pipeline

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"selectivity/cache"
	"selectivity/cache/arrowfile"
	"selectivity/pipeline/digest"
	"selectivity/pipeline/progress"
	"selectivity/stages"
)

// Regeneration: Verify runs an experiment from an empty cache in a
// temporary folder, as a fresh checkout in CI would, and compares what it
// made with the experiment's committed lock file:
//
//   - the stages must be the same, each with the key the lock records (a
//     changed parameter, input file or code version is a difference: the
//     committed results no longer describe the code);
//   - every output must have the lock's SHA-256 (a different one under the
//     same key means the same code version now computes another result:
//     the kind's Version should have been bumped);
//   - where an output's digest differs but a committed copy of it lies in
//     the tables folder (<tables>/<stage>/<file>, written by SaveTables),
//     the two Arrow tables are compared value by value instead: the same
//     schema and rows, integers, strings and booleans equal, floats within
//     the relative tolerance (|a − b| ≤ tol·max(|a|, |b|); NaN equals NaN;
//     ±Inf equal only to themselves). Another CPU may take another
//     convolution kernel, whose float32 sums round differently: this is
//     what lets such a machine still pass, within a stated tolerance.
//
// Outputs a kind declares volatile (stages.Volatile: they record when and
// where they were made, like a report's provenance) cannot be regenerated
// byte for byte; they are checked to exist and listed, not compared.
//
// Nothing of the experiment's own cache, results or lock file is read or
// written; the temporary folder is removed afterwards.

// VerifyOptions adjusts Verify.
type VerifyOptions struct {
	// Jobs is how many stages may run at once (at least 1).
	Jobs int
	// Tables is the folder of committed tables, "" for none.
	Tables string
	// Tolerance is the largest relative deviation of a float accepted in a
	// committed table whose digest differs.
	Tolerance float64
	// Progress receives the run's lines; nil discards them.
	Progress *progress.Reporter
}

// Difference is one way a regenerated output differs from the committed one.
type Difference struct {
	Stage, File string // File is "" for a difference of the whole stage
	What        string
}

func (d Difference) String() string {
	if d.File == "" {
		return d.Stage + ": " + d.What
	}
	return d.Stage + "/" + d.File + ": " + d.What
}

// VerifyReport is what Verify found.
type VerifyReport struct {
	Stages, Files int
	// Differences make verification fail.
	Differences []Difference
	// Close lists outputs whose digests differ but whose committed tables
	// agree within the tolerance, with the largest deviation in What.
	Close []Difference
	// MaxDeviation is the largest relative deviation seen in Close.
	MaxDeviation float64
	// Volatile lists the outputs left out of the comparison (see
	// stages.Volatile).
	Volatile []Difference
}

// OK reports whether nothing differs.
func (r *VerifyReport) OK() bool { return len(r.Differences) == 0 }

// Verify regenerates exp in a temporary folder and compares it with its
// lock file (see the section comment). The error is for what prevents a
// comparison (no lock file, a stage that fails); differences are in the
// report.
func Verify(ctx context.Context, exp *Experiment, opts VerifyOptions) (*VerifyReport, error) {
	if _, err := os.Stat(exp.LockFile); err != nil {
		return nil, fmt.Errorf("verify: no lock file to compare with (%w): run the experiment and commit %s", err, filepath.Base(exp.LockFile))
	}
	committed, err := ReadLockFile(exp.LockFile)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	tmp, err := os.MkdirTemp("", "selectivity-verify-")
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	defer os.RemoveAll(tmp)
	fresh := *exp
	fresh.CacheDir = filepath.Join(tmp, "cache")
	fresh.ResultsDir = filepath.Join(tmp, "results")
	fresh.LockFile = filepath.Join(tmp, "regenerated.lock")
	h, err := digest.New(filepath.Join(fresh.CacheDir, "state.json"))
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	plan, err := NewPlan(&fresh, h)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	rep := opts.Progress
	if rep == nil {
		rep = progress.New(io.Discard, false, time.Hour)
		defer rep.Close()
	}
	store := cache.Open(fresh.CacheDir)
	if _, err := Run(ctx, plan, store, RunOptions{Jobs: max(1, opts.Jobs), Progress: rep}); err != nil {
		return nil, fmt.Errorf("verify: regenerating %s: %w", exp.File, err)
	}
	made, err := ReadLockFile(fresh.LockFile)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	r := &VerifyReport{}
	volatile := map[string][]string{}
	for _, n := range plan.Nodes {
		if v, ok := n.Stage.Kind.(stages.Volatile); ok {
			volatile[n.Stage.Name] = v.VolatileOutputs()
		}
	}
	for _, name := range unionKeys(committed.Stages, made.Stages) {
		want, got := committed.Stages[name], made.Stages[name]
		switch {
		case got == nil:
			r.Differences = append(r.Differences, Difference{Stage: name, What: "in the lock file, not in the experiment"})
			continue
		case want == nil:
			r.Differences = append(r.Differences, Difference{Stage: name, What: "in the experiment, not in the lock file"})
			continue
		}
		r.Stages++
		if want.Key != got.Key {
			what := "key differs from the lock file's: its parameters, input files, inputs or code"
			if want.Version != got.Version {
				what = fmt.Sprintf("key differs from the lock file's: code version %s → %s", want.Version, got.Version)
			}
			r.Differences = append(r.Differences, Difference{Stage: name, What: what + " changed; run it and commit the lock file"})
		}
		r.compareOutputs(name, want, got, store.EntryDir(got.Key), volatile[name], opts)
	}
	return r, nil
}

func (r *VerifyReport) compareOutputs(stage string, wantStage, gotStage *LockStage, dir string, volatile []string, opts VerifyOptions) {
	sameKey, version := wantStage.Key == gotStage.Key, gotStage.Version
	byName := map[string]LockOutput{}
	for _, o := range gotStage.Outputs {
		byName[o.Name] = o
	}
	for _, w := range wantStage.Outputs {
		g, ok := byName[w.Name]
		if !ok {
			r.Differences = append(r.Differences, Difference{stage, w.Name, "not made by the regenerated run"})
			continue
		}
		delete(byName, w.Name)
		r.Files++
		if g.SHA256 == w.SHA256 {
			continue
		}
		if slices.Contains(volatile, w.Name) {
			r.Volatile = append(r.Volatile, Difference{stage, w.Name, "records when and where it was made: not compared"})
			continue
		}
		committed := ""
		if opts.Tables != "" {
			committed = filepath.Join(opts.Tables, stage, w.Name)
		}
		if _, err := os.Stat(committed); committed == "" || err != nil {
			what := fmt.Sprintf("sha256 %.12s…, the lock file's %.12s… (no committed table to compare the numbers)", g.SHA256, w.SHA256)
			if sameKey {
				what += fmt.Sprintf("; the key is the lock's, so the same code version %s computes another result: if the kind's code changed, bump its Version", version)
			}
			r.Differences = append(r.Differences, Difference{stage, w.Name, what})
			continue
		}
		dev, err := CompareTables(committed, filepath.Join(dir, w.Name), opts.Tolerance)
		if err != nil {
			r.Differences = append(r.Differences, Difference{stage, w.Name, err.Error()})
			continue
		}
		r.Close = append(r.Close, Difference{stage, w.Name, fmt.Sprintf("sha256 differs; numbers within %.3g relative (largest deviation %.3g)", opts.Tolerance, dev)})
		r.MaxDeviation = max(r.MaxDeviation, dev)
	}
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		r.Differences = append(r.Differences, Difference{stage, name, "made by the regenerated run, not in the lock file"})
	}
}

// SaveTables copies every Arrow output of exp's last run (as its lock
// file records it) that is at most maxBytes long and has a floating-point
// column into dir/<stage>/<file>, for Verify's tolerance comparison (tables
// of integers and strings come out the same on any CPU, so their digests
// suffice). It replaces files of those names and touches nothing else in
// dir.
func SaveTables(exp *Experiment, store *cache.Store, dir string, maxBytes int64) (int, error) {
	lock, err := ReadLockFile(exp.LockFile)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, name := range slices.Sorted(maps.Keys(lock.Stages)) {
		st := lock.Stages[name]
		for _, o := range st.Outputs {
			if o.Size > maxBytes || !strings.HasSuffix(o.Name, ".arrow") {
				continue
			}
			src := filepath.Join(store.EntryDir(st.Key), o.Name)
			if floats, err := hasFloats(src); err != nil || !floats {
				if err != nil {
					return n, fmt.Errorf("tables: %s of stage %s: %w", o.Name, name, err)
				}
				continue
			}
			b, err := os.ReadFile(src)
			if err != nil {
				return n, fmt.Errorf("tables: %s of stage %s: %w (run the experiment first)", o.Name, name, err)
			}
			dst := filepath.Join(dir, name, o.Name)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return n, err
			}
			if err := writeFileAtomic(dst, b); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// hasFloats reports whether the Arrow file at path has a float column (or
// a list of floats).
func hasFloats(path string) (bool, error) {
	r, err := arrowfile.Open(path)
	if err != nil {
		return false, err
	}
	defer r.Close()
	var float func(t arrow.DataType) bool
	float = func(t arrow.DataType) bool {
		switch t := t.(type) {
		case *arrow.Float32Type, *arrow.Float64Type:
			return true
		case arrow.ListLikeType:
			return float(t.Elem())
		}
		return false
	}
	for _, f := range r.Schema().Fields() {
		if float(f.Type) {
			return true, nil
		}
	}
	return false, nil
}

// CompareTables compares two Arrow files value by value (see Verify) and
// returns the largest relative deviation of a float, or an error naming
// the first column and row that differ beyond tol.
func CompareTables(wantPath, gotPath string, tol float64) (float64, error) {
	want, err := arrowfile.Open(wantPath)
	if err != nil {
		return 0, err
	}
	defer want.Close()
	got, err := arrowfile.Open(gotPath)
	if err != nil {
		return 0, err
	}
	defer got.Close()
	ws, gs := want.Schema(), got.Schema()
	if !ws.Equal(gs) {
		return 0, fmt.Errorf("schema %s, the committed table's %s", gs, ws)
	}
	if want.NumRows() != got.NumRows() {
		return 0, fmt.Errorf("%d rows, the committed table %d", got.NumRows(), want.NumRows())
	}
	wcols, err := columns(want)
	if err != nil {
		return 0, err
	}
	gcols, err := columns(got)
	if err != nil {
		return 0, err
	}
	worst := 0.0
	for i, f := range ws.Fields() {
		dev, row, err := compareArrays(wcols[i], gcols[i], tol)
		if err != nil {
			return 0, fmt.Errorf("column %s, row %d: %w", f.Name, row, err)
		}
		worst = max(worst, dev)
	}
	return worst, nil
}

// columns concatenates each column over the file's record batches.
func columns(r *arrowfile.Reader) ([]arrow.Array, error) {
	n := r.Schema().NumFields()
	parts := make([][]arrow.Array, n)
	for k := range r.NumRecords() {
		rec, err := r.Record(k)
		if err != nil {
			return nil, err
		}
		for i := range n {
			c := rec.Column(i)
			c.Retain()
			parts[i] = append(parts[i], c)
		}
		rec.Release()
	}
	out := make([]arrow.Array, n)
	for i := range n {
		if len(parts[i]) == 0 {
			out[i] = array.MakeArrayOfNull(memory.DefaultAllocator, r.Schema().Field(i).Type, 0)
			continue
		}
		c, err := array.Concatenate(parts[i], memory.DefaultAllocator)
		for _, p := range parts[i] {
			p.Release()
		}
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

// compareArrays compares two arrays of one type; row is where the first
// difference beyond tol lies.
func compareArrays(a, b arrow.Array, tol float64) (dev float64, row int, err error) {
	if a.Len() != b.Len() {
		return 0, 0, fmt.Errorf("%d values, the committed table %d", b.Len(), a.Len())
	}
	for i := range a.Len() {
		if a.IsNull(i) != b.IsNull(i) {
			return 0, i, fmt.Errorf("null in one table only")
		}
	}
	floats := func(x, y float64, i int) error {
		d, ok := relDev(x, y, tol)
		dev = max(dev, d)
		if !ok {
			return fmt.Errorf("%v, the committed table %v (relative deviation %.3g > %.3g)", y, x, d, tol)
		}
		return nil
	}
	switch x := a.(type) {
	case *array.Float64:
		y := b.(*array.Float64)
		for i := range x.Len() {
			if err := floats(x.Value(i), y.Value(i), i); err != nil {
				return dev, i, err
			}
		}
	case *array.Float32:
		y := b.(*array.Float32)
		for i := range x.Len() {
			if err := floats(float64(x.Value(i)), float64(y.Value(i)), i); err != nil {
				return dev, i, err
			}
		}
	case *array.List:
		y := b.(*array.List)
		for i := range x.Len() {
			s0, e0 := x.ValueOffsets(i)
			s1, e1 := y.ValueOffsets(i)
			if e0-s0 != e1-s1 {
				return dev, i, fmt.Errorf("list of %d values, the committed table's %d", e1-s1, e0-s0)
			}
		}
		d, _, err := compareArrays(x.ListValues(), y.ListValues(), tol)
		return max(dev, d), 0, err
	case *array.FixedSizeList:
		d, k, err := compareArrays(x.ListValues(), b.(*array.FixedSizeList).ListValues(), tol)
		return max(dev, d), k / max(1, int(x.DataType().(*arrow.FixedSizeListType).Len())), err
	default:
		if !array.Equal(a, b) {
			for i := range a.Len() {
				if !array.SliceEqual(a, int64(i), int64(i+1), b, int64(i), int64(i+1)) {
					return 0, i, fmt.Errorf("%s differs from the committed table's", b.ValueStr(i))
				}
			}
		}
	}
	return dev, 0, nil
}

// relDev is |a − b| / max(|a|, |b|) (0 when equal, NaN equal to NaN) and
// whether it is within tol.
func relDev(a, b, tol float64) (float64, bool) {
	switch {
	case a == b, math.IsNaN(a) && math.IsNaN(b):
		return 0, true
	case math.IsNaN(a), math.IsNaN(b), math.IsInf(a, 0), math.IsInf(b, 0):
		return math.Inf(1), false
	}
	d := math.Abs(a-b) / max(math.Abs(a), math.Abs(b))
	return d, d <= tol
}

func unionKeys[V any](a, b map[string]V) []string {
	seen := map[string]bool{}
	for k := range a {
		seen[k] = true
	}
	for k := range b {
		seen[k] = true
	}
	return slices.Sorted(maps.Keys(seen))
}
