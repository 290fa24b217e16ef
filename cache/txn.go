package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// commitHook, when set (by tests only), is called at each step of Commit,
// so a test can kill the process at a chosen instant.
var commitHook func(step string)

func hook(step string) {
	if commitHook != nil {
		commitHook(step)
	}
}

// Txn is the making of one entry: the stage writes its outputs into Dir,
// then Commit publishes them atomically or Abort throws them away. A Txn is
// used by one goroutine.
type Txn struct {
	s    *Store
	key  string
	base string // tmp/<key>.<pid>.<random>
	out  string // base/out, renamed into entries/ by Commit
	done bool
}

// Begin starts a transaction for key, making the empty folder
// tmp/<key>.<pid>.<random>/out for the outputs. The caller must hold key's
// lock (from Lock or TryLock in this process) until Commit or Abort
// returns: CleanTemp treats folders of unlocked keys as debris.
func (s *Store) Begin(key string) (*Txn, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if !s.holds(key) {
		return nil, fmt.Errorf("cache: begin %s: the key is not locked by this process", key)
	}
	if err := os.MkdirAll(s.tmpDir(), 0o777); err != nil {
		return nil, fmt.Errorf("cache: begin %s: %w", key, err)
	}
	base, err := s.newTempPath(key)
	if err != nil {
		return nil, err
	}
	t := &Txn{s: s, key: key, base: base, out: filepath.Join(base, "out")}
	if err := os.Mkdir(base, 0o777); err != nil {
		return nil, t.wrap("begin", err)
	}
	if err := os.Mkdir(t.out, 0o777); err != nil {
		os.RemoveAll(base)
		return nil, t.wrap("begin", err)
	}
	return t, nil
}

// wrap prefixes err with the operation and the key, and names the files
// of the transaction's folder (whose path holds the key again) relative to
// the entry, so that a message says the key once: "cache: commit 3fa4…:
// write manifest.json: no space left on device".
func (t *Txn) wrap(op string, err error) error {
	return &txnError{msg: "cache: " + op + " " + t.key + ": " + t.shorten(err.Error()), err: err}
}

// Relative returns err (of the stage writing into Dir) with the
// transaction's folders in its message named relative to the entry;
// errors.Is and errors.As see err as before.
func (t *Txn) Relative(err error) error {
	if err == nil || !strings.Contains(err.Error(), t.base) {
		return err
	}
	return &txnError{msg: t.shorten(err.Error()), err: err}
}

func (t *Txn) shorten(msg string) string {
	msg = strings.ReplaceAll(msg, t.out+string(filepath.Separator), "")
	msg = strings.ReplaceAll(msg, t.out, "the output folder")
	return strings.ReplaceAll(msg, t.base, "the transaction folder")
}

type txnError struct {
	msg string
	err error
}

func (e *txnError) Error() string { return e.msg }
func (e *txnError) Unwrap() error { return e.err }

// Dir returns the folder the stage writes its outputs into. Regular files
// and folders only; a top-level manifest.json is reserved.
func (t *Txn) Dir() string { return t.out }

// Key returns the transaction's key.
func (t *Txn) Key() string { return t.key }

// Commit publishes the outputs as key's entry. It walks Dir, rejecting
// symlinks and anything but regular files and folders; hashes and fsyncs
// every file, recording name, size, SHA-256 and mtime into m.Files (sorted by
// name); writes and fsyncs manifest.json last; fsyncs every folder; and then
// renames Dir to entries/<key[:2]>/<key>. An entry already there (damaged,
// or being redone) is first renamed aside into tmp/ and deleted.
//
// m.Key must be empty (it is set to the key) or equal the key; a zero
// m.Created is set to now. Until the final rename nothing is visible, and
// after it everything is on disk, so a crash leaves no entry or a complete
// one. If Commit fails the transaction stays open: fix the cause and retry,
// or Abort.
func (t *Txn) Commit(m Manifest) (*Entry, error) {
	if t.done {
		return nil, fmt.Errorf("cache: commit %s: transaction already finished", t.key)
	}
	if m.Key == "" {
		m.Key = t.key
	}
	if m.Key != t.key {
		return nil, fmt.Errorf("cache: commit %s: manifest names key %q", t.key, m.Key)
	}
	if !t.s.holds(t.key) {
		return nil, fmt.Errorf("cache: commit %s: the key is not locked by this process, or its lease was taken over", t.key)
	}
	files, dirs, err := t.scan()
	if err != nil {
		return nil, t.wrap("commit", err)
	}
	hook("scanned")
	m.Files = files
	if m.Inputs == nil {
		m.Inputs = []InputRef{}
	}
	if m.Created.IsZero() {
		m.Created = time.Now().UTC()
	}
	// Compact, not indented: Marshal keeps compact (canonical) Params byte
	// for byte, where indenting would reformat them.
	data, err := json.Marshal(&m)
	if err != nil {
		return nil, fmt.Errorf("cache: commit %s: encode manifest: %w", t.key, err)
	}
	manifest := filepath.Join(t.out, ManifestName)
	if err := writeSynced(manifest, append(data, '\n')); err != nil {
		os.Remove(manifest)
		return nil, t.wrap("commit", err)
	}
	hook("manifest-written")
	e, err := t.publish(dirs)
	if err != nil {
		os.Remove(manifest)
		return nil, t.wrap("commit", err)
	}
	e.Manifest = m
	t.done = true
	os.RemoveAll(t.base) // holds at most an old entry; CleanTemp retries
	return e, nil
}

// scan walks the output folder, hashing and fsyncing each file. It returns
// the files sorted by name and every folder (the output folder included).
func (t *Txn) scan() ([]FileInfo, []string, error) {
	var files []FileInfo
	var dirs []string
	err := filepath.WalkDir(t.out, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
			return nil
		}
		rel, err := filepath.Rel(t.out, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		switch {
		case !filepath.IsLocal(rel) || !validName(name):
			return fmt.Errorf("output %q: invalid or reserved name", name)
		case d.Type()&fs.ModeSymlink != 0:
			return fmt.Errorf("output %s: symlinks are not allowed", name)
		case !d.Type().IsRegular():
			return fmt.Errorf("output %s: not a regular file or folder (%s)", name, d.Type())
		}
		fi, err := hashAndSync(p)
		if err != nil {
			return err
		}
		fi.Name = name
		files = append(files, fi)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return files, dirs, nil
}

// hashAndSync hashes and fsyncs one output file, failing if the file
// changes meanwhile (a stage left a writer running).
func hashAndSync(p string) (FileInfo, error) {
	f, err := os.Open(p)
	if err != nil {
		return FileInfo{}, err
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil {
		return FileInfo{}, err
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return FileInfo{}, fmt.Errorf("read %s: %w", p, err)
	}
	if err := f.Sync(); err != nil {
		return FileInfo{}, fmt.Errorf("fsync %s: %w", p, err)
	}
	after, err := f.Stat()
	if err != nil {
		return FileInfo{}, err
	}
	if n != before.Size() || after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) {
		return FileInfo{}, fmt.Errorf("output %s changed while it was being committed", p)
	}
	return FileInfo{Size: n, SHA256: hex.EncodeToString(h.Sum(nil)), ModTime: after.ModTime().UnixNano()}, nil
}

// writeSynced creates p (which must not exist) holding data, fsynced.
func writeSynced(p string, data []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
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
	var pe *fs.PathError
	if err != nil && !errors.As(err, &pe) { // a PathError names p already
		return fmt.Errorf("write %s: %w", p, err)
	}
	return err
}

// publish fsyncs the output folders and renames the output folder into
// place, first moving any existing entry aside.
func (t *Txn) publish(dirs []string) (*Entry, error) {
	// Deepest first, so each folder is synced after its children's entries.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := syncDir(dirs[i]); err != nil {
			return nil, err
		}
	}
	hook("synced")
	final := t.s.EntryDir(t.key)
	shard := filepath.Dir(final)
	if _, err := os.Stat(shard); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(shard, 0o777); err != nil {
			return nil, err
		}
		// Make the new shard (and entries/) durable before anything is
		// renamed into it.
		for _, d := range []string{t.s.entriesDir(), t.s.root} {
			if err := syncDir(d); err != nil {
				return nil, err
			}
		}
	}
	if _, err := os.Lstat(final); err == nil {
		aside := filepath.Join(t.base, fmt.Sprintf("old.%d", time.Now().UnixNano()))
		if err := os.Rename(final, aside); err != nil {
			return nil, fmt.Errorf("move old entry aside: %w", err)
		}
		hook("moved-aside")
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := os.Rename(t.out, final); err != nil {
		return nil, fmt.Errorf("rename into %s: %w", final, err)
	}
	hook("renamed")
	if err := syncDir(shard); err != nil {
		return nil, err
	}
	return &Entry{Key: t.key, Dir: final}, nil
}

// Abort throws the transaction's files away. After Commit succeeded it does
// nothing, so `defer txn.Abort()` is the usual pattern.
func (t *Txn) Abort() error {
	if t.done {
		return nil
	}
	t.done = true
	if err := os.RemoveAll(t.base); err != nil {
		return fmt.Errorf("cache: abort %s: %w", t.key, err)
	}
	return nil
}
