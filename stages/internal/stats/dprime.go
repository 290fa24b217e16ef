package stats

import "math"

// DPrime returns the sensitivity index of one item,
//
//	d′ = (m_P − m_N) / sqrt((v_P + v_N) / 2),
//
// m = mean, v = variance with the given ddof (0 is numpy's default and the
// study's, as in brain-score; 1 for the sample variance): numpy
// (p.mean() − n.mean()) / np.sqrt((p.var(ddof) + n.var(ddof)) / 2).
// Both variances zero: 0/0 gives 0 and x/0 gives ±Inf (analyses.md; numpy
// would give NaN for 0/0). Groups whose values are all equal have variance
// exactly 0 (see MeanVar). A group too small for ddof gives NaN.
func DPrime(p, n []float64, ddof int) float64 {
	mp, vp := MeanVar(p, ddof)
	mn, vn := MeanVar(n, ddof)
	return DPrimeFromMoments(mp, vp, mn, vn)
}

// DPrimeFromMoments is DPrime given the means and variances.
func DPrimeFromMoments(mp, vp, mn, vn float64) float64 {
	d := mp - mn
	s := math.Sqrt((vp + vn) / 2)
	if s == 0 {
		if d == 0 {
			return 0
		}
		return math.Copysign(math.Inf(1), d)
	}
	return d / s
}
