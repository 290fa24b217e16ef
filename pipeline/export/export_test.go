package export

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"selectivity/cache/arrowfile"
)

// fixture writes a table and a matrix as a stage would, and a figure.
func fixture(t *testing.T) (dir string, floats []float64, small, big []int64, mat [][]float32) {
	dir = t.TempDir()
	floats = []float64{0.1, -2.5e-300, math.NaN(), math.Inf(1), 1.0 / 3}
	small = []int64{0, -7, 2147483647, -2147483648, 12}
	big = []int64{1, 2, 3, 1 << 40, -5}
	var tb arrowfile.Table
	tb.Strings("layer", []string{"conv1", "conv2", "fc, \"6\"", "", "fc8"})
	tb.Float64s("fsi", floats)
	tb.Int64s("count", small)
	tb.Int64s("wide", big)
	tb.Bools("selected", []bool{true, false, true, false, true})
	tb.Float64Lists("ci", [][]float64{{1, 2}, {}, {0.5}, {3, 4, 5}, {-1}})
	if err := tb.Write(filepath.Join(dir, "summary.arrow"), map[string]string{"metric": "fsi"}); err != nil {
		t.Fatal(err)
	}
	mat = make([][]float32, 7)
	for i := range mat {
		mat[i] = make([]float32, 3)
		for j := range mat[i] {
			mat[i][j] = float32(i)*0.25 - float32(j)*1e-7
		}
	}
	mat[2][1] = float32(math.NaN())
	// Two-row batches: the .npy must join them.
	if err := os.Mkdir(filepath.Join(dir, "acts"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := arrowfile.WriteMatrixBatched(filepath.Join(dir, "acts", "conv1.arrow"), 7, 3, 2, map[string]string{arrowfile.ShapeKey: "3,1,1"},
		func(row int, dst []float32) { copy(dst, mat[row]) })
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "fig.png"), []byte("\x89PNG fake"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, floats, small, big, mat
}

// parseNPY is an independent reader of .npy format 1.0 files of '<f4'.
func parseNPY(t *testing.T, b []byte) (rows, cols int, vals []float32) {
	t.Helper()
	if len(b) < 10 || string(b[:8]) != "\x93NUMPY\x01\x00" {
		t.Fatalf("npy magic %q", b[:min(10, len(b))])
	}
	hlen := int(b[8]) | int(b[9])<<8
	header := string(b[10 : 10+hlen])
	if (10+hlen)%64 != 0 || !strings.HasSuffix(header, "\n") {
		t.Errorf("npy data start at %d, header %q", 10+hlen, header)
	}
	m := regexp.MustCompile(`^\{'descr': '<f4', 'fortran_order': False, 'shape': \((\d+), (\d+)\), \} *\n$`).FindStringSubmatch(header)
	if m == nil {
		t.Fatalf("npy header %q", header)
	}
	rows, _ = strconv.Atoi(m[1])
	cols, _ = strconv.Atoi(m[2])
	data := b[10+hlen:]
	if len(data) != 4*rows*cols {
		t.Fatalf("npy: %d data bytes for shape (%d, %d)", len(data), rows, cols)
	}
	for i := 0; i < len(data); i += 4 {
		vals = append(vals, math.Float32frombits(binary.LittleEndian.Uint32(data[i:])))
	}
	return rows, cols, vals
}

func TestFilesRoundTrip(t *testing.T) {
	dir, floats, small, big, mat := fixture(t)
	out := t.TempDir()
	names := []string{"acts/conv1.arrow", "fig.png", "summary.arrow"}
	written, err := Files(dir, names, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"acts/conv1.npy", "fig.png", "summary.csv", "summary.parquet"}; !slices.Equal(written, want) {
		t.Errorf("written %v, want %v", written, want)
	}

	b, err := os.ReadFile(filepath.Join(out, "acts", "conv1.npy"))
	if err != nil {
		t.Fatal(err)
	}
	rows, cols, vals := parseNPY(t, b)
	if rows != 7 || cols != 3 {
		t.Fatalf("npy shape (%d, %d)", rows, cols)
	}
	for i := range mat {
		for j, v := range mat[i] {
			if got := vals[i*cols+j]; math.Float32bits(got) != math.Float32bits(v) {
				t.Errorf("npy[%d,%d] = %v, want %v", i, j, got, v)
			}
		}
	}
	if b, _ := os.ReadFile(filepath.Join(out, "fig.png")); string(b) != "\x89PNG fake" {
		t.Errorf("copied figure %q", b)
	}

	f, err := os.Open(filepath.Join(out, "summary.csv"))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(recs) != 6 {
		t.Fatalf("csv: %d records, %v", len(recs), err)
	}
	if want := []string{"layer", "fsi", "count", "wide", "selected", "ci"}; !slices.Equal(recs[0], want) {
		t.Errorf("csv header %v", recs[0])
	}
	for i, r := range recs[1:] {
		fsi, err := strconv.ParseFloat(r[1], 64)
		if err != nil || (fsi != floats[i] && !(math.IsNaN(fsi) && math.IsNaN(floats[i]))) {
			t.Errorf("csv row %d fsi %q, want %v", i, r[1], floats[i])
		}
		if r[2] != strconv.FormatInt(small[i], 10) || r[3] != strconv.FormatInt(big[i], 10) {
			t.Errorf("csv row %d counts %q %q", i, r[2], r[3])
		}
		var ci []float64
		if err := json.Unmarshal([]byte(r[5]), &ci); err != nil {
			t.Errorf("csv row %d ci %q: %v", i, r[5], err)
		}
	}
	if recs[3][0] != `fc, "6"` || recs[1][4] != "true" || recs[4][5] != "[3,4,5]" {
		t.Errorf("csv cells %q %q %q", recs[3][0], recs[1][4], recs[4][5])
	}

	pf, err := os.Open(filepath.Join(out, "summary.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	tbl, err := pqarrow.ReadTable(context.Background(), pf, parquet.NewReaderProperties(memory.DefaultAllocator), pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	s := tbl.Schema()
	pr, err := file.OpenParquetFile(filepath.Join(out, "summary.parquet"), false)
	if err != nil {
		t.Fatal(err)
	}
	if v := pr.MetaData().KeyValueMetadata().FindValue("metric"); v == nil || *v != "fsi" {
		t.Errorf("parquet key-value metadata %v", pr.MetaData().KeyValueMetadata())
	}
	pr.Close()
	types := map[string]arrow.DataType{}
	for _, fd := range s.Fields() {
		types[fd.Name] = fd.Type
	}
	if types["count"].ID() != arrow.INT32 || types["wide"].ID() != arrow.INT64 {
		t.Errorf("parquet types: count %s, wide %s (want int32, int64)", types["count"], types["wide"])
	}
	col := func(name string) arrow.Array {
		idx := s.FieldIndices(name)
		if len(idx) != 1 || len(tbl.Column(idx[0]).Data().Chunks()) != 1 {
			t.Fatalf("parquet column %s", name)
		}
		return tbl.Column(idx[0]).Data().Chunk(0)
	}
	gotF := col("fsi").(*array.Float64).Float64Values()
	for i := range floats {
		if math.Float64bits(gotF[i]) != math.Float64bits(floats[i]) {
			t.Errorf("parquet fsi[%d] = %v, want %v", i, gotF[i], floats[i])
		}
	}
	var gotSmall []int64
	for _, v := range col("count").(*array.Int32).Int32Values() {
		gotSmall = append(gotSmall, int64(v))
	}
	if !slices.Equal(gotSmall, small) || !slices.Equal(col("wide").(*array.Int64).Int64Values(), big) {
		t.Errorf("parquet counts %v %v", gotSmall, col("wide"))
	}
	src, err := arrowfile.Open(filepath.Join(dir, "summary.arrow"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	rec, err := src.Record(0)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	for _, name := range []string{"layer", "selected", "ci"} {
		want := rec.Column(s.FieldIndices(name)[0])
		if got := col(name); !array.Equal(got, want) {
			t.Errorf("parquet %s = %v, want %v", name, got, want)
		}
	}
}

func TestFilesFormatsAndRefusals(t *testing.T) {
	dir, _, _, _, _ := fixture(t)
	out := t.TempDir()
	written, err := Files(dir, []string{"acts/conv1.arrow", "summary.arrow"}, out, []string{"parquet"})
	if err != nil || !reflect.DeepEqual(written, []string{"summary.parquet"}) {
		t.Errorf("--format parquet wrote %v, %v", written, err)
	}
	// An existing file is never overwritten.
	if _, err := Files(dir, []string{"summary.arrow"}, out, []string{"parquet"}); err == nil || !strings.Contains(err.Error(), "summary.arrow") {
		t.Errorf("overwrite: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.arrow"), []byte("not arrow"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Files(dir, []string{"bad.arrow"}, out, nil); err == nil || !strings.Contains(err.Error(), "bad.arrow") {
		t.Errorf("bad Arrow file: %v", err)
	}
	var buf bytes.Buffer
	r, err := arrowfile.Open(filepath.Join(dir, "summary.arrow"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := WriteNPY(&buf, r); err == nil || buf.Len() != 0 {
		t.Errorf("a table as .npy: %v, %d bytes", err, buf.Len())
	}
}
