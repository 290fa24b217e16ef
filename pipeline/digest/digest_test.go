package digest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// old is an mtime far enough in the past for the memo to trust.
var old = time.Date(2021, 3, 4, 5, 6, 7, 8, time.UTC)

func write(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o666); err != nil {
		t.Fatal(err)
	}
}

func setMtime(t *testing.T, p string, mt time.Time) {
	t.Helper()
	if err := os.Chtimes(p, mt, mt); err != nil {
		t.Fatal(err)
	}
}

// overwriteInPlace replaces p's bytes without changing its inode.
func overwriteInPlace(t *testing.T, p, content string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(content), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func sha(content string) string {
	s := sha256.Sum256([]byte(content))
	return Prefix + hex.EncodeToString(s[:])
}

func newHasher(t *testing.T, state string) *Hasher {
	t.Helper()
	h, err := New(state)
	if err != nil {
		t.Fatal(err)
	}
	if h.Warning() != nil {
		t.Fatalf("unexpected warning: %v", h.Warning())
	}
	return h
}

func mustFile(t *testing.T, h *Hasher, p string) string {
	t.Helper()
	d, err := h.File(p)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustDir(t *testing.T, h *Hasher, p string) string {
	t.Helper()
	d, err := h.Dir(p)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestFileDigestIsContent(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.pt"), filepath.Join(dir, "sub", "other-name.bin")
	write(t, a, "weights")
	write(t, b, "weights")
	setMtime(t, b, old)
	h := newHasher(t, "")
	da, db := mustFile(t, h, a), mustFile(t, h, b)
	if da != sha("weights") || db != da {
		t.Fatalf("digests %s, %s; want both %s", da, db, sha("weights"))
	}
	// Path dispatches to File; relative paths work.
	wd, _ := os.Getwd()
	rel, _ := filepath.Rel(wd, a)
	if d, err := h.Path(rel); err != nil || d != da {
		t.Fatalf("Path(%s) = %s, %v", rel, d, err)
	}
	write(t, a, "weightz")
	if d := mustFile(t, h, a); d == da || d != sha("weightz") {
		t.Fatalf("changed content kept digest %s", d)
	}
}

func TestFileErrors(t *testing.T) {
	dir := t.TempDir()
	h := newHasher(t, "")
	missing := filepath.Join(dir, "missing")
	if _, err := h.File(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("File(missing): %v", err)
	}
	if _, err := h.File(dir); err == nil {
		t.Fatal("File(folder) succeeded")
	}
	if _, err := h.Dir(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("Dir(missing) succeeded")
	}
	f := filepath.Join(dir, "f")
	write(t, f, "x")
	if _, err := h.Dir(f); err == nil {
		t.Fatal("Dir(file) succeeded")
	}
	if _, err := h.Path(missing); err == nil {
		t.Fatal("Path(missing) succeeded")
	}
}

func TestTouchKeepsDigest(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ckpt")
	write(t, p, "content")
	setMtime(t, p, old)
	h := newHasher(t, "")
	d1 := mustFile(t, h, p)
	setMtime(t, p, old.Add(time.Hour)) // touch
	if d2 := mustFile(t, h, p); d2 != d1 {
		t.Fatalf("touch changed the digest: %s -> %s", d1, d2)
	}
}

// TestMemoIsTrusted proves the memo is used: after a same-size rewrite in
// place (same inode) that restores the mtime, File still returns the old
// digest. This is the accepted DVC trade-off; a changed mtime, size or
// inode is noticed.
func TestMemoIsTrusted(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state", "digests.json")
	p := filepath.Join(dir, "ckpt")
	write(t, p, "AAAA")
	setMtime(t, p, old)

	h := newHasher(t, state)
	dA := mustFile(t, h, p)
	if dA != sha("AAAA") {
		t.Fatalf("digest %s", dA)
	}
	overwriteInPlace(t, p, "BBBB")
	setMtime(t, p, old)
	if d := mustFile(t, h, p); d != dA {
		t.Fatalf("memo not used: got %s, want the memoized %s", d, dA)
	}
	// The memo survives Save and New.
	if err := h.Save(); err != nil {
		t.Fatal(err)
	}
	h2 := newHasher(t, state)
	if d := mustFile(t, h2, p); d != dA {
		t.Fatalf("memo not loaded from the state file: got %s", d)
	}
	// Without a memo the new content is seen.
	if d := mustFile(t, newHasher(t, ""), p); d != sha("BBBB") {
		t.Fatalf("fresh hasher: %s", d)
	}
	// Any change of mtime makes the memo re-hash.
	setMtime(t, p, old.Add(time.Nanosecond))
	if d := mustFile(t, h2, p); d != sha("BBBB") {
		t.Fatalf("after an mtime change: %s, want %s", d, sha("BBBB"))
	}
	// So does a new inode with the same size and mtime.
	tmp := p + ".new"
	write(t, tmp, "CCCC")
	setMtime(t, tmp, old.Add(time.Nanosecond))
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	if d := mustFile(t, h2, p); d != sha("CCCC") {
		t.Fatalf("after a new inode: %s, want %s", d, sha("CCCC"))
	}
}

// TestRecentFilesNotMemoized: a file modified just now may be modified
// again within the same timestamp tick, so its digest is not memoized.
func TestRecentFilesNotMemoized(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fresh")
	write(t, p, "AAAA")
	h := newHasher(t, "")
	info, _ := os.Stat(p)
	mustFile(t, h, p)
	overwriteInPlace(t, p, "BBBB")
	setMtime(t, p, info.ModTime())
	if d := mustFile(t, h, p); d != sha("BBBB") {
		t.Fatalf("a just-written file was memoized: %s", d)
	}
}

// makeTree writes a small stimulus folder under root.
func makeTree(t *testing.T, root string, mtime time.Time) {
	t.Helper()
	files := map[string]string{
		"faces/001.png":      "face one",
		"faces/002.png":      "face two",
		"objects/cup.png":    "cup",
		"objects/a/deep.png": "deep",
		"README":             "readme",
		".hidden":            "hidden files count",
	}
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		write(t, p, content)
		setMtime(t, p, mtime)
	}
}

func TestDirDigest(t *testing.T) {
	base := t.TempDir()
	a := filepath.Join(base, "stimuli")
	b := filepath.Join(base, "elsewhere", "deeper", "copy")
	makeTree(t, a, old)
	makeTree(t, b, old.Add(24*time.Hour))
	// Empty folders do not count.
	if err := os.MkdirAll(filepath.Join(b, "empty", "emptier"), 0o777); err != nil {
		t.Fatal(err)
	}
	// Nor do hidden files and folders.
	write(t, filepath.Join(b, ".DS_Store"), "finder")
	write(t, filepath.Join(b, "faces", ".git", "HEAD"), "ref")
	h := newHasher(t, "")
	da, db := mustDir(t, h, a), mustDir(t, h, b)
	if da != db {
		t.Fatalf("same content, different digests: %s %s", da, db)
	}
	if !strings.HasPrefix(da, Prefix) || len(da) != len(Prefix)+64 {
		t.Fatalf("malformed digest %q", da)
	}
	if d, err := h.Path(a); err != nil || d != da {
		t.Fatalf("Path(folder) = %s, %v", d, err)
	}
	// A folder digest is not the digest of any one file.
	if da == mustFile(t, h, filepath.Join(a, "README")) {
		t.Fatal("folder digest equals a file digest")
	}

	changes := map[string]func(root string){
		"content": func(root string) { write(t, filepath.Join(root, "faces", "001.png"), "face 1!!") },
		"rename":  func(root string) { os.Rename(filepath.Join(root, "README"), filepath.Join(root, "README.md")) },
		"rename, same length": func(root string) {
			os.Rename(filepath.Join(root, "README"), filepath.Join(root, "READMF"))
		},
		"move": func(root string) {
			os.Rename(filepath.Join(root, "objects", "cup.png"), filepath.Join(root, "faces", "cup.png"))
		},
		"add":    func(root string) { write(t, filepath.Join(root, "objects", "new.png"), "") },
		"remove": func(root string) { os.Remove(filepath.Join(root, "faces", "002.png")) },
		// Swapping two files' contents keeps the multiset of digests.
		"swap": func(root string) {
			write(t, filepath.Join(root, "faces", "001.png"), "face two")
			write(t, filepath.Join(root, "faces", "002.png"), "face one")
		},
	}
	for name, change := range changes {
		root := filepath.Join(base, "changed-"+name)
		makeTree(t, root, old)
		change(root)
		if d := mustDir(t, h, root); d == da {
			t.Errorf("%s: digest unchanged", name)
		}
	}
}

func TestDirEmptyAndUnambiguous(t *testing.T) {
	base := t.TempDir()
	h := newHasher(t, "")
	e1, e2 := filepath.Join(base, "e1"), filepath.Join(base, "e2", "sub")
	os.MkdirAll(e1, 0o777)
	os.MkdirAll(filepath.Join(e2, "x", "y"), 0o777)
	if mustDir(t, h, e1) != mustDir(t, h, filepath.Join(base, "e2")) {
		t.Fatal("empty folders differ")
	}
	// Names and contents cannot run into each other.
	x, y := filepath.Join(base, "x"), filepath.Join(base, "y")
	write(t, filepath.Join(x, "ab"), "c")
	write(t, filepath.Join(y, "a"), "bc")
	if mustDir(t, h, x) == mustDir(t, h, y) {
		t.Fatal("different trees, same digest")
	}
}

func TestDirSymlinks(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "real")
	makeTree(t, real, old)
	h := newHasher(t, "")
	want := mustDir(t, h, real)

	// A folder of links to files and folders elsewhere has the digest of
	// the folder it mimics.
	links := filepath.Join(base, "links")
	os.MkdirAll(links, 0o777)
	for _, name := range []string{"faces", "objects", "README", ".hidden"} {
		if err := os.Symlink(filepath.Join(real, name), filepath.Join(links, name)); err != nil {
			t.Fatal(err)
		}
	}
	if got := mustDir(t, h, links); got != want {
		t.Fatalf("linked tree %s, want %s", got, want)
	}
	// A link to the folder itself is followed too.
	top := filepath.Join(base, "top")
	os.Symlink(real, top)
	if got := mustDir(t, h, top); got != want {
		t.Fatalf("Dir(link to folder) %s, want %s", got, want)
	}

	// A cycle is an error, not a hang.
	cyc := filepath.Join(base, "cyclic")
	makeTree(t, cyc, old)
	os.Symlink("..", filepath.Join(cyc, "faces", "up"))
	if _, err := h.Dir(cyc); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("Dir with a cycle: %v", err)
	}
	// So is a broken link.
	broken := filepath.Join(base, "broken")
	makeTree(t, broken, old)
	os.Symlink("nowhere", filepath.Join(broken, "dangling"))
	if _, err := h.Dir(broken); err == nil || !strings.Contains(err.Error(), "dangling") {
		t.Fatalf("Dir with a broken link: %v", err)
	}
	// And a special file.
	special := filepath.Join(base, "special")
	makeTree(t, special, old)
	if err := unix.Mkfifo(filepath.Join(special, "fifo"), 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Dir(special); err == nil || !strings.Contains(err.Error(), "fifo") {
		t.Fatalf("Dir with a fifo: %v", err)
	}
}

func TestCorruptStateFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	write(t, p, "data")
	setMtime(t, p, old)
	for name, content := range map[string]string{
		"garbage":       "\x00\x01 not json",
		"wrong version": `{"version": 99, "files": {}}`,
		"wrong shape":   `{"version": 1, "files": [1, 2]}`,
	} {
		t.Run(name, func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "state.json")
			write(t, state, content)
			h, err := New(state)
			if err != nil {
				t.Fatalf("New with a corrupt state file: %v", err)
			}
			if h.Warning() == nil || !strings.Contains(h.Warning().Error(), state) {
				t.Fatalf("Warning() = %v, want one naming the file", h.Warning())
			}
			if d := mustFile(t, h, p); d != sha("data") {
				t.Fatalf("digest %s", d)
			}
			if err := h.Save(); err != nil {
				t.Fatal(err)
			}
			h2 := newHasher(t, state) // rebuilt: no warning now
			h2.mu.Lock()
			n := len(h2.memo)
			h2.mu.Unlock()
			if n != 1 {
				t.Fatalf("rebuilt memo has %d entries, want 1", n)
			}
		})
	}
}

func TestUnreadableStateFileIsAnError(t *testing.T) {
	// A folder where the state file should be cannot be read.
	state := t.TempDir()
	if _, err := New(state); err == nil {
		t.Fatal("New with an unreadable state file succeeded")
	}
}

func TestSaveMergesAndDrops(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "new", "folder", "state.json")
	a, b, c := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")
	for _, p := range []string{a, b, c} {
		write(t, p, "content of "+p)
		setMtime(t, p, old)
	}
	h1, h2 := newHasher(t, state), newHasher(t, state)
	mustFile(t, h1, a)
	mustFile(t, h1, c)
	mustFile(t, h2, b)
	if err := h1.Save(); err != nil {
		t.Fatal(err)
	}
	os.Remove(c) // gone before the second save
	if err := h2.Save(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	var st stateFile
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Files) != 2 || st.Files[a].Digest != sha("content of "+a) || st.Files[b].Digest != sha("content of "+b) {
		t.Fatalf("state holds %v, want a and b only", st.Files)
	}
	// h2 learnt a's digest from the file: a same-size rewrite with the
	// mtime restored goes unnoticed by it.
	overwriteInPlace(t, a, strings.Repeat("z", len("content of "+a)))
	setMtime(t, a, old)
	if d := mustFile(t, h2, a); d != sha("content of "+a) {
		t.Fatalf("h2 did not adopt the merged memo: %s", d)
	}
	// No temporary files are left next to the state file.
	ents, _ := os.ReadDir(filepath.Dir(state))
	for _, e := range ents {
		if n := e.Name(); n != "state.json" && n != "state.json.lock" {
			t.Errorf("left behind: %s", n)
		}
	}
	// A Hasher without a state file saves nothing.
	if err := newHasher(t, "").Save(); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentUse(t *testing.T) {
	base := t.TempDir()
	state := filepath.Join(base, "state.json")
	roots := make([]string, 4)
	for i := range roots {
		roots[i] = filepath.Join(base, fmt.Sprint("tree", i))
		makeTree(t, roots[i], old)
	}
	h := newHasher(t, state)
	want := mustDir(t, newHasher(t, ""), roots[0])
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 5 {
				d, err := h.Dir(roots[(i+j)%len(roots)])
				if err != nil || d != want {
					t.Errorf("Dir = %s, %v", d, err)
				}
				if j == 2 {
					if err := h.Save(); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
}

// A named pipe is refused without being opened: opening it would wait for
// a writer forever.
func TestFileRefusesANamedPipe(t *testing.T) {
	p := filepath.Join(t.TempDir(), "weights.pt")
	if err := unix.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := newHasher(t, "").Path(p); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("Path(fifo): %v", err)
	}
}

// maze makes levels folders under dir, each with two links to the next,
// the last holding one image: 2^(levels-1) paths to it, and no cycle.
func maze(t *testing.T, dir string, levels int) {
	t.Helper()
	for i := levels - 1; i >= 0; i-- {
		d := filepath.Join(dir, fmt.Sprintf("l%02d", i))
		if err := os.MkdirAll(d, 0o777); err != nil {
			t.Fatal(err)
		}
		if i == levels-1 {
			write(t, filepath.Join(d, "face.png"), "png")
			continue
		}
		for _, name := range []string{"a", "b"} {
			if err := os.Symlink(fmt.Sprintf("../l%02d", i+1), filepath.Join(d, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// A symlink maze exhausts the walk budget with an error naming the
// folder, instead of walking every path.
func TestDirWalkBudget(t *testing.T) {
	dir := t.TempDir()
	maze(t, dir, 12)
	root := filepath.Join(dir, "l00")
	h := newHasher(t, "")
	if _, err := h.Dir(root); err != nil { // 2^11 paths: within the budget
		t.Fatal(err)
	}
	defer func(n int) { maxEntries = n }(maxEntries)
	maxEntries = 1000
	_, err := h.Dir(root)
	if err == nil || !strings.Contains(err.Error(), root+": more than 1000 files and folders") || !strings.Contains(err.Error(), "symlink maze") {
		t.Fatalf("Dir(maze): %v", err)
	}
}
