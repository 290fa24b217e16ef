package pipeline

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"selectivity/cache"
	"selectivity/pipeline/digest"
	"selectivity/pipeline/progress"
	"selectivity/pipeline/stagetest"
)

func init() { stagetest.Register() }

// write creates name under dir with content and returns its path.
func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// plan loads and plans an experiment file.
func plan(t *testing.T, file string, sets ...string) (*Plan, *cache.Store) {
	t.Helper()
	exp, err := Load(file, LoadOptions{Set: sets})
	if err != nil {
		t.Fatalf("load %s: %v", file, err)
	}
	h, err := digest.New(filepath.Join(exp.CacheDir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(exp, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Save(); err != nil {
		t.Fatal(err)
	}
	return p, cache.Open(exp.CacheDir)
}

// states runs file and returns each stage's state; failures are returned too.
func states(t *testing.T, ctx context.Context, file string, opts RunOptions, sets ...string) (map[string]string, error) {
	t.Helper()
	p, store := plan(t, file, sets...)
	rep := progress.New(io.Discard, false, time.Hour)
	defer rep.Close()
	if opts.Jobs == 0 {
		opts.Jobs = 2
	}
	opts.Progress = rep
	out, err := Run(ctx, p, store, opts)
	got := map[string]string{}
	for _, o := range out {
		got[o.Stage] = o.State
	}
	return got, err
}

func mustRun(t *testing.T, file string, sets ...string) map[string]string {
	t.Helper()
	got, err := states(t, context.Background(), file, RunOptions{}, sets...)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return got
}

func wantStates(t *testing.T, got map[string]string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("stage %s: %s, want %s (all: %v)", k, got[k], v, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("stages %v, want %v", got, want)
	}
}

const chain = `
stages:
  a:
    kind: test-source
    params: {value: 2}
  b:
    kind: test-source
    params: {value: 3}
  sa:
    kind: test-sum
    inputs: {in: a}
  sb:
    kind: test-sum
    inputs: {in: b}
  total:
    kind: test-sum
    inputs: {in: [sa, sb]}
`

func TestKeysIgnoreLayoutCommentsAndDefaults(t *testing.T) {
	dir := t.TempDir()
	f1 := write(t, dir, "one/a.yaml", chain)
	// Same experiment: stages and keys reordered, comments, defaults written
	// out, a float written as an integer, another folder.
	f2 := write(t, dir, "two/b.yaml", `
# the same study, written differently
stages:
  total: {inputs: {in: [sa, sb]}, kind: test-sum, params: {scale: 1.0}}
  sb: {kind: test-sum, inputs: {in: b}}
  b:
    params:
      mode: plain   # the default
      value: 3.0
      n: 3
    kind: test-source
  sa:
    kind: test-sum
    inputs:
      in: [a]
  a: {kind: test-source, params: {value: 2, bytes: 0}}
`)
	p1, _ := plan(t, f1)
	p2, _ := plan(t, f2)
	for _, n := range p1.Nodes {
		if k2 := p2.Node(n.Stage.Name).Key; k2 != n.Key {
			t.Errorf("stage %s: key %s vs %s", n.Stage.Name, n.Key[:12], k2[:12])
		}
	}
	// A parameter tagged key:"-" (a batch size) does not enter the key.
	if p4, _ := plan(t, f1, "stages.a.params.chunk=64"); p4.Node("a").Key != p1.Node("a").Key {
		t.Error("a key:\"-\" parameter changed the key")
	}
	// A changed value changes the key of the stage and of its dependents only.
	p3, _ := plan(t, f1, "stages.a.params.value=2.5")
	for _, n := range p1.Nodes {
		changed := p3.Node(n.Stage.Name).Key != n.Key
		want := n.Stage.Name == "a" || n.Stage.Name == "sa" || n.Stage.Name == "total"
		if changed != want {
			t.Errorf("stage %s: key changed %v, want %v", n.Stage.Name, changed, want)
		}
	}
}

func TestChangedParamRerunsStageAndDependents(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "runs.log")
	t.Setenv("SELECTIVITY_TEST_LOG", log)
	f := write(t, dir, "exp.yaml", chain)
	wantStates(t, mustRun(t, f), map[string]string{"a": "ran", "b": "ran", "sa": "ran", "sb": "ran", "total": "ran"})
	wantStates(t, mustRun(t, f), map[string]string{"a": "cached", "b": "cached", "sa": "cached", "sb": "cached", "total": "cached"})
	write(t, dir, "exp.yaml", strings.Replace(chain, "{value: 2}", "{value: 4}", 1))
	wantStates(t, mustRun(t, f), map[string]string{"a": "ran", "b": "cached", "sa": "ran", "sb": "cached", "total": "ran"})
	// Going back hits the cache again: nothing is recomputed.
	write(t, dir, "exp.yaml", chain)
	wantStates(t, mustRun(t, f), map[string]string{"a": "cached", "b": "cached", "sa": "cached", "sb": "cached", "total": "cached"})
	runs := stagetest.Runs(log)
	if runs["a"] != 2 || runs["b"] != 1 || runs["total"] != 2 {
		t.Errorf("executions %v", runs)
	}
	p, _ := plan(t, f)
	b, err := os.ReadFile(filepath.Join(p.Exp.ResultsDir, "total", "values.txt"))
	if err != nil || string(b) != "15\n" {
		t.Errorf("results/total/values.txt = %q, %v; want 15 from 3×2+3×3", b, err)
	}
}

func TestTwinStagesShareOneEntry(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "runs.log")
	t.Setenv("SELECTIVITY_TEST_LOG", log)
	// a and b have one key; each dependent must see the files of its input.
	f := write(t, dir, "exp.yaml", `
stages:
  a: {kind: test-source, params: {value: 5}}
  b: {kind: test-source, params: {value: 5}}
  sa: {kind: test-sum, inputs: {in: a}}
  sb: {kind: test-sum, inputs: {in: b}}
`)
	got := mustRun(t, f)
	if n := stagetest.Runs(log); n["a"]+n["b"] != 1 {
		t.Errorf("the shared key was computed %d times", n["a"]+n["b"])
	}
	if got["sa"] != "ran" || got["sb"] != "ran" || (got["a"] == "ran") == (got["b"] == "ran") {
		t.Errorf("states %v", got)
	}
	p, _ := plan(t, f)
	for _, s := range []string{"sa", "sb"} {
		b, err := os.ReadFile(filepath.Join(p.Exp.ResultsDir, s, "values.txt"))
		if err != nil || string(b) != "15\n" {
			t.Errorf("%s: %q, %v", s, b, err)
		}
	}
}

func TestFileContentChangeReruns(t *testing.T) {
	dir := t.TempDir()
	data := write(t, dir, "data/weights.bin", "first")
	f := write(t, dir, "exp.yaml", `
stages:
  w: {kind: test-file, params: {file: data/weights.bin}}
`)
	wantStates(t, mustRun(t, f), map[string]string{"w": "ran"})
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(data, later, later); err != nil { // touch
		t.Fatal(err)
	}
	wantStates(t, mustRun(t, f), map[string]string{"w": "cached"})
	write(t, dir, "data/weights.bin", "second")
	p, store := plan(t, f)
	ds, err := Status(p, store, false)
	if err != nil {
		t.Fatal(err)
	}
	if ds[0].Cached || !strings.Contains(ds[0].Reason, "file changed: w.file (data/weights.bin)") {
		t.Errorf("status after edit: %+v", ds[0])
	}
	wantStates(t, mustRun(t, f), map[string]string{"w": "ran"})
}

func TestDamagedEntryIsRecomputed(t *testing.T) {
	dir := t.TempDir()
	f := write(t, dir, "exp.yaml", chain)
	mustRun(t, f)
	p, store := plan(t, f)
	e, err := store.Lookup(p.Node("sa").Key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.Dir, "values.txt"), []byte("99\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ds, _ := Status(p, store, false)
	for _, d := range ds {
		damaged := strings.HasPrefix(d.Reason, "cache entry damaged")
		if damaged != (d.Stage == "sa") || d.Cached == damaged {
			t.Errorf("status %+v", d)
		}
	}
	wantStates(t, mustRun(t, f), map[string]string{"a": "cached", "b": "cached", "sa": "ran", "sb": "cached", "total": "cached"})
	if _, err := store.Verify(p.Node("sa").Key); err != nil {
		t.Errorf("entry not repaired: %v", err)
	}
}

func TestFailureStopsOnlyDependents(t *testing.T) {
	dir := t.TempDir()
	f := write(t, dir, "exp.yaml", `
stages:
  ok: {kind: test-source}
  bad: {kind: test-fail, params: {message: boom}}
  worse: {kind: test-fail, params: {message: kaboom, panic: true}, inputs: {in: ok}}
  after: {kind: test-sum, inputs: {in: [ok, bad]}}
  fine: {kind: test-sum, inputs: {in: ok}}
`)
	got, err := states(t, context.Background(), f, RunOptions{})
	wantStates(t, got, map[string]string{"ok": "ran", "bad": "failed", "worse": "failed", "after": "skipped", "fine": "ran"})
	if err == nil || !strings.Contains(err.Error(), "boom") || !strings.Contains(err.Error(), "kaboom") {
		t.Errorf("error should list both failures: %v", err)
	}
	p, store := plan(t, f)
	for _, s := range []string{"bad", "worse", "after"} {
		if _, err := store.Lookup(p.Node(s).Key); err == nil {
			t.Errorf("stage %s left a cache entry", s)
		}
	}
	lock, _ := ReadLockFile(p.Exp.LockFile)
	if lock.Stages["ok"] == nil || lock.Stages["bad"] != nil {
		t.Errorf("lock file stages: %v", lock.Stages)
	}
}

func TestStatusNamesWhatChanged(t *testing.T) {
	dir := t.TempDir()
	f := write(t, dir, "exp.yaml", chain)
	reasons := func(sets ...string) map[string]string {
		p, store := plan(t, f, sets...)
		ds, err := Status(p, store, false)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, d := range ds {
			m[d.Stage] = d.Reason
		}
		return m
	}
	if r := reasons(); r["a"] != "never run" || r["total"] != "never run" {
		t.Errorf("before any run: %v", r)
	}
	mustRun(t, f)
	r := reasons("stages.a.params.value=2.5", "stages.b.params.mode=doubled")
	want := map[string]string{
		"a":     "params changed: a.value 2 → 2.5",
		"b":     "params changed: b.mode plain → doubled",
		"sa":    "input in changed",
		"sb":    "input in changed",
		"total": "input in changed",
	}
	for k, v := range want {
		if r[k] != v {
			t.Errorf("%s: %q, want %q", k, r[k], v)
		}
	}
	old := stagetest.SourceVersion
	stagetest.SourceVersion = "2"
	defer func() { stagetest.SourceVersion = old }()
	if r := reasons(); r["a"] != "code version changed: 1 → 2" || r["sa"] != "input in changed" {
		t.Errorf("after version bump: %v", r)
	}
	stagetest.SourceVersion = old
	p, store := plan(t, f)
	if _, err := store.Remove(p.Node("b").Key); err != nil {
		t.Fatal(err)
	}
	if r := reasons(); r["b"] != "cache entry missing" || r["a"] != "cached" || r["sb"] != "cached" {
		t.Errorf("after removing b: %v", r)
	}
}

func TestCancelLeavesNoEntry(t *testing.T) {
	dir := t.TempDir()
	f := write(t, dir, "exp.yaml", `
stages:
  slow: {kind: test-source, params: {bytes: 100000000, delay_ms: 20}}
  next: {kind: test-sum, inputs: {in: slow}}
`)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	got, err := states(t, ctx, f, RunOptions{})
	if err == nil || got["slow"] != "cancelled" || got["next"] != "skipped" {
		t.Fatalf("states %v, err %v", got, err)
	}
	p, store := plan(t, f)
	if _, err := store.Lookup(p.Node("slow").Key); err == nil {
		t.Error("cancelled stage left an entry")
	}
	if ents, _ := os.ReadDir(filepath.Join(store.Root(), "tmp")); len(ents) != 0 {
		t.Errorf("cancelled stage left %d temporary folders", len(ents))
	}
}

func TestResultsLinksAndLockFile(t *testing.T) {
	dir := t.TempDir()
	f := write(t, dir, "exp.yaml", chain)
	mustRun(t, f)
	p, store := plan(t, f)
	lock, err := ReadLockFile(p.Exp.LockFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range p.Nodes {
		ls := lock.Stages[n.Stage.Name]
		if ls == nil || ls.Key != n.Key {
			t.Fatalf("lock file entry of %s: %+v", n.Stage.Name, ls)
		}
		e, err := store.Verify(n.Key)
		if err != nil {
			t.Fatal(err)
		}
		if len(ls.Outputs) != len(e.Manifest.Files) || ls.Outputs[0].SHA256 != e.Manifest.Files[0].SHA256 {
			t.Errorf("lock outputs of %s: %+v vs %+v", n.Stage.Name, ls.Outputs, e.Manifest.Files)
		}
		for _, fi := range e.Manifest.Files {
			link := filepath.Join(p.Exp.ResultsDir, n.Stage.Name, fi.Name)
			want, _ := os.ReadFile(filepath.Join(e.Dir, fi.Name))
			got, err := os.ReadFile(link)
			if err != nil || string(got) != string(want) {
				t.Errorf("results link %s: %v", link, err)
			}
		}
	}
	// A file the user put into the results folder survives reruns.
	mine := write(t, p.Exp.ResultsDir, "total/notes.txt", "mine")
	write(t, dir, "exp.yaml", strings.Replace(chain, "{value: 2}", "{value: 7}", 1))
	mustRun(t, f)
	if b, err := os.ReadFile(mine); err != nil || string(b) != "mine" {
		t.Errorf("user file in results lost: %v", err)
	}
}

func TestVerifyCatchesDamageBehindAnUnchangedMtime(t *testing.T) {
	dir := t.TempDir()
	f := write(t, dir, "exp.yaml", chain)
	mustRun(t, f)
	p, store := plan(t, f)
	e, _ := store.Lookup(p.Node("a").Key)
	path := filepath.Join(e.Dir, "values.txt")
	fi, _ := os.Stat(path)
	if err := os.WriteFile(path, []byte("9\n9\n9\n"), 0o644); err != nil { // same size
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	// The cheap check trusts the mtime (as DVC does); --verify does not.
	got, err := states(t, context.Background(), f, RunOptions{Verify: true})
	if err != nil || got["a"] != "ran" || got["sa"] != "cached" {
		t.Errorf("run --verify: %v, %v", got, err)
	}
	if _, err := store.Verify(p.Node("a").Key); err != nil {
		t.Errorf("not repaired: %v", err)
	}
}

func TestLockFileConflictsAndRenames(t *testing.T) {
	dir := t.TempDir()
	f := write(t, dir, "exp.yaml", chain)
	mustRun(t, f)
	p, store := plan(t, f)
	if fi, err := os.Stat(p.Exp.LockFile); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("lock file mode: %v, %v", fi.Mode(), err)
	}
	// A merge conflict in the lock file: status still decides, run rewrites it.
	write(t, dir, "exp.lock", "<<<<<<< HEAD\nschema: 1\n=======\n")
	ds, err := Status(p, store, false)
	if err == nil || !strings.Contains(err.Error(), "exp.lock: not a lock file") || !ds[0].Cached {
		t.Errorf("status with a broken lock file: %v, %+v", err, ds[0])
	}
	mustRun(t, f)
	if lock, err := ReadLockFile(p.Exp.LockFile); err != nil || len(lock.Stages) != 5 {
		t.Errorf("lock file not rewritten: %v", err)
	}
	// Renaming an upstream stage reruns its dependents (the name labels
	// their outputs), and status says so.
	write(t, dir, "exp.yaml", strings.NewReplacer("  a:\n", "  first:\n", "{in: a}", "{in: first}").Replace(chain))
	p, store = plan(t, f)
	ds, _ = Status(p, store, false)
	for _, d := range ds {
		if d.Stage == "sa" && d.Reason != "input in renamed: a → first" {
			t.Errorf("sa: %q", d.Reason)
		}
		if d.Stage == "first" && !d.Cached {
			t.Errorf("first: %q", d.Reason)
		}
	}
	// The results of stage a, which is gone, are removed; a user's file stays.
	mine := write(t, p.Exp.ResultsDir, "b/mine.txt", "mine")
	write(t, dir, "exp.yaml", strings.ReplaceAll(strings.Replace(chain, "  b:\n", "  b2:\n", 1), "{in: b}", "{in: b2}"))
	mustRun(t, f)
	if _, err := os.Stat(filepath.Join(p.Exp.ResultsDir, "b", "values.txt")); !os.IsNotExist(err) {
		t.Errorf("link of removed stage b stays: %v", err)
	}
	if _, err := os.Stat(mine); err != nil {
		t.Errorf("user's file in a removed stage's folder: %v", err)
	}
	if _, err := os.Stat(filepath.Join(p.Exp.ResultsDir, "b2", "values.txt")); err != nil {
		t.Error(err)
	}
}

// A results folder shared with the user's files (results: . in a git
// repository) loses nothing of theirs, empty folders included, when stages
// come and go; the folders the runner made for removed stages go.
func TestResultsInARepositoryTouchOnlyWhatTheRunMade(t *testing.T) {
	repo := t.TempDir()
	for _, d := range []string{".git/refs/heads", ".git/objects/pack", "data/empty", "b"} {
		if err := os.MkdirAll(filepath.Join(repo, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	head := write(t, repo, ".git/HEAD", "ref: refs/heads/main\n")
	cacheDir := t.TempDir()
	f := write(t, repo, "exp.yaml", "cache: "+cacheDir+"\nresults: .\n"+chain)
	mustRun(t, f)
	if _, err := os.Stat(filepath.Join(repo, "a", "values.txt")); err != nil {
		t.Fatalf("no results link: %v", err)
	}
	// Stage b's folder existed before the run: emptied, it stays.
	write(t, repo, "exp.yaml", "cache: "+cacheDir+"\nresults: .\nstages:\n  a: {kind: test-source, params: {value: 2}}\n")
	mustRun(t, f)
	for _, d := range []string{".git/refs/heads", ".git/objects/pack", "data/empty", "b", "a"} {
		if fi, err := os.Stat(filepath.Join(repo, d)); err != nil || !fi.IsDir() {
			t.Errorf("folder %s: %v", d, err)
		}
	}
	if _, err := os.Stat(head); err != nil {
		t.Error(err)
	}
	for _, gone := range []string{"b/values.txt", "sa", "sb", "total"} {
		if _, err := os.Lstat(filepath.Join(repo, gone)); !os.IsNotExist(err) {
			t.Errorf("%s of a removed stage stays: %v", gone, err)
		}
	}
}

// Two experiments with one results folder keep each other's links.
func TestExperimentsSharingAResultsFolder(t *testing.T) {
	dir := t.TempDir()
	one := write(t, dir, "one.yaml", "results: shared\nstages:\n  a: {kind: test-source, params: {value: 2}}\n")
	two := write(t, dir, "two.yaml", "results: shared\nstages:\n  b: {kind: test-source, params: {value: 3}}\n")
	mustRun(t, one)
	mustRun(t, two)
	mustRun(t, one)
	for _, l := range []string{"shared/a/values.txt", "shared/b/values.txt"} {
		if _, err := os.Stat(filepath.Join(dir, l)); err != nil {
			t.Errorf("link %s: %v", l, err)
		}
	}
}

// A lock-file write killed before its rename leaves .<exp>.lock.tmpNNN;
// the next run removes it, and only it: not a temporary file being written
// (flocked), nor a name of another pattern.
func TestRunRemovesStaleLockTemporaries(t *testing.T) {
	dir := t.TempDir()
	f := write(t, dir, "exp.yaml", chain)
	stale := write(t, dir, ".exp.lock.tmp123456", "schema: 1\n")
	busy := write(t, dir, ".exp.lock.tmp777", "schema: 1\n")
	other := write(t, dir, ".exp.lock.tmp12x", "mine")
	h, err := os.Open(busy)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := unix.Flock(int(h.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	mustRun(t, f)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temporary file stays: %v", err)
	}
	for _, p := range []string{busy, other} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
}

// A temporary link of a run killed between making it and renaming it into
// place is removed by the next run; one of a live process is not.
func TestStaleTemporaryLinksAreRemoved(t *testing.T) {
	dir := t.TempDir()
	f := write(t, dir, "exp.yaml", chain)
	mustRun(t, f)
	p, _ := plan(t, f)
	folder := filepath.Join(p.Exp.ResultsDir, "a")
	target, err := os.Readlink(filepath.Join(folder, "values.txt"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil { // a pid that is gone
		t.Fatal(err)
	}
	dead := filepath.Join(folder, fmt.Sprintf(".values.txt.tmp-link.%d.0123456789ab", cmd.Process.Pid))
	live := filepath.Join(folder, fmt.Sprintf(".values.txt.tmp-link.%d.0123456789ab", os.Getppid()))
	for _, l := range []string{dead, live} {
		if err := os.Symlink(target, l); err != nil {
			t.Fatal(err)
		}
	}
	mustRun(t, f)
	if _, err := os.Lstat(dead); !os.IsNotExist(err) {
		t.Errorf("temporary link of a dead process stays: %v", err)
	}
	if _, err := os.Lstat(live); err != nil {
		t.Errorf("temporary link of a live process removed: %v", err)
	}
}
