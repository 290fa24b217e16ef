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
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"gonum.org/v1/gonum/stat/distuv"

	"selectivity/cache/arrowfile"
	"selectivity/stages"
	"selectivity/stages/aggregate"
	"selectivity/stages/decode/svm"
	"selectivity/stages/stats"
	"selectivity/stages/stimuli"
)

func init() { stages.Register(Kind{}) }

// Output files.
const (
	DecodingFile = "decoding.arrow"
	FoldsFile    = "folds.arrow"
	KernelsFile  = "kernels.arrow"
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
	if len(job.Inputs["features"]) != 1 {
		return fmt.Errorf("decode: slot features takes one stage, got %d", len(job.Inputs["features"]))
	}
	feat, err := readFeatures(job.Inputs["features"][0], p.Layer)
	if err != nil {
		return err
	}
	if feat.agg != "l2" {
		logf("features are %s-aggregated; analyses.md decodes l2", feat.agg)
	}
	design, err := newDesign(feat.identity, job.Inputs["features"][0].Stage)
	if err != nil {
		return err
	}
	metrics := orderedMetrics(p.Metrics)
	ranks, err := readMetrics(job.Inputs["metrics"], p.Layer, metrics, feat.cols)
	if err != nil {
		return err
	}
	for _, m := range metrics {
		if r := ranks[m]; r.agg != feat.agg {
			logf("metric %s (%s) ranks %s-aggregated kernels; the features are %s", m, r.stage, r.agg, feat.agg)
		}
	}

	n, rule := p.TopN, "parameter"
	if n == 0 {
		rule = "smallest selected count"
		n = feat.cols
		for _, m := range metrics {
			n = min(n, ranks[m].nSelected)
		}
		if n == 0 {
			var counts []string
			for _, m := range metrics {
				counts = append(counts, fmt.Sprintf("%s %d", m, ranks[m].nSelected))
			}
			return fmt.Errorf("decode: top_n 0 takes N from the metrics' selections, but one selects no kernel of %s (%s): set top_n", p.Layer, strings.Join(counts, ", "))
		}
	}
	if n > feat.cols {
		return fmt.Errorf("decode: top_n %d exceeds the %d kernels of %s", n, feat.cols, p.Layer)
	}

	var sets []featureSet
	for _, m := range metrics {
		k := TopN(ranks[m].values, n)
		v := make([]float64, len(k))
		for i, j := range k {
			v[i] = ranks[m].values[j]
		}
		sets = append(sets, featureSet{name: m, kernels: k, values: v})
	}
	rng := rand.New(rand.NewPCG(uint64(p.Seed), 0xdec0de))
	for d := range p.RandomDraws {
		k := randomKernels(rng, feat.cols, n)
		v := make([]float64, len(k))
		for i := range v {
			v[i] = math.NaN()
		}
		sets = append(sets, featureSet{name: "random", draw: d, kernels: k, values: v})
	}
	all := make([]int, feat.cols)
	for i := range all {
		all[i] = i
	}
	sets = append(sets, featureSet{name: "all", kernels: all})

	logf("%s: %d identities × %d images, %d kernels; N = %d (%s); %d feature sets × %d folds",
		p.Layer, design.ids, design.m, feat.cols, n, rule, len(sets), design.m)
	res, err := decodeAll(ctx, job.Progress, feat, design, sets, p)
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

	meta := map[string]string{
		"layer":               p.Layer,
		"aggregation":         feat.agg,
		"identities":          strconv.Itoa(design.ids),
		"images_per_identity": strconv.Itoa(design.m),
		"top_n":               strconv.Itoa(n),
		"top_n_rule":          rule,
		"chance":              fmtFloat(1 / float64(design.ids)),
		"c":                   fmtFloat(p.C),
		"tol":                 fmtFloat(p.Tol),
		"max_iter":            strconv.Itoa(p.MaxIter),
		"seed":                strconv.FormatInt(p.Seed, 10),
		"random_draws":        strconv.Itoa(p.RandomDraws),
		"not_converged":       strconv.Itoa(notConv),
	}
	for _, m := range metrics {
		meta["metric_stage_"+m] = ranks[m].stage
	}
	if err := writeDecoding(job.Output(DecodingFile), sets, res, design, meta); err != nil {
		return err
	}
	if err := writeFolds(job.Output(FoldsFile), sets, res, meta); err != nil {
		return err
	}
	return writeKernels(job.Output(KernelsFile), sets, meta)
}

// orderedMetrics returns the requested metrics in canonical order.
func orderedMetrics(req []string) []string {
	var out []string
	for _, m := range MetricNames {
		if slices.Contains(req, m) {
			out = append(out, m)
		}
	}
	return out
}

// TopN returns the indices of the n largest values, ties broken by the
// smaller index, NaN after every number (among themselves by index).
func TopN(values []float64, n int) []int {
	idx := stats.Descending(values)
	return idx[:min(n, len(idx))]
}

// randomKernels draws n of c kernels without replacement (a partial
// Fisher–Yates shuffle) and returns them ascending.
func randomKernels(rng *rand.Rand, c, n int) []int {
	perm := make([]int, c)
	for i := range perm {
		perm[i] = i
	}
	for i := range n {
		j := i + rng.IntN(c-i)
		perm[i], perm[j] = perm[j], perm[i]
	}
	out := perm[:n]
	slices.Sort(out)
	return out
}

// features is the layer's kernel-level matrix and its images' identities.
type features struct {
	x        []float64 // rows × cols
	rows     int
	cols     int
	agg      string
	identity []string
}

// readFeatures reads the kernel-level matrix of layer and the image table
// from an aggregate stage.
func readFeatures(in stages.Input, layer string) (*features, error) {
	all, err := aggregate.Layers(in, "kernel")
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("decode: input %s (features) has no kernel-level layer: give an aggregate stage", in.Stage)
	}
	sel, err := aggregate.Select(all, []string{layer}, in.Stage)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	r, err := arrowfile.Open(sel[0].Path)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	defer r.Close()
	cols, err := arrowfile.MatrixCols(r)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	f := &features{rows: int(r.NumRows()), cols: cols, agg: sel[0].Aggregation}
	f.x = make([]float64, 0, f.rows*cols)
	err = arrowfile.ReadMatrixRows(r, func(_ int, vals []float32) error {
		for _, v := range vals {
			f.x = append(f.x, float64(v))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	for i, v := range f.x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("decode: %s: image %d, kernel %d is %v", sel[0].Path, i/cols, i%cols, v)
		}
	}
	tab, err := stimuli.ReadImages(in.Path(aggregate.ImagesFile))
	if err != nil {
		return nil, fmt.Errorf("decode: input %s: %w", in.Stage, err)
	}
	if tab.Len() != f.rows {
		return nil, fmt.Errorf("decode: input %s: %d images in %s, %d rows in %s", in.Stage, tab.Len(), aggregate.ImagesFile, f.rows, sel[0].Path)
	}
	f.identity = tab.Identity
	return f, nil
}

// design is the leave-one-image-out layout: image k of identity i is row
// rows[i][k]; identity i is class i.
type design struct {
	ids, m int
	names  []string
	rows   [][]int
}

func newDesign(identity []string, stage string) (*design, error) {
	d := &design{}
	pos := map[string]int{}
	var missing int
	for r, id := range identity {
		if id == "" {
			missing++
			continue
		}
		i, ok := pos[id]
		if !ok {
			i = len(d.names)
			pos[id] = i
			d.names = append(d.names, id)
			d.rows = append(d.rows, nil)
		}
		d.rows[i] = append(d.rows[i], r)
	}
	if missing > 0 {
		return nil, fmt.Errorf("decode: input %s: %d of %d images have no identity: the features must come from an identity set (stimuli layout identities)", stage, missing, len(identity))
	}
	d.ids = len(d.names)
	if d.ids < 2 {
		return nil, fmt.Errorf("decode: input %s: %d identities; decoding needs at least 2", stage, d.ids)
	}
	d.m = len(d.rows[0])
	var uneven []string
	for i, r := range d.rows {
		if len(r) != d.m {
			uneven = append(uneven, fmt.Sprintf("%s %d", d.names[i], len(r)))
		}
	}
	if len(uneven) > 0 {
		if len(uneven) > 10 {
			uneven = append(uneven[:10], "…")
		}
		return nil, fmt.Errorf("decode: input %s: leave-one-image-out needs the same number of images per identity; %s has %d, but %s", stage, d.names[0], d.m, strings.Join(uneven, ", "))
	}
	if d.m < 2 {
		return nil, fmt.Errorf("decode: input %s: %d image per identity; leave-one-image-out needs at least 2", stage, d.m)
	}
	return d, nil
}

// ranking is one metric's per-kernel values.
type ranking struct {
	stage     string
	agg       string
	values    []float64
	nSelected int
}

// readMetrics finds each metric's table for layer among the metric stages.
func readMetrics(ins []stages.Input, layer string, metrics []string, kernels int) (map[string]*ranking, error) {
	out := map[string]*ranking{}
	for _, in := range ins {
		all, err := aggregate.Layers(in, "kernel", "unit")
		if err != nil {
			return nil, fmt.Errorf("decode: %w", err)
		}
		var lay *aggregate.Layer
		for i := range all {
			if all[i].Name == layer {
				lay = &all[i]
			}
		}
		if lay == nil {
			continue
		}
		r, err := arrowfile.Open(lay.Path)
		if err != nil {
			return nil, fmt.Errorf("decode: %w", err)
		}
		err = func() error {
			defer r.Close()
			for _, m := range metrics {
				col := ValueColumn[m]
				if len(r.Schema().FieldIndices(col)) == 0 {
					continue
				}
				if prev, dup := out[m]; dup {
					return fmt.Errorf("decode: metric %s of %s is in both %s and %s: give one", m, layer, prev.stage, in.Stage)
				}
				if lay.Level != "kernel" {
					return fmt.Errorf("decode: input %s: %s's metrics are at %s level; decoding ranks kernels (run metric on an aggregate stage)", in.Stage, layer, lay.Level)
				}
				if err := checkItems(r, kernels); err != nil {
					return fmt.Errorf("decode: input %s: %w", in.Stage, err)
				}
				vals, err := arrowfile.Float64Column(r, col)
				if err != nil {
					return fmt.Errorf("decode: %w", err)
				}
				sel, err := arrowfile.BoolColumn(r, m+"_selected")
				if err != nil {
					return fmt.Errorf("decode: %w", err)
				}
				k := 0
				for _, s := range sel {
					if s {
						k++
					}
				}
				out[m] = &ranking{stage: in.Stage, agg: lay.Aggregation, values: vals, nSelected: k}
			}
			return nil
		}()
		if err != nil {
			return nil, err
		}
	}
	var missing []string
	for _, m := range metrics {
		if out[m] == nil {
			missing = append(missing, m)
		}
	}
	if len(missing) > 0 {
		var names []string
		for _, in := range ins {
			names = append(names, in.Stage)
		}
		return nil, fmt.Errorf("decode: no metric stage (%s) holds %s of layer %s", strings.Join(names, ", "), strings.Join(missing, ", "), layer)
	}
	return out, nil
}

// checkItems checks that the table has one row per kernel, item = row.
func checkItems(r *arrowfile.Reader, kernels int) error {
	if int(r.NumRows()) != kernels {
		return fmt.Errorf("%s: %d rows, but the features have %d kernels", r.Path(), r.NumRows(), kernels)
	}
	items, err := arrowfile.Float64Column(r, "item")
	if err != nil {
		return err
	}
	for i, v := range items {
		if v != float64(i) {
			return fmt.Errorf("%s: row %d is item %v; want kernels in order", r.Path(), i, v)
		}
	}
	return nil
}

// result is one feature set's decoding.
type result struct {
	acc     []float64 // per fold
	notConv []int     // per fold: binary problems at max_iter
}

// decodeAll runs every set × fold on parallel workers.
func decodeAll(ctx context.Context, prog stages.Progress, f *features, d *design, sets []featureSet, p *Params) ([]result, error) {
	res := make([]result, len(sets))
	for i := range res {
		res[i] = result{acc: make([]float64, d.m), notConv: make([]int, d.m)}
	}
	type task struct{ set, fold int }
	tasks := make(chan task)
	bar := prog.Bar("decoding", "fits", int64(len(sets)*d.m))
	defer bar.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	workers := min(runtime.GOMAXPROCS(0), len(sets)*d.m)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range tasks {
				s := &sets[t.set]
				opt := svm.Options{C: p.C, Tol: p.Tol, MaxIter: p.MaxIter, InterceptScaling: 1,
					Seed: uint64(p.Seed)*0x9e3779b97f4a7c15 + uint64(t.set)*1000003 + uint64(t.fold)}
				acc, nc, err := Fold(f.x, f.cols, d.rows, s.kernels, t.fold, opt)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("decode: %s fold %d: %w", s.name, t.fold, err)
					cancel()
				}
				res[t.set].acc[t.fold], res[t.set].notConv[t.fold] = acc, nc
				mu.Unlock()
				bar.Add(1)
			}
		}()
	}
feed:
	for si := range sets {
		for k := range d.m {
			select {
			case tasks <- task{si, k}:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(tasks)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

// Fold runs fold k of leave-one-image-out decoding on the given columns of
// the row-major matrix x (cols columns): rows[i] lists identity i's
// images; image k of each identity is tested, the others train. It returns
// the accuracy and the number of binary problems that stopped at
// opt.MaxIter.
func Fold(x []float64, cols int, rows [][]int, kernels []int, k int, opt svm.Options) (float64, int, error) {
	d := len(kernels)
	ids := len(rows)
	var xtr, xte []float64
	var ytr []int
	pick := func(dst []float64, r int) []float64 {
		row := x[r*cols : (r+1)*cols]
		for _, c := range kernels {
			dst = append(dst, row[c])
		}
		return dst
	}
	for i, rs := range rows {
		for j, r := range rs {
			if j == k {
				xte = pick(xte, r)
			} else {
				xtr = pick(xtr, r)
				ytr = append(ytr, i)
			}
		}
	}
	sc := svm.FitScaler(xtr, len(ytr), d)
	sc.Transform(xtr, len(ytr))
	sc.Transform(xte, ids)
	m, err := svm.Fit(xtr, len(ytr), d, ytr, opt)
	if err != nil {
		return 0, 0, err
	}
	correct := 0
	for i, pr := range m.Predict(xte, ids) {
		if pr == i {
			correct++
		}
	}
	nc := 0
	for _, it := range m.Iter {
		if it >= opt.MaxIter {
			nc++
		}
	}
	return float64(correct) / float64(ids), nc, nil
}

// Summary is a set's mean fold accuracy, sample SD and 95% CI
// mean ± t(0.975, M−1)·SD/√M.
func Summary(acc []float64) (mean, sd, lo, hi float64) {
	m := len(acc)
	mean, v := stats.MeanVar(acc, 1)
	sd = math.Sqrt(v)
	if m < 2 {
		return mean, math.NaN(), math.NaN(), math.NaN()
	}
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(m - 1)}.Quantile(0.975)
	h := t * sd / math.Sqrt(float64(m))
	return mean, sd, mean - h, mean + h
}

func fmtFloat(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
