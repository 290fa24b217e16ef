package pipeline

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"selectivity/cache"
	"selectivity/pipeline/slurm"
)

// Garbage collection. An entry of a cache is kept when some experiment
// sharing the cache uses it: as its plan now computes it, or as the lock
// file of its last run — of the file as written, and of every run with
// --set or --name beside it — records it (the results folders show those
// runs). Every other entry is removed, and so is the debris of interrupted
// runs: the cache's temporary transactions, the temporary files a killed
// lock-file or results-record write left beside its target, and the
// Slurm executor's logs and program copies that no job record names (the
// jobs that ended). GC never runs while a run uses the cache.

// ErrCacheInUse is GC's error when a run holds the cache.
var ErrCacheInUse = errors.New("the cache is in use by a run; nothing removed: run gc when it has finished")

// GCReport says what GC removed, or would remove with DryRun.
type GCReport struct {
	// Entries lists the cache entries, with their sizes.
	Entries []GCEntry
	// Bytes counts everything: entries and debris.
	Bytes int64
	// Warnings are lock files that could not be read (their experiment
	// keeps only what its plan uses now).
	Warnings []string
}

// GCEntry is one removed (or removable) cache entry.
type GCEntry struct {
	Root, Key string
	Bytes     int64
}

// GC removes from the caches of plans every entry none of them keeps (see
// the section comment). Name every experiment that shares a cache: the
// entries of one left out are removed. With dryRun it removes nothing and
// reports what it would.
func GC(plans []*Plan, dryRun bool) (*GCReport, error) {
	r := &GCReport{}
	keep := map[string]map[string]bool{} // cache root → keys in use
	var roots, written []string          // written: files replaced atomically
	for _, p := range plans {
		exp := p.Exp
		root := cache.Open(exp.CacheDir).Root()
		if keep[root] == nil {
			keep[root] = map[string]bool{}
			roots = append(roots, root)
		}
		for _, k := range p.Keys() {
			keep[root][k] = true
		}
		runs, err := RunNames(exp)
		if err != nil {
			return nil, err
		}
		exps := []*Experiment{exp}
		for _, run := range runs {
			exps = append(exps, exp.WithRun(run))
		}
		for _, e := range exps {
			written = append(written, e.LockFile, RecordPath(e))
			lock, err := ReadLockFile(e.LockFile)
			if err != nil {
				r.Warnings = append(r.Warnings, fmt.Sprintf("%v; keeping only what %s uses now", err, exp.File))
			}
			for _, st := range lock.Stages {
				keep[root][st.Key] = true
			}
		}
	}
	slices.Sort(roots)
	for _, root := range roots {
		store := cache.Open(root)
		if !dryRun {
			release, ok, err := store.Exclusive()
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, fmt.Errorf("%s: %w", root, ErrCacheInUse)
			}
			defer release()
		}
		keys, err := store.Keys()
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			if keep[root][k] {
				continue
			}
			drop := store.Remove // the bytes freed
			if dryRun {
				drop = store.EntrySize // the bytes it would free
			}
			n, err := drop(k)
			if err != nil {
				return nil, err
			}
			r.Entries = append(r.Entries, GCEntry{Root: root, Key: k, Bytes: n})
			r.Bytes += n
		}
		clean := store.CleanTemp
		if dryRun {
			clean = store.TempDebris
		}
		n, err := clean()
		if err != nil {
			return nil, err
		}
		r.Bytes += n
		if n, err = slurm.Dir(filepath.Join(root, "slurm")).Clean(dryRun); err != nil {
			return nil, err
		}
		r.Bytes += n
	}
	for _, f := range written {
		n, err := CleanStaleTemps(f, dryRun)
		if err != nil {
			return nil, err
		}
		r.Bytes += n
	}
	return r, nil
}
