package lesion

import (
	"math"
	"testing"
)

func TestCentroidsAndCosine(t *testing.T) {
	// Two identities in 2-D: rows (3,4) and (1,0) of identity 0, (0,2) of 1.
	emb := []float32{3, 4, 1, 0, 0, 2}
	c := centroids(emb, 2, []int{0, 0, 1}, 2)
	// Identity 0: mean of (0.6, 0.8) and (1, 0) = (0.8, 0.4), unit length.
	n := math.Hypot(0.8, 0.4)
	want := []float64{0.8 / n, 0.4 / n, 0, 1}
	for i, w := range want {
		if math.Abs(float64(c[i])-w) > 1e-7 {
			t.Fatalf("centroids %v, want %v", c, want)
		}
	}
	got := cosineLogits([]float32{3, 4, 0, 0}, 2, c, 2, 10, nil)
	wantL := []float64{10 * (0.6*want[0] + 0.8*want[1]), 10 * 0.8, 0, 0} // a zero row: zero logits
	for i, w := range wantL {
		if math.Abs(float64(got[i])-w) > 1e-5 {
			t.Fatalf("logits %v, want %v", got, wantL)
		}
	}
}
