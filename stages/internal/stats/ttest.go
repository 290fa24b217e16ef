package stats

import (
	"math"

	"gonum.org/v1/gonum/mathext"
)

// TTest is the two-sample t-test of a against b with a two-sided p-value:
// scipy.stats.ttest_ind(a, b, equal_var=!welch) (scipy 1.10). With means m,
// sample variances v (ddof 1) and sizes n,
//
//	Student (welch false): df = n_a+n_b−2,
//	    t = (m_a−m_b) / sqrt(((n_a−1)v_a + (n_b−1)v_b)/df · (1/n_a + 1/n_b))
//	Welch (welch true):    t = (m_a−m_b) / sqrt(v_a/n_a + v_b/n_b),
//	    df = (v_a/n_a + v_b/n_b)² / ((v_a/n_a)²/(n_a−1) + (v_b/n_b)²/(n_b−1))
//
// and pval = 2·P(T_df > |t|) = I_{df/(df+t²)}(df/2, 1/2) (TwoSidedT).
//
// Zero variance in both groups gives t = 0, pval = 1, never significant
// (analyses.md), whatever the means; scipy gives NaN when the means are equal
// and ±Inf, 0 when they differ. A group is zero-variance when all its values
// are equal (MeanVar), so a constant non-dyadic group such as {0.1, 0.1,
// 0.1} counts as constant here, where numpy's Σx/n rounding can give scipy
// a variance of order ε². A group with fewer than two values gives NaN, as
// scipy (its ddof-1 variance is NaN).
func TTest(a, b []float64, welch bool) (t, pval float64) {
	ma, va := MeanVar(a, 1)
	mb, vb := MeanVar(b, 1)
	return TTestFromMoments(ma, va, len(a), mb, vb, len(b), welch)
}

// TTestFromMoments is TTest given each group's mean, sample variance (ddof 1)
// and size.
func TTestFromMoments(ma, va float64, na int, mb, vb float64, nb int, welch bool) (t, pval float64) {
	if na < 2 || nb < 2 || va != va || vb != vb {
		return math.NaN(), math.NaN()
	}
	if va == 0 && vb == 0 {
		return 0, 1
	}
	n1, n2 := float64(na), float64(nb)
	var df, denom float64
	if welch {
		vn1 := va / n1
		vn2 := vb / n2
		df = (vn1 + vn2) * (vn1 + vn2) / (vn1*vn1/(n1-1) + vn2*vn2/(n2-1))
		denom = math.Sqrt(vn1 + vn2)
	} else {
		df = n1 + n2 - 2
		svar := ((n1-1)*va + (n2-1)*vb) / df
		denom = math.Sqrt(svar * (1/n1 + 1/n2))
	}
	t = (ma - mb) / denom
	return t, TwoSidedT(t, df)
}

// TwoSidedT returns the two-sided tail probability of Student's t
// distribution with df > 0 degrees of freedom, P(|T| > |t|) =
// 2·scipy.special.stdtr(df, −|t|), through the regularized incomplete beta
// function (gonum mathext.RegIncBeta, cephes incbet):
//
//	P = I_x(df/2, 1/2),     x = df/(df+t²)   when t² ≥ 1
//	P = 1 − I_y(1/2, df/2), y = t²/(df+t²)   when t² < 1 (P > 0.3)
//
// so neither x nor 1−x is formed by a cancelling subtraction: small p-values
// keep their relative precision down to underflow, and p-values near 1 for
// tiny t stay exact (cephes incbet would otherwise form 1−x itself). NaN t or df ≤ 0 gives NaN.
func TwoSidedT(t, df float64) float64 {
	if t != t || !(df > 0) {
		return math.NaN()
	}
	t2 := t * t
	if math.IsInf(t2, 1) {
		return 0
	}
	if math.IsInf(df, 1) {
		return 2 * NormSF(math.Abs(t))
	}
	if t2 >= 1 {
		return mathext.RegIncBeta(df/2, 0.5, df/(df+t2))
	}
	return 1 - mathext.RegIncBeta(0.5, df/2, t2/(df+t2))
}
