package stats

import (
	"math"
	"slices"
	"testing"
)

// TestSplitMix64: the first outputs for seed 0 are the published ones
// (Vigna's splitmix64.c), and Shuffle is a permutation.
func TestSplitMix64(t *testing.T) {
	r := SplitMix64{}
	for i, want := range []uint64{0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f} {
		if got := r.Next(); got != want {
			t.Errorf("output %d: %#x, want %#x", i, got, want)
		}
	}
	a := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	r.Shuffle(a)
	b := slices.Clone(a)
	slices.Sort(b)
	if !slices.Equal(b, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
		t.Errorf("shuffle %v is not a permutation", a)
	}
}

// TestQuantiles: numpy.nanquantile's answers on a small sample with NaNs.
func TestQuantiles(t *testing.T) {
	x := []float64{3, math.NaN(), 1, 4, 1, 5, 9, 2, 6}
	// numpy.nanquantile(x, [0, 0.025, 0.5, 0.975, 1])
	want := []float64{1, 1, 3.5, 8.475, 9}
	got := Quantiles(x, 0, 0.025, 0.5, 0.975, 1)
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Errorf("quantile %d: %v, want %v", i, got[i], want[i])
		}
	}
	if q := Quantiles([]float64{math.NaN()}, 0.5); !math.IsNaN(q[0]) {
		t.Errorf("all NaN: %v", q)
	}
}

// TestTieRound: values a few ulps apart (the same sum in another order)
// round to one value; a difference of 1e-9 relative survives; ±Inf and
// NaN stay.
func TestTieRound(t *testing.T) {
	x := 0.39605901719066966
	got := TieRound([]float64{x, math.Nextafter(x, 1), -x, math.Nextafter(-x, -1), x * (1 + 1e-9), math.Inf(-1), math.NaN()})
	if got[0] != got[1] || got[2] != got[3] || got[2] != -got[0] || got[4] == got[0] || !math.IsInf(got[5], -1) || !math.IsNaN(got[6]) {
		t.Errorf("TieRound: %v", got)
	}
}

func TestJaccard(t *testing.T) {
	if j := Jaccard([]bool{true, true, false, false}, []bool{true, false, true, false}); j != 1.0/3 {
		t.Errorf("Jaccard %v, want 1/3", j)
	}
	if j := Jaccard([]bool{false}, []bool{false}); !math.IsNaN(j) {
		t.Errorf("Jaccard of two empty sets %v, want NaN", j)
	}
}

// TestSortedRankTests: picking subsets of one SortedOrder gives the same
// Mann–Whitney and rank-sum results, bit for bit, as the tests on the
// unsorted subsets, with ties, ±0 and ±Inf; NaN is refused.
func TestSortedRankTests(t *testing.T) {
	r := SplitMix64{State: 9}
	x := make([]float64, 700)
	for i := range x {
		x[i] = float64(r.Below(40)) / 4
		if i%97 == 0 {
			x[i] = math.Copysign(0, -1)
		}
	}
	x[5], x[6] = math.Inf(1), math.Inf(-1)
	var s Scratch
	vals, idx, ok := s.SortedOrder(x)
	if !ok {
		t.Fatal("SortedOrder refused finite values")
	}
	for trial := range 20 {
		role := make([]int, len(x))
		var p, n []float64
		for i := range x {
			role[i] = r.Below(3)
			switch role[i] {
			case 1:
				p = append(p, x[i])
			case 2:
				n = append(n, x[i])
			}
		}
		var ps, ns []float64
		for k, i := range idx {
			switch role[i] {
			case 1:
				ps = append(ps, vals[k])
			case 2:
				ns = append(ns, vals[k])
			}
		}
		u, z, pv := s.MannWhitneyGreater(p, n)
		us, zs, pvs := MannWhitneyGreaterSorted(ps, ns)
		rz, rp := s.RankSums(p, n)
		rzs, rps := RankSumsSorted(ps, ns)
		if u != us || z != zs || pv != pvs || rz != rzs || rp != rps {
			t.Errorf("trial %d: sorted (%v %v %v; %v %v), unsorted (%v %v %v; %v %v)", trial, us, zs, pvs, rzs, rps, u, z, pv, rz, rp)
		}
	}
	if _, _, ok := s.SortedOrder([]float64{1, math.NaN()}); ok {
		t.Error("SortedOrder accepted NaN")
	}
}
