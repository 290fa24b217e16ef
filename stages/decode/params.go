package decode

import (
	"fmt"
	"math"
	"slices"

	"selectivity/stages"
)

// MetricNames are the metrics in their canonical order.
var MetricNames = []string{"fsi", "dprime", "wilcoxon", "ttest"}

// ValueColumn is the metric table column each metric ranks kernels by.
var ValueColumn = map[string]string{
	"fsi":      "fsi",
	"dprime":   "dprime",
	"wilcoxon": "wilcoxon_z",
	"ttest":    "ttest_t",
}

// Params are the decode kind's parameters.
type Params struct {
	Layer       string   `yaml:"layer" doc:"the layer decoded (kernel level)"`
	TopN        int      `yaml:"top_n" min:"0" max:"1000000" doc:"kernels per metric; 0: the smallest number any requested metric selects"`
	Metrics     []string `yaml:"metrics" oneof:"fsi dprime wilcoxon ttest" doc:"metrics whose top kernels are decoded"`
	RandomDraws int      `yaml:"random_draws" min:"0" max:"100000" doc:"draws of N random kernels for the baseline (0: no random baseline)"`
	Seed        int64    `yaml:"seed" doc:"seeds the random draws and the SVM's coordinate order"`
	C           float64  `yaml:"c" doc:"SVM regularisation C (> 0)"`
	Tol         float64  `yaml:"tol" doc:"SVM stopping tolerance (LinearSVC's tol)"`
	MaxIter     int      `yaml:"max_iter" min:"1" max:"100000000" doc:"SVM iteration limit per binary problem (LinearSVC's max_iter)"`
}

// DefaultParams returns the defaults: conv13, N from the metrics, all four
// metrics, 10 random draws, seed 1, LinearSVC()'s C = 1, tol = 1e-4,
// max_iter = 1000.
func DefaultParams() *Params {
	return &Params{Layer: "conv13", Metrics: slices.Clone(MetricNames), RandomDraws: 10, Seed: 1, C: 1, Tol: 1e-4, MaxIter: 1000}
}

// Validate checks what the tags cannot.
func (p *Params) Validate() []stages.FieldError {
	var errs []stages.FieldError
	if p.Layer == "" {
		errs = append(errs, stages.FieldError{Field: "layer", Msg: "must name a layer"})
	}
	if len(p.Metrics) == 0 {
		errs = append(errs, stages.FieldError{Field: "metrics", Msg: "name at least one metric"})
	}
	seen := map[string]bool{}
	for i, m := range p.Metrics {
		if seen[m] {
			errs = append(errs, stages.FieldError{Field: fmt.Sprintf("metrics[%d]", i), Msg: fmt.Sprintf("%q given twice", m)})
		}
		seen[m] = true
	}
	if !(p.C > 0) || math.IsInf(p.C, 0) {
		errs = append(errs, stages.FieldError{Field: "c", Msg: "must be a positive number"})
	}
	if !(p.Tol > 0) || math.IsInf(p.Tol, 0) {
		errs = append(errs, stages.FieldError{Field: "tol", Msg: "must be a positive number"})
	}
	return errs
}
