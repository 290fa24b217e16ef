package decode

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"sync"

	"gonum.org/v1/gonum/stat/distuv"

	"selectivity/stages"
	"selectivity/stages/decode/svm"
	"selectivity/stages/internal/stats"
)

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
