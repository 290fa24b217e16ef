package stats

import "math"

// pairwiseSum returns the sum of x with numpy's pairwise summation
// (numpy/core/src/umath/loops_utils.h.src, @TYPE@_pairwise_sum): blocks of
// at most 128 values summed with eight interleaved accumulators, larger
// slices split in two at a multiple of eight. It gives the same bits as
// numpy's inner loop on a contiguous float64 array.
func pairwiseSum(x []float64) float64 {
	n := len(x)
	switch {
	case n < 8:
		res := 0.0
		for _, v := range x {
			res += v
		}
		return res
	case n <= 128:
		r0, r1, r2, r3 := x[0], x[1], x[2], x[3]
		r4, r5, r6, r7 := x[4], x[5], x[6], x[7]
		i := 8
		for ; i < n-n%8; i += 8 {
			b := x[i : i+8 : i+8]
			r0 += b[0]
			r1 += b[1]
			r2 += b[2]
			r3 += b[3]
			r4 += b[4]
			r5 += b[5]
			r6 += b[6]
			r7 += b[7]
		}
		res := ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
		for ; i < n; i++ {
			res += x[i]
		}
		return res
	default:
		n2 := n / 2
		n2 -= n2 % 8
		return pairwiseSum(x[:n2]) + pairwiseSum(x[n2:])
	}
}

// numpyBufSize is numpy's default ufunc buffer size: a 1-D reduction is
// handed to the pairwise inner loop in chunks of this many elements.
const numpyBufSize = 8192

// Sum returns the sum of x exactly as numpy.sum does for a contiguous 1-D
// float64 array (numpy 1.24: the accumulator starts at 0 and takes the
// values in chunks of 8192, the ufunc buffer size, each chunk summed
// pairwise; checked bit for bit against numpy up to 3.2 million values).
// The error is O(log n · ε) per chunk.
func Sum(x []float64) float64 {
	acc := 0.0
	for len(x) > 0 {
		k := min(len(x), numpyBufSize)
		acc += pairwiseSum(x[:k])
		x = x[k:]
	}
	return acc
}

// Mean returns the arithmetic mean of x (numpy.mean: Sum(x)/len(x)).
// The mean of an empty slice is NaN.
func Mean(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	return Sum(x) / float64(len(x))
}

// MeanVar returns the mean of x and its variance Σ(x−m)²/(n−ddof), by two
// passes as numpy.var(x, ddof=ddof). A slice whose values are all equal
// (and finite) has mean exactly that value and variance exactly 0; numpy
// can return a variance of order ε² there because Σx/n need not round back
// to the value (0.1+0.1+0.1 ≠ 0.3). The variance is NaN when n−ddof ≤ 0
// (numpy: 0/0 for a single value with ddof 1). Empty x gives NaN, NaN.
func MeanVar(x []float64, ddof int) (mean, variance float64) {
	n := len(x)
	if n == 0 {
		return math.NaN(), math.NaN()
	}
	if c, ok := constant(x); ok {
		if n-ddof <= 0 {
			return c, math.NaN()
		}
		return c, 0
	}
	mean = Sum(x) / float64(n)
	if n-ddof <= 0 {
		return mean, math.NaN()
	}
	var ss float64
	for _, v := range x {
		d := v - mean
		ss += d * d
	}
	return mean, ss / float64(n-ddof)
}

// constant reports whether x is non-empty and all its values are equal and
// finite, and returns that value.
func constant(x []float64) (float64, bool) {
	if len(x) == 0 {
		return 0, false
	}
	c := x[0]
	if math.IsInf(c, 0) || c != c {
		return 0, false
	}
	for _, v := range x[1:] {
		if v != c {
			return 0, false
		}
	}
	return c, true
}

// MeanSEM returns the mean of x and its standard error, the sample standard
// deviation (ddof 1) over √n: scipy.stats.sem(x) (ddof=1). With fewer than
// two values the SEM is NaN.
func MeanSEM(x []float64) (mean, sem float64) {
	m, v := MeanVar(x, 1)
	return m, math.Sqrt(v) / math.Sqrt(float64(len(x)))
}

// NanMean returns the mean of x's values that are not NaN, numpy.nanmean
// (summed in order, not pairwise); NaN when none is left.
func NanMean(x []float64) float64 {
	s, n := 0.0, 0
	for _, v := range x {
		if v == v {
			s += v
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return s / float64(n)
}
