package stages_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNoImportsBetweenKinds: what flows between stage kinds is the
// contract in stages/internal/data (and the libraries beside it); no kind's
// non-test code imports another kind.
func TestNoImportsBetweenKinds(t *testing.T) {
	ents, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	kinds := 0
	for _, e := range ents {
		if !e.IsDir() || e.Name() == "internal" {
			continue
		}
		kind := e.Name()
		kinds++
		err := filepath.WalkDir(kind, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
			if err != nil {
				return err
			}
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				rest, ok := strings.CutPrefix(p, "selectivity/stages/")
				if !ok {
					continue
				}
				if top, _, _ := strings.Cut(rest, "/"); top != kind && top != "internal" {
					t.Errorf("%s imports %s: a stage kind imports another", path, p)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if kinds < 10 {
		t.Fatalf("found %d kinds under stages/: not the stages folder?", kinds)
	}
}
