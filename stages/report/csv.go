package report

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// csvFiles are the names of the CSV files beside a figure: <figure>.csv for
// its one table, or <figure>_<k>.csv for the k-th (1-based) of several.
func csvFiles(s section) []string {
	if s.file == "" || len(s.tables) == 0 {
		return nil
	}
	base := strings.TrimSuffix(s.file, filepath.Ext(s.file))
	if len(s.tables) == 1 {
		return []string{base + ".csv"}
	}
	names := make([]string, len(s.tables))
	for k := range s.tables {
		names[k] = fmt.Sprintf("%s_%d.csv", base, k+1)
	}
	return names
}

// writeCSVs writes the tables of a figure's section as CSV beside it: the
// numbers the figure plots, as report.md shows them, with a first column
// "table" holding the table's title when it has one.
func writeCSVs(dir string, s section) error {
	for k, name := range csvFiles(s) {
		t := s.tables[k]
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		w := csv.NewWriter(f)
		lead := func(v string, row []string) []string {
			if t.title == "" {
				return row
			}
			return append([]string{v}, row...)
		}
		w.Write(lead("table", t.header))
		for _, r := range t.rows {
			w.Write(lead(t.title, r))
		}
		w.Flush()
		if err := w.Error(); err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}
