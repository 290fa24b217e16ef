package report

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"selectivity/stages/internal/data"

	"selectivity/cache/arrowfile"
	"selectivity/pipeline/pipelinetest"
	"selectivity/stages"
)

// writeCurve writes a train stage's curve.arrow of epochs 0…n−1 (loss
// falling, accuracy rising) into a new folder and returns it as an input;
// edit changes the table before it is written.
func writeCurve(t *testing.T, n int, meta map[string]string, edit func(cols map[string][]float64)) stages.Input {
	t.Helper()
	cols := map[string][]float64{}
	for _, c := range []string{data.CurveLR, data.CurveTrainLoss, data.CurveTrainAcc, data.CurveFaceAcc, data.CurveObjectAcc, data.CurveFaceLoss, data.CurveObjectLoss} {
		cols[c] = []float64{}
	}
	epoch := make([]int32, n)
	for e := range n {
		epoch[e] = int32(e)
		x := float64(e) / float64(max(n-1, 1))
		cols[data.CurveLR] = append(cols[data.CurveLR], 0.01*math.Pow(0.1, math.Floor(3*x)))
		cols[data.CurveTrainLoss] = append(cols[data.CurveTrainLoss], 4.5-3.5*x)
		cols[data.CurveTrainAcc] = append(cols[data.CurveTrainAcc], 0.01+0.9*x)
		cols[data.CurveFaceAcc] = append(cols[data.CurveFaceAcc], 0.01+0.7*x)
		cols[data.CurveObjectAcc] = append(cols[data.CurveObjectAcc], 0.125+0.75*x)
		cols[data.CurveFaceLoss] = append(cols[data.CurveFaceLoss], 4.6-3*x)
		cols[data.CurveObjectLoss] = append(cols[data.CurveObjectLoss], 2.1-1.6*x)
	}
	if n > 0 {
		cols[data.CurveTrainLoss][0] = math.NaN()
	}
	if edit != nil {
		edit(cols)
	}
	var tab arrowfile.Table
	tab.Int32s(data.CurveEpoch, epoch)
	for _, c := range []string{data.CurveLR, data.CurveTrainLoss, data.CurveTrainAcc, data.CurveFaceAcc, data.CurveObjectAcc, data.CurveFaceLoss, data.CurveObjectLoss} {
		if v, ok := cols[c]; ok {
			tab.Float64s(c, v)
		}
	}
	dir := t.TempDir()
	if err := tab.Write(filepath.Join(dir, data.CurveFile), meta); err != nil {
		t.Fatal(err)
	}
	return stages.Input{Stage: "train", Dir: dir, Files: []string{data.CurveFile}}
}

var curveMeta = map[string]string{data.CurveFaceChance: "0.01", data.CurveObjectChance: "0.125", data.CurveIdentities: "100", data.CurveObjects: "8"}

// TestTraining: the training curve is drawn, with its numbers and chance
// levels in report.md, before the Fig. 1 panels; without it there is no
// training figure and the rest is unchanged.
func TestTraining(t *testing.T) {
	inputs := experimentInputs(t)
	without, err := runReport(t, DefaultParams(), inputs)
	if err != nil {
		t.Fatal(err)
	}
	with := map[string][]stages.Input{slotTraining: {writeCurve(t, 11, curveMeta, nil)}}
	for k, v := range inputs {
		with[k] = v
	}
	out, err := runReport(t, DefaultParams(), with)
	if err != nil {
		t.Fatal(err)
	}
	keep(t, out, "training")
	if _, err := os.Stat(filepath.Join(without, "fig_training.png")); err == nil {
		t.Errorf("fig_training.png without a training input")
	}
	cfg := decodePNG(t, filepath.Join(out, "fig_training.png"))
	// Two 4 × 3.2 in panels side by side, the title, at 150 dpi.
	if cfg.Height != 555 || cfg.Width < 1200 || cfg.Width > 1700 {
		t.Errorf("fig_training.png: %d×%d px", cfg.Width, cfg.Height)
	}
	for _, name := range []string{"fig_selected_unit.png", "fig_consistency.png", FindingsFile} {
		a, _ := os.ReadFile(filepath.Join(without, name))
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil || string(a) != string(b) {
			t.Errorf("%s differs with a training input (%v)", name, err)
		}
	}
	md, _ := os.ReadFile(filepath.Join(out, IndexFile))
	report := string(md)
	for _, s := range []string{"![Training curve](fig_training.png)", "Classes: 100 face identities, 8 object classes.",
		"| 0 | 0.01 | n/a | 1.0 | 4.600 | 1.0 | 2.100 | 12.5 |", "| 10 | 1e-05 | 1.000 | 91.0 | 1.600 | 71.0 | 0.500 | 87.5 |",
		"| chance |  |  |  |  | 1.0 |  | 12.5 |", "training: train"} {
		if !strings.Contains(report, s) {
			t.Errorf("report.md lacks %q", s)
		}
	}
	iFind, iTrain, iSel := strings.Index(report, "## The study's findings"), strings.Index(report, "## Training curve"), strings.Index(report, "## Face-selective units")
	if !(0 <= iFind && iFind < iTrain && iTrain < iSel) {
		t.Errorf("sections out of order: findings at %d, training at %d, Fig. 1b at %d", iFind, iTrain, iSel)
	}
	// No chance levels in the metadata: no chance row.
	out, err = runReport(t, DefaultParams(), map[string][]stages.Input{slotTraining: {writeCurve(t, 3, nil, nil)}})
	if err != nil {
		t.Fatal(err)
	}
	md, _ = os.ReadFile(filepath.Join(out, IndexFile))
	if strings.Contains(string(md), "| chance |") || !strings.Contains(string(md), "| 2 |") {
		t.Errorf("report.md without chance levels:\n%s", md)
	}
}

// TestTrainingErrors: a bad curve is an error naming the slot, the stage,
// the file and what is wrong.
func TestTrainingErrors(t *testing.T) {
	cases := []struct {
		name string
		in   stages.Input
		want string
	}{
		{"no column", writeCurve(t, 3, curveMeta, func(c map[string][]float64) { delete(c, data.CurveFaceAcc) }),
			`training input train: curve.arrow: no column "face_acc"`},
		{"percent, not fraction", writeCurve(t, 3, curveMeta, func(c map[string][]float64) { c[data.CurveObjectAcc][2] = 87.5 }),
			`column "object_acc", epoch 2: accuracy 87.5 is not a fraction in [0, 1]`},
		{"bad chance", writeCurve(t, 3, map[string]string{data.CurveFaceChance: "1/100"}, nil),
			`metadata face_chance = "1/100" is not a fraction`},
		{"no rows", writeCurve(t, 0, curveMeta, nil), "curve.arrow: no rows"},
		{"not a train stage", stages.Input{Stage: "units", Dir: t.TempDir(), Files: []string{"summary.arrow"}},
			"training input units has no curve.arrow (files: summary.arrow); is it a train stage?"},
	}
	for _, c := range cases {
		_, err := runReport(t, DefaultParams(), map[string][]stages.Input{slotTraining: {c.in}})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}

// perNetwork is the default experiment's layout in miniature: every
// analysis per network (consistency@trained, consistency@untrained), the
// lesion agreement and decoding of the trained network only, the decode
// stage not matrix-expanded.
const perNetwork = `
stages:
  acts:
    kind: report-test-acts
    matrix: {net: [trained, untrained]}
    params: {net: "${matrix.net}"}
  units:
    kind: metric
    matrix: {net: [trained, untrained]}
    inputs: {acts: "acts@${matrix.net}"}
  kernels:
    kind: aggregate
    matrix: {net: [trained, untrained], pool: [mean, l2]}
    inputs: {acts: "acts@${matrix.net}"}
    params: {method: "${matrix.pool}"}
  kernel-metrics:
    kind: metric
    matrix: {net: [trained, untrained], pool: [mean, l2]}
    inputs: {acts: "kernels@${matrix.net}-${matrix.pool}"}
  consistency:
    kind: correlate
    matrix: {net: [trained, untrained]}
    inputs: {values: ["units@${matrix.net}", "kernel-metrics@${matrix.net}-mean", "kernel-metrics@${matrix.net}-l2"]}
  lesion:
    kind: report-test-lesion
  lesion-agreement:
    kind: correlate
    matrix: {metric: [fsi, dprime, wilcoxon_z, ttest_t]}
    inputs: {x: kernel-metrics@trained-l2, y: lesion}
    params: {mode: values, x_column: "${matrix.metric}", y_column: loss_increase, layer: conv10}
  decode:
    kind: report-test-decode
  report:
    kind: report
    inputs: {summary: [units, kernel-metrics], consistency: consistency, lesion: lesion-agreement, decoding: decode}
    params: {dpi: 100}
`

// TestPerNetwork: in the per-network layout every finding is tested, the
// trained network's numbers are the ones checked, and Fig. 1f has one
// panel per level with one line per network.
func TestPerNetwork(t *testing.T) {
	p := runExperiment(t, pipelinetest.Experiment(t, perNetwork))
	out, err := filepath.EvalSymlinks(filepath.Join(p.Exp.ResultsDir, "report"))
	if err != nil {
		t.Fatal(err)
	}
	keep(t, out, "per-network")
	f := readRows(t, filepath.Join(out, FindingsFile))
	if !slices.Equal(f.str["id"], []string{"F1", "F2", "F3", "F4"}) {
		t.Fatalf("findings %q", f.str["id"])
	}
	for i, h := range f.str["holds"] {
		if h != holdsTrue && h != holdsFalse {
			t.Errorf("%s not tested here: %s", f.str["id"][i], f.str["why"][i])
		}
		if strings.Contains(f.str["why"][i], "no input names") {
			t.Errorf("%s: the networks are named: %s", f.str["id"][i], f.str["why"][i])
		}
	}
	if !strings.Contains(f.str["measured"][0], "kernels (mean), conv2 → conv10") || !strings.Contains(f.str["measured"][2], "FSI 62.0 % [55.0, 69.0]") {
		t.Errorf("measured: %q", f.str["measured"])
	}
	cfg := decodePNG(t, filepath.Join(out, "fig_consistency.png"))
	// Three panels, two a row: two rows of 4 in and the title, at 100 dpi.
	if cfg.Height != 850 {
		t.Errorf("fig_consistency.png: %d×%d px", cfg.Width, cfg.Height)
	}
	html, _ := os.ReadFile(filepath.Join(out, HTMLFile))
	for _, s := range []string{"<h2>The study&#39;s findings on this run</h2>", "<li>F1: per level", "<th>holds</th>", "<td>F3: Face identity decoding"} {
		if !strings.Contains(string(html), s) {
			t.Errorf("report.html lacks %q", s)
		}
	}
	md, _ := os.ReadFile(filepath.Join(out, IndexFile))
	for _, s := range []string{"trained, units ρ ± SEM (pairs)", "untrained, kernels (l2) ρ ± SEM (pairs)",
		"**trained (units@trained)**", "**untrained (kernel-metrics@untrained-mean)**"} {
		if !strings.Contains(string(md), s) {
			t.Errorf("report.md lacks %q", s)
		}
	}
}

// TestOneNetwork: with a single unnamed network (no matrix), the findings
// that need two networks say what they need; the others are tested on it.
func TestOneNetwork(t *testing.T) {
	inputs := experimentInputs(t)
	one := func(in stages.Input) stages.Input { in.Matrix = nil; in.Stage = "units"; return in }
	out, err := runReport(t, DefaultParams(), map[string][]stages.Input{
		slotSummary: {one(inputs[slotSummary][0])}, slotDecoding: {one(inputs[slotDecoding][0])}})
	if err != nil {
		t.Fatal(err)
	}
	f := readRows(t, filepath.Join(out, FindingsFile))
	want := []string{holdsFalse, holdsNA, holdsTrue, holdsNA}
	if !slices.Equal(f.str["holds"], want) {
		t.Errorf("holds %q, want %q (why: %q)", f.str["holds"], want, f.str["why"])
	}
	if !strings.Contains(f.str["why"][3], "not tested: needs consistency inputs") || !strings.Contains(f.str["why"][1], "not tested: needs lesion inputs") {
		t.Errorf("why: %q", f.str["why"])
	}
	md, _ := os.ReadFile(filepath.Join(out, IndexFile))
	if !strings.Contains(string(md), "| not tested | not tested: needs lesion inputs") {
		t.Errorf("report.md: findings table lacks the untested F2:\n%s", md)
	}
}
