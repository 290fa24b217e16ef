// Package decode is the `decode` stage kind: how well face identity can be
// read out of each metric's most selective kernels (analyses.md, Decoding
// face identity; the paper's Fig. 1e).
//
// # Inputs
//
//   - features: one aggregate stage run on an identity set (every image's
//     identity is named in its images.arrow): the kernel-level matrix of
//     the layer `layer` (rows = images, columns = kernels; analyses.md's
//     feature is the l2 aggregation, other aggregations are accepted and
//     logged).
//   - metrics: metric stages run on the category set (any number; together
//     they must hold each requested metric of `layer` exactly once, at
//     kernel level, one row per kernel of the features).
//
// # Parameters
//
//	layer         the layer (conv13)
//	top_n         N kernels per metric; 0 (default): the smallest number of
//	              kernels any requested metric selects (its <m>_selected
//	              column), as analyses.md says
//	metrics       the metrics decoded (fsi, dprime, wilcoxon, ttest)
//	random_draws  draws of N random kernels for the baseline (10; 0: none)
//	seed          seeds the random draws and the solver's coordinate order
//	c, tol, max_iter  LinearSVC's C (1), tol (1e-4) and max_iter (1000)
//
// # Procedure
//
// A metric's top-N kernels are the N largest of its ranking value (fsi,
// dprime, wilcoxon_z, ttest_t), ties broken by the smaller kernel index,
// NaN values last. Each feature set (a metric's top N; N random kernels,
// drawn without replacement, per draw; all kernels) is decoded by
// leave-one-image-out cross-validation: with M images per identity (in the
// order of images.arrow; every identity must have the same M ≥ 2), fold k
// tests the k-th image of every identity and trains on the other M−1. In
// each fold the features are standardised with the training images' mean
// and SD (ddof 0; a constant feature is centred only: StandardScaler) and a
// one-vs-rest linear SVM (squared hinge, L2, C; LinearSVC(), see package
// svm) is trained; the fold's accuracy is the fraction of its test images
// whose identity is predicted. Per set: the fold accuracies, their mean,
// the sample SD (ddof 1) and the 95% CI mean ± t(0.975, M−1)·SD/√M. The
// random baseline's fold accuracy is the mean over draws of that fold's
// accuracy; its mean and CI are taken over those M values.
//
// # Outputs
//
// decoding.arrow, one row per feature set — the requested metrics in the
// order fsi, dprime, wilcoxon, ttest, then random (when random_draws > 0),
// then all:
//
//	set        utf8          metric name, "random" or "all"
//	n_kernels  int64
//	draws      int64         1, or random_draws for random
//	mean       float64       mean fold accuracy
//	sd         float64       sample SD of the fold accuracies
//	ci_low     float64       95% CI
//	ci_high    float64
//	chance     float64       1 / identities
//	folds      list<float64> accuracy of each fold (fold k: k-th image)
//
// Schema metadata: layer, aggregation, identities, images_per_identity,
// top_n, top_n_rule ("smallest selected count" or "parameter"), chance,
// c, tol, max_iter, seed, random_draws, not_converged (binary SVM problems
// that stopped at max_iter; scikit-learn warns then too — at the study's
// size, 100 identities × 9 training images × 96 kernels, LinearSVC itself
// needs all 1000 iterations) and the metric stages used.
//
// folds.arrow, one row per set × draw × fold: set, draw (int64, 0-based;
// 0 outside random), fold (int64), accuracy (float64), not_converged
// (int64).
//
// kernels.arrow, the kernels of every set but all: set, draw, rank (int64,
// 1 = first chosen), kernel (int64, the column of the layer), value
// (float64: the metric's ranking value; NaN for random).
package decode

import (
	"context"
	"fmt"

	"selectivity/stages"
)

func init() { stages.Register(Kind{}) }

// Output files.
const (
	DecodingFile = "decoding.arrow"
	FoldsFile    = "folds.arrow"
	KernelsFile  = "kernels.arrow"
)

// Kind is the `decode` stage kind.
type Kind struct{}

func (Kind) Name() string    { return "decode" }
func (Kind) Version() string { return "1" }
func (Kind) Doc() string {
	return "face-identity decoding (linear SVM, leave-one-image-out) from each metric's top-N kernels, with random and all-kernel baselines"
}
func (Kind) NewParams() any   { return DefaultParams() }
func (Kind) Produces() string { return stages.Decoding }
func (Kind) Inputs() []stages.Slot {
	return []stages.Slot{
		{Name: "features", Required: true, Accepts: []string{stages.KernelActivations}, Doc: "aggregate stage on an identity set: the layer's kernel-level (l2) features"},
		{Name: "metrics", Required: true, Many: true, Accepts: []string{stages.Selectivity}, Doc: "metric stages on the category set, ranking the layer's kernels"},
	}
}

// featureSet is one set of kernels to decode (one draw of random).
type featureSet struct {
	name    string
	draw    int
	kernels []int
	values  []float64 // ranking values of kernels (NaN for random)
}

// Run decodes and writes the outputs.
func (Kind) Run(ctx context.Context, job *stages.Job) error {
	p, ok := job.Params.(*Params)
	if !ok {
		return fmt.Errorf("decode: params are %T, not *decode.Params", job.Params)
	}
	logf := job.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	in, err := readInputs(job, p, logf)
	if err != nil {
		return err
	}
	n, rule, err := in.topN(p)
	if err != nil {
		return err
	}
	sets := in.featureSets(p, n)
	logf("%s: %d identities × %d images, %d kernels; N = %d (%s); %d feature sets × %d folds",
		p.Layer, in.design.ids, in.design.m, in.feat.cols, n, rule, len(sets), in.design.m)
	res, err := decodeAll(ctx, job.Progress, in.feat, in.design, sets, p)
	if err != nil {
		return err
	}
	notConv := 0
	for _, r := range res {
		for _, c := range r.notConv {
			notConv += c
		}
	}
	if notConv > 0 {
		logf("%d binary SVM problems stopped at max_iter %d before reaching tol %g (scikit-learn warns alike)", notConv, p.MaxIter, p.Tol)
	}
	return writeOutputs(job, p, in, n, rule, notConv, sets, res)
}
