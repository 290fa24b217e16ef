package arrowfile

import (
	"fmt"
	"math"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Table builds a small table column by column and writes it as a file of
// one record batch: the result tables of the stage kinds. The zero value is
// an empty table. Float64, int64 and int32 columns share the caller's
// slices (no copy), which must stay unchanged until Write; the other
// columns are copied.
type Table struct {
	fields []arrow.Field
	cols   []arrow.Array
}

func (t *Table) add(name string, a arrow.Array) {
	t.fields = append(t.fields, arrow.Field{Name: name, Type: a.DataType()})
	t.cols = append(t.cols, a)
}

// Float64s adds a float64 column (NaN is a value, not a null).
func (t *Table) Float64s(name string, v []float64) { addValues(t, name, v) }

// Int64s adds an int64 column.
func (t *Table) Int64s(name string, v []int64) { addValues(t, name, v) }

// Int32s adds an int32 column.
func (t *Table) Int32s(name string, v []int32) { addValues(t, name, v) }

// addValues adds a column of fixed-width values over v's memory.
func addValues[T float64 | int64 | int32](t *Table, name string, v []T) {
	data := array.NewData(arrow.GetDataType[T](), len(v),
		[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.GetBytes(v))}, nil, 0, 0)
	t.add(name, array.MakeFromData(data))
	data.Release()
}

// Bools adds a boolean column.
func (t *Table) Bools(name string, v []bool) {
	b := array.NewBooleanBuilder(memory.DefaultAllocator)
	defer b.Release()
	b.AppendValues(v, nil)
	t.add(name, b.NewArray())
}

// Strings adds a utf8 column.
func (t *Table) Strings(name string, v []string) {
	b := array.NewStringBuilder(memory.DefaultAllocator)
	defer b.Release()
	b.AppendValues(v, nil)
	t.add(name, b.NewArray())
}

// Float64Lists adds a column of lists of float64, one list per row.
func (t *Table) Float64Lists(name string, v [][]float64) {
	b := array.NewListBuilder(memory.DefaultAllocator, arrow.PrimitiveTypes.Float64)
	defer b.Release()
	vb := b.ValueBuilder().(*array.Float64Builder)
	for _, l := range v {
		b.Append(true)
		vb.AppendValues(l, nil)
	}
	t.add(name, b.NewArray())
}

// Write writes the table to path, fields in the order they were added and
// meta as schema metadata (see NewSchema), as one record batch; see
// WriteTable for what the columns must satisfy. It releases the columns
// and leaves the table empty, ready to be built again.
func (t *Table) Write(path string, meta map[string]string) error {
	defer func() {
		for _, c := range t.cols {
			c.Release()
		}
		t.cols, t.fields = nil, nil
	}()
	return WriteTable(path, NewSchema(t.fields, meta), t.cols...)
}

// Float64Column returns column name of the table in r as float64 values,
// copied out of the mapping. Float and integer columns (float64, float32,
// int64, int32, uint64, uint32) are accepted; nulls become NaN.
func Float64Column(r *Reader, name string) ([]float64, error) {
	return readColumn(r, name, ofType("a number", AppendFloat64s))
}

// Int64Column returns the integer column name (int64 or int32) of the
// table in r as int64 values, copied out of the mapping. Nulls are an
// error.
func Int64Column(r *Reader, name string) ([]int64, error) {
	return readColumn(r, name, func(dst []int64, col arrow.Array) ([]int64, string) {
		switch c := col.(type) {
		case *array.Int64:
			if c.NullN() == 0 {
				return append(dst, c.Int64Values()...), ""
			}
		case *array.Int32:
			if c.NullN() == 0 {
				for _, v := range c.Int32Values() {
					dst = append(dst, int64(v))
				}
				return dst, ""
			}
		default:
			return dst, notType(col, "int64 or int32")
		}
		return dst, "holds nulls"
	})
}

// BoolColumn returns the boolean column name of the table in r; nulls
// become false.
func BoolColumn(r *Reader, name string) ([]bool, error) {
	return readColumn(r, name, func(dst []bool, col arrow.Array) ([]bool, string) {
		c, ok := col.(*array.Boolean)
		if !ok {
			return dst, notType(col, "bool")
		}
		for i := range c.Len() {
			dst = append(dst, c.IsValid(i) && c.Value(i))
		}
		return dst, ""
	})
}

// StringColumn returns the utf8 (or large_utf8) column name of the table
// in r, copied out of the mapping; nulls become "".
func StringColumn(r *Reader, name string) ([]string, error) {
	return readColumn(r, name, ofType("utf8", AppendStrings))
}

// AppendFloat64s appends the values of col to dst as float64 (nulls: NaN)
// and reports whether col is of a type Float64Column accepts; if not, dst
// is returned unchanged. An empty column leaves dst as it is, nil included.
func AppendFloat64s(dst []float64, col arrow.Array) ([]float64, bool) {
	var at func(i int) float64
	switch c := col.(type) {
	case *array.Float64:
		at = c.Value
	case *array.Float32:
		at = func(i int) float64 { return float64(c.Value(i)) }
	case *array.Int64:
		at = func(i int) float64 { return float64(c.Value(i)) }
	case *array.Int32:
		at = func(i int) float64 { return float64(c.Value(i)) }
	case *array.Uint64:
		at = func(i int) float64 { return float64(c.Value(i)) }
	case *array.Uint32:
		at = func(i int) float64 { return float64(c.Value(i)) }
	default:
		return dst, false
	}
	for i := range col.Len() {
		if col.IsNull(i) {
			dst = append(dst, math.NaN())
		} else {
			dst = append(dst, at(i))
		}
	}
	return dst, true
}

// AppendStrings appends the values of col, a utf8 or large_utf8 column, to
// dst, copied out of the column's memory (nulls: ""), and reports whether
// col is of one of those types; if not, dst is returned unchanged. An empty
// column leaves dst as it is, nil included.
func AppendStrings(dst []string, col arrow.Array) ([]string, bool) {
	var s interface {
		arrow.Array
		Value(int) string
	}
	switch c := col.(type) {
	case *array.String:
		s = c
	case *array.LargeString:
		s = c
	default:
		return dst, false
	}
	for i := range s.Len() {
		if s.IsNull(i) {
			dst = append(dst, "")
		} else {
			dst = append(dst, strings.Clone(s.Value(i)))
		}
	}
	return dst, true
}

// readColumn gathers column name of every record batch of r with
// appendCol, which returns what is wrong with a column it cannot take
// ("" if nothing): the error names the file and the column.
func readColumn[T any](r *Reader, name string, appendCol func([]T, arrow.Array) ([]T, string)) ([]T, error) {
	idx := r.Schema().FieldIndices(name)
	if len(idx) != 1 {
		return nil, fmt.Errorf("%s: no column %q", r.Path(), name)
	}
	out := make([]T, 0, r.NumRows())
	for b := range r.NumRecords() {
		rec, err := r.Record(b)
		if err != nil {
			return nil, err
		}
		var problem string
		out, problem = appendCol(out, rec.Column(idx[0]))
		rec.Release()
		if problem != "" {
			return nil, fmt.Errorf("%s: column %q %s", r.Path(), name, problem)
		}
	}
	return out, nil
}

// ofType adapts an Append function to readColumn: a column of another
// type is not want.
func ofType[T any](want string, appendCol func([]T, arrow.Array) ([]T, bool)) func([]T, arrow.Array) ([]T, string) {
	return func(dst []T, col arrow.Array) ([]T, string) {
		if dst, ok := appendCol(dst, col); ok {
			return dst, ""
		}
		return dst, notType(col, want)
	}
}

// notType says that col is not of the type want.
func notType(col arrow.Array, want string) string {
	return fmt.Sprintf("is %s, not %s", col.DataType(), want)
}
