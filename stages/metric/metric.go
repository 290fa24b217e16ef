// Package metric is the `metric` stage kind: per item (unit or kernel) of
// every layer, the four face-selectivity metrics of analyses.md — FSI, d′,
// the Wilcoxon rank-sum test and the t-test intersection with FDR — each
// with its value, its p-value where there is one, and whether it selects
// the item; and per layer and metric the percentage selected.
//
// # Input
//
// One stage in slot acts: an extract stage (unit-level layers) or an
// aggregate stage (kernel-level layers). Each layer file is an arrowfile
// matrix, rows = images in the order of the stage's images.arrow, columns =
// items; its metadata says the level ("unit" or "kernel") and, at kernel
// level, the aggregation. Other files are ignored.
//
// # Images
//
// The preferred set P is the images whose domain — or, when no domain has
// that name, whose category — is the parameter preferred (faces by
// default). Scrambled images (domain or category "scrambled") are left out
// unless include_scrambled is set or they are P. Every other image is in
// the non-preferred set N. The t-test compares P with each domain of N
// (compare: domains) or each category of N (compare: categories); the
// per-category rank-sum variant compares P with each category of N. When P
// is a category, the rest of its domain is one of the domains of N
// (preferred adult: child, bodies, characters, ...). Groups come in the
// order of first appearance in the image table. An unknown preferred name,
// an empty N, a t-test group (or P) of fewer than two images, or a category
// spread over two domains is an error.
//
// # Metrics (analyses.md; stats holds the reference-matched arithmetic)
//
//   - fsi: stats.FSI; selected when FSI > fsi_threshold (0.3).
//   - dprime: stats.DPrime with ddof (0); selected when d′ > dprime_threshold
//     (0.65).
//   - wilcoxon: wilcoxon_test mannwhitneyu (default; scipy mannwhitneyu
//     greater, asymptotic, tie and continuity corrected) or ranksums (scipy
//     ranksums, greater): value = z, p = its one-sided p, selected when
//     p < alpha (0.001). per_category (Baek et al.): p = the largest
//     two-sided Mann–Whitney p of P against each category of N, selected
//     when p < alpha and P's mean is higher than every category's; its
//     value for ranking is the smallest one-sided (P greater) Mann–Whitney z
//     over those categories, the weakest of the comparisons, as ttest_t is
//     for the t-test (stats offers no z of its own for this test).
//   - ttest: Student's (ttest student) or Welch's (welch) two-sided t-test
//     of P against each comparison group; for each comparison the p-values
//     of all items of the layer are FDR-corrected at q (0.05) by
//     Benjamini–Hochberg (fdr bh) or Benjamini–Yekutieli (by); selected
//     when every comparison is significant with t > 0. Value = the smallest
//     t over the comparisons.
//
// A value of NaN (e.g. NaN activations) is never selected.
//
// # Outputs
//
// Per layer, <layer>.arrow: one row per item, columns item (int64, the
// column of the layer matrix: c·H·W + y·W + x at unit level, c at kernel
// level) and, for each requested metric in the order fsi, dprime,
// wilcoxon, ttest: fsi, fsi_selected; dprime, dprime_selected;
// wilcoxon_z, wilcoxon_p, wilcoxon_selected; ttest_t, ttest_selected and
// ttest_q_<group> (the FDR-adjusted p of each comparison). Schema metadata:
// level, aggregation, layer, shape, preferred and the other parameters that
// shape the results.
//
// summary.arrow: one row per layer × metric: layer, level, aggregation
// ("" at unit level), metric, items (int64), selected (int64), percent
// (float64, 100·selected/items).
//
// # Streaming
//
// A layer is processed in chunks of chunk_units items (default: ~256 MiB
// of float64 scratch at the input's image count). For a chunk, the column
// block of every image row is read — with pread at the row's place in the
// memory-mapped file (aggregate.FileOffsets), so that the page cache does
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
package metric

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"

	"selectivity/stages"
)

func init() { stages.Register(kind{}) }

// Names lists the metrics in their canonical order, as the metrics
// parameter and the summary table name them.
var Names = []string{"fsi", "dprime", "wilcoxon", "ttest"}

// ValueColumn maps each metric to the output column holding its value for
// ranking (the value that correlate compares across metrics).
var ValueColumn = map[string]string{
	"fsi":      "fsi",
	"dprime":   "dprime",
	"wilcoxon": "wilcoxon_z",
	"ttest":    "ttest_t",
}

// SummaryFile is the name of the summary table.
const SummaryFile = "summary.arrow"

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

// Requested lists the metrics p computes, in Names' order.
func (p *Params) Requested() []string {
	var out []string
	for _, m := range Names {
		if p.has(m) {
			out = append(out, m)
		}
	}
	return out
}

// ActsSlot is the input of the kinds that compute the metrics on a layer
// (metric and the kinds built on Study): one extract or aggregate stage.
var ActsSlot = stages.Slot{Name: "acts", Required: true, Accepts: []string{stages.UnitActivations, stages.KernelActivations}, Doc: "an extract stage (unit level) or an aggregate stage (kernel level)"}

type kind struct{}

func (kind) Name() string    { return "metric" }
func (kind) Version() string { return "1" }
func (kind) Doc() string {
	return "face selectivity per unit or kernel: FSI, d′, Wilcoxon rank-sum and t-test intersection with FDR, and % selected per layer"
}

func (kind) NewParams() any { return Defaults() }

// Defaults returns new parameters set to the defaults (analyses.md's), for
// kinds that compute the metrics under other designs.
func Defaults() *Params {
	return &Params{
		Metrics:         slices.Clone(Names),
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

func (kind) Produces() string { return stages.Selectivity }
func (kind) Inputs() []stages.Slot {
	return []stages.Slot{ActsSlot}
}

// Run computes the metrics of every selected layer; see the package doc.
func (kind) Run(ctx context.Context, job *stages.Job) error {
	p := job.Params.(*Params)
	st, err := OpenJob(job, p)
	if err != nil {
		return fmt.Errorf("metric: %w", err)
	}
	for _, l := range st.Layers {
		if l.Name+".arrow" == SummaryFile {
			return fmt.Errorf("metric: input %s: a layer named %q would overwrite %s", st.Stage, l.Name, SummaryFile)
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
	if err := sum.write(job.Output(SummaryFile), st.Stage, p); err != nil {
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
	parts := make([]string, 0, len(Names))
	for _, m := range Names {
		if p.has(m) {
			k := r.selectedCount(m)
			parts = append(parts, fmt.Sprintf("%s %d (%.2f%%)", m, k, Percent(k, r.items)))
		}
	}
	return fmt.Sprintf("%s (%s, %d items): %s selected", r.layer.Name, r.level(), r.items, strings.Join(parts, ", "))
}

// Percent is 100·k/n, the summary's percentage (NaN for n = 0).
func Percent(k, n int) float64 {
	if n == 0 {
		return math.NaN()
	}
	return 100 * float64(k) / float64(n)
}
