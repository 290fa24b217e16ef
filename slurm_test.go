package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"selectivity/cache"
	"selectivity/pipeline"
	"selectivity/pipeline/pipelinetest"
	"selectivity/pipeline/stagetest"
	"selectivity/stages"
)

// The Slurm tests run against a real cluster: .ci/run starts a one-node
// one with .ci/slurm.sh and sets SLURM_CONF and SELECTIVITY_SLURM_TESTS=1
// (then a cluster that does not answer fails them); elsewhere they run
// when SLURM_CONF names a cluster that answers, and are skipped otherwise.
func needSlurm(t *testing.T) {
	t.Helper()
	required := os.Getenv("SELECTIVITY_SLURM_TESTS") == "1"
	if os.Getenv("SLURM_CONF") == "" && !required {
		t.Skip("no Slurm cluster: SLURM_CONF is unset (.ci/slurm.sh start makes one; .ci/run does)")
	}
	if out, err := exec.Command("sinfo", "-h").CombinedOutput(); err != nil {
		if required {
			t.Fatalf("the Slurm cluster does not answer: sinfo: %v: %s", err, out)
		}
		t.Skipf("the Slurm cluster does not answer: sinfo: %v: %s", err, out)
	}
}

// slurmHeader makes an experiment's jobs small enough for a one-node
// cluster of two cores and poll fast.
const slurmHeader = `
executor:
  kind: slurm
  slurm:
    poll: 300ms
    kinds:
      extract: {cpus: 1, mem: 1G}
      lesion: {cpus: 1, mem: 1G}
      metric: {cpus: 1, mem: 1G}
      aggregate: {cpus: 1, mem: 1G}
      decode: {cpus: 1, mem: 1G}
      stimuli: {mem: 500M}
      model: {mem: 500M}
      correlate: {mem: 500M}
      report: {mem: 500M}
      test-source: {mem: 100M, time: "5"}
      test-sum: {mem: 100M, time: "5"}
      test-fail: {mem: 100M, time: "5"}
`

// driver starts the program as a child running args (the jobs run a copy
// of the test binary, which SELECTIVITY_TEST_MAIN turns into the program).
func driver(t *testing.T, env []string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	cmd := child(t, args...)
	cmd.Env = append(cmd.Env, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &out
}

// drive runs the driver to its end and returns its exit status and output.
func drive(t *testing.T, env []string, args ...string) (int, string) {
	cmd, out := driver(t, env, args...)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, out.String()
}

// outputs maps each key of the plan to its entry's files, "name size
// sha256" lines, leaving out the files a kind declares volatile.
func outputs(t *testing.T, file, cacheDir string, sets ...string) map[string]string {
	t.Helper()
	l, err := load(file, sets, "", cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, n := range l.plan.Nodes {
		e, err := l.store.Verify(n.Key)
		if err != nil {
			t.Fatalf("stage %s: %v", n.Stage.Name, err)
		}
		var volatile []string
		if v, ok := n.Stage.Kind.(stages.Volatile); ok {
			volatile = v.VolatileOutputs()
		}
		var b strings.Builder
		for _, f := range e.Manifest.Files {
			if !slices.Contains(volatile, f.Name) {
				b.WriteString(f.Name + " " + f.SHA256 + "\n")
			}
		}
		out[n.Stage.Name+" "+n.Key] = b.String()
	}
	return out
}

// Without Slurm on PATH, --executor slurm says so and runs nothing.
func TestSlurmExecutorWithoutSlurm(t *testing.T) {
	dir := t.TempDir()
	f := pipelinetest.Write(t, dir, "e.yaml", "executor: {kind: slurm}\nstages:\n  a: {kind: test-source}\n")
	t.Setenv("PATH", dir)
	code, _, stderr := cliRun("run", f)
	if code != exitBadFile || !strings.Contains(stderr, "sinfo not found on PATH: is this machine a Slurm submit host?") {
		t.Errorf("exit %d\n%s", code, stderr)
	}
	if keys, _ := cache.Open(filepath.Join(dir, ".cache")).Keys(); len(keys) != 0 {
		t.Errorf("entries %v", keys)
	}
	if _, err := os.Stat(filepath.Join(dir, ".cache", "slurm")); err == nil {
		t.Error("the failed run made the cache's slurm folder")
	}
	if code, _, stderr := cliRun("run", f, "--executor", "local", "--detach"); code != exitBadFile || !strings.Contains(stderr, "--detach: only with --executor slurm") {
		t.Errorf("--detach with the local executor: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := cliRun("run", f, "--executor", "cluster"); code != exitBadFile || !strings.Contains(stderr, "--executor cluster: want local or slurm") {
		t.Errorf("--executor cluster: exit %d\n%s", code, stderr)
	}
	// The file's executor is only a default: --executor local runs here.
	if code, _, stderr := cliRun("run", f, "--executor", "local"); code != 0 {
		t.Errorf("--executor local: exit %d\n%s", code, stderr)
	}
}

func TestSlurmSweepMatchesLocalRun(t *testing.T) {
	needSlurm(t)
	ckpt, err := filepath.Abs(filepath.Join("testdata", "extract", "vgg16.pth.tar"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The study's stages at toy size, and a matrix stage (one job array).
	f := pipelinetest.Write(t, dir, "sweep.yaml", slurmHeader+strings.Replace(sweepExperiment, "CHECKPOINT", ckpt, 1)+`
  pooled:
    kind: aggregate
    matrix: {method: [mean, max]}
    inputs: {acts: acts_cats}
    params: {method: "${matrix.method}"}
  pooled_sel:
    kind: metric
    matrix: {method: [mean, max]}
    inputs: {acts: "pooled@${matrix.method}"}
`)
	points := [][]string{nil, {"--set", "stages.sel.params.fsi_threshold=0.1"}}
	local, onSlurm := filepath.Join(dir, "local"), filepath.Join(dir, "slurm")
	for _, sets := range points {
		if code, _, stderr := cliRun(append([]string{"run", f, "--executor", "local", "--cache", local}, sets...)...); code != 0 {
			t.Fatalf("local run %v: exit %d\n%s", sets, code, stderr)
		}
		code, out := drive(t, nil, append([]string{"run", f, "--cache", onSlurm}, sets...)...)
		if code != 0 {
			t.Fatalf("Slurm run %v: exit %d\n%s", sets, code, out)
		}
		if sets == nil {
			for _, re := range []string{`(?m)^ran +decoding .*\[slurm job \d+\]$`, `(?m)^queued +pooled@max +\[slurm job \d+_1\]$`} {
				if !regexp.MustCompile(re).MatchString(out) {
					t.Errorf("no line %s:\n%s", re, out)
				}
			}
		}
		a, b := outputs(t, f, local, setsOf(sets)...), outputs(t, f, onSlurm, setsOf(sets)...)
		for k, v := range a {
			if b[k] != v {
				t.Errorf("point %v, stage %s: Slurm's outputs\n%s differ from the local run's\n%s", sets, k, b[k], v)
			}
		}
		if len(a) != len(b) || len(a) != 17 {
			t.Errorf("point %v: %d stages locally, %d on Slurm, want 17", sets, len(a), len(b))
		}
		// A rerun is a no-op: everything cached, nothing submitted.
		code, out = drive(t, nil, append([]string{"run", f, "--cache", onSlurm}, sets...)...)
		if code != 0 || !strings.Contains(out, "17 stages: 17 cached") || strings.Contains(out, "queued") {
			t.Errorf("rerun %v: exit %d\n%s", sets, code, out)
		}
	}
}

func setsOf(flags []string) []string {
	var s []string
	for i := 1; i < len(flags); i += 2 {
		s = append(s, flags[i])
	}
	return s
}

// jobOf waits for the driver to queue stage and returns its job id.
func jobOf(t *testing.T, out *bytes.Buffer, stage string) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^queued +` + regexp.QuoteMeta(stage) + ` +\[slurm job ([0-9_]+)\]`)
	var id string
	waitFor(t, "the job of "+stage, func() bool {
		m := re.FindStringSubmatch(out.String())
		if m != nil {
			id = m[1]
		}
		return m != nil
	})
	return id
}

func TestSlurmArrayAndCancelledJobLeavesNoEntry(t *testing.T) {
	needSlurm(t)
	dir := t.TempDir()
	f := pipelinetest.Write(t, dir, "kill.yaml", slurmHeader+`
stages:
  sweep:
    kind: test-source
    matrix: {n: [1, 2, 3]}
    params: {n: "${matrix.n}"}
  slow:
    kind: test-source
    params: {value: 7, hold: "${env:HOLD:-0s}"}
  per:
    kind: test-sum
    matrix: {n: [1, 2, 3]}
    inputs: {in: "sweep@${matrix.n}"}
  fan:
    kind: test-sum
    matrix: {scale: [2, 3]}
    inputs: {in: sweep@1}
    params: {scale: "${matrix.scale}"}
  total:
    kind: test-sum
    inputs: {in: [sweep, slow]}
`)
	cacheDir := filepath.Join(dir, ".cache")
	cmd, out := driver(t, []string{"HOLD=10m"}, "run", f)
	for _, s := range []string{"sweep@1", "sweep@2", "sweep@3"} {
		if id := jobOf(t, out, s); !strings.Contains(id, "_") {
			t.Errorf("%s is job %s, not a task of the stage's array", s, id)
		}
	}
	// per@n reads sweep@n: one array, task k after sweep's task k; fan's
	// expansions all read sweep@1: one array, each task after that task.
	for _, stage := range [][]string{{"per@1", "per@2", "per@3"}, {"fan@2", "fan@3"}} {
		var arrays []string
		for k, s := range stage {
			id := jobOf(t, out, s)
			job, task, _ := strings.Cut(id, "_")
			if task != strconv.Itoa(k) {
				t.Errorf("%s is job %s, not task %d of an array", s, id, k)
			}
			arrays = append(arrays, job)
		}
		if len(slices.Compact(slices.Clone(arrays))) != 1 {
			t.Errorf("%v are jobs %v, not one array", stage, arrays)
		}
	}
	slow := jobOf(t, out, "slow")
	waitFor(t, "slow to run", func() bool { return strings.Contains(out.String(), "running   slow") })
	waitFor(t, "slow's transaction", func() bool {
		m, _ := filepath.Glob(filepath.Join(cacheDir, "tmp", "*", "*", "values.txt"))
		return len(m) > 0
	})
	if b, err := exec.Command("scancel", slow).CombinedOutput(); err != nil {
		t.Fatalf("scancel: %v: %s", err, b)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatalf("the driver succeeded with slow cancelled:\n%s", out)
	}
	text := out.String()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^failed +slow +\(CANCELLED; its log: .*\)  \[slurm job ` + slow + `\]$`),
		regexp.MustCompile(`(?m)^skipped +total +\(needs slow, which did not finish\)`),
		regexp.MustCompile(`(?m)^ran +sweep@3 `),
		regexp.MustCompile(`(?m)^ran +per@3 `),
		regexp.MustCompile(`(?m)^ran +fan@3 `),
	} {
		if !want.MatchString(text) {
			t.Errorf("no line %s in:\n%s", want, text)
		}
	}
	l, err := load(f, nil, "", cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	key := l.plan.Node("slow").Key
	if _, err := l.store.Lookup(key); err == nil {
		t.Fatal("the cancelled job left an entry")
	}
	waitFor(t, "the cancelled job's transaction to go", func() bool {
		m, _ := filepath.Glob(filepath.Join(cacheDir, "tmp", "*"))
		return len(m) == 0
	})
	// The next run computes slow (same key: hold is outside it) and total.
	code, text := drive(t, []string{"HOLD=0s"}, "run", f)
	if code != 0 || !regexp.MustCompile(`(?m)^ran +slow `).MatchString(text) || !strings.Contains(text, "10 stages: 2 ran, 8 cached") {
		t.Fatalf("rerun: exit %d\n%s", code, text)
	}
	if _, err := l.store.Verify(key); err != nil {
		t.Errorf("slow after the rerun: %v", err)
	}
}

func TestSlurmFailedJobReportsItsLog(t *testing.T) {
	needSlurm(t)
	dir := t.TempDir()
	f := pipelinetest.Write(t, dir, "fail.yaml", slurmHeader+`
stages:
  bad: {kind: test-fail, params: {message: "the flux capacitor is at 42 %"}}
  after: {kind: test-sum, inputs: {in: bad}}
  other: {kind: test-source}
`)
	code, out := drive(t, nil, "run", f)
	t.Logf("the driver's output:\n%s", out)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^failed +bad +\(FAILED; its log: .*/slurm/logs/\d+\.log\)  \[slurm job \d+\]$`),
		regexp.MustCompile(`(?m)^  stage bad: slurm job \d+ FAILED without a result; the end of its log .*\.log:`),
		regexp.MustCompile(`the flux capacitor is at 42 %`),
		regexp.MustCompile(`(?m)^skipped +after +\(needs bad, which did not finish\)`),
		regexp.MustCompile(`(?m)^ran +other `),
	} {
		if !want.MatchString(out) {
			t.Errorf("no %s in:\n%s", want, out)
		}
	}
	if code, stdout, _ := cliRun("status", f); code != 1 || !strings.Contains(stdout, "other") {
		t.Errorf("status: exit %d\n%s", code, stdout)
	}
}

func TestSlurmTwoDriversShareJobs(t *testing.T) {
	needSlurm(t)
	dir := t.TempDir()
	log := filepath.Join(dir, "runs.log")
	f := pipelinetest.Write(t, dir, "two.yaml", slurmHeader+`
stages:
  slow: {kind: test-source, params: {hold: 4s}}
  other: {kind: test-source, params: {value: 9, hold: 4s}}
  total: {kind: test-sum, inputs: {in: [slow, other]}}
`)
	env := []string{"SELECTIVITY_TEST_LOG=" + log}
	first, out1 := driver(t, env, "run", f)
	jobOf(t, out1, "total")
	// The second driver, started once the first has queued everything,
	// attaches to its jobs and submits nothing.
	second, out2 := driver(t, env, "run", f)
	for i, c := range []*exec.Cmd{first, second} {
		if err := c.Wait(); err != nil {
			t.Errorf("driver %d: %v\n%s", i+1, err, []*bytes.Buffer{out1, out2}[i])
		}
	}
	for _, s := range []string{"slow", "other", "total"} {
		if !regexp.MustCompile(`(?m)^attached +` + s + ` `).MatchString(out2.String()) {
			t.Errorf("the second driver did not attach to %s's job:\n%s", s, out2)
		}
	}
	if strings.Contains(out2.String(), "queued") {
		t.Errorf("the second driver submitted jobs:\n%s", out2)
	}
	runs := stagetest.Runs(log)
	for _, s := range []string{"slow", "other", "total"} {
		if runs[s] != 1 {
			t.Errorf("stage %s computed %d times", s, runs[s])
		}
	}
	if code, stdout, _ := cliRun("status", f); code != 0 {
		t.Errorf("status after both: exit %d\n%s", code, stdout)
	}
	// Two drivers at once, neither seeing the other's jobs: the keys'
	// locks still let each key be computed once.
	if err := os.RemoveAll(filepath.Join(dir, ".cache")); err != nil {
		t.Fatal(err)
	}
	os.Remove(log)
	a, outA := driver(t, env, "run", f)
	b, outB := driver(t, env, "run", f)
	for i, c := range []*exec.Cmd{a, b} {
		if err := c.Wait(); err != nil {
			t.Errorf("concurrent driver %d: %v\n%s", i+1, err, []*bytes.Buffer{outA, outB}[i])
		}
	}
	for s, n := range stagetest.Runs(log) {
		if n != 1 {
			t.Errorf("concurrent drivers: stage %s computed %d times", s, n)
		}
	}
}

func TestSlurmDetachThenAttach(t *testing.T) {
	needSlurm(t)
	dir := t.TempDir()
	f := pipelinetest.Write(t, dir, "detach.yaml", slurmHeader+`
stages:
  slow: {kind: test-source, temp: true, params: {hold: 3s}}
  total: {kind: test-sum, inputs: {in: slow}}
`)
	code, out := drive(t, nil, "run", f, "--detach")
	if code != 0 || !strings.Contains(out, "2 stages: 2 queued") || !strings.Contains(out, "detached: 2 stages on the cluster") {
		t.Fatalf("detach: exit %d\n%s", code, out)
	}
	code, stdout, _ := cliRun("status", f)
	if code != 1 || !regexp.MustCompile(`(?m)^slow +(pending|running) .*slurm job \d+`).MatchString(stdout) {
		t.Errorf("status while detached: exit %d\n%s", code, stdout)
	}
	code, out = drive(t, nil, "run", f)
	if code != 0 || !regexp.MustCompile(`(?m)^attached +total `).MatchString(out) || strings.Contains(out, "queued") {
		t.Fatalf("attach: exit %d\n%s", code, out)
	}
	// The attached run followed the job that made the temp stage: it
	// removes the entry once total has its result, as one run would.
	if !regexp.MustCompile(`(?m)^removed +slow `).MatchString(out) {
		t.Errorf("the temp stage's entry was not removed:\n%s", out)
	}
	if code, stdout, _ := cliRun("status", f); code != 0 {
		t.Errorf("status after attaching: exit %d\n%s", code, stdout)
	}
	lock, err := pipeline.ReadLockFile(filepath.Join(dir, "detach.lock"))
	if err != nil || len(lock.Stages) != 2 {
		t.Errorf("lock file after attaching: %v, %v", lock, err)
	}
}

func TestSlurmInterruptCancelsTheJobs(t *testing.T) {
	needSlurm(t)
	dir := t.TempDir()
	f := pipelinetest.Write(t, dir, "int.yaml", slurmHeader+`
stages:
  slow: {kind: test-source, params: {hold: 10m}}
  total: {kind: test-sum, inputs: {in: slow}}
`)
	cmd, out := driver(t, nil, "run", f)
	slow, total := jobOf(t, out, "slow"), jobOf(t, out, "total")
	waitFor(t, "slow to run", func() bool { return strings.Contains(out.String(), "running   slow") })
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitSignal {
		t.Fatalf("exit: %v\n%s", err, out)
	}
	for _, s := range []string{"slow", "total"} {
		if !regexp.MustCompile(`(?m)^cancelled +` + s + ` +\(interrupted; job cancelled\)`).MatchString(out.String()) {
			t.Errorf("no line of %s's cancelled job:\n%s", s, out)
		}
	}
	waitFor(t, "Slurm to end both jobs", func() bool {
		b, _ := exec.Command("squeue", "-h", "-r", "--states=all", "-j", slow+","+total, "-o", "%i %T").Output()
		return strings.Count(string(b), "CANCELLED") == 2
	})
	cacheDir := filepath.Join(dir, ".cache")
	if keys, _ := cache.Open(cacheDir).Keys(); len(keys) != 0 {
		t.Errorf("entries after Ctrl-C: %v", keys)
	}
	waitFor(t, "the cancelled job's transaction to go", func() bool {
		m, _ := filepath.Glob(filepath.Join(cacheDir, "tmp", "*"))
		return len(m) == 0
	})
}
