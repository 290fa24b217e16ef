package report

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"selectivity/cache/arrowfile"
	"selectivity/stages/internal/data"
	"selectivity/stages/internal/stats"
)

// FindingsFile is the report's table of the study's four findings.
const FindingsFile = "findings.arrow"

// The findings' rules. A series "rises with depth" when Spearman's ρ
// between its values and the layers' positions in network order is at
// least riseDepthRho and its value at the deepest layer exceeds the one at
// the first by at least the finding's margin; it is "flat" when the two
// differ by less than flatPP percentage points.
const (
	riseDepthRho  = 0.7
	risePP        = 5.0  // F1: FSI's rise, percentage points
	flatPP        = 5.0  // F1: the other metrics' largest allowed change
	riseConsRho   = 0.05 // F4: the trained network's rise in mean ρ
	minTrendLayer = 3    // layers a trend needs
	fromLayer     = "conv7"
	lesionLayer   = "conv13"
	lesionMeasure = "loss_increase"
)

// Values of finding.holds.
const (
	holdsTrue  = "true"
	holdsFalse = "false"
	holdsNA    = "n/a"
)

// finding is one of the study's claims checked on this run's numbers.
type finding struct {
	id, statement, rule string
	measured            string    // this run's numbers, for people
	names               []string  // what values holds, e.g. "unit.fsi.delta_pp"
	values              []float64 // the numbers measured names
	holds               string    // holdsTrue, holdsFalse or holdsNA
	why                 string
}

func (f *finding) add(name string, v float64) {
	f.names, f.values = append(f.names, name), append(f.values, v)
}

func (f *finding) notTested(needs string) {
	f.holds, f.why = holdsNA, "not tested: needs "+needs
	if f.measured == "" {
		f.measured = "–"
	}
}

func (f *finding) decide(ok bool, why string) {
	f.holds, f.why = holdsFalse, why
	if ok {
		f.holds = holdsTrue
	}
}

// reportData is every input of the report, read.
type reportData struct {
	summaries   []*selFigure
	consistency []*consSeries
	lesion      *lesionData // nil: no lesion inputs
	decoding    []*decSeries
	training    *curve // nil: no training input
	beyond      beyondData
}

// findings checks the paper's four findings (paper.md, Results).
func findings(d *reportData) []finding {
	return []finding{findingDepth(d.summaries), findingLesion(d.lesion), findingDecoding(d.decoding), findingConsistency(d.consistency)}
}

// unnamedNote says that a finding was tested on the report's only network,
// which no input names trained.
const unnamedNote = " (on the only network, which no input names trained)"

// pickTrained returns the items of the trained network: those whose role
// is roleTrained; or, when no item names its network, all of them, with
// unnamed set (the callers then need them to be of one network).
func pickTrained[T any](items []T, role func(T) string) (out []T, unnamed bool) {
	named := false
	for _, it := range items {
		switch role(it) {
		case roleTrained:
			out = append(out, it)
			named = true
		case roleUntrained:
			named = true
		}
	}
	if !named {
		return items, true
	}
	return out, false
}

// trend is Spearman's ρ of ys against their positions (NaNs dropped), and
// the last finite value less the first; n counts the finite values.
func trend(ys []float64) (rho, delta float64, n int) {
	var pos, val []float64
	for i, y := range ys {
		if !math.IsNaN(y) {
			pos, val = append(pos, float64(i)), append(val, y)
		}
	}
	if len(val) < 2 {
		return math.NaN(), math.NaN(), len(val)
	}
	return stats.Spearman(pos, val), val[len(val)-1] - val[0], len(val)
}

func rises(rho, delta, margin float64, n int) bool {
	return n >= minTrendLayer && rho >= riseDepthRho && delta >= margin
}

func signed(v float64, format string) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%+"+format[1:], v)
}

// findingDepth is F1: in the trained network FSI's share of selected
// items rises with depth while the other metrics' shares stay flat, at
// every level (units, kernels of each aggregation).
func findingDepth(figs []*selFigure) finding {
	f := finding{id: "F1", statement: "In the trained network, FSI's share of selected units and kernels rises with depth (conv2 → conv13); the other metrics' shares stay roughly flat.",
		rule: fmt.Sprintf("per level, over the layers in network order: FSI rises (Spearman ρ of %% selected vs layer position ≥ %.1f and last − first layer ≥ %.0f pp, %d layers or more); every other metric is flat (|last − first| < %.0f pp); holds when it holds at every level", riseDepthRho, risePP, minTrendLayer, flatPP)}
	var measured, fails []string
	tested, unnamedAny := 0, false
	for _, fig := range figs {
		panels, unnamed := pickTrained(fig.panels, func(p *selPanel) string { return p.net })
		if len(panels) != 1 || !slices.Contains(panels[0].metrics, "fsi") || len(panels[0].layers) < minTrendLayer {
			continue
		}
		p, lv := panels[0], fig.key.describe()
		unnamedAny = unnamedAny || unnamed
		tested++
		var parts []string
		for _, m := range p.metrics {
			ys := make([]float64, len(p.layers))
			for i, l := range p.layers {
				ys[i] = math.NaN()
				if v, ok := p.percent[[2]string{m, l}]; ok {
					ys[i] = v
				}
			}
			rho, delta, n := trend(ys)
			key := fig.key.level
			if fig.key.agg != "" {
				key += "_" + fig.key.agg
			}
			f.add(key+"."+m+".delta_pp", delta)
			f.add(key+"."+m+".depth_rho", rho)
			parts = append(parts, fmt.Sprintf("%s %s pp (ρ %s)", displayMetric(m), signed(delta, "%.1f"), num2(rho)))
			switch {
			case m == "fsi" && !rises(rho, delta, risePP, n):
				fails = append(fails, fmt.Sprintf("%s: FSI does not rise (%s pp, ρ %s)", lv, signed(delta, "%.1f"), num2(rho)))
			case m != "fsi" && !(math.Abs(delta) < flatPP):
				fails = append(fails, fmt.Sprintf("%s: %s changes by %s pp", lv, displayMetric(m), signed(delta, "%.1f")))
			}
		}
		measured = append(measured, fmt.Sprintf("%s, %s → %s: %s", lv, p.layers[0], p.layers[len(p.layers)-1], strings.Join(parts, ", ")))
	}
	f.measured = strings.Join(measured, "; ")
	if tested == 0 {
		f.notTested(fmt.Sprintf("summary inputs (metric stages) of the trained network (a matrix value or stage name saying \"trained\") with FSI at %d or more layers", minTrendLayer))
		return f
	}
	why := "FSI rises and the other metrics stay flat at every level"
	if len(fails) > 0 {
		why = strings.Join(fails, "; ")
	}
	if unnamedAny {
		why += unnamedNote
	}
	f.decide(len(fails) == 0, why)
	return f
}

// spearmanP is the two-sided p-value of Spearman's ρ over n pairs by the
// t approximation, t = ρ·√((n−2)/(1−ρ²)) with n−2 degrees of freedom, as
// scipy.stats.spearmanr.
func spearmanP(rho float64, n int) float64 {
	if n < 3 || math.IsNaN(rho) {
		return math.NaN()
	}
	if math.Abs(rho) >= 1 {
		return 0
	}
	df := float64(n - 2)
	return stats.TwoSidedT(rho*math.Sqrt(df/(1-rho*rho)), df)
}

// findingLesion is F2: FSI agrees best with lesioning at conv13.
func findingLesion(d *lesionData) finding {
	f := finding{id: "F2", statement: "FSI agrees best with lesioning: of the four metrics, its per-kernel value correlates most with the loss increase when each conv13 kernel is lesioned (paper: r = −0.29 with lesion ranks, +0.29 in this report's sign).",
		rule: fmt.Sprintf("trained network, layer %s (else the deepest layer given), measure %s (else the first given): holds when FSI has the largest Spearman ρ of metric value vs lesion measure; p: two-sided, t approximation as scipy.stats.spearmanr", lesionLayer, lesionMeasure)}
	needs := "lesion inputs (correlate stages in mode values, a metric's value against a lesion measure) of two or more metrics, FSI among them, in the trained network"
	if d == nil {
		f.notTested(needs)
		return f
	}
	rows, unnamed := pickTrained(d.rows, func(r *lesionRow) string { return r.net })
	var layers, measures []string
	for _, r := range rows {
		layers, measures = append(layers, r.layer), append(measures, r.other)
	}
	layer, measure := lesionLayer, lesionMeasure
	if layers = sortLayers(layers); len(layers) > 0 && !slices.Contains(layers, layer) {
		layer = layers[len(layers)-1]
	}
	if len(measures) > 0 && !slices.Contains(measures, measure) {
		measure = measures[0]
	}
	byMetric := map[string]*lesionRow{}
	var ms []string
	twice := false
	for _, r := range rows {
		if r.layer != layer || r.other != measure || !slices.Contains(data.Metrics, r.metric) {
			continue
		}
		twice = twice || byMetric[r.metric] != nil
		if byMetric[r.metric] == nil {
			byMetric[r.metric] = r
			ms = append(ms, r.metric)
		}
	}
	ms = metricOrder(ms)
	if twice {
		needs += ", one per metric (here a metric has two: name the networks)"
	}
	if len(ms) < 2 || byMetric["fsi"] == nil || twice {
		f.notTested(needs)
		return f
	}
	best := ""
	var parts []string
	for _, m := range ms {
		r := byMetric[m]
		p := spearmanP(r.rho, int(r.n))
		f.add(m+".rho", r.rho)
		f.add(m+".p", p)
		f.add(m+".n", r.n)
		parts = append(parts, fmt.Sprintf("%s ρ = %s (p = %s, n = %s)", displayMetric(m), num3(r.rho), pval(p), count(r.n)))
		if !math.IsNaN(r.rho) && (best == "" || r.rho > byMetric[best].rho) {
			best = m
		}
	}
	f.measured = fmt.Sprintf("%s, %s: %s", layer, measure, strings.Join(parts, "; "))
	if best == "" {
		f.notTested(needs + " (every ρ here is n/a)")
		return f
	}
	why := fmt.Sprintf("%s has the largest ρ (%s)", displayMetric(best), num3(byMetric[best].rho))
	if best != "fsi" {
		why += fmt.Sprintf("; FSI's is %s", num3(byMetric["fsi"].rho))
	}
	if unnamed {
		why += unnamedNote
	}
	f.decide(best == "fsi", why)
	return f
}

func pval(p float64) string {
	switch {
	case math.IsNaN(p):
		return "n/a"
	case p < 1e-4:
		return fmt.Sprintf("%.1e", p)
	}
	return fmt.Sprintf("%.4f", p)
}

func num2(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", v)
}

// findingDecoding is F3: identity decoding accuracy is the same for every
// metric's selected kernels, within their 95% CIs.
func findingDecoding(all []*decSeries) finding {
	f := finding{id: "F3", statement: "Face identity decoding from each metric's selected kernels (equal counts) is equally accurate for all metrics.",
		rule: "trained network: holds when the metrics' 95% CIs all overlap (the largest lower bound ≤ the smallest upper bound; for intervals, pairwise overlap is the same)"}
	needs := "decoding inputs (a decode stage of the trained network) with two or more metrics"
	series, unnamed := pickTrained(all, func(s *decSeries) string { return s.net })
	if len(series) != 1 {
		f.notTested(needs)
		return f
	}
	s := series[0]
	var ms []string
	for _, m := range data.Metrics {
		if _, ok := s.mean[m]; ok {
			ms = append(ms, m)
		}
	}
	if len(ms) < 2 {
		f.notTested(needs)
		return f
	}
	lo, hi := math.Inf(-1), math.Inf(1)
	var loM, hiM string
	var parts []string
	nanCI := false
	for _, m := range ms {
		nanCI = nanCI || math.IsNaN(s.lo[m]) || math.IsNaN(s.hi[m])
		f.add(m+".mean", s.mean[m])
		f.add(m+".ci_low", s.lo[m])
		f.add(m+".ci_high", s.hi[m])
		parts = append(parts, fmt.Sprintf("%s %.1f %% [%.1f, %.1f]", displayMetric(m), 100*s.mean[m], 100*s.lo[m], 100*s.hi[m]))
		if s.lo[m] > lo || loM == "" {
			lo, loM = s.lo[m], m
		}
		if s.hi[m] < hi || hiM == "" {
			hi, hiM = s.hi[m], m
		}
	}
	f.add("chance", s.chance)
	f.measured = strings.Join(parts, "; ")
	if !math.IsNaN(s.chance) {
		f.measured += fmt.Sprintf("; chance %.1f %%", 100*s.chance)
	}
	if nanCI {
		f.notTested(needs + " and their CIs (a CI here is n/a)")
		return f
	}
	why := fmt.Sprintf("all CIs share %.1f – %.1f %%", 100*lo, 100*hi)
	if lo > hi {
		why = fmt.Sprintf("the CIs of %s [%.1f, %.1f] and %s [%.1f, %.1f] do not overlap",
			displayMetric(hiM), 100*s.lo[hiM], 100*s.hi[hiM], displayMetric(loM), 100*s.lo[loM], 100*s.hi[loM])
	}
	if unnamed {
		why += unnamedNote
	}
	f.decide(lo <= hi, why)
	return f
}

// findingConsistency is F4: at unit level, the trained network's
// inter-metric consistency exceeds the untrained one's from conv7 on, and
// rises with depth only in the trained network.
func findingConsistency(all []*consSeries) finding {
	f := finding{id: "F4", statement: "Unit-level inter-metric consistency is higher in the trained than in the untrained network from conv7 on, and rises with depth only in the trained network.",
		rule: fmt.Sprintf("units: trained mean ρ > untrained mean ρ at every layer from %s on; the trained network's mean ρ rises (Spearman ρ vs layer position ≥ %.1f and last − first ≥ %.2f, %d layers or more) and the untrained one's does not", fromLayer, riseDepthRho, riseConsRho, minTrendLayer)}
	var tr, un *consSeries
	for _, s := range all {
		if s.key.level != "unit" {
			continue
		}
		switch {
		case s.net == roleTrained && tr == nil:
			tr = s
		case s.net == roleUntrained && un == nil:
			un = s
		}
	}
	needs := fmt.Sprintf("consistency inputs (correlate stages in mode metrics) at unit level of a trained and an untrained network (matrix values or stage names saying \"trained\" and \"untrained\") sharing %d or more layers, %s or a deeper one among them", minTrendLayer, fromLayer)
	if tr == nil || un == nil {
		f.notTested(needs)
		return f
	}
	var layers, late []string
	for _, l := range tr.layers {
		if _, ok := un.mean[l]; ok {
			layers = append(layers, l)
			if !layerLess(l, fromLayer) {
				late = append(late, l)
			}
		}
	}
	if len(layers) < minTrendLayer || len(late) == 0 {
		f.notTested(needs)
		return f
	}
	var diffs, fails []string
	for _, l := range late {
		d := tr.mean[l] - un.mean[l]
		f.add("diff."+l, d)
		diffs = append(diffs, fmt.Sprintf("%s %s", l, signed(d, "%.3f")))
		if !(d > 0) {
			fails = append(fails, fmt.Sprintf("at %s the trained network is not above the untrained one (%s)", l, signed(d, "%.3f")))
		}
	}
	ys := func(s *consSeries) []float64 {
		v := make([]float64, len(layers))
		for i, l := range layers {
			v[i] = s.mean[l]
		}
		return v
	}
	trRho, trDelta, trN := trend(ys(tr))
	unRho, unDelta, unN := trend(ys(un))
	f.add("trained.depth_rho", trRho)
	f.add("trained.delta", trDelta)
	f.add("untrained.depth_rho", unRho)
	f.add("untrained.delta", unDelta)
	first, last := layers[0], layers[len(layers)-1]
	f.measured = fmt.Sprintf("trained − untrained: %s; %s → %s: trained %s → %s (depth ρ %s), untrained %s → %s (depth ρ %s)",
		strings.Join(diffs, ", "), first, last, num3(tr.mean[first]), num3(tr.mean[last]), num2(trRho),
		num3(un.mean[first]), num3(un.mean[last]), num2(unRho))
	if !rises(trRho, trDelta, riseConsRho, trN) {
		fails = append(fails, fmt.Sprintf("the trained network's consistency does not rise (%s, depth ρ %s)", signed(trDelta, "%.3f"), num2(trRho)))
	}
	if rises(unRho, unDelta, riseConsRho, unN) {
		fails = append(fails, fmt.Sprintf("the untrained network's consistency rises too (%s, depth ρ %s)", signed(unDelta, "%.3f"), num2(unRho)))
	}
	why := fmt.Sprintf("trained above untrained at %s; only the trained network's consistency rises", strings.Join(late, ", "))
	if len(fails) > 0 {
		why = strings.Join(fails, "; ")
	}
	f.decide(len(fails) == 0, why)
	return f
}

// findingsSection is the table at the top of the report.
func findingsSection(fs []finding) section {
	s := section{heading: "The study's findings on this run",
		caption: "Each of the paper's four findings (paper.md, Results) checked on this run's numbers; \"not tested\" says what input is missing. The rules:"}
	tab := mdTable{header: []string{"finding", "this run", "holds", "why"}}
	for _, f := range fs {
		holds := map[string]string{holdsTrue: "yes", holdsFalse: "no", holdsNA: "not tested"}[f.holds]
		tab.rows = append(tab.rows, []string{f.id + ": " + f.statement, f.measured, holds, f.why})
		s.notes = append(s.notes, f.id+": "+f.rule+".")
	}
	s.tables = []mdTable{tab}
	return s
}

// writeFindings writes findings.arrow: one row per finding with id,
// statement, rule, measured (text), value_names (utf8, the names of
// values joined by "; "), values (list<float64>), holds ("true", "false"
// or "n/a") and why.
func writeFindings(path string, fs []finding) error {
	var id, statement, rule, measured, names, holds, why []string
	var values [][]float64
	for _, f := range fs {
		id, statement, rule, measured = append(id, f.id), append(statement, f.statement), append(rule, f.rule), append(measured, f.measured)
		names, values = append(names, strings.Join(f.names, "; ")), append(values, f.values)
		holds, why = append(holds, f.holds), append(why, f.why)
	}
	var t arrowfile.Table
	t.Strings("id", id)
	t.Strings("statement", statement)
	t.Strings("rule", rule)
	t.Strings("measured", measured)
	t.Strings("value_names", names)
	t.Float64Lists("values", values)
	t.Strings("holds", holds)
	t.Strings("why", why)
	return t.Write(path, map[string]string{"table": "findings"})
}
