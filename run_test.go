package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"selectivity/cache"
	"selectivity/pipeline"
	"selectivity/pipeline/pipelinetest"
	"selectivity/pipeline/stagetest"
)

// TestMain lets tests run the CLI in a child process: the test binary
// re-executed with SELECTIVITY_TEST_MAIN=1 behaves as the program, with the
// test stage kinds registered.
func TestMain(m *testing.M) {
	stagetest.Register()
	if os.Getenv("SELECTIVITY_TEST_MAIN") == "1" {
		os.Exit(cli(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// child returns the program as a subprocess.
func child(t *testing.T, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "SELECTIVITY_TEST_MAIN=1")
	return cmd
}

// cliRun runs the CLI in-process and returns exit code, stdout, stderr.
func cliRun(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := cli(args, &out, &errb)
	return code, out.String(), errb.String()
}

const exp = `
name: demo
params:
  value: 2
stages:
  a:
    kind: test-source
    params: {value: "${params.value}"}
  sweep:
    kind: test-source
    matrix: {n: [1, 2], mode: [plain, doubled]}
    params: {n: "${matrix.n}", mode: "${matrix.mode}"}
  total:
    kind: test-sum
    inputs: {in: [a, sweep]}
`

func TestRunTwiceIsAllCached(t *testing.T) {
	dir := t.TempDir()
	f := pipelinetest.Write(t, dir, "demo.yaml", exp)
	if code, _, stderr := cliRun("run", f, "-j", "2"); code != 0 {
		t.Fatalf("first run: exit %d\n%s", code, stderr)
	}
	start := time.Now()
	code, _, stderr := cliRun("run", f)
	took := time.Since(start)
	if code != 0 || len(regexp.MustCompile(`(?m)^cached `).FindAllString(stderr, -1)) != 6 || strings.Contains(stderr, "ran ") {
		t.Fatalf("second run: exit %d\n%s", code, stderr)
	}
	t.Logf("second run, all cached: %v", took)
	b, err := os.ReadFile(filepath.Join(dir, "results", "demo", "total", "values.txt"))
	// a: 3×2; sweep: n∈{1,2} × value 1 or 2 → 1+2+2+4.
	if err != nil || !strings.HasPrefix(string(b), "15\n") {
		t.Errorf("total = %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "demo.lock")); err != nil {
		t.Errorf("no lock file: %v", err)
	}
}

func TestStatusExitCodesAndJSON(t *testing.T) {
	dir := t.TempDir()
	f := pipelinetest.Write(t, dir, "demo.yaml", exp)
	code, stdout, _ := cliRun("status", f)
	if code != 1 || strings.Count(stdout, "never run") != 6 {
		t.Errorf("status before run: exit %d\n%s", code, stdout)
	}
	if _, err := os.Stat(filepath.Join(dir, ".cache")); !os.IsNotExist(err) {
		t.Errorf("status wrote the cache folder: %v", err)
	}
	cliRun("run", f)
	if code, stdout, _ := cliRun("status", f); code != 0 {
		t.Errorf("status after run: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = cliRun("status", f, "--json", "--set", "params.value=5")
	var st struct {
		Stages []struct {
			Stage  string
			Cached bool
			Reason string
		}
	}
	if err := json.Unmarshal([]byte(stdout), &st); err != nil || code != 1 || len(st.Stages) != 6 {
		t.Fatalf("status --json: exit %d, %v\n%s", code, err, stdout)
	}
	for _, s := range st.Stages {
		if s.Stage == "a" && s.Reason != "params changed: a.value 2 → 5" {
			t.Errorf("reason for a: %q", s.Reason)
		}
	}
	if code, _, stderr := cliRun("status", pipelinetest.Write(t, dir, "bad.yaml", "stages: {x: {kind: nope}}\n")); code != 2 || !strings.Contains(stderr, "bad.yaml:1:") {
		t.Errorf("status of a bad file: exit %d\n%s", code, stderr)
	}
}

func TestBadFileReportsEveryProblemAndWritesNothing(t *testing.T) {
	dir := t.TempDir()
	f := pipelinetest.Write(t, dir, "bad.yaml", `stages:
  a:
    kind: test-source
    params: {value: abc, n: 0}
  b:
    kind: no-such-kind
  c:
    kind: test-sum
    inputs: {in: missing}
  d:
    kind: test-sum
    inputs: {in: e}
  e:
    kind: test-sum
    inputs: {in: d}
`)
	code, _, stderr := cliRun("run", f)
	if code != 2 {
		t.Fatalf("exit %d, want 2\n%s", code, stderr)
	}
	for _, line := range []string{"bad.yaml:4:", "bad.yaml:6:", "bad.yaml:9:", "cycle"} {
		if !strings.Contains(stderr, line) {
			t.Errorf("missing %q in\n%s", line, stderr)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("a bad file wrote into its folder: %v", ents)
	}
}

// waitFor polls until cond holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// blobBytes is how much of blob.bin the running transactions have written.
func blobBytes(cacheDir string) int64 {
	var n int64
	paths, _ := filepath.Glob(filepath.Join(cacheDir, "tmp", "*", "*", "blob.bin"))
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

func TestSIGKILLMidWriteLeavesNoEntry(t *testing.T) {
	dir := t.TempDir()
	f := pipelinetest.Write(t, dir, "kill.yaml", `
stages:
  slow: {kind: test-source, params: {bytes: 50000000, delay_ms: 30}}
`)
	cmd := child(t, "run", f)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cacheDir := filepath.Join(dir, ".cache")
	waitFor(t, "the child to be half-way through its file", func() bool { return blobBytes(cacheDir) >= 5<<20 })
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	store := cache.Open(cacheDir)
	keys, err := store.Keys()
	if err != nil || len(keys) != 0 {
		t.Fatalf("killed run left entries %v (%v)", keys, err)
	}
	if code, _, _ := cliRun("status", f); code != 1 {
		t.Errorf("status after the kill: exit %d, want 1", code)
	}
	// The rerun recovers: it computes a complete entry.
	pipelinetest.Write(t, dir, "kill.yaml", `
stages:
  slow: {kind: test-source, params: {bytes: 50000000}}
`)
	if code, _, stderr := cliRun("run", f); code != 0 {
		t.Fatalf("rerun: exit %d\n%s", code, stderr)
	}
	keys, _ = store.Keys()
	if len(keys) != 1 {
		t.Fatalf("entries after rerun: %v", keys)
	}
	e, err := store.Verify(keys[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, fi := range e.Manifest.Files {
		if fi.Name == "blob.bin" && fi.Size != 50000000 {
			t.Errorf("blob.bin has %d bytes", fi.Size)
		}
	}
	if code, stdout, _ := cliRun("gc", f); code != 0 || !strings.Contains(stdout, "removed 0 entries") {
		t.Errorf("gc: exit %d: %s", code, stdout)
	}
	if ents, _ := os.ReadDir(filepath.Join(cacheDir, "tmp")); len(ents) != 0 {
		t.Errorf("gc left %d temporary folders of the killed run", len(ents))
	}
}

func TestInterruptCancelsAndLeavesNoEntry(t *testing.T) {
	dir := t.TempDir()
	f := pipelinetest.Write(t, dir, "int.yaml", `
stages:
  slow: {kind: test-source, params: {bytes: 50000000, delay_ms: 30}}
  quick: {kind: test-source}
`)
	cmd := child(t, "run", f, "-j", "2")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cacheDir := filepath.Join(dir, ".cache")
	waitFor(t, "the child to be writing", func() bool { return blobBytes(cacheDir) >= 2<<20 })
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("exit: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("no word of the interruption:\n%s", stderr.String())
	}
	keys, _ := cache.Open(cacheDir).Keys()
	if len(keys) != 1 { // quick finished; slow left nothing
		t.Errorf("entries after Ctrl-C: %v", keys)
	}
	if ents, _ := os.ReadDir(filepath.Join(cacheDir, "tmp")); len(ents) != 0 {
		t.Errorf("Ctrl-C left %d temporary folders", len(ents))
	}
}

func TestTwoProcessesComputeEachKeyOnce(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "runs.log")
	f := pipelinetest.Write(t, dir, "two.yaml", `
cache: shared-cache
stages:
  slow: {kind: test-source, params: {bytes: 8000000, delay_ms: 40}}
  other: {kind: test-source, params: {value: 9, bytes: 4000000, delay_ms: 40}}
  total: {kind: test-sum, inputs: {in: [slow, other]}}
`)
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for range 2 {
		cmd := child(t, "run", f, "-j", "2")
		cmd.Env = append(cmd.Env, "SELECTIVITY_TEST_LOG="+log)
		var b bytes.Buffer
		cmd.Stderr = &b
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
		outs = append(outs, &b)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("process %d: %v\n%s", i, err, outs[i])
		}
	}
	for stage, n := range stagetest.Runs(log) {
		if n != 1 {
			t.Errorf("stage %s computed %d times", stage, n)
		}
	}
	if runs := stagetest.Runs(log); len(runs) != 3 {
		t.Errorf("executions: %v", runs)
	}
	if code, stdout, _ := cliRun("status", f); code != 0 {
		t.Errorf("status: %s", stdout)
	}
}

func TestDagFormats(t *testing.T) {
	dir := t.TempDir()
	f := pipelinetest.Write(t, dir, "demo.yaml", exp)
	for format, want := range map[string]*regexp.Regexp{
		"text":    regexp.MustCompile(`total \(test-sum\)\n  in ← a, sweep@1-plain, sweep@1-doubled, sweep@2-plain, sweep@2-doubled`),
		"dot":     regexp.MustCompile(`"sweep@2-doubled" -> "total" \[label="in"\]`),
		"mermaid": regexp.MustCompile(`s\d+ -->\|in\| s5`),
	} {
		code, stdout, stderr := cliRun("dag", f, "--format", format)
		if code != 0 || !want.MatchString(stdout) {
			t.Errorf("dag --format %s: exit %d\n%s%s", format, code, stdout, stderr)
		}
	}
}

func TestGCKeepsWhatNamedExperimentsUse(t *testing.T) {
	dir := t.TempDir()
	one := pipelinetest.Write(t, dir, "one.yaml", "stages:\n  a: {kind: test-source}\n")
	two := pipelinetest.Write(t, dir, "two.yaml", "stages:\n  a: {kind: test-source}\n  b: {kind: test-source, params: {bytes: 3000000}}\n")
	cliRun("run", one)
	cliRun("run", two)
	code, stdout, _ := cliRun("gc", one, "--dry-run")
	if code != 0 || !strings.Contains(stdout, "would remove 1 entry, 2.9 MiB") {
		t.Errorf("gc --dry-run: %s", stdout)
	}
	if code, _, _ := cliRun("status", two); code != 0 {
		t.Error("gc --dry-run removed something")
	}
	if code, stdout, _ := cliRun("gc", one); code != 0 || !strings.Contains(stdout, "removed 1 entry, 2.9 MiB") {
		t.Errorf("gc: %s", stdout)
	}
	if code, _, _ := cliRun("status", one); code != 0 {
		t.Error("gc removed an entry the named experiment uses")
	}
	if code, stdout, _ := cliRun("status", two); code != 1 || !strings.Contains(stdout, "cache entry missing") {
		t.Errorf("status of two after gc: %s", stdout)
	}
}

func TestHelpAndBadFlags(t *testing.T) {
	for _, cmd := range []string{"run", "status", "dag", "gc", "kinds"} {
		code, stdout, _ := cliRun(cmd, "--help")
		if !strings.Contains(stdout, "Examples:") || code != 0 {
			t.Errorf("%s --help: exit %d\n%s", cmd, code, stdout)
		}
	}
	if code, _, _ := cliRun("run", "x.yaml", "-j", "0"); code != 2 {
		t.Errorf("-j 0: exit %d", code)
	}
	if code, _, _ := cliRun("frobnicate"); code != 2 {
		t.Errorf("unknown command: exit %d", code)
	}
	if code, _, stderr := cliRun("run", "/no/such/file.yaml"); code != 2 || !strings.Contains(stderr, "/no/such/file.yaml") {
		t.Errorf("missing file: exit %d %s", code, stderr)
	}
}

// TestShippedConfigsValidate keeps configs/ in step with the stage kinds:
// every shipped experiment loads (the study's data files need not exist).
func TestShippedConfigsValidate(t *testing.T) {
	files, _ := filepath.Glob("configs/*.yaml")
	if len(files) < 2 {
		t.Fatalf("configs: %v", files)
	}
	for _, f := range files {
		if _, err := pipeline.Load(f, pipeline.LoadOptions{SkipFileChecks: true}); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if code, _, stderr := cliRun("status", "configs/quickstart.yaml", "--cache", t.TempDir()); code != 1 {
		t.Errorf("status of the quickstart in an empty cache: exit %d\n%s", code, stderr)
	}
}

// TestReadmeExampleLoads keeps the README's experiment example valid.
func TestReadmeExampleLoads(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(name: sweep.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatal("README.md has no example experiment")
	}
	f := pipelinetest.Write(t, t.TempDir(), "sweep.yaml", string(m[1]))
	exp, err := pipeline.Load(f, pipeline.LoadOptions{SkipFileChecks: true})
	if err != nil {
		t.Fatal(err)
	}
	if st := exp.Stage("consistency"); st == nil || len(st.Inputs[0].Stages) != 5 {
		t.Errorf("README example: consistency reads %v", st)
	}
}

func TestGCWaitsForRunsAndKeepsTheLastRun(t *testing.T) {
	dir := t.TempDir()
	f := pipelinetest.Write(t, dir, "exp.yaml", `
params: {v: 1}
stages:
  a: {kind: test-source, params: {value: "${params.v}"}}
  slow: {kind: test-source, params: {bytes: 30000000, delay_ms: 30}}
`)
	// The last run used --set: gc keeps what the results folder shows.
	if code, _, stderr := cliRun("run", f, "--set", "params.v=2", "--force", "slow"); code != 0 {
		t.Fatal(stderr)
	}
	if code, stdout, _ := cliRun("gc", f); code != 0 || !strings.Contains(stdout, "removed 0 entries") {
		t.Errorf("gc removed what the lock file records: %s", stdout)
	}
	link := filepath.Join(dir, "results", "exp", "@v=2", "a", "values.txt")
	if b, err := os.ReadFile(link); err != nil || string(b) != "2\n2\n2\n" {
		t.Errorf("results link after gc: %q, %v", b, err)
	}
	// While a run uses the cache, gc removes nothing.
	cmd := child(t, "run", f, "--force", "slow")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the child to be writing", func() bool { return blobBytes(filepath.Join(dir, ".cache")) > 1<<20 })
	code, _, stderr := cliRun("gc", f)
	if code != 1 || !strings.Contains(stderr, "in use by a run") {
		t.Errorf("gc during a run: exit %d: %s", code, stderr)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("the run failed: %v", err)
	}
}

func TestRunIntoAnotherCacheRelinksResults(t *testing.T) {
	dir := t.TempDir()
	f := pipelinetest.Write(t, dir, "demo.yaml", exp)
	if code, _, stderr := cliRun("run", f); code != 0 {
		t.Fatal(stderr)
	}
	other := filepath.Join(t.TempDir(), "elsewhere")
	if code, _, stderr := cliRun("run", f, "--cache", other); code != 0 {
		t.Fatalf("run with another --cache: exit %d\n%s", code, stderr)
	}
	target, err := filepath.EvalSymlinks(filepath.Join(dir, "results", "demo", "total", "values.txt"))
	if err != nil || !strings.HasPrefix(target, other) {
		t.Errorf("results link points to %s (%v), want into %s", target, err, other)
	}
}

// Concurrent runs of one experiment on a warm cache all succeed: each
// process links through temporary names of its own.
func TestConcurrentRunsOfOneExperimentSucceed(t *testing.T) {
	dir := t.TempDir()
	vals := make([]string, 300) // many links (of one entry), so that the processes' publishing overlaps
	for i := range vals {
		vals[i] = strconv.Itoa(i)
	}
	f := pipelinetest.Write(t, dir, "demo.yaml", exp+`  many:
    kind: test-source
    matrix: {i: [`+strings.Join(vals, ", ")+`]}
`)
	if code, _, stderr := cliRun("run", f); code != 0 {
		t.Fatalf("first run: exit %d\n%s", code, stderr)
	}
	for round := range 5 {
		if round%2 == 0 { // relink everything: the links point elsewhere
			os.RemoveAll(filepath.Join(dir, "results"))
		}
		var cmds []*exec.Cmd
		var outs []*bytes.Buffer
		for range 3 {
			cmd := child(t, "run", f, "-j", "2")
			var b bytes.Buffer
			cmd.Stderr = &b
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			cmds, outs = append(cmds, cmd), append(outs, &b)
		}
		for i, cmd := range cmds {
			if err := cmd.Wait(); err != nil {
				t.Errorf("round %d, process %d: %v\n%s", round, i, err, outs[i])
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "results", "demo", "total", "values.txt")); err != nil || !strings.HasPrefix(string(b), "15\n") {
		t.Errorf("total = %q, %v", b, err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "results", "demo", "*", ".*tmp-link*")); len(m) > 0 {
		t.Errorf("temporary links left: %v", m)
	}
}

// Counts read as English: "1 problem:", "1 stage:".
func TestMessagesCountInEnglish(t *testing.T) {
	dir := t.TempDir()
	bad := pipelinetest.Write(t, dir, "bad.yaml", "stages: {x: {kind: nope}}\n")
	if _, _, stderr := cliRun("status", bad); !strings.HasPrefix(stderr, "1 problem:\n") {
		t.Errorf("status of a file with one problem:\n%s", stderr)
	}
	one := pipelinetest.Write(t, dir, "one.yaml", "stages: {a: {kind: test-source}}\n")
	if _, _, stderr := cliRun("run", one); !strings.Contains(stderr, "\n1 stage: 1 ran in ") {
		t.Errorf("run of one stage:\n%s", stderr)
	}
}

// A cache the user may not write to still serves a run whose stages are all
// cached: it only reads. (As root, the run is a child process as nobody.)
func TestReadOnlyCacheServesACachedRun(t *testing.T) {
	dir := t.TempDir()
	f := pipelinetest.Write(t, dir, "demo.yaml", exp)
	if code, _, stderr := cliRun("run", f); code != 0 {
		t.Fatalf("first run: exit %d\n%s", code, stderr)
	}
	cacheDir := filepath.Join(dir, ".cache")
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.Type()&os.ModeSymlink != 0:
			return nil
		case strings.HasPrefix(p, cacheDir) && d.IsDir():
			return os.Chmod(p, 0o555)
		case strings.HasPrefix(p, cacheDir):
			return os.Chmod(p, 0o444)
		case d.IsDir():
			return os.Chmod(p, 0o777) // the results folder and the lock file are written
		}
		return os.Chmod(p, 0o666)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		filepath.WalkDir(cacheDir, func(p string, d os.DirEntry, err error) error { os.Chmod(p, 0o755); return nil })
	})
	cmd := child(t, "run", f)
	if os.Geteuid() == 0 { // root writes anywhere: run as nobody a copy of the program it can reach
		if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
			t.Fatal(err)
		}
		bin, err := os.ReadFile(os.Args[0])
		if err != nil {
			t.Fatal(err)
		}
		cmd.Path = filepath.Join(dir, "program")
		if err := os.WriteFile(cmd.Path, bin, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "6 stages: 6 cached") {
		t.Fatalf("run on a read-only cache: %v\n%s", err, out)
	}
}

// metric.acts ← stimuli is caught at validation, at the line, not when
// the metric finds no layer files.
func TestWrongInputKindIsAValidationError(t *testing.T) {
	dir := t.TempDir()
	f := pipelinetest.Write(t, dir, "k.yaml", "stages:\n  stim: {kind: stimuli}\n  met:\n    kind: metric\n    inputs: {acts: stim}\n")
	code, _, stderr := cliRun("run", f)
	if code != 2 || !strings.Contains(stderr, "k.yaml:5:20: inputs.acts: stage stim is a stimuli stage, which makes images; slot acts of kind metric reads unit activations or kernel activations (from aggregate or extract stages)") {
		t.Errorf("exit %d\n%s", code, stderr)
	}
}

// Runs killed with SIGKILL at random instants, over and over, leave a cache
// from which the next run recovers: every entry verifies, and the outputs'
// digests equal those of a run never interrupted. Bounded: at most 15 kills
// and about 20 seconds.
func TestRandomKillsThenRecovery(t *testing.T) {
	const text = `
stages:
  a: {kind: test-source, params: {value: 2, bytes: 3000000, delay_ms: 10}}
  b: {kind: test-source, params: {value: 3, bytes: 2000000, delay_ms: 10}}
  sweep:
    kind: test-source
    matrix: {n: [1, 2, 3]}
    params: {n: "${matrix.n}", bytes: 1000000, delay_ms: 10}
  total: {kind: test-sum, inputs: {in: [a, b, sweep]}}
`
	ref := pipelinetest.Write(t, t.TempDir(), "kill.yaml", text)
	start := time.Now()
	if code, _, stderr := cliRun("run", ref, "-j", "2"); code != 0 {
		t.Fatalf("reference run: exit %d\n%s", code, stderr)
	}
	wall := time.Since(start)
	want, err := pipeline.ReadLockFile(strings.TrimSuffix(ref, ".yaml") + ".lock")
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	f := pipelinetest.Write(t, dir, "kill.yaml", text)
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewSource(seed))
	t.Logf("seed %d, uninterrupted run %v", seed, wall)
	kills := 0
	for deadline := time.Now().Add(20 * time.Second); kills < 15 && time.Now().Before(deadline); kills++ {
		cmd := child(t, "run", f, "-j", "2")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.Int63n(int64(2 * wall)))) // the child also starts up
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}
	if code, _, stderr := cliRun("run", f, "-j", "2"); code != 0 {
		t.Fatalf("recovery run after %d kills: exit %d\n%s", kills, code, stderr)
	}
	got, err := pipeline.ReadLockFile(filepath.Join(dir, "kill.lock"))
	if err != nil {
		t.Fatal(err)
	}
	store := cache.Open(filepath.Join(dir, ".cache"))
	for name, w := range want.Stages {
		g := got.Stages[name]
		if g == nil || g.Key != w.Key || !reflect.DeepEqual(g.Outputs, w.Outputs) {
			t.Errorf("stage %s after %d kills: %+v, want %+v", name, kills, g, w)
			continue
		}
		if _, err := store.Verify(g.Key); err != nil {
			t.Errorf("stage %s: %v", name, err)
		}
	}
	if code, stdout, _ := cliRun("status", f); code != 0 {
		t.Errorf("status after recovery:\n%s", stdout)
	}
	if code, _, stderr := cliRun("gc", f); code != 0 {
		t.Errorf("gc: %s", stderr)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, ".cache", "tmp")); len(ents) != 0 {
		t.Errorf("gc left %d temporary folders", len(ents))
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".kill.lock.tmp*")); len(m) != 0 {
		t.Errorf("temporary lock files left: %v", m)
	}
}

// A named pipe as weights: is an error at validation, at its line, for run
// and status alike, instead of a wait for a writer that never comes.
func TestNamedPipeAsWeightsIsAValidationError(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "w.pt"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := pipelinetest.Write(t, dir, "m.yaml", "stages:\n  net:\n    kind: model\n    params:\n      init: checkpoint\n      weights: w.pt\n")
	for _, cmd := range []string{"run", "status"} {
		code, _, stderr := cliRun(cmd, f)
		if code != 2 || !strings.Contains(stderr, "m.yaml:6:16: params.weights: w.pt (resolved to "+filepath.Join(dir, "w.pt")+") is a named pipe, not a regular file or folder") {
			t.Errorf("%s: exit %d\n%s", cmd, code, stderr)
		}
	}
}

// The reproduction: results: . in a git repository with an empty
// folder; the repository survives runs.
func TestResultsDotKeepsAGitRepository(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	repo := t.TempDir()
	if out, err := exec.Command("git", "init", "-q", repo).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v\n%s", err, out)
	}
	os.MkdirAll(filepath.Join(repo, "data", "empty"), 0o755)
	f := pipelinetest.Write(t, repo, "exp.yaml", "cache: "+t.TempDir()+"\nresults: .\nstages:\n  stim: {kind: test-source}\n  other: {kind: test-source, params: {value: 5}}\n")
	for _, text := range []string{"", "cache: " + t.TempDir() + "\nresults: .\nstages:\n  stim: {kind: test-source}\n"} {
		if text != "" {
			pipelinetest.Write(t, repo, "exp.yaml", text)
		}
		if code, _, stderr := cliRun("run", f); code != 0 {
			t.Fatalf("run: exit %d\n%s", code, stderr)
		}
	}
	cmd := exec.Command("git", "status", "--short")
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("git status: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(repo, "data", "empty")); err != nil {
		t.Error(err)
	}
}

// gc removes what a killed lock-file write left (.<exp>.lock.tmpNNN), and
// only that.
func TestGCRemovesStaleLockTemporaries(t *testing.T) {
	dir := t.TempDir()
	f := pipelinetest.Write(t, dir, "one.yaml", "stages: {a: {kind: test-source}}\n")
	cliRun("run", f)
	stale := pipelinetest.Write(t, dir, ".one.lock.tmp4242", "schema: 1\n")
	mine := pipelinetest.Write(t, dir, ".one.lock.tmp-notes", "mine")
	if code, stdout, _ := cliRun("gc", f, "--dry-run"); code != 0 || !strings.Contains(stdout, "would remove 0 entries, 10 B") {
		t.Errorf("gc --dry-run: %s", stdout)
	}
	if code, _, stderr := cliRun("gc", f); code != 0 {
		t.Fatalf("gc: %s", stderr)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temporary lock file stays: %v", err)
	}
	if _, err := os.Stat(mine); err != nil {
		t.Error(err)
	}
}

// The sequence: a run with --set gets its own results folder and
// lock, so status of the file as written and its results still agree; a
// results folder showing another run is reported as stale.
func TestRunWithOverridesKeepsItsOwnResultsAndLock(t *testing.T) {
	dir := t.TempDir()
	f := pipelinetest.Write(t, dir, "demo.yaml", exp)
	read := func(rel string) string {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if code, _, stderr := cliRun("run", f); code != 0 {
		t.Fatalf("run: %s", stderr)
	}
	baseLock := read("demo.lock")
	code, _, stderr := cliRun("run", f, "--set", "params.value=5")
	if code != 0 || !strings.Contains(stderr, "run: value=5\n") || !strings.Contains(stderr, filepath.Join("results", "demo", "@value=5")) {
		t.Fatalf("run --set: exit %d\n%s", code, stderr)
	}
	if got := read("results/demo/total/values.txt"); !strings.HasPrefix(got, "15\n") {
		t.Errorf("the file's results were replaced: total = %q", got)
	}
	if got := read("results/demo/@value=5/total/values.txt"); strings.HasPrefix(got, "15\n") {
		t.Errorf("the run's results show the file's run: total = %q", got)
	}
	if read("demo.lock") != baseLock {
		t.Error("run --set rewrote the file's lock")
	}
	lock, err := pipeline.ReadLockFile(filepath.Join(dir, "demo@value=5.lock"))
	if err != nil || lock.Run != "value=5" || !reflect.DeepEqual(lock.Overrides, []string{"params.value=5"}) ||
		lock.Results != "results/demo/@value=5" || fmt.Sprint(lock.Stages["a"].Params["value"]) != "5" {
		t.Errorf("run's lock: %+v, %v", lock, err)
	}
	for _, sets := range [][]string{nil, {"--set", "params.value=5"}} {
		if code, stdout, stderr := cliRun(append([]string{"status", f}, sets...)...); code != 0 || strings.Contains(stdout, "stale") {
			t.Errorf("status %v: exit %d\n%s%s", sets, code, stdout, stderr)
		}
	}

	// A clash of derived names stops the run; --name chooses another.
	pipelinetest.Write(t, dir, "demo@value=5.lock", strings.Replace(read("demo@value=5.lock"), "- params.value=5", "- params.other=1", 1))
	if code, _, stderr := cliRun("run", f, "--set", "params.value=5"); code != 2 || !strings.Contains(stderr, "name this run with --name") {
		t.Errorf("clashing run: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := cliRun("run", f, "--set", "params.value=5", "--name", "five"); code != 0 || !strings.Contains(read("demo@five.lock"), "run: five") {
		t.Errorf("run --name: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := cliRun("run", f, "--name", "../x"); code != 2 || !strings.Contains(stderr, "--name ../x: not a safe name") {
		t.Errorf("run --name ../x: exit %d\n%s", code, stderr)
	}

	// The file edited, run, edited back: every entry is cached but the
	// results folder shows the edited run.
	pipelinetest.Write(t, dir, "demo.yaml", strings.Replace(exp, "value: 2", "value: 5", 1))
	cliRun("run", f)
	pipelinetest.Write(t, dir, "demo.yaml", exp)
	code, stdout, stderr := cliRun("status", f)
	if code != 1 || !strings.Contains(stdout, "stale") || !strings.Contains(stdout, "the results folder shows another run of it") ||
		!strings.Contains(stderr, "`run` relinks them") || strings.Contains(stdout, "will run") {
		t.Errorf("status after edit and revert: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, stdout, _ := cliRun("status", f, "--json"); code != 1 || !strings.Contains(stdout, `"stale": "the results folder shows another run of it`) {
		t.Errorf("status --json: %s", stdout)
	}
	if code, stderr := func() (int, string) { c, _, e := cliRun("run", f); return c, e }(); code != 0 || strings.Contains(stderr, "ran ") {
		t.Errorf("relinking run: %s", stderr)
	}
	if code, stdout, _ := cliRun("status", f); code != 0 {
		t.Errorf("status after relinking: exit %d\n%s", code, stdout)
	}
	if got := read("results/demo/total/values.txt"); !strings.HasPrefix(got, "15\n") {
		t.Errorf("relinked total = %q", got)
	}

	// gc keeps what the runs' lock files record.
	if code, stdout, _ := cliRun("gc", f); code != 0 {
		t.Fatalf("gc: %s", stdout)
	}
	for _, name := range [][]string{{"--name", "five"}, nil} {
		if code, stdout, stderr := cliRun(append([]string{"status", f, "--set", "params.value=5"}, name...)...); code != 0 {
			t.Errorf("run %v after gc: exit %d\n%s%s", name, code, stdout, stderr)
		}
	}
}
