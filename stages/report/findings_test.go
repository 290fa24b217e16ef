package report

import (
	"math"
	"strings"
	"testing"

	"selectivity/stages"
)

var fiveLayers = []string{"conv2", "conv4", "conv7", "conv10", "conv13"}

// panel is a summary panel of one network: % selected per metric over
// fiveLayers.
func panel(net, label string, pct map[string][]float64) *selPanel {
	p := &selPanel{stage: "units@" + label, label: label, net: net, layers: fiveLayers, percent: map[[2]string]float64{}}
	for _, m := range []string{"fsi", "dprime", "wilcoxon", "ttest"} {
		if v, ok := pct[m]; ok {
			p.metrics = append(p.metrics, m)
			for i, l := range fiveLayers {
				p.percent[[2]string{m, l}] = v[i]
			}
		}
	}
	return p
}

var (
	fsiRising = []float64{2, 5, 9, 14, 20}
	flat      = []float64{1, 2, 1.5, 2, 2.5}
	rising    = []float64{1, 4, 8, 12, 16}
)

// outcome is what a finding should say: holds, and text its why must hold.
type outcome struct{ holds, why string }

func check(t *testing.T, name string, f finding, want outcome) {
	t.Helper()
	if f.holds != want.holds || !strings.Contains(f.why, want.why) {
		t.Errorf("%s: holds %q, why %q; want %q with %q", name, f.holds, f.why, want.holds, want.why)
	}
	if len(f.names) != len(f.values) {
		t.Errorf("%s: %d names for %d values", name, len(f.names), len(f.values))
	}
	if f.measured == "" || f.rule == "" || f.statement == "" {
		t.Errorf("%s: empty text in %+v", name, f)
	}
}

func TestFindingDepth(t *testing.T) {
	good := map[string][]float64{"fsi": fsiRising, "dprime": flat, "wilcoxon": flat, "ttest": flat}
	unit := func(ps ...*selPanel) *selFigure { return &selFigure{key: levelKey{"unit", ""}, panels: ps} }
	kernel := func(ps ...*selPanel) *selFigure { return &selFigure{key: levelKey{"kernel", "l2"}, panels: ps} }
	untrained := panel(roleUntrained, "untrained", map[string][]float64{"fsi": flat, "dprime": rising})
	cases := []struct {
		name string
		figs []*selFigure
		want outcome
	}{
		{"holds at both levels", []*selFigure{unit(panel(roleTrained, "trained", good), untrained), kernel(panel(roleTrained, "trained", good))},
			outcome{holdsTrue, "at every level"}},
		{"FSI flat", []*selFigure{unit(panel(roleTrained, "trained", map[string][]float64{"fsi": flat, "dprime": flat}))},
			outcome{holdsFalse, "units: FSI does not rise (+1.5 pp"}},
		{"FSI rises too little", []*selFigure{unit(panel(roleTrained, "trained", map[string][]float64{"fsi": {1, 2, 3, 4, 5}, "dprime": flat}))},
			outcome{holdsFalse, "FSI does not rise (+4.0 pp, ρ 1.00)"}},
		{"FSI not monotone", []*selFigure{unit(panel(roleTrained, "trained", map[string][]float64{"fsi": {2, 20, 2, 20, 9}, "dprime": flat}))},
			outcome{holdsFalse, "FSI does not rise"}},
		{"d′ rises too", []*selFigure{unit(panel(roleTrained, "trained", map[string][]float64{"fsi": fsiRising, "dprime": rising}))},
			outcome{holdsFalse, "units: d′ changes by +15.0 pp"}},
		{"one level fails", []*selFigure{unit(panel(roleTrained, "trained", good)), kernel(panel(roleTrained, "trained", map[string][]float64{"fsi": fsiRising, "ttest": {30, 20, 10, 5, 0}}))},
			outcome{holdsFalse, "kernels (l2): t-test changes by -30.0 pp"}},
		{"only untrained", []*selFigure{unit(untrained)}, outcome{holdsNA, "not tested: needs summary inputs"}},
		{"one unnamed network", []*selFigure{unit(panel("", "units", good))}, outcome{holdsTrue, "which no input names trained"}},
		{"two unnamed networks", []*selFigure{unit(panel("", "a", good), panel("", "b", good))}, outcome{holdsNA, "not tested"}},
		{"no inputs", nil, outcome{holdsNA, "not tested"}},
	}
	for _, c := range cases {
		check(t, c.name, findingDepth(c.figs), c.want)
	}
}

func lesionRows(net string, layer string, rho map[string]float64) []*lesionRow {
	var rows []*lesionRow
	for _, m := range []string{"fsi", "dprime", "wilcoxon", "ttest"} {
		if v, ok := rho[m]; ok {
			rows = append(rows, &lesionRow{stage: "vs@" + m, layer: layer, metric: m, metricStage: "kernel-metrics@" + net + "-l2",
				other: lesionMeasure, otherStage: "lesion", net: net, rho: v, n: 64})
		}
	}
	return rows
}

func TestFindingLesion(t *testing.T) {
	fsiBest := map[string]float64{"fsi": 0.29, "dprime": 0.1, "wilcoxon": 0.05, "ttest": -0.02}
	cases := []struct {
		name string
		rows []*lesionRow
		want outcome
	}{
		{"FSI best", lesionRows(roleTrained, "conv13", fsiBest), outcome{holdsTrue, "FSI has the largest ρ (0.290)"}},
		{"d′ best", lesionRows(roleTrained, "conv13", map[string]float64{"fsi": 0.1, "dprime": 0.2, "ttest": math.NaN()}),
			outcome{holdsFalse, "d′ has the largest ρ (0.200); FSI's is 0.100"}},
		{"conv13 before other layers", append(lesionRows(roleTrained, "conv13", fsiBest), lesionRows(roleTrained, "conv10", map[string]float64{"fsi": 0, "dprime": 0.9})...),
			outcome{holdsTrue, "FSI has the largest"}},
		{"deepest layer without conv13", append(lesionRows(roleTrained, "conv4", fsiBest), lesionRows(roleTrained, "conv10", map[string]float64{"fsi": 0, "dprime": 0.9})...),
			outcome{holdsFalse, "d′ has the largest ρ (0.900)"}},
		{"untrained rows left out", append(lesionRows(roleUntrained, "conv13", map[string]float64{"fsi": 0, "dprime": 0.9}), lesionRows(roleTrained, "conv13", fsiBest)...),
			outcome{holdsTrue, "FSI has the largest"}},
		{"only the untrained network", lesionRows(roleUntrained, "conv13", fsiBest), outcome{holdsNA, "not tested: needs lesion inputs"}},
		{"FSI alone", lesionRows(roleTrained, "conv13", map[string]float64{"fsi": 0.3}), outcome{holdsNA, "not tested"}},
		{"two unnamed networks", append(lesionRows("", "conv13", fsiBest), lesionRows("", "conv13", fsiBest)...), outcome{holdsNA, "a metric has two"}},
		{"one unnamed network", lesionRows("", "conv13", fsiBest), outcome{holdsTrue, "which no input names trained"}},
	}
	for _, c := range cases {
		check(t, c.name, findingLesion(&lesionData{rows: c.rows}), c.want)
	}
	check(t, "no lesion inputs", findingLesion(nil), outcome{holdsNA, "not tested"})
}

// TestSpearmanP: scipy.stats.spearmanr's p-values (testdata/report/spearman_p.py).
func TestSpearmanP(t *testing.T) {
	for _, c := range []struct {
		rho  float64
		n    int
		want float64
	}{
		{0.16764705882352943, 16, 0.5348568245819433},
		{0.2385957402066811, 512, 4.636147853526519e-08},
		{0.18142589118198876, 40, 0.2625511399203059},
		{0.8999999999999998, 5, 0.03738607346849874},
		{0.5949085029085031, 1000, 9.145092051661806e-97},
	} {
		if got := spearmanP(c.rho, c.n); math.Abs(got-c.want) > 1e-12*c.want {
			t.Errorf("ρ %g, n %d: p %g, scipy %g", c.rho, c.n, got, c.want)
		}
	}
	if !math.IsNaN(spearmanP(0.5, 2)) || spearmanP(1, 10) != 0 {
		t.Errorf("n 2: %g; ρ 1: %g", spearmanP(0.5, 2), spearmanP(1, 10))
	}
}

func decSer(net string, ci map[string][3]float64) *decSeries {
	s := &decSeries{stage: "dec@" + net, label: net, net: net, mean: map[string]float64{}, lo: map[string]float64{}, hi: map[string]float64{}, chance: 0.01}
	for m, v := range ci {
		s.sets = append(s.sets, m)
		s.mean[m], s.lo[m], s.hi[m] = v[0], v[1], v[2]
	}
	return s
}

func TestFindingDecoding(t *testing.T) {
	overlap := map[string][3]float64{"fsi": {0.6, 0.5, 0.7}, "dprime": {0.55, 0.45, 0.65}, "wilcoxon": {0.62, 0.52, 0.72}, "ttest": {0.58, 0.49, 0.67}, "random": {0.1, 0.05, 0.15}}
	apart := map[string][3]float64{"fsi": {0.8, 0.75, 0.85}, "dprime": {0.55, 0.45, 0.65}, "wilcoxon": {0.6, 0.5, 0.7}}
	cases := []struct {
		name   string
		series []*decSeries
		want   outcome
	}{
		{"CIs overlap", []*decSeries{decSer(roleTrained, overlap)}, outcome{holdsTrue, "all CIs share 52.0 – 65.0 %"}},
		{"CIs apart", []*decSeries{decSer(roleTrained, apart)}, outcome{holdsFalse, "the CIs of d′ [45.0, 65.0] and FSI [75.0, 85.0] do not overlap"}},
		{"trained picked", []*decSeries{decSer(roleUntrained, apart), decSer(roleTrained, overlap)}, outcome{holdsTrue, "all CIs share"}},
		{"only untrained", []*decSeries{decSer(roleUntrained, overlap)}, outcome{holdsNA, "not tested: needs decoding inputs"}},
		{"one metric", []*decSeries{decSer(roleTrained, map[string][3]float64{"fsi": {0.6, 0.5, 0.7}, "all": {0.9, 0.8, 1}})}, outcome{holdsNA, "not tested"}},
		{"one unnamed network", []*decSeries{decSer("", overlap)}, outcome{holdsTrue, "which no input names trained"}},
		{"none", nil, outcome{holdsNA, "not tested"}},
		{"a CI n/a", []*decSeries{decSer(roleTrained, map[string][3]float64{"fsi": {0.6, 0.5, 0.7}, "dprime": {0.9, math.NaN(), math.NaN()}})},
			outcome{holdsNA, "a CI here is n/a"}},
	}
	for _, c := range cases {
		check(t, c.name, findingDecoding(c.series), c.want)
	}
}

func cons(net, level string, mean []float64) *consSeries {
	s := &consSeries{stage: "consistency", input: "units@" + net, label: net, net: net, key: levelKey{level, ""},
		layers: fiveLayers, mean: map[string]float64{}, sem: map[string]float64{}}
	for i, l := range fiveLayers {
		s.mean[l] = mean[i]
	}
	return s
}

func TestFindingConsistency(t *testing.T) {
	trUp := []float64{0.3, 0.35, 0.45, 0.55, 0.6}
	unFlat := []float64{0.4, 0.38, 0.4, 0.37, 0.39}
	cases := []struct {
		name   string
		series []*consSeries
		want   outcome
	}{
		{"holds", []*consSeries{cons(roleTrained, "unit", trUp), cons(roleUntrained, "unit", unFlat)},
			outcome{holdsTrue, "trained above untrained at conv7, conv10, conv13"}},
		{"untrained above at conv7", []*consSeries{cons(roleTrained, "unit", trUp), cons(roleUntrained, "unit", []float64{0.4, 0.4, 0.5, 0.4, 0.4})},
			outcome{holdsFalse, "at conv7 the trained network is not above the untrained one (-0.050)"}},
		{"untrained rises too", []*consSeries{cons(roleTrained, "unit", trUp), cons(roleUntrained, "unit", []float64{0.1, 0.15, 0.2, 0.25, 0.3})},
			outcome{holdsFalse, "the untrained network's consistency rises too (+0.200, depth ρ 1.00)"}},
		{"trained flat", []*consSeries{cons(roleTrained, "unit", []float64{0.6, 0.6, 0.61, 0.6, 0.6}), cons(roleUntrained, "unit", unFlat)},
			outcome{holdsFalse, "the trained network's consistency does not rise"}},
		{"kernels only", []*consSeries{cons(roleTrained, "kernel", trUp), cons(roleUntrained, "kernel", unFlat)}, outcome{holdsNA, "at unit level of a trained and an untrained network"}},
		{"one network", []*consSeries{cons(roleTrained, "unit", trUp)}, outcome{holdsNA, "not tested"}},
		{"unnamed", []*consSeries{cons("", "unit", trUp), cons("", "unit", unFlat)}, outcome{holdsNA, "not tested"}},
	}
	for _, c := range cases {
		check(t, c.name, findingConsistency(c.series), c.want)
	}
}

// TestNetRole: the first name that says one network decides.
func TestNetRole(t *testing.T) {
	for _, c := range []struct {
		names []string
		want  string
	}{
		{[]string{"kernel-metrics@trained-l2"}, roleTrained},
		{[]string{"units@untrained"}, roleUntrained},
		{[]string{"l2", "consistency@Untrained"}, roleUntrained},
		{[]string{"trained-vs-untrained", "units@trained"}, roleTrained},
		{[]string{"pretrained", "overtrained_net"}, ""},
		{[]string{"units", "kernel-metrics@l2"}, ""},
	} {
		if got := netRole(c.names...); got != c.want {
			t.Errorf("%q: %q, want %q", c.names, got, c.want)
		}
	}
	if got := netRole(append(matrixValues(stages.Input{Matrix: map[string]string{"pool": "l2", "net": "untrained"}}), "x")...); got != roleUntrained {
		t.Errorf("matrix: %q", got)
	}
}
