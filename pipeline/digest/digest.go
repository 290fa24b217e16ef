// Package digest computes content digests of the user's input files and
// folders (checkpoints, stimulus sets), which enter stage keys by content,
// never by path or mtime.
//
// Hashing a multi-GB checkpoint on every run is too slow, so, as DVC does,
// a Hasher keeps a memo, persisted in a small state file, from a file's
// (absolute path, size, mtime, device, inode) to its digest, and trusts it
// while all of these are unchanged. The accepted trade-off: a same-size
// rewrite in place that also restores the mtime goes unnoticed. To keep
// ordinary writes from slipping through on filesystems with coarse
// timestamps, a file is memoized only once its mtime is a few seconds in
// the past (git's "racily clean" problem).
package digest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Prefix starts every digest.
const Prefix = "sha256:"

// stateVersion is the state file's format version; files of another
// version are ignored.
const stateVersion = 1

// racyWindow is how far in the past a file's mtime must be for its digest
// to be memoized: a write within the same timestamp tick as the hashing
// would otherwise leave size and mtime unchanged.
const racyWindow = 2 * time.Second

// Hasher computes digests, remembering those of unchanged files. It is safe
// for concurrent use.
type Hasher struct {
	statePath string
	warning   error

	mu   sync.Mutex
	memo map[string]memoEntry // by absolute path
}

// memoEntry is what the memo knows about one file.
type memoEntry struct {
	Size    int64  `json:"size"`
	MtimeNs int64  `json:"mtime_ns"`
	Dev     uint64 `json:"dev"`
	Inode   uint64 `json:"inode"`
	Digest  string `json:"digest"`
}

// matches reports whether e describes the file as it is now.
func (e memoEntry) matches(now memoEntry) bool {
	return e.Size == now.Size && e.MtimeNs == now.MtimeNs && e.Dev == now.Dev && e.Inode == now.Inode
}

// stateFile is the state file's content.
type stateFile struct {
	Version int                  `json:"version"`
	Files   map[string]memoEntry `json:"files"`
}

// New returns a Hasher whose memo is loaded from the state file statePath.
// A missing state file gives an empty memo; so does a corrupt one, which is
// not an error (the memo is only a cache) but is reported by Warning. New
// fails only when the state file exists but cannot be read. An empty
// statePath gives a Hasher without a state file, whose Save does nothing.
func New(statePath string) (*Hasher, error) {
	h := &Hasher{memo: map[string]memoEntry{}}
	if statePath == "" {
		return h, nil
	}
	abs, err := filepath.Abs(statePath)
	if err != nil {
		return nil, fmt.Errorf("digest: state file %s: %w", statePath, err)
	}
	h.statePath = abs
	st, err := readState(abs)
	var corrupt *corruptError
	switch {
	case errors.As(err, &corrupt):
		h.warning = err
	case err != nil:
		return nil, err
	default:
		h.memo = st
	}
	return h, nil
}

// Warning returns why the state file was ignored, if it was.
func (h *Hasher) Warning() error { return h.warning }

type corruptError struct {
	path string
	err  error
}

func (e *corruptError) Error() string {
	return fmt.Sprintf("digest: ignoring corrupt state file %s: %v", e.path, e.err)
}

func (e *corruptError) Unwrap() error { return e.err }

// readState reads a state file. A missing file is an empty memo; content
// that does not parse gives a *corruptError.
func readState(p string) (map[string]memoEntry, error) {
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]memoEntry{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("digest: read state file: %w", err)
	}
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, &corruptError{p, err}
	}
	if st.Version != stateVersion {
		return nil, &corruptError{p, fmt.Errorf("version %d, want %d", st.Version, stateVersion)}
	}
	if st.Files == nil {
		st.Files = map[string]memoEntry{}
	}
	return st.Files, nil
}

// statEntry describes a file's identity from its FileInfo.
func statEntry(info fs.FileInfo) memoEntry {
	e := memoEntry{Size: info.Size(), MtimeNs: info.ModTime().UnixNano()}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		e.Dev, e.Inode = uint64(st.Dev), uint64(st.Ino)
	}
	return e
}

// File returns the digest ("sha256:<hex>") of the bytes of the file at
// path, following symlinks. It reads the file only if the memo has no entry
// for it with the same size, mtime, device and inode.
func (h *Hasher) File(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("digest: %s: %w", path, err)
	}
	if info, err := os.Stat(abs); err != nil {
		return "", fmt.Errorf("digest: %w", err)
	} else if !info.Mode().IsRegular() {
		return "", fmt.Errorf("digest: %s: not a regular file", path)
	}
	// Non-blocking, so that a file swapped for a FIFO since the check
	// cannot make the open wait for a writer.
	f, err := os.OpenFile(abs, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", fmt.Errorf("digest: %w", err)
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("digest: %w", err)
	}
	if !before.Mode().IsRegular() {
		return "", fmt.Errorf("digest: %s: not a regular file", path)
	}
	id := statEntry(before)
	h.mu.Lock()
	m, ok := h.memo[abs]
	h.mu.Unlock()
	if ok && m.matches(id) {
		return m.Digest, nil
	}

	start := time.Now()
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		return "", fmt.Errorf("digest: read %s: %w", path, err)
	}
	after, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("digest: %w", err)
	}
	if !statEntry(after).matches(id) {
		return "", fmt.Errorf("digest: %s changed while it was being hashed", path)
	}
	id.Digest = Prefix + hex.EncodeToString(sum.Sum(nil))
	if before.ModTime().Before(start.Add(-racyWindow)) {
		h.mu.Lock()
		h.memo[abs] = id
		h.mu.Unlock()
	}
	return id.Digest, nil
}

// Path returns the digest of the file or folder at path (see File and Dir).
func (h *Hasher) Path(path string) (string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("digest: %w", err)
	}
	if info.IsDir() {
		return h.Dir(path)
	}
	return h.File(path)
}

// dirFile is one file found in a folder.
type dirFile struct {
	rel  string // slash-separated, relative to the folder
	path string // as walked, for reading and the memo
}

// Dir returns the digest of a folder's content: every regular file under it
// contributes its slash-separated path relative to the folder and its
// content digest, in sorted order of those paths. The folder's own name and
// location, mtimes, permissions and empty subfolders do not count, nor do
// hidden files and folders (names starting with "."): .DS_Store and the
// like must not rerun an analysis, and no stage reads them.
// Symlinks, to files or folders, are followed wherever they point, since
// stimulus sets are often assembled from links; a link back to a folder
// being walked is an error, as are broken links and special files (fifos,
// sockets, devices).
func (h *Hasher) Dir(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("digest: %s: %w", path, err)
	}
	info, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("digest: %w", err)
	}
	if !info.IsDir() {
		return "", fmt.Errorf("digest: %s: not a folder", path)
	}
	w := &walker{ancestors: map[[2]uint64]bool{}, budget: maxEntries}
	if err := w.walk(abs, "", info); err != nil {
		if errors.Is(err, errBudget) {
			return "", fmt.Errorf("digest: %s: more than %d files and folders (counting each path through symlinks); is there a symlink maze?", path, maxEntries)
		}
		return "", err
	}
	files := w.files
	sort.Slice(files, func(i, j int) bool { return files[i].rel < files[j].rel })

	digests, err := h.files(files)
	if err != nil {
		return "", err
	}
	sum := sha256.New()
	io.WriteString(sum, "selectivity folder digest v2\n")
	var n [binary.MaxVarintLen64]byte
	for i, f := range files {
		sum.Write(n[:binary.PutUvarint(n[:], uint64(len(f.rel)))])
		io.WriteString(sum, f.rel)
		io.WriteString(sum, digests[i])
	}
	return Prefix + hex.EncodeToString(sum.Sum(nil)), nil
}

// maxEntries bounds the files and folders Dir visits, counting a file or
// folder once for every path to it: links that share their targets
// (25 levels of two links each to the next are 2²⁴ paths to one image)
// would otherwise keep it walking for hours without a cycle. Stimulus sets
// hold thousands to a few hundred thousand images. A variable for tests.
var maxEntries = 1_000_000

var errBudget = errors.New("walk budget exhausted")

// walker collects the regular files under a folder, following symlinks.
type walker struct {
	ancestors map[[2]uint64]bool // (device, inode) of the folders on the current path, for cycles
	budget    int                // entries left to visit
	files     []dirFile
}

// walk collects the regular files under dir (whose FileInfo is info).
func (w *walker) walk(dir, rel string, info fs.FileInfo) error {
	id := statEntry(info)
	key := [2]uint64{id.Dev, id.Inode}
	if w.ancestors[key] {
		return fmt.Errorf("digest: %s: symlink cycle (leads back to a folder that contains it)", dir)
	}
	w.ancestors[key] = true
	defer delete(w.ancestors, key)

	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("digest: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if w.budget--; w.budget < 0 {
			return errBudget
		}
		p := filepath.Join(dir, e.Name())
		r := e.Name()
		if rel != "" {
			r = rel + "/" + r
		}
		info, err := os.Stat(p) // follows symlinks
		if err != nil {
			if e.Type()&fs.ModeSymlink != 0 {
				return fmt.Errorf("digest: %s: broken symlink: %w", p, err)
			}
			return fmt.Errorf("digest: %w", err)
		}
		switch {
		case info.IsDir():
			if err := w.walk(p, r, info); err != nil {
				return err
			}
		case info.Mode().IsRegular():
			w.files = append(w.files, dirFile{rel: r, path: p})
		default:
			return fmt.Errorf("digest: %s: not a regular file or folder (%s)", p, info.Mode().Type())
		}
	}
	return nil
}

// files hashes files with a few goroutines, returning their digests in
// order, or the first error.
func (h *Hasher) files(files []dirFile) ([]string, error) {
	digests := make([]string, len(files))
	workers := min(4, runtime.GOMAXPROCS(0), len(files))
	next := make(chan int)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	var failed sync.Once
	stop := make(chan struct{})
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				d, err := h.File(files[i].path)
				if err != nil {
					errs[w] = err
					failed.Do(func() { close(stop) })
					return
				}
				digests[i] = d
			}
		}()
	}
feed:
	for i := range files {
		select {
		case next <- i:
		case <-stop:
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return digests, nil
}

// Save writes the memo to the state file atomically (a temporary file in
// the same folder, renamed over it), creating the folder if needed. It
// merges in what the file holds now, since another process may have saved
// meanwhile, and keeps only entries that still describe their file: those
// of files that are gone or have changed are dropped. Concurrent Saves, in
// this or other processes, serialize on a lock file next to the state file.
// Read-only commands must not call it.
func (h *Hasher) Save() error {
	if h.statePath == "" {
		return nil
	}
	dir := filepath.Dir(h.statePath)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return fmt.Errorf("digest: save state: %w", err)
	}
	unlock, err := lockFile(h.statePath + ".lock")
	if err != nil {
		return err
	}
	defer unlock()

	disk, err := readState(h.statePath)
	var corrupt *corruptError
	if errors.As(err, &corrupt) {
		disk = nil // overwritten below
	} else if err != nil {
		return err
	}
	h.mu.Lock()
	mine := make(map[string]memoEntry, len(h.memo))
	for k, v := range h.memo {
		mine[k] = v
	}
	h.mu.Unlock()

	merged := make(map[string]memoEntry, len(mine)+len(disk))
	for _, m := range []map[string]memoEntry{mine, disk} {
		for p := range m {
			if _, done := merged[p]; done {
				continue
			}
			info, err := os.Stat(p)
			if err != nil || !info.Mode().IsRegular() {
				continue
			}
			now := statEntry(info)
			if mine, ok := mine[p]; ok && mine.matches(now) {
				merged[p] = mine
			} else if d, ok := disk[p]; ok && d.matches(now) {
				merged[p] = d
			}
		}
	}
	if err := writeState(h.statePath, merged); err != nil {
		return err
	}

	// Adopt the merged memo, keeping entries added since the snapshot.
	h.mu.Lock()
	for p, e := range merged {
		if cur, ok := h.memo[p]; !ok || cur == mine[p] {
			h.memo[p] = e
		}
	}
	for p, e := range mine {
		if _, kept := merged[p]; !kept && h.memo[p] == e {
			delete(h.memo, p)
		}
	}
	h.mu.Unlock()
	return nil
}

// writeState writes the state file through a temporary file and rename.
func writeState(p string, files map[string]memoEntry) error {
	data, err := json.MarshalIndent(stateFile{Version: stateVersion, Files: files}, "", " ")
	if err != nil {
		return fmt.Errorf("digest: save state %s: %w", p, err)
	}
	dir := filepath.Dir(p)
	tmp, err := os.CreateTemp(dir, filepath.Base(p)+".tmp*")
	if err != nil {
		return fmt.Errorf("digest: save state: %w", err)
	}
	_, err = tmp.Write(append(data, '\n'))
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("digest: save state %s: %w", p, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// lockFile takes an exclusive flock on p, waiting for it.
func lockFile(p string) (unlock func(), err error) {
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, fmt.Errorf("digest: lock state: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("digest: lock %s: %w", p, err)
	}
	return func() { f.Close() }, nil
}
