package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testKey returns a valid key derived from s.
func testKey(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func writeFile(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o666); err != nil {
		t.Fatal(err)
	}
}

func lock(t *testing.T, s *Store, key string) func() {
	t.Helper()
	unlock, err := s.Lock(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return unlock
}

// commit makes an entry for key holding files (name → content).
func commit(t *testing.T, s *Store, key string, files map[string]string) *Entry {
	t.Helper()
	defer lock(t, s, key)()
	txn, err := s.Begin(key)
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Abort()
	for name, data := range files {
		writeFile(t, filepath.Join(txn.Dir(), filepath.FromSlash(name)), []byte(data))
	}
	e, err := txn.Commit(Manifest{Stage: "s", Kind: "k", Version: "1", Params: json.RawMessage(`{"a":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func tmpNames(t *testing.T, s *Store) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(s.Root(), "tmp"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestOpenCreatesNothing(t *testing.T) {
	root := filepath.Join(t.TempDir(), "cache")
	s := Open(root)
	key := testKey("x")
	if _, err := s.Lookup(key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Lookup on missing cache: %v, want ErrNotFound", err)
	}
	if _, err := s.Verify(key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Verify on missing cache: %v, want ErrNotFound", err)
	}
	if keys, err := s.Keys(); err != nil || len(keys) != 0 {
		t.Fatalf("Keys = %v, %v", keys, err)
	}
	if _, err := s.EntrySize(key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("EntrySize: %v, want ErrNotFound", err)
	}
	if n, err := s.CleanTemp(); n != 0 || err != nil {
		t.Fatalf("CleanTemp = %d, %v", n, err)
	}
	if _, err := os.Stat(root); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read-only calls created %s (stat: %v)", root, err)
	}
}

func TestInvalidKeys(t *testing.T) {
	s := Open(t.TempDir())
	for _, key := range []string{"", "../../etc/passwd", strings.Repeat("A", 64), strings.Repeat("a", 63), strings.Repeat("a", 63) + "/", strings.Repeat("g", 64)} {
		if _, err := s.Lookup(key); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("Lookup(%q) = %v, want invalid-key error", key, err)
		}
		if _, err := s.Lock(context.Background(), key); err == nil {
			t.Errorf("Lock(%q) succeeded", key)
		}
		if _, err := s.Begin(key); err == nil {
			t.Errorf("Begin(%q) succeeded", key)
		}
		if _, err := s.Remove(key); err == nil {
			t.Errorf("Remove(%q) succeeded", key)
		}
	}
}

func TestCommitLookupRoundTrip(t *testing.T) {
	s := Open(t.TempDir())
	key := testKey("round trip")
	files := map[string]string{
		"b.arrow":          "bbbb",
		"a.json":           `{"x":1}`,
		"sub/deeper/c.bin": strings.Repeat("c", 1000),
		"empty":            "",
	}
	unlock := lock(t, s, key)
	txn, err := s.Begin(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		writeFile(t, filepath.Join(txn.Dir(), filepath.FromSlash(name)), []byte(data))
	}
	if err := os.Mkdir(filepath.Join(txn.Dir(), "emptydir"), 0o777); err != nil {
		t.Fatal(err)
	}
	in := Manifest{
		Stage: "extract@trained", Kind: "extract", Version: "3",
		Params:      json.RawMessage(`{"layers":["conv1"]}`),
		Inputs:      []InputRef{{Slot: "model", Stage: "train", Key: testKey("up")}},
		WallSeconds: 1.5,
	}
	e, err := txn.Commit(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := txn.Abort(); err != nil {
		t.Fatalf("Abort after Commit: %v", err)
	}
	unlock()

	if e.Key != key || e.Dir != filepath.Join(s.Root(), "entries", key[:2], key) {
		t.Fatalf("entry = %q in %q", e.Key, e.Dir)
	}
	var names []string
	for _, f := range e.Manifest.Files {
		names = append(names, f.Name)
		sum := sha256.Sum256([]byte(files[f.Name]))
		if f.Size != int64(len(files[f.Name])) || f.SHA256 != hex.EncodeToString(sum[:]) || f.ModTime == 0 {
			t.Errorf("file %+v does not match its content", f)
		}
		if got, err := os.ReadFile(e.Path(f.Name)); err != nil || string(got) != files[f.Name] {
			t.Errorf("%s holds %q, %v", f.Name, got, err)
		}
	}
	if want := []string{"a.json", "b.arrow", "empty", "sub/deeper/c.bin"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("files = %v, want %v (sorted, manifest excluded)", names, want)
	}
	if e.Manifest.Key != key || e.Manifest.Created.IsZero() {
		t.Fatalf("Commit did not fill key/created: %+v", e.Manifest)
	}
	if _, err := os.Stat(filepath.Join(e.Dir, "emptydir")); err != nil {
		t.Errorf("empty folder not kept: %v", err)
	}

	for name, get := range map[string]func(string) (*Entry, error){"Lookup": s.Lookup, "Verify": s.Verify} {
		got, err := get(key)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// Compare through JSON: time.Time's monotonic reading is not stored.
		a, _ := json.Marshal(got.Manifest)
		b, _ := json.Marshal(e.Manifest)
		if !bytes.Equal(a, b) || got.Dir != e.Dir {
			t.Fatalf("%s manifest\n%s\nwant\n%s", name, a, b)
		}
		if got.Manifest.Stage != in.Stage || got.Manifest.Inputs[0] != in.Inputs[0] || string(got.Manifest.Params) != string(in.Params) {
			t.Fatalf("%s lost fields: %+v", name, got.Manifest)
		}
	}

	keys, err := s.Keys()
	if err != nil || !reflect.DeepEqual(keys, []string{key}) {
		t.Fatalf("Keys = %v, %v", keys, err)
	}
	size, err := s.EntrySize(key)
	mi, _ := os.Stat(filepath.Join(e.Dir, ManifestName))
	if want := int64(4+7+1000+0) + mi.Size(); err != nil || size != want {
		t.Fatalf("EntrySize = %d, %v; want %d", size, err, want)
	}
	if names := tmpNames(t, s); len(names) != 0 {
		t.Fatalf("tmp/ holds %v after commit", names)
	}

	// The manifest on disk uses the documented snake_case names.
	raw, _ := os.ReadFile(filepath.Join(e.Dir, ManifestName))
	for _, field := range []string{`"key"`, `"stage"`, `"kind"`, `"version"`, `"params"`, `"inputs"`, `"files"`, `"created"`, `"wall_seconds"`, `"mtime_ns"`, `"sha256"`, `"slot"`} {
		if !bytes.Contains(raw, []byte(field)) {
			t.Errorf("manifest.json lacks %s:\n%s", field, raw)
		}
	}
}

func TestKeysIgnoresJunk(t *testing.T) {
	s := Open(t.TempDir())
	key := testKey("k")
	commit(t, s, key, map[string]string{"f": "x"})
	writeFile(t, filepath.Join(s.Root(), "entries", "zz", "junk"), nil)
	writeFile(t, filepath.Join(s.Root(), "entries", "README"), nil)
	other := testKey("other")
	// A valid key in the wrong shard is not an entry.
	if err := os.MkdirAll(filepath.Join(s.Root(), "entries", key[:2], other), 0o777); err != nil {
		t.Fatal(err)
	}
	if keys, err := s.Keys(); err != nil || !reflect.DeepEqual(keys, []string{key}) {
		t.Fatalf("Keys = %v, %v", keys, err)
	}
}

func TestBeginRequiresLock(t *testing.T) {
	s := Open(t.TempDir())
	if _, err := s.Begin(testKey("nolock")); err == nil {
		t.Fatal("Begin without the key's lock succeeded")
	}
	// Another key's lock does not count.
	defer lock(t, s, testKey("other"))()
	if _, err := s.Begin(testKey("nolock")); err == nil {
		t.Fatal("Begin holding another key's lock succeeded")
	}
}

func TestCommitRejectsBadOutputs(t *testing.T) {
	s := Open(t.TempDir())
	key := testKey("bad outputs")
	defer lock(t, s, key)()
	txn, err := s.Begin(key)
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Abort()
	writeFile(t, filepath.Join(txn.Dir(), "ok.txt"), []byte("ok"))

	bad := []struct {
		name string
		make func(p string) error
	}{
		{"symlink", func(p string) error { return os.Symlink("ok.txt", p) }},
		{"sub/fifo", func(p string) error {
			os.MkdirAll(filepath.Dir(p), 0o777)
			return unix.Mkfifo(p, 0o666)
		}},
		{ManifestName, func(p string) error { return os.WriteFile(p, []byte("{}"), 0o666) }},
	}
	for _, b := range bad {
		p := filepath.Join(txn.Dir(), filepath.FromSlash(b.name))
		if err := b.make(p); err != nil {
			t.Fatal(err)
		}
		if _, err := txn.Commit(Manifest{}); err == nil || !strings.Contains(err.Error(), b.name) {
			t.Errorf("Commit with %s: %v, want an error naming it", b.name, err)
		}
		if _, err := s.Lookup(key); !errors.Is(err, ErrNotFound) {
			t.Fatalf("failed Commit left an entry: %v", err)
		}
		os.Remove(p)
	}
	// Wrong key in the manifest.
	if _, err := txn.Commit(Manifest{Key: testKey("else")}); err == nil {
		t.Error("Commit accepted a manifest naming another key")
	}
	// After the problems are gone the same transaction commits.
	e, err := txn.Commit(Manifest{})
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if len(e.Manifest.Files) != 1 || e.Manifest.Files[0].Name != "ok.txt" {
		t.Fatalf("files = %+v", e.Manifest.Files)
	}
	if _, err := txn.Commit(Manifest{}); err == nil {
		t.Fatal("second Commit succeeded")
	}
}

func TestAbort(t *testing.T) {
	s := Open(t.TempDir())
	key := testKey("abort")
	defer lock(t, s, key)()
	txn, err := s.Begin(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(txn.Dir(), "f"), []byte("x"))
	if err := txn.Abort(); err != nil {
		t.Fatal(err)
	}
	if names := tmpNames(t, s); len(names) != 0 {
		t.Fatalf("tmp/ holds %v after Abort", names)
	}
	if _, err := s.Lookup(key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Lookup after Abort: %v", err)
	}
	if _, err := txn.Commit(Manifest{}); err == nil {
		t.Fatal("Commit after Abort succeeded")
	}
}

// flipByte changes the byte at off in p, keeping the size.
func flipByte(t *testing.T, p string, off int64) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestDamage(t *testing.T) {
	files := map[string]string{"data.arrow": "0123456789ab", "sub/x.json": "{}"}
	old := time.Date(2020, 1, 2, 3, 4, 5, 6, time.UTC)
	cases := []struct {
		name string
		// damage harms the entry in dir.
		damage func(t *testing.T, dir string)
		// lookupOK is whether Lookup (mtime-trusting) misses the damage.
		lookupOK bool
		// want is a substring of the reported problem.
		want string
	}{
		{"truncated", func(t *testing.T, dir string) {
			if err := os.Truncate(filepath.Join(dir, "data.arrow"), 10); err != nil {
				t.Fatal(err)
			}
		}, false, "data.arrow: size 10, manifest says 12"},
		{"flipped byte, mtime changed", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "data.arrow")
			flipByte(t, p, 3)
			// Make sure the mtime differs even on coarse-clock filesystems.
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}, false, "data.arrow: sha256 differs"},
		{"flipped byte, mtime restored", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "data.arrow")
			info, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			flipByte(t, p, 3)
			if err := os.Chtimes(p, info.ModTime(), info.ModTime()); err != nil {
				t.Fatal(err)
			}
		}, true, "data.arrow: sha256 differs"},
		{"missing file", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "sub", "x.json")); err != nil {
				t.Fatal(err)
			}
		}, false, "sub/x.json: missing"},
		{"file replaced by folder", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "sub", "x.json")
			os.Remove(p)
			os.Mkdir(p, 0o777)
		}, false, "sub/x.json: not a regular file"},
		{"garbage manifest", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, ManifestName), []byte("\x00garbage{"))
		}, false, "manifest.json: unreadable"},
		{"missing manifest", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, ManifestName))
		}, false, "manifest.json: unreadable"},
		{"manifest of another key", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m *Manifest) { m.Key = testKey("another") })
		}, false, "manifest.json: key"},
		{"manifest escaping the entry", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m *Manifest) { m.Files[0].Name = "../../../../etc/passwd" })
		}, false, "invalid file name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := Open(t.TempDir())
			key := testKey(c.name)
			e := commit(t, s, key, files)
			c.damage(t, e.Dir)

			_, lerr := s.Lookup(key)
			_, verr := s.Verify(key)
			if c.lookupOK {
				// The documented trade-off: Lookup trusts an unchanged
				// (size, mtime); only Verify reads the bytes.
				if lerr != nil {
					t.Fatalf("Lookup: %v, want nil (mtime restored)", lerr)
				}
			} else {
				checkDamaged(t, "Lookup", key, lerr, c.want)
			}
			checkDamaged(t, "Verify", key, verr, c.want)
		})
	}
}

func editManifest(t *testing.T, dir string, edit func(*Manifest)) {
	t.Helper()
	p := filepath.Join(dir, ManifestName)
	m, err := readManifest(p)
	if err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, _ := json.Marshal(m)
	writeFile(t, p, b)
}

func checkDamaged(t *testing.T, op, key string, err error, want string) {
	t.Helper()
	var d *DamagedError
	if !errors.As(err, &d) {
		t.Fatalf("%s: %v, want *DamagedError", op, err)
	}
	if errors.Is(err, ErrNotFound) {
		t.Fatalf("%s: damaged entry reported as not found", op)
	}
	if d.Key != key || !strings.Contains(strings.Join(d.Problems, "\n"), want) {
		t.Fatalf("%s: problems %q for %s, want one containing %q", op, d.Problems, d.Key, want)
	}
}

func TestExtraFilesIgnored(t *testing.T) {
	s := Open(t.TempDir())
	key := testKey("extra")
	e := commit(t, s, key, map[string]string{"a": "1"})
	writeFile(t, filepath.Join(e.Dir, "stray.txt"), []byte("stray"))
	if _, err := s.Verify(key); err != nil {
		t.Fatalf("Verify with an unlisted file: %v", err)
	}
}

func TestTouchedFileStillValid(t *testing.T) {
	s := Open(t.TempDir())
	key := testKey("touch")
	e := commit(t, s, key, map[string]string{"a": "1"})
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(e.Path("a"), old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup(key); err != nil {
		t.Fatalf("Lookup after touch (same content): %v", err)
	}
}

func TestRecommitOverDamagedEntry(t *testing.T) {
	s := Open(t.TempDir())
	key := testKey("recommit")
	e := commit(t, s, key, map[string]string{"a": "old content", "only-old": "x"})
	if err := os.Truncate(e.Path("a"), 1); err != nil {
		t.Fatal(err)
	}
	var d *DamagedError
	if _, err := s.Lookup(key); !errors.As(err, &d) {
		t.Fatalf("Lookup: %v, want damaged", err)
	}
	e2 := commit(t, s, key, map[string]string{"a": "new content"})
	got, err := s.Verify(key)
	if err != nil {
		t.Fatalf("Verify after re-commit: %v", err)
	}
	if got.Dir != e2.Dir || len(got.Manifest.Files) != 1 {
		t.Fatalf("entry after re-commit: %+v", got)
	}
	if b, _ := os.ReadFile(got.Path("a")); string(b) != "new content" {
		t.Fatalf("a = %q", b)
	}
	if _, err := os.Stat(filepath.Join(got.Dir, "only-old")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("old entry's file survived: %v", err)
	}
	if names := tmpNames(t, s); len(names) != 0 {
		t.Fatalf("tmp/ holds %v", names)
	}
}

func TestRemove(t *testing.T) {
	s := Open(t.TempDir())
	key, other := testKey("rm"), testKey("keep")
	commit(t, s, key, map[string]string{"a": "12345", "d/b": "678"})
	commit(t, s, other, map[string]string{"a": "1"})
	size, err := s.EntrySize(key)
	if err != nil {
		t.Fatal(err)
	}
	freed, err := s.Remove(key)
	if err != nil || freed != size {
		t.Fatalf("Remove = %d, %v; want %d", freed, err, size)
	}
	if _, err := s.Lookup(key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Lookup after Remove: %v", err)
	}
	if _, err := s.Remove(key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Remove: %v, want ErrNotFound", err)
	}
	if keys, _ := s.Keys(); !reflect.DeepEqual(keys, []string{other}) {
		t.Fatalf("Keys = %v", keys)
	}
	if names := tmpNames(t, s); len(names) != 0 {
		t.Fatalf("tmp/ holds %v", names)
	}
	// Remove waits for the lock; with a done context it gives up.
	defer lock(t, s, other)()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.RemoveContext(ctx, other); !errors.Is(err, context.Canceled) {
		t.Fatalf("RemoveContext on a locked key: %v", err)
	}
	if _, err := s.Lookup(other); err != nil {
		t.Fatalf("entry removed without its lock: %v", err)
	}
}

func TestLockExcludesGoroutines(t *testing.T) {
	s := Open(t.TempDir())
	key := testKey("lock")
	unlock := lock(t, s, key)

	// TryLock opens its own descriptor: a flock held through another
	// descriptor of the same process must still exclude it.
	if u, ok, err := s.TryLock(key); err != nil || ok {
		if ok {
			u()
		}
		t.Fatalf("TryLock while held = %v, %v; want false", ok, err)
	}
	// Another store on the same root shares the lock.
	if _, ok, _ := Open(s.Root()).TryLock(key); ok {
		t.Fatal("TryLock through a second Store succeeded while held")
	}
	// Other keys are independent.
	u, ok, err := s.TryLock(testKey("other"))
	if err != nil || !ok {
		t.Fatalf("TryLock on another key = %v, %v", ok, err)
	}
	u()

	var released atomic.Bool
	got := make(chan bool)
	go func() {
		u, err := s.Lock(context.Background(), key)
		if err != nil {
			t.Error(err)
			close(got)
			return
		}
		got <- released.Load()
		u()
	}()
	time.Sleep(100 * time.Millisecond) // give the waiter a chance to cheat
	released.Store(true)
	unlock()
	unlock() // a second call does nothing
	if !<-got {
		t.Fatal("second Lock returned while the first was held")
	}

	// Many goroutines: at most one inside at a time.
	var inside, violations atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				u, err := s.Lock(context.Background(), key)
				if err != nil {
					t.Error(err)
					return
				}
				if inside.Add(1) > 1 {
					violations.Add(1)
				}
				time.Sleep(time.Millisecond)
				inside.Add(-1)
				u()
			}
		}()
	}
	wg.Wait()
	if violations.Load() != 0 {
		t.Fatalf("%d times two goroutines held the lock at once", violations.Load())
	}
}

func TestLockHonoursContext(t *testing.T) {
	s := Open(t.TempDir())
	key := testKey("ctx")
	defer lock(t, s, key)()

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		u, err := s.Lock(ctx, key)
		if err == nil {
			u()
		}
		errc <- err
	}()
	time.Sleep(60 * time.Millisecond)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), key) {
		t.Fatalf("Lock after cancel: %v, want context.Canceled naming the key", err)
	}

	ctx, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if _, err := s.Lock(ctx, key); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock with deadline: %v", err)
	}
}

func TestCleanTemp(t *testing.T) {
	s := Open(t.TempDir())
	live, dead := testKey("live"), testKey("dead")

	unlockLive := lock(t, s, live)
	liveTxn, err := s.Begin(live)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(liveTxn.Dir(), "f"), []byte("live"))

	// A transaction whose owner let go of the lock without Commit or Abort,
	// as a crashed process would.
	unlockDead := lock(t, s, dead)
	deadTxn, err := s.Begin(dead)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(deadTxn.Dir(), "sub", "f"), []byte("0123456789"))
	unlockDead()
	// Something the store did not make is left alone.
	writeFile(t, filepath.Join(s.Root(), "tmp", "not-ours"), []byte("x"))

	freed, err := s.CleanTemp()
	if err != nil || freed != 10 {
		t.Fatalf("CleanTemp = %d, %v; want 10", freed, err)
	}
	if _, err := os.Stat(deadTxn.base); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale folder survives: %v", err)
	}
	if _, err := os.Stat(filepath.Join(liveTxn.Dir(), "f")); err != nil {
		t.Fatalf("CleanTemp removed a live transaction: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.Root(), "tmp", "not-ours")); err != nil {
		t.Fatalf("CleanTemp removed a foreign file: %v", err)
	}
	if _, err := liveTxn.Commit(Manifest{}); err != nil {
		t.Fatal(err)
	}
	unlockLive()
	if _, err := s.Verify(live); err != nil {
		t.Fatal(err)
	}
}

// A failed write inside a transaction (the disk full, say) names the key
// once and the file relative to the entry, and stays the same error.
func TestTransactionErrorsNameTheKeyOnce(t *testing.T) {
	s := Open(t.TempDir())
	key := strings.Repeat("ab", 32)
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
	full := &fs.PathError{Op: "write", Path: filepath.Join(txn.Dir(), "sub", "values.txt"), Err: syscall.ENOSPC}
	err = txn.Relative(fmt.Errorf("stage a: %w", full))
	if err.Error() != "stage a: write sub/values.txt: no space left on device" || !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("got %q", err)
	}
	// A manifest that cannot be written: the file names the entry's file.
	commitHook = func(step string) {
		if step == "scanned" {
			os.Mkdir(filepath.Join(txn.Dir(), ManifestName), 0o755)
		}
	}
	defer func() { commitHook = nil }()
	_, err = txn.Commit(Manifest{Stage: "a"})
	if err == nil || err.Error() != "cache: commit "+key+": open manifest.json: file exists" || !errors.Is(err, fs.ErrExist) {
		t.Errorf("commit: %v", err)
	}
}
