// Package variants is the `variants` stage kind: how far each analysis
// choice moves the answer. It compares metric stages that differ in one
// choice or more — analyses.md's variants (rank-sum with or without the tie
// correction, Student or Welch, BH or BY, domains or categories, ddof),
// thresholds, kernel pooling, networks — item by item, per layer.
//
// # Input
//
// Slot metrics takes two or more metric stages (e.g. every expansion of a
// matrix stage), the first being the baseline. Layers are matched by
// name; every layer of the first input must be in every other, with the
// same number of items (variants at unit and kernel level are not
// comparable item by item: that is an error naming both stages). A metric
// is compared where both stages computed it.
//
// # Per layer, metric and pair of variants a < b (input order)
//
//	spearman = Spearman(TieRound(values_a), TieRound(values_b))   (stats.Spearman, stats.TieRound)
//	jaccard  = |S_a ∩ S_b| / |S_a ∪ S_b|                         (stats.Jaccard; NaN when neither selects any)
//
// values = the metric's value for ranking (data.ValueColumn), S = its
// selected items (<metric>_selected): the same comparison the reliability
// kind makes between halves.
//
// # Outputs
//
// pairs.arrow: one row per layer × metric × pair: layer, metric, a, b (the
// stage names), items (int64), spearman, jaccard, selected_a, selected_b
// (int64), percent_a, percent_b.
//
// percent.arrow: one row per variant × layer × metric: variant (the stage
// name), one utf8 column per matrix key of the inputs (their values, ""
// for an input without that key; a key that clashes with a fixed column is
// prefixed "matrix_"), layer, level, aggregation, metric, items, selected
// (int64), percent and delta_percent (percent minus the baseline's; NaN
// where the baseline lacks the metric).
package variants

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"

	"selectivity/cache/arrowfile"
	"selectivity/stages"
	"selectivity/stages/internal/data"
	"selectivity/stages/internal/stats"
)

func init() { stages.Register(kind{}) }

// Params are the variants kind's parameters.
type Params struct {
	Layers []string `yaml:"layers" doc:"layers to compare (default: every layer of the first input)"`
}

type kind struct{}

func (kind) Name() string    { return "variants" }
func (kind) Version() string { return "1" }
func (kind) Doc() string {
	return "sensitivity to analysis choices: per layer, Jaccard overlap of selected sets and Spearman of values between every pair of metric stages, and each one's % selected"
}
func (kind) NewParams() any   { return &Params{} }
func (kind) Produces() string { return stages.Sensitivity }
func (kind) Inputs() []stages.Slot {
	return []stages.Slot{{Name: "metrics", Required: true, Many: true, Accepts: []string{stages.Selectivity}, Doc: "metric stages, the baseline first"}}
}

// table is one input's layer table, read.
type table struct {
	level, agg string
	items      int
	values     map[string][]float64
	selected   map[string][]bool
}

// Run compares the variants; see the package doc.
func (kind) Run(ctx context.Context, job *stages.Job) error {
	p := job.Params.(*Params)
	ins := job.Inputs["metrics"]
	if len(ins) < 2 {
		return fmt.Errorf("variants: want two or more metric stages in metrics, got %d", len(ins))
	}
	layers, err := data.SummaryLayers(ins[0])
	if err != nil {
		return fmt.Errorf("variants: %w", err)
	}
	if len(p.Layers) > 0 {
		for _, l := range p.Layers {
			if !slices.Contains(layers, l) {
				return fmt.Errorf("variants: input %s has no layer %q; layers: %v", ins[0].Stage, l, layers)
			}
		}
		layers = p.Layers
	}
	keys := matrixKeys(ins)
	var pr pairRows
	pc := percentRows{keys: keys, matrix: make([][]string, len(keys))}
	var sc stats.Scratch
	bar := job.Progress.Bar("variants", "layers", int64(len(layers)))
	defer bar.Done()
	for _, layer := range layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		tabs := make([]*table, len(ins))
		for i, in := range ins {
			if tabs[i], err = readTable(in, layer); err != nil {
				return fmt.Errorf("variants: %w", err)
			}
			if tabs[i].items != tabs[0].items {
				return fmt.Errorf("variants: layer %s: %s has %d items, %s has %d: variants must be compared at the same level",
					layer, ins[0].Stage, tabs[0].items, in.Stage, tabs[i].items)
			}
		}
		for _, m := range data.Metrics {
			base := math.NaN()
			if s, ok := tabs[0].selected[m]; ok {
				base = data.Percent(count(s), tabs[0].items)
			}
			for i, t := range tabs {
				s, ok := t.selected[m]
				if !ok {
					continue
				}
				pc.add(ins[i], layer, t.level, t.agg, m, t.items, count(s), base)
				for j := i + 1; j < len(tabs); j++ {
					u := tabs[j]
					if _, ok := u.selected[m]; !ok {
						continue
					}
					pr.add(layer, m, ins[i].Stage, ins[j].Stage, t.items,
						sc.Spearman(stats.TieRound(t.values[m]), stats.TieRound(u.values[m])),
						stats.Jaccard(s, u.selected[m]), count(s), count(u.selected[m]))
				}
			}
		}
		bar.Add(1)
	}
	if err := pr.write(job.Output(data.VariantPairsFile)); err != nil {
		return fmt.Errorf("variants: %w", err)
	}
	if err := pc.write(job.Output(data.VariantPercentFile)); err != nil {
		return fmt.Errorf("variants: %w", err)
	}
	return nil
}

// readTable reads a metric stage's table of layer: every metric's value
// for ranking and selection it holds.
func readTable(in stages.Input, layer string) (*table, error) {
	name := layer + ".arrow"
	if !slices.Contains(in.Files, name) {
		return nil, fmt.Errorf("input %s has no layer %s", in.Stage, layer)
	}
	r, err := arrowfile.Open(in.Path(name))
	if err != nil {
		return nil, fmt.Errorf("input %s: %w", in.Stage, err)
	}
	defer r.Close()
	t := &table{items: int(r.NumRows()), values: map[string][]float64{}, selected: map[string][]bool{}}
	t.level, _ = arrowfile.Meta(r.Schema(), "level")
	t.agg, _ = arrowfile.Meta(r.Schema(), "aggregation")
	for _, m := range data.Metrics {
		if len(r.Schema().FieldIndices(data.SelectedColumn(m))) == 0 {
			continue
		}
		if t.selected[m], err = arrowfile.BoolColumn(r, data.SelectedColumn(m)); err != nil {
			return nil, fmt.Errorf("input %s: %s: %w", in.Stage, name, err)
		}
		if t.values[m], err = arrowfile.Float64Column(r, data.ValueColumn[m]); err != nil {
			return nil, fmt.Errorf("input %s: %s: %w", in.Stage, name, err)
		}
	}
	return t, nil
}

// matrixKeys are the inputs' matrix keys, sorted.
func matrixKeys(ins []stages.Input) []string {
	set := map[string]bool{}
	for _, in := range ins {
		for k := range in.Matrix {
			set[k] = true
		}
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// pairRows collects the rows of pairs.arrow.
type pairRows struct {
	layer, metric, a, b []string
	items, ka, kb       []int64
	rho, jac, pa, pb    []float64
}

func (r *pairRows) add(layer, m, a, b string, items int, rho, jac float64, ka, kb int) {
	r.layer, r.metric, r.a, r.b = append(r.layer, layer), append(r.metric, m), append(r.a, a), append(r.b, b)
	r.items, r.ka, r.kb = append(r.items, int64(items)), append(r.ka, int64(ka)), append(r.kb, int64(kb))
	r.rho, r.jac = append(r.rho, rho), append(r.jac, jac)
	r.pa, r.pb = append(r.pa, data.Percent(ka, items)), append(r.pb, data.Percent(kb, items))
}

func (r *pairRows) write(path string) error {
	var t arrowfile.Table
	t.Strings("layer", r.layer)
	t.Strings("metric", r.metric)
	t.Strings("a", r.a)
	t.Strings("b", r.b)
	t.Int64s("items", r.items)
	t.Float64s("spearman", r.rho)
	t.Float64s("jaccard", r.jac)
	t.Int64s("selected_a", r.ka)
	t.Int64s("selected_b", r.kb)
	t.Float64s("percent_a", r.pa)
	t.Float64s("percent_b", r.pb)
	return t.Write(path, nil)
}

// fixed are percent.arrow's own columns, which matrix keys must not shadow.
var fixed = []string{"variant", "layer", "level", "aggregation", "metric", "items", "selected", "percent", "delta_percent"}

// percentRows collects the rows of percent.arrow.
type percentRows struct {
	keys                      []string
	variant                   []string
	matrix                    [][]string
	layer, level, agg, metric []string
	items, selected           []int64
	pct, delta                []float64
}

func (r *percentRows) add(in stages.Input, layer, level, agg, m string, items, k int, base float64) {
	r.variant = append(r.variant, in.Stage)
	for i, key := range r.keys {
		r.matrix[i] = append(r.matrix[i], in.Matrix[key])
	}
	r.layer, r.level, r.agg, r.metric = append(r.layer, layer), append(r.level, level), append(r.agg, agg), append(r.metric, m)
	r.items, r.selected = append(r.items, int64(items)), append(r.selected, int64(k))
	p := data.Percent(k, items)
	r.pct, r.delta = append(r.pct, p), append(r.delta, p-base)
}

func (r *percentRows) write(path string) error {
	var t arrowfile.Table
	t.Strings("variant", r.variant)
	for i, key := range r.keys {
		name := key
		if slices.Contains(fixed, key) {
			name = "matrix_" + key
		}
		t.Strings(name, r.matrix[i])
	}
	t.Strings("layer", r.layer)
	t.Strings("level", r.level)
	t.Strings("aggregation", r.agg)
	t.Strings("metric", r.metric)
	t.Int64s("items", r.items)
	t.Int64s("selected", r.selected)
	t.Float64s("percent", r.pct)
	t.Float64s("delta_percent", r.delta)
	return t.Write(path, nil)
}

func count(b []bool) int {
	n := 0
	for _, v := range b {
		if v {
			n++
		}
	}
	return n
}
