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
// The computation is stages/internal/study's, which streams each layer in
// chunks with memory bounded by chunk_units, never by the layer's size.
package metric

import (
	"context"

	"selectivity/stages"
	"selectivity/stages/internal/study"
)

func init() { stages.Register(kind{}) }

type kind struct{}

func (kind) Name() string    { return "metric" }
func (kind) Version() string { return "1" }
func (kind) Doc() string {
	return "face selectivity per unit or kernel: FSI, d′, Wilcoxon rank-sum and t-test intersection with FDR, and % selected per layer"
}

func (kind) NewParams() any                                 { return study.Defaults() }
func (kind) Produces() string                               { return stages.Selectivity }
func (kind) Inputs() []stages.Slot                          { return []stages.Slot{study.ActsSlot} }
func (kind) Run(ctx context.Context, job *stages.Job) error { return study.Run(ctx, job) }
