package stats

import "math"

// CrossEntropy scores n × classes logits (row-major, one row per sample)
// against integer labels: it returns the summed softmax cross-entropy,
//
//	Σᵢ (log Σⱼ exp(zᵢⱼ) − zᵢ,yᵢ)   (natural log),
//
// i.e. torch.nn.CrossEntropyLoss(reduction="sum") on the same logits,
// computed in float64 with the row maximum subtracted before exponentiating,
// and the number of rows whose largest logit (the first one on ties, as
// torch.argmax) is the label. Labels must lie in [0, classes).
func CrossEntropy(logits []float32, labels []int, classes int) (sum float64, correct int) {
	for i, y := range labels {
		row := logits[i*classes : (i+1)*classes]
		best := 0
		m := float64(row[0])
		for j, v := range row {
			if float64(v) > m {
				m, best = float64(v), j
			}
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v) - m)
		}
		sum += m + math.Log(s) - float64(row[y])
		if best == y {
			correct++
		}
	}
	return sum, correct
}
