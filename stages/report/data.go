package report

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"selectivity/stages"
	"selectivity/stages/internal/data"
)

// Input slots.
const (
	slotSummary     = "summary"
	slotConsistency = "consistency"
	slotLesion      = "lesion"
	slotDecoding    = "decoding"
	slotTraining    = "training"
)

// DecodingFile is the decode kind's table (package decode writes it; the
// name is repeated here so that the report does not pull in the solver).
const DecodingFile = "decoding.arrow"

// metricLabel is how figures name the metrics.
var metricLabel = map[string]string{"fsi": "FSI", "dprime": "d′", "wilcoxon": "Wilcoxon", "ttest": "t-test"}

// displayMetric names a metric (or any other set name) for a figure.
func displayMetric(m string) string {
	if l, ok := metricLabel[m]; ok {
		return l
	}
	return m
}

// metricOrder sorts names with the metrics first, in their canonical
// order, and the rest in order of first appearance.
func metricOrder(names []string) []string {
	var out []string
	for _, m := range data.Metrics {
		if slices.Contains(names, m) {
			out = append(out, m)
		}
	}
	for _, n := range names {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// layerLess orders layer names as a network does: names compared piece by
// piece, runs of digits by their number (conv2 < conv10 < fc6).
func layerLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := isDigit(a[0]), isDigit(b[0])
		ca, cb := chunk(a), chunk(b)
		switch {
		case da && db:
			na, _ := strconv.ParseUint(strings.TrimLeft(ca, "0")+"0", 10, 64)
			nb, _ := strconv.ParseUint(strings.TrimLeft(cb, "0")+"0", 10, 64)
			if len(ca) > 18 || len(cb) > 18 {
				na, nb = uint64(len(ca)), uint64(len(cb))
			}
			if na != nb {
				return na < nb
			}
		case da != db:
			return da
		}
		if ca != cb {
			return ca < cb
		}
		a, b = a[len(ca):], b[len(cb):]
	}
	return len(a) < len(b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// chunk is the leading run of digits or of non-digits of s.
func chunk(s string) string {
	d := isDigit(s[0])
	i := 1
	for i < len(s) && isDigit(s[i]) == d {
		i++
	}
	return s[:i]
}

// sortLayers returns the distinct names in network order.
func sortLayers(names []string) []string {
	out := slices.Clone(names)
	slices.SortFunc(out, func(a, b string) int {
		switch {
		case layerLess(a, b):
			return -1
		case layerLess(b, a):
			return 1
		}
		return strings.Compare(a, b)
	})
	return slices.Compact(out)
}

// levelKey is a level and aggregation: one panel group of Fig. 1b/1c.
type levelKey struct{ level, agg string }

// describe names a level for people: "units", "kernels (l2)".
func (k levelKey) describe() string {
	switch {
	case k.level == "unit":
		return "units"
	case k.level == "kernel" && k.agg != "":
		return "kernels (" + k.agg + ")"
	case k.level == "kernel":
		return "kernels"
	case k.agg != "":
		return k.level + " (" + k.agg + ")"
	}
	return k.level
}

// levelKeyLess puts units first, then kernels by aggregation in the
// aggregate kind's order (mean, l2, max), then the rest by name.
func levelKeyLess(a, b levelKey) bool {
	rank := func(k levelKey) (int, int) {
		lv := 2
		switch k.level {
		case "unit":
			lv = 0
		case "kernel":
			lv = 1
		}
		ag := slices.Index(data.Aggregations, k.agg)
		if ag < 0 {
			ag = len(data.Aggregations)
		}
		return lv, ag
	}
	la, aa := rank(a)
	lb, ab := rank(b)
	if la != lb {
		return la < lb
	}
	if aa != ab {
		return aa < ab
	}
	if a.level != b.level {
		return a.level < b.level
	}
	return a.agg < b.agg
}

// matrixLabel is an input's name in legends and panel titles: its label
// from the experiment file, else its matrix values (keys sorted, skipping
// those in drop), else its stage name.
func matrixLabel(in stages.Input, drop ...string) string {
	if in.Label != "" {
		return in.Label
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(in.Matrix)) {
		if v := in.Matrix[k]; v != "" && !slices.Contains(drop, v) {
			parts = append(parts, v)
		}
	}
	if len(parts) == 0 {
		return in.Stage
	}
	return strings.Join(parts, ", ")
}

// Network roles: the findings compare the trained network with its
// untrained twin.
const (
	roleTrained   = "trained"
	roleUntrained = "untrained"
)

// netRole tells which network a table belongs to from names that may say
// it (matrix values, stage names such as kernel-metrics@untrained-l2),
// most specific first: the first name holding exactly one of the words
// "trained" and "untrained" (as a whole word, split at anything but
// letters and digits) decides; "" when none does.
func netRole(names ...string) string {
	for _, n := range names {
		words := strings.FieldsFunc(strings.ToLower(n), func(r rune) bool {
			return !('a' <= r && r <= 'z' || '0' <= r && r <= '9')
		})
		tr, un := slices.Contains(words, roleTrained), slices.Contains(words, roleUntrained)
		switch {
		case tr && !un:
			return roleTrained
		case un && !tr:
			return roleUntrained
		}
	}
	return ""
}

// roleRank puts the trained network first, then the untrained one.
func roleRank(role string) int {
	switch role {
	case roleTrained:
		return 0
	case roleUntrained:
		return 1
	}
	return 2
}

// matrixValues are an input's matrix values, keys sorted.
func matrixValues(in stages.Input) []string {
	var v []string
	for _, k := range slices.Sorted(maps.Keys(in.Matrix)) {
		v = append(v, in.Matrix[k])
	}
	return v
}

// uniqueLabels replaces labels that two entries share by the entries'
// fallbacks (stage names), so that no two lines are named alike.
func uniqueLabels(labels, fallback []string) []string {
	out := slices.Clone(labels)
	count := map[string]int{}
	for _, l := range labels {
		count[l]++
	}
	for i, l := range labels {
		if count[l] > 1 {
			out[i] = fallback[i]
		}
	}
	return out
}

// ---- Fig. 1b/1c: percentage selected -------------------------------------

// selPanel is one summary input's rows of one level and aggregation.
type selPanel struct {
	stage, label string
	preferred    string                // the metric stage's preferred domain (schema metadata)
	matrix       map[string]string     // the input's matrix values
	net          string                // roleTrained, roleUntrained or ""
	metrics      []string              // in canonical order
	layers       []string              // in network order
	percent      map[[2]string]float64 // (metric, layer)
	selected     map[[2]string]float64
	items        map[[2]string]float64
	null         map[[2]string]*nullRow   // from a null input (beyond.go); nil: none
	ci           map[[2]string][2]float64 // bootstrap percentile interval; nil: none
	nullStage    string
	ciStage      string
}

// selFigure is Fig. 1b (units) or 1c (kernels of one aggregation).
type selFigure struct {
	key    levelKey
	panels []*selPanel
}

// readSummaries reads the summary tables, grouped by level and aggregation.
func readSummaries(ins []stages.Input) ([]*selFigure, error) {
	byKey := map[levelKey]*selFigure{}
	for _, in := range ins {
		t, err := readTable(slotSummary, in, data.MetricSummaryFile, "a metric stage")
		if err != nil {
			return nil, err
		}
		if err := t.need([]string{"layer", "level", "aggregation", "metric"}, []string{"percent"}); err != nil {
			return nil, err
		}
		if t.rows == 0 {
			return nil, fmt.Errorf("%s: no rows", t.where)
		}
		layer, level, agg, met := t.strings("layer"), t.strings("level"), t.strings("aggregation"), t.strings("metric")
		pct, sel, items := t.floats("percent"), t.floats("selected"), t.floats("items")
		panels := map[levelKey]*selPanel{}
		var order []levelKey
		for i := range t.rows {
			k := levelKey{level[i], agg[i]}
			p := panels[k]
			if p == nil {
				p = &selPanel{stage: in.Stage, label: matrixLabel(in, agg[i]), preferred: t.meta["preferred"], matrix: in.Matrix, net: netRole(append(matrixValues(in), in.Stage)...),
					percent: map[[2]string]float64{}, selected: map[[2]string]float64{}, items: map[[2]string]float64{}}
				panels[k] = p
				order = append(order, k)
			}
			if !slices.Contains(p.metrics, met[i]) {
				p.metrics = append(p.metrics, met[i])
			}
			p.layers = append(p.layers, layer[i])
			ml := [2]string{met[i], layer[i]}
			p.percent[ml], p.selected[ml], p.items[ml] = pct[i], sel[i], items[i]
		}
		for _, k := range order {
			p := panels[k]
			p.metrics = metricOrder(p.metrics)
			p.layers = sortLayers(p.layers)
			f := byKey[k]
			if f == nil {
				f = &selFigure{key: k}
				byKey[k] = f
			}
			f.panels = append(f.panels, p)
		}
	}
	keys := slices.Collect(maps.Keys(byKey))
	sort.Slice(keys, func(i, j int) bool { return levelKeyLess(keys[i], keys[j]) })
	var out []*selFigure
	for _, k := range keys {
		f := byKey[k]
		slices.SortStableFunc(f.panels, func(a, b *selPanel) int { return roleRank(a.net) - roleRank(b.net) })
		var labels, stagesOf []string
		for _, p := range f.panels {
			labels, stagesOf = append(labels, p.label), append(stagesOf, p.stage)
		}
		for i, l := range uniqueLabels(labels, stagesOf) {
			f.panels[i].label = l
		}
		out = append(out, f)
	}
	return out, nil
}

// ---- Fig. 1f: inter-metric consistency -----------------------------------

// consSeries is one line of Fig. 1f: one metric stage's consistency per
// layer, as one correlate stage computed it.
type consSeries struct {
	stage      string // the correlate stage
	input      string // the metric stage (the input column)
	label      string // the network
	net        string // roleTrained, roleUntrained or ""
	stageLabel string // the correlate stage's matrix label
	key        levelKey
	values     []string // its matrix values, sorted by key
	layers     []string
	mean       map[string]float64
	sem        map[string]float64
	pairs      map[string]float64
	hasPairs   bool
	ci         map[string][2]float64 // bootstrap percentile interval (beyond.go); nil: none
	ciStage    string
}

// readConsistency reads the consistency tables; one series per metric
// stage of each.
func readConsistency(ins []stages.Input) ([]*consSeries, error) {
	var all []*consSeries
	for _, in := range ins {
		t, err := readTable(slotConsistency, in, data.ConsistencyFile, "a correlate stage in mode metrics")
		if err != nil {
			return nil, err
		}
		if err := t.need([]string{"input", "layer", "level", "aggregation"}, []string{"mean_rho", "sem"}); err != nil {
			return nil, err
		}
		// The matrix columns sit between input and layer.
		var mcols []string
		if a, b := slices.Index(t.names, "input"), slices.Index(t.names, "layer"); a >= 0 && b > a {
			for _, c := range t.names[a+1 : b] {
				if t.isString(c) {
					mcols = append(mcols, c)
				}
			}
		}
		sort.Strings(mcols)
		inCol, layer, level, agg := t.strings("input"), t.strings("layer"), t.strings("level"), t.strings("aggregation")
		mean, sem, pairs := t.floats("mean_rho"), t.floats("sem"), t.floats("pairs")
		series := map[string]*consSeries{}
		for i := range t.rows {
			s := series[inCol[i]]
			if s == nil {
				s = &consSeries{stage: in.Stage, stageLabel: matrixLabel(in), input: inCol[i], key: levelKey{level[i], agg[i]},
					mean: map[string]float64{}, sem: map[string]float64{}, pairs: map[string]float64{}, hasPairs: t.has("pairs")}
				for _, c := range mcols {
					if v := t.strings(c)[i]; v != "" && v != agg[i] {
						s.values = append(s.values, v)
					}
				}
				s.net = netRole(append(append(slices.Clone(s.values), s.input, in.Stage), matrixValues(in)...)...)
				series[inCol[i]] = s
				all = append(all, s)
			}
			if (levelKey{level[i], agg[i]}) != s.key {
				return nil, fmt.Errorf("%s: input %s has rows of two levels (%s, %s)", t.where, inCol[i], s.key.describe(), levelKey{level[i], agg[i]}.describe())
			}
			s.layers = append(s.layers, layer[i])
			s.mean[layer[i]], s.sem[layer[i]], s.pairs[layer[i]] = mean[i], sem[i], pairs[i]
		}
	}
	// Labels name the network: the series' matrix values, else the
	// correlate stage's (consistency@untrained) or its name; within a level,
	// two series named alike are told apart by metric and correlate stage.
	var labels, fallback []string
	for _, s := range all {
		s.layers = sortLayers(s.layers)
		l := strings.Join(s.values, ", ")
		if l == "" {
			l = s.stageLabel
		}
		labels = append(labels, l)
		fallback = append(fallback, s.input+" ("+s.stage+")")
	}
	for _, k := range consKeys(all) {
		var idx []int
		var ls, fb []string
		for i, s := range all {
			if s.key == k {
				idx, ls, fb = append(idx, i), append(ls, labels[i]), append(fb, fallback[i])
			}
		}
		for j, l := range uniqueLabels(ls, fb) {
			all[idx[j]].label = l
		}
	}
	return all, nil
}

// consKeys are the levels of the series, in levelKeyLess order.
func consKeys(all []*consSeries) []levelKey {
	var keys []levelKey
	for _, s := range all {
		if !slices.Contains(keys, s.key) {
			keys = append(keys, s.key)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return levelKeyLess(keys[i], keys[j]) })
	return keys
}

// consLevels names the level(s) of the series, for titles and captions.
func consLevels(all []*consSeries) string {
	var parts []string
	for _, k := range consKeys(all) {
		parts = append(parts, k.describe())
	}
	return strings.Join(parts, ", ")
}

// ---- Fig. 1d: metric–lesion agreement ------------------------------------

// lesionRow is one ρ between a metric's values and a lesion measure.
type lesionRow struct {
	stage       string // the correlate stage
	layer       string
	metric      string // canonical metric name, or the column
	metricStage string
	other       string // the lesion column, e.g. loss_increase
	otherStage  string
	net         string // roleTrained, roleUntrained or ""
	rho, n      float64
	lo, hi      float64 // bootstrap percentile interval of ρ; NaN: none
	series      string  // filled by readLesion
}

// metricOfColumn maps a metric's ranking column (fsi, dprime, wilcoxon_z,
// ttest_t) to the metric.
func metricOfColumn(col string) (string, bool) {
	for _, m := range data.Metrics {
		if data.ValueColumn[m] == col {
			return m, true
		}
	}
	return "", false
}

// lesionData is Fig. 1d: bars grouped by metric, one series per
// combination of what else varies (layer, lesion measure, stages).
type lesionData struct {
	metrics []string
	series  []string
	rows    []*lesionRow
}

func (d *lesionData) find(m, s string) *lesionRow {
	for _, r := range d.rows {
		if r.metric == m && r.series == s {
			return r
		}
	}
	return nil
}

// readLesion reads the spearman tables of correlate stages in mode values.
func readLesion(ins []stages.Input) (*lesionData, error) {
	d := &lesionData{}
	for _, in := range ins {
		t, err := readTable(slotLesion, in, data.SpearmanFile, "a correlate stage in mode values")
		if err != nil {
			return nil, err
		}
		if err := t.need([]string{"layer", "x_stage", "x", "y_stage", "y"}, []string{"rho"}); err != nil {
			return nil, err
		}
		layer, xs, x, ys, y := t.strings("layer"), t.strings("x_stage"), t.strings("x"), t.strings("y_stage"), t.strings("y")
		rho, n, lo, hi := t.floats("rho"), t.floats("n"), t.floats("rho_q025"), t.floats("rho_q975")
		for i := range t.rows {
			r := &lesionRow{stage: in.Stage, layer: layer[i], metric: x[i], metricStage: xs[i],
				other: y[i], otherStage: ys[i], rho: rho[i], n: n[i], lo: lo[i], hi: hi[i]}
			if m, ok := metricOfColumn(x[i]); ok {
				r.metric = m
			} else if m, ok := metricOfColumn(y[i]); ok {
				r.metric, r.metricStage, r.other, r.otherStage = m, ys[i], x[i], xs[i]
			}
			r.net = netRole(append([]string{r.metricStage, in.Stage}, matrixValues(in)...)...)
			d.rows = append(d.rows, r)
		}
	}
	if len(d.rows) == 0 {
		return nil, fmt.Errorf("lesion inputs %s: no rows in %s", stageNames(ins), data.SpearmanFile)
	}
	// A part names the series when it differs between two rows of one metric.
	parts := []func(r *lesionRow) string{
		func(r *lesionRow) string { return r.layer },
		func(r *lesionRow) string { return r.other },
		func(r *lesionRow) string { return r.otherStage },
		func(r *lesionRow) string { return r.metricStage },
		func(r *lesionRow) string { return r.stage },
	}
	var vary []func(r *lesionRow) string
	for _, part := range parts {
		seen := map[string]string{}
		for _, r := range d.rows {
			if v, ok := seen[r.metric]; ok && v != part(r) {
				vary = append(vary, part)
				break
			}
			seen[r.metric] = part(r)
		}
	}
	var ms []string
	for _, r := range d.rows {
		var name []string
		for _, part := range vary {
			name = append(name, part(r))
		}
		r.series = strings.Join(name, ", ")
		if !slices.Contains(d.series, r.series) {
			d.series = append(d.series, r.series)
		}
		if !slices.Contains(ms, r.metric) {
			ms = append(ms, r.metric)
		}
	}
	d.metrics = metricOrder(ms)
	return d, nil
}

// lesionMeasures lists the lesion columns and layers, for captions.
func (d *lesionData) describe() (measures, layers string) {
	var ms, ls []string
	for _, r := range d.rows {
		if !slices.Contains(ms, r.other) {
			ms = append(ms, r.other)
		}
		if !slices.Contains(ls, r.layer) {
			ls = append(ls, r.layer)
		}
	}
	return strings.Join(ms, ", "), strings.Join(sortLayers(ls), ", ")
}

// ---- Fig. 1e: decoding ---------------------------------------------------

// decSeries is one decode stage's results.
type decSeries struct {
	stage, label string
	net          string // roleTrained, roleUntrained or ""
	sets         []string
	kernels      map[string]float64
	mean, lo, hi map[string]float64
	chance       float64 // NaN: unknown
	layer, agg   string
	identities   string
}

func readDecoding(ins []stages.Input) ([]*decSeries, error) {
	var out []*decSeries
	for _, in := range ins {
		t, err := readTable(slotDecoding, in, DecodingFile, "a decode stage")
		if err != nil {
			return nil, err
		}
		if err := t.need([]string{"set"}, []string{"mean", "ci_low", "ci_high"}); err != nil {
			return nil, err
		}
		s := &decSeries{stage: in.Stage, label: matrixLabel(in), kernels: map[string]float64{},
			mean: map[string]float64{}, lo: map[string]float64{}, hi: map[string]float64{}, chance: math.NaN(),
			layer: t.meta["layer"], agg: t.meta["aggregation"], identities: t.meta["identities"]}
		names := append(matrixValues(in), in.Stage)
		for _, k := range slices.Sorted(maps.Keys(t.meta)) {
			if strings.HasPrefix(k, "metric_stage_") {
				names = append(names, t.meta[k])
			}
		}
		s.net = netRole(names...)
		set, mean, lo, hi, nk := t.strings("set"), t.floats("mean"), t.floats("ci_low"), t.floats("ci_high"), t.floats("n_kernels")
		if t.has("chance") {
			for _, c := range t.floats("chance") {
				if !math.IsNaN(c) {
					s.chance = c
				}
			}
		} else if c, err := strconv.ParseFloat(t.meta["chance"], 64); err == nil {
			s.chance = c
		}
		for i := range t.rows {
			if !slices.Contains(s.sets, set[i]) {
				s.sets = append(s.sets, set[i])
			}
			// An accuracy lies in [0, 1]: the t interval is clipped to it.
			s.kernels[set[i]], s.mean[set[i]], s.lo[set[i]], s.hi[set[i]] = nk[i], mean[i], max(lo[i], 0), min(hi[i], 1)
		}
		if len(s.sets) == 0 {
			return nil, fmt.Errorf("%s: no rows", t.where)
		}
		out = append(out, s)
	}
	var labels, fallback []string
	for _, s := range out {
		labels, fallback = append(labels, s.label), append(fallback, s.stage)
	}
	for i, l := range uniqueLabels(labels, fallback) {
		out[i].label = l
	}
	return out, nil
}

// decodingSets is every set of the series, metrics first, then the
// baselines (random, all) in order of appearance.
func decodingSets(all []*decSeries) []string {
	var sets []string
	for _, s := range all {
		for _, n := range s.sets {
			if !slices.Contains(sets, n) {
				sets = append(sets, n)
			}
		}
	}
	return metricOrder(sets)
}

func stageNames(ins []stages.Input) string {
	var n []string
	for _, in := range ins {
		n = append(n, in.Stage)
	}
	return strings.Join(n, ", ")
}
