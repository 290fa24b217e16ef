package report

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"selectivity/cache/arrowfile"
	"selectivity/pipeline/pipelinetest"
	"selectivity/stages"
	"selectivity/stages/internal/data"
)

// beyondExperiment runs the real permutation, bootstrap, reliability and
// variants kinds on the synthetic activations, and the report over them.
const beyondExperiment = `
stages:
  acts:
    kind: report-test-acts
    matrix: {net: [trained, untrained]}
    params: {net: "${matrix.net}"}
  agg:
    kind: aggregate
    matrix: {net: [trained, untrained]}
    inputs: {acts: "acts@${matrix.net}"}
    params: {method: l2}
  kernel:
    kind: metric
    matrix: {net: [trained, untrained]}
    inputs: {acts: "agg@${matrix.net}"}
  cons:
    kind: correlate
    matrix: {net: [trained, untrained]}
    inputs: {values: "kernel@${matrix.net}"}
  chance:
    kind: permutation
    matrix: {net: [trained, untrained]}
    inputs: {acts: "agg@${matrix.net}"}
    params: {permutations: 20, seed: 1}
  boot:
    kind: bootstrap
    matrix: {net: [trained, untrained]}
    inputs: {acts: "agg@${matrix.net}"}
    params: {draws: 20, seed: 1}
  rel:
    kind: reliability
    inputs: {acts: agg@trained}
    params: {splits: 10, seed: 1}
  welch:
    kind: metric
    inputs: {acts: agg@trained}
    params: {ttest: welch}
  var:
    kind: variants
    inputs: {metrics: [kernel@trained, welch, kernel@untrained]}
  les:
    kind: report-test-lesion
  vs:
    kind: correlate
    matrix: {metric: [fsi, dprime]}
    inputs: {x: kernel@trained, y: les}
    params: {mode: values, x_column: "${matrix.metric}", y_column: loss_increase, layer: conv10, bootstrap: 50, seed: 2}
  fig:
    kind: report
    inputs: {summary: kernel, consistency: cons, lesion: vs, null: chance, bootstrap: boot, reliability: rel, variants: var}
    params: {dpi: 100}
`

// TestBeyondExperiment: every panel is drawn and report.md holds every
// number of the upstream tables, each null and interval beside the panel
// of its own network.
func TestBeyondExperiment(t *testing.T) {
	p := runExperiment(t, pipelinetest.Experiment(t, beyondExperiment))
	res := p.Exp.ResultsDir
	out, err := filepath.EvalSymlinks(filepath.Join(res, "fig"))
	if err != nil {
		t.Fatal(err)
	}
	keep(t, out, "beyond")
	for _, f := range []string{"fig_selected_kernel_l2.png", "fig_consistency.png", "fig_lesion.png", "fig_reliability.png",
		"fig_variants_agreement.png", "fig_variants_percent.png"} {
		decodePNG(t, filepath.Join(out, f))
	}
	md, err := os.ReadFile(filepath.Join(out, IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	report := string(md)
	for _, net := range []string{"trained", "untrained"} {
		// The null table of each network's panel, row by row.
		s := readRows(t, filepath.Join(res, "chance@"+net, data.PermutationSummaryFile))
		title := fmt.Sprintf("**%s: permutation null (chance@%s)**", net, net)
		sec := tableAfter(t, report, title)
		for i := range s.rows {
			row := fmt.Sprintf("| %s | %s | %s | %s | %s – %s | %s | %s | %s |", s.str["layer"][i], displayMetric(s.str["metric"][i]),
				pct(s.num["observed_percent"][i]), pct(s.num["null_mean_percent"][i]), pct(s.num["null_q025_percent"][i]),
				pct(s.num["null_q975_percent"][i]), pval(s.num["p_value"][i]), num3(s.num["false_positive_rate"][i]), count(s.num["permutations"][i]))
			if !strings.Contains(sec, row) {
				t.Errorf("%s lacks %s", title, row)
			}
		}
		b := readRows(t, filepath.Join(res, "boot@"+net, data.BootstrapSummaryFile))
		title = fmt.Sprintf("**%s: bootstrap intervals (boot@%s)**", net, net)
		sec = tableAfter(t, report, title)
		cons := tableAfter(t, report, "**Bootstrap intervals of consistency**")
		for i := range b.rows {
			row := fmt.Sprintf("| %s | %s | %s | %s – %s |", b.str["layer"][i], displayMetric(b.str["metric"][i]),
				pct(b.num["observed_percent"][i]), pct(b.num["percent_q025"][i]), pct(b.num["percent_q975"][i]))
			if !strings.Contains(sec, row) {
				t.Errorf("%s lacks %s", title, row)
			}
			row = fmt.Sprintf("| %s | %s | kernels (l2) | %s | %s – %s | boot@%s |", b.str["layer"][i], net,
				num3(b.num["observed_rho"][i]), num3(b.num["rho_q025"][i]), num3(b.num["rho_q975"][i]), net)
			if !strings.Contains(cons, row) {
				t.Errorf("consistency intervals lack %s", row)
			}
		}
	}
	// Fig. 1d's ρ with its bootstrap interval.
	for _, m := range []string{"fsi", "dprime"} {
		v := readRows(t, filepath.Join(res, "vs@"+m, data.SpearmanFile))
		row := fmt.Sprintf("| %s | conv10 | loss_increase | %s | %s | %s |", displayMetric(m), num3(v.num["rho"][0]), count(v.num["n"][0]),
			interval(v.num["rho_q025"][0], v.num["rho_q975"][0], num3))
		if math.IsNaN(v.num["rho_q025"][0]) || !strings.Contains(report, row) {
			t.Errorf("report.md lacks %s", row)
		}
	}
	r := readRows(t, filepath.Join(res, "rel", data.ReliabilitySummaryFile))
	sec := tableAfter(t, report, "**rel (rel, kernels (l2))**")
	for i := range r.rows {
		row := fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s |", r.str["layer"][i], displayMetric(r.str["metric"][i]),
			num3(r.num["reliability_mean"][i]), interval(r.num["reliability_q025"][i], r.num["reliability_q975"][i], num3),
			num3(r.num["jaccard_mean"][i]), interval(r.num["jaccard_q025"][i], r.num["jaccard_q975"][i], num3), count(r.num["splits"][i]))
		if !strings.Contains(sec, row) {
			t.Errorf("reliability table lacks %s", row)
		}
	}
	// Variants: the % table (labels are matrix values, else stage names)
	// and each pair's Jaccard and ρ.
	label := map[string]string{"kernel@trained": "trained", "welch": "welch", "kernel@untrained": "untrained"}
	pc := readRows(t, filepath.Join(res, "var", data.VariantPercentFile))
	for i := range pc.rows {
		cell := pct(pc.num["percent"][i])
		if pc.str["variant"][i] != "kernel@trained" {
			cell = fmt.Sprintf("%s (%+.2f)", cell, pc.num["delta_percent"][i])
		}
		if !strings.Contains(report, "| "+pc.str["layer"][i]+" | "+label[pc.str["variant"][i]]+" |") || !strings.Contains(report, cell) {
			t.Errorf("report lacks %% selected %s %s %s: %s", pc.str["variant"][i], pc.str["layer"][i], pc.str["metric"][i], cell)
		}
	}
	pr := readRows(t, filepath.Join(res, "var", data.VariantPairsFile))
	for i := range pr.rows {
		cell := num3(pr.num["jaccard"][i]) + " | " + num3(pr.num["spearman"][i])
		head := "| " + pr.str["layer"][i] + " | " + label[pr.str["a"][i]] + " | " + label[pr.str["b"][i]] + " |"
		if !strings.Contains(lineWith(report, head), cell) {
			t.Errorf("pairs table lacks %s %s: %s", head, pr.str["metric"][i], cell)
		}
	}
}

// tableAfter is the part of report.md from title to the next blank line
// after its table.
func tableAfter(t *testing.T, md, title string) string {
	t.Helper()
	i := strings.Index(md, title)
	if i < 0 {
		t.Fatalf("report.md lacks %s", title)
	}
	rest := md[i+len(title)+2:]
	if j := strings.Index(rest, "\n\n"); j >= 0 {
		return rest[:j]
	}
	return rest
}

// lineWith is the first line of md that contains s.
func lineWith(md, s string) string {
	for _, l := range strings.Split(md, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// writeInput writes tables into a new folder as the outputs of stage.
func writeInput(t *testing.T, stage string, matrix map[string]string, tables map[string]*arrowfile.Table, meta map[string]map[string]string) stages.Input {
	t.Helper()
	dir := t.TempDir()
	in := stages.Input{Stage: stage, Matrix: matrix, Dir: dir}
	for name, tab := range tables {
		if err := tab.Write(filepath.Join(dir, name), meta[name]); err != nil {
			t.Fatal(err)
		}
		in.Files = append(in.Files, name)
	}
	return in
}

// dissociationInputs: 6 kernels; FSI ranks 4, 1, 5, … first, d′ 0, 2, ….
func dissociationInputs(t *testing.T, object bool) (lesion, metrics stages.Input) {
	var l arrowfile.Table
	l.Int64s("item", []int64{0, 1, 2, 3, 4, 5})
	l.Float64s("loss_increase", []float64{0.1, 0.5, 0.0, 0.2, 0.9, 0.3})
	if object {
		l.Float64s("object_loss_increase", []float64{0.4, 0.0, 0.2, 0.1, 0.1, 0.3})
	}
	lesion = writeInput(t, "lesion", nil, map[string]*arrowfile.Table{"conv13.arrow": &l},
		map[string]map[string]string{"conv13.arrow": {"layer": "conv13", "table": "lesion"}})
	var m arrowfile.Table
	// The metric table in another item order than the lesion table.
	m.Int64s("item", []int64{5, 4, 3, 2, 1, 0})
	m.Float64s("fsi", []float64{0.5, 0.9, 0.1, math.NaN(), 0.7, 0.2})
	m.Float64s("dprime", []float64{0.0, 0.1, 0.2, 3.0, 0.3, 4.0})
	var s arrowfile.Table
	s.Strings("layer", []string{"conv13", "conv13", "conv4"})
	s.Strings("level", []string{"kernel", "kernel", "kernel"})
	s.Strings("aggregation", []string{"l2", "l2", "l2"})
	s.Strings("metric", []string{"fsi", "dprime", "fsi"})
	s.Int64s("items", []int64{6, 6, 6})
	s.Int64s("selected", []int64{3, 2, 0})
	s.Float64s("percent", []float64{50, 100.0 / 3, 0})
	metrics = writeInput(t, "kernel-metrics@trained-l2", map[string]string{"net": "trained", "pool": "l2"},
		map[string]*arrowfile.Table{"conv13.arrow": &m, "summary.arrow": &s}, nil)
	return lesion, metrics
}

// TestDissociation checks the top-N sets and their means against values
// worked out by hand, with N from the smallest selection and given.
func TestDissociation(t *testing.T) {
	les, met := dissociationInputs(t, true)
	ins := map[string][]stages.Input{slotDissLesion: {les}, slotDissMetrics: {met}}
	mean := func(v ...float64) float64 {
		s := 0.0
		for _, x := range v {
			s += x
		}
		return s / float64(len(v))
	}
	// FSI by kernel: 0 0.2, 1 0.7, 2 NaN, 3 0.1, 4 0.9, 5 0.5 → 4, 1, 5, 0, 3, 2.
	// d′ by kernel: 0 4, 1 0.3, 2 3, 3 0.2, 4 0.1, 5 0 → 0, 2, 1, 3, 4, 5.
	face := []float64{0.1, 0.5, 0.0, 0.2, 0.9, 0.3}
	obj := []float64{0.4, 0.0, 0.2, 0.1, 0.1, 0.3}
	pick := func(v []float64, idx ...int) []float64 {
		var out []float64
		for _, i := range idx {
			out = append(out, v[i])
		}
		return out
	}
	for _, c := range []struct {
		top               int
		n                 int
		fsiTop, fsiRest   []int
		dprimeTop, dpRest []int
	}{
		{0, 2, []int{4, 1}, []int{5, 0, 3, 2}, []int{0, 2}, []int{1, 3, 4, 5}},
		{3, 3, []int{4, 1, 5}, []int{0, 3, 2}, []int{0, 2, 1}, []int{3, 4, 5}},
	} {
		d := &reportData{}
		if _, err := readBeyond(ins, d, c.top); err != nil {
			t.Fatal(err)
		}
		x := d.beyond.diss[0]
		if x.n != c.n || x.layer != "conv13" || x.kernels != 6 || len(x.rows) != 2 {
			t.Fatalf("top %d: n %d layer %s kernels %d rows %d", c.top, x.n, x.layer, x.kernels, len(x.rows))
		}
		for _, r := range x.rows {
			top, rest := c.fsiTop, c.fsiRest
			if r.metric == "dprime" {
				top, rest = c.dprimeTop, c.dpRest
			}
			for _, w := range []struct {
				name      string
				got, want float64
			}{
				{"face top", r.face.topMean, mean(pick(face, top...)...)},
				{"face rest", r.face.restMean, mean(pick(face, rest...)...)},
				{"object top", r.object.topMean, mean(pick(obj, top...)...)},
				{"object rest", r.object.restMean, mean(pick(obj, rest...)...)},
			} {
				if math.Abs(w.got-w.want) > 1e-12 {
					t.Errorf("top %d, %s %s: %v, want %v", c.top, r.metric, w.name, w.got, w.want)
				}
			}
		}
	}
	// scipy.stats.mannwhitneyu([0.9, 0.5], [0.3, 0.1, 0.2, 0.0], alternative="greater",
	// method="asymptotic").pvalue = 0.0525962525600207, and for the object
	// task ([0.1, 0.0] against [0.3, 0.4, 0.1, 0.2]) 0.9698554130046989;
	// scipy.stats.sem([0.9, 0.5]) = 0.2.
	d := &reportData{}
	if _, err := readBeyond(ins, d, 0); err != nil {
		t.Fatal(err)
	}
	if r := d.beyond.diss[0].rows[0]; r.metric != "fsi" || math.Abs(r.face.p-0.0525962525600207) > 1e-12 || math.Abs(r.object.p-0.9698554130046989) > 1e-12 || math.Abs(r.face.topSEM-0.2) > 1e-12 {
		t.Errorf("fsi face p %v, SEM %v", r.face.p, r.face.topSEM)
	}
	out, err := runReport(t, &Params{Title: "t", Format: "png", DPI: 60}, ins)
	if err != nil {
		t.Fatal(err)
	}
	keep(t, out, "dissociation")
	decodePNG(t, filepath.Join(out, "fig_dissociation_kernel-metrics-trained-l2.png"))
	md, _ := os.ReadFile(filepath.Join(out, IndexFile))
	if row := "| FSI | 0.7 ± 0.2 | 0.15 ± 0.06455 | 0.55 | 0.0526 | 0.05 ± 0.05 | 0.25 ± 0.06455 | -0.2 | 0.9699 |"; !strings.Contains(string(md), row) {
		t.Errorf("report.md lacks %s:\n%s", row, md)
	}
}

// TestBeyondErrors: a missing file or column names the slot, the stage
// and the file; a null or bootstrap of no summary panel, a lesion stage
// without the object task and an impossible N are errors too.
func TestBeyondErrors(t *testing.T) {
	les, met := dissociationInputs(t, true)
	lesNoObj, _ := dissociationInputs(t, false)
	var bad arrowfile.Table
	bad.Strings("layer", []string{"conv13"})
	bad.Strings("metric", []string{"fsi"})
	badIn := writeInput(t, "x", nil, map[string]*arrowfile.Table{"summary.arrow": &bad, "percent.arrow": &bad, "pairs.arrow": &bad}, nil)
	sum := writeInput(t, "kernel@trained", map[string]string{"net": "trained"}, map[string]*arrowfile.Table{"summary.arrow": func() *arrowfile.Table {
		var s arrowfile.Table
		s.Strings("layer", []string{"conv13"})
		s.Strings("level", []string{"kernel"})
		s.Strings("aggregation", []string{"l2"})
		s.Strings("metric", []string{"fsi"})
		s.Float64s("percent", []float64{10})
		return &s
	}()}, nil)
	var nt arrowfile.Table
	nt.Strings("layer", []string{"conv13"})
	nt.Strings("level", []string{"kernel"})
	nt.Strings("aggregation", []string{"l2"})
	nt.Strings("metric", []string{"fsi"})
	for _, c := range []string{"observed_percent", "null_mean_percent", "null_q025_percent", "null_q975_percent", "p_value", "false_positive_rate"} {
		nt.Float64s(c, []float64{1})
	}
	nullUntrained := writeInput(t, "null@untrained", map[string]string{"net": "untrained"}, map[string]*arrowfile.Table{"summary.arrow": &nt}, nil)
	for _, c := range []struct {
		name   string
		inputs map[string][]stages.Input
		top    int
		want   []string
	}{
		{"null columns", map[string][]stages.Input{slotSummary: {sum}, slotNull: {badIn}}, 0,
			[]string{"null input x: summary.arrow", `no column "observed_percent"`, `no column "p_value"`}},
		{"null of a metric stage", map[string][]stages.Input{slotSummary: {sum}, slotNull: {met}}, 0,
			[]string{"null input kernel-metrics@trained-l2: summary.arrow", `no column "null_mean_percent"`}},
		{"null of another network", map[string][]stages.Input{slotSummary: {sum}, slotNull: {nullUntrained}}, 0,
			[]string{"null input null@untrained: summary.arrow: matches no summary input", "kernel@trained (kernels (l2))"}},
		{"bootstrap columns", map[string][]stages.Input{slotSummary: {sum}, slotBootstrap: {badIn}}, 0,
			[]string{"bootstrap input x: summary.arrow", `no column "percent_q025"`, `no column "rho_q975"`}},
		{"reliability columns", map[string][]stages.Input{slotReliability: {badIn}}, 0,
			[]string{"reliability input x: summary.arrow", `no column "reliability_mean"`, `no column "jaccard_q975"`}},
		{"variants columns", map[string][]stages.Input{slotVariants: {badIn}}, 0,
			[]string{"variants input x: percent.arrow", `no column "variant"`, `no column "delta_percent"`}},
		{"variants file", map[string][]stages.Input{slotVariants: {sum}}, 0,
			[]string{"variants input kernel@trained has no percent.arrow", "is it a variants stage?"}},
		{"dissociation without metrics", map[string][]stages.Input{slotDissLesion: {les}}, 0,
			[]string{"needs a lesion stage in slot dissociation_lesion and metric stages in slot dissociation_metrics", "given: lesion; none"}},
		{"dissociation without object task", map[string][]stages.Input{slotDissLesion: {lesNoObj}, slotDissMetrics: {met}}, 0,
			[]string{"dissociation_lesion input lesion: conv13.arrow", `no column "object_loss_increase"`, "object_stimuli"}},
		{"dissociation layer missing", map[string][]stages.Input{slotDissLesion: {les}, slotDissMetrics: {sum}}, 0,
			[]string{"dissociation_metrics input kernel@trained has no conv13.arrow"}},
		{"dissociation N too large", map[string][]stages.Input{slotDissLesion: {les}, slotDissMetrics: {met}}, 5,
			[]string{"dissociation_metrics input kernel-metrics@trained-l2: conv13.arrow", "dissociation_top 5 leaves fewer than two of the 6 kernels"}},
	} {
		_, err := runReport(t, &Params{Title: "t", Format: "png", DPI: 60, DissociationTop: c.top}, c.inputs)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v\nlacks %q", c.name, err, w)
			}
		}
	}
}

// TestBelongs: an interval input belongs to a summary input of the same
// network role whose shared matrix keys agree.
func TestBelongs(t *testing.T) {
	for _, c := range []struct {
		stage  string
		matrix map[string]string
		panel  map[string]string
		role   string
		want   bool
	}{
		{"trained-null", nil, map[string]string{"net": "trained", "pool": "l2"}, roleTrained, true},
		{"trained-null", nil, map[string]string{"net": "untrained", "pool": "l2"}, roleUntrained, false},
		{"chance@faces", map[string]string{"preferred": "faces"}, map[string]string{"preferred": "faces"}, "", true},
		{"chance@bodies", map[string]string{"preferred": "bodies"}, map[string]string{"preferred": "faces"}, "", false},
		{"boot@trained-l2", map[string]string{"net": "trained", "pool": "l2"}, map[string]string{"net": "trained"}, roleTrained, true},
		{"boot@trained-max", map[string]string{"net": "trained", "pool": "max"}, map[string]string{"net": "trained", "pool": "l2"}, roleTrained, false},
		{"label-null", nil, nil, "", true},
		{"label-null", nil, map[string]string{"net": "trained"}, roleTrained, false},
	} {
		in := stages.Input{Stage: c.stage, Matrix: c.matrix}
		if got := belongs(in, c.panel, c.role); got != c.want {
			t.Errorf("%s %v vs %v (%q): %v, want %v", c.stage, c.matrix, c.panel, c.role, got, c.want)
		}
	}
}

// TestBeyondDeterministic: the same inputs give byte-identical panels.
func TestBeyondDeterministic(t *testing.T) {
	les, met := dissociationInputs(t, true)
	ins := map[string][]stages.Input{slotDissLesion: {les}, slotDissMetrics: {met}}
	var first map[string][]byte
	for range 2 {
		out, err := runReport(t, &Params{Title: "t", Format: "svg", DPI: 60}, ins)
		if err != nil {
			t.Fatal(err)
		}
		files := map[string][]byte{}
		ents, _ := os.ReadDir(out)
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(out, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			files[e.Name()] = b
		}
		if first == nil {
			first = files
			continue
		}
		for n, b := range files {
			if string(first[n]) != string(b) {
				t.Errorf("%s differs between runs", n)
			}
		}
	}
}

// TestPreferredOf: Fig. 1b/c name what the metrics select.
func TestPreferredOf(t *testing.T) {
	for _, c := range []struct {
		prefs []string
		want  string
	}{
		{[]string{""}, "face"},
		{[]string{"faces", "faces"}, "face"},
		{[]string{"places"}, "places"},
		{[]string{"faces", "bodies"}, "category"},
	} {
		f := &selFigure{}
		for _, p := range c.prefs {
			f.panels = append(f.panels, &selPanel{preferred: p})
		}
		if got := preferredOf(f); got != c.want {
			t.Errorf("%v: %q, want %q", c.prefs, got, c.want)
		}
	}
}
