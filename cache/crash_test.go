package cache

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The crash tests re-run this test binary as a child process that writes
// into the cache and is then SIGKILLed at chosen moments.

const (
	childModeEnv = "CACHE_TEST_CHILD"
	childRootEnv = "CACHE_TEST_ROOT"
	childKeyEnv  = "CACHE_TEST_KEY"
	bigSize      = 4 << 20
)

// TestChildProcess is not a test: it is the child's body, run only when the
// parent sets childModeEnv.
func TestChildProcess(t *testing.T) {
	mode := os.Getenv(childModeEnv)
	if mode == "" {
		t.Skip("helper for the crash tests")
	}
	if err := child(mode, os.Getenv(childRootEnv), os.Getenv(childKeyEnv)); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	os.Exit(0)
}

func child(mode, root, key string) error {
	// Never outlive a parent that died before killing us by much.
	deadline := time.Now().Add(30 * time.Second)
	s := Open(root)
	unlock, err := s.Lock(context.Background(), key)
	if err != nil {
		return err
	}
	defer unlock()
	txn, err := s.Begin(key)
	if err != nil {
		return err
	}
	switch mode {
	case "write":
		// Write a big file slowly; the parent kills us mid-write.
		f, err := os.Create(filepath.Join(txn.Dir(), "big.bin"))
		if err != nil {
			return err
		}
		chunk := bytes.Repeat([]byte{7}, 64<<10)
		for i := 0; time.Now().Before(deadline); i++ {
			if _, err := f.Write(chunk); err != nil {
				return err
			}
			if i == 0 {
				fmt.Println("writing")
			}
			time.Sleep(time.Millisecond)
		}
		return errors.New("not killed in time")
	case "commit":
		if err := os.WriteFile(filepath.Join(txn.Dir(), "big.bin"), bytes.Repeat([]byte{1}, bigSize), 0o666); err != nil {
			return err
		}
		for i := range 20 {
			p := filepath.Join(txn.Dir(), fmt.Sprintf("d%d", i%4), fmt.Sprintf("f%02d", i))
			os.MkdirAll(filepath.Dir(p), 0o777)
			if err := os.WriteFile(p, []byte(strings.Repeat("x", i)), 0o666); err != nil {
				return err
			}
		}
		if _, err := txn.Commit(Manifest{Stage: "child"}); err != nil {
			return err
		}
		fmt.Println("committed")
		time.Sleep(time.Until(deadline))
		return errors.New("not killed in time")
	}
	if step, ok := strings.CutPrefix(mode, "replace:"); ok {
		// Commit an "old" entry, then replace it by a "new" one, stopping
		// at step for the parent to kill us.
		for _, version := range []string{"old", "new"} {
			if version == "new" {
				commitHook = func(s string) {
					if s == step {
						fmt.Println("at " + step)
						time.Sleep(time.Until(deadline))
					}
				}
				if txn, err = s.Begin(key); err != nil {
					return err
				}
			}
			if err := os.WriteFile(filepath.Join(txn.Dir(), "version"), []byte(version), 0o666); err != nil {
				return err
			}
			if _, err := txn.Commit(Manifest{Stage: "child"}); err != nil {
				return err
			}
		}
		return errors.New("not killed in time")
	}
	return fmt.Errorf("unknown mode %q", mode)
}

// startChild runs the child in mode and returns it with a reader of its
// standard output.
func startChild(t *testing.T, mode, root, key string) (*exec.Cmd, *bufio.Scanner, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildProcess$")
	cmd.Env = append(os.Environ(), childModeEnv+"="+mode, childRootEnv+"="+root, childKeyEnv+"="+key)
	stderr := new(bytes.Buffer)
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, bufio.NewScanner(out), stderr
}

// waitLine reads the child's output until the line want.
func waitLine(t *testing.T, cmd *exec.Cmd, sc *bufio.Scanner, stderr *bytes.Buffer, want string) {
	t.Helper()
	for sc.Scan() {
		if sc.Text() == want {
			return
		}
	}
	cmd.Wait()
	t.Fatalf("child ended before printing %q; stderr:\n%s", want, stderr)
}

func kill(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
}

func TestCrashMidWrite(t *testing.T) {
	root := t.TempDir()
	s := Open(root)
	key := testKey("crash mid-write")
	cmd, sc, stderr := startChild(t, "write", root, key)
	waitLine(t, cmd, sc, stderr, "writing")
	kill(t, cmd)

	if _, err := s.Lookup(key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Lookup after the writer died: %v, want ErrNotFound", err)
	}
	if names := tmpNames(t, s); len(names) != 1 || !strings.HasPrefix(names[0], key+".") {
		t.Fatalf("tmp/ holds %v, want the dead writer's folder", names)
	}
	freed, err := s.CleanTemp()
	if err != nil || freed < 64<<10 {
		t.Fatalf("CleanTemp = %d, %v; want at least one chunk freed", freed, err)
	}
	if names := tmpNames(t, s); len(names) != 0 {
		t.Fatalf("tmp/ holds %v after CleanTemp", names)
	}
}

func TestCrashAfterCommit(t *testing.T) {
	root := t.TempDir()
	s := Open(root)
	key := testKey("crash after commit")
	cmd, sc, stderr := startChild(t, "commit", root, key)
	waitLine(t, cmd, sc, stderr, "committed")
	kill(t, cmd)

	e, err := s.Verify(key)
	if err != nil {
		t.Fatalf("Verify after the committed writer died: %v", err)
	}
	if len(e.Manifest.Files) != 21 || e.Manifest.Files[0].Name != "big.bin" || e.Manifest.Files[0].Size != bigSize {
		t.Fatalf("entry files: %+v", e.Manifest.Files)
	}
	if freed, err := s.CleanTemp(); freed != 0 || err != nil {
		t.Fatalf("CleanTemp = %d, %v; want nothing to clean", freed, err)
	}
	if names := tmpNames(t, s); len(names) != 0 {
		t.Fatalf("tmp/ holds %v", names)
	}
}

// TestCrashDuringCommit kills the child at each step inside a Commit that
// replaces an existing entry: before the old entry is moved aside the old
// entry is intact, between the two renames there is none, and after the
// final rename the new one is complete.
func TestCrashDuringCommit(t *testing.T) {
	steps := []struct{ step, want string }{
		{"scanned", "old"},
		{"manifest-written", "old"},
		{"synced", "old"},
		{"moved-aside", "none"},
		{"renamed", "new"},
	}
	for _, c := range steps {
		t.Run(c.step, func(t *testing.T) {
			root := t.TempDir()
			s := Open(root)
			key := testKey("crash during commit")
			cmd, sc, stderr := startChild(t, "replace:"+c.step, root, key)
			waitLine(t, cmd, sc, stderr, "at "+c.step)
			kill(t, cmd)

			_, lerr := s.Lookup(key)
			e, verr := s.Verify(key)
			if (lerr == nil) != (verr == nil) {
				t.Fatalf("Lookup %v but Verify %v", lerr, verr)
			}
			got := "none"
			switch {
			case verr == nil:
				b, err := os.ReadFile(e.Path("version"))
				if err != nil {
					t.Fatal(err)
				}
				got = string(b)
			case !errors.Is(verr, ErrNotFound):
				t.Fatalf("killed at %s: %v", c.step, verr)
			}
			if got != c.want {
				t.Fatalf("killed at %s: entry %q, want %q", c.step, got, c.want)
			}
			if _, err := s.CleanTemp(); err != nil {
				t.Fatal(err)
			}
			if names := tmpNames(t, s); len(names) != 0 {
				t.Fatalf("tmp/ holds %v after CleanTemp", names)
			}
		})
	}
}
