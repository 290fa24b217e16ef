package report

import (
	"path/filepath"
	"testing"

	"selectivity/cache/arrowfile"
	"selectivity/stages"
)

// TestDecodingCIClipped: a t interval reaching past 0 or 100 % is shown
// clipped to the range an accuracy can take.
func TestDecodingCIClipped(t *testing.T) {
	dir := t.TempDir()
	var tb arrowfile.Table
	tb.Strings("set", []string{"fsi", "all"})
	tb.Float64s("mean", []float64{0.02, 0.99})
	tb.Float64s("ci_low", []float64{-0.03, 0.95})
	tb.Float64s("ci_high", []float64{0.07, 1.03})
	tb.Float64s("n_kernels", []float64{4, 64})
	if err := tb.Write(filepath.Join(dir, DecodingFile), map[string]string{"chance": "0.01"}); err != nil {
		t.Fatal(err)
	}
	got, err := readDecoding([]stages.Input{{Stage: "decode", Dir: dir, Files: []string{DecodingFile}}})
	if err != nil {
		t.Fatal(err)
	}
	s := got[0]
	if s.lo["fsi"] != 0 || s.hi["fsi"] != 0.07 || s.lo["all"] != 0.95 || s.hi["all"] != 1 {
		t.Errorf("intervals fsi [%v, %v], all [%v, %v]; want [0, 0.07] and [0.95, 1]", s.lo["fsi"], s.hi["fsi"], s.lo["all"], s.hi["all"])
	}
}

// TestInputLabel: a stage's label: names it in figures before its matrix
// values and its name.
func TestInputLabel(t *testing.T) {
	in := stages.Input{Stage: "units@trained", Matrix: map[string]string{"net": "trained"}}
	if got := matrixLabel(in); got != "trained" {
		t.Errorf("unlabelled: %q", got)
	}
	in.Label = "VGG-16 ÷ 8, trained"
	if got := matrixLabel(in); got != in.Label {
		t.Errorf("labelled: %q", got)
	}
}
