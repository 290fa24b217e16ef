package report

// Dobs et al.'s double dissociation, computed from a lesion stage's
// per-kernel table and a metric stage's values at the lesioned layer.
//
// For each metric, T = its top N kernels by value for ranking
// (data.ValueColumn; stats.Descending: ties by the smaller index, NaN
// last) and R = the other kernels of the layer. For each task (faces:
// loss_increase; objects: object_loss_increase) the report gives the mean
// and SEM (stats.MeanSEM) of the single-kernel loss increase over T and
// over R, their difference mean_T − mean_R, and the one-sided Mann–Whitney
// p of "T greater than R" (stats.MannWhitneyGreater: scipy.stats.mannwhitneyu,
// alternative="greater", asymptotic). A double dissociation reads as: the
// face task's difference large and significant, the object task's near 0.
//
// N is the report's dissociation_top, or when that is 0 the smallest
// number of the layer's kernels any metric selects (as the decode kind's
// top_n 0), from the metric stage's summary.arrow.
//
// Dobs et al. lesion the whole top set at once; the lesion kind lesions
// one kernel at a time (and greedily by face loss), so this is the mean
// single-kernel effect, which the report says in its caption.

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"

	"selectivity/stages"
	"selectivity/stages/internal/data"
	"selectivity/stages/internal/stats"
)

// Input slots of the double dissociation.
const (
	slotDissLesion  = "dissociation_lesion"
	slotDissMetrics = "dissociation_metrics"
)

// Lesion columns of the two tasks.
const (
	faceLossColumn   = "loss_increase"
	objectLossColumn = "object_loss_increase"
)

// dissTask is one task's loss increases over the top set and the rest.
type dissTask struct {
	topMean, topSEM, restMean, restSEM, p float64
}

// dissRow is one metric's dissociation.
type dissRow struct {
	metric       string
	face, object dissTask
}

// dissociation is one metric stage against the lesion stage.
type dissociation struct {
	lesionStage, metricStage, label string
	layer                           string
	n, kernels                      int
	rule                            string // how n was chosen
	rows                            []dissRow
}

func readDissociation(les, mets []stages.Input, topN int) ([]*dissociation, error) {
	if len(les) == 0 || len(mets) == 0 {
		return nil, fmt.Errorf("the double dissociation needs a lesion stage in slot %s and metric stages in slot %s (given: %s; %s)",
			slotDissLesion, slotDissMetrics, orNone(stageNames(les)), orNone(stageNames(mets)))
	}
	lt, layer, err := readLesionTable(les[0])
	if err != nil {
		return nil, err
	}
	items := lt.floats("item")
	at := map[float64]int{}
	for i, it := range items {
		at[it] = i
	}
	face, object := lt.floats(faceLossColumn), lt.floats(objectLossColumn)
	var out []*dissociation
	var labels, fallback []string
	for _, in := range mets {
		mt, err := readTable(slotDissMetrics, in, layer+".arrow", "a metric stage of the lesioned layer "+layer)
		if err != nil {
			return nil, err
		}
		var ms []string
		for _, m := range data.Metrics {
			if mt.has(data.ValueColumn[m]) {
				ms = append(ms, m)
			}
		}
		if len(ms) == 0 {
			return nil, fmt.Errorf("%s: no metric value column (want one of fsi, dprime, wilcoxon_z, ttest_t; columns: %s)", mt.where, listOrNone(mt.names))
		}
		if err := mt.need(nil, []string{"item"}); err != nil {
			return nil, err
		}
		if mt.rows != lt.rows {
			return nil, fmt.Errorf("%s: %d kernels, but %s has %d", mt.where, mt.rows, lt.where, lt.rows)
		}
		// The lesion rows in the metric table's item order.
		f, o := make([]float64, mt.rows), make([]float64, mt.rows)
		for i, it := range mt.floats("item") {
			j, ok := at[it]
			if !ok {
				return nil, fmt.Errorf("%s: kernel %v is not in %s", mt.where, it, lt.where)
			}
			f[i], o[i] = face[j], object[j]
		}
		x := &dissociation{lesionStage: les[0].Stage, metricStage: in.Stage, layer: layer, kernels: mt.rows, n: topN, rule: "dissociation_top"}
		if topN == 0 {
			if x.n, err = smallestSelected(in, layer, ms); err != nil {
				return nil, err
			}
			x.rule = "the smallest number of kernels a metric selects"
		}
		if x.n > x.kernels-2 {
			return nil, fmt.Errorf("%s: dissociation_top %d leaves fewer than two of the %d kernels to compare with", mt.where, x.n, x.kernels)
		}
		for _, m := range ms {
			order := stats.Descending(mt.floats(data.ValueColumn[m]))
			top, rest := order[:x.n], order[x.n:]
			x.rows = append(x.rows, dissRow{metric: m, face: taskEffect(f, top, rest), object: taskEffect(o, top, rest)})
		}
		out = append(out, x)
		labels, fallback = append(labels, matrixLabel(in)), append(fallback, in.Stage)
	}
	for i, l := range uniqueLabels(labels, fallback) {
		out[i].label = l
	}
	return out, nil
}

// taskEffect compares the loss increases v over the kernels top and rest.
func taskEffect(v []float64, top, rest []int) dissTask {
	pick := func(idx []int) []float64 {
		out := make([]float64, len(idx))
		for i, k := range idx {
			out[i] = v[k]
		}
		return out
	}
	t, r := pick(top), pick(rest)
	var d dissTask
	d.topMean, d.topSEM = stats.MeanSEM(t)
	d.restMean, d.restSEM = stats.MeanSEM(r)
	_, _, d.p = stats.MannWhitneyGreater(t, r)
	return d
}

// readLesionTable finds the lesion stage's per-kernel table (the one
// .arrow file besides greedy.arrow) and checks that it has both tasks.
func readLesionTable(in stages.Input) (*table, string, error) {
	var files []string
	for _, f := range in.Files {
		if strings.HasSuffix(f, ".arrow") && f != "greedy.arrow" && !strings.Contains(f, "/") {
			files = append(files, f)
		}
	}
	if len(files) != 1 {
		return nil, "", fmt.Errorf("%s input %s: want one per-kernel lesion table <layer>.arrow, found %s", slotDissLesion, in.Stage, listOrNone(files))
	}
	t, err := readTable(slotDissLesion, in, files[0], "a lesion stage")
	if err != nil {
		return nil, "", err
	}
	if !t.has(objectLossColumn) && t.has(faceLossColumn) {
		return nil, "", fmt.Errorf("%s: no column %q: the lesion stage has no object task (give it object_stimuli); the double dissociation compares the two tasks", t.where, objectLossColumn)
	}
	if err := t.need(nil, []string{"item", faceLossColumn, objectLossColumn}); err != nil {
		return nil, "", err
	}
	if t.rows < 3 {
		return nil, "", fmt.Errorf("%s: %d kernels, too few to compare a top set with the rest", t.where, t.rows)
	}
	layer := strings.TrimSuffix(files[0], ".arrow")
	if l := t.meta["layer"]; l != "" {
		layer = l
	}
	return t, layer, nil
}

// smallestSelected is the smallest number of layer's kernels any of the
// metrics ms selects, from the metric stage's summary.arrow.
func smallestSelected(in stages.Input, layer string, ms []string) (int, error) {
	t, err := readTable(slotDissMetrics, in, data.MetricSummaryFile, "a metric stage")
	if err != nil {
		return 0, err
	}
	if err := t.need([]string{"layer", "metric"}, []string{"selected"}); err != nil {
		return 0, err
	}
	n, found := math.Inf(1), 0
	var counts []string
	for i, l := range t.strings("layer") {
		if m := t.strings("metric")[i]; l == layer && slices.Contains(ms, m) {
			s := t.floats("selected")[i]
			n = math.Min(n, s)
			found++
			counts = append(counts, fmt.Sprintf("%s %.0f", m, s))
		}
	}
	switch {
	case found == 0:
		return 0, fmt.Errorf("%s: no rows of layer %s", t.where, layer)
	case n < 1:
		return 0, fmt.Errorf("%s: dissociation_top 0 takes N from the metrics' selections, but one selects no kernel of %s (%s): set dissociation_top",
			t.where, layer, strings.Join(counts, ", "))
	}
	return int(n), nil
}

// orNone is s, or "none" when it is empty.
func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// dissociationSection draws the face task's and the object task's loss
// increase for each metric's top kernels and the others.
func dissociationSection(x *dissociation, n int, ext string) section {
	title := fmt.Sprintf("Double dissociation, %s: face vs object task (top %d kernels per metric)", x.layer, x.n)
	if n > 1 {
		title += " — " + x.label
	}
	names := make([]string, len(x.rows))
	for i, r := range x.rows {
		names[i] = displayMetric(r.metric)
	}
	legend := newLegend()
	var panels []*plot.Plot
	lo, hi := 0.0, 0.0
	for _, obj := range []bool{false, true} {
		ptitle := "Face task (identities)"
		if obj {
			ptitle = "Object task (categories)"
		}
		p := newPlot(ptitle, "Metric ranking the kernels", "Loss increase when lesioned (mean ± SEM)")
		nominalX(p, names)
		for g, top := range []bool{true, false} {
			b := &bars{width: 0.35 * 0.92, color: colorAt(g)}
			var xs, elo, ehi []float64
			for i, r := range x.rows {
				t := r.face
				if obj {
					t = r.object
				}
				m, e := t.restMean, t.restSEM
				if top {
					m, e = t.topMean, t.topSEM
				}
				xp := float64(i) + (float64(g)-0.5)*0.35
				b.xs, b.ys = append(b.xs, xp), append(b.ys, m)
				xs, elo, ehi = append(xs, xp), append(elo, m-e), append(ehi, m+e)
				for _, v := range []float64{m - e, m + e} {
					if !math.IsNaN(v) {
						lo, hi = math.Min(lo, v), math.Max(hi, v)
					}
				}
			}
			p.Add(b)
			if eb, ok := errorBars(xs, elo, ehi, color.Black); ok {
				eb.CapWidth = 4
				p.Add(eb)
			}
			if !obj {
				if top {
					legend.Add(fmt.Sprintf("top %d by the metric", x.n), b)
				} else {
					legend.Add(fmt.Sprintf("the other %d kernels", x.kernels-x.n), b)
				}
			}
		}
		p.Add(hline(len(names), 0, grey, false))
		panels = append(panels, p)
	}
	legend.Add("± SEM over kernels", fakeErrorThumb{})
	span := math.Max(hi-lo, 1e-6)
	lo, hi = lo-0.05*span, hi+0.05*span
	if lo > 0 {
		lo = 0
	}
	for _, p := range panels {
		p.Y.Min, p.Y.Max = lo, hi
	}
	s := section{
		heading: title,
		file:    fileName(ext, "fig_dissociation", x.metricStage),
		caption: fmt.Sprintf("Dobs et al.'s double dissociation at %s: for each metric (stage %s), the loss increase of the face task (%s) and of the object task (%s) when one kernel is lesioned (lesion stage %s), averaged over the metric's top %d kernels (N: %s) and over the other %d. A dissociation: the top kernels hurt the face task more than the others do, and the object task no more. Both panels share one y scale; p: one-sided Mann–Whitney of top > others. These are single-kernel lesions; Dobs et al. lesion the top set as a whole, which the lesion kind does not do (it lesions one kernel at a time, or greedily by face loss).",
			x.layer, x.metricStage, faceLossColumn, objectLossColumn, x.lesionStage, x.n, x.rule, x.kernels-x.n),
		fig: &figure{title: title, panels: panels, cols: 2, panelW: 4.4 * vg.Inch, panelH: 3.6 * vg.Inch, legend: legend},
	}
	tab := mdTable{header: []string{"metric", "face: top", "face: others", "face: top − others", "face p", "object: top", "object: others", "object: top − others", "object p"}}
	ms := func(t dissTask, top bool) string {
		if top {
			return fmt.Sprintf("%s ± %s", sci(t.topMean), sci(t.topSEM))
		}
		return fmt.Sprintf("%s ± %s", sci(t.restMean), sci(t.restSEM))
	}
	for _, r := range x.rows {
		tab.rows = append(tab.rows, []string{displayMetric(r.metric),
			ms(r.face, true), ms(r.face, false), sci(r.face.topMean - r.face.restMean), pval(r.face.p),
			ms(r.object, true), ms(r.object, false), sci(r.object.topMean - r.object.restMean), pval(r.object.p)})
	}
	s.tables = []mdTable{tab}
	return s
}

// sci formats a loss increase with four significant digits.
func sci(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.4g", v)
}
