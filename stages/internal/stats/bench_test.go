package stats

import (
	"math/rand/v2"
	"testing"
)

// benchData is a study-sized post-ReLU item: 288 face images against 1152
// others (1440 values), about half of them tied zeros.
func benchData() (p, n []float64) {
	r := rand.New(rand.NewPCG(1, 2))
	relu := func(x float64) float64 { return max(x, 0) }
	p = make([]float64, 288)
	n = make([]float64, 1152)
	for i := range p {
		p[i] = relu(r.NormFloat64() + 0.2)
	}
	for i := range n {
		n[i] = relu(r.NormFloat64() - 0.2)
	}
	return p, n
}

func BenchmarkFSI(b *testing.B) {
	p, n := benchData()
	for b.Loop() {
		FSI(p, n)
	}
}

func BenchmarkDPrime(b *testing.B) {
	p, n := benchData()
	for b.Loop() {
		DPrime(p, n, 0)
	}
}

func BenchmarkMannWhitney(b *testing.B) {
	p, n := benchData()
	var s Scratch
	for b.Loop() {
		s.MannWhitneyGreater(p, n)
	}
}

func BenchmarkRankSums(b *testing.B) {
	p, n := benchData()
	var s Scratch
	for b.Loop() {
		s.RankSums(p, n)
	}
}

func BenchmarkPerCategory(b *testing.B) {
	p, n := benchData()
	others := make([][]float64, 8)
	for i := range others {
		others[i] = n[144*i : 144*(i+1)]
	}
	var s Scratch
	for b.Loop() {
		s.PerCategory(p, others)
	}
}

func BenchmarkTTest(b *testing.B) {
	p, n := benchData()
	for b.Loop() {
		TTest(p, n[:288], false)
	}
}

func BenchmarkFDR(b *testing.B) {
	p := genLarge(1_000_000)
	q := make([]float64, len(p))
	rej := make([]bool, len(p))
	for b.Loop() {
		FDRTo(q, rej, p, 0.05, BH)
	}
}

func BenchmarkSpearman(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	x := make([]float64, 100_000)
	y := make([]float64, len(x))
	for i := range x {
		x[i] = r.NormFloat64()
		y[i] = x[i] + r.NormFloat64()
	}
	var s Scratch
	for b.Loop() {
		s.Spearman(x, y)
	}
}
