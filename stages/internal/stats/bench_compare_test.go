package stats

import (
	"math"
	"sync"
	"testing"
)

// Benchmarks compared side by side with scipy by bench/run.sh (reference:
// bench/ref.py, which regenerates the same inputs with numpy). See
// BENCHMARKS.md.

// cmpUniform is the i-th uniform in (0, 1) of stream seed: splitmix64 of
// seed·2³² + i, top 53 bits, centred. bench/ref.py computes the same bits
// with numpy uint64 arithmetic (checked: the 14.4 M values of cmpMatrix sum
// to 4995742.041024 on both sides, 7,883,881 of them zero).
func cmpUniform(seed, i uint64) float64 {
	x := seed<<32 + i + 0x9E3779B97F4A7C15
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	x = (x ^ (x >> 27)) * 0x94D049BB133111EB
	x ^= x >> 31
	return (float64(x>>11) + 0.5) / (1 << 53)
}

// cmpNormal is the k-th standard normal of stream seed (Box–Muller of
// uniforms 2k and 2k+1).
func cmpNormal(seed, k uint64) float64 {
	u1, u2 := cmpUniform(seed, 2*k), cmpUniform(seed, 2*k+1)
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
}

// The study's item: 288 preferred (face) images against 1152 others.
const cmpItems, cmpP, cmpN = 10_000, 288, 1152

var (
	cmpOnce sync.Once
	cmpX    []float64
)

// cmpMatrix is cmpItems rows of cmpP+cmpN post-ReLU values, item-major (as
// the metric stage's scratch): row i is P = ReLU(z+0.2) then N = ReLU(z−0.2)
// with z standard normal, so about 40% (P) and 58% (N) of the values are
// tied zeros.
func cmpMatrix() []float64 {
	cmpOnce.Do(func() {
		const m = cmpP + cmpN
		cmpX = make([]float64, cmpItems*m)
		for k := range cmpX {
			shift := -0.2
			if k%m < cmpP {
				shift = 0.2
			}
			cmpX[k] = max(cmpNormal(7, uint64(k))+shift, 0)
		}
	})
	return cmpX
}

var cmpSink float64

// BenchmarkCompareMannWhitney10k is the Mann–Whitney U test (greater,
// asymptotic, tie- and continuity-corrected) of 10,000 items, one
// Scratch.MannWhitneyGreater call per item; reference:
// scipy.stats.mannwhitneyu(P, N, axis=1, alternative="greater",
// method="asymptotic").
func BenchmarkCompareMannWhitney10k(b *testing.B) {
	x := cmpMatrix()
	const m = cmpP + cmpN
	var s Scratch
	for b.Loop() {
		acc := 0.0
		for i := range cmpItems {
			row := x[i*m : (i+1)*m]
			_, _, p := s.MannWhitneyGreater(row[:cmpP], row[cmpP:])
			acc += p
		}
		cmpSink = acc
	}
	b.Logf("result: sum of p-values %.10g", cmpSink)
}

// BenchmarkCompareTTest10k is Student's t-test of P (288) against N (1152)
// for 10,000 items, one TTest call per item; reference:
// scipy.stats.ttest_ind(P, N, axis=1).
func BenchmarkCompareTTest10k(b *testing.B) {
	x := cmpMatrix()
	const m = cmpP + cmpN
	for b.Loop() {
		acc := 0.0
		for i := range cmpItems {
			row := x[i*m : (i+1)*m]
			_, p := TTest(row[:cmpP], row[cmpP:], false)
			acc += p
		}
		cmpSink = acc
	}
}

// BenchmarkCompareSpearman100k is Spearman's ρ of 10⁵ pairs (x standard
// normal, y = x + standard normal noise, from cmpNormal); reference:
// scipy.stats.spearmanr(x, y). (BenchmarkSpearman is the same size with
// math/rand's normals.)
func BenchmarkCompareSpearman100k(b *testing.B) {
	const n = 100_000
	x := make([]float64, n)
	y := make([]float64, n)
	for i := range x {
		x[i] = cmpNormal(11, uint64(i))
		y[i] = x[i] + cmpNormal(12, uint64(i))
	}
	var s Scratch
	for b.Loop() {
		cmpSink = s.Spearman(x, y)
	}
	b.Logf("result: rho %.10g", cmpSink)
}
