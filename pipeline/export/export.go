// Package export writes a stage's cached outputs in formats that readers
// without Arrow support take: CSV and Parquet for tables, NumPy .npy for
// activation matrices.
//
// Every .arrow file of the stage is one of two things:
//
//   - A matrix, as arrowfile.WriteMatrix writes it: a single column of
//     FixedSizeList<float32>[cols], one list per row. It becomes NAME.npy:
//     format 1.0, dtype '<f4', C order, shape (rows, cols); the header is
//     padded so that the data start at a multiple of 64 bytes. What a row
//     flattens (the "shape" metadata, e.g. C,H,W) is not in the .npy; the
//     Parquet and Arrow files keep it.
//   - A table, any other schema. It becomes NAME.csv and NAME.parquet.
//     CSV: a header of column names, then one line per row (RFC 4180
//     quoting); numbers in the shortest form that reads back to the same
//     value (NaN, +Inf, -Inf as such), booleans true/false, lists as JSON
//     arrays, nulls as empty fields. Parquet: written by arrow-go's pqarrow,
//     uncompressed, with the Arrow schema's metadata as the file's key-value
//     metadata.
//
// An int64 column whose values all fit in 32 bits is written as int32 in
// Parquet, so that JavaScript readers get numbers, not BigInts. Files other
// than .arrow (figures, reports, text) are copied as they are, so an
// exported folder holds real files, not links into the cache.
package export

import (
	"bufio"
	"encoding/binary"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"selectivity/cache/arrowfile"
)

// Formats are the formats Files can write.
var Formats = []string{"csv", "parquet", "npy"}

// Files writes the files names (slash paths relative to dir, as a cache
// manifest lists them) into folder out, converting .arrow files into the
// formats asked for (all of Formats when formats is empty) and copying the
// others. It returns the paths written, relative to out.
func Files(dir string, names []string, out string, formats []string) ([]string, error) {
	want := map[string]bool{}
	for _, f := range formats {
		want[f] = true
	}
	if len(formats) == 0 {
		for _, f := range Formats {
			want[f] = true
		}
	}
	var written []string
	for _, name := range names {
		src := filepath.Join(dir, filepath.FromSlash(name))
		dst := filepath.Join(out, filepath.FromSlash(name))
		if !strings.HasSuffix(name, ".arrow") {
			if err := copyFile(src, dst); err != nil {
				return written, err
			}
			written = append(written, name)
			continue
		}
		got, err := arrowFile(src, strings.TrimSuffix(dst, ".arrow"), want)
		for _, g := range got {
			written = append(written, strings.TrimSuffix(name, ".arrow")+g)
		}
		if err != nil {
			return written, fmt.Errorf("%s: %w", name, err)
		}
	}
	return written, nil
}

// arrowFile converts the Arrow file src into stem.npy, or stem.csv and
// stem.parquet, as wanted; it returns the extensions written.
func arrowFile(src, stem string, want map[string]bool) ([]string, error) {
	r, err := arrowfile.Open(src)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if IsMatrix(r.Schema()) {
		if !want["npy"] {
			return nil, nil
		}
		return []string{".npy"}, writeFile(stem+".npy", func(w io.Writer) error { return WriteNPY(w, r) })
	}
	var done []string
	if want["csv"] {
		if err := writeFile(stem+".csv", func(w io.Writer) error { return WriteCSV(w, r) }); err != nil {
			return done, err
		}
		done = append(done, ".csv")
	}
	if want["parquet"] {
		if err := writeFile(stem+".parquet", func(w io.Writer) error { return WriteParquet(w, r) }); err != nil {
			return done, err
		}
		done = append(done, ".parquet")
	}
	return done, nil
}

// IsMatrix tells whether schema is a matrix's: one FixedSizeList<float32> column.
func IsMatrix(s *arrow.Schema) bool {
	if s.NumFields() != 1 {
		return false
	}
	t, ok := s.Field(0).Type.(*arrow.FixedSizeListType)
	return ok && t.Elem().ID() == arrow.FLOAT32
}

// WriteNPY writes the matrix in r as a .npy file (see the package comment).
func WriteNPY(w io.Writer, r *arrowfile.Reader) error {
	cols, err := arrowfile.MatrixCols(r)
	if err != nil {
		return err
	}
	header := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", r.NumRows(), cols)
	const magic = "\x93NUMPY\x01\x00"
	pad := 64 - (len(magic)+2+len(header)+1)%64
	if pad == 64 {
		pad = 0
	}
	header += strings.Repeat(" ", pad) + "\n"
	if len(header) > math.MaxUint16 {
		return fmt.Errorf("npy header of %d bytes", len(header))
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.WriteString(magic)
	binary.Write(bw, binary.LittleEndian, uint16(len(header)))
	bw.WriteString(header)
	buf := make([]byte, 4*cols)
	err = arrowfile.ReadMatrixRows(r, func(_ int, vals []float32) error {
		for i, v := range vals {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
		}
		_, err := bw.Write(buf)
		return err
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

// WriteCSV writes the table in r as CSV (see the package comment).
func WriteCSV(w io.Writer, r *arrowfile.Reader) error {
	cw := csv.NewWriter(w)
	s := r.Schema()
	row := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		row[i] = f.Name
	}
	if err := cw.Write(row); err != nil {
		return err
	}
	for b := range r.NumRecords() {
		rec, err := r.Record(b)
		if err != nil {
			return err
		}
		for i := range int(rec.NumRows()) {
			for j, col := range rec.Columns() {
				row[j] = cell(col, i)
			}
			if err = cw.Write(row); err != nil {
				break
			}
		}
		rec.Release()
		if err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// cell formats one value for CSV.
func cell(col arrow.Array, i int) string {
	if col.IsNull(i) {
		return ""
	}
	return col.ValueStr(i) // floats: shortest round-trip form; lists: JSON
}

// WriteParquet writes the table in r as Parquet (see the package comment).
func WriteParquet(w io.Writer, r *arrowfile.Reader) error {
	narrow, err := narrowInts(r)
	if err != nil {
		return err
	}
	s := r.Schema()
	fields := s.Fields()
	for i := range fields {
		if narrow[i] {
			fields[i].Type = arrow.PrimitiveTypes.Int32
		}
	}
	md := s.Metadata()
	schema := arrow.NewSchema(fields, &md)
	// Not w itself: Close would close it if it is a file.
	fw, err := pqarrow.NewFileWriter(schema, struct{ io.Writer }{w}, parquet.NewWriterProperties(), pqarrow.DefaultWriterProps())
	if err != nil {
		return err
	}
	for b := range r.NumRecords() {
		rec, err := r.Record(b)
		if err != nil {
			fw.Close()
			return err
		}
		cols := make([]arrow.Array, len(fields))
		for i, c := range rec.Columns() {
			if narrow[i] {
				cols[i] = toInt32(c.(*array.Int64))
			} else {
				c.Retain()
				cols[i] = c
			}
		}
		out := array.NewRecordBatch(schema, cols, rec.NumRows())
		for _, c := range cols {
			c.Release()
		}
		err = fw.Write(out)
		out.Release()
		rec.Release()
		if err != nil {
			fw.Close()
			return err
		}
	}
	return fw.Close()
}

// narrowInts marks the int64 columns of r whose values all fit in int32.
func narrowInts(r *arrowfile.Reader) ([]bool, error) {
	s := r.Schema()
	narrow := make([]bool, s.NumFields())
	for i, f := range s.Fields() {
		narrow[i] = f.Type.ID() == arrow.INT64
	}
	for b := range r.NumRecords() {
		rec, err := r.Record(b)
		if err != nil {
			return nil, err
		}
		for i, c := range rec.Columns() {
			if !narrow[i] {
				continue
			}
			a := c.(*array.Int64)
			for j := range a.Len() {
				if v := a.Value(j); a.IsValid(j) && (v < math.MinInt32 || v > math.MaxInt32) {
					narrow[i] = false
					break
				}
			}
		}
		rec.Release()
	}
	return narrow, nil
}

func toInt32(a *array.Int64) arrow.Array {
	b := array.NewInt32Builder(memory.DefaultAllocator)
	defer b.Release()
	b.Reserve(a.Len())
	for i := range a.Len() {
		if a.IsNull(i) {
			b.AppendNull()
		} else {
			b.Append(int32(a.Value(i)))
		}
	}
	return b.NewArray()
}

// writeFile creates path (never replacing a file) and its folder and fills
// it with fill, removing it on failure.
func writeFile(path string, fill func(io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if err := fill(f); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return writeFile(dst, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}
