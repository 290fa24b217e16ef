package report

import (
	"fmt"
	"image/color"
	"math"
	"regexp"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// section is one figure of the report with what the index says about it.
type section struct {
	heading string
	file    string // the image, relative to the output folder; "" for none
	caption string
	notes   []string // a list under the caption
	tables  []mdTable
	fig     *figure // nil: none
}

// mdTable is a table of the numbers a figure plots.
type mdTable struct {
	title  string
	header []string
	rows   [][]string
}

// metricColor gives each metric the same colour in every figure.
func metricColor(m string, others []string) color.Color {
	for i, n := range []string{"fsi", "dprime", "wilcoxon", "ttest"} {
		if m == n {
			return colorAt(i)
		}
	}
	for i, n := range others {
		if m == n {
			return colorAt(4 + i)
		}
	}
	return grey
}

func metricGlyph(m string) draw.GlyphDrawer {
	for i, n := range []string{"fsi", "dprime", "wilcoxon", "ttest"} {
		if m == n {
			return glyphAt(i)
		}
	}
	return glyphAt(4)
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// fileName is a safe file name from parts.
func fileName(ext string, parts ...string) string {
	var clean []string
	for _, p := range parts {
		if p = strings.Trim(unsafeName.ReplaceAllString(p, "-"), "-."); p != "" {
			clean = append(clean, p)
		}
	}
	return strings.Join(clean, "_") + "." + ext
}

// lineSeries adds a line with markers through the finite points, and
// returns its legend thumbnails.
func lineSeries(p *plot.Plot, xs, ys []float64, col color.Color, glyph draw.GlyphDrawer) []plot.Thumbnailer {
	var pts plotter.XYs
	for i := range xs {
		if !math.IsNaN(ys[i]) && !math.IsInf(ys[i], 0) {
			pts = append(pts, plotter.XY{X: xs[i], Y: ys[i]})
		}
	}
	l, s, err := plotter.NewLinePoints(pts)
	if err != nil || len(pts) == 0 {
		// Still give the legend a thumbnail, so every series is named.
		l, s, _ = plotter.NewLinePoints(plotter.XYs{{}})
	} else {
		p.Add(l, s)
	}
	l.Color, l.Width = col, 1.5
	s.Color, s.Shape, s.Radius = col, glyph, 3
	return []plot.Thumbnailer{l, s}
}

func pct(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", v)
}

func num3(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.3f", v)
}

func count(v float64) string {
	if math.IsNaN(v) {
		return "?"
	}
	return fmt.Sprintf("%.0f", v)
}

// ---- Fig. 1b/1c -----------------------------------------------------------

func selectedSection(f *selFigure, ext string) section {
	what := f.key.describe()
	fig := "1c"
	if f.key.level == "unit" {
		fig = "1b"
	}
	prefer := preferredOf(f)
	title := fmt.Sprintf("%s-selective %s per layer (Fig. %s)", strings.ToUpper(prefer[:1])+prefer[1:], what, fig)
	var others []string
	for _, p := range f.panels {
		for _, m := range p.metrics {
			if metricLabel[m] == "" && !contains(others, m) {
				others = append(others, m)
			}
		}
	}
	ylabel := "Selected " + strings.Fields(what)[0] + " (%)"
	legend := newLegend()
	inLegend := map[string]bool{}
	s := section{
		heading: title,
		file:    fileName(ext, "fig_selected", f.key.level, f.key.agg),
		caption: fmt.Sprintf("Percentage of %s that each metric selects as %s-selective, per layer (x: layers in network order; y: %% of the layer's %s). One panel per input stage.",
			what, prefer, strings.Fields(what)[0]),
	}
	var panels []*plot.Plot
	for _, sp := range f.panels {
		p := newPlot(sp.label, "Layer", ylabel)
		nominalX(p, sp.layers)
		xs := make([]float64, len(sp.layers))
		for i := range xs {
			xs[i] = float64(i)
		}
		header := []string{"layer"}
		nullBands(p, sp, xs, others)
		for _, m := range sp.metrics {
			ys := make([]float64, len(sp.layers))
			for i, l := range sp.layers {
				v, ok := sp.percent[[2]string{m, l}]
				if !ok {
					v = math.NaN()
				}
				ys[i] = v
			}
			at := percentBars(p, sp, m, xs, metricColor(m, others))
			th := lineSeries(p, at, ys, metricColor(m, others), metricGlyph(m))
			if !inLegend[m] {
				legend.Add(displayMetric(m), th...)
				inLegend[m] = true
			}
			header = append(header, displayMetric(m)+" % (selected/items)")
		}
		// A little room beyond 0 and 100 % keeps the markers inside.
		p.Y.Min, p.Y.Max = -2, 102
		p.Y.Tick.Marker = plot.ConstantTicks(ticks(0, 100, 20, "%.0f"))
		panels = append(panels, p)

		tab := mdTable{title: sp.label, header: header}
		if sp.label != sp.stage {
			tab.title += " (" + sp.stage + ")"
		}
		for _, l := range sp.layers {
			row := []string{l}
			for _, m := range sp.metrics {
				k := [2]string{m, l}
				if v, ok := sp.percent[k]; ok {
					row = append(row, fmt.Sprintf("%s (%s/%s)", pct(v), count(sp.selected[k]), count(sp.items[k])))
				} else {
					row = append(row, "–")
				}
			}
			tab.rows = append(tab.rows, row)
		}
		s.tables = append(s.tables, tab)
		s.tables = append(s.tables, intervalTables(sp)...)
	}
	addBandNotes(&s, f, legend)
	cols := min(len(panels), 3)
	s.fig = &figure{title: title, panels: panels, cols: cols, panelW: 4 * vg.Inch, panelH: 3.2 * vg.Inch, legend: legend}
	return s
}

// preferredOf names what the panels' metrics select: "face" for the
// faces domain (or when the tables do not say), the preferred domain or
// category when all panels share one, else "category".
func preferredOf(f *selFigure) string {
	pref := ""
	for i, sp := range f.panels {
		p := sp.preferred
		if p == "" || p == "faces" {
			p = "face"
		}
		if i > 0 && p != pref {
			return "category"
		}
		pref = p
	}
	return pref
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// ticks are labelled ticks from lo to hi in steps of step.
func ticks(lo, hi, step float64, format string) []plot.Tick {
	var t []plot.Tick
	n := int(math.Round((hi - lo) / step))
	for i := 0; i <= n; i++ {
		v := lo + float64(i)*step
		if math.Abs(v) < step*1e-9 {
			v = 0
		}
		t = append(t, plot.Tick{Value: v, Label: fmt.Sprintf(format, v)})
	}
	return t
}

// niceRange widens [lo, hi] to multiples of step, within [min, max].
func niceRange(lo, hi, step, floor, ceil float64) (float64, float64) {
	lo = math.Max(floor, math.Floor(lo/step+1e-9)*step)
	hi = math.Min(ceil, math.Ceil(hi/step-1e-9)*step)
	if hi <= lo {
		hi = lo + step
	}
	return lo, hi
}

// rhoTicks picks a step for a ρ axis of the given span.
func rhoTicks(lo, hi float64) []plot.Tick {
	step := 0.1
	if hi-lo > 1 {
		step = 0.2
	}
	if hi-lo <= 0.3 {
		step = 0.05
	}
	if hi-lo <= 0.12 {
		step = 0.02
	}
	// Ticks at multiples of the step (0.2, 0.4, not −0.3, −0.1).
	first := math.Ceil(lo/step-1e-9) * step
	return ticks(first, first+math.Floor((hi-first)/step+1e-9)*step, step, "%.2g")
}

// ---- Fig. 1f --------------------------------------------------------------

// networkColors gives each network (series label) one colour and marker
// in every panel: the trained network vermillion and the untrained one
// blue, as the paper's red and blue; other networks the next colours.
func networkColors(all []*consSeries) (labels []string, at map[string]int) {
	at = map[string]int{}
	next := 2
	taken := map[int]bool{}
	for _, s := range all {
		if _, ok := at[s.label]; ok {
			continue
		}
		labels = append(labels, s.label)
		switch {
		case s.net == roleTrained && !taken[0]:
			at[s.label], taken[0] = 0, true
		case s.net == roleUntrained && !taken[1]:
			at[s.label], taken[1] = 1, true
		default:
			at[s.label] = next
			next++
		}
	}
	slices.SortStableFunc(labels, func(a, b string) int { return at[a] - at[b] })
	return labels, at
}

// consistencySection is Fig. 1f: one panel per level (units first), one
// line per network in each, on one y scale.
func consistencySection(all []*consSeries, ext string) section {
	keys := consKeys(all)
	lv := consLevels(all)
	title := "Inter-metric consistency across layers (Fig. 1f)"
	if len(keys) == 1 {
		title = fmt.Sprintf("Inter-metric consistency of %s across layers (Fig. 1f)", lv)
	}
	names, colorOf := networkColors(all)
	legend := newLegend()
	thumbs := map[string][]plot.Thumbnailer{}
	lo, hi := math.Inf(1), math.Inf(-1)
	var panels []*plot.Plot
	var allLayers []string
	for _, k := range keys {
		var series []*consSeries
		var layers []string
		for _, s := range all {
			if s.key == k {
				series = append(series, s)
				layers = append(layers, s.layers...)
			}
		}
		layers = sortLayers(layers)
		allLayers = append(allLayers, layers...)
		at := map[string]float64{}
		for i, l := range layers {
			at[l] = float64(i)
		}
		ptitle := ""
		if len(keys) > 1 {
			ptitle = k.describe()
		}
		p := newPlot(ptitle, "Layer", consYLabel(all))
		// Dodge the series a little so that their error bars do not overlap.
		step := math.Min(0.08, 0.5/float64(len(series)))
		for j, s := range series {
			off := (float64(j) - float64(len(series)-1)/2) * step
			var xs, ys, elo, ehi []float64
			for _, l := range s.layers {
				m, e := s.mean[l], s.sem[l]
				xs, ys = append(xs, at[l]+off), append(ys, m)
				if math.IsNaN(e) {
					e = 0
				}
				a, b := m-e, m+e
				if ci, ok := s.ci[l]; ok {
					a, b = ci[0], ci[1]
				}
				elo, ehi = append(elo, a), append(ehi, b)
				if !math.IsNaN(m) {
					lo, hi = math.Min(lo, math.Min(m, a)), math.Max(hi, math.Max(m, b))
				}
			}
			col := colorAt(colorOf[s.label])
			if eb, ok := errorBars(xs, elo, ehi, col); ok {
				p.Add(eb)
			}
			th := lineSeries(p, xs, ys, col, glyphAt(colorOf[s.label]))
			if thumbs[s.label] == nil {
				thumbs[s.label] = th
			}
		}
		nominalX(p, layers)
		panels = append(panels, p)
	}
	for _, n := range names {
		legend.Add(n, thumbs[n]...)
	}
	if lo > hi {
		lo, hi = 0, 1
	}
	lo, hi = niceRange(lo-0.02, hi+0.02, 0.1, -1, 1)
	for _, p := range panels {
		if lo < 0 {
			n := int(p.X.Max + 0.5)
			p.Add(hline(n, 0, grey, true))
		}
		p.Y.Min, p.Y.Max = lo, hi
		p.Y.Tick.Marker = plot.ConstantTicks(rhoTicks(lo, hi))
	}
	cols, w := min(len(panels), 2), 5.5*vg.Inch
	if len(panels) > 1 {
		w = 4.5 * vg.Inch
	}
	s := section{
		heading: title,
		file:    fileName(ext, "fig_consistency"),
		caption: fmt.Sprintf("Mean Spearman ρ over every pair of metrics within a layer (%s); error bars: %s. One panel per level, one line per network.", lv, consErrorText(all)),
		fig:     &figure{title: title, panels: panels, cols: cols, panelW: w, panelH: 4 * vg.Inch, legend: legend},
	}
	tab := mdTable{header: []string{"layer"}}
	for _, se := range all {
		h := se.label
		if len(keys) > 1 {
			h += ", " + se.key.describe()
		}
		tab.header = append(tab.header, h+" ρ ± SEM (pairs)")
	}
	for _, l := range sortLayers(allLayers) {
		row := []string{l}
		for _, se := range all {
			m, ok := se.mean[l]
			switch {
			case !ok:
				row = append(row, "–")
			case se.hasPairs:
				row = append(row, fmt.Sprintf("%s ± %s (%s)", num3(m), num3(se.sem[l]), count(se.pairs[l])))
			default:
				row = append(row, fmt.Sprintf("%s ± %s", num3(m), num3(se.sem[l])))
			}
		}
		tab.rows = append(tab.rows, row)
	}
	s.tables = []mdTable{tab}
	if t, ok := consIntervalTable(all); ok {
		s.tables = append(s.tables, t)
	}
	return s
}

// ---- Fig. 1d --------------------------------------------------------------

func lesionSection(d *lesionData, ext string) section {
	measures, layers := d.describe()
	title := fmt.Sprintf("Metric–lesion agreement, %s (Fig. 1d)", layers)
	p := newPlot("", "Metric", "Spearman ρ (metric value vs. "+strings.ReplaceAll(measures, "_", " ")+")")
	names := make([]string, len(d.metrics))
	for i, m := range d.metrics {
		names[i] = displayMetric(m)
	}
	nominalX(p, names)
	ns := len(d.series)
	width := 0.7 / float64(ns)
	lo, hi := 0.0, 0.0
	var legend *plot.Legend
	if ns > 1 {
		legend = newLegend()
	}
	var lx, ly, ltop, ex, elo, ehi []float64
	var ltext []string
	format := "%.2f"
	for _, r := range d.rows {
		if math.Abs(r.rho) < 0.1 {
			format = "%.3f"
		}
	}
	for k, sname := range d.series {
		b := &bars{width: width * 0.92, color: colorAt(k)}
		if ns == 1 {
			b.color = colorAt(1)
		}
		for i, m := range d.metrics {
			r := d.find(m, sname)
			if r == nil {
				continue
			}
			x := float64(i) + (float64(k)-float64(ns-1)/2)*width
			b.xs, b.ys = append(b.xs, x), append(b.ys, r.rho)
			if !math.IsNaN(r.rho) {
				lo, hi = math.Min(lo, r.rho), math.Max(hi, r.rho)
			}
			top := r.rho
			if !math.IsNaN(r.lo) && !math.IsNaN(r.hi) {
				ex, elo, ehi = append(ex, x), append(elo, r.lo), append(ehi, r.hi)
				lo, hi = math.Min(lo, r.lo), math.Max(hi, r.hi)
				if r.rho >= 0 {
					top = r.hi
				} else {
					top = r.lo
				}
			}
			lx, ly, ltop, ltext = append(lx, x), append(ly, r.rho), append(ltop, top), append(ltext, fmt.Sprintf(format, r.rho))
		}
		p.Add(b)
		if legend != nil {
			legend.Add(sname, b)
		}
	}
	if eb, ok := errorBars(ex, elo, ehi, color.Black); ok {
		p.Add(eb)
		if legend == nil {
			legend = newLegend()
		}
		legend.Add("95% bootstrap interval", fakeErrorThumb{})
	}
	valueLabels(p, lx, ly, ltop, ltext)
	p.Add(hline(len(names), 0, color.Black, false))
	// Room for the value labels, and no empty half when all ρ share a sign.
	span := math.Max(hi-lo, 0.1)
	if lo < 0 {
		lo -= 0.12 * span
	}
	if hi > 0 {
		hi += 0.12 * span
	}
	lo, hi = niceRange(lo, hi, 0.1, -1, 1)
	nominalX(p, names)
	p.Y.Min, p.Y.Max = lo, hi
	p.Y.Tick.Marker = plot.ConstantTicks(rhoTicks(lo, hi))

	s := section{
		heading: title,
		file:    fileName(ext, "fig_lesion"),
		caption: fmt.Sprintf("Spearman ρ between each metric's per-kernel value and the lesion measure %s (%s); positive: kernels the metric ranks as more selective hurt the task more when lesioned. (The paper correlates lesion ranks, rank 1 = most damaging, so its ρ has the opposite sign.)", measures, layers),
		fig:     &figure{title: title, panels: []*plot.Plot{p}, cols: 1, panelW: 5 * vg.Inch, panelH: 4 * vg.Inch, legend: legend},
	}
	tab := mdTable{header: []string{"metric", "layer", "lesion measure", "ρ", "n", "series"}}
	if ns == 1 {
		tab.header = tab.header[:5]
	}
	if len(ex) > 0 {
		tab.header = append(tab.header, "ρ 95% bootstrap interval")
		s.caption += " Error bars: 95% percentile interval of ρ over bootstrap resamplings of the kernels."
	}
	for _, m := range d.metrics {
		for _, sname := range d.series {
			r := d.find(m, sname)
			if r == nil {
				continue
			}
			row := []string{displayMetric(m), r.layer, r.other, num3(r.rho), count(r.n)}
			if ns > 1 {
				row = append(row, sname)
			}
			if len(ex) > 0 {
				row = append(row, interval(r.lo, r.hi, num3))
			}
			tab.rows = append(tab.rows, row)
		}
	}
	s.tables = []mdTable{tab}
	return s
}

// ---- Fig. 1e --------------------------------------------------------------

// setLabel names a feature set under its bar.
func setLabel(set string) string {
	switch set {
	case "random":
		return "random"
	case "all":
		return "all kernels"
	}
	return displayMetric(set)
}

func decodingSection(all []*decSeries, ext string) section {
	sets := decodingSets(all)
	var layerParts []string
	for _, s := range all {
		if s.layer != "" && !contains(layerParts, s.layer) {
			layerParts = append(layerParts, s.layer)
		}
	}
	where := strings.Join(layerParts, ", ")
	title := "Face identity decoding (Fig. 1e)"
	if where != "" {
		title = fmt.Sprintf("Face identity decoding, %s (Fig. 1e)", where)
	}
	names := make([]string, len(sets))
	for i, set := range sets {
		names[i] = setLabel(set)
	}
	p := newPlot("", "Feature set"+kernelCounts(all, sets), "Identity decoding accuracy (%)")
	nominalX(p, names)
	ns := len(all)
	width := 0.7 / float64(ns)
	legend := newLegend()
	var chances []float64
	for k, s := range all {
		b := &bars{width: width * 0.92, color: colorAt(k)}
		if ns == 1 {
			b.color = colorAt(1)
		}
		var xs, lo, hi []float64
		for i, set := range sets {
			if _, ok := s.mean[set]; !ok {
				continue
			}
			x := float64(i) + (float64(k)-float64(ns-1)/2)*width
			b.xs, b.ys = append(b.xs, x), append(b.ys, 100*s.mean[set])
			xs, lo, hi = append(xs, x), append(lo, 100*s.lo[set]), append(hi, 100*s.hi[set])
		}
		p.Add(b)
		if eb, ok := errorBars(xs, lo, hi, color.Black); ok {
			p.Add(eb)
		}
		if ns > 1 {
			legend.Add(s.label, b)
		}
		if !math.IsNaN(s.chance) && !containsF(chances, s.chance) {
			chances = append(chances, s.chance)
		}
	}
	for _, c := range chances {
		l := hline(len(sets), 100*c, color.Black, true)
		p.Add(l)
		legend.Add(fmt.Sprintf("chance (%.3g %%)", 100*c), l)
	}
	nominalX(p, names)
	// A CI may reach past 100 %: leave room for its cap.
	p.Y.Min, p.Y.Max = 0, 102
	for _, s := range all {
		for _, set := range sets {
			if h, ok := s.hi[set]; ok && 100*h+2 > p.Y.Max {
				p.Y.Max = 100*h + 2
			}
		}
	}
	p.Y.Tick.Marker = plot.ConstantTicks(ticks(0, 100, 20, "%.0f"))
	legend.Add("95% CI across folds", fakeErrorThumb{})

	s := section{
		heading: title,
		file:    fileName(ext, "fig_decoding"),
		caption: "Face identity decoding accuracy (linear SVM, leave-one-image-out) from each metric's top-N kernels and the baselines; error bars: 95% CI across cross-validation folds (mean ± t·SD/√folds, clipped to [0, 100] %); dashed line: chance.",
		fig:     &figure{title: title, panels: []*plot.Plot{p}, cols: 1, panelW: 5.5 * vg.Inch, panelH: 4 * vg.Inch, legend: legend},
	}
	for _, se := range all {
		tab := mdTable{header: []string{"set", "kernels", "accuracy %", "95% CI %"}}
		if ns > 1 {
			tab.title = se.label
			if se.label != se.stage {
				tab.title += " (" + se.stage + ")"
			}
		}
		for _, set := range sets {
			if _, ok := se.mean[set]; !ok {
				continue
			}
			tab.rows = append(tab.rows, []string{setLabel(set), count(se.kernels[set]), fmt.Sprintf("%.1f", 100*se.mean[set]),
				fmt.Sprintf("%.1f – %.1f", 100*se.lo[set], 100*se.hi[set])})
		}
		if !math.IsNaN(se.chance) {
			tab.rows = append(tab.rows, []string{"chance", "", fmt.Sprintf("%.1f", 100*se.chance), ""})
		}
		s.tables = append(s.tables, tab)
	}
	return s
}

func containsF(s []float64, v float64) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// fakeErrorThumb is the legend's picture of an error bar.
type fakeErrorThumb struct{}

func (fakeErrorThumb) Thumbnail(c *draw.Canvas) {
	sty := draw.LineStyle{Color: color.Black, Width: 1}
	x := (c.Min.X + c.Max.X) / 2
	c.StrokeLine2(sty, x, c.Min.Y, x, c.Max.Y)
	c.StrokeLine2(sty, x-3, c.Min.Y, x+3, c.Min.Y)
	c.StrokeLine2(sty, x-3, c.Max.Y, x+3, c.Max.Y)
}

// kernelCounts says how many kernels the sets hold, when that is the same
// in every decode stage: " (N = 96 kernels each; all: 512)".
func kernelCounts(all []*decSeries, sets []string) string {
	n := map[string]float64{}
	for _, set := range sets {
		n[set] = math.NaN()
		for i, s := range all {
			v, ok := s.kernels[set]
			if !ok {
				continue
			}
			if i > 0 && !math.IsNaN(n[set]) && n[set] != v {
				return ""
			}
			n[set] = v
		}
	}
	top, allN := math.NaN(), math.NaN()
	for _, set := range sets {
		switch {
		case set == "all":
			allN = n[set]
		case math.IsNaN(top):
			top = n[set]
		case n[set] != top:
			return ""
		}
	}
	switch {
	case math.IsNaN(top):
		return ""
	case math.IsNaN(allN):
		return fmt.Sprintf(" (N = %.0f kernels each)", top)
	}
	return fmt.Sprintf(" (N = %.0f kernels each; all kernels: %.0f)", top, allN)
}
