package stats

import (
	"math"
	"slices"
)

// sortKey maps a non-NaN float64 to a uint64 with the same order: the
// sign bit flipped for positives, every bit for negatives; −0 and +0 tie.
func sortKey(v float64) uint64 {
	if v == 0 {
		return 1 << 63
	}
	b := math.Float64bits(v)
	if b>>63 != 0 {
		return ^b
	}
	return b | 1<<63
}

// sortByValue sorts pr by value, keeping the order of ties (stable). Values
// must not be NaN; buf is scratch of at least len(pr). Large inputs take an
// LSD radix sort over sortKey, bytes that all keys share skipped: a
// comparison sort through a comparator func spent most of FDR's and
// Spearman's time in calls it cannot inline.
func sortByValue(pr, buf []valIdx) {
	n := len(pr)
	if n < 512 {
		slices.SortStableFunc(pr, cmpVal)
		return
	}
	var count [8][256]int
	for _, p := range pr {
		k := sortKey(p.v)
		for b := range 8 {
			count[b][byte(k>>(8*b))]++
		}
	}
	src, dst := pr, buf[:n]
	for b := range 8 {
		c := &count[b]
		if c[byte(sortKey(src[0].v)>>(8*b))] == n {
			continue // every key has this byte
		}
		sum := 0
		for i := range c {
			c[i], sum = sum, sum+c[i]
		}
		shift := 8 * b
		for _, p := range src {
			d := byte(sortKey(p.v) >> shift)
			dst[c[d]] = p
			c[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &pr[0] {
		copy(pr, src)
	}
}
