package stats

import (
	"math"
)

// FDRMethod selects a false-discovery-rate procedure.
type FDRMethod int

const (
	// BH is Benjamini–Hochberg (1995), statsmodels method "fdr_bh".
	BH FDRMethod = iota
	// BY is Benjamini–Yekutieli (2001), statsmodels method "fdr_by".
	BY
)

// String returns the statsmodels name of the method.
func (m FDRMethod) String() string {
	switch m {
	case BH:
		return "fdr_bh"
	case BY:
		return "fdr_by"
	}
	return "FDRMethod(?)"
}

// FDR corrects the p-values p for multiple testing at false-discovery rate
// alpha: identical rejections and corrected p-values to statsmodels
// multipletests(p, alpha, method="fdr_bh" | "fdr_by") (statsmodels 0.13
// stats/multitest.py, fdrcorrection). With the m p-values sorted ascending,
// p_(1) ≤ … ≤ p_(m), and e_k = (k/m)/c (c = 1 for BH, c = Σ_{i≤m} 1/i
// summed as numpy.sum does, for BY):
//
//	reject p_(k) for every k ≤ max{k : p_(k) ≤ e_k·alpha}   (step-up)
//	q_(k) = min(1, min_{j ≥ k} p_(j)/e_j)
//
// with statsmodels' floating-point operation order, so the rejections agree
// bit for bit. q and reject are in the order of p.
//
// NaN p-values are left out: their q is NaN, they are never rejected, and m
// counts only the others (as R's p.adjust; statsmodels would turn every q
// into NaN). It takes O(m log m) time and O(m) memory: the outputs plus one
// 16-byte (p, index) pair per p-value for the sort.
func FDR(p []float64, alpha float64, method FDRMethod) (q []float64, reject []bool) {
	q = make([]float64, len(p))
	reject = make([]bool, len(p))
	FDRTo(q, reject, p, alpha, method)
	return q, reject
}

// FDRTo is FDR writing to q and reject, which must have len(p).
func FDRTo(q []float64, reject []bool, p []float64, alpha float64, method FDRMethod) {
	if len(q) != len(p) || len(reject) != len(p) {
		panic("stats: FDR: length mismatch")
	}
	if method != BH && method != BY {
		panic("stats: FDR: unknown method")
	}
	if len(p) > math.MaxInt32 {
		panic("stats: FDR: too many p-values")
	}
	pr := make([]valIdx, 0, len(p))
	for i, v := range p {
		if v != v {
			q[i] = math.NaN()
			reject[i] = false
			continue
		}
		pr = append(pr, valIdx{v, int32(i)})
	}
	sortByValue(pr, make([]valIdx, len(pr)))
	m := len(pr)
	fm := float64(m)
	cm := 1.0
	if method == BY {
		cm = harmonicSum(m)
	}
	ecdf := func(k int) float64 { // k is 0-based
		e := float64(k+1) / fm
		if method == BY {
			e /= cm
		}
		return e
	}
	rejectMax := -1
	for k := m - 1; k >= 0; k-- {
		if pr[k].v <= ecdf(k)*alpha {
			rejectMax = k
			break
		}
	}
	run := math.Inf(1)
	for k := m - 1; k >= 0; k-- {
		raw := pr[k].v / ecdf(k)
		if raw < run {
			run = raw
		}
		qk := run
		if qk > 1 {
			qk = 1
		}
		i := pr[k].i
		q[i] = qk
		reject[i] = k <= rejectMax
	}
}

// harmonicSum returns Σ_{i=1..m} 1/i as statsmodels computes it,
// numpy.sum(1./numpy.arange(1, m+1)).
func harmonicSum(m int) float64 {
	buf := make([]float64, min(m, numpyBufSize))
	acc := 0.0
	for lo := 1; lo <= m; lo += numpyBufSize {
		b := buf[:min(m-lo+1, numpyBufSize)]
		for i := range b {
			b[i] = 1 / float64(lo+i)
		}
		acc += pairwiseSum(b)
	}
	return acc
}
