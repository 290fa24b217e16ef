package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"selectivity/cache"
)

// Plan is an experiment with every stage's key computed. Keys depend only on
// the experiment file and the content of the files it names, never on
// outputs, so the whole plan is known before anything runs.
type Plan struct {
	Exp   *Experiment
	Nodes []*Node // in a topological order
	index map[string]*Node
}

// Node is one stage of a plan.
type Node struct {
	Stage  *Stage
	Key    string
	Params Canonical
	Inputs []keyInput
}

// NewPlan computes the keys of exp's stages, hashing the files its
// parameters name with d.
func NewPlan(exp *Experiment, d PathDigester) (*Plan, error) {
	order, err := exp.Graph().Sort()
	if err != nil {
		return nil, err
	}
	p := &Plan{Exp: exp, index: map[string]*Node{}}
	for _, name := range order {
		st := exp.Stage(name)
		c, err := canonicalParams(st.Params, exp.Dir, d)
		if err != nil {
			pos := st.Pos
			var pe *pathError
			if errors.As(err, &pe) && st.PathPos[pe.param].Line > 0 {
				pos = st.PathPos[pe.param]
			}
			return nil, fmt.Errorf("%s: stage %q: %w", pos, st.Name, err)
		}
		n := &Node{Stage: st, Params: c}
		for _, in := range st.Inputs {
			for _, up := range in.Stages {
				n.Inputs = append(n.Inputs, keyInput{Slot: in.Slot, Stage: up, Key: p.index[up].Key, Label: p.index[up].Stage.Label})
			}
		}
		n.Key = stageKey(st.Kind.Name(), st.Kind.Version(), c.JSON, n.Inputs)
		p.Nodes = append(p.Nodes, n)
		p.index[name] = n
	}
	return p, nil
}

// Node returns the node of the stage named name, or nil.
func (p *Plan) Node(name string) *Node { return p.index[name] }

// Keys lists every key of the plan.
func (p *Plan) Keys() []string {
	keys := make([]string, len(p.Nodes))
	for i, n := range p.Nodes {
		keys[i] = n.Key
	}
	return keys
}

// Decision says whether a stage's result is cached and, if not, why it runs.
type Decision struct {
	Stage  string `json:"stage"`
	Key    string `json:"key"`
	Cached bool   `json:"cached"`
	Reason string `json:"reason"`
	// Stale, for a cached stage, says why the results folder or the lock
	// file shows another run of it ("" when both show this one); `run`
	// relinks it without computing anything.
	Stale string `json:"stale,omitempty"`
	// NotNeeded marks a temp stage that is not cached and need not be:
	// every stage reading it is cached (run says "not needed").
	NotNeeded bool `json:"not_needed,omitempty"`
	// Job is the Slurm job computing a stage that is not cached, where
	// status found one (Plan.Jobs).
	Job *ClusterJob `json:"slurm_job,omitempty"`
	// Entry is the valid cache entry of a cached stage.
	Entry *cache.Entry `json:"-"`
}

// Decide tells for node n whether store holds its result. lock is the
// experiment's last recorded run, used to name what changed; forced stages
// always run; verify re-hashes every cached file instead of the cheap check.
func (p *Plan) Decide(n *Node, store *cache.Store, lock *LockFile, forced, verify bool) Decision {
	d := Decision{Stage: n.Stage.Name, Key: n.Key}
	lookup := store.Lookup
	if verify {
		lookup = store.Verify
	}
	e, err := lookup(n.Key)
	var damaged *cache.DamagedError
	switch {
	case forced:
		d.Reason = "forced"
	case err == nil:
		d.Cached, d.Reason, d.Entry = true, "cached", e
	case errors.As(err, &damaged):
		d.Reason = "cache entry damaged: " + strings.Join(damaged.Problems, "; ")
	case !errors.Is(err, cache.ErrNotFound):
		d.Reason = "cache entry unreadable: " + err.Error()
	default:
		d.Reason = p.why(n, lock.Stages[n.Stage.Name])
	}
	return d
}

// why names what changed since the stage's last recorded run.
func (p *Plan) why(n *Node, last *LockStage) string {
	if last == nil {
		return "never run"
	}
	if last.Key == n.Key {
		return "cache entry missing"
	}
	var reasons []string
	if v := n.Stage.Kind.Version(); last.Kind != n.Stage.Kind.Name() {
		reasons = append(reasons, fmt.Sprintf("kind changed: %s → %s", last.Kind, n.Stage.Kind.Name()))
	} else if last.Version != v {
		reasons = append(reasons, fmt.Sprintf("code version changed: %s → %s", last.Version, v))
	}
	reasons = append(reasons, paramChanges(n, last)...)
	reasons = append(reasons, inputChanges(n, last)...)
	if len(reasons) == 0 {
		return "key changed"
	}
	return strings.Join(reasons, "; ")
}

func paramChanges(n *Node, last *LockStage) []string {
	files := map[string]FileParam{}
	for _, f := range last.Files {
		files[f.Param] = f
	}
	var fileNotes []string
	for _, f := range n.Params.Files {
		old, ok := files[f.Param]
		switch {
		case ok && old.Path == f.Path && old.Digest != f.Digest:
			fileNotes = append(fileNotes, fmt.Sprintf("file changed: %s.%s (%s)", n.Stage.Base, f.Param, f.Path))
		case ok && old.Path != f.Path:
			fileNotes = append(fileNotes, fmt.Sprintf("params changed: %s.%s %s → %s", n.Stage.Base, f.Param, old.Path, f.Path))
		}
	}
	digests := map[string]bool{}
	for _, f := range n.Params.Files {
		digests[f.Param] = true
	}
	for _, f := range last.Files {
		digests[f.Param] = true
	}
	var cur any
	_ = json.Unmarshal(n.Params.JSON, &cur)
	// Normalise the lock file's YAML values to JSON's types before comparing.
	var old any
	if b, err := json.Marshal(last.Params); err == nil {
		_ = json.Unmarshal(b, &old)
	}
	a, b := map[string]string{}, map[string]string{}
	flatten("", old, a)
	flatten("", cur, b)
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	var changed []string
	for k := range keys {
		if digests[k] || a[k] == b[k] {
			continue
		}
		from, to := a[k], b[k]
		if _, ok := a[k]; !ok {
			from = "(unset)"
		}
		if _, ok := b[k]; !ok {
			to = "(unset)"
		}
		changed = append(changed, fmt.Sprintf("%s.%s %s → %s", n.Stage.Base, k, from, to))
	}
	sort.Strings(changed)
	var out []string
	if len(changed) > 0 {
		out = append(out, "params changed: "+strings.Join(changed, ", "))
	}
	return append(out, fileNotes...)
}

func inputChanges(n *Node, last *LockStage) []string {
	old := map[string][]string{}
	for _, in := range last.Inputs {
		old[in.Slot] = append(old[in.Slot], in.Stage+"="+in.Key)
	}
	cur := map[string][]string{}
	var slots []string
	for _, in := range n.Inputs {
		if _, ok := cur[in.Slot]; !ok {
			slots = append(slots, in.Slot)
		}
		cur[in.Slot] = append(cur[in.Slot], in.Stage+"="+in.Key)
	}
	for s := range old {
		if _, ok := cur[s]; !ok {
			slots = append(slots, s)
		}
	}
	keys := func(refs []string) string { // "stage=key,…" → "key,…"
		ks := make([]string, len(refs))
		for i, r := range refs {
			_, ks[i], _ = strings.Cut(r, "=")
		}
		return strings.Join(ks, ",")
	}
	names := func(refs []string) string {
		ns := make([]string, len(refs))
		for i, r := range refs {
			ns[i], _, _ = strings.Cut(r, "=")
		}
		return strings.Join(ns, ", ")
	}
	var out []string
	for _, s := range slots {
		switch {
		case keys(old[s]) != keys(cur[s]):
			out = append(out, "input "+s+" changed")
		case names(old[s]) != names(cur[s]): // stages' names label their outputs
			out = append(out, fmt.Sprintf("input %s renamed: %s → %s", s, names(old[s]), names(cur[s])))
		}
	}
	return out
}
