package cache

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestLeaseStaleTakeover(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.lease")
	if err := os.WriteFile(path, []byte("dead-owner"), 0o666); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	l, ok, err := TryLease(path, time.Minute)
	if err != nil || !ok {
		t.Fatalf("stale lease not taken over: ok=%v err=%v", ok, err)
	}
	defer l.Release()
	if b, _ := os.ReadFile(path); string(b) != l.token {
		t.Fatalf("lease file holds %q, want the new owner's token", b)
	}
	if m, _ := filepath.Glob(path + ".stale.*"); len(m) != 0 {
		t.Fatalf("takeover left %v", m)
	}
}

func TestLeaseFreshIsNotTaken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.lease")
	if err := os.WriteFile(path, []byte("live-owner"), 0o666); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := TryLease(path, time.Minute); err != nil || ok {
		t.Fatalf("fresh lease taken: ok=%v err=%v", ok, err)
	}
	if b, _ := os.ReadFile(path); string(b) != "live-owner" {
		t.Fatalf("lease file holds %q after a refused takeover", b)
	}
}

func TestLeaseHeartbeatKeepsIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.lease")
	const ttl = time.Second
	l, ok, err := TryLease(path, ttl)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	time.Sleep(3 * ttl) // without renewals the lease would be stale by now
	if _, ok, err := TryLease(path, ttl); err != nil || ok {
		t.Fatalf("a renewed lease was taken over: ok=%v err=%v", ok, err)
	}
	select {
	case <-l.Lost():
		t.Fatal("owner lost a lease nobody took")
	default:
	}
	l.Release()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("released lease file remains: %v", err)
	}
	l2, ok, err := TryLease(path, ttl)
	if err != nil || !ok {
		t.Fatalf("released lease not free: ok=%v err=%v", ok, err)
	}
	l2.Release()
}

func TestLeaseLostWhenTakenOver(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.lease")
	const ttl = 200 * time.Millisecond
	l, ok, err := TryLease(path, ttl)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	defer l.Release()
	if err := os.WriteFile(path, []byte("usurper"), 0o666); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Lost():
	case <-time.After(time.Minute):
		t.Fatal("owner never noticed its lease was taken")
	}
	l.Release()
	if b, _ := os.ReadFile(path); string(b) != "usurper" {
		t.Fatalf("release removed another owner's lease: file holds %q", b)
	}
}

// Contenders for one lease, fresh or stale, never hold it at once.
func TestLeaseContenders(t *testing.T) {
	for _, stale := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "k.lease")
		if stale {
			os.WriteFile(path, []byte("dead-owner"), 0o666)
			old := time.Now().Add(-time.Hour)
			os.Chtimes(path, old, old)
		}
		var inside, runs atomic.Int32
		var overlap atomic.Bool
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 5 {
					l, err := AcquireLease(context.Background(), path, time.Minute)
					if err != nil {
						t.Error(err)
						return
					}
					if inside.Add(1) > 1 {
						overlap.Store(true)
					}
					time.Sleep(time.Millisecond)
					inside.Add(-1)
					runs.Add(1)
					l.Release()
				}
			}()
		}
		wg.Wait()
		if overlap.Load() || runs.Load() != 40 {
			t.Fatalf("stale=%v: two holders at once: %v; %d runs (want 40)", stale, overlap.Load(), runs.Load())
		}
	}
}

func TestLeaseOfExitedLocalProcessIsStale(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.lease")
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := fmt.Sprintf("%s %d deadbeef", hostname(), cmd.Process.Pid)
	if err := os.WriteFile(path, []byte(dead), 0o666); err != nil {
		t.Fatal(err)
	}
	l, ok, err := TryLease(path, time.Hour)
	if err != nil || !ok {
		t.Fatalf("lease of an exited process not taken: ok=%v err=%v", ok, err)
	}
	l.Release()
	live := fmt.Sprintf("%s %d deadbeef", hostname(), os.Getpid())
	os.WriteFile(path, []byte(live), 0o666)
	if _, ok, err := TryLease(path, time.Hour); err != nil || ok {
		t.Fatalf("lease of a running process taken: ok=%v err=%v", ok, err)
	}
}

// A key whose lease another machine holds (its flock, on NFS, not seen
// here) is locked; once the lease goes stale it is free.
func TestLockHonoursRemoteLease(t *testing.T) {
	s := Open(t.TempDir())
	key := strings.Repeat("ab", 32)
	os.MkdirAll(s.locksDir(), 0o777)
	if err := os.WriteFile(s.leasePath(key), []byte("other-node 1 cafe"), 0o666); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.TryLock(key); err != nil || ok {
		t.Fatalf("locked a key another node holds: ok=%v err=%v", ok, err)
	}
	old := time.Now().Add(-2 * leaseTTL)
	os.Chtimes(s.leasePath(key), old, old)
	unlock, ok, err := s.TryLock(key)
	if err != nil || !ok {
		t.Fatalf("stale remote lease kept the key locked: ok=%v err=%v", ok, err)
	}
	unlock()
	if _, err := os.Stat(s.leasePath(key)); !os.IsNotExist(err) {
		t.Fatalf("unlock left the lease: %v", err)
	}
}

// A writer whose lease was taken over does not commit.
func TestCommitRefusedAfterLeaseLost(t *testing.T) {
	s := Open(t.TempDir())
	key := strings.Repeat("cd", 32)
	unlock, err := s.Lock(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	txn, err := s.Begin(key)
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Abort()
	if err := os.WriteFile(s.leasePath(key), []byte("other-node 1 cafe"), 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := txn.Commit(Manifest{}); err == nil || !strings.Contains(err.Error(), "lease was taken over") {
		t.Fatalf("commit after a lost lease: %v", err)
	}
	if _, err := s.Lookup(key); err == nil {
		t.Fatal("an entry was committed without the lease")
	}
}
