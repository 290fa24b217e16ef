package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"selectivity/pipeline"
	"selectivity/pipeline/compare"
)

// loadRuns reads the runs that args name: lock files, results folders, or
// experiment files (the file's run and every run with --set or --name).
func loadRuns(args []string) ([]*compare.Run, error) {
	var runs []*compare.Run
	for _, a := range args {
		paths := []string{a}
		if ext := filepath.Ext(a); ext == ".yaml" || ext == ".yml" {
			exp, err := pipeline.Load(a, pipeline.LoadOptions{SkipFileChecks: true})
			if err != nil {
				return nil, err
			}
			names, err := pipeline.RunNames(exp)
			if err != nil {
				return nil, err
			}
			paths = nil
			if _, err := os.Stat(exp.LockFile); err == nil { // the file as written may never have run
				paths = append(paths, exp.LockFile)
			}
			for _, n := range names {
				paths = append(paths, exp.WithRun(n).LockFile)
			}
			if len(paths) == 0 {
				return nil, fmt.Errorf("%s: no lock file of any run beside it; run it first", a)
			}
		}
		for _, p := range paths {
			r, err := compare.Load(p)
			if err != nil {
				return nil, err
			}
			runs = append(runs, r)
		}
	}
	seen := map[string]int{} // the same label twice: number them
	for _, r := range runs {
		seen[r.Label]++
	}
	n := map[string]int{}
	for _, r := range runs {
		if seen[r.Label] > 1 {
			n[r.Label]++
			r.Label = fmt.Sprintf("%s#%d", r.Label, n[r.Label])
		}
	}
	return runs, nil
}

func cmdCompare(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("compare", "compare LOCK|RESULTS|EXPERIMENT.yaml... [--format text|markdown|csv] [--all]", `  go run . compare configs/quickstart.yaml            # the file's run and every --set/--name run
  go run . compare configs/quickstart.lock 'configs/quickstart@seed=3.lock'
  go run . compare results/quickstart results/quickstart/@seed=3 --format markdown

Shows the parameters that differ between the runs and their headline numbers:
% selected per layer and metric, mean inter-metric consistency, lesion rho,
decoding accuracy.
`)
	format := fs.String("format", "text", strings.Join(compare.Formats, ", "))
	all := fs.Bool("all", false, "show the parameters the runs share too")
	pos, code, ok := parse(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) == 0 || !slices.Contains(compare.Formats, *format) {
		fs.Usage()
		return exitBadFile
	}
	runs, err := loadRuns(pos)
	if err != nil {
		report(stderr, err)
		return exitBadFile
	}
	if err := compare.Side(runs, *all).Write(stdout, *format); err != nil {
		report(stderr, err)
		return exitFailed
	}
	return exitOK
}

func cmdDiff(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("diff", "diff A B", `  go run . diff configs/quickstart.lock 'configs/quickstart@seed=3.lock'
  go run . diff results/quickstart results/quickstart/@seed=3

A and B are lock files or results folders. Names every parameter and every
headline number that differs, old → new. Exit 0 when nothing differs, 1 when
something does, 2 on a bad argument.
`)
	pos, code, ok := parse(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) != 2 {
		fs.Usage()
		return exitBadFile
	}
	runs, err := loadRuns(pos)
	if err != nil {
		report(stderr, err)
		return exitBadFile
	}
	if len(runs) != 2 {
		fmt.Fprintf(stderr, "want two runs, got %d; name lock files or results folders\n", len(runs))
		return exitBadFile
	}
	params, numbers := compare.Diff(runs[0], runs[1])
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, c := range params {
		fmt.Fprintf(tw, "param\t%s\t%s → %s\n", c.Name, c.From, c.To)
	}
	for _, c := range numbers {
		delta := ""
		if !math.IsNaN(c.Delta) {
			delta = fmt.Sprintf("(%+g)", c.Delta)
		}
		fmt.Fprintf(tw, "number\t%s\t%s → %s\t%s\n", c.Name, c.From, c.To, delta)
	}
	tw.Flush()
	if len(params)+len(numbers) > 0 {
		fmt.Fprintf(stderr, "%s: %s and %s changed\n", runs[0].Label+" → "+runs[1].Label,
			count(len(params), "parameter", "parameters"), count(len(numbers), "number", "numbers"))
		return exitFailed
	}
	return exitOK
}
