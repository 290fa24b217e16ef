package stats

import (
	"math"
	"testing"
)

func TestCrossEntropy(t *testing.T) {
	lse := func(v ...float64) float64 {
		var s float64
		for _, x := range v {
			s += math.Exp(x)
		}
		return math.Log(s)
	}
	for _, tc := range []struct {
		name    string
		logits  []float32
		labels  []int
		sum     float64
		correct int
	}{
		{"two rows, tie goes to the first class", []float32{1, 2, 3, 0, 0, 0}, []int{2, 1}, (lse(1, 2, 3) - 3) + math.Log(3), 1},
		// exp(1000) overflows float64: only a shifted sum gives the answer.
		{"large logits", []float32{1000, 1001}, []int{0}, 1 + math.Log(1+math.Exp(-1)), 0},
		{"one class", []float32{-7}, []int{0}, 0, 1},
	} {
		sum, correct := CrossEntropy(tc.logits, tc.labels, len(tc.logits)/len(tc.labels))
		if math.Abs(sum-tc.sum) > 1e-12*math.Max(1, math.Abs(tc.sum)) || correct != tc.correct {
			t.Errorf("%s: got %v, %d; want %v, %d", tc.name, sum, correct, tc.sum, tc.correct)
		}
	}
}
