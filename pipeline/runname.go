package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Runs. The results folder and the lock file of an experiment show the
// file as written. A run with --set overrides, or one given a --name, is
// another run of the experiment, with its own results folder and lock:
//
//	<results>/@<run>/<stage>/…        (the file's results: folder, then @<run>)
//	<experiment>@<run>.lock           (beside the experiment file)
//
// Stage names never start with '@', so a run's folder cannot clash with a
// stage's folder of the file as written. A run's name is --name, or, for
// --set without --name, derived from the overrides: each as KEY=VALUE, KEY
// shortened (params.seed → seed, stages.metric.params.fsi_threshold →
// metric.fsi_threshold), sorted by key and joined by commas
// ("metric.fsi_threshold=0.5,seed=3"); where that is not a plain file name
// (spaces, slashes, brackets) or longer than maxRunNameLen, "set-" and the
// first 12 hex digits of the SHA-256 of the canonical overrides. The lock
// records the run's name and canonical overrides; a run whose derived name
// is held by a lock recording other overrides stops with an error instead
// of replacing it (a run named with --name replaces it).

const maxRunNameLen = 100

var runNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.+=,-]*$`)

// CanonicalOverrides turns --set flags into the form the lock records and
// run names derive from: "KEY=VALUE" with the key trimmed and its leading
// '+' dropped, one per key (the last given wins, as it does in loading),
// sorted by key. Flags without '=' are left out (Load reports them).
func CanonicalOverrides(sets []string) []string {
	byKey := map[string]string{}
	for _, s := range sets {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			continue
		}
		k = strings.TrimPrefix(strings.TrimSpace(k), "+")
		byKey[k] = v
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k + "=" + byKey[k]
	}
	return out
}

// runName derives a run's name from canonical overrides (see Runs above).
func runName(overrides []string) string {
	parts := make([]string, len(overrides))
	for i, o := range overrides {
		k, v, _ := strings.Cut(o, "=")
		switch segs := strings.Split(k, "."); {
		case segs[0] == "params":
			k = strings.Join(segs[1:], ".")
		case len(segs) >= 4 && segs[0] == "stages" && segs[2] == "params":
			k = segs[1] + "." + strings.Join(segs[3:], ".")
		}
		parts[i] = k + "=" + v
	}
	name := strings.Join(parts, ",")
	if len(name) <= maxRunNameLen && runNameRE.MatchString(name) {
		return name
	}
	h := sha256.Sum256([]byte(strings.Join(overrides, "\n")))
	return "set-" + hex.EncodeToString(h[:6])
}

// applyRun gives e its run: name, overrides, results folder and lock file.
func (l *loader) applyRun(e *Experiment) {
	e.Overrides = CanonicalOverrides(l.opt.Set)
	switch {
	case l.opt.Name != "":
		if !safeName(l.opt.Name) {
			l.report(&Error{Msg: "--name " + l.opt.Name + ": not a safe name: want letters, digits, '_', '.', '+' and '-', starting with a letter or digit, at most 64 characters"})
			return
		}
		e.setRun(l.opt.Name)
		e.RunNamed = true
	case len(e.Overrides) > 0:
		e.setRun(runName(e.Overrides))
	}
}

// setRun points e's results folder and lock file, those of the file as
// written, at those of run name.
func (e *Experiment) setRun(name string) {
	e.Run = name
	e.ResultsDir = filepath.Join(e.ResultsDir, "@"+name)
	e.LockFile = strings.TrimSuffix(e.LockFile, ".lock") + "@" + name + ".lock"
}

// FileLockFile is the lock file of the file as written, whatever e's run.
func (e *Experiment) FileLockFile() string {
	if e.Run == "" {
		return e.LockFile
	}
	return strings.TrimSuffix(e.LockFile, "@"+e.Run+".lock") + ".lock"
}

// RunNames lists the names of the runs other than the file as written
// whose lock files lie beside exp's file (exp being loaded without --set
// or --name), sorted.
func RunNames(exp *Experiment) ([]string, error) {
	base := strings.TrimSuffix(exp.LockFile, ".lock")
	ents, err := os.ReadDir(filepath.Dir(base))
	if err != nil {
		return nil, err
	}
	prefix := filepath.Base(base) + "@"
	var names []string
	for _, e := range ents {
		n := e.Name()
		if run, ok := strings.CutPrefix(n, prefix); ok && strings.HasSuffix(run, ".lock") && e.Type().IsRegular() {
			if run = strings.TrimSuffix(run, ".lock"); runNameRE.MatchString(run) {
				names = append(names, run)
			}
		}
	}
	return names, nil
}

// WithRun returns a copy of exp (loaded without --set or --name) whose
// results folder and lock file are those of run name.
func (e *Experiment) WithRun(name string) *Experiment {
	c := *e
	c.setRun(name)
	c.RunNamed = true
	return &c
}
