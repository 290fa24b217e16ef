package report

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWriteCSVs(t *testing.T) {
	dir := t.TempDir()
	one := section{file: "fig_a.png", tables: []mdTable{{header: []string{"layer", "FSI %"}, rows: [][]string{{"conv2", "30.02 (9836/32768)"}, {"conv4", `a "quoted", cell`}}}}}
	two := section{file: "fig_b.png", tables: []mdTable{
		{title: "trained", header: []string{"layer", "ρ"}, rows: [][]string{{"conv2", "0.85"}}},
		{title: "untrained", header: []string{"layer", "ρ"}, rows: [][]string{{"conv2", "0.90"}}},
	}}
	for _, s := range []section{one, two, {file: "", tables: one.tables}, {file: "fig_c.png"}} {
		if err := writeCSVs(dir, s); err != nil {
			t.Fatal(err)
		}
	}
	read := func(name string) [][]string {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		rows, err := csv.NewReader(f).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	want := map[string][][]string{
		"fig_a.csv":   {{"layer", "FSI %"}, {"conv2", "30.02 (9836/32768)"}, {"conv4", `a "quoted", cell`}},
		"fig_b_1.csv": {{"table", "layer", "ρ"}, {"trained", "conv2", "0.85"}},
		"fig_b_2.csv": {{"table", "layer", "ρ"}, {"untrained", "conv2", "0.90"}},
	}
	for name, rows := range want {
		if got := read(name); !slices.EqualFunc(got, rows, slices.Equal) {
			t.Errorf("%s: %q, want %q", name, got, rows)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != len(want) {
		t.Errorf("%d files, want %d (none for sections without a figure or tables)", len(ents), len(want))
	}
}
