package stats

import (
	"cmp"
	"math"
	"slices"
)

// Scratch holds the buffers reused by the ranking functions. The zero value
// is ready to use; it grows to the largest input seen. It must not be used
// by two goroutines at once.
type Scratch struct {
	a, b  []float64
	c     []float64
	pairs []valIdx
	// sortBuf is sortByValue's scratch.
	sortBuf []valIdx
	rx      []float64
	ry      []float64
	keep    []bool
	// ov, oi are SortedOrder's results.
	ov []float64
	oi []int32
}

type valIdx struct {
	v float64
	i int32
}

// cmpVal orders valIdx by value; the values must not be NaN.
func cmpVal(a, b valIdx) int {
	switch {
	case a.v < b.v:
		return -1
	case a.v > b.v:
		return 1
	}
	return 0
}

func grow(buf []float64, n int) []float64 {
	if cap(buf) < n {
		return make([]float64, n, n+n/4)
	}
	return buf[:n]
}

// rankSums is the core of the two-sample rank tests: it ranks the pooled
// sample p ∪ n with average ranks (ties share their mean rank, as
// scipy.stats.rankdata's default "average") and returns R1, the sum of the
// ranks of p; tieTerm = Σ(t³ − t) over the tie groups (t = group size); and
// whether all values are tied (a single group). It sorts copies of p and n
// (O(n log n)) and walks them as a merge, so it needs no index array.
// NaN anywhere gives nan = true.
func (s *Scratch) rankSums(p, n []float64) (r1, tieTerm float64, allTied, nan bool) {
	var ok bool
	if s.a, ok = sortedCopy(s.a, p); !ok {
		return 0, 0, false, true
	}
	if s.b, ok = sortedCopy(s.b, n); !ok {
		return 0, 0, false, true
	}
	r1, tieTerm, allTied = mergeRanks(s.a, s.b)
	return r1, tieTerm, allTied, false
}

// SortedOrder sorts x once for rank tests on many subsets of it: it
// returns x's values in ascending order and, for each, its index in x
// (ties in index order). Picking the values of a subset in this order
// gives that subset sorted, for MannWhitneyGreaterSorted and
// RankSumsSorted. ok is false when x holds a NaN. The slices are s's
// buffers, valid until its next SortedOrder.
func (s *Scratch) SortedOrder(x []float64) (vals []float64, idx []int32, ok bool) {
	if cap(s.pairs) < len(x) {
		s.pairs = make([]valIdx, 0, len(x)+len(x)/4)
	}
	pr := s.pairs[:0]
	for i, v := range x {
		if v != v {
			return nil, nil, false
		}
		pr = append(pr, valIdx{v, int32(i)})
	}
	s.pairs = pr
	if cap(s.sortBuf) < len(pr) {
		s.sortBuf = make([]valIdx, len(pr), cap(s.pairs))
	}
	sortByValue(pr, s.sortBuf[:len(pr)])
	s.ov = grow(s.ov, len(pr))
	if cap(s.oi) < len(pr) {
		s.oi = make([]int32, len(pr))
	}
	s.oi = s.oi[:len(pr)]
	for k, p := range pr {
		s.ov[k], s.oi[k] = p.v, p.i
	}
	return s.ov, s.oi, true
}

// sortedCopy copies x into buf (grown as needed) and sorts it ascending; ok
// is false if x holds a NaN.
func sortedCopy(buf, x []float64) ([]float64, bool) {
	buf = grow(buf, len(x))
	copy(buf, x)
	for _, v := range buf {
		if v != v {
			return buf, false
		}
	}
	slices.Sort(buf)
	return buf, true
}

// mergeRanks is rankSums on already sorted a (= p) and b (= n), no NaNs.
func mergeRanks(a, b []float64) (r1, tieTerm float64, allTied bool) {
	n1, n2 := len(a), len(b)
	var i, j, pos, groups int
	var tie int64
	for i < n1 || j < n2 {
		var v float64
		if j >= n2 || (i < n1 && a[i] <= b[j]) {
			v = a[i]
		} else {
			v = b[j]
		}
		i0 := i
		for i < n1 && a[i] == v {
			i++
		}
		j0 := j
		for j < n2 && b[j] == v {
			j++
		}
		cp := i - i0
		t := cp + (j - j0)
		// The group holds ranks pos+1 … pos+t; their mean is pos + (t+1)/2,
		// a half-integer, so every product and sum here is exact.
		r1 += float64(cp) * (float64(pos) + float64(t+1)/2)
		tt := int64(t)
		tie += tt*tt*tt - tt
		pos += t
		groups++
	}
	return r1, float64(tie), groups == 1
}

// Rank writes to dst the average ranks (1-based) of x: tied values share the
// mean of the ranks they span. It is scipy.stats.rankdata(x) (method
// "average"); ±Inf rank as the extremes. If x holds a NaN, every rank is
// NaN (rankdata's default nan_policy "propagate"). dst must have len(x);
// s may be nil.
func Rank(dst, x []float64, s *Scratch) {
	if len(dst) != len(x) {
		panic("stats: Rank: length mismatch")
	}
	if s == nil {
		s = new(Scratch)
	}
	for _, v := range x {
		if v != v {
			for i := range dst {
				dst[i] = math.NaN()
			}
			return
		}
	}
	s.rank(dst, x, nil)
}

// rank writes average ranks of x (no NaNs) to dst; when keep is non-nil only
// the x[i] with keep[i] true take part and dst holds their ranks in order.
func (s *Scratch) rank(dst, x []float64, keep []bool) {
	if cap(s.pairs) < len(x) {
		s.pairs = make([]valIdx, 0, len(x)+len(x)/4)
	}
	pr := s.pairs[:0]
	for i, v := range x {
		if keep == nil || keep[i] {
			pr = append(pr, valIdx{v, int32(len(pr))})
		}
	}
	s.pairs = pr
	if cap(s.sortBuf) < len(pr) {
		s.sortBuf = make([]valIdx, len(pr), cap(s.pairs))
	}
	sortByValue(pr, s.sortBuf[:len(pr)])
	n := len(pr)
	for i := 0; i < n; {
		j := i + 1
		for j < n && pr[j].v == pr[i].v {
			j++
		}
		r := float64(i+1+j) / 2
		for k := i; k < j; k++ {
			dst[pr[k].i] = r
		}
		i = j
	}
}

// Descending returns the indices of values ordered largest value first,
// ties broken by the smaller index, NaN after every number (among
// themselves by index).
func Descending(values []float64) []int {
	idx := make([]int, len(values))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		va, vb := values[a], values[b]
		na, nb := math.IsNaN(va), math.IsNaN(vb)
		switch {
		case na && nb:
			return cmp.Compare(a, b)
		case na:
			return 1
		case nb:
			return -1
		case va != vb:
			return cmp.Compare(vb, va)
		}
		return cmp.Compare(a, b)
	})
	return idx
}
