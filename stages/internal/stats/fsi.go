package stats

import "math"

// FSI returns the face (preferred-category) selectivity index of one item,
//
//	FSI = (m_P − m_N) / (|m_P| + |m_N|),
//
// m = mean response (Mean) of the preferred images p and the non-preferred
// images n. On non-negative (post-ReLU) means this is analyses.md's
// (m_P − m_N)/(m_P + m_N); both means 0 (a dead item) gives 0; for signed
// inputs m_P > 0 > m_N gives +1 and m_P < 0 < m_N gives −1, exactly, as
// analyses.md requires. The absolute values extend the same rule to the cases
// analyses.md leaves open (a zero and a negative mean, two negative means),
// where the literal formula would flip the sign (m_P = −1, m_N = −3 gives
// +0.5 here, −0.5 literally). NaN in gives NaN.
func FSI(p, n []float64) float64 {
	return FSIFromMeans(Mean(p), Mean(n))
}

// FSIFromMeans is FSI given the two means m_P and m_N.
func FSIFromMeans(mp, mn float64) float64 {
	den := math.Abs(mp) + math.Abs(mn)
	if den == 0 {
		return 0
	}
	if math.IsInf(den, 0) {
		switch {
		case math.IsInf(mp, 0) && math.IsInf(mn, 0):
			return math.NaN()
		case math.IsInf(mp, 0):
			return math.Copysign(1, mp)
		default:
			return -math.Copysign(1, mn)
		}
	}
	return (mp - mn) / den
}
