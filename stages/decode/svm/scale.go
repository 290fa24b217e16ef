package svm

import "math"

// Scaler standardises features with the mean and standard deviation of a
// training set: scikit-learn's StandardScaler() (with_mean, with_std).
type Scaler struct {
	Mean  []float64
	Scale []float64
}

// FitScaler computes each column's mean and population standard deviation
// (ddof 0) of the n×d matrix x, by two passes in float64 as numpy does. A
// column that scikit-learn deems constant gets scale 1
// (sklearn.preprocessing._data._is_constant_feature: var ≤ n·ε·var +
// (n·mean·ε)², ε the float64 machine epsilon; and _handle_zeros_in_scale:
// a scale below 10ε also becomes 1), so it is centred but not divided.
func FitScaler(x []float64, n, d int) *Scaler {
	s := &Scaler{Mean: make([]float64, d), Scale: make([]float64, d)}
	for i := range n {
		row := x[i*d : (i+1)*d]
		for j, v := range row {
			s.Mean[j] += v
		}
	}
	for j := range d {
		s.Mean[j] /= float64(n)
	}
	vr := make([]float64, d)
	for i := range n {
		row := x[i*d : (i+1)*d]
		for j, v := range row {
			e := v - s.Mean[j]
			vr[j] += e * e
		}
	}
	const eps = 0x1p-52
	fn := float64(n)
	for j := range d {
		v := vr[j] / fn
		sc := math.Sqrt(v)
		bound := fn*eps*v + (fn*s.Mean[j]*eps)*(fn*s.Mean[j]*eps)
		if v <= bound || sc < 10*eps {
			sc = 1
		}
		s.Scale[j] = sc
	}
	return s
}

// Transform standardises the n×d matrix x in place: (x − mean)/scale.
func (s *Scaler) Transform(x []float64, n int) {
	d := len(s.Mean)
	for i := range n {
		row := x[i*d : (i+1)*d]
		for j := range row {
			row[j] = (row[j] - s.Mean[j]) / s.Scale[j]
		}
	}
}
