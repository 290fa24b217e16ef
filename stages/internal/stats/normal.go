package stats

import "math"

// NormSF returns the survival function of the standard normal distribution,
// P(Z > z) = erfc(z/√2)/2, with full relative precision in the upper tail
// (no 1−Φ cancellation). It is scipy.stats.norm.sf (scipy.special.ndtr(−z)).
// NormSF(+Inf) = 0, NormSF(−Inf) = 1, NormSF(NaN) = NaN.
func NormSF(z float64) float64 {
	return 0.5 * math.Erfc(z/math.Sqrt2)
}
