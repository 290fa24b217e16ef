package pipeline

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"selectivity/cache"
	"selectivity/pipeline/slurm"
)

// Running stages on Slurm. The driver decides every stage as a local run
// does; the stages that must run become jobs, submitted in dependency
// order, each waiting (afterany) for the jobs of its inputs, the
// expansions of one matrix stage that wait for the same jobs and ask for
// the same resources as one job array. A job runs the worker (Work) on
// one stage: it computes the stage into the shared cache under the key's
// lock and lease, exactly as a local run does, or ends as skipped when an
// input is missing. A stage whose key another run's job is computing is
// not submitted again: the driver attaches to that job (the key's record
// under <cache>/slurm/jobs). The driver then asks Slurm for its jobs'
// states every executor.slurm.poll, prints a line as each is queued,
// starts and ends, and takes a stage's result from the cache: an entry is
// success, a job that ended without one failed (its log's tail is the
// error) or was skipped; the pending jobs of what depends on a failed
// stage are cancelled. On Ctrl-C it cancels the jobs it submitted; with
// Detach it returns once they are queued, and a later run attaches.

// SlurmOptions run a plan's stages as Slurm jobs (RunOptions.Slurm).
type SlurmOptions struct {
	Client *slurm.Client
	// Program is this program's path: the jobs run a copy of it kept in
	// the cache, so that a rebuild cannot change the code under them.
	Program string
	// Worker are the worker command's arguments that name the run: the
	// experiment file, absolute, then its --set and --name flags.
	Worker []string
	// Chdir is the jobs' working folder.
	Chdir string
	// Detach returns once every job is queued, without waiting for them.
	Detach bool
}

// clusterStage is a stage a Slurm job computes.
type clusterStage struct {
	node      *Node
	d         Decision
	job       string // job or array task id; "" until submitted
	mine      bool   // submitted by this run, not attached to
	submitted time.Time
	state     string // the last state printed
	ended     time.Time
	done      bool
}

// endGrace is how long the driver waits, after a job ends without an
// entry, before calling its stage failed, where that may not be the end:
// a job COMPLETED whose entry this machine does not see yet (on NFS,
// another client's rename may take the attribute-cache time to show), or
// one PREEMPTED or on a NODE_FAIL, which Slurm may requeue under its id.
const endGrace = 30 * time.Second

// mayComeBack tells the states endGrace is for.
func mayComeBack(st slurm.State, known bool) bool {
	return !known || st.Name == "COMPLETED" || st.Name == "PREEMPTED" || st.Name == "NODE_FAIL"
}

// cluster runs r's stages as Slurm jobs.
func (r *run) cluster(ctx context.Context) error {
	so, cfg := r.opts.Slurm, &r.p.Exp.Executor.Slurm
	var todo []*clusterStage
	for _, n := range r.p.Nodes {
		name := n.Stage.Name
		if r.unneeded[name] {
			r.finish(r.notNeeded(n))
			continue
		}
		d := r.p.Decide(n, r.store, r.explain, r.forced[name], r.opts.Verify)
		switch {
		case d.Cached:
			r.finish(&Outcome{Decision: d, State: "cached"})
		case r.opts.DryRun:
			r.finish(&Outcome{Decision: d, State: "would run"})
		default:
			todo = append(todo, &clusterStage{node: n, d: d})
		}
	}
	if len(todo) == 0 || r.opts.DryRun {
		return nil
	}
	cpus, memMB, err := so.Client.Largest(ctx, cfg.Partition)
	if err != nil {
		return err
	}
	dir := slurm.Dir(filepath.Join(r.store.Root(), "slurm"))
	if err := dir.Prepare(); err != nil {
		return fmt.Errorf("slurm: %w", err)
	}
	bin, err := dir.Install(so.Program)
	if err != nil {
		return fmt.Errorf("slurm: copying the program for the jobs: %w", err)
	}
	if err := r.attach(ctx, todo, dir); err != nil {
		return err
	}
	r.submit(ctx, todo, dir, bin, cpus, memMB)
	if so.Detach {
		for _, s := range todo {
			if !s.done {
				o := &Outcome{Decision: s.d, State: "queued", Job: s.job}
				o.Reason = "detached; run again to attach"
				r.finish(o)
			}
		}
		return nil
	}
	r.wait(ctx, todo, dir, cfg.Poll)
	return nil
}

// attach follows the queued or running jobs, of earlier or other runs,
// that compute keys of todo (those not forced).
func (r *run) attach(ctx context.Context, todo []*clusterStage, dir slurm.Dir) error {
	recs := map[*clusterStage]*slurm.Record{}
	var ids []string
	for _, s := range todo {
		if rec := dir.Read(s.node.Key); rec != nil && !r.forced[s.node.Stage.Name] {
			recs[s] = rec
			ids = append(ids, rec.Job)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	states, err := r.opts.Slurm.Client.States(ctx, ids)
	if err != nil {
		return err
	}
	for s, rec := range recs {
		if st, ok := states[rec.Job]; ok && st.Active() {
			s.job, s.submitted = rec.Job, rec.Submitted
		}
	}
	for _, s := range todo { // in order, for the lines
		if s.job != "" {
			s.state = "attached"
			r.line("attached", s, "computing it for "+recs[s].Experiment)
		}
	}
	return nil
}

// line prints a stage's progress on the cluster.
func (r *run) line(state string, s *clusterStage, note string) {
	line := fmt.Sprintf("%-9s %-*s  [slurm job %s]", state, r.width, s.node.Stage.Name, s.job)
	if note != "" {
		line += "  (" + note + ")"
	}
	r.say(line)
}

// submit submits the stages of todo that have no job, in order, grouping
// the expansions of one stage into arrays (see the section comment).
func (r *run) submit(ctx context.Context, todo []*clusterStage, dir slurm.Dir, bin string, cpus, memMB int) {
	so, cfg := r.opts.Slurm, &r.p.Exp.Executor.Slurm
	byName := map[string]*clusterStage{}
	for _, s := range todo {
		byName[s.node.Stage.Name] = s
	}
	// after lists the jobs s waits for; ready is false while an input has
	// no job yet, cause names an input that never will.
	after := func(s *clusterStage) (ids []string, ready bool, cause string) {
		for _, in := range s.node.Inputs {
			u := byName[in.Stage]
			switch {
			case u == nil: // cached
			case u.done:
				return nil, false, in.Stage
			case u.job == "":
				return nil, false, ""
			case !slices.Contains(ids, u.job):
				ids = append(ids, u.job)
			}
		}
		return ids, true, ""
	}
	res := func(s *clusterStage) slurm.Resources {
		return cfg.For(s.node.Stage.Kind.Name(), cpus, memMB)
	}
	for i, s := range todo {
		if s.job != "" || s.done {
			continue
		}
		deps, ready, cause := after(s)
		if !ready {
			s.done = true
			r.finish(r.skipped(s.node, cause))
			continue
		}
		// Siblings whose tasks correspond to the arrays they read, else
		// siblings that wait for every job any of them reads.
		var group []*clusterStage
		var arr *slurm.Array
		for _, corresponding := range []bool{true, false} {
			group, arr = []*clusterStage{s}, slurm.NewArray(deps, corresponding)
			for _, t := range todo[i+1:] {
				if t.job != "" || t.done || t.node.Stage.Base != s.node.Stage.Base || !slurm.Same(res(t), res(s)) {
					continue
				}
				if more, ready, _ := after(t); ready && arr.Add(more) {
					group = append(group, t)
				}
			}
			if len(group) > 1 {
				break
			}
		}
		job := &slurm.Job{
			Name:      r.p.Exp.Name + ":" + s.node.Stage.Base,
			Resources: res(s),
			Logs:      dir.Logs(),
			Chdir:     so.Chdir,
		}
		job.After, job.Corr = arr.Deps()
		for _, t := range group {
			argv := append([]string{bin, "worker"}, so.Worker...)
			argv = append(argv, "--cache", r.store.Root(), "--stage", t.node.Stage.Name, "--key", t.node.Key)
			if r.forced[t.node.Stage.Name] {
				argv = append(argv, "--force")
			}
			job.Commands = append(job.Commands, argv)
		}
		id, err := so.Client.Submit(ctx, job)
		for k, t := range group {
			if err != nil {
				t.done = true
				o := &Outcome{Decision: t.d, State: "failed", Err: err}
				o.Reason = err.Error()
				r.finish(o)
				continue
			}
			t.job, t.mine, t.submitted, t.state = job.TaskID(id, k), true, time.Now(), "queued"
			rec := slurm.Record{Key: t.node.Key, Stage: t.node.Stage.Name, Job: t.job, Experiment: r.p.Exp.File, Submitted: t.submitted, Program: bin}
			if err := dir.Write(rec); err != nil {
				r.say(fmt.Sprintf("warning: %s: the job's record: %v (other runs will not attach to it)", t.node.Stage.Name, err))
			}
			r.line("queued", t, "")
		}
	}
}

// wait follows the jobs of todo until each has ended, printing their
// states, and settles each stage from the cache.
func (r *run) wait(ctx context.Context, todo []*clusterStage, dir slurm.Dir, poll time.Duration) {
	client := r.opts.Slurm.Client
	var warned time.Time // when the driver last said Slurm did not answer; zero while it answers
	for {
		var ids []string
		for _, s := range todo {
			if !s.done {
				ids = append(ids, s.job)
			}
		}
		if len(ids) == 0 {
			return
		}
		if ctx.Err() != nil {
			r.interrupt(todo, dir)
			return
		}
		states, err := client.States(ctx, ids)
		switch {
		case err != nil && ctx.Err() == nil && time.Since(warned) >= time.Minute:
			r.say(fmt.Sprintf("warning: asking Slurm for the jobs' states: %v; asking again every %v", err, poll))
			warned = time.Now()
		case err == nil && !warned.IsZero():
			r.say("Slurm answers again")
			warned = time.Time{}
		}
		for _, s := range todo {
			if s.done || err != nil {
				continue
			}
			st, known := states[s.job]
			if known && st.Active() {
				s.ended = time.Time{} // requeued
				if st.Name == "RUNNING" && s.state != "running" {
					s.state = "running"
					r.line("running", s, "on "+st.Node)
				}
				continue
			}
			r.settle(ctx, s, st, known, todo, dir)
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// settle ends stage s, whose job has ended (or Slurm forgot it): an entry
// in the cache is its result; otherwise its log says it was skipped, or
// it failed and the log's tail says why, and what depends on it is
// skipped.
func (r *run) settle(ctx context.Context, s *clusterStage, st slurm.State, known bool, todo []*clusterStage, dir slurm.Dir) {
	lookup := r.store.Lookup
	if r.opts.Verify {
		lookup = r.store.Verify
	}
	e, lerr := lookup(s.node.Key)
	log := dir.Log(s.job)
	o := &Outcome{Decision: s.d, Job: s.job}
	reason, skipped := slurm.SkipReason(log)
	switch {
	case lerr == nil:
		o.Entry, o.State, o.made = e, "ran", true
		o.Wall = time.Duration(e.Manifest.WallSeconds * float64(time.Second))
		if !s.mine || e.Manifest.Created.Before(s.submitted) {
			o.State, o.Cached, o.Reason = "cached", true, "computed meanwhile by another job or process"
		}
	case skipped:
		o.State, o.Reason = "skipped", reason
	default:
		if mayComeBack(st, known) && errors.Is(lerr, cache.ErrNotFound) {
			if s.ended.IsZero() {
				s.ended = time.Now()
			}
			if time.Since(s.ended) < endGrace {
				return
			}
		}
		state := "ended; Slurm no longer reports how"
		if known {
			state = st.Name
		}
		o.State = "failed"
		o.Err = fmt.Errorf("slurm job %s %s without a result; the end of its log %s:\n%s", s.job, state, log, slurm.Tail(log, 20))
		if lerr != nil && !errors.Is(lerr, cache.ErrNotFound) {
			o.Err = fmt.Errorf("%w\n(the cache entry: %v)", o.Err, lerr)
		}
		o.Reason = fmt.Sprintf("%s; its log: %s", state, log)
	}
	s.done = true
	_ = dir.Remove(s.node.Key, s.job)
	r.finish(o)
	if o.State == "skipped" || o.State == "failed" {
		r.skipDependents(ctx, s, todo, dir)
	}
}

// skipDependents ends every stage that needs failed s as skipped and
// cancels the pending jobs of those this run submitted.
func (r *run) skipDependents(ctx context.Context, s *clusterStage, todo []*clusterStage, dir slurm.Dir) {
	gone := map[string]string{s.node.Stage.Name: s.node.Stage.Name} // stage → the failed stage it needs
	var cancel []string
	for _, t := range todo { // in dependency order
		if t.done {
			continue
		}
		for _, in := range t.node.Inputs {
			if cause, ok := gone[in.Stage]; ok {
				gone[t.node.Stage.Name] = cause
				t.done = true
				if t.mine {
					cancel = append(cancel, t.job)
					_ = dir.Remove(t.node.Key, t.job)
				}
				o := r.skipped(t.node, cause)
				o.Job = t.job
				r.finish(o)
				break
			}
		}
	}
	if err := r.opts.Slurm.Client.Cancel(ctx, cancel); err != nil {
		r.say(fmt.Sprintf("warning: cancelling the jobs of stages that cannot run: %v", err))
	}
}

// interrupt cancels the jobs this run submitted that have not ended.
func (r *run) interrupt(todo []*clusterStage, dir slurm.Dir) {
	var cancel []string
	for _, s := range todo {
		if s.done {
			continue
		}
		s.done = true
		o := &Outcome{Decision: s.d, State: "cancelled", Job: s.job, Err: context.Canceled}
		o.Reason = "interrupted; another run's job, left running"
		if s.mine {
			cancel = append(cancel, s.job)
			_ = dir.Remove(s.node.Key, s.job)
			o.Reason = "interrupted; job cancelled"
		}
		r.finish(o)
	}
	// The run's context is done: cancel under a fresh one, briefly.
	ctx, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	if err := r.opts.Slurm.Client.Cancel(ctx, cancel); err != nil {
		r.say(fmt.Sprintf("warning: scancel %s: %v", strings.Join(cancel, " "), err))
	}
}

// ClusterJob is the Slurm job computing a stage.
type ClusterJob struct {
	ID string `json:"id"`
	slurm.State
}

// Jobs returns the queued or running Slurm jobs that compute stages of p,
// by stage, from the keys' job records; it asks Slurm only when there
// are records.
func (p *Plan) Jobs(ctx context.Context, store *cache.Store, client *slurm.Client) (map[string]ClusterJob, error) {
	dir := slurm.Dir(filepath.Join(store.Root(), "slurm"))
	recs := map[string]*slurm.Record{}
	var ids []string
	for _, n := range p.Nodes {
		if rec := dir.Read(n.Key); rec != nil {
			recs[n.Stage.Name] = rec
			ids = append(ids, rec.Job)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	states, err := client.States(ctx, ids)
	if err != nil {
		return nil, err
	}
	jobs := map[string]ClusterJob{}
	for name, rec := range recs {
		if st, ok := states[rec.Job]; ok && st.Active() {
			jobs[name] = ClusterJob{ID: rec.Job, State: st}
		}
	}
	return jobs, nil
}
