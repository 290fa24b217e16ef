package decode

import (
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"selectivity/cache/arrowfile"
)

// table builds a one-batch Arrow table column by column.
type table struct {
	fields []arrow.Field
	cols   []arrow.Array
}

func (t *table) add(name string, a arrow.Array) {
	t.fields = append(t.fields, arrow.Field{Name: name, Type: a.DataType()})
	t.cols = append(t.cols, a)
}

func (t *table) strings(name string, v []string) {
	b := array.NewStringBuilder(memory.DefaultAllocator)
	defer b.Release()
	b.AppendValues(v, nil)
	t.add(name, b.NewArray())
}

func (t *table) int64s(name string, v []int64) {
	b := array.NewInt64Builder(memory.DefaultAllocator)
	defer b.Release()
	b.AppendValues(v, nil)
	t.add(name, b.NewArray())
}

func (t *table) float64s(name string, v []float64) {
	b := array.NewFloat64Builder(memory.DefaultAllocator)
	defer b.Release()
	b.AppendValues(v, nil)
	t.add(name, b.NewArray())
}

func (t *table) lists(name string, v [][]float64) {
	b := array.NewListBuilder(memory.DefaultAllocator, arrow.PrimitiveTypes.Float64)
	defer b.Release()
	vb := b.ValueBuilder().(*array.Float64Builder)
	for _, l := range v {
		b.Append(true)
		vb.AppendValues(l, nil)
	}
	t.add(name, b.NewArray())
}

func (t *table) write(path string, meta map[string]string) error {
	defer func() {
		for _, c := range t.cols {
			c.Release()
		}
	}()
	return arrowfile.WriteTable(path, arrowfile.NewSchema(t.fields, meta), t.cols...)
}

// row is one line of decoding.arrow.
type row struct {
	set                     string
	kernels, draws          int
	mean, sd, ciLow, ciHigh float64
	folds                   []float64
}

// rows aggregates the results per set name: random's draws are averaged
// per fold.
func rows(sets []featureSet, res []result) []row {
	var out []row
	idx := map[string]int{}
	for i, s := range sets {
		j, ok := idx[s.name]
		if !ok {
			j = len(out)
			idx[s.name] = j
			out = append(out, row{set: s.name, kernels: len(s.kernels), folds: make([]float64, len(res[i].acc))})
		}
		out[j].draws++
		for k, a := range res[i].acc {
			out[j].folds[k] += a
		}
	}
	for j := range out {
		r := &out[j]
		if r.draws > 1 {
			for k := range r.folds {
				r.folds[k] /= float64(r.draws)
			}
		}
		r.mean, r.sd, r.ciLow, r.ciHigh = Summary(r.folds)
	}
	return out
}

func writeDecoding(path string, sets []featureSet, res []result, d *design, meta map[string]string) error {
	rs := rows(sets, res)
	var (
		t                        table
		names                    []string
		kernels, draws           []int64
		mean, sd, lo, hi, chance []float64
		folds                    [][]float64
	)
	for _, r := range rs {
		names = append(names, r.set)
		kernels = append(kernels, int64(r.kernels))
		draws = append(draws, int64(r.draws))
		mean = append(mean, r.mean)
		sd = append(sd, r.sd)
		lo = append(lo, r.ciLow)
		hi = append(hi, r.ciHigh)
		chance = append(chance, 1/float64(d.ids))
		folds = append(folds, r.folds)
	}
	t.strings("set", names)
	t.int64s("n_kernels", kernels)
	t.int64s("draws", draws)
	t.float64s("mean", mean)
	t.float64s("sd", sd)
	t.float64s("ci_low", lo)
	t.float64s("ci_high", hi)
	t.float64s("chance", chance)
	t.lists("folds", folds)
	return t.write(path, meta)
}

func writeFolds(path string, sets []featureSet, res []result, meta map[string]string) error {
	var (
		t                   table
		names               []string
		draw, fold, notConv []int64
		acc                 []float64
	)
	for i, s := range sets {
		for k, a := range res[i].acc {
			names = append(names, s.name)
			draw = append(draw, int64(s.draw))
			fold = append(fold, int64(k))
			acc = append(acc, a)
			notConv = append(notConv, int64(res[i].notConv[k]))
		}
	}
	t.strings("set", names)
	t.int64s("draw", draw)
	t.int64s("fold", fold)
	t.float64s("accuracy", acc)
	t.int64s("not_converged", notConv)
	return t.write(path, meta)
}

func writeKernels(path string, sets []featureSet, meta map[string]string) error {
	var (
		t                  table
		names              []string
		draw, rank, kernel []int64
		value              []float64
	)
	for _, s := range sets {
		if s.name == "all" {
			continue
		}
		for i, k := range s.kernels {
			names = append(names, s.name)
			draw = append(draw, int64(s.draw))
			rank = append(rank, int64(i+1))
			kernel = append(kernel, int64(k))
			value = append(value, s.values[i])
		}
	}
	t.strings("set", names)
	t.int64s("draw", draw)
	t.int64s("rank", rank)
	t.int64s("kernel", kernel)
	t.float64s("value", value)
	return t.write(path, meta)
}

// readFloat64s returns a numeric column of r as float64 (nulls: NaN).
func readFloat64s(r *arrowfile.Reader, name string) ([]float64, error) {
	idx := r.Schema().FieldIndices(name)
	if len(idx) != 1 {
		return nil, fmt.Errorf("decode: %s: no column %q", r.Path(), name)
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
			return nil, fmt.Errorf("decode: %s: column %q is %s, not a number", r.Path(), name, col.DataType())
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

// readBools returns a boolean column of r (nulls: false).
func readBools(r *arrowfile.Reader, name string) ([]bool, error) {
	idx := r.Schema().FieldIndices(name)
	if len(idx) != 1 {
		return nil, fmt.Errorf("decode: %s: no column %q", r.Path(), name)
	}
	out := make([]bool, 0, r.NumRows())
	for b := range r.NumRecords() {
		rec, err := r.Record(b)
		if err != nil {
			return nil, err
		}
		c, ok := rec.Column(idx[0]).(*array.Boolean)
		if !ok {
			rec.Release()
			return nil, fmt.Errorf("decode: %s: column %q is %s, not bool", r.Path(), name, rec.Column(idx[0]).DataType())
		}
		for i := range c.Len() {
			out = append(out, c.IsValid(i) && c.Value(i))
		}
		rec.Release()
	}
	return out, nil
}
