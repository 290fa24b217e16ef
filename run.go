// Command selectivity runs declarative experiments on the selectivity of
// units and kernels in deep networks: an experiment file (YAML) names
// stages — stimuli, model, extract, aggregate, metric, lesion, correlate,
// decode, report — and the inputs each reads; the runner executes them in
// dependency order, caches every stage's outputs as Arrow files under a
// content hash, and reruns only what changed.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-multierror"
	"golang.org/x/term"

	"selectivity/cache"
	"selectivity/pipeline"
	"selectivity/pipeline/digest"
	"selectivity/pipeline/progress"
	"selectivity/pipeline/slurm"
	"selectivity/stages"
	_ "selectivity/stages/aggregate"
	_ "selectivity/stages/bootstrap"
	_ "selectivity/stages/correlate"
	_ "selectivity/stages/decode"
	_ "selectivity/stages/extract"
	_ "selectivity/stages/lesion"
	_ "selectivity/stages/metric"
	_ "selectivity/stages/model"
	_ "selectivity/stages/permutation"
	_ "selectivity/stages/reliability"
	_ "selectivity/stages/report"
	"selectivity/stages/stimuli"
	_ "selectivity/stages/train"
	_ "selectivity/stages/variants"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailed  = 1 // a stage failed; for status: something would run
	exitBadFile = 2 // bad experiment file, flags or cache
	exitSignal  = 130
)

const usage = `selectivity — which units of a network are face-selective, and does the metric matter?

Usage:
  go run . run EXPERIMENT.yaml [-j N] [--set k=v]... [--name NAME] [--force STAGE|all] [--dry-run] [--verify] [--executor local|slurm] [--detach]
  go run . status EXPERIMENT.yaml [--json] [--verify] [--set k=v]... [--name NAME]
  go run . dag EXPERIMENT.yaml [--format text|dot|mermaid]
  go run . gc EXPERIMENT.yaml... [--dry-run]
  go run . kinds [KIND]
  go run . layers ARCH [--size PX] [--classes N]
  go run . stimuli export EXPERIMENT.yaml --out DIR [--stage STAGE] [--preprocessed]
  go run . compare LOCK|RESULTS|EXPERIMENT.yaml... [--format text|markdown|csv] [--all]
  go run . diff A B
  go run . verify EXPERIMENT.yaml [--tables DIR] [--tolerance X] [--save-tables DIR]
  go run . export EXPERIMENT.yaml --out DIR [--stage STAGE]... [--format csv,parquet,npy] [--set k=v]... [--name NAME]
  selectivity worker EXPERIMENT.yaml --stage STAGE --key KEY [--cache DIR] [--set k=v]... [--name NAME]   (what a Slurm job runs)

Each command takes --help. Experiment files are described in README.md.
`

func main() {
	os.Exit(cli(os.Args[1:], os.Stdout, os.Stderr))
}

// cli runs one command and returns the exit status.
func cli(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitBadFile
	}
	cmds := map[string]func([]string, io.Writer, io.Writer) int{
		"run": cmdRun, "status": cmdStatus, "dag": cmdDag, "gc": cmdGC, "kinds": cmdKinds,
		"stimuli": cmdStimuli, "export": cmdExport, "compare": cmdCompare, "diff": cmdDiff, "verify": cmdVerify, "layers": cmdLayers, "worker": cmdWorker,
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[0], usage)
		return exitBadFile
	}
	return cmd(args[1:], stdout, stderr)
}

// setFlags collects repeated --set k=v.
type setFlags []string

func (s *setFlags) String() string     { return strings.Join(*s, ",") }
func (s *setFlags) Set(v string) error { *s = append(*s, v); return nil }

// parse parses flags that may come before or after the positional
// arguments, returning the positional ones. On --help or a bad flag it
// returns the exit status to end with.
func parse(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) ([]string, int, bool) {
	fs.SetOutput(stderr)
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(stdout)
			fs.Usage()
			return nil, exitOK, false
		}
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, exitBadFile, false
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, exitOK, true
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func newFlagSet(name, synopsis, examples string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: go run . %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
		fmt.Fprintf(fs.Output(), "\nExamples:\n%s", examples)
	}
	return fs
}

// loaded is an experiment with its plan and cache.
type loaded struct {
	exp    *pipeline.Experiment
	plan   *pipeline.Plan
	store  *cache.Store
	hasher *digest.Hasher
}

// load reads, validates and plans one experiment file; it writes nothing.
func load(file string, sets []string, name, cacheDir string) (*loaded, error) {
	if cacheDir == "" {
		cacheDir = os.Getenv("SELECTIVITY_CACHE")
	}
	exp, err := pipeline.Load(file, pipeline.LoadOptions{Set: sets, Name: name, CacheDir: cacheDir})
	if err != nil {
		return nil, err
	}
	h, err := digest.New(filepath.Join(exp.CacheDir, "state.json"))
	if err != nil {
		return nil, err
	}
	plan, err := pipeline.NewPlan(exp, h)
	if err != nil {
		return nil, err
	}
	return &loaded{exp: exp, plan: plan, store: cache.Open(exp.CacheDir), hasher: h}, nil
}

// report prints an error, one problem a line.
func report(stderr io.Writer, err error) {
	var me *multierror.Error
	if errors.As(err, &me) && len(me.Errors) > 0 {
		fmt.Fprintf(stderr, "%s:\n", count(len(me.Errors), "problem", "problems"))
		for _, e := range me.Errors {
			fmt.Fprintf(stderr, "  %s\n", strings.ReplaceAll(e.Error(), "\n", "\n    "))
		}
		return
	}
	fmt.Fprintf(stderr, "error: %v\n", err)
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("run", "run EXPERIMENT.yaml [-j N] [--set k=v]... [--name NAME] [--force STAGE|all] [--dry-run] [--verify] [--executor local|slurm] [--detach]", `  go run . run configs/quickstart.yaml
  go run . run configs/quickstart.yaml -j 1 --set params.seed=3   # results/quickstart/@seed=3
  go run . run configs/quickstart.yaml --set params.seed=3 --name seed3
  go run . run configs/quickstart.yaml --force metric      # every expansion of stage metric
  go run . run configs/quickstart.yaml --dry-run           # say what would run
  ./selectivity run configs/study.yaml --executor slurm    # every stage a Slurm job; the cache on a shared filesystem
  ./selectivity run configs/study.yaml --executor slurm --detach   # submit and return; run again to attach
`)
	jobs := fs.Int("j", runtime.NumCPU(), "stages to run at once")
	var sets, force setFlags
	fs.Var(&sets, "set", "override a parameter: params.NAME=VALUE, +params.NAME=VALUE (add one) or stages.STAGE.params.NAME=VALUE (repeatable)")
	fs.Var(&force, "force", "recompute STAGE (full or base name) even if cached, or all (repeatable)")
	name := fs.String("name", "", "name this run: results in <results>/@NAME, lock <experiment>@NAME.lock (default with --set: named by the overrides)")
	dry := fs.Bool("dry-run", false, "decide every stage, run nothing, write nothing")
	verify := fs.Bool("verify", false, "re-hash every cached file before trusting it (slow for large caches)")
	cacheDir := fs.String("cache", "", "cache folder (default: $SELECTIVITY_CACHE, else the file's cache:)")
	executor := fs.String("executor", "", "where stages run: local, or slurm (jobs on the cluster; default: the file's executor:, else local)")
	detach := fs.Bool("detach", false, "with --executor slurm: return once the jobs are queued; run again to attach")
	pos, code, ok := parse(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	if *executor != "" && *executor != "local" && *executor != "slurm" {
		fmt.Fprintf(stderr, "--executor %s: want local or slurm\n", *executor)
		return exitBadFile
	}
	if *jobs < 1 {
		fmt.Fprintf(stderr, "-j %d: want at least 1\n", *jobs)
		return exitBadFile
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "want one experiment file, got %d arguments: %s\n\n", len(pos), strings.Join(pos, " "))
		fs.Usage()
		return exitBadFile
	}
	l, err := load(pos[0], sets, *name, *cacheDir)
	if err != nil {
		report(stderr, err)
		return exitBadFile
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { // after the first Ctrl-C, a second one ends the process at once
		<-ctx.Done()
		stop()
	}()
	isTerm := false
	if f, ok := stderr.(*os.File); ok {
		isTerm = term.IsTerminal(int(f.Fd()))
	}
	opts := pipeline.RunOptions{Jobs: *jobs, Force: force, DryRun: *dry, Verify: *verify, Platform: platform()}
	if *executor == "" {
		*executor = l.exp.Executor.Kind
	}
	switch {
	case *executor == "slurm":
		if opts.Slurm, err = slurmOptions(l, sets, *name, *detach); err != nil {
			report(stderr, err)
			return exitBadFile
		}
		if err := l.hasher.Save(); err != nil { // the jobs then need not hash the files again
			fmt.Fprintf(stderr, "warning: file digest memo not saved: %v\n", err)
		}
	case *detach:
		fmt.Fprintln(stderr, "--detach: only with --executor slurm")
		return exitBadFile
	}
	rep := progress.New(stderr, isTerm, 10*time.Second)
	opts.Progress = rep
	start := time.Now()
	out, err := pipeline.Run(ctx, l.plan, l.store, opts)
	rep.Close()
	if out == nil && err != nil { // nothing ran: a bad flag or lock file
		report(stderr, err)
		return exitBadFile
	}
	if !*dry {
		if serr := l.hasher.Save(); serr != nil {
			fmt.Fprintf(stderr, "warning: file digest memo not saved: %v\n", serr)
		}
	}
	counts := map[string]int{}
	for _, o := range out {
		counts[o.State]++
	}
	var parts []string
	for _, s := range []string{"ran", "cached", "would run", "queued", "failed", "cancelled", "skipped"} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	fmt.Fprintf(stderr, "%s: %s in %.2fs\n", count(len(out), "stage", "stages"), strings.Join(parts, ", "), time.Since(start).Seconds())
	if err != nil {
		report(stderr, err)
		if ctx.Err() != nil {
			return exitSignal
		}
		return exitFailed
	}
	if counts["queued"] > 0 {
		fmt.Fprintf(stderr, "detached: %s on the cluster; `status` shows them, `run` again with the same flags attaches and publishes\n", count(counts["queued"], "stage", "stages"))
	}
	if !*dry {
		if l.exp.Run != "" {
			fmt.Fprintf(stderr, "run: %s\n", l.exp.Run)
		}
		fmt.Fprintf(stderr, "results: %s\nlock file: %s\n", relToWD(l.exp.ResultsDir), relToWD(l.exp.LockFile))
	}
	return exitOK
}

func relToWD(p string) string {
	if wd, err := os.Getwd(); err == nil {
		if r, err := filepath.Rel(wd, p); err == nil && filepath.IsLocal(r) {
			return r
		}
	}
	return p
}

func cmdStatus(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("status", "status EXPERIMENT.yaml [--json] [--verify] [--set k=v]... [--name NAME]", `  go run . status configs/quickstart.yaml
  go run . status configs/quickstart.yaml --set params.seed=3   # what would a sweep point rerun?
  go run . status configs/quickstart.yaml --verify --json      # re-hash every cached file

Exit status: 0 all cached and shown in the results folder, 1 something would run or
the results folder or lock file show another run (stale), 2 bad file. status writes nothing.
`)
	asJSON := fs.Bool("json", false, "print JSON")
	verify := fs.Bool("verify", false, "re-hash every cached file instead of the cheap check")
	var sets setFlags
	fs.Var(&sets, "set", "override a parameter, as for run (repeatable)")
	name := fs.String("name", "", "the run to check, as for run")
	cacheDir := fs.String("cache", "", "cache folder")
	pos, code, ok := parse(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fs.Usage()
		return exitBadFile
	}
	l, err := load(pos[0], sets, *name, *cacheDir)
	if err != nil {
		report(stderr, err)
		return exitBadFile
	}
	ds, err := pipeline.Status(l.plan, l.store, *verify)
	if err != nil { // the lock file: reasons are vaguer, decisions stand
		fmt.Fprintf(stderr, "warning: %v\n", err)
	}
	jobs, err := l.plan.Jobs(context.Background(), l.store, slurm.New())
	if err != nil {
		fmt.Fprintf(stderr, "warning: stages submitted to Slurm, whose states are unknown: %v\n", err)
	}
	for i := range ds {
		if j, ok := jobs[ds[i].Stage]; ok && !ds[i].Cached {
			ds[i].Job = &j
		}
	}
	code = exitOK
	stale := 0
	for _, d := range ds {
		if !d.Cached && !d.NotNeeded || d.Stale != "" {
			code = exitFailed
		}
		if d.Stale != "" {
			stale++
		}
	}
	if stale > 0 {
		fmt.Fprintf(stderr, "%s and %s show another run than the one asked about for %s; `run` relinks them\n",
			relToWD(l.exp.ResultsDir), relToWD(l.exp.LockFile), count(stale, "stage", "stages"))
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(struct {
			Experiment string              `json:"experiment"`
			Stages     []pipeline.Decision `json:"stages"`
			Run        string              `json:"run,omitempty"`
			Results    string              `json:"results"`
			LockFile   string              `json:"lock_file"`
		}{l.exp.Name, ds, l.exp.Run, l.exp.ResultsDir, l.exp.LockFile})
		return code
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, d := range ds {
		state, reason := "cached", ""
		switch {
		case d.Job != nil:
			state, reason = strings.ToLower(d.Job.Name), "slurm job "+d.Job.ID
			if d.Job.Node != "" {
				reason += " on " + d.Job.Node
			}
			if d.Job.Reason != "" {
				reason += " (" + d.Job.Reason + ")"
			}
		case d.NotNeeded:
			state, reason = "not needed", d.Reason
		case !d.Cached:
			state, reason = "will run", d.Reason
		case d.Stale != "":
			state, reason = "stale", d.Stale
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.Stage, state, d.Key[:12], reason)
	}
	tw.Flush()
	return code
}

func cmdDag(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("dag", "dag EXPERIMENT.yaml [--format text|dot|mermaid]", `  go run . dag configs/quickstart.yaml
  go run . dag configs/quickstart.yaml --format dot | dot -Tpng > dag.png
  go run . dag configs/quickstart.yaml --format mermaid >> notes.md
`)
	format := fs.String("format", "text", "text, dot or mermaid")
	var sets setFlags
	fs.Var(&sets, "set", "override a parameter, as for run (repeatable)")
	pos, code, ok := parse(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fs.Usage()
		return exitBadFile
	}
	exp, err := pipeline.Load(pos[0], pipeline.LoadOptions{Set: sets, SkipFileChecks: true})
	if err != nil {
		report(stderr, err)
		return exitBadFile
	}
	if err := pipeline.Render(stdout, exp, *format); err != nil {
		report(stderr, err)
		return exitBadFile
	}
	return exitOK
}

func cmdGC(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("gc", "gc EXPERIMENT.yaml... [--dry-run]", `  go run . gc configs/quickstart.yaml configs/study.yaml
  go run . gc configs/*.yaml --dry-run

Removes every cache entry that none of the named experiments uses — as they
are now, and as their lock files record their last run — and the debris of
interrupted runs. Name every experiment that shares the cache. gc refuses to
run while a run uses the cache.
`)
	dry := fs.Bool("dry-run", false, "say what would be removed, remove nothing")
	cacheDir := fs.String("cache", "", "cache folder")
	pos, code, ok := parse(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) == 0 {
		fs.Usage()
		return exitBadFile
	}
	var plans []*pipeline.Plan
	for _, file := range pos {
		l, err := load(file, nil, "", *cacheDir)
		if err != nil {
			report(stderr, err)
			return exitBadFile
		}
		plans = append(plans, l.plan)
	}
	r, err := pipeline.GC(plans, *dry)
	if errors.Is(err, pipeline.ErrCacheInUse) {
		fmt.Fprintf(stderr, "%v\n", err)
		return exitFailed
	}
	if err != nil {
		report(stderr, err)
		return exitFailed
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	verb := "removed"
	if *dry {
		verb = "would remove"
		for _, e := range r.Entries {
			fmt.Fprintf(stdout, "would remove %s (%s)\n", e.Key[:12], bytesHuman(e.Bytes))
		}
	}
	fmt.Fprintf(stdout, "%s %s, %s\n", verb, count(len(r.Entries), "entry", "entries"), bytesHuman(r.Bytes))
	return exitOK
}

// count writes n with the singular or plural noun: "1 problem", "2 problems".
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func bytesHuman(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func cmdKinds(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("kinds", "kinds [KIND]", `  go run . kinds           # every stage kind
  go run . kinds metric    # its inputs and parameters with defaults
`)
	pos, code, ok := parse(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) > 1 {
		fmt.Fprintln(stderr, "kinds takes at most one kind")
		return exitBadFile
	}
	if len(pos) == 0 {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		for _, name := range stages.Names() {
			k, _ := stages.Lookup(name)
			fmt.Fprintf(tw, "%s\t%s\n", name, k.Doc())
		}
		tw.Flush()
		return exitOK
	}
	for _, name := range pos {
		k, ok := stages.Lookup(name)
		if !ok {
			fmt.Fprintf(stderr, "unknown kind %q; known: %s\n", name, strings.Join(stages.Names(), ", "))
			return exitBadFile
		}
		fmt.Fprintf(stdout, "%s (version %s): %s\n", k.Name(), k.Version(), k.Doc())
		if len(k.Inputs()) > 0 {
			fmt.Fprintln(stdout, "inputs:")
			for _, s := range k.Inputs() {
				req := "optional"
				if s.Required {
					req = "required"
				}
				if s.Many {
					req += ", any number"
				}
				if len(s.Accepts) > 0 {
					req += "; reads " + strings.Join(s.Accepts, " or ")
				}
				fmt.Fprintf(stdout, "  %s (%s): %s\n", s.Name, req, s.Doc)
			}
		}
		fmt.Fprintln(stdout, "params (defaults):")
		b, _ := pipeline.DescribeParams(k.NewParams())
		fmt.Fprint(stdout, b)
	}
	return exitOK
}

func cmdStimuli(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("stimuli export", "stimuli export EXPERIMENT.yaml --out DIR [--stage STAGE] [--preprocessed] [--set k=v]...", `  go run . stimuli export configs/quickstart.yaml --stage stim --out /tmp/stimuli
  go run . stimuli export configs/quickstart.yaml --stage faces --out /tmp/seen --preprocessed   # as the network sees them

Writes the stimuli of a stimuli stage as PNG folders (<category>/<category>-<n>.png,
or <identity>/<n>.png for identity sets) so that people can look at them.
`)
	out := fs.String("out", "", "folder to write (must not exist or be empty)")
	stage := fs.String("stage", "", "the stimuli stage (default: the experiment's only one)")
	pre := fs.Bool("preprocessed", false, "write the resized, cropped images the network sees")
	var sets setFlags
	fs.Var(&sets, "set", "override a parameter, as for run (repeatable)")
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		args = []string{"export", "--help"}
	}
	if len(args) == 0 || args[0] != "export" {
		fmt.Fprintln(stderr, "want: stimuli export EXPERIMENT.yaml --out DIR (see stimuli export --help)")
		return exitBadFile
	}
	pos, code, ok := parse(fs, args[1:], stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) != 1 || *out == "" {
		fs.Usage()
		return exitBadFile
	}
	exp, err := pipeline.Load(pos[0], pipeline.LoadOptions{Set: sets})
	if err != nil {
		report(stderr, err)
		return exitBadFile
	}
	var found []*pipeline.Stage
	for _, st := range exp.Stages {
		if st.Kind.Name() == "stimuli" && (*stage == "" || st.Name == *stage) {
			found = append(found, st)
		}
	}
	if len(found) != 1 {
		var names []string
		for _, st := range exp.Stages {
			if st.Kind.Name() == "stimuli" {
				names = append(names, st.Name)
			}
		}
		if *stage != "" {
			fmt.Fprintf(stderr, "%s: no stimuli stage %q; stimuli stages: %s\n", pos[0], *stage, strings.Join(names, ", "))
		} else {
			fmt.Fprintf(stderr, "%s: %d stimuli stages (%s); name one with --stage\n", pos[0], len(names), strings.Join(names, ", "))
		}
		return exitBadFile
	}
	if ents, err := os.ReadDir(*out); err == nil && len(ents) > 0 {
		fmt.Fprintf(stderr, "--out %s: folder is not empty; nothing written\n", *out)
		return exitBadFile
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := stimuli.Export(ctx, found[0].Params.(*stimuli.Params), *out, stimuli.ExportOptions{
		Preprocessed: *pre,
		Logf:         func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) },
	})
	if err != nil {
		report(stderr, err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "wrote %d images to %s\n", n, *out)
	return exitOK
}
