package stimuli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A class folder that is a maze of symlinks sharing their targets (each
// level links twice to the next; no cycle) exhausts the walk budget with an
// error naming the dataset folder; a cycle is named as one.
func TestFolderWalkBudgetAndCycles(t *testing.T) {
	root := t.TempDir()
	levels := 12 // 2^11 paths to the one image
	for i := levels - 1; i >= 0; i-- {
		d := filepath.Join(root, ".maze", fmt.Sprintf("l%02d", i)) // hidden: not a class
		if i == 0 {
			d = filepath.Join(root, "faces")
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if i == levels-1 {
			writeFile(t, filepath.Join(d, "faces-1.png"), grayImage(8, 8, 1))
			continue
		}
		for _, name := range []string{"a", "b"} {
			target := filepath.Join(root, ".maze", fmt.Sprintf("l%02d", i+1))
			if err := os.Symlink(target, filepath.Join(d, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	p := folderParams(root, []string{"faces"}, map[string][]string{"faces": {"faces"}})
	p.Layout = "imagefolder"
	logf := func(string, ...any) {}
	s, err := collect(p, logf)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.items) != 1<<(levels-1) {
		t.Errorf("%d images, want %d", len(s.items), 1<<(levels-1))
	}
	defer func(n int) { maxEntries = n }(maxEntries)
	maxEntries = 1000
	_, err = collect(p, logf)
	if err == nil || !strings.Contains(err.Error(), root+": more than 1000 files and folders") || !strings.Contains(err.Error(), "symlink maze") {
		t.Errorf("maze: %v", err)
	}
	maxEntries = 1 << 20
	if err := os.Symlink(filepath.Join(root, "faces"), filepath.Join(root, ".maze", "l05", "loop")); err != nil {
		t.Fatal(err)
	}
	if _, err = collect(p, logf); err == nil || !strings.Contains(err.Error(), "symlink cycle") {
		t.Errorf("cycle: %v", err)
	}
}
