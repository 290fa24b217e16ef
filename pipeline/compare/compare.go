// Package compare puts runs of experiments side by side: their parameters,
// from the lock files, and their headline numbers, from the tables their
// results folders show.
//
// A run is read from its lock file (pipeline.LockFile, whose results:
// names the results folder) or from its results folder (whose record names
// the lock). Its parameters are every stage's parameters, flattened to
// "STAGE.PARAM" (nested keys joined by '.', lists as JSON), its code
// version as "STAGE.version", and its overrides as "overrides". Its
// headline numbers, by stage kind:
//
//   - metric: "STAGE % selected LAYER METRIC", summary.arrow's percent;
//   - correlate, mode metrics: "STAGE mean rho INPUT LAYER",
//     consistency.arrow's mean_rho (the inter-metric consistency);
//   - correlate, mode values: "STAGE rho LAYER X~Y", spearman.arrow's rho
//     (a metric against a lesion effect: the lesion ρ);
//   - decode: "STAGE accuracy SET", decoding.arrow's mean.
//
// Numbers are equal when their bits are (NaN equals NaN); a table that
// cannot be read is an error naming it.
package compare

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"selectivity/cache/arrowfile"
	"selectivity/pipeline"
)

// Run is one run's parameters and headline numbers.
type Run struct {
	// Label is the experiment's name, and "@RUN" for a run other than the
	// file as written.
	Label string
	// Lock and Results are the lock file and results folder read.
	Lock, Results string
	Params        map[string]string
	Numbers       map[string]float64
	// order lists Numbers' names in the order they were read.
	order []string
}

// Load reads the run whose lock file or results folder is path.
func Load(path string) (*Run, error) {
	lockPath := path
	if fi, err := os.Stat(path); err != nil {
		return nil, err
	} else if fi.IsDir() {
		if lockPath, err = pipeline.LockOfResults(path); err != nil {
			return nil, err
		}
	}
	lock, err := pipeline.ReadLockFile(lockPath)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(lockPath); err != nil {
		return nil, err
	}
	if lock.Results == "" {
		return nil, fmt.Errorf("%s: no results: field (written by an older version): run the experiment again", lockPath)
	}
	r := &Run{
		Label: lock.Experiment, Lock: lockPath,
		Results: filepath.Join(filepath.Dir(lockPath), filepath.FromSlash(lock.Results)),
		Params:  map[string]string{}, Numbers: map[string]float64{},
	}
	if lock.Run != "" {
		r.Label += "@" + lock.Run
	}
	r.Params["overrides"] = strings.Join(lock.Overrides, " ")
	names := make([]string, 0, len(lock.Stages))
	for name := range lock.Stages {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		st := lock.Stages[name]
		r.Params[name+".version"] = st.Kind + " " + st.Version
		b, err := json.Marshal(st.Params) // YAML's types to JSON's
		if err != nil {
			return nil, fmt.Errorf("%s: stage %s: params: %w", lockPath, name, err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, fmt.Errorf("%s: stage %s: params: %w", lockPath, name, err)
		}
		flatten(name, v, r.Params)
		if err := r.readNumbers(name, st.Kind); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// flatten adds v's leaves below prefix to out.
func flatten(prefix string, v any, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			flatten(prefix+"."+k, e, out)
		}
	case string:
		out[prefix] = x
	default:
		b, _ := json.Marshal(x)
		out[prefix] = string(b)
	}
}

// readNumbers adds the headline numbers of stage name, of kind kind.
func (r *Run) readNumbers(name, kind string) error {
	dir := filepath.Join(r.Results, name)
	type source struct {
		file, value string
		labels      []string // columns naming the row
		what        string
	}
	var srcs []source
	switch kind {
	case "metric":
		srcs = []source{{"summary.arrow", "percent", []string{"layer", "metric"}, "% selected"}}
	case "correlate":
		srcs = []source{
			{"consistency.arrow", "mean_rho", []string{"input", "layer"}, "mean rho"},
			{"spearman.arrow", "rho", []string{"layer", "x", "y"}, "rho"},
		}
	case "decode":
		srcs = []source{{"decoding.arrow", "mean", []string{"set"}, "accuracy"}}
	}
	for _, s := range srcs {
		p := filepath.Join(dir, s.file)
		if _, err := os.Stat(p); err != nil {
			if os.IsNotExist(err) && kind == "correlate" {
				continue // the other mode's table
			}
			return fmt.Errorf("run %s: %w", r.Label, err)
		}
		if err := r.readTable(p, name, s.what, s.value, s.labels); err != nil {
			return fmt.Errorf("run %s: %w", r.Label, err)
		}
	}
	return nil
}

func (r *Run) readTable(path, stage, what, value string, labels []string) error {
	t, err := arrowfile.Open(path)
	if err != nil {
		return err
	}
	defer t.Close()
	vals, err := arrowfile.Float64Column(t, value)
	if err != nil {
		return err
	}
	cols := make([][]string, len(labels))
	for i, l := range labels {
		if cols[i], err = arrowfile.StringColumn(t, l); err != nil {
			return err
		}
	}
	for i, v := range vals {
		parts := []string{stage, what}
		for j, c := range cols {
			if labels[j] == "y" { // x~y
				parts[len(parts)-1] += "~" + c[i]
				continue
			}
			parts = append(parts, c[i])
		}
		name := strings.Join(parts, " ")
		if _, dup := r.Numbers[name]; !dup {
			r.order = append(r.order, name)
		}
		r.Numbers[name] = v
	}
	return nil
}

// Table is runs side by side: the parameters that differ between them,
// then every headline number, one row each.
type Table struct {
	Runs   []string
	Params []Row
	Number []Row
}

// Row is one parameter or number across the runs; "" where a run lacks it.
type Row struct {
	Name   string
	Values []string
	// Nums holds the numbers of a number row (NaN where a run lacks it).
	Nums []float64
}

// Side puts runs side by side; all keeps the parameters every run shares.
func Side(runs []*Run, all bool) *Table {
	t := &Table{}
	for _, r := range runs {
		t.Runs = append(t.Runs, r.Label)
	}
	keys := map[string]bool{}
	for _, r := range runs {
		for k := range r.Params {
			keys[k] = true
		}
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		row := Row{Name: k}
		same := true
		for _, r := range runs {
			v, ok := r.Params[k]
			if !ok {
				v = "(unset)"
			}
			row.Values = append(row.Values, v)
			same = same && v == row.Values[0]
		}
		if all || !same {
			t.Params = append(t.Params, row)
		}
	}
	seen := map[string]bool{}
	for _, r := range runs {
		for _, name := range r.order {
			if seen[name] {
				continue
			}
			seen[name] = true
			row := Row{Name: name}
			for _, r := range runs {
				v, ok := r.Numbers[name]
				if !ok {
					v = math.NaN()
				}
				row.Nums = append(row.Nums, v)
				row.Values = append(row.Values, number(v, ok))
			}
			t.Number = append(t.Number, row)
		}
	}
	return t
}

func number(v float64, ok bool) string {
	if !ok {
		return ""
	}
	return fmt.Sprintf("%.4g", v)
}

// Change is one parameter or number that differs between two runs.
type Change struct {
	Name, From, To string
	// Delta is To − From for a number present in both runs, else NaN.
	Delta float64
}

// Diff lists every parameter and headline number that differs between a
// and b: parameters first, then numbers, each sorted by name.
func Diff(a, b *Run) (params, numbers []Change) {
	t := Side([]*Run{a, b}, false)
	for _, row := range t.Params {
		params = append(params, Change{Name: row.Name, From: orNone(row.Values[0]), To: orNone(row.Values[1]), Delta: math.NaN()})
	}
	for _, row := range t.Number {
		x, y := row.Nums[0], row.Nums[1]
		_, inA := a.Numbers[row.Name]
		_, inB := b.Numbers[row.Name]
		if inA && inB && math.Float64bits(x) == math.Float64bits(y) {
			continue
		}
		c := Change{Name: row.Name, From: full(x, inA), To: full(y, inB), Delta: math.NaN()}
		if inA && inB {
			c.Delta = y - x
		}
		numbers = append(numbers, c)
	}
	sort.Slice(numbers, func(i, j int) bool { return numbers[i].Name < numbers[j].Name })
	return params, numbers
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// full writes a number exactly (the shortest form that reads back).
func full(v float64, ok bool) string {
	if !ok {
		return "(none)"
	}
	return fmt.Sprint(v)
}

// Formats are the formats Write takes.
var Formats = []string{"text", "markdown", "csv"}

// Write writes t as text (aligned columns), Markdown (two tables) or CSV
// (section,name,RUN... with numbers in full precision).
func (t *Table) Write(w io.Writer, format string) error {
	switch format {
	case "text":
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, sec := range []struct {
			title string
			rows  []Row
		}{{"parameters that differ", t.Params}, {"numbers", t.Number}} {
			fmt.Fprintf(tw, "%s\t%s\n", sec.title, strings.Join(t.Runs, "\t"))
			for _, r := range sec.rows {
				fmt.Fprintf(tw, "  %s\t%s\n", r.Name, strings.Join(r.Values, "\t"))
			}
		}
		return tw.Flush()
	case "markdown":
		cell := func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "|", `\|`) }
		for i, sec := range []struct {
			title string
			rows  []Row
		}{{"Parameter", t.Params}, {"Number", t.Number}} {
			if i > 0 {
				fmt.Fprintln(w)
			}
			head := []string{sec.title}
			for _, r := range t.Runs {
				head = append(head, cell(r))
			}
			fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat(" --- |", len(head)))
			for _, r := range sec.rows {
				vals := make([]string, len(r.Values))
				for j, v := range r.Values {
					vals[j] = cell(v)
				}
				fmt.Fprintf(w, "| %s | %s |\n", cell(r.Name), strings.Join(vals, " | "))
			}
		}
		return nil
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write(append([]string{"section", "name"}, t.Runs...))
		for _, r := range t.Params {
			cw.Write(append([]string{"parameter", r.Name}, r.Values...))
		}
		for _, r := range t.Number {
			vals := make([]string, len(r.Nums))
			for j, v := range r.Nums {
				if r.Values[j] != "" {
					vals[j] = strconv.FormatFloat(v, 'g', -1, 64)
				}
			}
			cw.Write(append([]string{"number", r.Name}, vals...))
		}
		cw.Flush()
		return cw.Error()
	}
	return fmt.Errorf("unknown format %q; want %s", format, strings.Join(Formats, ", "))
}
