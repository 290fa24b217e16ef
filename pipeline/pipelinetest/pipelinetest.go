// Package pipelinetest runs experiments in tests: it writes experiment
// files, loads, plans and runs them through the real pipeline and cache,
// and says what each stage did. It also has a Progress for calling a kind's
// Run directly. Only tests import it.
package pipelinetest

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"selectivity/cache"
	"selectivity/pipeline"
	"selectivity/pipeline/digest"
	"selectivity/pipeline/progress"
	"selectivity/stages"
)

// Write creates name under dir (with the folders on the way) holding
// content, and returns its path. A failure fails t.
func Write(t testing.TB, dir, name, content string) string {
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

// Experiment writes text as exp.yaml in a new temporary folder and returns
// its path. The experiment's cache and results go to that folder.
func Experiment(t testing.TB, text string) string {
	t.Helper()
	return Write(t, t.TempDir(), "exp.yaml", text)
}

// Options adjusts Run.
type Options struct {
	// Set overrides parameters, as run's --set does.
	Set []string
	// Jobs is how many stages may run at once; 0 means 2.
	Jobs int
}

// Result is what a run did.
type Result struct {
	Plan  *pipeline.Plan
	Store *cache.Store
	// States maps each stage to its state: "ran", "cached", "failed"...
	States map[string]string
	// Dirs maps each stage that ran or was cached to its cache entry
	// folder, where its outputs are.
	Dirs map[string]string
}

// Run loads the experiment file, plans it and runs it, its progress
// discarded. The error is the load's (the experiment file's problems,
// with a nil Result) or the run's (with what the run did). Failing to plan
// fails t.
func Run(t testing.TB, file string, opts Options) (*Result, error) {
	t.Helper()
	exp, err := pipeline.Load(file, pipeline.LoadOptions{Set: opts.Set})
	if err != nil {
		return nil, err
	}
	h, err := digest.New(filepath.Join(exp.CacheDir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pipeline.NewPlan(exp, h)
	if err != nil {
		t.Fatal(err)
	}
	res := &Result{Plan: plan, Store: cache.Open(exp.CacheDir), States: map[string]string{}, Dirs: map[string]string{}}
	jobs := opts.Jobs
	if jobs == 0 {
		jobs = 2
	}
	rep := progress.New(io.Discard, false, time.Hour)
	defer rep.Close()
	out, err := pipeline.Run(context.Background(), plan, res.Store, pipeline.RunOptions{Jobs: jobs, Progress: rep})
	for _, o := range out {
		res.States[o.Stage] = o.State
		if o.State == "ran" || o.State == "cached" {
			res.Dirs[o.Stage] = res.Store.EntryDir(o.Key)
		}
	}
	return res, err
}

// MustRun is Run, failing t on any error.
func MustRun(t testing.TB, file string, opts Options) *Result {
	t.Helper()
	res, err := Run(t, file, opts)
	if err != nil {
		t.Fatalf("run %s: %v", file, err)
	}
	return res
}

// Progress is a stages.Progress for calling a kind's Run directly. Its
// bars show nothing; Add, if set, is called with every bar's advances.
type Progress struct {
	Add func(n int64)
}

// Bar returns a bar that shows nothing.
func (p Progress) Bar(label, unit string, total int64) stages.Bar { return bar{p.Add} }

type bar struct{ add func(int64) }

func (b bar) Add(n int64) {
	if b.add != nil {
		b.add(n)
	}
}

func (bar) Done() {}

// Input is the folder dir as a stage's outputs, for calling a kind's Run
// directly: Files lists its entries by name, in order (what subfolders
// hold is not listed).
func Input(t testing.TB, stage, dir string) stages.Input {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	in := stages.Input{Stage: stage, Dir: dir}
	for _, e := range ents {
		in.Files = append(in.Files, e.Name())
	}
	return in
}
