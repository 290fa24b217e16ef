package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"

	"selectivity/cache"
)

// LockFile records, for each stage of an experiment, the key and the files
// its last successful run produced (like dvc.lock). Users commit it; CI
// checks that a rerun regenerates the same digests; `status` reads it to
// explain why a stage would run.
type LockFile struct {
	Schema     int    `yaml:"schema"`
	Experiment string `yaml:"experiment"`
	// Run and Overrides name a run other than the file as written (see
	// Runs in runname.go): its name and its --set flags in canonical form.
	Run       string   `yaml:"run,omitempty"`
	Overrides []string `yaml:"overrides,omitempty"`
	// Results is the run's results folder, relative to the lock file's
	// folder when below it, so that compare can find a lock's tables.
	Results string                `yaml:"results,omitempty"`
	Stages  map[string]*LockStage `yaml:"stages"`
}

// LockStage is one stage's record.
type LockStage struct {
	Kind    string         `yaml:"kind"`
	Version string         `yaml:"version"`
	Key     string         `yaml:"key"`
	Params  map[string]any `yaml:"params"`
	Files   []FileParam    `yaml:"input_files,omitempty"`
	Inputs  []keyInput     `yaml:"inputs,omitempty"`
	Outputs []LockOutput   `yaml:"outputs"`
}

// LockOutput is one output file: what CI compares after regenerating.
type LockOutput struct {
	Name   string `yaml:"name"`
	Size   int64  `yaml:"size"`
	SHA256 string `yaml:"sha256"`
}

const lockSchema = 1

// ReadLockFile reads path; a missing file is an empty lock. A file that
// cannot be read or parsed (a merge conflict, say) gives an empty lock and
// an error saying why: the lock only explains decisions, it never makes
// them, so callers may warn and go on.
func ReadLockFile(path string) (*LockFile, error) {
	empty := func() *LockFile { return &LockFile{Schema: lockSchema, Stages: map[string]*LockStage{}} }
	lf := empty()
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return lf, nil
	}
	if err != nil {
		return lf, fmt.Errorf("lock file %w", err)
	}
	if err := yaml.Unmarshal(b, lf); err != nil {
		return empty(), fmt.Errorf("%s: not a lock file: %w", path, err)
	}
	if lf.Schema != lockSchema {
		return empty(), fmt.Errorf("%s: lock file schema %d, this program reads %d", path, lf.Schema, lockSchema)
	}
	if lf.Stages == nil {
		lf.Stages = map[string]*LockStage{}
	}
	return lf, nil
}

// Write replaces path atomically.
func (lf *LockFile) Write(path string) error {
	var buf bytes.Buffer
	buf.WriteString("# Written by `run`: each stage's cache key and output digests. Commit it;\n" +
		"# `status` explains changes against it.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(lf); err != nil {
		return err
	}
	return writeFileAtomic(path, buf.Bytes())
}

// lockStage builds the record of a node whose entry is e.
func lockStage(n *Node, e *cache.Entry) *LockStage {
	dec := json.NewDecoder(bytes.NewReader(n.Params.JSON))
	dec.UseNumber()
	var params map[string]any
	_ = dec.Decode(&params)
	numbersToGo(params)
	outs := make([]LockOutput, len(e.Manifest.Files))
	for i, f := range e.Manifest.Files {
		outs[i] = LockOutput{Name: f.Name, Size: f.Size, SHA256: f.SHA256}
	}
	return &LockStage{
		Kind:    n.Stage.Kind.Name(),
		Version: n.Stage.Kind.Version(),
		Key:     n.Key,
		Params:  params,
		Files:   n.Params.Files,
		Inputs:  n.Inputs,
		Outputs: outs,
	}
}

// numbersToGo replaces json.Numbers in v (maps and slices, in place) by
// int64 or float64, so the lock file shows 30000000, not 3e+07.
func numbersToGo(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = numbersToGo(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbersToGo(e)
		}
	}
	return v
}

// writeFileAtomic writes data to a temporary file beside path, syncs it and
// renames it over path, so readers see the old or the new file, never a mix.
// The temporary file, .<name>.tmp<digits>, is flocked while it exists, so
// CleanStaleTemps can tell one left by a killed writer from one being
// written.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := createLockedTemp(path)
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close() // after the rename: the flock lasts until then
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil { // CreateTemp makes it 0600
		return err
	}
	return os.Rename(f.Name(), path)
}

// createLockedTemp creates and flocks a temporary file beside path. A
// cleaner may take a new file for debris in the instant before it is
// flocked; the file is then unlinked or its flock taken, and another is made.
func createLockedTemp(path string) (*os.File, error) {
	for range 10 {
		f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
		if err != nil {
			return nil, err
		}
		var st unix.Stat_t
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil && unix.Fstat(int(f.Fd()), &st) == nil && st.Nlink > 0 {
			return f, nil
		}
		f.Close()
	}
	return nil, fmt.Errorf("%s: cannot make a temporary file beside it", path)
}

// CleanStaleTemps removes the temporary files that writeFileAtomic left
// beside path when its process was killed: names .<name>.tmp<digits> (the
// only ones it makes) whose flock is free. With dryRun it removes nothing.
// It returns the bytes freed (or that would be).
func CleanStaleTemps(path string, dryRun bool) (int64, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, nil
		}
		return 0, err
	}
	prefix := "." + base + ".tmp"
	var freed int64
	var errs []error
	for _, e := range ents {
		digits := strings.TrimPrefix(e.Name(), prefix)
		if !e.Type().IsRegular() || len(digits) == len(e.Name()) || digits == "" || strings.Trim(digits, "0123456789") != "" {
			continue
		}
		p := filepath.Join(dir, e.Name())
		f, err := os.Open(p)
		if err != nil {
			continue // renamed or removed meanwhile
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil { // its writer is gone
			if fi, err := f.Stat(); err == nil {
				if dryRun {
					freed += fi.Size()
				} else if err := os.Remove(p); err == nil {
					freed += fi.Size()
				} else if !errors.Is(err, fs.ErrNotExist) {
					errs = append(errs, err)
				}
			}
		}
		f.Close()
	}
	return freed, errors.Join(errs...)
}

// relPath shows p relative to dir when it lies below it, else as is.
func relPath(dir, p string) string {
	if r, err := filepath.Rel(dir, p); err == nil && filepath.IsLocal(r) {
		return filepath.ToSlash(r)
	}
	return p
}

// flatten turns a decoded JSON value into "a.b[2]" → printed value pairs.
func flatten(prefix string, v any, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flatten(p, e, out)
		}
	case []any:
		b, _ := json.Marshal(x)
		out[prefix] = string(b)
	default:
		b, _ := json.Marshal(x)
		out[prefix] = strings.Trim(string(b), `"`)
	}
}
