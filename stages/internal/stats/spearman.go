package stats

import "math"

// Spearman returns Spearman's rank correlation ρ of x and y: the Pearson
// correlation of their average ranks (ties share their mean rank), as
// scipy.stats.spearmanr(x, y, nan_policy="omit").correlation.
//
// Pairs in which x or y is NaN are dropped (pairwise deletion, scipy's
// "omit"); ±Inf stay and rank as the extremes (analyses.md). Fewer than two
// pairs left, or a constant x or y among them, gives NaN.
//
// scipy 1.10 differs in three corners, all deliberate here: (1) its NaN
// test is isnan(sum(a)), so a sample holding both +Inf and −Inf counts as
// "containing NaN" even with no NaN; (2) its "omit" path then masks every
// non-finite value (numpy.ma.masked_invalid), dropping the ±Inf pairs too;
// (3) on that path a column that is constant after the drop gives 0.0, not
// NaN. The fixtures' expected values are scipy's answers on the same pairs
// with ±Inf replaced by ±1e300 (same ranks).
func Spearman(x, y []float64) float64 {
	var s Scratch
	return s.Spearman(x, y)
}

// Spearman is the package function Spearman using s's buffers.
func (s *Scratch) Spearman(x, y []float64) float64 {
	if len(x) != len(y) {
		panic("stats: Spearman: length mismatch")
	}
	var keep []bool
	n := 0
	for i := range x {
		if x[i] != x[i] || y[i] != y[i] {
			if keep == nil {
				if cap(s.keep) < len(x) {
					s.keep = make([]bool, len(x))
				}
				keep = s.keep[:len(x)]
				for j := 0; j < i; j++ {
					keep[j] = true
				}
			}
			keep[i] = false
			continue
		}
		if keep != nil {
			keep[i] = true
		}
		n++
	}
	if n < 2 {
		return math.NaN()
	}
	s.rx = grow(s.rx, n)
	s.ry = grow(s.ry, n)
	s.rank(s.rx, x, keep)
	s.rank(s.ry, y, keep)
	return Pearson(s.rx, s.ry)
}

// Pearson returns the Pearson correlation of x and y (no NaNs expected),
//
//	r = Σ(x−x̄)(y−ȳ) / sqrt(Σ(x−x̄)² Σ(y−ȳ)²),
//
// clipped to [−1, 1], as numpy.corrcoef(x, y)[0, 1]. A constant x or y, or
// fewer than two values, gives NaN.
func Pearson(x, y []float64) float64 {
	if len(x) != len(y) {
		panic("stats: Pearson: length mismatch")
	}
	n := len(x)
	if n < 2 {
		return math.NaN()
	}
	if _, c := constant(x); c {
		return math.NaN()
	}
	if _, c := constant(y); c {
		return math.NaN()
	}
	mx, my := Mean(x), Mean(y)
	var sxy, sxx, syy float64
	for i := range x {
		dx, dy := x[i]-mx, y[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	if sxx == 0 || syy == 0 {
		return math.NaN()
	}
	r := sxy / math.Sqrt(sxx) / math.Sqrt(syy)
	return math.Max(-1, math.Min(1, r))
}
