package slurm

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseSqueueAndSacct(t *testing.T) {
	states := map[string]State{}
	parseSqueue([]byte("12|COMPLETED|vm|None\n13_0|RUNNING|node7|None\n13_1|PENDING||Resources\n\ngarbage\n"), states)
	parseSacct([]byte("14|CANCELLED by 0|node2\n15_3|OUT_OF_MEMORY|node3\n|x|y\n"), states)
	want := map[string]State{
		"12":   {Name: "COMPLETED", Node: "vm"},
		"13_0": {Name: "RUNNING", Node: "node7"},
		"13_1": {Name: "PENDING", Reason: "Resources"},
		"14":   {Name: "CANCELLED", Node: "node2"},
		"15_3": {Name: "OUT_OF_MEMORY", Node: "node3"},
	}
	if !reflect.DeepEqual(states, want) {
		t.Errorf("got %+v\nwant %+v", states, want)
	}
	for name, active := range map[string]bool{"PENDING": true, "RUNNING": true, "COMPLETING": true, "REQUEUED": true,
		"COMPLETED": false, "FAILED": false, "CANCELLED": false, "TIMEOUT": false, "NODE_FAIL": false, "OUT_OF_MEMORY": false} {
		if (State{Name: name}).Active() != active {
			t.Errorf("%s: Active() = %v", name, !active)
		}
	}
}

func TestStatesAsksSacctForWhatSqueueForgot(t *testing.T) {
	var calls []string
	c := &Client{run: func(_ context.Context, name string, args []string, _ []byte) ([]byte, error) {
		calls = append(calls, name+" "+strings.Join(args, " "))
		switch name {
		case "squeue":
			return []byte("7_0|RUNNING|n1|None\n"), nil
		case "sacct":
			return []byte("7_1|COMPLETED|n2\n"), nil
		}
		return nil, nil
	}}
	got, err := c.States(context.Background(), []string{"7_0", "7_1", "9"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["7_0"].Name != "RUNNING" || got["7_1"].Name != "COMPLETED" {
		t.Errorf("states %+v", got)
	}
	want := []string{
		"squeue -h -r --states=all -j 7,9 -o %i|%T|%N|%r",
		"sacct -n -P -X -j 7_1,9 -o JobID,State,NodeList",
	}
	if !reflect.DeepEqual(calls, want) {
		t.Errorf("calls\n%q\nwant\n%q", calls, want)
	}
}

func TestLargestNode(t *testing.T) {
	out := []byte("debug*|2|23593\ngpu|64|512000+\ngpu|32|256000\n")
	for _, c := range []struct {
		partition   string
		cpus, memMB int
		found       bool
	}{{"", 2, 23593, true}, {"debug", 2, 23593, true}, {"gpu", 64, 512000, true}, {"none", 0, 0, false}} {
		cpus, mem, found := largest(out, c.partition)
		if cpus != c.cpus || mem != c.memMB || found != c.found {
			t.Errorf("%q: %d CPUs, %d MB, %v; want %d, %d, %v", c.partition, cpus, mem, found, c.cpus, c.memMB, c.found)
		}
	}
}

// The script runs each task's command with its words intact, whatever
// the shell would make of them.
func TestScriptQuotesAndPicksTheTask(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	j := &Job{Name: "x", Commands: [][]string{
		{"printf", "%s|", "it's", "$HOME", "a b", "`date`", "\\n"},
		{"printf", "%s|", "second"},
	}}
	for task, want := range map[string]string{"": "it's|$HOME|a b|`date`|\\n|", "1": "second|"} {
		cmd := exec.Command("bash", "-c", string(j.Script()))
		cmd.Env = append(os.Environ(), "SLURM_ARRAY_TASK_ID="+task)
		out, err := cmd.Output()
		if err != nil || string(out) != want {
			t.Errorf("task %q: %q, %v; want %q", task, out, err, want)
		}
	}
	cmd := exec.Command("bash", "-c", string(j.Script()))
	cmd.Env = append(os.Environ(), "SLURM_ARRAY_TASK_ID=5")
	if err := cmd.Run(); err == nil {
		t.Error("task 5 of a two-task job ran")
	}
}

func TestArgs(t *testing.T) {
	j := &Job{Name: "exp:units", Commands: [][]string{{"a"}, {"b"}}, After: []string{"3", "4_1"}, Logs: "/c/slurm/logs", Chdir: "/w",
		Resources: Resources{CPUs: 4, Mem: "8G", Time: "1:00:00", Partition: "p", Sbatch: []string{"--account=lab"}}}
	want := []string{"--parsable", "--job-name=exp:units", "--nodes=1", "--ntasks=1", "--open-mode=append",
		"--array=0-1", "--output=/c/slurm/logs/%A_%a.log", "--chdir=/w", "--dependency=afterany:3:4_1",
		"--cpus-per-task=4", "--mem=8G", "--time=1:00:00", "--partition=p", "--account=lab"}
	if got := j.Args(); !reflect.DeepEqual(got, want) {
		t.Errorf("array job:\n%q\nwant\n%q", got, want)
	}
	if j.TaskID("9", 1) != "9_1" {
		t.Errorf("task id %s", j.TaskID("9", 1))
	}
	single := &Job{Name: "e:s", Commands: [][]string{{"a"}}, Logs: "/l"}
	if got := strings.Join(single.Args(), " "); !strings.Contains(got, "--output=/l/%j.log") || strings.Contains(got, "--array") || strings.Contains(got, "--dependency") {
		t.Errorf("single job: %s", got)
	}
	if single.TaskID("9", 0) != "9" {
		t.Errorf("task id %s", single.TaskID("9", 0))
	}
}

func TestResourcesForAKind(t *testing.T) {
	o := NewOptions()
	o.Partition, o.Sbatch = "cpu", []string{"--account=lab"}
	o.Kinds = map[string]Resources{"metric": {CPUs: 3, Time: "30", Sbatch: []string{"--qos=short"}}}
	if got, want := o.For("extract", 0, 0), (Resources{CPUs: 16, Mem: "16G", Time: "8:00:00", Partition: "cpu", Sbatch: []string{"--account=lab"}}); !reflect.DeepEqual(got, want) {
		t.Errorf("extract: %+v, want %+v", got, want)
	}
	// Defaults are cut to the largest node; what the file asks is not.
	if got := o.For("extract", 2, 4000); got.CPUs != 2 || got.Mem != "4000M" {
		t.Errorf("extract on a small node: %+v", got)
	}
	if got := o.For("metric", 2, 4000); got.CPUs != 3 || got.Mem != "4000M" || got.Time != "30" || !reflect.DeepEqual(got.Sbatch, []string{"--account=lab", "--qos=short"}) {
		t.Errorf("metric: %+v", got)
	}
	if got := o.For("correlate", 0, 0); got.CPUs != 1 || got.Mem != "2G" {
		t.Errorf("correlate: %+v", got)
	}
	if !Same(o.For("extract", 0, 0), o.For("extract", 0, 0)) || Same(o.For("extract", 0, 0), o.For("lesion", 8, 0)) {
		t.Error("Same disagrees with the requests")
	}
}

func TestMegabytes(t *testing.T) {
	for s, want := range map[string]int{"500": 500, "500M": 500, "8G": 8192, "2048K": 2, "1T": 1 << 20} {
		if got, ok := megabytes(s); !ok || got != want {
			t.Errorf("%s: %d, %v; want %d", s, got, ok, want)
		}
	}
	for _, s := range []string{"", "8GB", "-1", "1.5G", "G"} {
		if _, ok := megabytes(s); ok {
			t.Errorf("%q read as a size", s)
		}
	}
}

func TestRecordsAndInstall(t *testing.T) {
	d := Dir(t.TempDir())
	if err := d.Prepare(); err != nil {
		t.Fatal(err)
	}
	key := strings.Repeat("ab", 32)
	if d.Read(key) != nil {
		t.Error("a record before any was written")
	}
	r := Record{Key: key, Stage: "s", Job: "5_1", Experiment: "e.yaml", Submitted: time.Now().UTC().Round(0)}
	if err := d.Write(r); err != nil {
		t.Fatal(err)
	}
	if got := d.Read(key); got == nil || !reflect.DeepEqual(*got, r) {
		t.Errorf("read back %+v, want %+v", got, r)
	}
	if err := d.Remove(key, "6"); err != nil || d.Read(key) == nil {
		t.Errorf("removing another job's record removed it (%v)", err)
	}
	if err := d.Remove(key, "5_1"); err != nil || d.Read(key) != nil {
		t.Errorf("record still there after Remove (%v)", err)
	}
	prog := filepath.Join(t.TempDir(), "prog")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	a, err := d.Install(prog)
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.Install(prog)
	if err != nil || a != b {
		t.Errorf("installing twice: %s, %s (%v)", a, b, err)
	}
	if fi, err := os.Stat(a); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("the copy is not executable: %v %v", fi, err)
	}
	ents, _ := os.ReadDir(filepath.Join(string(d), "bin"))
	if len(ents) != 1 {
		t.Errorf("bin holds %d files", len(ents))
	}
}

func TestTailAndSkipReason(t *testing.T) {
	p := filepath.Join(t.TempDir(), "1.log")
	var b strings.Builder
	for i := range 30 {
		b.WriteString(strings.Repeat("x", i) + "\n")
	}
	b.WriteString(Skipped + "needs a, which did not finish\n")
	os.WriteFile(p, []byte(b.String()), 0o644)
	if got := strings.Split(Tail(p, 3), "\n"); len(got) != 3 || got[2] != Skipped+"needs a, which did not finish" {
		t.Errorf("tail: %q", got)
	}
	if r, ok := SkipReason(p); !ok || r != "needs a, which did not finish" {
		t.Errorf("skip reason %q, %v", r, ok)
	}
	if _, ok := SkipReason(filepath.Join(t.TempDir(), "none.log")); ok {
		t.Error("a missing log says skipped")
	}
}

func TestArrayCorrespondence(t *testing.T) {
	// units@1..3 each read its seed's extraction (tasks of array 10) and
	// the stimuli (job 9): one array, task k after task k of 10.
	a := NewArray([]string{"9", "10_0"}, true)
	for k, deps := range [][]string{{"9", "10_1"}, {"10_2", "9"}} {
		if !a.Add(deps) {
			t.Fatalf("task %d does not fit", k+1)
		}
	}
	if after, corr := a.Deps(); a.Len() != 3 || !reflect.DeepEqual(after, []string{"9"}) || !reflect.DeepEqual(corr, []string{"10"}) {
		t.Errorf("%d tasks after %v, corresponding to %v", a.Len(), after, corr)
	}
	// kernels@1-mean, then kernels@1-l2 (task 0 again) and a reader of
	// tasks 1 and 2 do not fit; kernels@2-mean does.
	b := NewArray([]string{"10_0"}, true)
	if b.Add([]string{"10_0"}) || b.Add([]string{"10_1", "10_2"}) {
		t.Error("a task that does not correspond joined")
	}
	if !b.Add([]string{"10_1", "11"}) {
		t.Error("the reader of task 1 did not join")
	}
	if after, corr := b.Deps(); !reflect.DeepEqual(after, []string{"11"}) || !reflect.DeepEqual(corr, []string{"10"}) {
		t.Errorf("after %v, corresponding to %v", after, corr)
	}
	// Without correspondence (lesion-agreement@fsi, @dprime…, all reading
	// one task): every task waits for what any reads.
	c := NewArray([]string{"10_0", "12"}, false)
	if !c.Add([]string{"10_0", "12"}) || !c.Add([]string{"10_3"}) {
		t.Error("a task did not join")
	}
	if after, corr := c.Deps(); c.Len() != 3 || !reflect.DeepEqual(after, []string{"10_0", "12", "10_3"}) || corr != nil {
		t.Errorf("%d tasks after %v, corresponding to %v", c.Len(), after, corr)
	}
	// One that reads two tasks of an array waits for each; one task alone is a plain job.
	d := NewArray([]string{"10_0", "10_1"}, true)
	if after, corr := d.Deps(); !reflect.DeepEqual(after, []string{"10_0", "10_1"}) || corr != nil {
		t.Errorf("reader of two tasks: after %v, corr %v", after, corr)
	}
	e := NewArray([]string{"10_0", "9"}, true)
	if after, corr := e.Deps(); !reflect.DeepEqual(after, []string{"9", "10_0"}) || corr != nil {
		t.Errorf("one task: after %v, corr %v", after, corr)
	}
	j := &Job{Commands: [][]string{{"a"}, {"b"}}, After: []string{"9"}, Corr: []string{"10"}, Logs: "/l"}
	if got := strings.Join(j.Args(), " "); !strings.Contains(got, "--dependency=afterany:9,aftercorr:10") || !strings.Contains(got, "--kill-on-invalid-dep=yes") {
		t.Errorf("args: %s", got)
	}
}

func TestCleanKeepsWhatRecordsName(t *testing.T) {
	d := Dir(t.TempDir())
	if err := d.Prepare(); err != nil {
		t.Fatal(err)
	}
	write := func(rel string) string {
		p := filepath.Join(string(d), rel)
		if err := os.WriteFile(p, []byte("12345"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	live, old := write("bin/selectivity-live"), write("bin/selectivity-old")
	running, ended := write("logs/7_1.log"), write("logs/6.log")
	debris := write("jobs/" + strings.Repeat("cd", 32) + ".json.tmp-1-x")
	if err := d.Write(Record{Key: strings.Repeat("ab", 32), Job: "7_1", Program: live}); err != nil {
		t.Fatal(err)
	}
	if n, err := d.Clean(true); err != nil || n != 15 {
		t.Errorf("dry run: %d bytes, %v; want 15", n, err)
	}
	if n, err := d.Clean(false); err != nil || n != 15 {
		t.Errorf("clean: %d bytes, %v; want 15", n, err)
	}
	for p, want := range map[string]bool{live: true, running: true, old: false, ended: false, debris: false} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s: kept %v, want %v", p, err == nil, want)
		}
	}
}
