package synth

import (
	"math/bits"
	"math/rand/v2"
)

// rng draws integers from a PCG stream seeded explicitly from a key, so
// that every image depends only on (category, index, size, seed). Only the
// PCG source's Uint64 is used (bounded draws are done here) so the stream
// cannot change with the Go version's choice of algorithms for IntN etc.
type rng struct{ src *rand.PCG }

// mix is splitmix64's finaliser.
func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// newRNG seeds a stream from the user seed, a purpose tag and integers.
func newRNG(seed int64, tag string, ks ...int64) *rng {
	h := mix(uint64(seed))
	for i := 0; i < len(tag); i++ {
		h = mix(h ^ uint64(tag[i]))
	}
	for _, k := range ks {
		h = mix(h ^ uint64(k))
	}
	return &rng{rand.NewPCG(h, mix(h^0x5851f42d4c957f2d))}
}

// intn returns a uniform integer in [0, n) (Lemire's multiply-shift; the
// bias is below 2⁻⁵⁰ for the small n used here).
func (r *rng) intn(n int64) int64 {
	if n <= 0 {
		return 0
	}
	hi, _ := bits.Mul64(r.src.Uint64(), uint64(n))
	return int64(hi)
}

// rng returns a uniform integer in [lo, hi].
func (r *rng) rng(lo, hi int64) int64 { return lo + r.intn(hi-lo+1) }

// sym returns a uniform integer in [-a, a].
func (r *rng) sym(a int64) int64 { return r.rng(-a, a) }

// chance is true with probability p/1000.
func (r *rng) chance(p int64) bool { return r.intn(1000) < p }

// perm returns a random permutation of 0..n-1 (Fisher–Yates).
func (r *rng) perm(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := int(r.intn(int64(i + 1)))
		p[i], p[j] = p[j], p[i]
	}
	return p
}
