// Package slurm hands stages to a Slurm cluster: it writes a job's batch
// script, submits it with sbatch, reads job states back with squeue (and
// sacct, on clusters that keep accounting) and cancels jobs with scancel.
// It knows nothing of experiments; package pipeline decides what each job
// runs (cluster.go there).
//
// A job is one stage, or expansions of one matrix stage as a job array
// whose task i runs the i-th command. A job waits for the jobs computing
// its inputs: task k of an array for task k of the arrays it corresponds
// to (aftercorr: each seed's metric after its own seed's extraction; see
// Array), and for the other jobs with afterany — a job whose input failed
// still starts, finds the input missing from the cache and ends at once
// as skipped (Skipped, in its log), so that one failed expansion never
// holds back the tasks of an array that do not need it.
//
// Beside the cache it serves, under <cache>/slurm/ (Dir), which the cache
// itself never reads or removes:
//
//	bin/selectivity-<sha256[:16]>  the driver's program, copied there once, so every node runs the code that planned the keys
//	jobs/<key>.json                the job computing a key while it is queued or running (Record); another driver attaches to it
//	logs/<job>.log                 a job's standard output and error ("123" or, for an array task, "123_4")
//
// Slurm's job states are squeue's (PENDING, RUNNING, COMPLETED, FAILED,
// CANCELLED, TIMEOUT, NODE_FAIL, OUT_OF_MEMORY, …); a job that squeue and
// sacct no longer know has ended, and the cache says how.
package slurm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
)

// Skipped starts the line a job's worker prints when a stage's input is
// not in the cache (its job failed): the rest of the line says which.
const Skipped = "selectivity worker: skipped: "

// Client runs the Slurm commands found on PATH (SLURM_CONF and the rest of
// the environment pass to them unchanged).
type Client struct {
	// run runs one command and returns its standard output; nil: os/exec.
	run func(ctx context.Context, name string, args []string, stdin []byte) ([]byte, error)
}

// New returns a client of the cluster this machine submits to.
func New() *Client { return &Client{} }

func (c *Client) command(ctx context.Context, name string, args []string, stdin []byte) ([]byte, error) {
	if c.run != nil {
		return c.run(ctx, name, args, stdin)
	}
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(string(out))
		}
		if errors.Is(err, exec.ErrNotFound) {
			return out, fmt.Errorf("%s not found on PATH: is this machine a Slurm submit host?", name)
		}
		return out, fmt.Errorf("%s: %v: %s", name, err, msg)
	}
	return out, nil
}

// Job is one submission.
type Job struct {
	// Name is the job's name (--job-name), as squeue shows it.
	Name string
	// Commands holds one command line per task: one makes a plain job,
	// more a job array whose task i runs Commands[i].
	Commands [][]string
	// After lists the jobs (ids as Submit returns them, or array tasks
	// "123_4") that must end before this one starts (afterany).
	After []string
	// Corr lists the arrays whose task k must succeed before task k of
	// this array starts (aftercorr; see Array).
	Corr []string
	// Resources are the job's requests.
	Resources Resources
	// Logs is the folder of the job's log files; Chdir its working folder.
	Logs, Chdir string
}

// Script is the batch script of j: task i (SLURM_ARRAY_TASK_ID, 0 for a
// plain job) execs Commands[i].
func (j *Job) Script() []byte {
	var b strings.Builder
	b.WriteString("#!/bin/bash\n")
	fmt.Fprintf(&b, "# %s: %d task(s), written by selectivity\n", j.Name, len(j.Commands))
	b.WriteString("case \"${SLURM_ARRAY_TASK_ID:-0}\" in\n")
	for i, argv := range j.Commands {
		q := make([]string, len(argv))
		for k, a := range argv {
			q[k] = quote(a)
		}
		fmt.Fprintf(&b, "%d) exec %s ;;\n", i, strings.Join(q, " "))
	}
	b.WriteString("*) echo \"selectivity: this job has no task ${SLURM_ARRAY_TASK_ID}\" >&2; exit 2 ;;\nesac\n")
	return []byte(b.String())
}

// quote makes s one word of a POSIX shell.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Args are sbatch's arguments for j, the script read from standard input.
func (j *Job) Args() []string {
	args := []string{"--parsable", "--job-name=" + j.Name, "--nodes=1", "--ntasks=1", "--open-mode=append"}
	if len(j.Commands) > 1 {
		args = append(args, fmt.Sprintf("--array=0-%d", len(j.Commands)-1), "--output="+j.Logs+"/%A_%a.log")
	} else {
		args = append(args, "--output="+j.Logs+"/%j.log")
	}
	if j.Chdir != "" {
		args = append(args, "--chdir="+j.Chdir)
	}
	var deps []string
	if len(j.After) > 0 {
		deps = append(deps, "afterany:"+strings.Join(j.After, ":"))
	}
	if len(j.Corr) > 0 {
		// A task whose corresponding task failed can never start: Slurm
		// cancels it rather than leaving it pending.
		deps = append(deps, "aftercorr:"+strings.Join(j.Corr, ":"))
		args = append(args, "--kill-on-invalid-dep=yes")
	}
	if len(deps) > 0 {
		args = append(args, "--dependency="+strings.Join(deps, ","))
	}
	return append(args, j.Resources.flags()...)
}

// Submit submits j and returns its job id.
func (c *Client) Submit(ctx context.Context, j *Job) (string, error) {
	if len(j.Commands) == 0 {
		return "", errors.New("slurm: a job with no command")
	}
	out, err := c.command(ctx, "sbatch", j.Args(), j.Script())
	if err != nil {
		return "", err
	}
	id, _, _ := strings.Cut(strings.TrimSpace(string(out)), ";") // "123" or "123;cluster"
	if _, err := strconv.ParseUint(id, 10, 64); err != nil {
		return "", fmt.Errorf("sbatch: unexpected answer %q, want a job id", strings.TrimSpace(string(out)))
	}
	return id, nil
}

// TaskID names task i of the job id submitted for j.
func (j *Job) TaskID(id string, i int) string {
	if len(j.Commands) > 1 {
		return fmt.Sprintf("%s_%d", id, i)
	}
	return id
}

// State is what Slurm says of a job or array task.
type State struct {
	// Name is squeue's or sacct's state: PENDING, RUNNING, COMPLETED, …
	Name string
	// Node is where it runs or ran; Reason why it waits.
	Node, Reason string
}

// Active reports whether the job may still run: queued, running, or on
// its way to either.
func (s State) Active() bool {
	switch s.Name {
	case "PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD",
		"REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD", "STOPPED":
		return true
	}
	return false
}

// States asks squeue, then sacct for the ids squeue no longer knows, for
// the state of each job or array task in ids. Ids neither knows are absent
// from the map: they ended long enough ago for the controller to forget
// them, and the cluster keeps no accounting.
func (c *Client) States(ctx context.Context, ids []string) (map[string]State, error) {
	states := map[string]State{}
	if len(ids) == 0 {
		return states, nil
	}
	var jobs []string
	for _, id := range ids {
		j, _, _ := strings.Cut(id, "_")
		if !slices.Contains(jobs, j) {
			jobs = append(jobs, j)
		}
	}
	out, err := c.command(ctx, "squeue", []string{"-h", "-r", "--states=all", "-j", strings.Join(jobs, ","), "-o", "%i|%T|%N|%r"}, nil)
	if err != nil && !strings.Contains(err.Error(), "Invalid job id") { // every id forgotten
		return nil, err
	}
	parseSqueue(out, states)
	var missing []string
	for _, id := range ids {
		if _, ok := states[id]; !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		// sacct fails, or says accounting is disabled, on clusters without it.
		if out, err := c.command(ctx, "sacct", []string{"-n", "-P", "-X", "-j", strings.Join(missing, ","), "-o", "JobID,State,NodeList"}, nil); err == nil {
			parseSacct(out, states)
		}
	}
	return states, nil
}

// parseSqueue reads squeue -h -r -o '%i|%T|%N|%r' lines.
func parseSqueue(out []byte, states map[string]State) {
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(strings.TrimSpace(line), "|")
		if len(f) != 4 || f[0] == "" {
			continue
		}
		s := State{Name: f[1], Node: f[2]}
		if f[3] != "None" {
			s.Reason = f[3]
		}
		states[f[0]] = s
	}
}

// parseSacct reads sacct -n -P -X -o JobID,State,NodeList lines; a state
// may carry words after it ("CANCELLED by 0").
func parseSacct(out []byte, states map[string]State) {
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(strings.TrimSpace(line), "|")
		if len(f) != 3 || f[0] == "" || f[1] == "" {
			continue
		}
		name, _, _ := strings.Cut(f[1], " ")
		states[f[0]] = State{Name: name, Node: f[2]}
	}
}

// Cancel cancels jobs or array tasks.
func (c *Client) Cancel(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := c.command(ctx, "scancel", ids, nil)
	return err
}

// Largest is the largest node of partition ("": the default one) as
// sinfo reports it: CPUs and memory in MB.
func (c *Client) Largest(ctx context.Context, partition string) (cpus, memMB int, err error) {
	out, err := c.command(ctx, "sinfo", []string{"-h", "-o", "%P|%c|%m"}, nil)
	if err != nil {
		return 0, 0, err
	}
	cpus, memMB, found := largest(out, partition)
	if !found {
		if partition == "" {
			return 0, 0, errors.New("sinfo: the cluster has no default partition; set executor.slurm.partition")
		}
		return 0, 0, fmt.Errorf("sinfo: no partition %q", partition)
	}
	return cpus, memMB, nil
}

// largest reads sinfo -h -o '%P|%c|%m' lines ("debug*|2|23593"; the
// default partition is starred, a size may end in "+").
func largest(out []byte, partition string) (cpus, memMB int, found bool) {
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(strings.TrimSpace(line), "|")
		if len(f) != 3 {
			continue
		}
		name, def := strings.CutSuffix(f[0], "*")
		if partition != name && !(partition == "" && def) {
			continue
		}
		found = true
		c, _ := strconv.Atoi(strings.TrimSuffix(f[1], "+"))
		m, _ := strconv.Atoi(strings.TrimSuffix(f[2], "+"))
		cpus, memMB = max(cpus, c), max(memMB, m)
	}
	return cpus, memMB, found
}
