package main

import (
	"context"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"selectivity/cache/arrowfile"
	"selectivity/pipeline/pipelinetest"
)

// sweepExperiment is the study's analyses at toy size with the real kinds:
// a reduced-width VGG-16 checkpoint, synthetic faces and objects for the
// metrics and identities for decoding and lesioning.
const sweepExperiment = `
name: sweep
stages:
  cats:
    kind: stimuli
    params: {source: synthetic, per_category: 4, image_size: 48, resize: 40, crop: 40, seed: 3}
  ids:
    kind: stimuli
    params: {source: synthetic, identities: 6, images_per_identity: 4, image_size: 48, resize: 40, crop: 40, seed: 4}
  net:
    kind: model
    params: {arch: vgg16, init: checkpoint, weights: CHECKPOINT, widths: any}
  acts_cats:
    kind: extract
    inputs: {stimuli: cats, model: net}
    params: {layers: [conv13]}
  acts_ids:
    kind: extract
    inputs: {stimuli: ids, model: net}
    params: {layers: [conv13]}
  k_cats:
    kind: aggregate
    inputs: {acts: acts_cats}
    params: {method: l2}
  k_ids:
    kind: aggregate
    inputs: {acts: acts_ids}
    params: {method: l2}
  sel:
    kind: metric
    inputs: {acts: k_cats}
  consistency:
    kind: correlate
    inputs: {values: sel}
  les:
    kind: lesion
    inputs: {model: net, stimuli: ids}
    params: {class_from: order}
  lesion_rho:
    kind: correlate
    inputs: {x: sel, y: les}
    params: {mode: values, x_column: fsi, y_column: loss_increase, layer: conv13}
  decoding:
    kind: decode
    inputs: {features: k_ids, metrics: sel}
    params: {top_n: 8, random_draws: 3, seed: 5}
  report:
    kind: report
    inputs: {summary: sel, consistency: consistency, lesion: lesion_rho, decoding: decoding}
    params: {dpi: 40}
`

// sweep runs sweepExperiment as written and with fsi_threshold 0.1: a
// two-point sweep. It returns the experiment file.
func sweep(t *testing.T) string {
	ckpt, err := filepath.Abs(filepath.Join("testdata", "extract", "vgg16.pth.tar"))
	if err != nil {
		t.Fatal(err)
	}
	f := pipelinetest.Write(t, t.TempDir(), "sweep.yaml", strings.Replace(sweepExperiment, "CHECKPOINT", ckpt, 1))
	for _, sets := range [][]string{nil, {"--set", "stages.sel.params.fsi_threshold=0.1"}} {
		if code, _, stderr := cliRun(append([]string{"run", f, "-j", "1"}, sets...)...); code != 0 {
			t.Fatalf("run %v: exit %d\n%s", sets, code, stderr)
		}
	}
	return f
}

func TestCompareAndDiffATwoPointSweep(t *testing.T) {
	f := sweep(t)
	dir := filepath.Dir(f)
	base, point := filepath.Join(dir, "sweep.lock"), filepath.Join(dir, "sweep@sel.fsi_threshold=0.1.lock")

	code, stdout, stderr := cliRun("compare", f, "--format", "csv")
	if code != 0 {
		t.Fatalf("compare: exit %d\n%s", code, stderr)
	}
	recs, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(recs[0], []string{"section", "name", "sweep", "sweep@sel.fsi_threshold=0.1"}) {
		t.Fatalf("header %v", recs[0])
	}
	rows := map[string][]string{}
	for _, r := range recs[1:] {
		rows[r[0]+" "+r[1]] = r[2:]
	}
	// Only the threshold and the overrides differ.
	var params []string
	for k := range rows {
		if strings.HasPrefix(k, "parameter ") {
			params = append(params, k)
		}
	}
	slices.Sort(params)
	if !slices.Equal(params, []string{"parameter overrides", "parameter sel.fsi_threshold"}) ||
		!slices.Equal(rows["parameter sel.fsi_threshold"], []string{"0.3", "0.1"}) ||
		!slices.Equal(rows["parameter overrides"], []string{"", "stages.sel.params.fsi_threshold=0.1"}) {
		t.Errorf("parameters %v: %v", params, rows)
	}
	// Every headline number is there, equal to its table.
	for _, name := range []string{
		"number sel % selected conv13 fsi", "number sel % selected conv13 dprime",
		"number consistency mean rho sel conv13", "number lesion_rho rho conv13 fsi~loss_increase",
		"number decoding accuracy fsi", "number decoding accuracy random",
	} {
		if len(rows[name]) != 2 || rows[name][0] == "" || rows[name][1] == "" {
			t.Errorf("%s: %v", name, rows[name])
		}
	}
	r, err := arrowfile.Open(filepath.Join(dir, "results", "sweep", "decoding", "decoding.arrow"))
	if err != nil {
		t.Fatal(err)
	}
	mean, err := arrowfile.Float64Column(r, "mean")
	r.Close()
	if err != nil || rows["number decoding accuracy fsi"][0] != ftoa(mean[0]) {
		t.Errorf("decoding accuracy fsi %v, table %v (%v)", rows["number decoding accuracy fsi"], mean, err)
	}
	fsi := rows["number sel % selected conv13 fsi"]
	if fsi[0] == fsi[1] || !slices.Equal(rows["number sel % selected conv13 dprime"][:1], rows["number sel % selected conv13 dprime"][1:]) {
		t.Errorf("%% selected: fsi %v, dprime %v", fsi, rows["number sel % selected conv13 dprime"])
	}

	for _, format := range []string{"text", "markdown"} {
		code, stdout, _ := cliRun("compare", base, filepath.Join(dir, "results", "sweep", "@sel.fsi_threshold=0.1"), "--format", format)
		if code != 0 || !strings.Contains(stdout, "sel.fsi_threshold") || !strings.Contains(stdout, "sel % selected conv13 fsi") {
			t.Errorf("compare --format %s: exit %d\n%s", format, code, stdout)
		}
		if format == "markdown" && !strings.Contains(stdout, "| Parameter | sweep | sweep@sel.fsi_threshold=0.1 |\n| --- | --- | --- |\n") {
			t.Errorf("markdown:\n%s", stdout)
		}
	}

	code, stdout, stderr = cliRun("diff", base, point)
	if code != 1 || !strings.Contains(stdout, "sel.fsi_threshold") || !strings.Contains(stdout, "0.3 → 0.1") ||
		!strings.Contains(stdout, "sel % selected conv13 fsi") || strings.Contains(stdout, "dprime") || strings.Contains(stdout, "lesion_rho") {
		t.Errorf("diff: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, stdout, _ := cliRun("diff", base, filepath.Join(dir, "results", "sweep")); code != 0 || stdout != "" {
		t.Errorf("diff of a run with itself: exit %d\n%s", code, stdout)
	}
	if code, _, stderr := cliRun("diff", base, filepath.Join(dir, "nope.lock")); code != 2 || !strings.Contains(stderr, "nope.lock") {
		t.Errorf("diff of a missing lock: exit %d\n%s", code, stderr)
	}
	never := pipelinetest.Write(t, t.TempDir(), "never.yaml", "stages:\n  a: {kind: test-source}\n")
	if code, _, stderr := cliRun("compare", never); code != 2 || !strings.Contains(stderr, "never.yaml: no lock file of any run") {
		t.Errorf("compare of an experiment never run: exit %d\n%s", code, stderr)
	}
}

func ftoa(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func TestExportStagesOfARun(t *testing.T) {
	f := sweep(t)
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := cliRun("export", f, "--set", "stages.sel.params.fsi_threshold=0.1", "--stage", "sel", "--stage", "acts_cats", "--out", out)
	if code != 0 || !strings.Contains(stdout, "for 2 stages") {
		t.Fatalf("export: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, p := range []string{"sel/summary.csv", "sel/summary.parquet", "sel/conv13.parquet", "acts_cats/conv13.npy", "acts_cats/images.csv"} {
		if fi, err := os.Lstat(filepath.Join(out, p)); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("%s: %v", p, err)
		}
	}
	// The run's summary, not the file's: 0.1 selects at least what 0.3 does.
	pf, err := os.Open(filepath.Join(out, "sel", "summary.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	tbl, err := pqarrow.ReadTable(context.Background(), pf, parquet.NewReaderProperties(memory.DefaultAllocator), pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	r, err := arrowfile.Open(filepath.Join(filepath.Dir(f), "results", "sweep", "@sel.fsi_threshold=0.1", "sel", "summary.arrow"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	want, err := arrowfile.Float64Column(r, "percent")
	if err != nil {
		t.Fatal(err)
	}
	got := tbl.Column(tbl.Schema().FieldIndices("percent")[0]).Data().Chunk(0).(*array.Float64).Float64Values()
	if !slices.EqualFunc(got, want, func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }) {
		t.Errorf("percent %v, want %v", got, want)
	}
	// The report travels: real files, report.html with its figures inline
	// and a provenance block naming the run.
	rep := filepath.Join(t.TempDir(), "rep")
	if code, _, stderr := cliRun("export", f, "--set", "stages.sel.params.fsi_threshold=0.1", "--stage", "report", "--out", rep); code != 0 {
		t.Fatalf("export --stage report: exit %d\n%s", code, stderr)
	}
	html, err := os.ReadFile(filepath.Join(rep, "report", "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`<img src="data:image/png;base64,`, "run: sel.fsi_threshold=0.1, overrides stages.sel.params.fsi_threshold=0.1", "conv kernel ", "sha256 "} {
		if !strings.Contains(string(html), s) {
			t.Errorf("report.html lacks %q", s)
		}
	}
	if strings.Contains(string(html), `src="fig_`) {
		t.Error("report.html links a figure file")
	}
	if code, _, stderr := cliRun("export", f, "--stage", "nope", "--out", t.TempDir()); code != 2 || !strings.Contains(stderr, "--stage nope: no such stage") {
		t.Errorf("export --stage nope: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := cliRun("export", f, "--stage", "sel", "--out", out); code != 2 || !strings.Contains(stderr, "not empty") {
		t.Errorf("export into a full folder: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := cliRun("export", f, "--stage", "sel", "--set", "stages.sel.params.fsi_threshold=0.2", "--out", t.TempDir()); code != 1 || !strings.Contains(stderr, "stage sel is not cached") {
		t.Errorf("export of a run never run: exit %d\n%s", code, stderr)
	}
}
