package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"selectivity/cache"
	"selectivity/pipeline"
	"selectivity/pipeline/export"
)

func cmdExport(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("export", "export EXPERIMENT.yaml --out DIR [--stage STAGE]... [--format csv,parquet,npy] [--set k=v]... [--name NAME]", `  go run . export configs/quickstart.yaml --stage kernel-metrics --out /tmp/metrics
  go run . export configs/quickstart.yaml --stage extract --format npy --out /tmp/acts
  go run . export configs/quickstart.yaml --out /tmp/all --set params.seed=3   # every stage of that run

Writes each named stage's cached outputs into DIR/<stage>/: tables as CSV and
Parquet, activation matrices as NumPy .npy (rows × units, float32), other files
(figures, reports) copied as real files. A base name exports every expansion.
The stages must be cached: run the experiment first.
`)
	out := fs.String("out", "", "folder to write (must not exist or be empty)")
	var only, sets setFlags
	fs.Var(&only, "stage", "stage to export, full or base name (repeatable; default every stage)")
	format := fs.String("format", strings.Join(export.Formats, ","), "formats to write, comma-separated: csv, parquet (tables), npy (matrices)")
	fs.Var(&sets, "set", "override a parameter, as for run (repeatable)")
	name := fs.String("name", "", "the run, as for run")
	cacheDir := fs.String("cache", "", "cache folder")
	pos, code, ok := parse(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) != 1 || *out == "" {
		fs.Usage()
		return exitBadFile
	}
	formats := strings.Split(*format, ",")
	for _, f := range formats {
		if !slices.Contains(export.Formats, f) {
			fmt.Fprintf(stderr, "--format %s: unknown format %q; want %s\n", *format, f, strings.Join(export.Formats, ", "))
			return exitBadFile
		}
	}
	l, err := load(pos[0], sets, *name, *cacheDir)
	if err != nil {
		report(stderr, err)
		return exitBadFile
	}
	var nodes []*pipeline.Node
	for _, want := range only {
		n := len(nodes)
		for _, st := range l.exp.Stages {
			if st.Name == want || st.Base == want {
				nodes = append(nodes, l.plan.Node(st.Name))
			}
		}
		if len(nodes) == n {
			fmt.Fprintf(stderr, "--stage %s: no such stage in %s\n", want, pos[0])
			return exitBadFile
		}
	}
	if len(only) == 0 {
		nodes = l.plan.Nodes
	}
	if ents, err := os.ReadDir(*out); err == nil && len(ents) > 0 {
		fmt.Fprintf(stderr, "--out %s: folder is not empty; nothing written\n", *out)
		return exitBadFile
	}
	entries := make([]*cache.Entry, len(nodes))
	for i, n := range nodes { // all or nothing
		if entries[i], err = l.store.Lookup(n.Key); err != nil {
			fmt.Fprintf(stderr, "stage %s is not cached (%v); run %s first; nothing written\n", n.Stage.Name, err, pos[0])
			return exitFailed
		}
	}
	files := 0
	for i, n := range nodes {
		e := entries[i]
		names := make([]string, len(e.Manifest.Files))
		for i, f := range e.Manifest.Files {
			names[i] = f.Name
		}
		written, err := export.Files(e.Dir, names, filepath.Join(*out, n.Stage.Name), formats)
		files += len(written)
		if err != nil {
			fmt.Fprintf(stderr, "stage %s: %v\n", n.Stage.Name, err)
			return exitFailed
		}
	}
	fmt.Fprintf(stdout, "wrote %s for %s to %s\n", count(files, "file", "files"), count(len(nodes), "stage", "stages"), *out)
	return exitOK
}
