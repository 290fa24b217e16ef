package metric

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"selectivity/cache/arrowfile"
	"selectivity/stages/aggregate"
)

// Table builds a one-batch Arrow table column by column, for the small
// result tables of the selectivity kinds. Float64 and int64 columns share
// the caller's slices (no copy), which must stay unchanged until Write.
type Table struct {
	fields []arrow.Field
	cols   []arrow.Array
}

func (t *Table) add(name string, a arrow.Array) {
	t.fields = append(t.fields, arrow.Field{Name: name, Type: a.DataType()})
	t.cols = append(t.cols, a)
}

// Float64 adds a float64 column.
func (t *Table) Float64(name string, v []float64) {
	data := array.NewData(arrow.PrimitiveTypes.Float64, len(v),
		[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Float64Traits.CastToBytes(v))}, nil, 0, 0)
	t.add(name, array.NewFloat64Data(data))
	data.Release()
}

// Int64 adds an int64 column.
func (t *Table) Int64(name string, v []int64) {
	data := array.NewData(arrow.PrimitiveTypes.Int64, len(v),
		[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Int64Traits.CastToBytes(v))}, nil, 0, 0)
	t.add(name, array.NewInt64Data(data))
	data.Release()
}

// Bool adds a boolean column.
func (t *Table) Bool(name string, v []bool) {
	b := array.NewBooleanBuilder(memory.DefaultAllocator)
	defer b.Release()
	b.AppendValues(v, nil)
	t.add(name, b.NewArray())
}

// String adds a utf8 column.
func (t *Table) String(name string, v []string) {
	b := array.NewStringBuilder(memory.DefaultAllocator)
	defer b.Release()
	b.AppendValues(v, nil)
	t.add(name, b.NewArray())
}

// Write writes the table to path with schema metadata meta, and releases
// its columns.
func (t *Table) Write(path string, meta map[string]string) error {
	defer func() {
		for _, c := range t.cols {
			c.Release()
		}
		t.cols, t.fields = nil, nil
	}()
	return arrowfile.WriteTable(path, arrowfile.NewSchema(t.fields, meta), t.cols...)
}

// ReadFloat64s returns the column name of the table in r as float64
// values, copied out of the mapping: float64, float32 and integer columns
// are accepted; nulls become NaN.
func ReadFloat64s(r *arrowfile.Reader, name string) ([]float64, error) {
	idx := r.Schema().FieldIndices(name)
	if len(idx) != 1 {
		return nil, fmt.Errorf("%s: no column %q", r.Path(), name)
	}
	out := make([]float64, 0, r.NumRows())
	for b := range r.NumRecords() {
		rec, err := r.Record(b)
		if err != nil {
			return nil, err
		}
		col := rec.Column(idx[0])
		var at func(i int) float64
		switch c := col.(type) {
		case *array.Float64:
			at = func(i int) float64 { return c.Value(i) }
		case *array.Float32:
			at = func(i int) float64 { return float64(c.Value(i)) }
		case *array.Int64:
			at = func(i int) float64 { return float64(c.Value(i)) }
		case *array.Int32:
			at = func(i int) float64 { return float64(c.Value(i)) }
		default:
			rec.Release()
			return nil, fmt.Errorf("%s: column %q is %s, not a number", r.Path(), name, col.DataType())
		}
		for i := range col.Len() {
			if col.IsNull(i) {
				out = append(out, math.NaN())
			} else {
				out = append(out, at(i))
			}
		}
		rec.Release()
	}
	return out, nil
}

// write writes the layer's per-item table; see the package doc.
func (r *layerResult) write(path string, d *design, p *Params) error {
	var t Table
	item := make([]int64, r.items)
	for i := range item {
		item[i] = int64(i)
	}
	t.Int64("item", item)
	sel := func(m string) []bool {
		s := make([]bool, r.items)
		for i := range s {
			s[i] = r.selected(m, i)
		}
		return s
	}
	if r.fsi != nil {
		t.Float64("fsi", r.fsi)
		t.Bool("fsi_selected", sel("fsi"))
	}
	if r.dprime != nil {
		t.Float64("dprime", r.dprime)
		t.Bool("dprime_selected", sel("dprime"))
	}
	if r.wz != nil {
		t.Float64("wilcoxon_z", r.wz)
		t.Float64("wilcoxon_p", r.wp)
		t.Bool("wilcoxon_selected", r.wsel)
	}
	if r.tmin != nil {
		t.Float64("ttest_t", r.tmin)
		t.Bool("ttest_selected", r.tsel)
		for g, name := range d.groupNames() {
			t.Float64("ttest_q_"+name, r.tq[g])
		}
	}
	meta := paramsMeta(p)
	meta[aggregate.LevelKey] = r.layer.Level
	meta[aggregate.AggregationKey] = r.layer.Aggregation
	meta[aggregate.LayerKey] = r.layer.Name
	meta[arrowfile.ShapeKey] = r.shape
	meta["preferred_by"] = d.byKind
	meta["n_preferred"] = strconv.Itoa(d.nP)
	meta["n_nonpreferred"] = strconv.Itoa(len(d.order) - d.nP)
	if r.tmin != nil {
		meta["comparisons"] = strings.Join(d.groupNames(), ",")
	}
	return t.Write(path, meta)
}

// paramsMeta records the parameters that shape the results.
func paramsMeta(p *Params) map[string]string {
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	return map[string]string{
		"metrics":           strings.Join(p.Metrics, ","),
		"preferred":         p.Preferred,
		"fsi_threshold":     f(p.FSIThreshold),
		"dprime_threshold":  f(p.DPrimeThreshold),
		"ddof":              strconv.Itoa(p.DDof),
		"wilcoxon_test":     p.WilcoxonTest,
		"alpha":             f(p.Alpha),
		"ttest":             p.TTest,
		"fdr":               p.FDR,
		"q":                 f(p.Q),
		"compare":           p.Compare,
		"include_scrambled": strconv.FormatBool(p.IncludeScrambled),
	}
}

// summary collects the rows of summary.arrow.
type summary struct {
	layer, level, agg, metric []string
	items, selected           []int64
	percent                   []float64
}

// add appends one row per requested metric of a layer.
func (s *summary) add(r *layerResult, p *Params) {
	for _, m := range Names {
		if !p.has(m) {
			continue
		}
		k := r.selectedCount(m)
		s.layer = append(s.layer, r.layer.Name)
		s.level = append(s.level, r.layer.Level)
		s.agg = append(s.agg, r.layer.Aggregation)
		s.metric = append(s.metric, m)
		s.items = append(s.items, int64(r.items))
		s.selected = append(s.selected, int64(k))
		s.percent = append(s.percent, percent(k, r.items))
	}
}

// write writes summary.arrow.
func (s *summary) write(path, input string, p *Params) error {
	var t Table
	t.String("layer", s.layer)
	t.String("level", s.level)
	t.String("aggregation", s.agg)
	t.String("metric", s.metric)
	t.Int64("items", s.items)
	t.Int64("selected", s.selected)
	t.Float64("percent", s.percent)
	meta := paramsMeta(p)
	meta["input"] = input
	return t.Write(path, meta)
}
