// Package correlate is the `correlate` stage kind: Spearman's ρ between
// per-item value vectors (analyses.md, Agreement), by stats.Spearman — the
// Pearson correlation of average ranks, ties sharing their mean rank, NaN
// pairs dropped, ±Inf ranked as the extremes; scipy.stats.spearmanr.
//
// # Mode metrics (default): inter-metric consistency
//
// Slot values takes any number of metric stages (e.g. every expansion of a
// matrix stage: metric@trained-l2, metric@untrained-l2, ...). For each
// input and each of its layers (in the order of its summary.arrow), ρ is
// computed for every pair of the metrics the layer's table holds, on each
// metric's value for ranking (fsi, dprime, wilcoxon_z, ttest_t: six pairs
// for four metrics). Outputs:
//
//   - pairs.arrow: input (the stage name), one utf8 column per matrix key
//     of the inputs (their values; "" for an input without that key; a key
//     that clashes with a fixed column is prefixed "matrix_"), layer,
//     level, aggregation, metric_a, metric_b, rho (float64), n (int64, the
//     items in which neither value is NaN).
//   - consistency.arrow: the same leading columns, layer, level,
//     aggregation, mean_rho, sem (sample SD / sqrt(pairs), stats.MeanSEM)
//     and pairs (int64, the pairs averaged). A pair whose ρ is NaN (a metric
//     constant over the layer) is left out of the mean and not counted.
//
// These are the tables behind the study's Fig. 1f: the matrix columns put
// trained and untrained networks, unit and kernel level, side by side.
//
// # Mode values: any two value vectors over the same items
//
// Slots x and y take one stage each; x_column of x's <layer>.arrow is
// correlated with y_column of y's <layer>.arrow (float64, float32 or
// integer columns), e.g. a metric's value against a lesion effect. layer
// names one layer; empty, every layer table the two stages share that
// holds the columns. The tables must have the same number of rows and,
// when both have an item column, the same items in the same order.
// Output spearman.arrow: layer, x_stage, x, y_stage, y, rho, n.
//
// With bootstrap B > 0, ρ gets a percentile interval over the items (e.g.
// the kernels of a metric–lesion ρ): for each layer a stats.SplitMix64
// stream seeded with seed draws B resamplings one after the other, each
// of the n items drawn with replacement (item i of the draw is item
// Below(n)), and ρ is recomputed on each; spearman.arrow then has the
// columns bootstrap (int64, B), rho_q025 and rho_q975 (the 2.5 and 97.5
// percentiles of the draws' ρ that are not NaN, stats.Quantiles:
// numpy.nanquantile).
package correlate

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"selectivity/cache/arrowfile"
	"selectivity/stages"
	"selectivity/stages/internal/data"
	"selectivity/stages/internal/stats"
)

func init() { stages.Register(kind{}) }

// Params are the correlate kind's parameters.
type Params struct {
	Mode    string `yaml:"mode" oneof:"metrics values" doc:"metrics: every metric pair of each values input; values: x_column of x against y_column of y"`
	XColumn string `yaml:"x_column" doc:"mode values: the column of x's layer tables"`
	YColumn string `yaml:"y_column" doc:"mode values: the column of y's layer tables"`
	Layer   string `yaml:"layer" doc:"mode values: the layer (default: every layer both inputs have)"`
	// Bootstrap and Seed: see the package doc.
	Bootstrap int   `yaml:"bootstrap" min:"0" max:"100000" doc:"mode values: bootstrap draws of the items for a 95% percentile interval of ρ (0: none)"`
	Seed      int64 `yaml:"seed" doc:"mode values: seed of the bootstrap draws' splitmix64 stream"`
}

// Validate checks what the tags cannot.
func (p *Params) Validate() []stages.FieldError {
	var errs []stages.FieldError
	if p.Mode == "values" {
		if p.XColumn == "" {
			errs = append(errs, stages.FieldError{Field: "x_column", Msg: "mode values needs x_column"})
		}
		if p.YColumn == "" {
			errs = append(errs, stages.FieldError{Field: "y_column", Msg: "mode values needs y_column"})
		}
	}
	return errs
}

type kind struct{}

func (kind) Name() string    { return "correlate" }
func (kind) Version() string { return "1" }
func (kind) Doc() string {
	return "Spearman ρ between per-item values: every metric pair per layer (consistency), or any two columns"
}
func (kind) NewParams() any   { return &Params{Mode: "metrics"} }
func (kind) Produces() string { return stages.Correlations }
func (kind) Inputs() []stages.Slot {
	return []stages.Slot{
		{Name: "values", Many: true, Accepts: []string{stages.Selectivity}, Doc: "mode metrics: metric stages"},
		{Name: "x", Doc: "mode values: the stage holding x_column"},
		{Name: "y", Doc: "mode values: the stage holding y_column"},
	}
}

// Run computes the correlations; see the package doc.
func (kind) Run(ctx context.Context, job *stages.Job) error {
	p := job.Params.(*Params)
	if p.Mode == "values" {
		if len(job.Inputs["values"]) > 0 {
			return fmt.Errorf("correlate: mode values reads inputs x and y, not values")
		}
		if len(job.Inputs["x"]) != 1 || len(job.Inputs["y"]) != 1 {
			return fmt.Errorf("correlate: mode values needs one stage in x and one in y")
		}
		return runValues(ctx, job, p, job.Inputs["x"][0], job.Inputs["y"][0])
	}
	if len(job.Inputs["x"])+len(job.Inputs["y"]) > 0 {
		return fmt.Errorf("correlate: mode metrics reads inputs values; x and y are for mode values")
	}
	if len(job.Inputs["values"]) == 0 {
		return fmt.Errorf("correlate: mode metrics needs metric stages in inputs values")
	}
	return runMetrics(ctx, job, job.Inputs["values"])
}

// fixed are the leading and trailing columns of pairs.arrow and
// consistency.arrow, which matrix keys must not shadow.
var fixed = []string{"input", "layer", "level", "aggregation", "metric_a", "metric_b", "rho", "n", "mean_rho", "sem", "pairs"}

// rows collects the output rows of mode metrics.
type rows struct {
	keys   []string // matrix keys
	input  []string
	matrix [][]string // per key
	layer  []string
	level  []string
	agg    []string
}

func (r *rows) add(in stages.Input, layer, level, agg string) {
	r.input = append(r.input, in.Stage)
	for k, key := range r.keys {
		r.matrix[k] = append(r.matrix[k], in.Matrix[key])
	}
	r.layer = append(r.layer, layer)
	r.level = append(r.level, level)
	r.agg = append(r.agg, agg)
}

func (r *rows) lead(t *arrowfile.Table) {
	t.Strings("input", r.input)
	for k, key := range r.keys {
		name := key
		if slices.Contains(fixed, key) {
			name = "matrix_" + key
		}
		t.Strings(name, r.matrix[k])
	}
	t.Strings("layer", r.layer)
	t.Strings("level", r.level)
	t.Strings("aggregation", r.agg)
}

// runMetrics is mode metrics.
func runMetrics(ctx context.Context, job *stages.Job, ins []stages.Input) error {
	keySet := map[string]bool{}
	for _, in := range ins {
		for k := range in.Matrix {
			keySet[k] = true
		}
	}
	keys := make([]string, 0, len(keySet))
	for k := range keySet {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	pr := &rows{keys: keys, matrix: make([][]string, len(keys))}
	cr := &rows{keys: keys, matrix: make([][]string, len(keys))}
	var metricA, metricB []string
	var rho, meanRho, sem []float64
	var n, npairs []int64
	var s stats.Scratch

	for _, in := range ins {
		layers, err := data.SummaryLayers(in)
		if err != nil {
			return fmt.Errorf("correlate: %w", err)
		}
		bar := job.Progress.Bar("correlate "+in.Stage, "layers", int64(len(layers)))
		for _, layer := range layers {
			if err := ctx.Err(); err != nil {
				bar.Done()
				return err
			}
			vals, names, level, agg, err := readMetricTable(in, layer)
			if err != nil {
				bar.Done()
				return fmt.Errorf("correlate: %w", err)
			}
			var rhos []float64
			for a := range names {
				for b := a + 1; b < len(names); b++ {
					r := s.Spearman(vals[a], vals[b])
					pr.add(in, layer, level, agg)
					metricA = append(metricA, names[a])
					metricB = append(metricB, names[b])
					rho = append(rho, r)
					n = append(n, int64(pairCount(vals[a], vals[b])))
					if !math.IsNaN(r) {
						rhos = append(rhos, r)
					}
				}
			}
			m, se := math.NaN(), math.NaN()
			if len(rhos) > 0 {
				m, se = stats.MeanSEM(rhos)
			}
			cr.add(in, layer, level, agg)
			meanRho = append(meanRho, m)
			sem = append(sem, se)
			npairs = append(npairs, int64(len(rhos)))
			bar.Add(1)
		}
		bar.Done()
	}

	var t arrowfile.Table
	pr.lead(&t)
	t.Strings("metric_a", metricA)
	t.Strings("metric_b", metricB)
	t.Float64s("rho", rho)
	t.Int64s("n", n)
	if err := t.Write(job.Output(data.CorrelatePairsFile), nil); err != nil {
		return fmt.Errorf("correlate: %w", err)
	}
	cr.lead(&t)
	t.Float64s("mean_rho", meanRho)
	t.Float64s("sem", sem)
	t.Int64s("pairs", npairs)
	if err := t.Write(job.Output(data.ConsistencyFile), nil); err != nil {
		return fmt.Errorf("correlate: %w", err)
	}
	return nil
}

// readMetricTable reads the ranking values of the metrics a metric stage's
// layer table holds, in data.Metrics order, and its level and aggregation.
func readMetricTable(in stages.Input, layer string) (vals [][]float64, names []string, level, agg string, err error) {
	r, err := arrowfile.Open(in.Path(layer + ".arrow"))
	if err != nil {
		return nil, nil, "", "", fmt.Errorf("input %s: layer %s: %w", in.Stage, layer, err)
	}
	defer r.Close()
	level, _ = arrowfile.Meta(r.Schema(), data.LevelKey)
	agg, _ = arrowfile.Meta(r.Schema(), data.AggregationKey)
	for _, m := range data.Metrics {
		col := data.ValueColumn[m]
		if len(r.Schema().FieldIndices(col)) == 0 {
			continue
		}
		v, err := arrowfile.Float64Column(r, col)
		if err != nil {
			return nil, nil, "", "", fmt.Errorf("input %s: %w", in.Stage, err)
		}
		vals = append(vals, v)
		names = append(names, m)
	}
	return vals, names, level, agg, nil
}

// pairCount counts the positions where neither x nor y is NaN.
func pairCount(x, y []float64) int {
	n := 0
	for i := range x {
		if x[i] == x[i] && y[i] == y[i] {
			n++
		}
	}
	return n
}

// runValues is mode values.
func runValues(ctx context.Context, job *stages.Job, p *Params, x, y stages.Input) error {
	layers := []string{p.Layer}
	if p.Layer == "" {
		var err error
		if layers, err = commonLayers(x, y, p); err != nil {
			return fmt.Errorf("correlate: %w", err)
		}
	}
	var layerCol, xs, xc, ys, yc []string
	var rho, lo, hi []float64
	var n []int64
	var s stats.Scratch
	for _, layer := range layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		xv, xi, err := readValues(x, layer, p.XColumn)
		if err != nil {
			return fmt.Errorf("correlate: %w", err)
		}
		yv, yi, err := readValues(y, layer, p.YColumn)
		if err != nil {
			return fmt.Errorf("correlate: %w", err)
		}
		if len(xv) != len(yv) {
			return fmt.Errorf("correlate: layer %s: %s has %d items, %s has %d", layer, x.Stage, len(xv), y.Stage, len(yv))
		}
		if xi != nil && yi != nil && !slices.Equal(xi, yi) {
			return fmt.Errorf("correlate: layer %s: %s and %s list different items (column item)", layer, x.Stage, y.Stage)
		}
		layerCol = append(layerCol, layer)
		xs, xc = append(xs, x.Stage), append(xc, p.XColumn)
		ys, yc = append(ys, y.Stage), append(yc, p.YColumn)
		rho = append(rho, s.Spearman(xv, yv))
		n = append(n, int64(pairCount(xv, yv)))
		if p.Bootstrap > 0 {
			q := stats.Quantiles(bootstrapRho(&s, xv, yv, p.Bootstrap, p.Seed), 0.025, 0.975)
			lo, hi = append(lo, q[0]), append(hi, q[1])
		}
	}
	var t arrowfile.Table
	t.Strings("layer", layerCol)
	t.Strings("x_stage", xs)
	t.Strings("x", xc)
	t.Strings("y_stage", ys)
	t.Strings("y", yc)
	t.Float64s("rho", rho)
	t.Int64s("n", n)
	if p.Bootstrap > 0 {
		b := make([]int64, len(rho))
		for i := range b {
			b[i] = int64(p.Bootstrap)
		}
		t.Int64s("bootstrap", b)
		t.Float64s("rho_q025", lo)
		t.Float64s("rho_q975", hi)
	}
	if err := t.Write(job.Output(data.SpearmanFile), nil); err != nil {
		return fmt.Errorf("correlate: %w", err)
	}
	return nil
}

// bootstrapRho is ρ of x and y on B resamplings of their items; see the
// package doc.
func bootstrapRho(s *stats.Scratch, x, y []float64, B int, seed int64) []float64 {
	r := stats.SplitMix64{State: uint64(seed)}
	bx, by := make([]float64, len(x)), make([]float64, len(y))
	out := make([]float64, B)
	for b := range out {
		for i := range bx {
			k := r.Below(len(x))
			bx[i], by[i] = x[k], y[k]
		}
		out[b] = s.Spearman(bx, by)
	}
	return out
}

// readValues reads column col of in's <layer>.arrow, and its item column
// if it has one.
func readValues(in stages.Input, layer, col string) (vals, items []float64, err error) {
	r, err := arrowfile.Open(in.Path(layer + ".arrow"))
	if err != nil {
		return nil, nil, fmt.Errorf("input %s: layer %s: %w", in.Stage, layer, err)
	}
	defer r.Close()
	if vals, err = arrowfile.Float64Column(r, col); err != nil {
		return nil, nil, fmt.Errorf("input %s: %w", in.Stage, err)
	}
	if len(r.Schema().FieldIndices("item")) == 1 {
		if items, err = arrowfile.Float64Column(r, "item"); err != nil {
			return nil, nil, fmt.Errorf("input %s: %w", in.Stage, err)
		}
	}
	return vals, items, nil
}

// commonLayers lists the tables <layer>.arrow that x holds with x_column
// and y holds with y_column, in natural order.
func commonLayers(x, y stages.Input, p *Params) ([]string, error) {
	var out []string
	for _, f := range x.Files {
		if filepath.Ext(f) != ".arrow" || !slices.Contains(y.Files, f) {
			continue
		}
		if hasColumn(x.Path(f), p.XColumn) && hasColumn(y.Path(f), p.YColumn) {
			out = append(out, strings.TrimSuffix(f, ".arrow"))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no layer table is in both %s (with column %q) and %s (with column %q)", x.Stage, p.XColumn, y.Stage, p.YColumn)
	}
	slices.SortFunc(out, data.NaturalCompare)
	return out, nil
}

// hasColumn reports whether the Arrow file at path has column col.
func hasColumn(path, col string) bool {
	r, err := arrowfile.Open(path)
	if err != nil {
		return false
	}
	defer r.Close()
	return len(r.Schema().FieldIndices(col)) == 1
}
