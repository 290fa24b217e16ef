package report

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"selectivity/stages"
)

// provenanceSection says what the report was computed from and where: the
// experiment file and its digest, the run and its overrides, each stage
// the report depends on with its kind, code version, key and parameters,
// and the Go version, platform and date of the computing run.
func provenanceSection(r *stages.RunInfo) section {
	run := "the file as written"
	if r.Run != "" {
		run = r.Run
		if len(r.Overrides) > 0 {
			run += ", overrides " + strings.Join(r.Overrides, " ")
		}
	}
	t := mdTable{header: []string{"stage", "kind", "version", "key", "parameters"}}
	for _, s := range r.Stages {
		t.rows = append(t.rows, []string{s.Name, s.Kind, "v" + s.Version, s.Key, s.Params})
	}
	return section{
		heading: "Provenance",
		caption: "This report was computed in the run below. Its cache key depends on the stages listed (their kinds, code versions, parameters and input files), not on when or where it was computed: a later run with the same stages reuses it as it is.",
		notes: []string{
			fmt.Sprintf("experiment: %s, file %s, sha256 %s", r.Experiment, r.ExperimentFile, r.ExperimentSHA256),
			"run: " + run,
			strings.TrimSuffix("computed with "+r.GoVersion+" on "+r.Platform, " on "),
			"date: " + r.Date.Format(time.RFC3339),
		},
		tables: []mdTable{t},
	}
}

// dataURIs reads the figures of secs from folder dir as data: URIs, by
// file name, so that report.html needs no other file.
func dataURIs(dir string, secs []section) (map[string]string, error) {
	uris := map[string]string{}
	for _, s := range secs {
		if s.fig == nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, s.file))
		if err != nil {
			return nil, err
		}
		mime := "image/png"
		if strings.HasSuffix(s.file, ".svg") {
			mime = "image/svg+xml"
		}
		uris[s.file] = "data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(b)
	}
	return uris, nil
}
