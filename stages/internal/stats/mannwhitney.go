package stats

import "math"

// MannWhitneyGreater is the Wilcoxon rank-sum / Mann–Whitney U test of
// "p greater than n" with the normal approximation, tie correction and
// continuity correction: exactly scipy.stats.mannwhitneyu(p, n,
// alternative="greater", method="asymptotic") (scipy 1.10
// stats/_mannwhitneyu.py). With n1 = len(p), n2 = len(n), N = n1+n2 and
// average ranks of the pooled sample,
//
//	u  = R1 − n1(n1+1)/2                     (U of p; what scipy returns)
//	σ  = sqrt(n1·n2/12 · ((N+1) − Σ(t³−t)/(N(N−1))))
//	z  = (u − n1·n2/2 − 0.5) / σ
//	p  = NormSF(z)
//
// z is the value for ranking (analyses.md); scipy computes it but does not
// return it. All values tied (σ = 0): z = 0 and pval = 1 (analyses.md; scipy
// also gives p = 1, from z = −0.5/0 = −Inf). ±Inf rank as the extremes
// (scipy 1.10 returns NaN when the pooled sample holds both +Inf and −Inf:
// its NaN test is isnan(sum)). NaN in either sample, or an empty sample,
// gives NaN (scipy raises).
func MannWhitneyGreater(p, n []float64) (u, z, pval float64) {
	var s Scratch
	return s.MannWhitneyGreater(p, n)
}

// MannWhitneyGreater is the package function MannWhitneyGreater using s's
// buffers.
func (s *Scratch) MannWhitneyGreater(p, n []float64) (u, z, pval float64) {
	u, sigma, ok := s.mwu(p, n)
	if !ok {
		return math.NaN(), math.NaN(), math.NaN()
	}
	return greater(u, sigma, len(p), len(n))
}

// MannWhitneyGreaterSorted is MannWhitneyGreater of p and n that are
// already sorted ascending and hold no NaN, with the same result; it does
// not sort (see Scratch.SortedOrder).
func MannWhitneyGreaterSorted(p, n []float64) (u, z, pval float64) {
	if len(p) == 0 || len(n) == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	r1, tie, allTied := mergeRanks(p, n)
	u, sigma := uSigma(r1, tie, allTied, len(p), len(n))
	return greater(u, sigma, len(p), len(n))
}

// greater is the one-sided test's z and p from U and σ.
func greater(u, sigma float64, n1, n2 int) (uu, z, pval float64) {
	if sigma == 0 {
		return u, 0, 1
	}
	z = (u - float64(n1)*float64(n2)/2 - 0.5) / sigma
	return u, z, NormSF(z)
}

// MannWhitneyTwoSided is scipy.stats.mannwhitneyu(p, n,
// alternative="two-sided", method="asymptotic"): with U = max(u, n1·n2 − u),
// z = (U − n1·n2/2 − 0.5)/σ and pval = min(1, 2·NormSF(z)). It returns u,
// the U of p. All values tied gives pval = 1 (as scipy); NaN or an empty
// sample gives NaN.
func (s *Scratch) MannWhitneyTwoSided(p, n []float64) (u, pval float64) {
	u, sigma, ok := s.mwu(p, n)
	if !ok {
		return math.NaN(), math.NaN()
	}
	return u, twoSidedP(u, sigma, len(p), len(n))
}

// mwu returns U of p and σ with scipy's operation order; ok is false for
// NaN or empty input.
func (s *Scratch) mwu(p, n []float64) (u, sigma float64, ok bool) {
	if len(p) == 0 || len(n) == 0 {
		return 0, 0, false
	}
	r1, tie, allTied, nan := s.rankSums(p, n)
	if nan {
		return 0, 0, false
	}
	u, sigma = uSigma(r1, tie, allTied, len(p), len(n))
	return u, sigma, true
}

// uSigma turns R1 and the tie term into U of p and σ (0 when all tied),
// with scipy's operation order (_mannwhitneyu.py, _get_mwu_z).
func uSigma(r1, tie float64, allTied bool, n1, n2 int) (u, sigma float64) {
	u = r1 - float64(n1*(n1+1))/2
	if allTied {
		return u, 0
	}
	N := n1 + n2
	sigma = math.Sqrt(float64(n1*n2) / 12 * (float64(N+1) - tie/float64(N*(N-1))))
	return u, sigma
}

// twoSidedP is the two-sided asymptotic p-value from U of p and σ.
func twoSidedP(u, sigma float64, n1, n2 int) float64 {
	if sigma == 0 {
		return 1
	}
	f1, f2 := float64(n1), float64(n2)
	big := math.Max(u, f1*f2-u)
	z := (big - f1*f2/2 - 0.5) / sigma
	return math.Min(1, 2*NormSF(z))
}

// RankSums is the Wilcoxon rank-sum test without tie correction and without
// continuity correction, one-sided "p greater than n": exactly
// scipy.stats.ranksums(p, n, alternative="greater"),
//
//	z = (R1 − n1(N+1)/2) / sqrt(n1·n2·(N+1)/12),   pval = NormSF(z).
//
// The alternative is "greater" (scipy's default is "two-sided") because
// analyses.md's rank-sum criterion is one-sided with P greater; it is the
// same alternative as MannWhitneyGreater, so the two variants differ only in
// the tie and continuity corrections. All values tied gives z = 0 and
// pval = 0.5, as scipy (never selected at p < 0.001). NaN or an empty sample
// gives NaN.
func RankSums(p, n []float64) (z, pval float64) {
	var s Scratch
	return s.RankSums(p, n)
}

// RankSums is the package function RankSums using s's buffers.
func (s *Scratch) RankSums(p, n []float64) (z, pval float64) {
	if len(p) == 0 || len(n) == 0 {
		return math.NaN(), math.NaN()
	}
	r1, _, _, nan := s.rankSums(p, n)
	if nan {
		return math.NaN(), math.NaN()
	}
	return rankSumsZ(r1, len(p), len(n))
}

// RankSumsSorted is RankSums of p and n that are already sorted ascending
// and hold no NaN, with the same result; it does not sort.
func RankSumsSorted(p, n []float64) (z, pval float64) {
	if len(p) == 0 || len(n) == 0 {
		return math.NaN(), math.NaN()
	}
	r1, _, _ := mergeRanks(p, n)
	return rankSumsZ(r1, len(p), len(n))
}

// rankSumsZ is the rank-sum test's z and p from R1.
func rankSumsZ(r1 float64, n1, n2 int) (z, pval float64) {
	expected := float64(n1*(n1+n2+1)) / 2
	z = (r1 - expected) / math.Sqrt(float64(n1*n2*(n1+n2+1))/12)
	return z, NormSF(z)
}

// PerCategory is Baek et al.'s per-category rank-sum criterion: p is tested
// against each category in others with the two-sided Mann–Whitney U test
// (MannWhitneyTwoSided: scipy.stats.mannwhitneyu(p, c,
// alternative="two-sided", method="asymptotic")). It returns the largest of
// those p-values — the item passes at level α when maxP < α — and whether
// p's mean is strictly higher than the mean of every category. NaN
// anywhere, or no categories, gives maxP = NaN.
func PerCategory(p []float64, others [][]float64) (maxP float64, pMeanHighest bool) {
	var s Scratch
	return s.PerCategory(p, others)
}

// PerCategory is the package function PerCategory using s's buffers. It
// sorts p once for all categories.
func (s *Scratch) PerCategory(p []float64, others [][]float64) (maxP float64, pMeanHighest bool) {
	if len(others) == 0 || len(p) == 0 {
		return math.NaN(), false
	}
	var ok bool
	if s.c, ok = sortedCopy(s.c, p); !ok {
		return math.NaN(), false
	}
	mp := Mean(p)
	pMeanHighest = true
	for _, c := range others {
		if !(mp > Mean(c)) {
			pMeanHighest = false
		}
		if maxP != maxP {
			continue
		}
		if s.b, ok = sortedCopy(s.b, c); !ok || len(c) == 0 {
			maxP = math.NaN()
			continue
		}
		r1, tie, allTied := mergeRanks(s.c, s.b)
		u, sigma := uSigma(r1, tie, allTied, len(p), len(c))
		maxP = math.Max(maxP, twoSidedP(u, sigma, len(p), len(c)))
	}
	return maxP, pMeanHighest
}
