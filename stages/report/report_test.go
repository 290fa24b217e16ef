package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"selectivity/cache/arrowfile"
	"selectivity/pipeline"
	"selectivity/pipeline/pipelinetest"
	"selectivity/stages"
	"selectivity/stages/internal/data"
)

// keep copies the files of dir into $REPORT_KEEP/name, for looking at.
func keep(t *testing.T, dir, name string) {
	root := os.Getenv("REPORT_KEEP")
	if root == "" {
		return
	}
	ents, _ := os.ReadDir(dir)
	if err := os.MkdirAll(filepath.Join(root, name), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err == nil {
			os.WriteFile(filepath.Join(root, name, e.Name()), b, 0o644)
		}
	}
}

func decodePNG(t *testing.T, path string) image.Config {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(b)); err != nil {
		t.Fatalf("%s: %v", filepath.Base(path), err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// readSummary reads a summary table's rows as "layer metric" → row.
func readRows(t *testing.T, path string) *table {
	t.Helper()
	in := stages.Input{Stage: "check", Dir: filepath.Dir(path), Files: []string{filepath.Base(path)}}
	tab, err := readTable("check", in, filepath.Base(path), "")
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// TestExperiment runs the real metric, aggregate and correlate kinds on
// synthetic activations, with stand-ins for lesion and decode, and the
// report over them all: every figure is there, at the size its inches and
// the dpi say, and report.md holds the numbers of the input tables.
func TestExperiment(t *testing.T) {
	p := runExperiment(t, pipelinetest.Experiment(t, experiment))
	out, err := filepath.EvalSymlinks(filepath.Join(p.Exp.ResultsDir, "fig"))
	if err != nil {
		t.Fatal(err)
	}
	keep(t, out, "experiment")
	want := []string{"fig_consistency.csv", "fig_consistency.png", "fig_decoding.png", "fig_decoding_1.csv", "fig_decoding_2.csv",
		"fig_lesion.csv", "fig_lesion.png", "fig_selected_kernel_l2.png", "fig_selected_kernel_l2_1.csv", "fig_selected_kernel_l2_2.csv",
		"fig_selected_unit.png", "fig_selected_unit_1.csv", "fig_selected_unit_2.csv", FindingsFile, HTMLFile, IndexFile}
	ents, _ := os.ReadDir(out)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	// Heights are fixed: panel rows plus the title, in inches, × dpi 100.
	for name, h := range map[string]int{"fig_selected_unit.png": 370, "fig_selected_kernel_l2.png": 370,
		"fig_consistency.png": 450, "fig_lesion.png": 450, "fig_decoding.png": 450} {
		cfg := decodePNG(t, filepath.Join(out, name))
		if cfg.Height != h {
			t.Errorf("%s: height %d px, want %d", name, cfg.Height, h)
		}
		// Two panels (trained, untrained) side by side, or one wider panel, and the legend.
		if cfg.Width < 450 || cfg.Width > 1100 {
			t.Errorf("%s: width %d px", name, cfg.Width)
		}
	}

	md, err := os.ReadFile(filepath.Join(out, IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	report := string(md)
	for _, s := range []string{"# Face selectivity", "![Face-selective units per layer (Fig. 1b)](fig_selected_unit.png)",
		"![Face-selective kernels (l2) per layer (Fig. 1c)](fig_selected_kernel_l2.png)",
		"](fig_consistency.png)", "](fig_lesion.png)", "](fig_decoding.png)", "**trained (unit@trained)**",
		"**untrained (kernel@untrained-l2)**"} {
		if !strings.Contains(report, s) {
			t.Errorf("report.md lacks %q", s)
		}
	}
	// The layers come in network order in every table.
	if i2, i4, i10 := strings.Index(report, "| conv2 |"), strings.Index(report, "| conv4 |"), strings.Index(report, "| conv10 |"); !(i2 < i4 && i4 < i10) || i2 < 0 {
		t.Errorf("layers out of order: conv2 at %d, conv4 at %d, conv10 at %d", i2, i4, i10)
	}
	// Every % selected of every summary, with its counts.
	for _, stage := range []string{"unit@trained", "unit@untrained", "kernel@trained-l2", "kernel@untrained-l2"} {
		s := readRows(t, filepath.Join(p.Exp.ResultsDir, stage, data.MetricSummaryFile))
		for i := range s.rows {
			cell := fmt.Sprintf("%.2f (%.0f/%.0f)", s.num["percent"][i], s.num["selected"][i], s.num["items"][i])
			if !strings.Contains(report, cell) {
				t.Errorf("report.md lacks %s %s %s: %s", stage, s.str["layer"][i], s.str["metric"][i], cell)
			}
		}
	}
	// Every consistency value with its SEM.
	c := readRows(t, filepath.Join(p.Exp.ResultsDir, "cons", data.ConsistencyFile))
	if c.rows != 4*3 {
		t.Errorf("consistency rows %d", c.rows)
	}
	for i := range c.rows {
		cell := fmt.Sprintf("%.3f ± %.3f (%.0f)", c.num["mean_rho"][i], c.num["sem"][i], c.num["pairs"][i])
		if !strings.Contains(report, cell) {
			t.Errorf("report.md lacks consistency of %s %s: %s", c.str["input"][i], c.str["layer"][i], cell)
		}
	}
	for _, s := range []string{"trained, units ρ ± SEM (pairs)", "untrained, kernels (l2) ρ ± SEM (pairs)"} {
		if !strings.Contains(report, s) {
			t.Errorf("consistency table lacks the column %q", s)
		}
	}
	// The lesion agreement of each metric.
	for m, col := range data.ValueColumn {
		v := readRows(t, filepath.Join(p.Exp.ResultsDir, "vs@"+col, data.SpearmanFile))
		row := fmt.Sprintf("| %s | conv10 | loss_increase | %.3f | 16 |", displayMetric(m), v.num["rho"][0])
		if !strings.Contains(report, row) {
			t.Errorf("report.md lacks %q", row)
		}
	}
	// Decoding, in percent.
	for _, s := range []string{"| FSI | 6 | 62.0 | 55.0 – 69.0 |", "| all kernels | 16 | 70.5 | 64.0 – 77.0 |",
		"| chance |  | 10.0 |  |", "**untrained (dec@untrained)**", "| t-test | 6 | 33.0 | 25.0 – 41.0 |"} {
		if !strings.Contains(report, s) {
			t.Errorf("report.md lacks %q", s)
		}
	}
	html, _ := os.ReadFile(filepath.Join(out, HTMLFile))
	if !strings.Contains(string(html), `<td class="n">62.0</td>`) {
		t.Errorf("report.html lacks the decoding numbers")
	}
	// report.html is self-contained: every figure inline, byte for byte.
	srcs := regexp.MustCompile(`<img src="([^"]*)" alt="([^"]*)">`).FindAllStringSubmatch(string(html), -1)
	if len(srcs) != 5 {
		t.Errorf("report.html has %d images, want the 5 figures", len(srcs))
	}
	for _, m := range srcs {
		b64, ok := strings.CutPrefix(m[1], "data:image/png;base64,")
		got, err := base64.StdEncoding.DecodeString(b64)
		if !ok || err != nil {
			t.Errorf("image %q: src is not a PNG data: URI (%.40s…)", m[2], m[1])
			continue
		}
		if !slices.ContainsFunc(want, func(f string) bool {
			b, _ := os.ReadFile(filepath.Join(out, f))
			return strings.HasSuffix(f, ".png") && bytes.Equal(b, got)
		}) {
			t.Errorf("image %q equals no figure file", m[2])
		}
	}
	// The provenance section: the file's digest and every stage the report
	// depends on, with its key.
	file, err := os.ReadFile(p.Exp.File)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(file)
	for _, s := range []string{"## Provenance", "sha256 " + hex.EncodeToString(sum[:]), "run: the file as written", "computed with go", "date: 20"} {
		if !strings.Contains(report, s) || !strings.Contains(string(html), strings.TrimPrefix(s, "## ")) {
			t.Errorf("report.md or report.html lacks %q", s)
		}
	}
	for _, n := range p.Nodes {
		if row := "| " + n.Stage.Name + " | " + n.Stage.Kind.Name() + " | v" + n.Stage.Kind.Version() + " | " + n.Key + " |"; !strings.Contains(report, row) {
			t.Errorf("report.md's provenance lacks %q", row)
		}
	}

	// A second run finds everything cached.
	_, states := runExperimentStates(t, filepath.Join(p.Exp.Dir, "exp.yaml"))
	if states["fig"] != "cached" {
		t.Errorf("second run: report %s", states["fig"])
	}
}

// experimentInputs runs the experiment once and returns the report's inputs.
func experimentInputs(t *testing.T) map[string][]stages.Input {
	t.Helper()
	p := runExperiment(t, pipelinetest.Experiment(t, experiment))
	in := func(stage string, m map[string]string) stages.Input { return input(t, p, stage, m) }
	return map[string][]stages.Input{
		slotSummary: {in("unit@trained", map[string]string{"net": "trained"}), in("unit@untrained", map[string]string{"net": "untrained"}),
			in("kernel@trained-l2", map[string]string{"net": "trained", "agg": "l2"}), in("kernel@untrained-l2", map[string]string{"net": "untrained", "agg": "l2"})},
		slotConsistency: {in("cons", nil)},
		slotLesion: {in("vs@fsi", map[string]string{"metric": "fsi"}), in("vs@dprime", map[string]string{"metric": "dprime"}),
			in("vs@wilcoxon_z", map[string]string{"metric": "wilcoxon_z"}), in("vs@ttest_t", map[string]string{"metric": "ttest_t"})},
		slotDecoding: {in("dec@trained", map[string]string{"net": "trained"}), in("dec@untrained", map[string]string{"net": "untrained"})},
	}
}

// TestDeterministic: two runs on the same inputs write byte-identical
// files, in PNG and in SVG; PNG size follows the dpi.
func TestDeterministic(t *testing.T) {
	inputs := experimentInputs(t)
	for _, format := range []string{"png", "svg"} {
		p := DefaultParams()
		p.Format = format
		a, err := runReport(t, p, inputs)
		if err != nil {
			t.Fatal(err)
		}
		b, err := runReport(t, p, inputs)
		if err != nil {
			t.Fatal(err)
		}
		keep(t, a, "default-"+format)
		ents, _ := os.ReadDir(a)
		if len(ents) != 16 { // 5 figures, their 8 CSV files, findings.arrow, report.md and report.html
			t.Errorf("%s: %d files", format, len(ents))
		}
		for _, e := range ents {
			x, _ := os.ReadFile(filepath.Join(a, e.Name()))
			y, err := os.ReadFile(filepath.Join(b, e.Name()))
			if err != nil || !bytes.Equal(x, y) {
				t.Errorf("%s: %s differs between two runs (%v)", format, e.Name(), err)
			}
			if strings.HasSuffix(e.Name(), ".svg") {
				if !bytes.Contains(x[:min(len(x), 200)], []byte("<svg")) {
					t.Errorf("%s does not start as an SVG", e.Name())
				}
				d := xml.NewDecoder(bytes.NewReader(x))
				for {
					if _, err := d.Token(); err != nil {
						if err != io.EOF {
							t.Errorf("%s: %v", e.Name(), err)
						}
						break
					}
				}
			}
		}
		md, _ := os.ReadFile(filepath.Join(a, IndexFile))
		if format == "svg" && !strings.Contains(string(md), "](fig_lesion.svg)") {
			t.Errorf("report.md does not name the SVG figures")
		}
	}
	// Pixels = inches × dpi: at 150 dpi the lesion figure (5 in + legend,
	// 4 in + 0.5 in title) is 1.5 times its size at 100 dpi.
	size := func(dpi int) image.Config {
		p := DefaultParams()
		p.DPI = dpi
		out, err := runReport(t, p, map[string][]stages.Input{slotLesion: inputs[slotLesion]})
		if err != nil {
			t.Fatal(err)
		}
		return decodePNG(t, filepath.Join(out, "fig_lesion.png"))
	}
	s100, s150 := size(100), size(150)
	if s100.Width != 500 || s100.Height != 450 || s150.Width != 750 || s150.Height != 675 {
		t.Errorf("lesion figure %d×%d at 100 dpi, %d×%d at 150 dpi; want 500×450, 750×675", s100.Width, s100.Height, s150.Width, s150.Height)
	}
}

// TestOnlySomeInputs: each figure is drawn only when its inputs are given.
func TestOnlySomeInputs(t *testing.T) {
	inputs := experimentInputs(t)
	out, err := runReport(t, DefaultParams(), map[string][]stages.Input{slotConsistency: inputs[slotConsistency]})
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(out)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, []string{"fig_consistency.csv", "fig_consistency.png", FindingsFile, HTMLFile, IndexFile}) {
		t.Errorf("files %v", got)
	}
	if _, err := runReport(t, DefaultParams(), nil); err == nil || !strings.Contains(err.Error(), "no inputs") {
		t.Errorf("no inputs: %v", err)
	}
}

// TestInputErrors: an input without the expected table or columns is an
// error naming the slot, the stage and the file.
func TestInputErrors(t *testing.T) {
	inputs := experimentInputs(t)
	cases := []struct {
		name   string
		inputs map[string][]stages.Input
		want   []string
	}{
		{"summary from a correlate stage", map[string][]stages.Input{slotSummary: inputs[slotConsistency]},
			[]string{"summary input cons has no summary.arrow", "is it a metric stage?"}},
		{"consistency from a metric stage", map[string][]stages.Input{slotConsistency: inputs[slotSummary][:1]},
			[]string{"consistency input unit@trained has no consistency.arrow", "correlate stage in mode metrics"}},
		{"lesion from mode metrics", map[string][]stages.Input{slotLesion: inputs[slotConsistency]},
			[]string{"lesion input cons has no spearman.arrow", "mode values"}},
		{"decoding from a metric stage", map[string][]stages.Input{slotDecoding: inputs[slotSummary][:1]},
			[]string{"decoding input unit@trained has no decoding.arrow"}},
	}
	// A summary table without percent and with a numeric layer column.
	dir := t.TempDir()
	var tab arrowfile.Table
	tab.Int64s("layer", []int64{2})
	tab.Strings("level", []string{"unit"})
	tab.Strings("aggregation", []string{""})
	tab.Strings("metric", []string{"fsi"})
	if err := tab.Write(filepath.Join(dir, data.MetricSummaryFile), nil); err != nil {
		t.Fatal(err)
	}
	bad := stages.Input{Stage: "metric@odd", Dir: dir, Files: []string{data.MetricSummaryFile}}
	cases = append(cases, struct {
		name   string
		inputs map[string][]stages.Input
		want   []string
	}{"bad columns", map[string][]stages.Input{slotSummary: {bad}},
		[]string{"summary input metric@odd: summary.arrow", `column "layer" is int64, want utf8`, `no column "percent"`}})
	// A file that is not an Arrow table.
	junk := t.TempDir()
	os.WriteFile(filepath.Join(junk, data.ConsistencyFile), []byte("not arrow"), 0o644)
	cases = append(cases, struct {
		name   string
		inputs map[string][]stages.Input
		want   []string
	}{"not arrow", map[string][]stages.Input{slotConsistency: {{Stage: "c@x", Dir: junk, Files: []string{data.ConsistencyFile}}}},
		[]string{"consistency input c@x: consistency.arrow"}})
	for _, c := range cases {
		_, err := runReport(t, DefaultParams(), c.inputs)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.name, err, w)
			}
		}
	}
}

// TestLayerOrder: layers sort by their numbers, not lexically.
func TestLayerOrder(t *testing.T) {
	got := sortLayers([]string{"conv10", "fc6", "conv2", "conv13", "conv4", "conv2", "fc7", "conv1"})
	want := []string{"conv1", "conv2", "conv4", "conv10", "conv13", "fc6", "fc7"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	got = sortLayers([]string{"features.28", "features.5", "features.10"})
	if !slices.Equal(got, []string{"features.5", "features.10", "features.28"}) {
		t.Errorf("got %v", got)
	}
}

// TestParams: the tags reach the experiment file's error report.
func TestParams(t *testing.T) {
	file := pipelinetest.Experiment(t, `
stages:
  les: {kind: report-test-lesion}
  fig:
    kind: report
    inputs: {decoding: les}
    params: {format: gif, dpi: 10}
`)
	_, err := pipeline.Load(file, pipeline.LoadOptions{})
	if err == nil {
		t.Fatal("bad parameters accepted")
	}
	for _, w := range []string{`params.format: must be one of png, svg; got "gif"`, "params.dpi: must be at least 36, got 10"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("errors lack %q:\n%v", w, err)
		}
	}
}
