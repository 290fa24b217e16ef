// Package pipeline turns an experiment file into results: it loads the
// file, plans every stage's cache key, decides what must run, runs it into
// the cache, and publishes the results. Each step is one concern:
//
//   - Load (load.go, yaml_load.go, interp.go, params.go, set_load.go):
//     the YAML file, --set overrides and --name runs (runname.go) become an
//     Experiment — every matrix expanded, every ${…} resolved, every
//     stage's parameters decoded into its kind's struct and checked, every
//     input slot wired and checked against what the upstream kind produces.
//     All problems are reported at once as file:line:col; nothing is
//     written.
//   - Plan (plan.go, key.go, graph.go): each stage's key, a SHA-256 over
//     its kind, code version, canonical parameters, the digests of the
//     files it names and its inputs' names, labels and keys. Keys depend on
//     nothing about the run or the machine, so the plan is known before
//     anything runs.
//   - Decide (Decision in plan.go, Status in runner.go): for each stage, cached or
//     why it will run (never run, params changed, input changed, code
//     version changed, entry damaged…), explained against the lock file.
//   - Run (runner.go): the stages in dependency order, up to -j at once;
//     each stage's kind computes into a cache transaction (compute.go;
//     package cache: atomic, locked per key, checked on use). A failure
//     stops only what depends on it. With the Slurm executor (cluster.go,
//     executor.go; package slurm) the stages become cluster jobs, each
//     running Work (worker.go) on one stage into the shared cache.
//   - Publish (results.go, lockfile.go): the results folder gets relative
//     links into the cache (recorded, so that the runner only ever removes
//     what it made), and the lock file records every stage's key,
//     parameters and output digests.
//
// Around these: GC (gc.go) removes the entries no experiment keeps; Verify
// (verify.go) regenerates an experiment from an empty cache and compares it
// with its committed lock file; DescribeParams (describe.go) lists a kind's
// parameters; Render (render.go) draws the stage graph; packages compare
// and export read results back for people and other tools.
package pipeline
