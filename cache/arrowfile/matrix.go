package arrowfile

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// ShapeKey is the schema metadata key conventionally holding the shape of
// what a matrix row flattens, e.g. a layer's "C,H,W" (see FormatInts).
const ShapeKey = "shape"

// MatrixColumn is the name of the single column WriteMatrix writes.
const MatrixColumn = "values"

// DefaultBatchBytes bounds the size of one record batch WriteMatrix writes:
// big enough that per-batch overhead vanishes, small enough that the
// writer's buffer stays modest and readers get several batches to stream.
const DefaultBatchBytes = 64 << 20

// NewSchema returns a schema of fields whose metadata holds meta. The keys
// are stored sorted, so equal maps give byte-identical files.
func NewSchema(fields []arrow.Field, meta map[string]string) *arrow.Schema {
	if len(meta) == 0 {
		return arrow.NewSchema(fields, nil)
	}
	md := arrow.MetadataFrom(meta)
	return arrow.NewSchema(fields, &md)
}

// Meta returns the value of key in schema's metadata.
func Meta(schema *arrow.Schema, key string) (string, bool) {
	if schema == nil {
		return "", false
	}
	md := schema.Metadata()
	return md.GetValue(key)
}

// FormatInts formats integers as metadata value: "64,28,28".
func FormatInts(vals ...int) string {
	s := make([]string, len(vals))
	for i, v := range vals {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}

// ParseInts parses a value written by FormatInts.
func ParseInts(s string) ([]int, error) {
	if s == "" {
		return []int{}, nil
	}
	parts := strings.Split(s, ",")
	vals := make([]int, len(parts))
	for i, p := range parts {
		v, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return nil, fmt.Errorf("arrowfile: bad integer list %q: %w", s, err)
		}
		vals[i] = v
	}
	return vals, nil
}

// MetaInts returns the integer list stored under key in schema's metadata.
func MetaInts(schema *arrow.Schema, key string) ([]int, error) {
	v, ok := Meta(schema, key)
	if !ok {
		return nil, fmt.Errorf("arrowfile: schema metadata has no %q", key)
	}
	vals, err := ParseInts(v)
	if err != nil {
		return nil, fmt.Errorf("arrowfile: metadata %q: %w", key, err)
	}
	return vals, nil
}

// MatrixSchema is the schema WriteMatrix writes: one non-nullable column
// MatrixColumn of FixedSizeList<float32>[cols], one list per row, with meta
// as schema metadata. pyarrow reads it as a fixed_size_list column, and
// numpy gets the matrix with col.flatten().to_numpy().reshape(-1, cols).
func MatrixSchema(cols int, meta map[string]string) *arrow.Schema {
	typ := arrow.FixedSizeListOfNonNullable(int32(cols), arrow.PrimitiveTypes.Float32)
	return NewSchema([]arrow.Field{{Name: MatrixColumn, Type: typ}}, meta)
}

// WriteMatrix writes a rows×cols float32 matrix to the Arrow file path,
// in record batches of about DefaultBatchBytes. fill is called once per row,
// in order, to write that row into dst (len cols, zeroed beforehand).
func WriteMatrix(path string, rows, cols int, meta map[string]string, fill func(row int, dst []float32)) error {
	batchRows := 1
	if cols > 0 {
		batchRows = max(1, DefaultBatchBytes/(4*cols))
	}
	return WriteMatrixBatched(path, rows, cols, batchRows, meta, fill)
}

// WriteMatrixBatched is WriteMatrix with batchRows rows per record batch
// (the last may be shorter). One batch's values are held in memory.
func WriteMatrixBatched(path string, rows, cols, batchRows int, meta map[string]string, fill func(row int, dst []float32)) error {
	return WriteMatrixCompressed(path, rows, cols, batchRows, Uncompressed, meta, fill)
}

// WriteMatrixCompressed is WriteMatrixBatched with the batches' bodies
// compressed by c (see CreateCompressed).
func WriteMatrixCompressed(path string, rows, cols, batchRows int, c Compression, meta map[string]string, fill func(row int, dst []float32)) error {
	switch {
	case rows < 0 || cols < 1 || cols > math.MaxInt32 || batchRows < 1:
		return fmt.Errorf("arrowfile: write %s: bad matrix shape %d×%d or batch of %d rows", path, rows, cols, batchRows)
	case fill == nil:
		return fmt.Errorf("arrowfile: write %s: nil fill function", path)
	}
	batchRows = min(batchRows, max(rows, 1))
	if batchRows > math.MaxInt/4/cols {
		return fmt.Errorf("arrowfile: write %s: batch of %d rows of %d columns is too big", path, batchRows, cols)
	}
	schema := MatrixSchema(cols, meta)
	w, err := CreateCompressed(path, schema, c)
	if err != nil {
		return err
	}
	listType := schema.Field(0).Type
	vals := make([]float32, batchRows*cols)
	for start := 0; start < rows; start += batchRows {
		n := min(batchRows, rows-start)
		buf := vals[:n*cols]
		clear(buf)
		for i := range n {
			fill(start+i, buf[i*cols:(i+1)*cols:(i+1)*cols])
		}
		child := array.NewData(arrow.PrimitiveTypes.Float32, n*cols,
			[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Float32Traits.CastToBytes(buf))}, nil, 0, 0)
		list := array.NewData(listType, n, []*memory.Buffer{nil}, []arrow.ArrayData{child}, 0, 0)
		col := array.MakeFromData(list)
		rec := array.NewRecordBatch(schema, []arrow.Array{col}, int64(n))
		err := w.Write(rec)
		rec.Release()
		col.Release()
		list.Release()
		child.Release()
		if err != nil {
			w.Abort()
			return err
		}
	}
	return w.Close()
}

// MatrixCols checks that r's first column is a FixedSizeList<float32>, as
// WriteMatrix writes, and returns its width.
func MatrixCols(r *Reader) (int, error) {
	s := r.Schema()
	if s.NumFields() == 0 {
		return 0, fmt.Errorf("arrowfile: %s: no columns, not a matrix", r.Path())
	}
	typ, ok := s.Field(0).Type.(*arrow.FixedSizeListType)
	if !ok || typ.Elem().ID() != arrow.FLOAT32 || typ.Len() < 1 {
		return 0, fmt.Errorf("arrowfile: %s: column %q is %s, not a matrix (fixed_size_list<float32>)", r.Path(), s.Field(0).Name, s.Field(0).Type)
	}
	return int(typ.Len()), nil
}

// ReadMatrixRows calls fn for each row of the matrix in r (see MatrixCols),
// in order, numbering rows from 0 across batches. vals points into the
// mapped file: no copy is made, it is valid until r.Close, and it must not
// be written to. In a compressed file vals is a decompressed copy that
// stays valid for as long as it is referenced; a caller that keeps every
// row keeps the whole matrix in memory (use ReadMatrixBatches to hold a
// batch at a time). An error from fn stops the walk and is returned as is.
func ReadMatrixRows(r *Reader, fn func(row int, vals []float32) error) error {
	return ReadMatrixBatches(r, 1, func(first int, rows [][]float32) error {
		for j, vals := range rows {
			if err := fn(first+j, vals); err != nil {
				return err
			}
		}
		return nil
	})
}

// ReadMatrixBatches calls fn once per record batch of the matrix in r with
// the batch's rows, the first of which is row first of the matrix, from
// up to workers goroutines at once, each taking the next batch in order
// (with one worker, the batches come in order). The rows are as
// ReadMatrixRows gives them; in a compressed file a batch is decompressed
// when its turn comes, so a caller that drops the rows when fn returns
// holds at most workers batches at a time. An error stops the walk
// (batches under way finish) and is returned as is (a worker's first).
func ReadMatrixBatches(r *Reader, workers int, fn func(first int, rows [][]float32) error) error {
	cols, err := MatrixCols(r)
	if err != nil {
		return err
	}
	var next atomic.Int64
	var failed atomic.Bool
	errs := make([]error, max(1, min(workers, r.NumRecords())))
	var wg sync.WaitGroup
	for w := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var rows [][]float32
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= r.NumRecords() {
					return
				}
				rows, errs[w] = matrixRows(r, i, cols, rows[:0], fn)
				if errs[w] != nil {
					failed.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// matrixRows reads record batch i of the matrix and calls fn on its rows,
// collected in rows (returned for reuse).
func matrixRows(r *Reader, i, cols int, rows [][]float32, fn func(first int, rows [][]float32) error) ([][]float32, error) {
	rec, err := r.Record(i)
	if err != nil {
		return rows, err
	}
	defer rec.Release()
	vals, off, n, err := matrixBatch(r, rec, i, cols)
	if err != nil {
		return rows, err
	}
	for j := range n {
		s := (off + j) * cols
		rows = append(rows, vals[s:s+cols:s+cols])
	}
	return rows, fn(int(r.starts[i]), rows)
}

// matrixBatch returns the float values behind one batch's matrix column,
// the column's row offset into them and its row count.
func matrixBatch(r *Reader, rec arrow.RecordBatch, i, cols int) (vals []float32, off, n int, err error) {
	col, ok := rec.Column(0).(*array.FixedSizeList)
	if !ok {
		return nil, 0, 0, fmt.Errorf("arrowfile: %s: record %d: matrix column is %T", r.Path(), i, rec.Column(0))
	}
	child, ok := col.ListValues().(*array.Float32)
	if !ok {
		return nil, 0, 0, fmt.Errorf("arrowfile: %s: record %d: matrix values are %T", r.Path(), i, col.ListValues())
	}
	if col.NullN() > 0 || child.NullN() > 0 {
		return nil, 0, 0, fmt.Errorf("arrowfile: %s: record %d: matrix holds nulls", r.Path(), i)
	}
	vals = child.Float32Values()
	off, n = col.Data().Offset(), col.Len()
	if len(vals)/cols < off+n {
		return nil, 0, 0, fmt.Errorf("arrowfile: %s: record %d: %d values for %d rows of %d", r.Path(), i, len(vals), off+n, cols)
	}
	return vals, off, n, nil
}
