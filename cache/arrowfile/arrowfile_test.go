package arrowfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func tableSchema() *arrow.Schema {
	return NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "score", Type: arrow.PrimitiveTypes.Float64},
	}, map[string]string{ShapeKey: FormatInts(64, 28, 28), "layer": "conv1"})
}

func tableCols(ids []int64, names []string, scores []float64) []arrow.Array {
	mem := memory.DefaultAllocator
	ib := array.NewInt64Builder(mem)
	ib.AppendValues(ids, nil)
	sb := array.NewStringBuilder(mem)
	sb.AppendValues(names, nil)
	fb := array.NewFloat64Builder(mem)
	fb.AppendValues(scores, nil)
	return []arrow.Array{ib.NewArray(), sb.NewArray(), fb.NewArray()}
}

// writeTestTable writes a small valid table and returns its path.
func writeTestTable(t testing.TB, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "table.arrow")
	cols := tableCols([]int64{1, 2, 3}, []string{"a", "bb", ""}, []float64{0.5, -1, 2e10})
	if err := WriteTable(p, tableSchema(), cols...); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWriteTableRoundTrip(t *testing.T) {
	p := writeTestTable(t, t.TempDir())
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	// The Arrow file format: magic at both ends.
	if !bytes.HasPrefix(raw, []byte("ARROW1\x00\x00")) || !bytes.HasSuffix(raw, []byte("ARROW1")) {
		t.Fatalf("%s is not in the Arrow file format", p)
	}

	r, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !r.Schema().Equal(tableSchema()) {
		t.Fatalf("schema %v, want %v", r.Schema(), tableSchema())
	}
	if v, ok := Meta(r.Schema(), "layer"); !ok || v != "conv1" {
		t.Fatalf("layer metadata = %q, %v", v, ok)
	}
	shape, err := MetaInts(r.Schema(), ShapeKey)
	if err != nil || !reflect.DeepEqual(shape, []int{64, 28, 28}) {
		t.Fatalf("shape = %v, %v", shape, err)
	}
	if _, err := MetaInts(r.Schema(), "absent"); err == nil {
		t.Fatal("MetaInts of an absent key succeeded")
	}
	if r.NumRecords() != 1 || r.NumRows() != 3 {
		t.Fatalf("records %d rows %d, want 1 and 3", r.NumRecords(), r.NumRows())
	}
	rec, err := r.Record(0)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	if got := rec.Column(0).(*array.Int64).Int64Values(); !reflect.DeepEqual(got, []int64{1, 2, 3}) {
		t.Fatalf("id = %v", got)
	}
	if got := rec.Column(1).(*array.String).Value(1); got != "bb" {
		t.Fatalf("name[1] = %q", got)
	}
	if got := rec.Column(2).(*array.Float64).Float64Values(); !reflect.DeepEqual(got, []float64{0.5, -1, 2e10}) {
		t.Fatalf("score = %v", got)
	}
	if _, err := r.Record(1); err == nil {
		t.Fatal("Record(1) of a one-record file succeeded")
	}
	if _, err := r.Record(-1); err == nil {
		t.Fatal("Record(-1) succeeded")
	}
}

func TestMetadataIsDeterministic(t *testing.T) {
	meta := map[string]string{}
	for _, k := range strings.Fields("a b c d e f g h i j k l m n o p") {
		meta[k] = k + k
	}
	dir := t.TempDir()
	var files [][]byte
	for i := range 5 {
		p := filepath.Join(dir, string(rune('0'+i)))
		if err := WriteMatrix(p, 2, 2, meta, func(int, []float32) {}); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		files = append(files, b)
	}
	for _, b := range files[1:] {
		if !bytes.Equal(b, files[0]) {
			t.Fatal("equal metadata maps gave different files")
		}
	}
}

func TestParseInts(t *testing.T) {
	if v, err := ParseInts(FormatInts(3, 224, 224)); err != nil || !reflect.DeepEqual(v, []int{3, 224, 224}) {
		t.Fatalf("ParseInts = %v, %v", v, err)
	}
	if v, err := ParseInts(""); err != nil || len(v) != 0 {
		t.Fatalf("ParseInts(\"\") = %v, %v", v, err)
	}
	if _, err := ParseInts("3,x"); err == nil {
		t.Fatal("ParseInts(\"3,x\") succeeded")
	}
}

func TestWriterBatches(t *testing.T) {
	p := filepath.Join(t.TempDir(), "multi.arrow")
	schema := tableSchema()
	w, err := Create(p, schema)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		cols := tableCols([]int64{int64(i), int64(i)}, []string{"x", "y"}, []float64{1, 2})
		rec := array.NewRecordBatch(schema, cols, 2)
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	// A record of another schema is refused.
	other := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)
	ib := array.NewInt64Builder(memory.DefaultAllocator)
	ib.Append(1)
	bad := array.NewRecordBatch(other, []arrow.Array{ib.NewArray()}, 1)
	if err := w.Write(bad); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("Write with another schema: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := w.Write(bad); err == nil {
		t.Fatal("Write after Close succeeded")
	}
	r, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.NumRecords() != 3 || r.NumRows() != 6 {
		t.Fatalf("records %d rows %d, want 3 and 6", r.NumRecords(), r.NumRows())
	}
	rec, err := r.Record(2)
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.Column(0).(*array.Int64).Value(0); got != 2 {
		t.Fatalf("record 2 id = %d", got)
	}
	rec.Release()
}

func TestWriterAbort(t *testing.T) {
	p := filepath.Join(t.TempDir(), "aborted.arrow")
	w, err := Create(p, tableSchema())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("aborted file remains: %v", err)
	}
}

func TestWriteTableRejectsMismatches(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.arrow")
	schema := tableSchema()
	good := tableCols([]int64{1}, []string{"a"}, []float64{1})
	short := tableCols([]int64{1, 2}, []string{"a"}, []float64{1})
	for name, cols := range map[string][]arrow.Array{
		"too few columns": good[:2],
		"wrong type":      {good[0], good[2], good[1]},
		"unequal lengths": short,
		"nil column":      {good[0], nil, good[2]},
	} {
		if err := WriteTable(p, schema, cols...); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want an error naming the file", name, err)
		}
	}
}

func TestMatrixRoundTrip(t *testing.T) {
	const rows, cols = 1000, 7
	value := func(r, c int) float32 { return float32(r)*100 + float32(c) + 0.25 }
	p := filepath.Join(t.TempDir(), "m.arrow")
	meta := map[string]string{ShapeKey: FormatInts(7, 1, 1)}
	filled := 0
	err := WriteMatrixBatched(p, rows, cols, 64, meta, func(row int, dst []float32) {
		if row != filled || len(dst) != cols || cap(dst) != cols {
			t.Fatalf("fill(%d) with len %d cap %d, want row %d", row, len(dst), cap(dst), filled)
		}
		for c := range dst {
			if dst[c] != 0 {
				t.Fatalf("dst not zeroed for row %d", row)
			}
			dst[c] = value(row, c)
		}
		filled++
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.NumRecords() != 16 || r.NumRows() != rows { // ceil(1000/64)
		t.Fatalf("records %d rows %d, want 16 and %d", r.NumRecords(), r.NumRows(), rows)
	}
	if shape, err := MetaInts(r.Schema(), ShapeKey); err != nil || !reflect.DeepEqual(shape, []int{7, 1, 1}) {
		t.Fatalf("shape = %v, %v", shape, err)
	}
	if n, err := MatrixCols(r); err != nil || n != cols {
		t.Fatalf("MatrixCols = %d, %v", n, err)
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(r.data)))
	hi := lo + uintptr(len(r.data))
	next := 0
	err = ReadMatrixRows(r, func(row int, vals []float32) error {
		if row != next || len(vals) != cols {
			t.Fatalf("row %d (len %d), want row %d", row, len(vals), next)
		}
		for c, v := range vals {
			if v != value(row, c) {
				t.Fatalf("[%d,%d] = %v, want %v", row, c, v, value(row, c))
			}
		}
		// Zero-copy: the values live in the mapped file.
		if a := uintptr(unsafe.Pointer(&vals[0])); a < lo || a >= hi {
			t.Fatalf("row %d was copied out of the mapping", row)
		}
		next++
		return nil
	})
	if err != nil || next != rows {
		t.Fatalf("ReadMatrixRows: %v after %d rows", err, next)
	}

	// An error from fn stops the walk and comes back unchanged.
	stop := errors.New("stop")
	calls := 0
	err = ReadMatrixRows(r, func(row int, _ []float32) error {
		calls++
		if row == 100 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 101 {
		t.Fatalf("ReadMatrixRows = %v after %d calls, want stop after 101", err, calls)
	}
}

func TestWriteMatrixDefaultBatch(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.arrow")
	if err := WriteMatrix(p, 10, 3, nil, func(row int, dst []float32) { dst[0] = float32(row) }); err != nil {
		t.Fatal(err)
	}
	r, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.NumRecords() != 1 || r.NumRows() != 10 {
		t.Fatalf("records %d rows %d", r.NumRecords(), r.NumRows())
	}
	var got []float32
	ReadMatrixRows(r, func(_ int, v []float32) error { got = append(got, v...); return nil })
	if len(got) != 30 || got[27] != 9 || got[28] != 0 {
		t.Fatalf("values %v", got)
	}
}

func TestEmptyMatrix(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.arrow")
	if err := WriteMatrix(p, 0, 5, nil, func(int, []float32) { t.Fatal("fill called") }); err != nil {
		t.Fatal(err)
	}
	r, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.NumRecords() != 0 || r.NumRows() != 0 {
		t.Fatalf("records %d rows %d", r.NumRecords(), r.NumRows())
	}
	if err := ReadMatrixRows(r, func(int, []float32) error { t.Fatal("fn called"); return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestWriteMatrixRejectsBadShapes(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.arrow")
	fill := func(int, []float32) {}
	for _, c := range [][3]int{{-1, 2, 1}, {2, 0, 1}, {2, 2, 0}} {
		if err := WriteMatrixBatched(p, c[0], c[1], c[2], nil, fill); err == nil {
			t.Errorf("WriteMatrixBatched%v succeeded", c)
		}
	}
	if err := WriteMatrix(p, 1, 1, nil, nil); err == nil {
		t.Error("nil fill accepted")
	}
}

func TestReadMatrixRowsRejectsTables(t *testing.T) {
	r, err := Open(writeTestTable(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := ReadMatrixRows(r, func(int, []float32) error { return nil }); err == nil || !strings.Contains(err.Error(), "not a matrix") {
		t.Fatalf("ReadMatrixRows on a table: %v", err)
	}
}

func TestCloseTwice(t *testing.T) {
	r, err := Open(writeTestTable(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := r.Record(0); err == nil {
		t.Fatal("Record after Close succeeded")
	}
}

func TestOpenBadFiles(t *testing.T) {
	dir := t.TempDir()
	valid, err := os.ReadFile(writeTestTable(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, data []byte) {
		t.Helper()
		p := filepath.Join(dir, "bad.arrow")
		if err := os.WriteFile(p, data, 0o666); err != nil {
			t.Fatal(err)
		}
		r, err := Open(p)
		if err == nil {
			r.Close()
			t.Fatalf("%s: Open succeeded", name)
		}
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("%s: error %q does not name the file", name, err)
		}
	}
	check("empty", nil)
	check("text", []byte("this is not an arrow file, just some text\n"))
	check("parquet-ish", append([]byte("PAR1"), make([]byte, 100)...))
	check("truncated", valid[:len(valid)/2])
	check("truncated by one", valid[:len(valid)-1])
	// Every truncation of a valid file: the footer is at the end, so none
	// of them is readable.
	for n := 1; n < len(valid); n++ {
		if err := readBytes(valid[:n]); err == nil {
			t.Fatalf("a valid file truncated to %d bytes opened", n)
		}
	}
	for _, p := range []string{filepath.Join(dir, "missing.arrow"), dir} {
		if _, err := Open(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Fatalf("Open(%s): %v", p, err)
		}
	}
}

// readAll opens p and reads everything in it the way the pipeline would;
// it must return an error or nil, never panic or crash.
func readAll(p string) error {
	r, err := Open(p)
	if err != nil {
		return err
	}
	return readReader(r)
}

// readBytes is readAll on the contents of a file held in memory (the same
// code as Open after mmap), to try many inputs quickly.
func readBytes(data []byte) error {
	r, err := newReader("mem.arrow", data, false)
	if err != nil {
		return err
	}
	return readReader(r)
}

func readReader(r *Reader) error {
	defer r.Close()
	for i := range r.NumRecords() {
		rec, err := r.Record(i)
		if err != nil {
			return err
		}
		rec.Release()
	}
	if _, err := MatrixCols(r); err == nil {
		var sum float32
		return ReadMatrixRows(r, func(_ int, v []float32) error {
			for _, x := range v {
				sum += x
			}
			return nil
		})
	}
	return nil
}

// TestCorruptedBytes flips every byte of valid files in turn: each result
// must be rejected or read cleanly.
func TestCorruptedBytes(t *testing.T) {
	dir := t.TempDir()
	for _, src := range seedFiles(t, dir) {
		for i := range src {
			data := bytes.Clone(src)
			data[i] ^= 0xff
			if err := readBytes(data); err != nil && !strings.Contains(err.Error(), "mem.arrow") {
				t.Fatalf("error %q does not name the file", err)
			}
		}
	}
}

// writeDictTable writes a one-column dictionary-encoded table.
func writeDictTable(t testing.TB, p string) {
	t.Helper()
	dt := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	b := array.NewDictionaryBuilder(memory.DefaultAllocator, dt).(*array.BinaryDictionaryBuilder)
	for _, v := range []string{"cat", "dog", "cat"} {
		if err := b.AppendString(v); err != nil {
			t.Fatal(err)
		}
	}
	schema := arrow.NewSchema([]arrow.Field{{Name: "label", Type: dt}}, nil)
	if err := WriteTable(p, schema, b.NewArray()); err != nil {
		t.Fatal(err)
	}
}

// TestDictionaryFile covers the copying fallback for dictionary-encoded
// files, which arrow-go's mapped reader cannot decode.
func TestDictionaryFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "dict.arrow")
	writeDictTable(t, p)
	r, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rec, err := r.Record(0)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	col := rec.Column(0).(*array.Dictionary)
	dict := col.Dictionary().(*array.String)
	var got []string
	for i := range col.Len() {
		got = append(got, dict.Value(col.GetValueIndex(i)))
	}
	if !reflect.DeepEqual(got, []string{"cat", "dog", "cat"}) {
		t.Fatalf("labels = %v", got)
	}
}

// seedFiles returns the bytes of a valid table, matrix and dictionary file.
func seedFiles(t testing.TB, dir string) [][]byte {
	t.Helper()
	table, err := os.ReadFile(writeTestTable(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	mp := filepath.Join(dir, "seed-matrix.arrow")
	if err := WriteMatrixBatched(mp, 5, 3, 2, map[string]string{ShapeKey: "3"}, func(row int, dst []float32) {
		dst[0], dst[2] = float32(row), -1
	}); err != nil {
		t.Fatal(err)
	}
	matrix, err := os.ReadFile(mp)
	if err != nil {
		t.Fatal(err)
	}
	dp := filepath.Join(dir, "seed-dict.arrow")
	writeDictTable(t, dp)
	dict, err := os.ReadFile(dp)
	if err != nil {
		t.Fatal(err)
	}
	seeds := [][]byte{table, matrix, dict}
	for _, c := range []Compression{LZ4, ZSTD} {
		cp := filepath.Join(dir, "seed-"+string(c)+".arrow")
		if err := WriteMatrixCompressed(cp, 3, 40, 2, c, nil, func(row int, dst []float32) {
			dst[row] = 1.5
		}); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(cp)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return seeds
}

// FuzzOpen feeds arbitrary bytes to Open's decoding (from memory rather
// than a mapped file, for speed) and to the readers. Run it with
// go test -fuzz=FuzzOpen ./cache/arrowfile/ to search further.
func FuzzOpen(f *testing.F) {
	for _, b := range seedFiles(f, f.TempDir()) {
		f.Add(b)
	}
	f.Add([]byte("ARROW1\x00\x00ARROW1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := readBytes(data); err != nil && !strings.Contains(err.Error(), "mem.arrow") {
			t.Fatalf("error %q does not name the file", err)
		}
	})
}
