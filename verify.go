package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"selectivity/pipeline"
	"selectivity/pipeline/progress"
)

func cmdVerify(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("verify", "verify EXPERIMENT.yaml [--tables DIR] [--tolerance X] [-j N] | verify EXPERIMENT.yaml --save-tables DIR", `  go run . verify configs/quickstart.yaml --tables configs/quickstart.tables
  go run . verify configs/quickstart.yaml --save-tables configs/quickstart.tables   # after a run

Runs the experiment from an empty cache in a temporary folder and compares every
stage's key and every output's SHA-256 with the committed lock file; an output
whose digest differs is compared number by number with its committed copy under
--tables, if it has one, within --tolerance (relative). Exit 0 when everything
agrees, 1 on a difference (each is named), 2 on a bad file or flag.
--save-tables copies the last run's small tables (up to --max-bytes each) for that.
`)
	tables := fs.String("tables", "", "folder of committed tables (<stage>/<file>) for outputs whose digests differ")
	save := fs.String("save-tables", "", "instead of verifying: copy the last run's small tables into this folder")
	maxBytes := fs.Int64("max-bytes", 64<<10, "with --save-tables: the largest table copied")
	tol := fs.Float64("tolerance", 1e-6, "largest relative deviation of a float in a committed table")
	jobs := fs.Int("j", runtime.NumCPU(), "stages to run at once")
	pos, code, ok := parse(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) != 1 || *jobs < 1 || *tol < 0 {
		fs.Usage()
		return exitBadFile
	}
	l, err := load(pos[0], nil, "", "")
	if err != nil {
		report(stderr, err)
		return exitBadFile
	}
	if *save != "" {
		n, err := pipeline.SaveTables(l.exp, l.store, *save, *maxBytes)
		if err != nil {
			report(stderr, err)
			return exitFailed
		}
		fmt.Fprintf(stdout, "%d tables of %s's last run in %s\n", n, l.exp.Name, *save)
		return exitOK
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep := progress.New(stderr, false, 10*time.Second)
	start := time.Now()
	r, err := pipeline.Verify(ctx, l.exp, pipeline.VerifyOptions{Jobs: *jobs, Tables: *tables, Tolerance: *tol, Progress: rep})
	rep.Close()
	if err != nil {
		report(stderr, err)
		if ctx.Err() != nil {
			return exitSignal
		}
		return exitFailed
	}
	for _, d := range r.Close {
		fmt.Fprintf(stdout, "close     %s\n", d)
	}
	for _, d := range r.Volatile {
		fmt.Fprintf(stdout, "volatile  %s\n", d)
	}
	for _, d := range r.Differences {
		fmt.Fprintf(stdout, "DIFFERS   %s\n", d)
	}
	verdict := "regenerated identically"
	switch {
	case !r.OK():
		verdict = fmt.Sprintf("%s differ", count(len(r.Differences), "output or stage", "outputs or stages"))
	case len(r.Close) > 0:
		verdict = fmt.Sprintf("regenerated; %s within %.3g relative (largest %.3g)", count(len(r.Close), "table", "tables"), *tol, r.MaxDeviation)
	}
	fmt.Fprintf(stdout, "verify %s: %d stages, %d files against %s: %s (%.1fs)\n", l.exp.Name, r.Stages, r.Files, relToWD(l.exp.LockFile), verdict, time.Since(start).Seconds())
	if !r.OK() {
		return exitFailed
	}
	return exitOK
}
