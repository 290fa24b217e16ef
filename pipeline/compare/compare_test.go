package compare

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"selectivity/cache/arrowfile"
)

// fakeRun writes a lock file and a results folder with one metric stage's
// summary.arrow and one decode stage's decoding.arrow.
func fakeRun(t *testing.T, dir, run, thr string, percent []float64, decoding bool) string {
	t.Helper()
	results := filepath.Join(dir, "results", "@"+run)
	if err := os.MkdirAll(filepath.Join(results, "sel"), 0o755); err != nil {
		t.Fatal(err)
	}
	var tb arrowfile.Table
	tb.Strings("layer", []string{"conv1", "conv1"})
	tb.Strings("metric", []string{"fsi", "dprime"})
	tb.Float64s("percent", percent)
	if err := tb.Write(filepath.Join(results, "sel", "summary.arrow"), nil); err != nil {
		t.Fatal(err)
	}
	lock := "schema: 1\nexperiment: x\nrun: " + run + "\noverrides: [a=1]\nresults: results/@" + run + "\nstages:\n" +
		"  sel: {kind: metric, version: \"1\", key: k, params: {fsi_threshold: " + thr + ", label: \"a|b\"}, outputs: []}\n"
	if decoding {
		if err := os.MkdirAll(filepath.Join(results, "dec"), 0o755); err != nil {
			t.Fatal(err)
		}
		var d arrowfile.Table
		d.Strings("set", []string{"fsi"})
		d.Float64s("mean", []float64{0.5})
		if err := d.Write(filepath.Join(results, "dec", "decoding.arrow"), nil); err != nil {
			t.Fatal(err)
		}
		lock += "  dec: {kind: decode, version: \"2\", key: k2, params: {}, outputs: []}\n"
	}
	p := filepath.Join(dir, "x@"+run+".lock")
	if err := os.WriteFile(p, []byte(lock), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDiffAndSide(t *testing.T) {
	dir := t.TempDir()
	a, err := Load(fakeRun(t, dir, "a", "0.3", []float64{12.5, math.NaN()}, true))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load(fakeRun(t, dir, "b", "0.5", []float64{10, math.NaN()}, false))
	if err != nil {
		t.Fatal(err)
	}
	if a.Label != "x@a" || a.Numbers["sel % selected conv1 fsi"] != 12.5 || a.Numbers["dec accuracy fsi"] != 0.5 {
		t.Fatalf("run a: %+v", a)
	}
	params, numbers := Diff(a, b)
	var got []string
	for _, c := range append(params, numbers...) {
		got = append(got, c.Name+": "+c.From+" → "+c.To)
	}
	// NaN equals NaN (dprime); the decode stage is only in a.
	want := []string{
		"dec.version: decode 2 → (unset)",
		"sel.fsi_threshold: 0.3 → 0.5",
		"dec accuracy fsi: 0.5 → (none)",
		"sel % selected conv1 fsi: 12.5 → 10",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("diff:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if numbers[1].Delta != -2.5 || !math.IsNaN(numbers[0].Delta) {
		t.Errorf("deltas %v %v", numbers[0].Delta, numbers[1].Delta)
	}

	var md bytes.Buffer
	if err := Side([]*Run{a, b}, true).Write(&md, "markdown"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"| Parameter | x@a | x@b |", `| sel.label | a\|b | a\|b |`, "| sel % selected conv1 dprime | NaN | NaN |", "| dec accuracy fsi | 0.5 |  |"} {
		if !strings.Contains(md.String(), s) {
			t.Errorf("markdown lacks %q:\n%s", s, md.String())
		}
	}
	var csv bytes.Buffer
	if err := Side([]*Run{a, b}, false).Write(&csv, "csv"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(csv.String(), "sel.label") || !strings.Contains(csv.String(), "number,dec accuracy fsi,0.5,\n") {
		t.Errorf("csv:\n%s", csv.String())
	}
	if err := Side([]*Run{a}, false).Write(&csv, "html"); err == nil {
		t.Error("unknown format accepted")
	}
	if _, err := Load(filepath.Join(dir, "results")); err == nil || !strings.Contains(err.Error(), "no results record") {
		t.Errorf("a folder without a record: %v", err)
	}
}
