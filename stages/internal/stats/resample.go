package stats

import (
	"math"
	"math/bits"
	"slices"
)

// SplitMix64 is the splitmix64 generator (Steele, Lea & Flood 2014; the
// seeder of Vigna's xoshiro): each call adds 0x9E3779B97F4A7C15 to the
// state and returns the state mixed by
//
//	z = (z ⊕ z≫30)·0xBF58476D1CE4E5B9; z = (z ⊕ z≫27)·0x94D049BB133111EB; z ⊕ z≫31.
//
// Its stream is a few lines of integer arithmetic in any language, so the
// permutations and splits drawn from it can be redrawn by a reference
// implementation (testdata/permutation/gen.py) from the seed alone.
type SplitMix64 struct{ State uint64 }

// Next returns the next 64 random bits.
func (r *SplitMix64) Next() uint64 {
	r.State += 0x9E3779B97F4A7C15
	z := r.State
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}

// Below returns an integer in [0, n), n > 0: the high 64 bits of
// Next()·n (Lemire's multiply-shift, without rejection: the bias is below
// n/2⁶⁴).
func (r *SplitMix64) Below(n int) int {
	hi, _ := bits.Mul64(r.Next(), uint64(n))
	return int(hi)
}

// Shuffle permutes a in place by Fisher–Yates from the end: for i = n−1
// down to 1, swap a[i] with a[Below(i+1)].
func (r *SplitMix64) Shuffle(a []int) {
	for i := len(a) - 1; i > 0; i-- {
		j := r.Below(i + 1)
		a[i], a[j] = a[j], a[i]
	}
}

// Quantiles returns the q-quantiles (0 ≤ q ≤ 1) of x's values that are
// not NaN, as numpy.nanquantile(x, q) with its default linear method:
// h = (n−1)·q, the values at ⌊h⌋ and ⌈h⌉ of the sorted values
// interpolated by numpy's _lerp (a + (b−a)·t, or b − (b−a)·(1−t) for
// t ≥ 0.5). No value left gives NaN.
func Quantiles(x []float64, q ...float64) []float64 {
	s := slices.DeleteFunc(slices.Clone(x), func(v float64) bool { return v != v })
	slices.Sort(s)
	out := make([]float64, len(q))
	for k, qk := range q {
		if len(s) == 0 {
			out[k] = math.NaN()
			continue
		}
		h := float64(len(s)-1) * qk
		lo := int(math.Floor(h))
		hi := min(lo+1, len(s)-1)
		t := h - float64(lo)
		a, b := s[lo], s[hi]
		if t >= 0.5 {
			out[k] = b - (b-a)*(1-t)
		} else {
			out[k] = a + (b-a)*t
		}
	}
	return out
}

// TieRound returns x with each finite value rounded to 40 significant
// bits, about 12 decimal digits (half up in magnitude: 2¹¹ added to the
// IEEE bit pattern, the low 12 bits cleared; ±Inf and NaN unchanged).
// Ranked after TieRound, two values that are the same statistic computed
// in another order — equal but for rounding error — tie instead of being
// ordered by that error. numpy: view as uint64, (b + 2048) & ~4095.
func TieRound(x []float64) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		if math.IsInf(v, 0) || v != v {
			out[i] = v
			continue
		}
		out[i] = math.Float64frombits((math.Float64bits(v) + 1<<11) &^ (1<<12 - 1))
	}
	return out
}

// Jaccard returns the Jaccard index of two sets given by membership,
// |A ∩ B| / |A ∪ B|; NaN when both are empty. a and b must have the same
// length.
func Jaccard(a, b []bool) float64 {
	if len(a) != len(b) {
		panic("stats: Jaccard: length mismatch")
	}
	inter, union := 0, 0
	for i := range a {
		if a[i] && b[i] {
			inter++
		}
		if a[i] || b[i] {
			union++
		}
	}
	if union == 0 {
		return math.NaN()
	}
	return float64(inter) / float64(union)
}
