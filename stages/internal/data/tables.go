package data

import (
	"fmt"
	"math"
	"slices"

	"selectivity/cache/arrowfile"
	"selectivity/stages"
)

// The metric kind's outputs: one table per layer, <layer>.arrow, with an
// item column and the value, p and selected columns of each computed
// metric, and summary.arrow, the % selected per layer and metric.
const MetricSummaryFile = "summary.arrow"

// Metrics lists the metrics in their canonical order, as the metrics
// parameter and the summary table name them.
var Metrics = []string{"fsi", "dprime", "wilcoxon", "ttest"}

// ValueColumn maps each metric to the column of a metric table holding its
// value for ranking (the value that correlate compares across metrics).
var ValueColumn = map[string]string{
	"fsi":      "fsi",
	"dprime":   "dprime",
	"wilcoxon": "wilcoxon_z",
	"ttest":    "ttest_t",
}

// SelectedColumn is the column of a metric table saying whether metric
// selected each item.
func SelectedColumn(metric string) string { return metric + "_selected" }

// Percent is 100·k/n, a summary's percentage (NaN for n = 0).
func Percent(k, n int) float64 {
	if n == 0 {
		return math.NaN()
	}
	return 100 * float64(k) / float64(n)
}

// SummaryLayers lists the layers of a metric stage's output, in the order
// of its summary table.
func SummaryLayers(in stages.Input) ([]string, error) {
	if !slices.Contains(in.Files, MetricSummaryFile) {
		return nil, fmt.Errorf("input %s has no %s: not a metric stage", in.Stage, MetricSummaryFile)
	}
	r, err := arrowfile.Open(in.Path(MetricSummaryFile))
	if err != nil {
		return nil, fmt.Errorf("input %s: %w", in.Stage, err)
	}
	defer r.Close()
	all, err := arrowfile.StringColumn(r, "layer")
	if err != nil {
		return nil, fmt.Errorf("input %s: %w", in.Stage, err)
	}
	var layers []string
	for _, l := range all {
		if !slices.Contains(layers, l) {
			layers = append(layers, l)
		}
	}
	return layers, nil
}

// The correlate kind's outputs: pairs.arrow (mode values: one row per
// item), consistency.arrow (mode metrics: ρ per layer and metric pair)
// and spearman.arrow (mode values: ρ, p and n per layer).
const (
	CorrelatePairsFile = "pairs.arrow"
	ConsistencyFile    = "consistency.arrow"
	SpearmanFile       = "spearman.arrow"
)

// The bootstrap kind's outputs.
const (
	BootstrapDrawsFile       = "draws.arrow"
	BootstrapPercentFile     = "percent.arrow"
	BootstrapConsistencyFile = "consistency.arrow"
	BootstrapSummaryFile     = "summary.arrow"
)

// The permutation kind's outputs.
const (
	PermutationsFile       = "permutations.arrow"
	PermutationNullFile    = "null.arrow"
	PermutationSummaryFile = "summary.arrow"
)

// The reliability kind's outputs.
const (
	ReliabilityHalvesFile  = "halves.arrow"
	ReliabilitySplitsFile  = "splits.arrow"
	ReliabilitySummaryFile = "summary.arrow"
)

// The variants kind's outputs.
const (
	VariantPairsFile   = "pairs.arrow"
	VariantPercentFile = "percent.arrow"
)
