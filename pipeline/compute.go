package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"time"

	"selectivity/cache"
	"selectivity/stages"
)

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
