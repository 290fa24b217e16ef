// Package permutation is the `permutation` stage kind: the permutation
// null of the face-selectivity metrics. It answers "how many items would each metric
// select if the preferred-category labels meant nothing?": the labels are
// shuffled among the images the metrics compare, the metrics recomputed,
// and the % selected under the shuffles set against the observed one.
//
// # Input and parameters
//
// One stage in slot acts, as for the metric kind, and every parameter of
// the metric kind (preferred, thresholds, variants, layers, ...), which
// mean what they mean there: the observed results are the metric kind's
// own. Further parameters: permutations P (default 100) and seed.
//
// # Permutations
//
// The m images the metrics compare (P and N, scrambled images left out
// unless included) are the design's positions 0 … m−1, in the metric
// kind's order: P, then N by domain, category and row (study.Study).
// Permutation b (b = 0 … P−1) is drawn by stats.SplitMix64 from one
// stream seeded with seed: start from the identity 0 … m−1 and Shuffle it
// (Fisher–Yates from the end); the permutations are drawn one after the
// other from the same stream. Under permutation π, position j carries its
// own labels (preferred, domain, category) and the responses of the image
// at position π(j): every group keeps its size, and the images are
// exchanged among the labels, so the null is that of exchangeable labels
// (all of them, not only P against N, since the t-test and the
// per-category rank-sum compare with N's groups). The same permutations
// serve every layer.
//
// # Outputs
//
// permutations.arrow: one row per permutation and position: permutation,
// position, source (π(position)) and image (the image-table row whose
// responses stand at the position), all int64.
//
// null.arrow: one row per layer × metric × permutation: layer, level,
// aggregation, metric, permutation (int64), items (int64), selected
// (int64), percent (float64, 100·selected/items), and the distribution of
// the metric's values for ranking (data.ValueColumn) over the layer's
// items: value_mean (the mean of the values that are not NaN),
// value_q05, value_q50, value_q95 (stats.Quantiles: numpy.nanquantile).
//
// summary.arrow: one row per layer × metric: layer, level, aggregation,
// metric, items, permutations (int64), observed_selected (int64),
// observed_percent, null_mean_percent (the mean of percent over the
// permutations), null_q025_percent, null_q975_percent (its 2.5 and 97.5
// percentiles, stats.Quantiles), false_positive_rate (null_mean_percent /
// 100: under shuffled labels every item selected is a false positive) and
// p_value, the permutation p of the observed count k,
//
//	p = (1 + #{b : selected_b ≥ k}) / (1 + P)
//
// (Phipson & Smyth 2010: never 0, the smallest possible is 1/(1+P)).
//
// # Computation
//
// The identity and the P permutations are computed together through
// study.Study.Compute: every chunk of items is read once per batch of
// designs, and each item is computed under every design of the batch
// while its responses are in cache. Memory is the metric kind's chunk
// plus at most about study.ResultBytes of per-item results.
package permutation

import (
	"context"
	"fmt"

	"selectivity/cache/arrowfile"
	"selectivity/stages"
	"selectivity/stages/internal/data"
	"selectivity/stages/internal/stats"
	"selectivity/stages/internal/study"
)

func init() { stages.Register(kind{}) }

// Params are the null kind's parameters: the metric kind's and the draws.
type Params struct {
	study.Params `yaml:",inline"`
	Permutations int   `yaml:"permutations" min:"1" max:"100000" doc:"number of label permutations P"`
	Seed         int64 `yaml:"seed" doc:"seed of the permutations' splitmix64 stream"`
}

type kind struct{}

func (kind) Name() string    { return "permutation" }
func (kind) Version() string { return "1" }
func (kind) Doc() string {
	return "permutation null of the metrics: % selected per layer with the preferred-category labels shuffled, false-positive rates and the permutation p of the observed % selected"
}

func (kind) NewParams() any {
	return &Params{Params: *study.Defaults(), Permutations: 100, Seed: 1}
}

func (kind) Produces() string { return stages.NullDistribution }
func (kind) Inputs() []stages.Slot {
	return []stages.Slot{study.ActsSlot}
}

// Permutations draws the P permutations of 0 … m−1 of the package doc.
func Permutations(m, P int, seed int64) [][]int {
	r := stats.SplitMix64{State: uint64(seed)}
	out := make([][]int, P)
	for b := range out {
		perm := make([]int, m)
		for j := range perm {
			perm[j] = j
		}
		r.Shuffle(perm)
		out[b] = perm
	}
	return out
}

// Run computes the null of every selected layer; see the package doc.
func (kind) Run(ctx context.Context, job *stages.Job) error {
	p := job.Params.(*Params)
	mp := &p.Params
	st, err := study.OpenJob(job, mp)
	if err != nil {
		return fmt.Errorf("permutation: %w", err)
	}
	m := st.Included()
	perms := Permutations(m, p.Permutations, p.Seed)
	views := []*study.View{st.Identity()}
	for _, perm := range perms {
		v, err := st.Permuted(perm)
		if err != nil {
			return fmt.Errorf("permutation: %w", err)
		}
		views = append(views, v)
	}
	if err := writePermutations(job.Output(data.PermutationsFile), st, perms); err != nil {
		return fmt.Errorf("permutation: %w", err)
	}
	metrics := mp.Requested()
	var nt nullTable
	var sum summaryTable
	for _, l := range st.Layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		observed := map[string]int{}
		counts := map[string][]int{}
		items := 0
		err := st.Compute(ctx, job, l, views, func(v int, r *study.Result) error {
			items = r.Items()
			for _, name := range metrics {
				k := r.Count(name)
				if v == 0 {
					observed[name] = k
					continue
				}
				counts[name] = append(counts[name], k)
				nt.add(l.Name, l.Level, l.Aggregation, name, v-1, items, k, r.Values(name))
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("permutation: input %s: layer %s: %w", st.Stage, l.Name, err)
		}
		for _, name := range metrics {
			row := sum.add(l.Name, l.Level, l.Aggregation, name, items, observed[name], counts[name])
			if job.Logf != nil {
				job.Logf("%s (%s, %d items) %s: observed %.2f%%, null %.2f%% [%.2f, %.2f], p = %.4g",
					l.Name, l.Level, items, name, row.observedPct, row.meanPct, row.lo, row.hi, row.p)
			}
		}
	}
	meta := map[string]string{"input": st.Stage, "permutations": fmt.Sprint(p.Permutations), "seed": fmt.Sprint(p.Seed)}
	if err := nt.write(job.Output(data.PermutationNullFile), meta); err != nil {
		return fmt.Errorf("permutation: %w", err)
	}
	if err := sum.write(job.Output(data.PermutationSummaryFile), meta); err != nil {
		return fmt.Errorf("permutation: %w", err)
	}
	return nil
}

// writePermutations writes permutations.arrow.
func writePermutations(path string, st *study.Study, perms [][]int) error {
	var perm, pos, src, img []int64
	for b, pi := range perms {
		for j, s := range pi {
			perm, pos, src, img = append(perm, int64(b)), append(pos, int64(j)), append(src, int64(s)), append(img, int64(st.Row(s)))
		}
	}
	var t arrowfile.Table
	t.Int64s("permutation", perm)
	t.Int64s("position", pos)
	t.Int64s("source", src)
	t.Int64s("image", img)
	return t.Write(path, map[string]string{"input": st.Stage})
}

// layerKey are the leading columns of both tables.
type layerKey struct {
	layer, level, agg, metric []string
}

func (k *layerKey) add(layer, level, agg, m string) {
	k.layer, k.level, k.agg, k.metric = append(k.layer, layer), append(k.level, level), append(k.agg, agg), append(k.metric, m)
}

func (k *layerKey) columns(t *arrowfile.Table) {
	t.Strings("layer", k.layer)
	t.Strings("level", k.level)
	t.Strings("aggregation", k.agg)
	t.Strings("metric", k.metric)
}

// nullTable collects the rows of null.arrow.
type nullTable struct {
	layerKey
	perm, items, selected        []int64
	percent, mean, q05, q50, q95 []float64
}

func (t *nullTable) add(layer, level, agg, m string, b, items, k int, values []float64) {
	t.layerKey.add(layer, level, agg, m)
	t.perm, t.items, t.selected = append(t.perm, int64(b)), append(t.items, int64(items)), append(t.selected, int64(k))
	t.percent = append(t.percent, data.Percent(k, items))
	t.mean = append(t.mean, stats.NanMean(values))
	q := stats.Quantiles(values, 0.05, 0.5, 0.95)
	t.q05, t.q50, t.q95 = append(t.q05, q[0]), append(t.q50, q[1]), append(t.q95, q[2])
}

func (t *nullTable) write(path string, meta map[string]string) error {
	var a arrowfile.Table
	t.columns(&a)
	a.Int64s("permutation", t.perm)
	a.Int64s("items", t.items)
	a.Int64s("selected", t.selected)
	a.Float64s("percent", t.percent)
	a.Float64s("value_mean", t.mean)
	a.Float64s("value_q05", t.q05)
	a.Float64s("value_q50", t.q50)
	a.Float64s("value_q95", t.q95)
	return a.Write(path, meta)
}

// summaryTable collects the rows of summary.arrow.
type summaryTable struct {
	layerKey
	items, perms, observed                    []int64
	observedPct, meanPct, lo, hi, fpr, pvalue []float64
}

// summaryRow is one row's figures, for the log.
type summaryRow struct{ observedPct, meanPct, lo, hi, p float64 }

func (t *summaryTable) add(layer, level, agg, m string, items, observed int, counts []int) summaryRow {
	t.layerKey.add(layer, level, agg, m)
	pct := make([]float64, len(counts))
	ge := 0
	for b, k := range counts {
		pct[b] = data.Percent(k, items)
		if k >= observed {
			ge++
		}
	}
	q := stats.Quantiles(pct, 0.025, 0.975)
	row := summaryRow{
		observedPct: data.Percent(observed, items),
		meanPct:     stats.NanMean(pct),
		lo:          q[0],
		hi:          q[1],
		p:           float64(1+ge) / float64(1+len(counts)),
	}
	t.items, t.perms, t.observed = append(t.items, int64(items)), append(t.perms, int64(len(counts))), append(t.observed, int64(observed))
	t.observedPct, t.meanPct = append(t.observedPct, row.observedPct), append(t.meanPct, row.meanPct)
	t.lo, t.hi = append(t.lo, row.lo), append(t.hi, row.hi)
	t.fpr, t.pvalue = append(t.fpr, row.meanPct/100), append(t.pvalue, row.p)
	return row
}

func (t *summaryTable) write(path string, meta map[string]string) error {
	var a arrowfile.Table
	t.columns(&a)
	a.Int64s("items", t.items)
	a.Int64s("permutations", t.perms)
	a.Int64s("observed_selected", t.observed)
	a.Float64s("observed_percent", t.observedPct)
	a.Float64s("null_mean_percent", t.meanPct)
	a.Float64s("null_q025_percent", t.lo)
	a.Float64s("null_q975_percent", t.hi)
	a.Float64s("false_positive_rate", t.fpr)
	a.Float64s("p_value", t.pvalue)
	return a.Write(path, meta)
}
