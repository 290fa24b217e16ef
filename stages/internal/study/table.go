package study

import (
	"strconv"
	"strings"

	"selectivity/cache/arrowfile"
	"selectivity/stages/internal/data"
)

// write writes the layer's per-item table; see the package doc.
func (r *Result) write(path string, d *design, p *Params) error {
	var t arrowfile.Table
	item := make([]int64, r.items)
	for i := range item {
		item[i] = int64(i)
	}
	t.Int64s("item", item)
	sel := func(m string) []bool {
		s := make([]bool, r.items)
		for i := range s {
			s[i] = r.selected(m, i)
		}
		return s
	}
	if r.fsi != nil {
		t.Float64s(data.ValueColumn["fsi"], r.fsi)
		t.Bools(data.SelectedColumn("fsi"), sel("fsi"))
	}
	if r.dprime != nil {
		t.Float64s(data.ValueColumn["dprime"], r.dprime)
		t.Bools(data.SelectedColumn("dprime"), sel("dprime"))
	}
	if r.wz != nil {
		t.Float64s(data.ValueColumn["wilcoxon"], r.wz)
		t.Float64s("wilcoxon_p", r.wp)
		t.Bools(data.SelectedColumn("wilcoxon"), r.wsel)
	}
	if r.tmin != nil {
		t.Float64s(data.ValueColumn["ttest"], r.tmin)
		t.Bools(data.SelectedColumn("ttest"), r.tsel)
		for g, name := range d.groupNames() {
			t.Float64s("ttest_q_"+name, r.tq[g])
		}
	}
	meta := paramsMeta(p)
	meta[data.LevelKey] = r.layer.Level
	meta[data.AggregationKey] = r.layer.Aggregation
	meta[data.LayerKey] = r.layer.Name
	meta[arrowfile.ShapeKey] = r.shape
	meta["preferred_by"] = d.byKind
	meta["n_preferred"] = strconv.Itoa(d.nP)
	meta["n_nonpreferred"] = strconv.Itoa(len(d.order) - d.nP)
	if r.tmin != nil {
		meta["comparisons"] = strings.Join(d.groupNames(), ",")
	}
	return t.Write(path, meta)
}

// paramsMeta records the parameters that shape the results.
func paramsMeta(p *Params) map[string]string {
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	return map[string]string{
		"metrics":           strings.Join(p.Metrics, ","),
		"preferred":         p.Preferred,
		"fsi_threshold":     f(p.FSIThreshold),
		"dprime_threshold":  f(p.DPrimeThreshold),
		"ddof":              strconv.Itoa(p.DDof),
		"wilcoxon_test":     p.WilcoxonTest,
		"alpha":             f(p.Alpha),
		"ttest":             p.TTest,
		"fdr":               p.FDR,
		"q":                 f(p.Q),
		"compare":           p.Compare,
		"include_scrambled": strconv.FormatBool(p.IncludeScrambled),
	}
}

// summary collects the rows of summary.arrow.
type summary struct {
	layer, level, agg, metric []string
	items, selected           []int64
	percent                   []float64
}

// add appends one row per requested metric of a layer.
func (s *summary) add(r *Result, p *Params) {
	for _, m := range data.Metrics {
		if !p.has(m) {
			continue
		}
		k := r.selectedCount(m)
		s.layer = append(s.layer, r.layer.Name)
		s.level = append(s.level, r.layer.Level)
		s.agg = append(s.agg, r.layer.Aggregation)
		s.metric = append(s.metric, m)
		s.items = append(s.items, int64(r.items))
		s.selected = append(s.selected, int64(k))
		s.percent = append(s.percent, data.Percent(k, r.items))
	}
}

// write writes summary.arrow.
func (s *summary) write(path, input string, p *Params) error {
	var t arrowfile.Table
	t.Strings("layer", s.layer)
	t.Strings("level", s.level)
	t.Strings("aggregation", s.agg)
	t.Strings("metric", s.metric)
	t.Int64s("items", s.items)
	t.Int64s("selected", s.selected)
	t.Float64s("percent", s.percent)
	meta := paramsMeta(p)
	meta["input"] = input
	return t.Write(path, meta)
}
