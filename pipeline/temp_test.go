package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"selectivity/pipeline/stagetest"
)

// tempChain has a temp source read by two sums, one of which feeds total.
const tempChain = `
stages:
  a:
    kind: test-source
    temp: true
    params: {value: 2}
  sa:
    kind: test-sum
    inputs: {in: a}
  sb:
    kind: test-sum
    params: {scale: 3}
    inputs: {in: a}
  total:
    kind: test-sum
    inputs: {in: [sa, sb]}
`

// cachedEntry reports whether the cache holds stage's entry.
func cachedEntry(t *testing.T, f, stage string) bool {
	t.Helper()
	p, store := plan(t, f)
	_, err := store.Lookup(p.Node(stage).Key)
	return err == nil
}

// TestTempStage: a temp stage's entry is removed once both its readers have
// their results, is not recomputed while they stay cached, and is
// recomputed first (and removed again) when one of them must run.
func TestTempStage(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "runs.log")
	t.Setenv("SELECTIVITY_TEST_LOG", log)
	f := write(t, dir, "exp.yaml", tempChain)
	wantStates(t, mustRun(t, f), map[string]string{"a": "ran", "sa": "ran", "sb": "ran", "total": "ran"})
	if cachedEntry(t, f, "a") {
		t.Error("the temp stage's entry is still cached after its readers ran")
	}
	if !cachedEntry(t, f, "sa") || !cachedEntry(t, f, "sb") {
		t.Error("the readers' entries are gone")
	}
	p, store := plan(t, f)
	ds, err := Status(p, store, false)
	if err != nil || !ds[0].NotNeeded || ds[0].Cached || ds[1].NotNeeded {
		t.Errorf("status of the released temp stage and a reader: %+v, %+v (%v)", ds[0], ds[1], err)
	}
	if _, err := os.Lstat(filepath.Join(p.Exp.ResultsDir, "a")); err == nil {
		t.Error("the results folder shows the temp stage")
	}
	if b, err := os.ReadFile(filepath.Join(p.Exp.ResultsDir, "total", "values.txt")); err != nil || string(b) != "24\n" {
		t.Errorf("total = %q, %v; want 24 from a's three 2s summed, once and scaled by 3", b, err)
	}
	if lock, _ := ReadLockFile(p.Exp.LockFile); lock.Stages["a"] == nil {
		t.Error("the lock file does not record the temp stage")
	}

	wantStates(t, mustRun(t, f), map[string]string{"a": "not needed", "sa": "cached", "sb": "cached", "total": "cached"})
	if runs := stagetest.Runs(log); runs["a"] != 1 {
		t.Errorf("a ran %d times with its readers cached, want 1", runs["a"])
	}

	// A reader that must run needs the temp stage again.
	write(t, dir, "exp.yaml", strings.Replace(tempChain, "{scale: 3}", "{scale: 4}", 1))
	wantStates(t, mustRun(t, f), map[string]string{"a": "ran", "sa": "cached", "sb": "ran", "total": "ran"})
	if runs := stagetest.Runs(log); runs["a"] != 2 || runs["sb"] != 2 || runs["sa"] != 1 {
		t.Errorf("executions %v", runs)
	}
	if cachedEntry(t, f, "a") {
		t.Error("the recomputed temp entry was not removed")
	}
}

// TestTempKeyAndReaderFailure: temp does not enter any key; a reader that
// fails keeps the temp entry for the next run; an entry the run did not
// compute is never removed.
func TestTempKeyAndReaderFailure(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("SELECTIVITY_TEST_LOG", filepath.Join(dir, "runs.log"))
	plain := strings.Replace(tempChain, "    temp: true\n", "", 1)
	f := write(t, dir, "exp.yaml", plain)
	p0, _ := plan(t, f)
	write(t, dir, "exp.yaml", tempChain)
	p1, _ := plan(t, f)
	for _, n := range p0.Nodes {
		if p1.Node(n.Stage.Name).Key != n.Key {
			t.Errorf("temp changed the key of %s", n.Stage.Name)
		}
	}

	failing := tempChain + "  broken:\n    kind: test-fail\n    inputs: {in: a}\n"
	write(t, dir, "exp.yaml", failing)
	got, err := states(t, context.Background(), f, RunOptions{})
	if err == nil {
		t.Fatal("the failing reader did not fail the run")
	}
	wantStates(t, got, map[string]string{"a": "ran", "sa": "ran", "sb": "ran", "total": "ran", "broken": "failed"})
	if !cachedEntry(t, f, "a") {
		t.Error("the temp entry was removed though a reader failed")
	}

	// Cached before this run (by the failed one): kept, though every
	// reader now has its result.
	write(t, dir, "exp.yaml", tempChain)
	wantStates(t, mustRun(t, f), map[string]string{"a": "not needed", "sa": "cached", "sb": "cached", "total": "cached"})
	mustRun(t, f, "stages.sb.params.scale=5")
	if !cachedEntry(t, f, "a") {
		t.Error("the run removed a temp entry it did not compute")
	}
}

func TestTempMustBeABool(t *testing.T) {
	dir := t.TempDir()
	f := write(t, dir, "exp.yaml", strings.Replace(tempChain, "temp: true", "temp: maybe", 1))
	if _, err := Load(f, LoadOptions{}); err == nil || !strings.Contains(err.Error(), "exp.yaml:5:11: temp: want true or false") {
		t.Errorf("temp: maybe: %v", err)
	}
}
