package pipeline

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/go-multierror"
)

// FuzzLoad feeds arbitrary bytes to Load as an experiment file: it must not
// panic, must write nothing, must report only positioned *Errors, and must
// return an acyclic experiment when it succeeds.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "load", "*.yaml"))
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		setBase,
		"stages:\n  s: {kind: load-source}\n",
		"params: {a: &x [*x]}\nstages: {s: {kind: load-source}}\n",
		"params: {a: &a [1, 2], b: &b [*a, *a], c: {<<: {x: 1}, y: *b}}\nstages: {s: {kind: load-source, params: {seed: '${params.c.x}'}}}\n",
		"stages:\n  m: {kind: load-metric, matrix: {a: [x, y], exclude: [{a: x}]}, inputs: {acts: 'm@*'}}\n",
		"stages:\n  a: {kind: load-correlate, inputs: {values: [b, 'b@*']}, params: {key: '$${x}${env:HOME:-h}'}}\n  b: {kind: load-correlate, inputs: {values: a}, params: {key: k}}\n",
		"stages:\n  a:\n    - x\n   y: 2\n",
		"",
	} {
		f.Add([]byte(s))
	}
	env := envOf(map[string]string{"HOME": "/home/x", "EMPTY": ""})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		file := filepath.Join(dir, "exp.yaml")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, dir)
		e, err := Load(file, LoadOptions{Env: env})
		if after := snapshot(t, dir); !reflect.DeepEqual(before, after) {
			t.Fatalf("Load wrote into %s", dir)
		}
		if err == nil {
			if e == nil {
				t.Fatal("nil experiment without an error")
			}
			if _, err := e.Graph().Sort(); err != nil {
				t.Fatalf("valid experiment with a cycle: %v", err)
			}
			return
		}
		if e != nil {
			t.Fatal("experiment and error both returned")
		}
		var m *multierror.Error
		if !errors.As(err, &m) || len(m.Errors) == 0 {
			t.Fatalf("error %T %v", err, err)
		}
		for _, p := range m.Errors {
			pe, ok := p.(*Error)
			if !ok || pe.Pos.File != file || pe.Pos.Line < 1 || pe.Pos.Col < 1 || !strings.HasPrefix(pe.Error(), file+":") {
				t.Fatalf("unpositioned problem %T %q", p, p)
			}
		}
	})
}
