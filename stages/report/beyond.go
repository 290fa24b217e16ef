package report

// What the project adds to the study's figures (analyses.md, Beyond the
// study). The double dissociation is in dissociation.go.
//
//   - null: permutation stages (their summary.arrow). Each one is matched
//     to the first summary panel of each level and aggregation that it
//     belongs to (see belongs: the same network, the same value of every
//     matrix key both have; layers and metrics row by row), and draws each
//     metric's null_q025_percent – null_q975_percent as a band of the
//     metric's colour behind its line, plus a table: observed %, null mean,
//     interval, permutation p, false-positive rate, permutations.
//   - bootstrap: bootstrap stages (their summary.arrow), matched in the
//     same way: percent_q025 – percent_q975 as error bars on Fig. 1b/c
//     (dodged by metric), and rho_q025 – rho_q975 as the error bars of the
//     first consistency series (Fig. 1f) of the same level and network, in
//     place of its SEM. Fig. 1d draws the correlate stages' own rho_q025 –
//     rho_q975 when they have them.
//   - reliability: reliability stages (their summary.arrow).
//     fig_reliability: per stage, reliability_mean and jaccard_mean per
//     layer, one line per metric, error bars their q025 – q975.
//   - variants: variants stages (percent.arrow, pairs.arrow), each variant
//     named by its matrix values, else its stage name.
//     fig_variants_percent: % selected per layer, one panel per metric, one
//     line per variant. fig_variants_agreement: one heat map per metric
//     (rows) and layer (columns), the variants in input order on both axes,
//     Jaccard below the diagonal and Spearman ρ above.
//
// A null or bootstrap input that matches no panel is an error listing
// the panels.

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"selectivity/stages"
	"selectivity/stages/internal/data"
)

// Input slots of the panels beyond the paper.
const (
	slotNull        = "null"
	slotBootstrap   = "bootstrap"
	slotReliability = "reliability"
	slotVariants    = "variants"
)

// beyondSlots are the slots of this file and dissociation.go, for Inputs.
func beyondSlots() []stages.Slot {
	return []stages.Slot{
		{Name: slotNull, Many: true, Accepts: []string{stages.NullDistribution}, Doc: "permutation stages: each metric's null % selected as a band behind Fig. 1b/1c, with p and false-positive rate"},
		{Name: slotBootstrap, Many: true, Accepts: []string{stages.BootstrapDraws}, Doc: "bootstrap stages: 95% intervals of % selected (Fig. 1b/1c) and of consistency (Fig. 1f)"},
		{Name: slotReliability, Many: true, Accepts: []string{stages.Reliability}, Doc: "reliability stages: split-half reliability and Jaccard per layer and metric"},
		{Name: slotVariants, Many: true, Accepts: []string{stages.Sensitivity}, Doc: "variants stages: agreement between variants and % selected per variant"},
		{Name: slotDissLesion, Accepts: []string{stages.LesionEffects}, Doc: "a lesion stage with a face and an object task: the double dissociation"},
		{Name: slotDissMetrics, Many: true, Accepts: []string{stages.Selectivity}, Doc: "metric stages ranking the lesion layer's kernels, for the double dissociation"},
	}
}

// beyondData holds the inputs of the panels beyond the paper.
type beyondData struct {
	reliability []*relInput
	variants    []*varInput
	diss        []*dissociation
}

// readBeyond reads the slots of beyondSlots into d; it reports whether
// any was given. Null and bootstrap inputs are attached to the summary
// panels and consistency series they belong to (see attach).
func readBeyond(inputs map[string][]stages.Input, d *reportData, topN int) (bool, error) {
	any := false
	if ins := inputs[slotNull]; len(ins) > 0 {
		any = true
		for _, in := range ins {
			if err := attachNull(in, d.summaries); err != nil {
				return false, err
			}
		}
	}
	if ins := inputs[slotBootstrap]; len(ins) > 0 {
		any = true
		for _, in := range ins {
			if err := attachBootstrap(in, d.summaries, d.consistency); err != nil {
				return false, err
			}
		}
	}
	var err error
	if ins := inputs[slotReliability]; len(ins) > 0 {
		any = true
		if d.beyond.reliability, err = readReliability(ins); err != nil {
			return false, err
		}
	}
	if ins := inputs[slotVariants]; len(ins) > 0 {
		any = true
		if d.beyond.variants, err = readVariants(ins); err != nil {
			return false, err
		}
	}
	les, mets := inputs[slotDissLesion], inputs[slotDissMetrics]
	if len(les) > 0 || len(mets) > 0 {
		any = true
		if d.beyond.diss, err = readDissociation(les, mets, topN); err != nil {
			return false, err
		}
	}
	return any, nil
}

// beyondSections are the panels beyond the paper, after its figures.
func beyondSections(d *reportData, ext string) []section {
	var secs []section
	if len(d.beyond.reliability) > 0 {
		secs = append(secs, reliabilitySection(d.beyond.reliability, ext))
	}
	for _, v := range d.beyond.variants {
		secs = append(secs, variantSections(v, len(d.beyond.variants), ext)...)
	}
	for _, x := range d.beyond.diss {
		secs = append(secs, dissociationSection(x, len(d.beyond.diss), ext))
	}
	return secs
}

// ---- matching intervals to panels -------------------------------------

// belongs reports whether an interval input (null or bootstrap) is of the
// same network and variant as a summary input: the same network role
// (netRole of matrix values and stage name) and the same value of every
// matrix key both have. Level, aggregation and layer are matched row by
// row.
func belongs(in stages.Input, matrix map[string]string, role string) bool {
	if netRole(append(matrixValues(in), in.Stage)...) != role {
		return false
	}
	for k, v := range in.Matrix {
		if w, ok := matrix[k]; ok && w != v {
			return false
		}
	}
	return true
}

// nullRow is one layer × metric of a permutation stage's summary.
type nullRow struct {
	observed, mean, lo, hi, p, fpr, perms float64
}

// rowKey is a summary table's layer × metric at one level.
type rowKey struct{ level, agg, layer, metric string }

// attachNull reads a permutation stage's summary.arrow and gives its rows
// to the first panel of each figure (level and aggregation) that it
// belongs to and that has no null yet.
func attachNull(in stages.Input, figs []*selFigure) error {
	t, err := readTable(slotNull, in, data.PermutationSummaryFile, "a permutation stage")
	if err != nil {
		return err
	}
	if err := t.need([]string{"layer", "level", "aggregation", "metric"},
		[]string{"observed_percent", "null_mean_percent", "null_q025_percent", "null_q975_percent", "p_value", "false_positive_rate"}); err != nil {
		return err
	}
	rows := map[levelKey]map[[2]string]*nullRow{}
	layer, level, agg, met := t.strings("layer"), t.strings("level"), t.strings("aggregation"), t.strings("metric")
	obs, mean, lo, hi := t.floats("observed_percent"), t.floats("null_mean_percent"), t.floats("null_q025_percent"), t.floats("null_q975_percent")
	p, fpr, perms := t.floats("p_value"), t.floats("false_positive_rate"), t.floats("permutations")
	for i := range t.rows {
		k := levelKey{level[i], agg[i]}
		if rows[k] == nil {
			rows[k] = map[[2]string]*nullRow{}
		}
		rows[k][[2]string{met[i], layer[i]}] = &nullRow{obs[i], mean[i], lo[i], hi[i], p[i], fpr[i], perms[i]}
	}
	used := false
	for _, f := range figs {
		r, ok := rows[f.key]
		if !ok {
			continue
		}
		for _, sp := range f.panels {
			if sp.null == nil && belongs(in, sp.matrix, sp.net) {
				sp.null, sp.nullStage, used = r, in.Stage, true
				break
			}
		}
	}
	if !used {
		return fmt.Errorf("%s: matches no summary input of the same level, network and matrix values (%s); give the metric stage it permutes in slot summary", t.where, panelNames(figs))
	}
	return nil
}

// attachBootstrap reads a bootstrap stage's summary.arrow: its % selected
// intervals go to the first summary panel of each level that it belongs
// to, its consistency intervals to the first consistency series of each
// level of the same network.
func attachBootstrap(in stages.Input, figs []*selFigure, cons []*consSeries) error {
	t, err := readTable(slotBootstrap, in, data.BootstrapSummaryFile, "a bootstrap stage")
	if err != nil {
		return err
	}
	if err := t.need([]string{"layer", "level", "aggregation", "metric"},
		[]string{"percent_q025", "percent_q975", "rho_q025", "rho_q975"}); err != nil {
		return err
	}
	pcts := map[levelKey]map[[2]string][2]float64{}
	rhos := map[levelKey]map[string][2]float64{}
	layer, level, agg, met := t.strings("layer"), t.strings("level"), t.strings("aggregation"), t.strings("metric")
	plo, phi, rlo, rhi := t.floats("percent_q025"), t.floats("percent_q975"), t.floats("rho_q025"), t.floats("rho_q975")
	for i := range t.rows {
		k := levelKey{level[i], agg[i]}
		if pcts[k] == nil {
			pcts[k], rhos[k] = map[[2]string][2]float64{}, map[string][2]float64{}
		}
		pcts[k][[2]string{met[i], layer[i]}] = [2]float64{plo[i], phi[i]}
		rhos[k][layer[i]] = [2]float64{rlo[i], rhi[i]}
	}
	used := false
	for _, f := range figs {
		r, ok := pcts[f.key]
		if !ok {
			continue
		}
		for _, sp := range f.panels {
			if sp.ci == nil && belongs(in, sp.matrix, sp.net) {
				sp.ci, sp.ciStage, used = r, in.Stage, true
				break
			}
		}
	}
	role := netRole(append(matrixValues(in), in.Stage)...)
	for k, r := range rhos {
		for _, s := range cons {
			if s.key == k && s.ci == nil && s.net == role {
				s.ci, s.ciStage, used = r, in.Stage, true
				break
			}
		}
	}
	if !used {
		return fmt.Errorf("%s: matches no summary input or consistency series of the same level, network and matrix values (%s)", t.where, panelNames(figs))
	}
	return nil
}

// panelNames lists the summary panels, for errors.
func panelNames(figs []*selFigure) string {
	var n []string
	for _, f := range figs {
		for _, sp := range f.panels {
			n = append(n, sp.stage+" ("+f.key.describe()+")")
		}
	}
	return listOrNone(n)
}

// band is a shaded interval from lo to hi along xs, drawn under the lines:
// runs of consecutive finite values as one outlined polygon, a lone value
// as a short box.
type band struct {
	xs, lo, hi []float64
	color      color.Color
}

func (b *band) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	fill := func(xs, lo, hi []float64) {
		if len(xs) == 1 {
			xs, lo, hi = []float64{xs[0] - 0.15, xs[0] + 0.15}, []float64{lo[0], lo[0]}, []float64{hi[0], hi[0]}
		}
		var pts []vg.Point
		for i := range xs {
			pts = append(pts, vg.Point{X: trX(xs[i]), Y: trY(lo[i])})
		}
		for i := len(xs) - 1; i >= 0; i-- {
			pts = append(pts, vg.Point{X: trX(xs[i]), Y: trY(hi[i])})
		}
		c.FillPolygon(b.color, c.ClipPolygonXY(pts))
		// The outline keeps a band of zero width (a null that selects
		// nothing) visible.
		c.StrokeLines(draw.LineStyle{Color: b.color, Width: 1.5}, c.ClipLinesXY(append(pts, pts[0]))...)
	}
	start := 0
	for i := 0; i <= len(b.xs); i++ {
		if i == len(b.xs) || math.IsNaN(b.lo[i]) || math.IsNaN(b.hi[i]) {
			if i > start {
				fill(b.xs[start:i], b.lo[start:i], b.hi[start:i])
			}
			start = i + 1
		}
	}
}

func (b *band) Thumbnail(c *draw.Canvas) {
	r := c.Rectangle
	c.FillPolygon(b.color, []vg.Point{r.Min, {X: r.Min.X, Y: r.Max.Y}, r.Max, {X: r.Max.X, Y: r.Min.Y}})
}

// translucent is col at the given opacity (0–255), premultiplied as
// color.RGBA wants.
func translucent(col color.Color, a uint8) color.Color {
	r, g, b, _ := col.RGBA()
	f := float64(a) / 255
	return color.RGBA{R: uint8(float64(r>>8) * f), G: uint8(float64(g>>8) * f), B: uint8(float64(b>>8) * f), A: a}
}

// nullBands draws each metric's null interval behind its line.
func nullBands(p *plot.Plot, sp *selPanel, xs []float64, others []string) {
	if sp.null == nil {
		return
	}
	for _, m := range sp.metrics {
		b := &band{color: translucent(metricColor(m, others), 0x40)}
		for i, l := range sp.layers {
			lo, hi := math.NaN(), math.NaN()
			if r, ok := sp.null[[2]string{m, l}]; ok {
				lo, hi = r.lo, r.hi
			}
			b.xs, b.lo, b.hi = append(b.xs, xs[i]), append(b.lo, lo), append(b.hi, hi)
		}
		p.Add(b)
	}
}

// percentBars draws metric m's bootstrap intervals as error bars, dodged
// by metric so that they do not hide each other, and returns the x
// positions its line should take.
func percentBars(p *plot.Plot, sp *selPanel, m string, xs []float64, col color.Color) []float64 {
	if sp.ci == nil {
		return xs
	}
	j := slices.Index(sp.metrics, m)
	off := (float64(j) - float64(len(sp.metrics)-1)/2) * 0.08
	var at, lo, hi []float64
	for i, l := range sp.layers {
		ci, ok := sp.ci[[2]string{m, l}]
		if !ok {
			ci = [2]float64{math.NaN(), math.NaN()}
		}
		at, lo, hi = append(at, xs[i]+off), append(lo, ci[0]), append(hi, ci[1])
	}
	if eb, ok := errorBars(at, lo, hi, col); ok {
		eb.CapWidth = 4
		p.Add(eb)
	}
	return at
}

// addBandNotes names the null band and the error bars in the legend and
// the caption when a panel of f has them.
func addBandNotes(s *section, f *selFigure, legend *plot.Legend) {
	var null, ci []string
	for _, sp := range f.panels {
		if sp.null != nil {
			null = append(null, sp.nullStage)
		}
		if sp.ci != nil {
			ci = append(ci, sp.ciStage)
		}
	}
	if len(null) > 0 {
		legend.Add("null 2.5–97.5%", &band{color: translucent(grey, 0x60)})
		s.caption += fmt.Sprintf(" Shaded: each metric's 2.5–97.5 %% interval of %% selected when the preferred-category labels are shuffled among the images (permutation null: %s).", strings.Join(null, ", "))
	}
	if len(ci) > 0 {
		legend.Add("95% bootstrap interval", fakeErrorThumb{})
		s.caption += fmt.Sprintf(" Error bars: 95 %% percentile interval over bootstrap resamplings of the images within each category (%s); markers dodged a little per metric.", strings.Join(ci, ", "))
	}
}

// interval formats [lo, hi] with f.
func interval(lo, hi float64, f func(float64) string) string {
	if math.IsNaN(lo) && math.IsNaN(hi) {
		return "n/a"
	}
	return f(lo) + " – " + f(hi)
}

// intervalTables are a panel's null and bootstrap numbers.
func intervalTables(sp *selPanel) []mdTable {
	var out []mdTable
	if sp.null != nil {
		tab := mdTable{title: fmt.Sprintf("%s: permutation null (%s)", sp.label, sp.nullStage),
			header: []string{"layer", "metric", "observed %", "null mean %", "null 2.5–97.5 %", "permutation p", "false-positive rate", "permutations"}}
		for _, l := range sp.layers {
			for _, m := range sp.metrics {
				r, ok := sp.null[[2]string{m, l}]
				if !ok {
					continue
				}
				tab.rows = append(tab.rows, []string{l, displayMetric(m), pct(r.observed), pct(r.mean), interval(r.lo, r.hi, pct),
					pval(r.p), num3(r.fpr), count(r.perms)})
			}
		}
		out = append(out, tab)
	}
	if sp.ci != nil {
		tab := mdTable{title: fmt.Sprintf("%s: bootstrap intervals (%s)", sp.label, sp.ciStage),
			header: []string{"layer", "metric", "% selected", "95% interval %"}}
		for _, l := range sp.layers {
			for _, m := range sp.metrics {
				k := [2]string{m, l}
				ci, ok := sp.ci[k]
				if !ok {
					continue
				}
				tab.rows = append(tab.rows, []string{l, displayMetric(m), pct(sp.percent[k]), interval(ci[0], ci[1], pct)})
			}
		}
		out = append(out, tab)
	}
	return out
}

// consYLabel is Fig. 1f's y label: what its error bars are.
func consYLabel(all []*consSeries) string {
	switch consErrorKind(all) {
	case 1:
		return "Mean inter-metric Spearman ρ (95% bootstrap)"
	case 2:
		return "Mean inter-metric Spearman ρ (± SEM or 95% bootstrap)"
	}
	return "Mean inter-metric Spearman ρ (± SEM)"
}

// consErrorText says in the caption what Fig. 1f's error bars are.
func consErrorText(all []*consSeries) string {
	var with, without []string
	for _, s := range all {
		if s.ci != nil {
			with = append(with, s.label)
		} else {
			without = append(without, s.label)
		}
	}
	boot := "95% percentile interval over bootstrap resamplings of the images within each category"
	switch consErrorKind(all) {
	case 1:
		return boot
	case 2:
		return fmt.Sprintf("%s for %s, SEM across metric pairs for %s", boot, strings.Join(with, ", "), strings.Join(without, ", "))
	}
	return "SEM across metric pairs"
}

// consErrorKind is 0 when no series has a bootstrap interval, 1 when all
// have, 2 when some have.
func consErrorKind(all []*consSeries) int {
	n := 0
	for _, s := range all {
		if s.ci != nil {
			n++
		}
	}
	switch {
	case n == 0:
		return 0
	case n == len(all):
		return 1
	}
	return 2
}

// consIntervalTable lists Fig. 1f's bootstrap intervals.
func consIntervalTable(all []*consSeries) (mdTable, bool) {
	tab := mdTable{title: "Bootstrap intervals of consistency", header: []string{"layer", "series", "level", "mean ρ", "95% interval", "bootstrap stage"}}
	for _, s := range all {
		if s.ci == nil {
			continue
		}
		for _, l := range s.layers {
			if ci, ok := s.ci[l]; ok {
				tab.rows = append(tab.rows, []string{l, s.label, s.key.describe(), num3(s.mean[l]), interval(ci[0], ci[1], num3), s.ciStage})
			}
		}
	}
	return tab, len(tab.rows) > 0
}

// ---- split-half reliability ---------------------------------------------

// relRow is one layer × metric of a reliability stage's summary.
type relRow struct {
	rel, relLo, relHi, jac, jacLo, jacHi, splits float64
}

// relInput is one reliability stage.
type relInput struct {
	stage, label string
	key          levelKey
	metrics      []string
	layers       []string
	rows         map[[2]string]relRow
}

func readReliability(ins []stages.Input) ([]*relInput, error) {
	var out []*relInput
	var labels, fallback []string
	for _, in := range ins {
		t, err := readTable(slotReliability, in, data.ReliabilitySummaryFile, "a reliability stage")
		if err != nil {
			return nil, err
		}
		if err := t.need([]string{"layer", "level", "aggregation", "metric"},
			[]string{"reliability_mean", "reliability_q025", "reliability_q975", "jaccard_mean", "jaccard_q025", "jaccard_q975"}); err != nil {
			return nil, err
		}
		if t.rows == 0 {
			return nil, fmt.Errorf("%s: no rows", t.where)
		}
		layer, level, agg, met := t.strings("layer"), t.strings("level"), t.strings("aggregation"), t.strings("metric")
		r := &relInput{stage: in.Stage, key: levelKey{level[0], agg[0]}, rows: map[[2]string]relRow{}}
		rel, rlo, rhi := t.floats("reliability_mean"), t.floats("reliability_q025"), t.floats("reliability_q975")
		jac, jlo, jhi, splits := t.floats("jaccard_mean"), t.floats("jaccard_q025"), t.floats("jaccard_q975"), t.floats("splits")
		for i := range t.rows {
			if k := (levelKey{level[i], agg[i]}); k != r.key {
				return nil, fmt.Errorf("%s: rows of two levels (%s, %s)", t.where, r.key.describe(), k.describe())
			}
			if !slices.Contains(r.metrics, met[i]) {
				r.metrics = append(r.metrics, met[i])
			}
			r.layers = append(r.layers, layer[i])
			r.rows[[2]string{met[i], layer[i]}] = relRow{rel[i], rlo[i], rhi[i], jac[i], jlo[i], jhi[i], splits[i]}
		}
		r.metrics, r.layers = metricOrder(r.metrics), sortLayers(r.layers)
		out = append(out, r)
		labels, fallback = append(labels, matrixLabel(in)), append(fallback, in.Stage)
	}
	for i, l := range uniqueLabels(labels, fallback) {
		out[i].label = l
	}
	return out, nil
}

// reliabilitySection draws, per reliability stage, the Spearman–Brown
// reliability and the Jaccard overlap of the halves' selections per layer,
// one line per metric with its 2.5–97.5 % interval over splits.
func reliabilitySection(all []*relInput, ext string) section {
	title := "Split-half reliability of each metric"
	legend := newLegend()
	inLegend := map[string]bool{}
	var panels []*plot.Plot
	s := section{
		heading: title,
		file:    fileName(ext, "fig_reliability"),
		caption: "Each category's images split at random into halves, each metric computed on both: left, the Spearman–Brown reliability 2ρ/(1+ρ) of the metric's values (ρ: Spearman between the halves' values over the layer's items); right, the Jaccard overlap of the items the halves select. Lines: mean over splits; error bars: 2.5–97.5 % of the splits. One row of panels per reliability stage.",
	}
	for _, r := range all {
		xs := make([]float64, len(r.layers))
		for i := range xs {
			xs[i] = float64(i)
		}
		what := r.key.describe()
		for _, jac := range []bool{false, true} {
			ylabel, ptitle := "Spearman–Brown reliability", r.label+": reliability of values ("+what+")"
			if jac {
				ylabel, ptitle = "Jaccard of selected sets", r.label+": overlap of selections ("+what+")"
			}
			p := newPlot(ptitle, "Layer", ylabel)
			nominalX(p, r.layers)
			for j, m := range r.metrics {
				off := (float64(j) - float64(len(r.metrics)-1)/2) * 0.08
				var at, ys, lo, hi []float64
				for i, l := range r.layers {
					row, ok := r.rows[[2]string{m, l}]
					v, a, b := row.rel, row.relLo, row.relHi
					if jac {
						v, a, b = row.jac, row.jacLo, row.jacHi
					}
					if !ok {
						v, a, b = math.NaN(), math.NaN(), math.NaN()
					}
					at, ys, lo, hi = append(at, xs[i]+off), append(ys, v), append(lo, a), append(hi, b)
				}
				col := metricColor(m, r.metrics)
				if eb, ok := errorBars(at, lo, hi, col); ok {
					eb.CapWidth = 4
					p.Add(eb)
				}
				th := lineSeries(p, at, ys, col, metricGlyph(m))
				if !inLegend[m] {
					legend.Add(displayMetric(m), th...)
					inLegend[m] = true
				}
			}
			lo := 0.0
			if !jac {
				lo, _ = niceRange(math.Max(-1, minRel(r)), 1, 0.2, -1, 1)
				p.Add(hline(len(r.layers), 0, grey, true))
			}
			p.Y.Min, p.Y.Max = lo-0.02, 1.02
			p.Y.Tick.Marker = plot.ConstantTicks(ticks(lo, 1, 0.2, "%.1f"))
			panels = append(panels, p)
		}
		tab := mdTable{title: r.label + " (" + r.stage + ", " + what + ")",
			header: []string{"layer", "metric", "reliability", "2.5–97.5 %", "Jaccard", "2.5–97.5 %", "splits"}}
		for _, l := range r.layers {
			for _, m := range r.metrics {
				row, ok := r.rows[[2]string{m, l}]
				if !ok {
					continue
				}
				tab.rows = append(tab.rows, []string{l, displayMetric(m), num3(row.rel), interval(row.relLo, row.relHi, num3),
					num3(row.jac), interval(row.jacLo, row.jacHi, num3), count(row.splits)})
			}
		}
		s.tables = append(s.tables, tab)
	}
	legend.Add("2.5–97.5% of splits", fakeErrorThumb{})
	s.fig = &figure{title: title, panels: panels, cols: 2, panelW: 4.6 * vg.Inch, panelH: 3.4 * vg.Inch, legend: legend}
	return s
}

// minRel is the lowest reliability or lower bound of r (0 if none is
// lower), for the y axis.
func minRel(r *relInput) float64 {
	lo := 0.0
	for _, row := range r.rows {
		for _, v := range []float64{row.rel, row.relLo} {
			if !math.IsNaN(v) {
				lo = math.Min(lo, v)
			}
		}
	}
	return lo
}

// ---- variant sensitivity -------------------------------------------------

// varPercent is one variant's % selected of one layer and metric.
type varPercent struct{ percent, delta, selected, items float64 }

// varPair is the agreement of two variants at one layer and metric.
type varPair struct{ jaccard, spearman float64 }

// varInput is one variants stage.
type varInput struct {
	stage    string
	variants []string // stage names, in input order (the first is the baseline)
	labels   map[string]string
	layers   []string
	metrics  []string
	percent  map[[3]string]varPercent // variant, layer, metric
	pairs    map[[4]string]varPair    // layer, metric, a, b (a before b)
}

func readVariants(ins []stages.Input) ([]*varInput, error) {
	var out []*varInput
	for _, in := range ins {
		pt, err := readTable(slotVariants, in, data.VariantPercentFile, "a variants stage")
		if err != nil {
			return nil, err
		}
		if err := pt.need([]string{"variant", "layer", "metric"}, []string{"percent", "delta_percent"}); err != nil {
			return nil, err
		}
		qt, err := readTable(slotVariants, in, data.VariantPairsFile, "a variants stage")
		if err != nil {
			return nil, err
		}
		if err := qt.need([]string{"layer", "metric", "a", "b"}, []string{"jaccard", "spearman"}); err != nil {
			return nil, err
		}
		v := &varInput{stage: in.Stage, labels: map[string]string{}, percent: map[[3]string]varPercent{}, pairs: map[[4]string]varPair{}}
		// The matrix columns sit between variant and layer.
		var mcols []string
		if a, b := slices.Index(pt.names, "variant"), slices.Index(pt.names, "layer"); b > a+1 {
			mcols = pt.names[a+1 : b]
		}
		name, layer, met := pt.strings("variant"), pt.strings("layer"), pt.strings("metric")
		pc, dl, sel, items := pt.floats("percent"), pt.floats("delta_percent"), pt.floats("selected"), pt.floats("items")
		for i := range pt.rows {
			if !slices.Contains(v.variants, name[i]) {
				v.variants = append(v.variants, name[i])
				var parts []string
				for _, c := range mcols {
					if pt.isString(c) && pt.strings(c)[i] != "" {
						parts = append(parts, pt.strings(c)[i])
					}
				}
				v.labels[name[i]] = strings.Join(parts, ", ")
				if len(parts) == 0 {
					v.labels[name[i]] = name[i]
				}
			}
			v.layers, v.metrics = append(v.layers, layer[i]), append(v.metrics, met[i])
			v.percent[[3]string{name[i], layer[i], met[i]}] = varPercent{pc[i], dl[i], sel[i], items[i]}
		}
		if len(v.variants) < 2 {
			return nil, fmt.Errorf("%s: %d variants, want two or more", pt.where, len(v.variants))
		}
		var labels []string
		for _, n := range v.variants {
			labels = append(labels, v.labels[n])
		}
		for i, l := range uniqueLabels(labels, v.variants) {
			v.labels[v.variants[i]] = l
		}
		ql, qm, qa, qb := qt.strings("layer"), qt.strings("metric"), qt.strings("a"), qt.strings("b")
		jac, rho := qt.floats("jaccard"), qt.floats("spearman")
		for i := range qt.rows {
			ia, ib := slices.Index(v.variants, qa[i]), slices.Index(v.variants, qb[i])
			if ia < 0 || ib < 0 {
				return nil, fmt.Errorf("%s: row %d pairs %s with %s, not both variants of %s", qt.where, i, qa[i], qb[i], data.VariantPercentFile)
			}
			a, b := qa[i], qb[i]
			if ia > ib {
				a, b = b, a
			}
			v.pairs[[4]string{ql[i], qm[i], a, b}] = varPair{jac[i], rho[i]}
		}
		v.layers, v.metrics = sortLayers(v.layers), metricOrder(slices.Compact(slices.Sorted(slices.Values(v.metrics))))
		out = append(out, v)
	}
	return out, nil
}

// cells is a heat map of a square matrix of values in [-1, 1]: cell (i, j)
// at x = j, y = n−1−i, coloured by value (white at 0, blue towards 1,
// vermillion towards −1) and labelled with it; NaN cells stay blank.
type cells struct {
	vals [][]float64
}

func (h *cells) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	n := len(h.vals)
	st := textStyle(7)
	st.XAlign, st.YAlign = -0.5, -0.5
	for i, row := range h.vals {
		for j, v := range row {
			if math.IsNaN(v) {
				continue
			}
			y := float64(n - 1 - i)
			x0, x1, y0, y1 := trX(float64(j)-0.5), trX(float64(j)+0.5), trY(y-0.5), trY(y+0.5)
			pts := []vg.Point{{X: x0, Y: y0}, {X: x0, Y: y1}, {X: x1, Y: y1}, {X: x1, Y: y0}}
			c.FillPolygon(heat(v), pts)
			c.StrokeLines(draw.LineStyle{Color: lightGrey, Width: 0.5}, append(pts, pts[0]))
			st.Color = color.Black
			if math.Abs(v) > 0.6 {
				st.Color = color.White
			}
			c.FillText(st, vg.Point{X: (x0 + x1) / 2, Y: (y0 + y1) / 2}, fmt.Sprintf("%.2f", v))
		}
	}
}

// heatPlot is a panel for cells: no grid, axes without lines, labels
// only.
func heatPlot(title string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = 11
	p.Title.Padding = 4
	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		ax.LineStyle.Width = 0
		ax.Tick.LineStyle.Width = 0
		ax.Tick.Label.Font.Size = 8
		ax.Padding = 0
	}
	return p
}

// heat is the colour of v in [-1, 1].
func heat(v float64) color.Color {
	v = math.Max(-1, math.Min(1, v))
	to := palette[1]
	if v < 0 {
		to, v = palette[0], -v
	}
	r, g, b, _ := to.RGBA()
	mix := func(c uint32) uint8 { return uint8(255 - v*(255-float64(c>>8))) }
	return color.RGBA{R: mix(r), G: mix(g), B: mix(b), A: 0xFF}
}

// variantSections are a variants stage's two panels: the agreement of
// every two variants per layer and metric, and the % selected per variant.
func variantSections(v *varInput, n int, ext string) []section {
	suffix, stageNote := "", ""
	if n > 1 {
		suffix, stageNote = " ("+v.stage+")", "_"+v.stage
	}
	labels := make([]string, len(v.variants))
	for k, name := range v.variants {
		labels[k] = v.labels[name]
	}
	// Agreement: rows of panels = metrics, columns = layers.
	var panels []*plot.Plot
	for _, m := range v.metrics {
		for _, l := range v.layers {
			p := heatPlot(displayMetric(m) + ", " + l)
			h := &cells{}
			for a := range v.variants {
				row := make([]float64, len(v.variants))
				for b := range v.variants {
					row[b] = math.NaN()
					lo, hi := min(a, b), max(a, b)
					pr, ok := v.pairs[[4]string{l, m, v.variants[lo], v.variants[hi]}]
					switch {
					case !ok:
					case a > b:
						row[b] = pr.jaccard
					case a < b:
						row[b] = pr.spearman
					}
				}
				h.vals = append(h.vals, row)
			}
			p.Add(h)
			nominalX(p, labels)
			rev := slices.Clone(labels)
			slices.Reverse(rev)
			p.NominalY(rev...)
			p.Y.Min, p.Y.Max = -0.5, float64(len(labels))-0.5
			p.X.Tick.Label.Rotation = math.Pi / 4
			p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = -1, -0.5
			panels = append(panels, p)
		}
	}
	side := vg.Length(1.1+0.32*float64(len(v.variants))) * vg.Inch
	agreeTitle := "Variant agreement (lower: Jaccard of selections; upper: Spearman ρ)" + suffix
	agree := section{
		heading: agreeTitle,
		file:    fileName(ext, "fig_variants_agreement"+stageNote),
		caption: fmt.Sprintf("For every two variants (%s; stage %s), per metric (rows) and layer (columns): below the diagonal the Jaccard overlap of their selected sets, above it the Spearman ρ of their values over the layer's items. Blue: agreement (1: identical); vermillion: negative ρ; blank: not computed (Jaccard is undefined when neither selects any item).",
			strings.Join(labels, ", "), v.stage),
		fig: &figure{title: agreeTitle, panels: panels, cols: len(v.layers), panelW: side, panelH: side},
	}
	tab := mdTable{header: []string{"layer", "a", "b"}}
	for _, m := range v.metrics {
		tab.header = append(tab.header, displayMetric(m)+" Jaccard", displayMetric(m)+" ρ")
	}
	for _, l := range v.layers {
		for a := range v.variants {
			for b := a + 1; b < len(v.variants); b++ {
				row := []string{l, labels[a], labels[b]}
				found := false
				for _, m := range v.metrics {
					pr, ok := v.pairs[[4]string{l, m, v.variants[a], v.variants[b]}]
					if !ok {
						row = append(row, "–", "–")
						continue
					}
					found = true
					row = append(row, num3(pr.jaccard), num3(pr.spearman))
				}
				if found {
					tab.rows = append(tab.rows, row)
				}
			}
		}
	}
	agree.tables = []mdTable{tab}

	// % selected: one panel per metric, one line per variant.
	pctTitle := "% selected per variant" + suffix
	legend := newLegend()
	var pp []*plot.Plot
	xs := make([]float64, len(v.layers))
	for k := range xs {
		xs[k] = float64(k)
	}
	for _, m := range v.metrics {
		p := newPlot(displayMetric(m), "Layer", "Selected (%)")
		nominalX(p, v.layers)
		for k, name := range v.variants {
			ys := make([]float64, len(v.layers))
			for j, l := range v.layers {
				ys[j] = math.NaN()
				if r, ok := v.percent[[3]string{name, l, m}]; ok {
					ys[j] = r.percent
				}
			}
			th := lineSeries(p, xs, ys, colorAt(k), glyphAt(k))
			if m == v.metrics[0] {
				legend.Add(labels[k], th...)
			}
		}
		p.Y.Min, p.Y.Max = -2, 102
		p.Y.Tick.Marker = plot.ConstantTicks(ticks(0, 100, 20, "%.0f"))
		pp = append(pp, p)
	}
	pctSec := section{
		heading: pctTitle,
		file:    fileName(ext, "fig_variants_percent"+stageNote),
		caption: fmt.Sprintf("Percentage of items each variant selects, per layer; one panel per metric, one line per variant (the first, %s, is the baseline: Δ in the table is the difference from it).", labels[0]),
		fig:     &figure{title: pctTitle, panels: pp, cols: min(len(pp), 2), panelW: 4.2 * vg.Inch, panelH: 3.2 * vg.Inch, legend: legend},
	}
	pt := mdTable{header: []string{"layer", "variant"}}
	for _, m := range v.metrics {
		pt.header = append(pt.header, displayMetric(m)+" % (Δ)")
	}
	for _, l := range v.layers {
		for k, name := range v.variants {
			row := []string{l, labels[k]}
			for _, m := range v.metrics {
				r, ok := v.percent[[3]string{name, l, m}]
				switch {
				case !ok:
					row = append(row, "–")
				case k == 0:
					row = append(row, pct(r.percent))
				default:
					row = append(row, fmt.Sprintf("%s (%+.2f)", pct(r.percent), r.delta))
				}
			}
			pt.rows = append(pt.rows, row)
		}
	}
	pctSec.tables = []mdTable{pt}
	return []section{pctSec, agree}
}
