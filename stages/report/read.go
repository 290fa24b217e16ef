package report

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"selectivity/cache/arrowfile"
	"selectivity/stages"
)

// table is a small result table read into memory: its utf8 columns as
// strings, its numeric columns as float64 (nulls become NaN). Columns of
// other types (lists, booleans) are known by name only.
type table struct {
	where string // "<slot> input <stage>: <file>", for errors
	rows  int
	names []string // every column, in schema order
	types map[string]string
	str   map[string][]string
	num   map[string][]float64
	meta  map[string]string
}

// readTable reads file of the input in slot. A missing file or a file that
// is not an Arrow table is an error naming the slot, the stage and the file.
func readTable(slot string, in stages.Input, file, what string) (*table, error) {
	where := fmt.Sprintf("%s input %s: %s", slot, in.Stage, file)
	if !slices.Contains(in.Files, file) {
		return nil, fmt.Errorf("%s input %s has no %s (files: %s); is it %s?",
			slot, in.Stage, file, listOrNone(in.Files), what)
	}
	r, err := arrowfile.Open(in.Path(file))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	defer r.Close()
	t := &table{where: where, types: map[string]string{}, str: map[string][]string{},
		num: map[string][]float64{}, meta: map[string]string{}}
	sch := r.Schema()
	if md := sch.Metadata(); md.Len() > 0 {
		for i, k := range md.Keys() {
			t.meta[k] = md.Values()[i]
		}
	}
	for _, f := range sch.Fields() {
		t.names = append(t.names, f.Name)
		t.types[f.Name] = f.Type.String()
	}
	for b := range r.NumRecords() {
		rec, err := r.Record(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		for c, f := range sch.Fields() {
			col := rec.Column(c)
			var ok bool
			if t.str[f.Name], ok = arrowfile.AppendStrings(t.str[f.Name], col); !ok {
				t.num[f.Name], _ = arrowfile.AppendFloat64s(t.num[f.Name], col)
			}
		}
		t.rows += int(rec.NumRows())
		rec.Release()
	}
	return t, nil
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// problem says what is wrong with column name, "" when it is a column
// of the wanted type (str: utf8, else numeric).
func (t *table) problem(name string, str bool) string {
	typ, ok := t.types[name]
	switch {
	case !ok:
		return fmt.Sprintf("no column %q", name)
	case str && !t.isString(name):
		return fmt.Sprintf("column %q is %s, want utf8", name, typ)
	case !str && (t.isString(name) || (t.rows > 0 && t.num[name] == nil)):
		return fmt.Sprintf("column %q is %s, want a number", name, typ)
	}
	return ""
}

func (t *table) isString(name string) bool {
	typ := t.types[name]
	return typ == "utf8" || typ == "large_utf8"
}

// need checks that the table has the columns strs (utf8) and nums
// (numbers), reporting every problem at once.
func (t *table) need(strs, nums []string) error {
	var probs []string
	for _, n := range strs {
		if p := t.problem(n, true); p != "" {
			probs = append(probs, p)
		}
	}
	for _, n := range nums {
		if p := t.problem(n, false); p != "" {
			probs = append(probs, p)
		}
	}
	if len(probs) > 0 {
		return fmt.Errorf("%s: %s (columns: %s)", t.where, strings.Join(probs, "; "), listOrNone(t.names))
	}
	return nil
}

// strings returns the utf8 column name; need must have checked it.
func (t *table) strings(name string) []string {
	if v := t.str[name]; v != nil {
		return v
	}
	return make([]string, t.rows)
}

// floats returns the numeric column name, or NaNs if the table lacks it.
func (t *table) floats(name string) []float64 {
	if v := t.num[name]; v != nil {
		return v
	}
	v := make([]float64, t.rows)
	for i := range v {
		v[i] = math.NaN()
	}
	return v
}

// has reports whether the table has a column name.
func (t *table) has(name string) bool {
	_, ok := t.types[name]
	return ok
}
