// Package reliability is the `reliability` stage kind: split-half
// reliability of the face-selectivity metrics. If a metric's values or its
// selected set change when half of the images are swapped for the other
// half, its disagreement with other metrics or with lesioning says little;
// this kind measures how much they change.
//
// # Input and parameters
//
// One stage in slot acts, as for the metric kind, and every parameter of
// the metric kind, which mean what they mean there. Further parameters:
// splits R (default 100) and seed.
//
// # Splits
//
// The m images the metrics compare are the design's positions 0 … m−1 in
// the metric kind's order (study.Study). Split r (r = 0 … R−1) is drawn
// by stats.SplitMix64 from one stream seeded with seed, the splits one
// after the other: for each category of the included images, in the order
// of its first position, its positions in increasing order are shuffled
// (Fisher–Yates from the end, stats.SplitMix64.Shuffle); the first ⌊n/2⌋
// go to half a, the other ⌈n/2⌉ to half b. Each half is the design on its
// images with their own labels (study.Study.Subset): P, the comparison
// groups and the categories restricted to the half, so every category is
// halved and every comparison keeps about half its images. A half on which
// a requested metric is undefined (a t-test group of fewer than two
// images) is an error naming the split.
//
// # Per split
//
// For each layer and metric, the metric's values for ranking
// (data.ValueColumn) on half a and on half b, over the layer's items:
//
//	ρ = Spearman(round(values_a), round(values_b))  (stats.Spearman; NaN pairs dropped)
//	reliability = 2ρ / (1 + ρ)                  (Spearman–Brown: the full set's reliability)
//	jaccard = |S_a ∩ S_b| / |S_a ∪ S_b|          (S: the selected items; NaN when neither selects any)
//
// round is stats.TieRound (40 significant bits, about 12 decimal digits):
// the same statistic summed in another order (two items whose responses
// are the same values in another order) then ties as it should, instead of
// being ranked by rounding error.
//
// # Outputs
//
// halves.arrow: one row per split and position: split, position, image
// (its image-table row), all int64, and half ("a" or "b").
//
// splits.arrow: one row per layer × metric × split: layer, level,
// aggregation, metric, split (int64), items (int64), spearman,
// reliability, jaccard, selected_a, selected_b (int64), percent_a,
// percent_b (100·selected/items).
//
// summary.arrow: one row per layer × metric: layer, level, aggregation,
// metric, items, splits (int64), spearman_mean, reliability_mean,
// reliability_q025, reliability_q975, jaccard_mean, jaccard_q025,
// jaccard_q975, percent_mean (over both halves of every split). Means
// leave out NaN (numpy.nanmean); the 2.5 and 97.5 percentiles over the
// splits are stats.Quantiles (numpy.nanquantile).
//
// # Computation
//
// The 2R halves go through study.Study.Compute: every chunk of items is
// read once per batch of halves, and each item is computed on all halves
// of the batch while its responses are in cache. Memory is the metric
// kind's chunk plus at most about study.ResultBytes of per-item results.
package reliability

import (
	"context"
	"fmt"
	"slices"

	"selectivity/cache/arrowfile"
	"selectivity/stages"
	"selectivity/stages/internal/data"
	"selectivity/stages/internal/stats"
	"selectivity/stages/internal/study"
)

func init() { stages.Register(kind{}) }

// Params are the reliability kind's parameters: the metric kind's and the
// draws.
type Params struct {
	study.Params `yaml:",inline"`
	Splits       int   `yaml:"splits" min:"1" max:"100000" doc:"number of random split-halves R"`
	Seed         int64 `yaml:"seed" doc:"seed of the splits' splitmix64 stream"`
}

type kind struct{}

func (kind) Name() string    { return "reliability" }
func (kind) Version() string { return "1" }
func (kind) Doc() string {
	return "split-half reliability of the metrics: Spearman–Brown-corrected reliability of the values and Jaccard overlap of the selected sets between random halves of each category's images"
}

func (kind) NewParams() any {
	return &Params{Params: *study.Defaults(), Splits: 100, Seed: 1}
}

func (kind) Produces() string { return stages.Reliability }
func (kind) Inputs() []stages.Slot {
	return []stages.Slot{study.ActsSlot}
}

// Halves draws the R splits of the package doc over positions whose
// categories are cat (cat[j]: position j's): for each split, the
// increasing positions of half a and of half b.
func Halves(cat []string, R int, seed int64) [][2][]int {
	var names []string
	byCat := map[string][]int{}
	for j, c := range cat {
		if _, ok := byCat[c]; !ok {
			names = append(names, c)
		}
		byCat[c] = append(byCat[c], j)
	}
	r := stats.SplitMix64{State: uint64(seed)}
	out := make([][2][]int, R)
	for s := range out {
		var a, b []int
		for _, c := range names {
			pos := slices.Clone(byCat[c])
			r.Shuffle(pos)
			a, b = append(a, pos[:len(pos)/2]...), append(b, pos[len(pos)/2:]...)
		}
		slices.Sort(a)
		slices.Sort(b)
		out[s] = [2][]int{a, b}
	}
	return out
}

// Run computes the split-half reliability of every selected layer; see the
// package doc.
func (kind) Run(ctx context.Context, job *stages.Job) error {
	p := job.Params.(*Params)
	mp := &p.Params
	st, err := study.OpenJob(job, mp)
	if err != nil {
		return fmt.Errorf("reliability: %w", err)
	}
	cat := st.Categories()
	halves := Halves(cat, p.Splits, p.Seed)
	var views []*study.View
	for s, h := range halves {
		for k, pos := range h {
			v, err := st.Subset(pos)
			if err != nil {
				return fmt.Errorf("reliability: input %s: split %d, half %c: %w", st.Stage, s, 'a'+k, err)
			}
			views = append(views, v)
		}
	}
	if err := writeHalves(job.Output(data.ReliabilityHalvesFile), st, halves); err != nil {
		return fmt.Errorf("reliability: %w", err)
	}
	metrics := mp.Requested()
	var spl splitTable
	var sum summaryTable
	var sc stats.Scratch
	for _, l := range st.Layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		rows := map[string]*perSplit{}
		for _, m := range metrics {
			rows[m] = &perSplit{}
		}
		var a *study.Result
		items := 0
		err := st.Compute(ctx, job, l, views, func(v int, r *study.Result) error {
			if v%2 == 0 {
				a = r
				return nil
			}
			items = r.Items()
			for _, m := range metrics {
				row := compare(&sc, a, r, m)
				rows[m].add(row, items)
				spl.add(l.Name, l.Level, l.Aggregation, m, v/2, items, row)
			}
			a = nil
			return nil
		})
		if err != nil {
			return fmt.Errorf("reliability: input %s: layer %s: %w", st.Stage, l.Name, err)
		}
		for _, m := range metrics {
			s := sum.add(l.Name, l.Level, l.Aggregation, m, items, rows[m])
			if job.Logf != nil {
				job.Logf("%s (%s, %d items) %s: reliability %.3f [%.3f, %.3f], Jaccard %.3f [%.3f, %.3f]",
					l.Name, l.Level, items, m, s[0], s[1], s[2], s[3], s[4], s[5])
			}
		}
	}
	meta := map[string]string{"input": st.Stage, "splits": fmt.Sprint(p.Splits), "seed": fmt.Sprint(p.Seed)}
	if err := spl.write(job.Output(data.ReliabilitySplitsFile), meta); err != nil {
		return fmt.Errorf("reliability: %w", err)
	}
	if err := sum.write(job.Output(data.ReliabilitySummaryFile), meta); err != nil {
		return fmt.Errorf("reliability: %w", err)
	}
	return nil
}

// splitRow is one split's comparison of the halves for one metric.
type splitRow struct {
	rho, rel, jac float64
	ka, kb        int
}

// compare compares metric m between the halves' results a and b.
func compare(sc *stats.Scratch, a, b *study.Result, m string) splitRow {
	rho := sc.Spearman(stats.TieRound(a.Values(m)), stats.TieRound(b.Values(m)))
	sa, sb := a.Selected(m), b.Selected(m)
	jac, ka, kb := stats.Jaccard(sa, sb), count(sa), count(sb)
	return splitRow{rho: rho, rel: 2 * rho / (1 + rho), jac: jac, ka: ka, kb: kb}
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

// perSplit collects one layer and metric's rows over the splits.
type perSplit struct {
	rho, rel, jac, pct []float64
}

func (p *perSplit) add(r splitRow, items int) {
	p.rho, p.rel, p.jac = append(p.rho, r.rho), append(p.rel, r.rel), append(p.jac, r.jac)
	p.pct = append(p.pct, data.Percent(r.ka, items), data.Percent(r.kb, items))
}

// writeHalves writes halves.arrow.
func writeHalves(path string, st *study.Study, halves [][2][]int) error {
	var split, pos, img []int64
	var half []string
	for s, h := range halves {
		side := make([]string, st.Included())
		for k, ps := range h {
			for _, j := range ps {
				side[j] = string(rune('a' + k))
			}
		}
		for j, x := range side {
			split, pos, img, half = append(split, int64(s)), append(pos, int64(j)), append(img, int64(st.Row(j))), append(half, x)
		}
	}
	var t arrowfile.Table
	t.Int64s("split", split)
	t.Int64s("position", pos)
	t.Int64s("image", img)
	t.Strings("half", half)
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

// splitTable collects the rows of splits.arrow.
type splitTable struct {
	layerKey
	split, items, ka, kb  []int64
	rho, rel, jac, pa, pb []float64
}

func (t *splitTable) add(layer, level, agg, m string, s, items int, r splitRow) {
	t.layerKey.add(layer, level, agg, m)
	t.split, t.items, t.ka, t.kb = append(t.split, int64(s)), append(t.items, int64(items)), append(t.ka, int64(r.ka)), append(t.kb, int64(r.kb))
	t.rho, t.rel, t.jac = append(t.rho, r.rho), append(t.rel, r.rel), append(t.jac, r.jac)
	t.pa, t.pb = append(t.pa, data.Percent(r.ka, items)), append(t.pb, data.Percent(r.kb, items))
}

func (t *splitTable) write(path string, meta map[string]string) error {
	var a arrowfile.Table
	t.columns(&a)
	a.Int64s("split", t.split)
	a.Int64s("items", t.items)
	a.Float64s("spearman", t.rho)
	a.Float64s("reliability", t.rel)
	a.Float64s("jaccard", t.jac)
	a.Int64s("selected_a", t.ka)
	a.Int64s("selected_b", t.kb)
	a.Float64s("percent_a", t.pa)
	a.Float64s("percent_b", t.pb)
	return a.Write(path, meta)
}

// summaryTable collects the rows of summary.arrow.
type summaryTable struct {
	layerKey
	items, splits []int64
	cols          [8][]float64
}

var summaryCols = [8]string{"spearman_mean", "reliability_mean", "reliability_q025", "reliability_q975",
	"jaccard_mean", "jaccard_q025", "jaccard_q975", "percent_mean"}

// add appends a layer and metric's row; it returns reliability mean, q025,
// q975 and Jaccard mean, q025, q975, for the log.
func (t *summaryTable) add(layer, level, agg, m string, items int, p *perSplit) []float64 {
	t.layerKey.add(layer, level, agg, m)
	t.items, t.splits = append(t.items, int64(items)), append(t.splits, int64(len(p.rel)))
	rq, jq := stats.Quantiles(p.rel, 0.025, 0.975), stats.Quantiles(p.jac, 0.025, 0.975)
	row := [8]float64{stats.NanMean(p.rho), stats.NanMean(p.rel), rq[0], rq[1], stats.NanMean(p.jac), jq[0], jq[1], stats.NanMean(p.pct)}
	for k := range row {
		t.cols[k] = append(t.cols[k], row[k])
	}
	return row[1:7]
}

func (t *summaryTable) write(path string, meta map[string]string) error {
	var a arrowfile.Table
	t.columns(&a)
	a.Int64s("items", t.items)
	a.Int64s("splits", t.splits)
	for k, name := range summaryCols {
		a.Float64s(name, t.cols[k])
	}
	return a.Write(path, meta)
}
