// Package bootstrap is the `bootstrap` stage kind: bootstrap intervals over
// images for each metric's % selected (Fig. 1b/c) and for the metrics'
// consistency (Fig. 1f), which the study reports without error bars.
//
// # Input and parameters
//
// One stage in slot acts, as for the metric kind, and every parameter of
// the metric kind, which mean what they mean there: the observed results
// are the metric kind's own. Further parameters: draws B (default 100) and
// seed.
//
// # Draws
//
// The m images the metrics compare are the design's positions 0 … m−1 in
// the metric kind's order (study.Study). Draw b (b = 0 … B−1) resamples
// the images within each category, with replacement (a stratified
// bootstrap: every group keeps its size): from one stats.SplitMix64 stream
// seeded with seed, the draws one after the other, for each category in
// the order of its first position and each of its positions j in
// increasing order, position j takes the responses of the category's
// position number Below(n) (n: the category's images, its positions in
// increasing order). Labels stay where they are (study.Study.Resampled).
//
// # Outputs
//
// draws.arrow: one row per draw and position: draw, position, source (the
// position whose responses it takes), image (that position's image-table
// row), all int64.
//
// percent.arrow: one row per layer × metric × draw: layer, level,
// aggregation, metric, draw (int64), items, selected (int64), percent.
//
// consistency.arrow: one row per layer × draw: layer, level, aggregation,
// draw (int64), mean_rho — the mean, over the pairs of requested metrics
// whose ρ is not NaN, of Spearman(TieRound(values_a), TieRound(values_b))
// between their values for ranking (as the correlate kind's consistency;
// stats.TieRound so that values equal up to rounding error tie), and
// pairs (int64, the pairs averaged).
//
// summary.arrow: one row per layer × metric: layer, level, aggregation,
// metric, items, draws (int64), observed_percent, percent_mean,
// percent_q025, percent_q975 (percentile intervals: stats.Quantiles, as
// numpy.nanquantile), observed_rho, rho_mean, rho_q025, rho_q975 (the
// layer's mean_rho, the same on each metric's row).
//
// # Computation
//
// The identity and the B draws go through study.Study.Compute, in
// batches of designs per pass over a layer's file.
package bootstrap

import (
	"context"
	"fmt"
	"math"

	"selectivity/cache/arrowfile"
	"selectivity/stages"
	"selectivity/stages/internal/data"
	"selectivity/stages/internal/stats"
	"selectivity/stages/internal/study"
)

func init() { stages.Register(kind{}) }

// Params are the bootstrap kind's parameters: the metric kind's and the
// draws.
type Params struct {
	study.Params `yaml:",inline"`
	Draws        int   `yaml:"draws" min:"1" max:"100000" doc:"number of bootstrap draws B"`
	Seed         int64 `yaml:"seed" doc:"seed of the draws' splitmix64 stream"`
}

type kind struct{}

func (kind) Name() string    { return "bootstrap" }
func (kind) Version() string { return "1" }
func (kind) Doc() string {
	return "bootstrap over images (within categories): percentile intervals of each metric's % selected and of the metrics' consistency per layer"
}

func (kind) NewParams() any {
	return &Params{Params: *study.Defaults(), Draws: 100, Seed: 1}
}

func (kind) Produces() string { return stages.BootstrapDraws }
func (kind) Inputs() []stages.Slot {
	return []stages.Slot{study.ActsSlot}
}

// Draws draws the B resamplings of the package doc over positions whose
// categories are cat: for each draw, the source of every position.
func Draws(cat []string, B int, seed int64) [][]int {
	var names []string
	byCat := map[string][]int{}
	for j, c := range cat {
		if _, ok := byCat[c]; !ok {
			names = append(names, c)
		}
		byCat[c] = append(byCat[c], j)
	}
	r := stats.SplitMix64{State: uint64(seed)}
	out := make([][]int, B)
	for b := range out {
		pick := make([]int, len(cat))
		for _, c := range names {
			pos := byCat[c]
			for _, j := range pos {
				pick[j] = pos[r.Below(len(pos))]
			}
		}
		out[b] = pick
	}
	return out
}

// Run computes the bootstrap of every selected layer; see the package doc.
func (kind) Run(ctx context.Context, job *stages.Job) error {
	p := job.Params.(*Params)
	mp := &p.Params
	st, err := study.OpenJob(job, mp)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	cat := st.Categories()
	draws := Draws(cat, p.Draws, p.Seed)
	views := []*study.View{st.Identity()}
	for _, pick := range draws {
		v, err := st.Resampled(pick)
		if err != nil {
			return fmt.Errorf("bootstrap: %w", err)
		}
		views = append(views, v)
	}
	if err := writeDraws(job.Output(data.BootstrapDrawsFile), st, draws); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	metrics := mp.Requested()
	var pt percentTable
	var ct consistencyTable
	var sum summaryTable
	var sc stats.Scratch
	for _, l := range st.Layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		observed := map[string]int{}
		pcts := map[string][]float64{}
		var obsRho float64
		var rhos []float64
		items := 0
		err := st.Compute(ctx, job, l, views, func(v int, r *study.Result) error {
			items = r.Items()
			rho, pairs := consistency(&sc, r, metrics)
			if v == 0 {
				obsRho = rho
				for _, m := range metrics {
					observed[m] = r.Count(m)
				}
				return nil
			}
			rhos = append(rhos, rho)
			ct.add(l.Name, l.Level, l.Aggregation, v-1, rho, pairs)
			for _, m := range metrics {
				k := r.Count(m)
				pcts[m] = append(pcts[m], data.Percent(k, items))
				pt.add(l.Name, l.Level, l.Aggregation, m, v-1, items, k)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("bootstrap: input %s: layer %s: %w", st.Stage, l.Name, err)
		}
		rq := stats.Quantiles(rhos, 0.025, 0.975)
		rho := [4]float64{obsRho, stats.NanMean(rhos), rq[0], rq[1]}
		for _, m := range metrics {
			q := stats.Quantiles(pcts[m], 0.025, 0.975)
			pc := [4]float64{data.Percent(observed[m], items), stats.NanMean(pcts[m]), q[0], q[1]}
			sum.add(l.Name, l.Level, l.Aggregation, m, items, len(draws), pc, rho)
			if job.Logf != nil {
				job.Logf("%s (%s, %d items) %s: %.2f%% selected [%.2f, %.2f]", l.Name, l.Level, items, m, pc[0], pc[2], pc[3])
			}
		}
		if job.Logf != nil && len(metrics) > 1 {
			job.Logf("%s: consistency ρ %.3f [%.3f, %.3f]", l.Name, rho[0], rho[2], rho[3])
		}
	}
	meta := map[string]string{"input": st.Stage, "draws": fmt.Sprint(p.Draws), "seed": fmt.Sprint(p.Seed)}
	for _, w := range []struct {
		file string
		fill func(*arrowfile.Table)
	}{{data.BootstrapPercentFile, pt.columns}, {data.BootstrapConsistencyFile, ct.columns}, {data.BootstrapSummaryFile, sum.columns}} {
		var t arrowfile.Table
		w.fill(&t)
		if err := t.Write(job.Output(w.file), meta); err != nil {
			return fmt.Errorf("bootstrap: %w", err)
		}
	}
	return nil
}

// consistency is the mean Spearman ρ over the pairs of metrics whose ρ is
// not NaN, and how many those are (NaN and 0 when none).
func consistency(sc *stats.Scratch, r *study.Result, metrics []string) (float64, int) {
	sum, n := 0.0, 0
	for a := range metrics {
		for b := a + 1; b < len(metrics); b++ {
			rho := sc.Spearman(stats.TieRound(r.Values(metrics[a])), stats.TieRound(r.Values(metrics[b])))
			if rho == rho {
				sum += rho
				n++
			}
		}
	}
	if n == 0 {
		return math.NaN(), 0
	}
	return sum / float64(n), n
}

// writeDraws writes draws.arrow.
func writeDraws(path string, st *study.Study, draws [][]int) error {
	var draw, pos, src, img []int64
	for b, pick := range draws {
		for j, s := range pick {
			draw, pos, src, img = append(draw, int64(b)), append(pos, int64(j)), append(src, int64(s)), append(img, int64(st.Row(s)))
		}
	}
	var t arrowfile.Table
	t.Int64s("draw", draw)
	t.Int64s("position", pos)
	t.Int64s("source", src)
	t.Int64s("image", img)
	return t.Write(path, map[string]string{"input": st.Stage})
}

// layerKey are the leading columns of the tables.
type layerKey struct {
	layer, level, agg []string
}

func (k *layerKey) add(layer, level, agg string) {
	k.layer, k.level, k.agg = append(k.layer, layer), append(k.level, level), append(k.agg, agg)
}

func (k *layerKey) lead(t *arrowfile.Table) {
	t.Strings("layer", k.layer)
	t.Strings("level", k.level)
	t.Strings("aggregation", k.agg)
}

// percentTable collects the rows of percent.arrow.
type percentTable struct {
	layerKey
	metric                []string
	draw, items, selected []int64
	pct                   []float64
}

func (t *percentTable) add(layer, level, agg, m string, b, items, k int) {
	t.layerKey.add(layer, level, agg)
	t.metric = append(t.metric, m)
	t.draw, t.items, t.selected = append(t.draw, int64(b)), append(t.items, int64(items)), append(t.selected, int64(k))
	t.pct = append(t.pct, data.Percent(k, items))
}

func (t *percentTable) columns(a *arrowfile.Table) {
	t.lead(a)
	a.Strings("metric", t.metric)
	a.Int64s("draw", t.draw)
	a.Int64s("items", t.items)
	a.Int64s("selected", t.selected)
	a.Float64s("percent", t.pct)
}

// consistencyTable collects the rows of consistency.arrow.
type consistencyTable struct {
	layerKey
	draw, pairs []int64
	rho         []float64
}

func (t *consistencyTable) add(layer, level, agg string, b int, rho float64, pairs int) {
	t.layerKey.add(layer, level, agg)
	t.draw, t.pairs, t.rho = append(t.draw, int64(b)), append(t.pairs, int64(pairs)), append(t.rho, rho)
}

func (t *consistencyTable) columns(a *arrowfile.Table) {
	t.lead(a)
	a.Int64s("draw", t.draw)
	a.Float64s("mean_rho", t.rho)
	a.Int64s("pairs", t.pairs)
}

// summaryTable collects the rows of summary.arrow.
type summaryTable struct {
	layerKey
	metric       []string
	items, draws []int64
	cols         [8][]float64
}

var summaryCols = [8]string{"observed_percent", "percent_mean", "percent_q025", "percent_q975",
	"observed_rho", "rho_mean", "rho_q025", "rho_q975"}

func (t *summaryTable) add(layer, level, agg, m string, items, draws int, pct, rho [4]float64) {
	t.layerKey.add(layer, level, agg)
	t.metric = append(t.metric, m)
	t.items, t.draws = append(t.items, int64(items)), append(t.draws, int64(draws))
	for k, v := range append(pct[:], rho[:]...) {
		t.cols[k] = append(t.cols[k], v)
	}
}

func (t *summaryTable) columns(a *arrowfile.Table) {
	t.lead(a)
	a.Strings("metric", t.metric)
	a.Int64s("items", t.items)
	a.Int64s("draws", t.draws)
	for k, name := range summaryCols {
		a.Float64s(name, t.cols[k])
	}
}
