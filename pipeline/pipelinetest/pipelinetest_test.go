package pipelinetest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"selectivity/pipeline/stagetest"
)

func init() { stagetest.Register() }

const experiment = `
stages:
  a:
    kind: test-source
    params: {value: 2}
  s:
    kind: test-sum
    inputs: {in: a}
  bad:
    kind: test-fail
    inputs: {in: a}
`

func TestRun(t *testing.T) {
	file := Experiment(t, experiment)
	res, err := Run(t, file, Options{Jobs: 1})
	if err == nil || !strings.Contains(err.Error(), "failed on purpose") {
		t.Fatalf("err = %v, want test-fail's", err)
	}
	if res.States["a"] != "ran" || res.States["s"] != "ran" || res.States["bad"] != "failed" {
		t.Errorf("states %v", res.States)
	}
	if _, ok := res.Dirs["bad"]; ok || len(res.Dirs) != 2 {
		t.Errorf("dirs %v, want a's and s's", res.Dirs)
	}
	if _, err := os.Stat(filepath.Join(res.Dirs["s"], "values.txt")); err != nil {
		t.Error(err)
	}
	if res.Plan.Exp.Dir != filepath.Dir(file) {
		t.Errorf("experiment folder %s, want %s", res.Plan.Exp.Dir, filepath.Dir(file))
	}

	again := MustRun(t, Write(t, filepath.Dir(file), "exp.yaml", strings.Split(experiment, "  bad:")[0]), Options{Set: []string{"stages.a.params.value=2"}})
	if again.States["a"] != "cached" || again.States["s"] != "cached" || again.Dirs["s"] != res.Dirs["s"] {
		t.Errorf("second run: states %v, dirs %v", again.States, again.Dirs)
	}
}

func TestRunLoadError(t *testing.T) {
	res, err := Run(t, Experiment(t, "stages:\n  x: {kind: no-such-kind}\n"), Options{})
	if err == nil || res != nil {
		t.Fatalf("Run = %v, %v; want a load error", res, err)
	}
}

func TestProgress(t *testing.T) {
	Progress{}.Bar("x", "items", 3).Add(1) // no Add: nothing happens
	var n int64
	b := Progress{Add: func(k int64) { n += k }}.Bar("x", "items", 3)
	b.Add(2)
	b.Add(1)
	b.Done()
	if n != 3 {
		t.Errorf("Add saw %d, want 3", n)
	}
}

func TestInput(t *testing.T) {
	dir := t.TempDir()
	Write(t, dir, "b.txt", "b")
	Write(t, dir, "a.arrow", "a")
	in := Input(t, "stage@x", dir)
	if in.Stage != "stage@x" || in.Dir != dir || strings.Join(in.Files, ",") != "a.arrow,b.txt" {
		t.Errorf("Input = %+v", in)
	}
}
