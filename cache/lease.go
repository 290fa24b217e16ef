package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A Lease is a lock that holds on network filesystems where flock(2) may
// not (NFS): a lease file made with exclusive create (O_CREAT|O_EXCL, atomic
// on NFSv3 and later) holding its owner's random token. The owner renews
// it, every ttl/4, by setting the file's modification time to now (the
// heartbeat); a lease whose file was not touched for ttl is stale — its
// owner died with its node — and may be taken over. A takeover renames the
// stale file aside (rename is atomic on NFS) and checks that the file it
// moved still holds the stale token it read; if it moved a lease that was
// renewed or replaced in between, it links it back (link, like exclusive
// create, fails if the name exists) and the lease is not taken. A lease
// whose token names this host and a process that no longer runs is stale
// at once, so a killed local writer does not hold a key for ttl. The
// heartbeat reads the token before each renewal: an owner whose lease was
// taken from it (its process stalled for longer than ttl) learns so from
// Lost. Staleness compares file times with this machine's clock; the
// machines sharing a cache must keep their clocks within a small part of
// ttl (NTP does).
type Lease struct {
	path, token string
	stop        chan struct{}
	lost        chan struct{}
	done        sync.WaitGroup
	once        sync.Once
}

// AcquireLease takes the lease at path, waiting until it is free (or stale)
// or ctx is done. ttl must be positive.
func AcquireLease(ctx context.Context, path string, ttl time.Duration) (*Lease, error) {
	for {
		l, ok, err := TryLease(path, ttl)
		if err != nil || ok {
			return l, err
		}
		t := time.NewTimer(lockPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("cache: waiting for lease %s: %w", path, ctx.Err())
		case <-t.C:
		}
	}
}

// TryLease takes the lease at path if it is free or stale right now; ok is
// false, with a nil error, if another owner holds it.
func TryLease(path string, ttl time.Duration) (l *Lease, ok bool, err error) {
	if ttl <= 0 {
		return nil, false, fmt.Errorf("cache: lease %s: ttl %v is not positive", path, ttl)
	}
	token, err := newToken()
	if err != nil {
		return nil, false, err
	}
	for attempt := 0; attempt < 2; attempt++ {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if err == nil {
			_, werr := f.WriteString(token)
			if cerr := f.Close(); werr == nil {
				werr = cerr
			}
			if werr != nil {
				os.Remove(path)
				return nil, false, fmt.Errorf("cache: lease %s: %w", path, werr)
			}
			return startLease(path, token, ttl), true, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, false, fmt.Errorf("cache: lease %s: %w", path, err)
		}
		if broke, err := breakStale(path, token, ttl); err != nil || !broke {
			return nil, false, err
		}
	}
	return nil, false, nil // another contender took the broken lease first
}

// breakStale removes the lease file at path if it is stale, as described at
// Lease; broke tells whether the name is now free to create.
func breakStale(path, token string, ttl time.Duration) (broke bool, err error) {
	old, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("cache: lease %s: %w", path, err)
	}
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("cache: lease %s: %w", path, err)
	}
	if !stale(string(old), info, ttl) {
		return false, nil
	}
	aside := path + ".stale." + token
	if err := os.Rename(path, aside); errors.Is(err, fs.ErrNotExist) {
		return true, nil // another contender moved it first
	} else if err != nil {
		return false, fmt.Errorf("cache: lease %s: %w", path, err)
	}
	moved, err := os.ReadFile(aside)
	if err == nil && string(moved) == string(old) {
		if info, err = os.Stat(aside); err == nil && stale(string(moved), info, ttl) {
			os.Remove(aside)
			return true, nil
		}
	}
	// Not the stale lease we judged, or renewed meanwhile: give it back.
	os.Link(aside, path) // fails only if a new lease was created meanwhile
	os.Remove(aside)
	return false, nil
}

// startLease starts the heartbeat of a lease just taken.
func startLease(path, token string, ttl time.Duration) *Lease {
	l := &Lease{path: path, token: token, stop: make(chan struct{}), lost: make(chan struct{})}
	l.done.Add(1)
	go func() {
		defer l.done.Done()
		tick := time.NewTicker(ttl / 4)
		defer tick.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-tick.C:
				if !l.owned() {
					close(l.lost)
					return
				}
				now := time.Now()
				os.Chtimes(path, now, now) // a failed renewal is retried next beat
			}
		}
	}()
	return l
}

// owned tells whether the lease file still holds l's token.
func (l *Lease) owned() bool {
	b, err := os.ReadFile(l.path)
	return err == nil && string(b) == l.token
}

// Lost is closed when the heartbeat finds that the lease was taken over.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// Release stops the heartbeat and removes the lease file if it is still
// l's. Extra calls do nothing.
func (l *Lease) Release() {
	l.once.Do(func() {
		close(l.stop)
		l.done.Wait()
		if l.owned() {
			os.Remove(l.path)
		}
	})
}

// stale tells whether a lease file with this token and info may be taken
// over: not renewed for ttl, or owned by a process of this host that has
// exited.
func stale(token string, info fs.FileInfo, ttl time.Duration) bool {
	if time.Since(info.ModTime()) > ttl {
		return true
	}
	f := strings.Fields(token)
	if len(f) != 3 || f[0] != hostname() {
		return false
	}
	pid, err := strconv.Atoi(f[1])
	return err == nil && pid > 0 && errors.Is(unix.Kill(pid, 0), unix.ESRCH)
}

// newToken returns a lease token: "host pid random".
func newToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("cache: lease token: %w", err)
	}
	return fmt.Sprintf("%s %d %s", hostname(), os.Getpid(), hex.EncodeToString(b)), nil
}

// hostname is this machine's name, with spaces (which tokens split on)
// replaced.
func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "unknown"
	}
	return strings.ReplaceAll(h, " ", "_")
}
