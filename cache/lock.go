package cache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// lockPoll is how often Lock retries a lock held by someone else.
const lockPoll = 50 * time.Millisecond

// leaseTTL is how long a key's lease outlives its last renewal: the time a
// key stays locked after its writer's node died (see Lease).
const leaseTTL = 30 * time.Second

// held counts, per lock file path, the locks this process holds, with the
// lease of each, so Begin and Commit can refuse a transaction whose key is
// not locked (CleanTemp would otherwise take the folder for debris and
// delete it) or whose lease was taken over (its writer stalled past
// leaseTTL and another may be writing the key).
var held = struct {
	sync.Mutex
	n     map[string]int
	lease map[string]*Lease
}{n: map[string]int{}, lease: map[string]*Lease{}}

func (s *Store) holds(key string) bool {
	held.Lock()
	defer held.Unlock()
	path := s.lockPath(key)
	return held.n[path] > 0 && held.lease[path].owned()
}

// Lock takes the exclusive lock on key, waiting until it is free or ctx is
// done. The lock is a flock(2) on locks/<key>.lock; every call opens the file
// anew, so the lock excludes other processes and other goroutines of this
// process alike (flocks belong to open file descriptions). The kernel drops
// it when the process dies, so a killed writer never leaves a key locked.
// Under the flock the holder also takes the Lease locks/<key>.lease, which
// excludes writers on other machines where the shared filesystem (NFS)
// does not carry flocks between clients; a writer whose node died holds
// it for leaseTTL at most, one killed on this machine not at all.
// The lock is not reentrant: locking a key twice from one goroutine waits
// for ctx. Call unlock exactly when done; extra calls do nothing.
//
// Lock files are never deleted: deleting one while another process waits on
// it would let two processes hold "the" lock at once.
func (s *Store) Lock(ctx context.Context, key string) (unlock func(), err error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	for {
		unlock, ok, err := s.TryLock(key)
		if err != nil {
			return nil, err
		}
		if ok {
			return unlock, nil
		}
		t := time.NewTimer(lockPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("cache: waiting for lock on %s: %w", key, ctx.Err())
		case <-t.C:
		}
	}
}

// TryLock takes key's lock if it is free right now. ok is false, with a nil
// error, if someone else holds it.
func (s *Store) TryLock(key string) (unlock func(), ok bool, err error) {
	if err := checkKey(key); err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(s.locksDir(), 0o777); err != nil {
		return nil, false, fmt.Errorf("cache: lock %s: %w", key, err)
	}
	path := s.lockPath(key)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, false, fmt.Errorf("cache: lock %s: %w", key, err)
	}
	if locked, err := tryFlock(f, unix.LOCK_EX); err != nil || !locked {
		f.Close()
		return nil, false, err
	}
	lease, ok, err := TryLease(s.leasePath(key), leaseTTL)
	if err != nil || !ok {
		f.Close()
		return nil, false, err
	}
	held.Lock()
	held.n[path]++
	held.lease[path] = lease
	held.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			held.Lock()
			if held.n[path]--; held.n[path] <= 0 {
				delete(held.n, path)
				delete(held.lease, path)
			}
			held.Unlock()
			lease.Release()
			f.Close() // closing the last descriptor releases the flock
		})
	}, true, nil
}

// Use marks the whole cache as in use until release is called: a run holds
// it from start to end, so that gc, which needs Exclusive, never removes an
// entry a run is reading. Any number of runs may use a cache at once. It
// creates the cache folder. A cache this process may not write to (a
// read-only mount, a shared cache of another user) can still be used for
// reading: the lock is then taken through a read-only descriptor, or, if
// use.lock does not exist and cannot be made, not at all — no gc can
// remove entries from such a cache either.
func (s *Store) Use() (release func(), err error) {
	f, ok, err := s.tryUse()
	for !ok && err == nil { // only Exclusive holders block a shared lock; wait for gc
		time.Sleep(lockPoll)
		f, ok, err = s.tryUse()
	}
	if errors.Is(err, fs.ErrNotExist) { // read-only, without use.lock
		return func() {}, nil
	}
	if err != nil {
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { f.Close() }) }, nil
}

// tryUse tries the shared lock of Use, through a read-only descriptor if
// the cache may not be written to.
func (s *Store) tryUse() (*os.File, bool, error) {
	f, ok, err := s.flockRoot(unix.LOCK_SH)
	if !readOnly(err) {
		return f, ok, err
	}
	if f, err = os.Open(filepath.Join(s.root, "use.lock")); err != nil {
		return nil, false, fmt.Errorf("cache: %w", err)
	}
	if locked, err := tryFlock(f, unix.LOCK_SH); err != nil || !locked {
		f.Close()
		return nil, false, err
	}
	return f, true, nil
}

// Exclusive takes the cache for gc if no run uses it now; ok is false, with
// a nil error, when one does.
func (s *Store) Exclusive() (release func(), ok bool, err error) {
	f, ok, err := s.flockRoot(unix.LOCK_EX)
	if err != nil || !ok {
		return nil, false, err
	}
	var once sync.Once
	return func() { once.Do(func() { f.Close() }) }, true, nil
}

// flockRoot tries how (LOCK_SH or LOCK_EX) on the cache's use.lock without
// blocking.
func (s *Store) flockRoot(how int) (*os.File, bool, error) {
	if err := os.MkdirAll(s.root, 0o777); err != nil {
		return nil, false, fmt.Errorf("cache: %w", err)
	}
	path := filepath.Join(s.root, "use.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, false, fmt.Errorf("cache: %w", err)
	}
	if locked, err := tryFlock(f, how); err != nil || !locked {
		f.Close()
		return nil, false, err
	}
	return f, true, nil
}

// readOnly tells whether err says the cache may not be written to.
func readOnly(err error) bool {
	return errors.Is(err, fs.ErrPermission) || errors.Is(err, unix.EROFS)
}

// tryFlock tries how (LOCK_SH or LOCK_EX) on f without blocking, again
// when interrupted: false, with a nil error, if another holds a lock that
// conflicts.
func tryFlock(f *os.File, how int) (bool, error) {
	for {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, unix.EWOULDBLOCK):
			return false, nil
		case !errors.Is(err, unix.EINTR):
			return false, fmt.Errorf("cache: flock %s: %w", f.Name(), err)
		}
	}
}
