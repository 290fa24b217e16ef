package pipeline

import (
	"context"
	"fmt"

	"selectivity/cache"
)

// Work computes one stage of p into store, as a Slurm job does for the
// driver (cluster.go): key is the key the driver planned, so a file
// edited since the submission fails the job instead of computing
// something else; forced recomputes a cached key. An input missing from the cache (its job failed) skips
// the stage: Work returns why, and a nil error. The outcome's State is
// "ran", or "cached" when another job or process computed the key first.
func Work(ctx context.Context, p *Plan, store *cache.Store, stage, key string, forced bool, opts RunOptions) (o *Outcome, skipped string, err error) {
	n := p.Node(stage)
	if n == nil {
		return nil, "", fmt.Errorf("%s has no stage %s: the file changed since the job was submitted; run the driver again", p.Exp.File, stage)
	}
	if n.Key != key {
		return nil, "", fmt.Errorf("stage %s has key %s now, not %s as when the job was submitted: %s or a file it names changed since; run the driver again", stage, n.Key[:12], key[:min(12, len(key))], p.Exp.File)
	}
	inputs := map[string]*cache.Entry{}
	for _, in := range n.Inputs {
		e, err := store.Lookup(in.Key)
		if err != nil {
			return nil, "needs " + in.Stage + ", which did not finish (" + err.Error() + ")", nil
		}
		inputs[in.Stage] = e
	}
	release, err := store.Use()
	if err != nil {
		return nil, "", err
	}
	defer release()
	o = &Outcome{Decision: Decision{Stage: stage, Key: key}, State: "ran"}
	var ran bool
	o.Entry, ran, err = p.compute(ctx, n, store, forced, opts, func(name string) *cache.Entry { return inputs[name] })
	if err != nil {
		return nil, "", err
	}
	if !ran {
		o.State, o.Cached = "cached", true
	}
	return o, "", nil
}
