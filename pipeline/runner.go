package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/debug"
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
}

// Outcome is what happened to one stage in a run.
type Outcome struct {
	Decision
	// State is "cached", "ran", "would run", "failed" or "skipped".
	State string
	Wall  time.Duration
	Err   error
}

// Run brings every stage of p up to date in store: cached stages are
// reused, the others run in dependency order, up to opts.Jobs at once. A
// failing stage stops only its dependents. After the walk the experiment's
// results folder and lock file are updated for every stage that is up to
// date. The error lists every failure.
func Run(ctx context.Context, p *Plan, store *cache.Store, opts RunOptions) ([]*Outcome, error) {
	forced, err := p.forced(opts.Force)
	if err != nil {
		return nil, err
	}
	rep := opts.Progress
	lock, err := ReadLockFile(p.Exp.LockFile)
	if err != nil { // only explains reasons; the run rewrites it
		rep.Println(fmt.Sprintf("warning: %v; it will be rewritten", err))
	}
	if e := p.Exp; e.Run != "" && !e.RunNamed && len(lock.Stages) > 0 && !slices.Equal(lock.Overrides, e.Overrides) {
		return nil, fmt.Errorf("%s records run %s with overrides %s, not %s; name this run with --name",
			e.LockFile, e.Run, strings.Join(lock.Overrides, " "), strings.Join(e.Overrides, " "))
	}
	explain := p.explainLock(lock)
	if !opts.DryRun {
		release, err := store.Use() // keeps gc away while this run reads entries
		if err != nil {
			return nil, err
		}
		defer release()
	}
	width := 0
	for _, n := range p.Nodes {
		width = max(width, len(n.Stage.Name))
	}
	var mu sync.Mutex
	outcomes := map[string]*Outcome{}
	finish := func(o *Outcome) {
		mu.Lock()
		outcomes[o.Stage] = o
		mu.Unlock()
		line := fmt.Sprintf("%-9s %-*s", o.State, width, o.Stage)
		switch o.State {
		case "ran":
			line += fmt.Sprintf("  %6.2fs", o.Wall.Seconds())
			if o.Reason != "never run" {
				line += "  (" + o.Reason + ")"
			}
		case "cached":
			line += fmt.Sprintf("  %6.2fs", o.Wall.Seconds())
		case "would run", "failed", "cancelled", "skipped":
			line += "  (" + o.Reason + ")"
		}
		rep.Println(line)
	}
	entry := func(name string) *cache.Entry {
		mu.Lock()
		defer mu.Unlock()
		return outcomes[name].Entry
	}

	run := func(ctx context.Context, name string) error {
		n := p.index[name]
		start := time.Now()
		d := p.Decide(n, store, explain, forced[name], opts.Verify)
		o := &Outcome{Decision: d, State: "cached"}
		switch {
		case d.Cached:
		case opts.DryRun:
			o.State = "would run"
		default:
			var ran bool
			o.Entry, ran, o.Err = p.compute(ctx, n, store, forced[name], opts, entry)
			switch {
			case o.Err != nil && ctx.Err() != nil && errors.Is(o.Err, ctx.Err()):
				o.State, o.Reason = "cancelled", "interrupted"
			case o.Err != nil:
				o.State, o.Reason = "failed", o.Err.Error()
			case ran:
				o.State = "ran"
			default:
				o.Cached, o.Reason = true, "computed meanwhile by another stage or process"
			}
		}
		o.Wall = time.Since(start)
		finish(o)
		return o.Err
	}
	skip := func(name, cause string) {
		n := p.index[name]
		finish(&Outcome{Decision: Decision{Stage: name, Key: n.Key, Reason: "needs " + cause + ", which did not finish"}, State: "skipped"})
	}
	p.Exp.Graph().Walk(ctx, opts.Jobs, run, skip)

	list := make([]*Outcome, len(p.Nodes))
	var errs *multierror.Error
	for i, n := range p.Nodes {
		o := outcomes[n.Stage.Name]
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

// compute runs n's kind under the key's lock into a cache transaction. It
// reports ran = false when another process, or another stage of this run
// with the same key, finished the key while this one waited for the lock.
func (p *Plan) compute(ctx context.Context, n *Node, store *cache.Store, forced bool, opts RunOptions, entry func(string) *cache.Entry) (e *cache.Entry, ran bool, err error) {
	verify, rep := opts.Verify, opts.Progress
	unlock, err := store.Lock(ctx, n.Key)
	if err != nil {
		return nil, false, err
	}
	defer unlock()
	lookup := store.Lookup
	if verify {
		lookup = store.Verify
	}
	if !forced {
		if e, err := lookup(n.Key); err == nil {
			return e, false, nil
		}
	}
	txn, err := store.Begin(n.Key)
	if err != nil {
		return nil, false, err
	}
	st := n.Stage
	job := &stages.Job{
		Stage:    st.Name,
		Params:   st.Params,
		Inputs:   map[string][]stages.Input{},
		OutDir:   txn.Dir(),
		Progress: rep.For(st.Name),
		Logf:     func(format string, args ...any) { rep.Println(st.Name + ": " + fmt.Sprintf(format, args...)) },
		Run:      p.runInfo(n, opts.Platform),
	}
	for _, in := range n.Inputs {
		e := entry(in.Stage)
		up := p.index[in.Stage].Stage
		var m map[string]string
		if len(up.Matrix) > 0 {
			m = map[string]string{}
			for _, mv := range up.Matrix {
				m[mv.Key] = mv.Value
			}
		}
		files := make([]string, len(e.Manifest.Files))
		for i, f := range e.Manifest.Files {
			files[i] = f.Name
		}
		job.Inputs[in.Slot] = append(job.Inputs[in.Slot], stages.Input{Stage: in.Stage, Label: in.Label, Matrix: m, Dir: e.Dir, Files: files})
	}
	start := time.Now()
	if err := runKind(ctx, st.Kind, job); err != nil {
		_ = txn.Abort()
		return nil, false, txn.Relative(err)
	}
	if err := ctx.Err(); err != nil {
		_ = txn.Abort()
		return nil, false, err
	}
	inputs := make([]cache.InputRef, len(n.Inputs))
	for i, in := range n.Inputs {
		inputs[i] = cache.InputRef{Slot: in.Slot, Stage: in.Stage, Key: in.Key}
	}
	e, err = txn.Commit(cache.Manifest{
		Key: n.Key, Stage: st.Name, Kind: st.Kind.Name(), Version: st.Kind.Version(),
		Params: json.RawMessage(n.Params.JSON), Inputs: inputs,
		Created: time.Now().UTC(), WallSeconds: time.Since(start).Seconds(),
	})
	if err != nil {
		_ = txn.Abort()
		return nil, false, err
	}
	return e, true, nil
}

// runKind runs a kind's code, turning a panic into an error with its stack
// so that one faulty stage cannot take the other stages down.
func runKind(ctx context.Context, k stages.Kind, job *stages.Job) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in kind %s: %v\n%s", k.Name(), r, debug.Stack())
		}
	}()
	return k.Run(ctx, job)
}

// publish links each up-to-date stage's outputs into the results folder and
// records them in the lock file. Stages that did not finish keep their
// previous lock record; stages no longer in the experiment lose theirs.
func (p *Plan) publish(list []*Outcome, lock *LockFile, store *cache.Store) error {
	var errs *multierror.Error
	stagesNow := map[string]bool{}
	done := map[string]*cache.Entry{}
	for _, o := range list {
		stagesNow[o.Stage] = true
		if o.Entry == nil || o.Err != nil {
			continue
		}
		done[o.Stage] = o.Entry
		lock.Stages[o.Stage] = lockStage(p.index[o.Stage], o.Entry)
	}
	if err := publishResults(p.Exp, done, stagesNow, store.Root()); err != nil {
		errs = multierror.Append(errs, err)
	}
	for name := range lock.Stages {
		if !stagesNow[name] {
			delete(lock.Stages, name)
		}
	}
	lock.Experiment, lock.Run, lock.Overrides = p.Exp.Name, p.Exp.Run, p.Exp.Overrides
	lock.Results = p.Exp.ResultsDir
	if r, err := filepath.Rel(filepath.Dir(p.Exp.LockFile), p.Exp.ResultsDir); err == nil {
		lock.Results = filepath.ToSlash(r)
	}
	for _, f := range []string{p.Exp.LockFile, RecordPath(p.Exp)} {
		if _, err := CleanStaleTemps(f, false); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("stale temporary files: %w", err))
		}
	}
	if err := lock.Write(p.Exp.LockFile); err != nil {
		errs = multierror.Append(errs, fmt.Errorf("lock file: %w", err))
	}
	return errs.ErrorOrNil()
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
	ds := make([]Decision, len(p.Nodes))
	for i, n := range p.Nodes {
		d := p.Decide(n, store, explain, false, verify)
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
