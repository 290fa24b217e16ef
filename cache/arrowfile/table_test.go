package arrowfile

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// writeBuilt writes a table of every column kind Table builds.
func writeBuilt(t *testing.T, p string) {
	t.Helper()
	var tb Table
	tb.Strings("set", []string{"fsi", "", "random"})
	tb.Int64s("n", []int64{-1, 0, 1 << 40})
	tb.Int32s("i", []int32{7, -7, 1 << 30})
	tb.Float64s("x", []float64{0.5, math.NaN(), math.Inf(-1)})
	tb.Bools("sel", []bool{true, false, true})
	tb.Float64Lists("folds", [][]float64{{1, 2}, nil, {3}})
	if err := tb.Write(p, map[string]string{"table": "test", "a": "1"}); err != nil {
		t.Fatal(err)
	}
	if len(tb.cols) != 0 || len(tb.fields) != 0 {
		t.Fatalf("Write left %d columns in the table", len(tb.cols))
	}
}

// openBuilt writes writeBuilt's table and opens it, until the test ends.
func openBuilt(t *testing.T) *Reader {
	t.Helper()
	p := filepath.Join(t.TempDir(), "t.arrow")
	writeBuilt(t, p)
	r, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestTableRoundTrip(t *testing.T) {
	r := openBuilt(t)
	if r.NumRecords() != 1 || r.NumRows() != 3 {
		t.Fatalf("%d records, %d rows; want 1, 3", r.NumRecords(), r.NumRows())
	}
	var names, types []string
	for _, f := range r.Schema().Fields() {
		names = append(names, f.Name)
		types = append(types, f.Type.String())
	}
	if want := []string{"set", "n", "i", "x", "sel", "folds"}; !reflect.DeepEqual(names, want) {
		t.Errorf("fields %v, want %v", names, want)
	}
	if want := []string{"utf8", "int64", "int32", "float64", "bool", "list<item: float64, nullable>"}; !reflect.DeepEqual(types, want) {
		t.Errorf("types %v, want %v", types, want)
	}
	if v, _ := Meta(r.Schema(), "table"); v != "test" {
		t.Errorf("metadata table = %q", v)
	}

	s, err := StringColumn(r, "set")
	if err != nil || !reflect.DeepEqual(s, []string{"fsi", "", "random"}) {
		t.Errorf("StringColumn = %q, %v", s, err)
	}
	n, err := Int64Column(r, "n")
	if err != nil || !reflect.DeepEqual(n, []int64{-1, 0, 1 << 40}) {
		t.Errorf("Int64Column = %v, %v", n, err)
	}
	x, err := Float64Column(r, "x")
	if err != nil || len(x) != 3 || x[0] != 0.5 || !math.IsNaN(x[1]) || !math.IsInf(x[2], -1) {
		t.Errorf("Float64Column = %v, %v", x, err)
	}
	i, err := Int64Column(r, "i")
	if err != nil || !reflect.DeepEqual(i, []int64{7, -7, 1 << 30}) {
		t.Errorf("Int64Column of int32 = %v, %v", i, err)
	}
	nf, err := Float64Column(r, "n")
	if err != nil || !reflect.DeepEqual(nf, []float64{-1, 0, 1 << 40}) {
		t.Errorf("Float64Column of int64 = %v, %v", nf, err)
	}
	b, err := BoolColumn(r, "sel")
	if err != nil || !reflect.DeepEqual(b, []bool{true, false, true}) {
		t.Errorf("BoolColumn = %v, %v", b, err)
	}
	rec, err := r.Record(0)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	l := rec.Column(5).(*array.List)
	if got := l.ListValues().(*array.Float64).Float64Values(); !reflect.DeepEqual(got, []float64{1, 2, 3}) {
		t.Errorf("list values %v", got)
	}
	if start, end := l.ValueOffsets(1); l.NullN() != 0 || start != end {
		t.Errorf("list row 1: %d nulls, values [%d, %d); want an empty list", l.NullN(), start, end)
	}
}

// TestTableBytes pins the bytes Table writes: stage outputs are cached and
// compared by digest, so a change here changes every stage's outputs.
func TestTableBytes(t *testing.T) {
	p := filepath.Join(t.TempDir(), "t.arrow")
	writeBuilt(t, p)
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	const want = "ed18242b78943debc543ba9d0d019acb141a1f5964090b736383268f756ef003"
	if got := hex.EncodeToString(sum[:]); got != want {
		t.Errorf("sha256 %s, want %s: the bytes of Table's files changed", got, want)
	}
}

func TestTableEmptyAndReuse(t *testing.T) {
	dir := t.TempDir()
	var tb Table
	tb.Float64s("x", nil)
	tb.Strings("s", nil)
	if err := tb.Write(filepath.Join(dir, "empty.arrow"), nil); err != nil {
		t.Fatal(err)
	}
	tb.Int64s("only", []int64{7})
	p := filepath.Join(dir, "again.arrow")
	if err := tb.Write(p, nil); err != nil {
		t.Fatal(err)
	}
	r, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Schema().NumFields() != 1 {
		t.Fatalf("reused table has %d fields, want 1", r.Schema().NumFields())
	}
	r2, err := Open(filepath.Join(dir, "empty.arrow"))
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	x, err := Float64Column(r2, "x")
	if err != nil || len(x) != 0 {
		t.Fatalf("empty column: %v, %v", x, err)
	}
}

func TestTableUnequalColumns(t *testing.T) {
	var tb Table
	tb.Float64s("x", []float64{1, 2})
	tb.Int64s("y", []int64{1})
	err := tb.Write(filepath.Join(t.TempDir(), "bad.arrow"), nil)
	if err == nil || !strings.Contains(err.Error(), `column 1 (y) has 1 rows, column 0 has 2`) {
		t.Fatalf("err = %v", err)
	}
}

func TestColumnErrors(t *testing.T) {
	r := openBuilt(t)
	p := r.Path()
	for _, c := range []struct {
		name string
		read func() error
		want string
	}{
		{"missing", func() error { _, err := Float64Column(r, "nope"); return err }, `no column "nope"`},
		{"missing string", func() error { _, err := StringColumn(r, "nope"); return err }, `no column "nope"`},
		{"string as number", func() error { _, err := Float64Column(r, "set"); return err }, `column "set" is utf8, not a number`},
		{"list as number", func() error { _, err := Float64Column(r, "folds"); return err }, `column "folds" is list<item: float64, nullable>, not a number`},
		{"number as bool", func() error { _, err := BoolColumn(r, "x"); return err }, `column "x" is float64, not bool`},
		{"number as string", func() error { _, err := StringColumn(r, "x"); return err }, `column "x" is float64, not utf8`},
		{"float as integer", func() error { _, err := Int64Column(r, "x"); return err }, `column "x" is float64, not int64 or int32`},
		{"bool as integer", func() error { _, err := Int64Column(r, "sel"); return err }, `column "sel" is bool, not int64 or int32`},
	} {
		err := c.read()
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), p+": ") {
			t.Errorf("%s: err = %v; want %s: …%s", c.name, err, p, c.want)
		}
	}
}

// TestColumnNulls reads a file with nulls and other types than Table
// writes, over two record batches.
func TestColumnNulls(t *testing.T) {
	mem := memory.DefaultAllocator
	schema := NewSchema([]arrow.Field{
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "u32", Type: arrow.PrimitiveTypes.Uint32},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "ls", Type: arrow.BinaryTypes.LargeString, Nullable: true},
	}, nil)
	p := filepath.Join(t.TempDir(), "nulls.arrow")
	w, err := Create(p, schema)
	if err != nil {
		t.Fatal(err)
	}
	valid := []bool{true, false}
	for batch := range 2 {
		fb := array.NewFloat32Builder(mem)
		fb.AppendValues([]float32{1.5, 9}, valid)
		ib := array.NewInt32Builder(mem)
		ib.AppendValues([]int32{int32(batch), 9}, []bool{true, batch == 0})
		ub := array.NewUint32Builder(mem)
		ub.AppendValues([]uint32{3, 4}, nil)
		bb := array.NewBooleanBuilder(mem)
		bb.AppendValues([]bool{true, true}, valid)
		sb := array.NewLargeStringBuilder(mem)
		sb.AppendValues([]string{"a", "zz"}, valid)
		cols := []arrow.Array{fb.NewArray(), ib.NewArray(), ub.NewArray(), bb.NewArray(), sb.NewArray()}
		rec := array.NewRecordBatch(schema, cols, 2)
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f, err := Float64Column(r, "f32")
	if err != nil || len(f) != 4 || f[0] != 1.5 || !math.IsNaN(f[1]) || f[2] != 1.5 || !math.IsNaN(f[3]) {
		t.Errorf("Float64Column(f32) = %v, %v", f, err)
	}
	u, err := Float64Column(r, "u32")
	if err != nil || !reflect.DeepEqual(u, []float64{3, 4, 3, 4}) {
		t.Errorf("Float64Column(u32) = %v, %v", u, err)
	}
	b, err := BoolColumn(r, "b")
	if err != nil || !reflect.DeepEqual(b, []bool{true, false, true, false}) {
		t.Errorf("BoolColumn = %v, %v", b, err)
	}
	s, err := StringColumn(r, "ls")
	if err != nil || !reflect.DeepEqual(s, []string{"a", "", "a", ""}) {
		t.Errorf("StringColumn(large_utf8) = %q, %v", s, err)
	}
	// i32 has a null in the second batch only.
	if _, err := Int64Column(r, "i32"); err == nil || err.Error() != p+`: column "i32" holds nulls` {
		t.Errorf("Int64Column with nulls: err = %v", err)
	}
	if _, err := Int64Column(r, "u32"); err == nil || !strings.Contains(err.Error(), `column "u32" is uint32, not int64 or int32`) {
		t.Errorf("Int64Column(u32): err = %v", err)
	}
}

func TestAppendLeavesNil(t *testing.T) {
	b := array.NewFloat64Builder(memory.DefaultAllocator)
	empty := b.NewArray()
	defer empty.Release()
	if got, ok := AppendFloat64s(nil, empty); !ok || got != nil {
		t.Errorf("AppendFloat64s(nil, empty) = %v, %v; want nil, true", got, ok)
	}
	if got, ok := AppendStrings(nil, empty); ok || got != nil {
		t.Errorf("AppendStrings(nil, float64) = %v, %v; want nil, false", got, ok)
	}
}
