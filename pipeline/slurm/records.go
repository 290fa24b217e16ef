package slurm

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Dir is the folder <cache>/slurm of the cache whose stages run on the
// cluster (see the package comment).
type Dir string

// Record is the job computing one key, while it may be queued or running.
type Record struct {
	Key        string    `json:"key"`
	Stage      string    `json:"stage"`
	Job        string    `json:"job"` // "123", or "123_4" for an array task
	Experiment string    `json:"experiment"`
	Submitted  time.Time `json:"submitted"`
	// Program is the copy of the program the job runs (Install).
	Program string `json:"program"`
}

func (d Dir) recordPath(key string) string { return filepath.Join(string(d), "jobs", key+".json") }

// Logs is the folder of the jobs' logs.
func (d Dir) Logs() string { return filepath.Join(string(d), "logs") }

// Log is the log file of a job or array task.
func (d Dir) Log(job string) string { return filepath.Join(d.Logs(), job+".log") }

// Prepare makes the folders jobs write to.
func (d Dir) Prepare() error {
	for _, sub := range []string{"jobs", "logs", "bin"} {
		if err := os.MkdirAll(filepath.Join(string(d), sub), 0o777); err != nil {
			return err
		}
	}
	return nil
}

// Write records r, replacing the record of r.Key atomically.
func (d Dir) Write(r Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return replace(d.recordPath(r.Key), b, 0o666)
}

// Read returns the record of key, or nil if there is none (an unreadable
// one is as none: its job, if any, is found again by the key's lock).
func (d Dir) Read(key string) *Record {
	b, err := os.ReadFile(d.recordPath(key))
	if err != nil {
		return nil
	}
	var r Record
	if json.Unmarshal(b, &r) != nil || r.Key != key || r.Job == "" {
		return nil
	}
	return &r
}

// Remove removes the record of key if it still names job.
func (d Dir) Remove(key, job string) error {
	if r := d.Read(key); r == nil || r.Job != job {
		return nil
	}
	if err := os.Remove(d.recordPath(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Install copies the program at path to bin/ under its content's name,
// unless it is there already, and returns the copy's path.
func (d Dir) Install(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	dst := filepath.Join(string(d), "bin", "selectivity-"+hex.EncodeToString(h.Sum(nil))[:16])
	if fi, err := os.Stat(dst); err == nil && fi.Mode().IsRegular() {
		return dst, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return "", err
	}
	return dst, replace(dst, b, 0o755)
}

// replace writes data to a temporary file beside p, syncs it and renames
// it over p, so that readers on any node see the old or the new file.
func replace(p string, data []byte, perm os.FileMode) error {
	var r [6]byte
	if _, err := rand.Read(r[:]); err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.tmp-%d-%s", p, os.Getpid(), hex.EncodeToString(r[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// Clean removes what no job record names — the logs of ended jobs, the
// program copies no queued or running job will exec — and the temporary
// files a killed write left; with dryRun it only counts their bytes. Run
// it only while no driver submits (gc holds the cache exclusively).
func (d Dir) Clean(dryRun bool) (freed int64, err error) {
	keep := map[string]bool{}
	recs, _ := filepath.Glob(filepath.Join(string(d), "jobs", "*.json"))
	for _, p := range recs {
		r := d.Read(strings.TrimSuffix(filepath.Base(p), ".json"))
		if r == nil {
			continue
		}
		keep[d.Log(r.Job)] = true
		keep[r.Program] = true
	}
	var errs []error
	for _, pattern := range []string{"logs/*.log", "bin/selectivity-*", "*/*.tmp-*"} {
		paths, _ := filepath.Glob(filepath.Join(string(d), pattern))
		for _, p := range paths {
			if keep[p] {
				continue
			}
			keep[p] = true // a temporary file matches two patterns
			fi, err := os.Lstat(p)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			if !dryRun {
				if err := os.Remove(p); err != nil {
					errs = append(errs, err)
					continue
				}
			}
			freed += fi.Size()
		}
	}
	return freed, errors.Join(errs...)
}

// Tail returns the last n lines of the file at p, or why it cannot.
func Tail(p string, n int) string {
	f, err := os.Open(p)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer f.Close()
	const most = 64 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > most {
		f.Seek(fi.Size()-most, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// SkipReason returns what the log at p says after Skipped, if it says it.
func SkipReason(p string) (string, bool) {
	for _, line := range strings.Split(Tail(p, 50), "\n") {
		if r, ok := strings.CutPrefix(line, Skipped); ok {
			return r, true
		}
	}
	return "", false
}
