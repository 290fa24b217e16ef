// Package cache is the content-addressed store of stage outputs.
//
// Every stage run is identified by a key, the 64-character lowercase hex
// SHA-256 that the pipeline computes from the stage's kind, version,
// parameters and inputs. The store keeps one folder per key:
//
//	<root>/entries/<key[:2]>/<key>/   the stage's files (any subfolders) and manifest.json
//	<root>/tmp/<key>.<pid>.<random>/  transactions in progress, and folders being deleted
//	<root>/locks/<key>.lock           flock(2) files, one per key
//	<root>/locks/<key>.lease          the lease of the key's writer (see Lease), while it writes
//	<root>/slurm/                     the Slurm executor's (package pipeline/slurm); the store never touches it
//
// An entry becomes visible only through one rename(2) of a folder whose files,
// manifest and subfolders were fsynced first, so a crash or SIGKILL at any
// instant leaves either no entry or a complete one. Anything a crash leaves
// behind lies under tmp/ and is removed by CleanTemp.
//
// Writers serialise per key with Lock, which works both across processes and
// between goroutines of one process. Readers (Lookup, Verify, Keys, EntrySize)
// take no lock and write nothing, so read-only commands can inspect a cache
// they may not write to.
package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// ErrNotFound is returned (wrapped) when the store has no entry for a key.
var ErrNotFound = errors.New("cache entry not found")

// ManifestName is the name of the manifest file at the top of every entry.
// Stages cannot write a top-level file of that name.
const ManifestName = "manifest.json"

// Store is a cache rooted at one folder. It holds no open files and is safe
// for concurrent use.
type Store struct {
	root string
}

// Open returns the store rooted at root. It creates nothing: the folders are
// made lazily by Lock and Begin, so a read-only command can open a cache
// (even a missing one) without writing to it.
func Open(root string) *Store {
	if abs, err := filepath.Abs(root); err == nil {
		root = abs
	}
	return &Store{root: filepath.Clean(root)}
}

// Root returns the store's root folder, absolute.
func (s *Store) Root() string { return s.root }

// ValidKey reports whether key is a well-formed cache key: 64 lowercase hex
// digits. Only such keys are ever turned into paths, so no key can name a
// file outside the root.
func ValidKey(key string) bool {
	if len(key) != 64 {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func checkKey(key string) error {
	if !ValidKey(key) {
		return fmt.Errorf("cache: invalid key %q: want 64 lowercase hex digits", key)
	}
	return nil
}

func (s *Store) entriesDir() string { return filepath.Join(s.root, "entries") }
func (s *Store) tmpDir() string     { return filepath.Join(s.root, "tmp") }
func (s *Store) locksDir() string   { return filepath.Join(s.root, "locks") }

// EntryDir returns the folder where key's entry lives (whether or not it
// exists). key must be valid.
func (s *Store) EntryDir(key string) string {
	return filepath.Join(s.entriesDir(), key[:2], key)
}

// InEntry reports whether path (absolute, cleaned) lies inside an entry of
// some cache laid out as this package lays them out —
// …/entries/<key[:2]>/<key>/<file> — whichever cache root that is: the
// results folders link into entries, possibly of another cache.
func InEntry(path string) bool {
	for dir := filepath.Dir(path); dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
		key, shard := filepath.Base(dir), filepath.Dir(dir)
		if ValidKey(key) && filepath.Base(shard) == key[:2] && filepath.Base(filepath.Dir(shard)) == "entries" {
			return true
		}
	}
	return false
}

func (s *Store) lockPath(key string) string {
	return filepath.Join(s.locksDir(), key+".lock")
}

func (s *Store) leasePath(key string) string {
	return filepath.Join(s.locksDir(), key+".lease")
}

// newTempPath returns a fresh, unused-looking path tmp/<key>.<pid>.<random>.
// The key prefix lets CleanTemp find out, through the key's lock, whether
// the folder's owner is still alive.
func (s *Store) newTempPath(key string) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("cache: random temp name: %w", err)
	}
	return filepath.Join(s.tmpDir(), fmt.Sprintf("%s.%d.%s", key, os.Getpid(), hex.EncodeToString(b[:]))), nil
}

// Keys returns the keys of all entries, sorted. Names under entries/ that
// are not keys in their right shard are ignored. A missing cache has no keys.
func (s *Store) Keys() ([]string, error) {
	shards, err := os.ReadDir(s.entriesDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cache: list entries: %w", err)
	}
	var keys []string
	for _, sh := range shards {
		if !sh.IsDir() || len(sh.Name()) != 2 {
			continue
		}
		dir := filepath.Join(s.entriesDir(), sh.Name())
		names, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("cache: list entries in %s: %w", dir, err)
		}
		for _, n := range names {
			k := n.Name()
			if n.IsDir() && ValidKey(k) && k[:2] == sh.Name() {
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	return keys, nil
}

// EntrySize returns the total size in bytes of the regular files in key's
// entry, manifest included. It returns an error wrapping ErrNotFound if there
// is no entry.
func (s *Store) EntrySize(key string) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	dir := s.EntryDir(key)
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("cache: entry %s: %w", key, ErrNotFound)
	}
	n, err := treeSize(dir)
	if err != nil {
		return 0, fmt.Errorf("cache: size of entry %s: %w", key, err)
	}
	return n, nil
}

// treeSize sums the sizes of the regular files under dir.
func treeSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	return n, err
}

// Remove deletes key's entry and returns the bytes freed. It waits for the
// key's lock, so it never removes an entry a writer is replacing; see
// RemoveContext to bound the wait (and never call it while holding the
// key's lock: locks are not reentrant). The entry is first renamed into
// tmp/ (so it disappears atomically) and then deleted. It returns an error
// wrapping ErrNotFound if there is no entry. The lock file stays.
func (s *Store) Remove(key string) (freed int64, err error) {
	return s.RemoveContext(context.Background(), key)
}

// RemoveContext is Remove, giving up waiting for the lock when ctx is done.
func (s *Store) RemoveContext(ctx context.Context, key string) (freed int64, err error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	unlock, err := s.Lock(ctx, key)
	if err != nil {
		return 0, err
	}
	defer unlock()
	dir := s.EntryDir(key)
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("cache: remove entry %s: %w", key, ErrNotFound)
	}
	freed, err = treeSize(dir)
	if err != nil {
		return 0, fmt.Errorf("cache: remove entry %s: %w", key, err)
	}
	if err := s.moveAsideAndDelete(key, dir); err != nil {
		return 0, fmt.Errorf("cache: remove entry %s: %w", key, err)
	}
	return freed, nil
}

// moveAsideAndDelete renames dir to a fresh tmp/ folder named after key and
// deletes it there. If the deletion is interrupted, CleanTemp finishes it.
func (s *Store) moveAsideAndDelete(key, dir string) error {
	if err := os.MkdirAll(s.tmpDir(), 0o777); err != nil {
		return err
	}
	aside, err := s.newTempPath(key)
	if err != nil {
		return err
	}
	if err := os.Rename(dir, aside); err != nil {
		return err
	}
	_ = syncDir(filepath.Dir(dir))
	return os.RemoveAll(aside)
}

// CleanTemp removes the folders under tmp/ whose owner is gone and returns
// the bytes freed. A folder tmp/<key>.… is stale when key's lock can be taken
// without waiting: its owner holds that lock for the whole transaction (or
// removal), so a free lock means the owner finished, failed or died. Folders
// whose lock is held are left alone, as are names that do not start with a
// key (the store never makes those).
func (s *Store) CleanTemp() (freed int64, err error) { return s.cleanTemp(false) }

// TempDebris is how many bytes CleanTemp would free now.
func (s *Store) TempDebris() (int64, error) { return s.cleanTemp(true) }

func (s *Store) cleanTemp(dryRun bool) (freed int64, err error) {
	names, err := os.ReadDir(s.tmpDir())
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("cache: list %s: %w", s.tmpDir(), err)
	}
	var errs []error
	for _, n := range names {
		name := n.Name()
		if len(name) < 65 || name[64] != '.' || !ValidKey(name[:64]) {
			continue
		}
		key := name[:64]
		unlock, ok, err := s.TryLock(key)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ok {
			continue
		}
		p := filepath.Join(s.tmpDir(), name)
		size, _ := treeSize(p)
		if dryRun {
			freed += size
		} else if err := os.RemoveAll(p); err != nil {
			errs = append(errs, fmt.Errorf("cache: remove stale %s: %w", p, err))
		} else {
			freed += size
		}
		unlock()
	}
	return freed, errors.Join(errs...)
}

// syncDir fsyncs a folder, making the creation, removal or renaming of its
// children durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync folder %s: %w", dir, err)
	}
	return nil
}
