// Package study computes the face-selectivity metrics of analyses.md on
// the layers of an extract or aggregate stage: the metric kind's tables
// (Run; the metric kind's package doc specifies them) and, through Study,
// the same per-item code under other designs of the images, for the
// permutation, reliability, bootstrap and variants kinds.
//
// # Streaming
//
// A layer is processed in chunks of chunk_units items (default: ~256 MiB
// of float64 scratch at the input's image count). For a chunk, the column
// block of every image row is read — with pread at the row's place in the
// memory-mapped file (data.FileOffsets), so that the page cache does
// not enter the process's resident set, or else copied from the mapping;
// a compressed layer is first decompressed into a temporary uncompressed
// copy, read so and removed after the layer —
// converted to float64 and transposed into item-major scratch by parallel
// workers, which then compute the items, each with its own stats.Scratch.
// Per item only the outputs are kept, plus for the t-test one p-value per
// comparison (8 bytes per item and comparison), since the FDR correction
// needs all of a layer's p-values: it is applied once per comparison
// across the whole layer, after the last chunk. Memory is therefore the
// chunk plus O(items) outputs, never the layer's activations; the results
// do not depend on chunk_units, which therefore stays out of the cache key.
//
// # Other designs
//
// Study (study.go) runs the same per-item code under other designs of the
// same images — the labels permuted (the permutation kind), a subset of the
// images (the reliability kind) — computing a batch of designs per pass
// over a layer's file, each item under every design of the batch while its
// responses are in cache. With several designs, the rank-sum tests sort an
// item's responses once and pick each design's P and N from that order
// (the same results as sorting them apiece).
package study

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"

	"selectivity/stages"
	"selectivity/stages/internal/data"
)

// ChunkBytes is the float64 scratch a chunk uses by default.
const ChunkBytes = 256 << 20

// Params are the metric kind's parameters; the defaults are analyses.md's.
type Params struct {
	Metrics          []string `yaml:"metrics" oneof:"fsi dprime wilcoxon ttest" doc:"metrics to compute"`
	Preferred        string   `yaml:"preferred" doc:"preferred domain, or category if no domain has this name"`
	FSIThreshold     float64  `yaml:"fsi_threshold" min:"-1" max:"1" doc:"FSI selects items above this"`
	DPrimeThreshold  float64  `yaml:"dprime_threshold" doc:"d′ selects items above this"`
	DDof             int      `yaml:"ddof" min:"0" max:"1" doc:"delta degrees of freedom of d′'s variances (0: numpy's default)"`
	WilcoxonTest     string   `yaml:"wilcoxon_test" oneof:"mannwhitneyu ranksums per_category" doc:"rank-sum variant"`
	Alpha            float64  `yaml:"alpha" min:"0" max:"1" doc:"rank-sum test selects items with p below this"`
	TTest            string   `yaml:"ttest" oneof:"student welch" doc:"t-test variant (pooled or unequal variances)"`
	FDR              string   `yaml:"fdr" oneof:"bh by" doc:"false-discovery-rate procedure of the t-tests (Benjamini–Hochberg or –Yekutieli)"`
	Q                float64  `yaml:"q" min:"0" max:"1" doc:"false-discovery rate of the t-tests"`
	Compare          string   `yaml:"compare" oneof:"domains categories" doc:"t-test comparison groups: the other domains or the other categories"`
	IncludeScrambled bool     `yaml:"include_scrambled" doc:"count scrambled images among the non-preferred"`
	Layers           []string `yaml:"layers" doc:"layers to measure (default: every layer of the input)"`
	ChunkUnits       int      `yaml:"chunk_units" min:"0" key:"-" doc:"items per streamed chunk (0: about 256 MiB of float64 scratch)"`
}

// Validate checks what the tags cannot.
func (p *Params) Validate() []stages.FieldError {
	var errs []stages.FieldError
	add := func(f, format string, args ...any) {
		errs = append(errs, stages.FieldError{Field: f, Msg: fmt.Sprintf(format, args...)})
	}
	if len(p.Metrics) == 0 {
		add("metrics", "name at least one metric")
	}
	for i, m := range p.Metrics {
		if slices.Contains(p.Metrics[:i], m) {
			add(fmt.Sprintf("metrics[%d]", i), "metric %q is listed twice", m)
		}
	}
	for i, l := range p.Layers {
		if slices.Contains(p.Layers[:i], l) {
			add(fmt.Sprintf("layers[%d]", i), "layer %q is listed twice", l)
		}
	}
	if p.Preferred == "" {
		add("preferred", "must not be empty")
	}
	if !(p.Alpha > 0) {
		add("alpha", "must be above 0")
	}
	if !(p.Q > 0) {
		add("q", "must be above 0")
	}
	if math.IsNaN(p.DPrimeThreshold) {
		add("dprime_threshold", "must be a number")
	}
	return errs
}

func (p *Params) has(metric string) bool { return slices.Contains(p.Metrics, metric) }

// Requested lists the metrics p computes, in data.Metrics' order.
func (p *Params) Requested() []string {
	var out []string
	for _, m := range data.Metrics {
		if p.has(m) {
			out = append(out, m)
		}
	}
	return out
}

// ActsSlot is the input of the kinds that compute the metrics on a layer
// (metric and the kinds built on Study): one extract or aggregate stage.
var ActsSlot = stages.Slot{Name: "acts", Required: true, Accepts: []string{stages.UnitActivations, stages.KernelActivations}, Doc: "an extract stage (unit level) or an aggregate stage (kernel level)"}

// Defaults returns new parameters set to the defaults (analyses.md's), for
// kinds that compute the metrics under other designs.
func Defaults() *Params {
	return &Params{
		Metrics:         slices.Clone(data.Metrics),
		Preferred:       "faces",
		FSIThreshold:    0.3,
		DPrimeThreshold: 0.65,
		WilcoxonTest:    "mannwhitneyu",
		Alpha:           0.001,
		TTest:           "student",
		FDR:             "bh",
		Q:               0.05,
		Compare:         "domains",
	}
}

// Run computes the metric kind's outputs for job: the metrics of every
// selected layer, one table per layer, and the summary.
func Run(ctx context.Context, job *stages.Job) error {
	p := job.Params.(*Params)
	st, err := OpenJob(job, p)
	if err != nil {
		return fmt.Errorf("metric: %w", err)
	}
	for _, l := range st.Layers {
		if l.Name+".arrow" == data.MetricSummaryFile {
			return fmt.Errorf("metric: input %s: a layer named %q would overwrite %s", st.Stage, l.Name, data.MetricSummaryFile)
		}
	}
	var sum summary
	for _, l := range st.Layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := st.Compute(ctx, job, l, []*View{st.Identity()}, func(_ int, res *Result) error {
			if err := res.write(job.Output(l.Name+".arrow"), st.d, p); err != nil {
				return err
			}
			sum.add(res, p)
			if job.Logf != nil {
				job.Logf("%s", res.line(p))
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("metric: input %s: layer %s: %w", st.Stage, l.Name, err)
		}
	}
	if err := sum.write(job.Output(data.MetricSummaryFile), st.Stage, p); err != nil {
		return fmt.Errorf("metric: %w", err)
	}
	return nil
}

// workers is how many goroutines compute items.
func workers() int { return runtime.GOMAXPROCS(0) }

// chunkItems is the number of items per chunk for m images.
func chunkItems(p *Params, m, items int) int {
	k := p.ChunkUnits
	if k <= 0 {
		k = max(1, ChunkBytes/(8*max(m, 1)))
	}
	return max(1, min(k, items))
}

// line is a one-line account of a layer's results for the log.
func (r *Result) line(p *Params) string {
	parts := make([]string, 0, len(data.Metrics))
	for _, m := range data.Metrics {
		if p.has(m) {
			k := r.selectedCount(m)
			parts = append(parts, fmt.Sprintf("%s %d (%.2f%%)", m, k, data.Percent(k, r.items)))
		}
	}
	return fmt.Sprintf("%s (%s, %d items): %s selected", r.layer.Name, r.level(), r.items, strings.Join(parts, ", "))
}
