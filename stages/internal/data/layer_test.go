package data

import (
	"path/filepath"
	"slices"
	"testing"

	"selectivity/cache/arrowfile"
)

func TestNaturalCompare(t *testing.T) {
	got := []string{"conv10", "conv2", "fc", "conv13", "conv4", "conv02", "features.28", "features.3", "conv7"}
	slices.SortFunc(got, NaturalCompare)
	want := []string{"conv02", "conv2", "conv4", "conv7", "conv10", "conv13", "fc", "features.3", "features.28"}
	if !slices.Equal(got, want) {
		t.Errorf("sorted %v, want %v", got, want)
	}
}

// TestPager: releasing the pages of a mapped matrix keeps its values, and
// a Pager never touches memory outside a shared file mapping.
func TestPager(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.arrow")
	const rows, cols = 9, 5000 // rows span several pages
	val := func(r, c int) float32 { return float32(r*cols+c) + 0.5 }
	if err := arrowfile.WriteMatrix(path, rows, cols, nil, func(r int, dst []float32) {
		for c := range dst {
			dst[c] = val(r, c)
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
	if err := arrowfile.ReadMatrixRows(r, func(_ int, v []float32) error { all = append(all, v); return nil }); err != nil {
		t.Fatal(err)
	}
	p := NewPager(all[0])
	for pass := range 2 {
		for i, row := range all {
			for c, v := range row {
				if v != val(i, c) {
					t.Fatalf("pass %d: row %d col %d = %v after release", pass, i, c, v)
				}
			}
			p.Release(row[100:2100])
			p.Release(row)
		}
	}

	heap := make([]float32, 4096)
	for i := range heap {
		heap[i] = 1
	}
	hp := NewPager(heap)
	hp.Release(heap)
	p.Release(heap) // outside p's mapping
	if slices.ContainsFunc(heap, func(x float32) bool { return x != 1 }) {
		t.Fatal("Release cleared heap memory")
	}
}
