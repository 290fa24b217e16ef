// Package golden pins a stage kind's outputs on a tiny input next to its
// Version, so that the cache's correctness does not rest on remembering to
// bump it: Check fails when the outputs' digests change under an unchanged
// Version, and when the Version changes without new digests recorded.
//
// The record is testdata/golden/<kind>.json at the repository root:
//
//	{"version": "2", "files": {"summary.arrow": "<sha256>", ...}}
//
// SELECTIVITY_GOLDEN=update rewrites it from the outputs at hand (after a
// bump, or for a new kind).
package golden

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"selectivity/stages"
)

// Record is what a golden file holds.
type Record struct {
	Version string            `json:"version"`
	Files   map[string]string `json:"files"`
}

// Check compares the digests of every file in dir (a stage's output
// folder) with kind's record.
func Check(t testing.TB, kind stages.Kind, dir string) {
	t.Helper()
	got := Record{Version: kind.Version(), Files: digests(t, dir)}
	_, here, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(here), "..", "..", "..", "testdata", "golden", kind.Name()+".json")
	if os.Getenv("SELECTIVITY_GOLDEN") == "update" {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("kind %s has no golden record (%v): run with SELECTIVITY_GOLDEN=update", kind.Name(), err)
	}
	var want Record
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	same := maps.Equal(got.Files, want.Files)
	switch {
	case got.Version == want.Version && !same:
		t.Errorf("kind %s: outputs changed under the same Version %s (%s): bump the kind's Version, then record with SELECTIVITY_GOLDEN=update\n%s",
			kind.Name(), got.Version, path, diff(want.Files, got.Files))
	case got.Version != want.Version && same:
		t.Errorf("kind %s: Version %s → %s but the outputs are those recorded: a bump that changes no result invalidates every cached entry for nothing", kind.Name(), want.Version, got.Version)
	case got.Version != want.Version:
		t.Errorf("kind %s: Version %s → %s: record the new outputs with SELECTIVITY_GOLDEN=update", kind.Name(), want.Version, got.Version)
	}
}

// digests maps each file of dir to its SHA-256.
func digests(t testing.TB, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		out[e.Name()] = hex.EncodeToString(sum[:])
	}
	if len(out) == 0 {
		t.Fatalf("golden: no outputs in %s", dir)
	}
	return out
}

// diff lists the files whose digests differ.
func diff(want, got map[string]string) string {
	all := maps.Clone(want)
	maps.Copy(all, got)
	var s string
	for _, n := range slices.Sorted(maps.Keys(all)) {
		if want[n] != got[n] {
			s += "  " + n + ": recorded " + short(want[n]) + ", now " + short(got[n]) + "\n"
		}
	}
	return s
}

func short(d string) string {
	if d == "" {
		return "(none)"
	}
	return d[:12]
}
