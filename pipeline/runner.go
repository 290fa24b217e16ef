package pipeline

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-multierror"

	"selectivity/cache"
	"selectivity/pipeline/progress"
	"selectivity/stages"
)

// RunOptions control one run of a plan.
type RunOptions struct {
	// Jobs is how many stages may run at once (at least 1).
	Jobs int
	// Force names stages to recompute even when cached: full names, base
	// names (every expansion), or "all".
	Force []string
	// DryRun decides and reports each stage but runs nothing and writes nothing.
	DryRun bool
	// Verify re-hashes every file of every cached stage before trusting it,
	// instead of the cheap check (sizes, and hashes of files whose mtime moved).
	Verify bool
	// Progress receives the per-stage lines and the stages' bars.
	Progress *progress.Reporter
	// Platform describes the machine for provenance (stages.RunInfo).
	Platform string
	// Slurm, when set, runs the stages as Slurm jobs (cluster.go).
	Slurm *SlurmOptions
}

// Outcome is what happened to one stage in a run.
type Outcome struct {
	Decision
	// State is "cached", "ran", "would run", "failed", "cancelled",
	// "skipped", "not needed" (a temp stage no stage that runs reads) or
	// "queued" (on the cluster, when the driver detached).
	State string
	Wall  time.Duration
	Err   error
	// Job is the Slurm job or array task that computed the stage, or is to.
	Job string
	// made: this run computed the entry, or followed the Slurm job that
	// did; released: a temp stage whose entry this run removed.
	made, released bool
}

// Run brings every stage of p up to date in store: cached stages are
// reused, the others run in dependency order, up to opts.Jobs at once, in
// this process or, with opts.Slurm, as cluster jobs (cluster.go). A
// failing stage stops only its dependents. After the walk the
// experiment's results folder and lock file are updated for every stage
// that is up to date. The error lists every failure.
func Run(ctx context.Context, p *Plan, store *cache.Store, opts RunOptions) ([]*Outcome, error) {
	forced, err := p.forced(opts.Force)
	if err != nil {
		return nil, err
	}
	r := &run{p: p, store: store, opts: opts, forced: forced, outcomes: map[string]*Outcome{}}
	lock, err := ReadLockFile(p.Exp.LockFile)
	if err != nil { // only explains reasons; the run rewrites it
		opts.Progress.Println(fmt.Sprintf("warning: %v; it will be rewritten", err))
	}
	if e := p.Exp; e.Run != "" && !e.RunNamed && len(lock.Stages) > 0 && !slices.Equal(lock.Overrides, e.Overrides) {
		return nil, fmt.Errorf("%s records run %s with overrides %s, not %s; name this run with --name",
			e.LockFile, e.Run, strings.Join(lock.Overrides, " "), strings.Join(e.Overrides, " "))
	}
	r.explain = p.explainLock(lock)
	r.readers = p.readers()
	r.unneeded = p.unneededTemps(store, r.explain, forced, r.readers, opts.Verify)
	if !opts.DryRun {
		release, err := store.Use() // keeps gc away while this run reads entries
		if err != nil {
			return nil, err
		}
		defer release()
	}
	for _, n := range p.Nodes {
		r.width = max(r.width, len(n.Stage.Name))
	}
	if opts.Slurm != nil {
		if err := r.cluster(ctx); err != nil {
			return nil, err
		}
	} else {
		r.local(ctx)
	}

	list := make([]*Outcome, len(p.Nodes))
	var errs *multierror.Error
	for i, n := range p.Nodes {
		o := r.outcomes[n.Stage.Name]
		list[i] = o
		if o.Err != nil && o.State != "cancelled" {
			errs = multierror.Append(errs, fmt.Errorf("stage %s: %w", o.Stage, o.Err))
		}
	}
	if ctx.Err() != nil {
		errs = multierror.Append(errs, fmt.Errorf("interrupted: %w", ctx.Err()))
	}
	if opts.DryRun {
		return list, errs.ErrorOrNil()
	}
	if err := p.publish(list, lock, store); err != nil {
		errs = multierror.Append(errs, err)
	}
	return list, errs.ErrorOrNil()
}

// run is one Run: what was decided before any stage runs, and the
// outcomes as they come.
type run struct {
	p        *Plan
	store    *cache.Store
	opts     RunOptions
	forced   map[string]bool
	explain  *LockFile
	readers  map[string][]string
	unneeded map[string]bool
	width    int // of the longest stage name, for the lines

	mu       sync.Mutex
	outcomes map[string]*Outcome
}

// finish records o, prints its line and removes the temp entries that
// every reader is now done with.
func (r *run) finish(o *Outcome) {
	r.mu.Lock()
	r.outcomes[o.Stage] = o
	r.mu.Unlock()
	line := fmt.Sprintf("%-9s %-*s", o.State, r.width, o.Stage)
	switch o.State {
	case "ran", "cached":
		line += fmt.Sprintf("  %6.2fs", o.Wall.Seconds())
		if o.State == "ran" && o.Reason != "never run" || o.State == "cached" && o.Reason != "cached" {
			line += "  (" + o.Reason + ")"
		}
	case "would run", "failed", "cancelled", "skipped", "not needed", "queued":
		line += "  (" + o.Reason + ")"
	}
	if o.Job != "" {
		line += "  [slurm job " + o.Job + "]"
	}
	r.say(line)
	if r.opts.DryRun {
		return
	}
	for _, t := range r.p.releasable(o.Stage, r.readers, r.outcomes, &r.mu) {
		freed, err := r.store.Remove(t.Key)
		if err != nil {
			r.say(fmt.Sprintf("warning: temp stage %s: %v", t.Stage, err))
			continue
		}
		r.say(fmt.Sprintf("%-9s %-*s  (temp: every stage reading it has its result; %.1f MB freed)", "removed", r.width, t.Stage, float64(freed)/1e6))
	}
}

func (r *run) say(line string) { r.opts.Progress.Println(line) }

// entry is the entry of a stage that has its result.
func (r *run) entry(name string) *cache.Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.outcomes[name].Entry
}

// notNeeded is the outcome of a temp stage that need not be computed.
func (r *run) notNeeded(n *Node) *Outcome {
	return &Outcome{Decision: Decision{Stage: n.Stage.Name, Key: n.Key, Reason: "temp: every stage reading it is cached"}, State: "not needed"}
}

// skipped is the outcome of a stage whose input cause did not finish.
func (r *run) skipped(n *Node, cause string) *Outcome {
	return &Outcome{Decision: Decision{Stage: n.Stage.Name, Key: n.Key, Reason: "needs " + cause + ", which did not finish"}, State: "skipped"}
}

// local runs the stages in this process, up to opts.Jobs at once.
func (r *run) local(ctx context.Context) {
	p, opts := r.p, r.opts
	run := func(ctx context.Context, name string) error {
		n := p.index[name]
		if r.unneeded[name] {
			r.finish(r.notNeeded(n))
			return nil
		}
		start := time.Now()
		d := p.Decide(n, r.store, r.explain, r.forced[name], opts.Verify)
		o := &Outcome{Decision: d, State: "cached"}
		switch {
		case d.Cached:
		case opts.DryRun:
			o.State = "would run"
		default:
			var ran bool
			o.Entry, ran, o.Err = p.compute(ctx, n, r.store, r.forced[name], opts, r.entry)
			switch {
			case o.Err != nil && ctx.Err() != nil && errors.Is(o.Err, ctx.Err()):
				o.State, o.Reason = "cancelled", "interrupted"
			case o.Err != nil:
				o.State, o.Reason = "failed", o.Err.Error()
			case ran:
				o.State, o.made = "ran", true
			default:
				o.Cached, o.Reason = true, "computed meanwhile by another stage or process"
			}
		}
		o.Wall = time.Since(start)
		r.finish(o)
		return o.Err
	}
	skip := func(name, cause string) { r.finish(r.skipped(p.index[name], cause)) }
	p.Exp.Graph().Walk(ctx, opts.Jobs, run, skip)
}

// unneededTemps lists the temp stages this run need not compute: those
// not forced whose every reader will be cached (by the cache as it is
// before the run) or is itself an unneeded temp stage. A temp stage that
// no stage reads is always needed. Nil when the plan has no temp stage.
func (p *Plan) unneededTemps(store *cache.Store, lock *LockFile, forced map[string]bool, readers map[string][]string, verify bool) map[string]bool {
	if !slices.ContainsFunc(p.Nodes, func(n *Node) bool { return n.Stage.Temp }) {
		return nil
	}
	runs, unneeded := map[string]bool{}, map[string]bool{}
	for i := len(p.Nodes) - 1; i >= 0; i-- { // readers first
		n := p.Nodes[i]
		name := n.Stage.Name
		if n.Stage.Temp && !forced[name] && len(readers[name]) > 0 &&
			!slices.ContainsFunc(readers[name], func(r string) bool { return runs[r] }) {
			unneeded[name] = true
			continue
		}
		runs[name] = !p.Decide(n, store, lock, forced[name], verify).Cached
	}
	return unneeded
}

// readers maps each stage to the stages that read it.
func (p *Plan) readers() map[string][]string {
	r := map[string][]string{}
	for _, n := range p.Nodes {
		for _, in := range n.Inputs {
			if !slices.Contains(r[in.Stage], n.Stage.Name) {
				r[in.Stage] = append(r[in.Stage], n.Stage.Name)
			}
		}
	}
	return r
}

// releasable returns the outcomes of the temp stages read by the stage
// done whose entries may now be removed: made by this run, every stage
// reading them (readers) has its result (ran or cached), and not returned
// before. outcomes is guarded by mu; an outcome returned is marked
// released.
func (p *Plan) releasable(done string, readers map[string][]string, outcomes map[string]*Outcome, mu *sync.Mutex) []*Outcome {
	mu.Lock()
	defer mu.Unlock()
	var out []*Outcome
	for _, in := range p.index[done].Inputs {
		o := outcomes[in.Stage]
		if !p.index[in.Stage].Stage.Temp || o == nil || !o.made || o.released {
			continue
		}
		all := true
		for _, r := range readers[in.Stage] {
			if ro := outcomes[r]; ro == nil || (ro.State != "ran" && ro.State != "cached") {
				all = false
				break
			}
		}
		if all {
			o.released = true
			out = append(out, o)
		}
	}
	return out
}

// forced resolves --force names to full stage names.
func (p *Plan) forced(names []string) (map[string]bool, error) {
	f := map[string]bool{}
	for _, name := range names {
		found := false
		for _, n := range p.Nodes {
			if name == "all" || n.Stage.Name == name || n.Stage.Base == name {
				f[n.Stage.Name], found = true, true
			}
		}
		if !found {
			return nil, fmt.Errorf("--force %s: no such stage in %s", name, p.Exp.File)
		}
	}
	return f, nil
}

// Status decides every stage of p without running or writing anything,
// and marks cached stages Stale where the results folder or the lock file
// shows another run of them. verify re-hashes every cached file. An
// unreadable lock file or results record is returned as an error beside
// the decisions, which do not depend on it.
func Status(p *Plan, store *cache.Store, verify bool) ([]Decision, error) {
	lock, err := ReadLockFile(p.Exp.LockFile) // unreadable: decisions stand, reasons are vaguer
	shown, serr := ShownKeys(p.Exp)
	explain := p.explainLock(lock)
	unneeded := p.unneededTemps(store, explain, nil, p.readers(), verify)
	ds := make([]Decision, len(p.Nodes))
	for i, n := range p.Nodes {
		d := p.Decide(n, store, explain, false, verify)
		if unneeded[n.Stage.Name] {
			d.NotNeeded, d.Reason = true, "temp: every stage reading it is cached"
		}
		if d.Cached {
			var why []string
			switch k := shown[d.Stage]; {
			case k == "":
				why = append(why, "not in the results folder")
			case k != d.Key:
				why = append(why, fmt.Sprintf("the results folder shows another run of it (key %s)", k[:min(12, len(k))]))
			}
			if st := lock.Stages[d.Stage]; st == nil || st.Key != d.Key {
				why = append(why, "the lock file records another run")
			}
			d.Stale = strings.Join(why, "; ")
		}
		ds[i] = d
	}
	return ds, errors.Join(err, serr)
}

// explainLock is what decisions name changes against: the run's lock, and
// for the stages it does not record, the lock of the file as written, so
// that a first run with --set says what the overrides change.
func (p *Plan) explainLock(lock *LockFile) *LockFile {
	if p.Exp.Run == "" {
		return lock
	}
	base, err := ReadLockFile(p.Exp.FileLockFile())
	if err != nil {
		return lock
	}
	for name, st := range lock.Stages {
		base.Stages[name] = st
	}
	return base
}

// runInfo describes the run for n's job: the experiment, the run, n and
// the stages upstream of it, and the machine.
func (p *Plan) runInfo(n *Node, platform string) *stages.RunInfo {
	up := map[string]bool{n.Stage.Name: true}
	for i := len(p.Nodes) - 1; i >= 0; i-- { // reverse topological order
		if m := p.Nodes[i]; up[m.Stage.Name] {
			for _, in := range m.Inputs {
				up[in.Stage] = true
			}
		}
	}
	info := &stages.RunInfo{
		ExperimentFile: p.Exp.File, ExperimentSHA256: p.Exp.SHA256,
		Experiment: p.Exp.Name, Run: p.Exp.Run, Overrides: p.Exp.Overrides,
		GoVersion: runtime.Version(), Platform: platform, Date: time.Now().UTC(),
	}
	for _, m := range p.Nodes {
		if up[m.Stage.Name] {
			info.Stages = append(info.Stages, stages.StageInfo{
				Name: m.Stage.Name, Kind: m.Stage.Kind.Name(), Version: m.Stage.Kind.Version(), Key: m.Key, Params: string(m.Params.JSON),
			})
		}
	}
	return info
}
