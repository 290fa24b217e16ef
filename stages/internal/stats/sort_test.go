package stats

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSortByValue checks the radix sort against a stable comparison sort,
// with ties, ±0, ±Inf, subnormals and keys sharing their high bytes.
func TestSortByValue(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	special := []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), 5e-324, -5e-324, 1, -1, 0.5, math.MaxFloat64, -math.MaxFloat64}
	for _, n := range []int{0, 1, 511, 512, 513, 2000, 70000} {
		for _, kind := range []string{"mixed", "p-values", "ties"} {
			pr := make([]valIdx, n)
			for i := range pr {
				var v float64
				switch kind {
				case "mixed":
					v = r.NormFloat64() * math.Pow(10, float64(r.IntN(40)-20))
					if r.IntN(10) == 0 {
						v = special[r.IntN(len(special))]
					}
				case "p-values":
					v = r.Float64()
				case "ties":
					v = float64(r.IntN(7)) - 3
					if v == 0 && r.IntN(2) == 0 {
						v = math.Copysign(0, -1)
					}
				}
				pr[i] = valIdx{v, int32(i)}
			}
			want := slices.Clone(pr)
			slices.SortStableFunc(want, cmpVal)
			sortByValue(pr, make([]valIdx, n))
			for i := range pr {
				if pr[i].i != want[i].i {
					t.Fatalf("n=%d %s: position %d holds item %d (%g), want %d (%g)", n, kind, i, pr[i].i, pr[i].v, want[i].i, want[i].v)
				}
			}
		}
	}
}
