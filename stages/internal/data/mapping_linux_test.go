package data

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"selectivity/cache/arrowfile"
)

// TestPagerFindsOnlyFileMappings: a Pager is live for a mapped Arrow file
// and inert for heap memory.
func TestPagerFindsOnlyFileMappings(t *testing.T) {
	if p := NewPager(make([]float32, 1024)); p.hi != 0 {
		t.Errorf("heap memory got a live Pager %+v", p)
	}
	path := filepath.Join(t.TempDir(), "m.arrow")
	if err := arrowfile.WriteMatrix(path, 2, 3, nil, func(int, []float32) {}); err != nil {
		t.Fatal(err)
	}
	r, err := arrowfile.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var row []float32
	arrowfile.ReadMatrixRows(r, func(i int, v []float32) error { row = v; return nil })
	if p := NewPager(row); p.hi == 0 {
		t.Error("mapped file got an inert Pager")
	}
}

// TestFileOffsets: rows of a mapped matrix are placed in the file (pread
// reads the same values), heap rows are not.
func TestFileOffsets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.arrow")
	const rows, cols = 13, 1000
	if err := arrowfile.WriteMatrixBatched(path, rows, cols, 4, nil, func(r int, dst []float32) {
		for c := range dst {
			dst[c] = float32(r*cols + c)
		}
	}); err != nil {
		t.Fatal(err)
	}
	r, err := arrowfile.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var all [][]float32
	arrowfile.ReadMatrixRows(r, func(_ int, v []float32) error { all = append(all, v); return nil })
	offs, ok := FileOffsets(path, all)
	if !ok {
		t.Fatal("mapped rows not placed")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := make([]float32, cols)
	for i, off := range offs {
		if _, err := f.ReadAt(Bytes(got), off); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, all[i]) {
			t.Fatalf("row %d at offset %d: read %v…, want %v…", i, off, got[:3], all[i][:3])
		}
	}
	if _, ok := FileOffsets(path, [][]float32{make([]float32, 10)}); ok {
		t.Error("heap row placed in the file")
	}
	other := filepath.Join(t.TempDir(), "other.arrow")
	if _, ok := FileOffsets(other, all); ok {
		t.Error("rows placed in a file they are not mapped from")
	}
}
