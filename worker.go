package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"selectivity/pipeline"
	"selectivity/pipeline/progress"
	"selectivity/pipeline/slurm"
)

// slurmOptions are run --executor slurm's: this program, copied for the
// jobs, and the worker arguments that name the same run of the same file.
func slurmOptions(l *loaded, sets []string, name string, detach bool) (*pipeline.SlurmOptions, error) {
	prog, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("--executor slurm: finding this program to copy for the jobs: %w", err)
	}
	file, err := filepath.Abs(l.exp.File)
	if err != nil {
		return nil, err
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	args := []string{file}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	if name != "" {
		args = append(args, "--name", name)
	}
	return &pipeline.SlurmOptions{Client: slurm.New(), Program: prog, Worker: args, Chdir: wd, Detach: detach}, nil
}

func cmdWorker(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("worker", "worker EXPERIMENT.yaml --stage STAGE --key KEY [--cache DIR] [--set k=v]... [--name NAME] [--force]", `  (run by the Slurm jobs that run --executor slurm submits; see README.md)

Computes one stage into the cache, as run does, if its key is still KEY.
Exit status: 0 computed, found cached, or skipped because an input is
missing; 1 the stage failed; 2 bad file or flags; 130 interrupted.
`)
	stage := fs.String("stage", "", "the stage (full name)")
	key := fs.String("key", "", "the key the driver planned for it")
	cacheDir := fs.String("cache", "", "cache folder")
	name := fs.String("name", "", "the run, as for run")
	force := fs.Bool("force", false, "recompute even if cached")
	var sets setFlags
	fs.Var(&sets, "set", "override a parameter, as for run (repeatable)")
	pos, code, ok := parse(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) != 1 || *stage == "" || *key == "" {
		fs.Usage()
		return exitBadFile
	}
	// Slurm allots cores without confining the process to them (task/none).
	if n, err := strconv.Atoi(os.Getenv("SLURM_CPUS_PER_TASK")); err == nil && n > 0 {
		runtime.GOMAXPROCS(n)
	}
	l, err := load(pos[0], sets, *name, *cacheDir)
	if err != nil {
		report(stderr, err)
		return exitBadFile
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep := progress.New(stderr, false, 30*time.Second)
	start := time.Now()
	o, skipped, err := pipeline.Work(ctx, l.plan, l.store, *stage, *key, *force, pipeline.RunOptions{Progress: rep, Platform: platform()})
	rep.Close()
	switch {
	case err != nil && ctx.Err() != nil:
		fmt.Fprintf(stderr, "selectivity worker: %s: interrupted\n", *stage)
		return exitSignal
	case err != nil:
		report(stderr, err)
		return exitFailed
	case skipped != "":
		fmt.Fprintf(stderr, "%s%s\n", slurm.Skipped, skipped)
		return exitOK
	}
	fmt.Fprintf(stderr, "selectivity worker: %s %s in %.2fs on %s (%d threads)\n", *stage, o.State, time.Since(start).Seconds(), platform(), runtime.GOMAXPROCS(0))
	return exitOK
}
