package svm

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"gonum.org/v1/gonum/floats"
)

// fixture is testdata/decode/fixtures.json (see gen.py there).
type fixture struct {
	Identities int         `json:"identities"`
	M          int         `json:"images_per_identity"`
	Features   int         `json:"features"`
	Identity   []int       `json:"identity"`
	Image      []int       `json:"image"`
	X          [][]float64 `json:"x"`
	Sets       map[string]*refSet
	Binary     *refSet `json:"binary"`
}

type refSet struct {
	Kernels []int `json:"kernels"`
	Folds   []struct {
		Test      []int           `json:"test"`
		Decision  json.RawMessage `json:"decision"` // n×K, or n for two classes
		Predicted []int           `json:"predicted"`
		Accuracy  float64         `json:"accuracy"`
		Coef      [][]float64     `json:"coef"`
		Intercept []float64       `json:"intercept"`
	} `json:"folds"`
}

func load(t testing.TB) *fixture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "decode", "fixtures.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f fixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

// fold builds fold k's standardised train and test matrices on the given
// columns (and, if ids is non-nil, only those identities' rows).
func (f *fixture) fold(k int, cols []int, test []int) (xtr []float64, ytr []int, xte []float64, yte []int) {
	isTest := map[int]bool{}
	for _, r := range test {
		isTest[r] = true
	}
	ids := map[int]bool{}
	for _, r := range test {
		ids[f.Identity[r]] = true
	}
	d := len(cols)
	for r, row := range f.X {
		if !ids[f.Identity[r]] {
			continue
		}
		vals := make([]float64, d)
		for j, c := range cols {
			vals[j] = row[c]
		}
		if isTest[r] {
			xte = append(xte, vals...)
			yte = append(yte, f.Identity[r])
		} else {
			xtr = append(xtr, vals...)
			ytr = append(ytr, f.Identity[r])
		}
	}
	sc := FitScaler(xtr, len(ytr), d)
	sc.Transform(xtr, len(ytr))
	sc.Transform(xte, len(yte))
	return
}

// TestLinearSVCParity: per fold, accuracies equal scikit-learn's, decision
// values and coefficients agree to the solver's tolerance, predictions
// agree on at least 99 % of test images.
func TestLinearSVCParity(t *testing.T) {
	f := load(t)
	sets := map[string]*refSet{"binary": f.Binary}
	for name, s := range f.Sets {
		sets[name] = s
	}
	total, agree := 0, 0
	worstDec := 0.0
	for name, s := range sets {
		for k, ref := range s.Folds {
			xtr, ytr, xte, yte := f.fold(k, s.Kernels, ref.Test)
			d := len(s.Kernels)
			m, err := Fit(xtr, len(ytr), d, ytr, Options{C: 1, Tol: 1e-4, MaxIter: 1000, InterceptScaling: 1, Seed: uint64(k)})
			if err != nil {
				t.Fatal(err)
			}
			if !m.Converged {
				t.Errorf("%s fold %d: not converged (%v)", name, k, m.Iter)
			}
			pred := m.Predict(xte, len(yte))
			correct := 0
			for i, p := range pred {
				total++
				if p == ref.Predicted[i] {
					agree++
				}
				if p == yte[i] {
					correct++
				}
			}
			acc := float64(correct) / float64(len(yte))
			if acc != ref.Accuracy {
				t.Errorf("%s fold %d: accuracy %v, scikit-learn %v", name, k, acc, ref.Accuracy)
			}
			dec := m.Decision(xte, len(yte), nil)
			nw := len(m.Coef)
			var refDec [][]float64
			if json.Unmarshal(ref.Decision, &refDec) != nil {
				refDec = nil
				var flat []float64
				if err := json.Unmarshal(ref.Decision, &flat); err != nil {
					t.Fatal(err)
				}
				for _, v := range flat {
					refDec = append(refDec, []float64{v})
				}
			}
			if len(refDec) != len(yte) || len(refDec[0]) != nw {
				t.Fatalf("%s fold %d: scikit-learn has %d×%d decision values, we %d×%d", name, k, len(refDec), len(refDec[0]), len(yte), nw)
			}
			for i, row := range refDec {
				for c, want := range row {
					got := dec[i*nw+c]
					if e := math.Abs(got - want); e > worstDec {
						worstDec = e
					}
				}
			}
			if ref.Coef != nil {
				checkCoef(t, name, m, ref.Coef, ref.Intercept)
			}
		}
	}
	t.Logf("predictions agree on %d of %d test images; largest decision-value difference %.2g", agree, total, worstDec)
	if float64(agree) < 0.99*float64(total) {
		t.Errorf("predictions agree on %d of %d test images, want ≥ 99%%", agree, total)
	}
	if worstDec > 5e-3 {
		t.Errorf("decision values differ by up to %g", worstDec)
	}
}

// checkCoef compares coef_ and intercept_ relative to the largest weight.
func checkCoef(t *testing.T, name string, m *Model, coef [][]float64, intercept []float64) {
	t.Helper()
	if len(coef) != len(m.Coef) {
		t.Fatalf("%s: %d weight vectors, scikit-learn %d", name, len(m.Coef), len(coef))
	}
	scale, worst := 0.0, 0.0
	for k := range coef {
		for j, v := range coef[k] {
			scale = max(scale, math.Abs(v))
			worst = max(worst, math.Abs(v-m.Coef[k][j]))
		}
		scale = max(scale, math.Abs(intercept[k]))
		worst = max(worst, math.Abs(intercept[k]-m.Intercept[k]))
	}
	t.Logf("%s: coef/intercept differ by ≤ %.2g of the largest weight %.3g", name, worst/scale, scale)
	if worst > 1e-3*scale {
		t.Errorf("%s: coef/intercept differ by %g (largest weight %g)", name, worst, scale)
	}
}

// TestOptimality: at the solution, the primal gradient of
// ½‖w‖² + C Σ max(0, 1 − y w·x̃)² is close to zero, and the result does not
// depend on the seed beyond the tolerance.
func TestOptimality(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n, d := 60, 5
	x := make([]float64, n*d)
	y := make([]int, n)
	for i := range n {
		y[i] = i % 3
		for j := range d {
			x[i*d+j] = rng.NormFloat64() + float64(y[i]*(j%2))
		}
	}
	opt := DefaultOptions()
	opt.Tol = 1e-10
	opt.MaxIter = 1000000
	a, err := Fit(x, n, d, y, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("iterations %v", a.Iter)
	opt.Seed = 99
	b, _ := Fit(x, n, d, y, opt)
	for k := range a.Coef {
		w := append(append([]float64{}, a.Coef[k]...), a.Intercept[k])
		g := append([]float64{}, w...)
		for i := range n {
			yi := -1.0
			if y[i] == a.Classes[k] {
				yi = 1
			}
			xi := append(append([]float64{}, x[i*d:(i+1)*d]...), 1)
			if m := 1 - yi*floats.Dot(w, xi); m > 0 {
				for j := range g {
					g[j] -= 2 * opt.C * m * yi * xi[j]
				}
			}
		}
		for j, v := range g {
			if math.Abs(v) > 1e-7 {
				t.Errorf("class %d: gradient[%d] = %g", k, j, v)
			}
		}
		for j := range a.Coef[k] {
			if math.Abs(a.Coef[k][j]-b.Coef[k][j]) > 1e-8 {
				t.Errorf("class %d: coef %d differs between seeds: %g vs %g", k, j, a.Coef[k][j], b.Coef[k][j])
			}
		}
	}
}

func TestScalerConstantColumn(t *testing.T) {
	x := []float64{1, 0.1, 2, 0.1, 3, 0.1}
	s := FitScaler(x, 3, 2)
	if s.Scale[1] != 1 || math.Abs(s.Mean[1]-0.1) > 1e-16 {
		t.Errorf("constant column: mean %v scale %v", s.Mean[1], s.Scale[1])
	}
	if math.Abs(s.Scale[0]-math.Sqrt(2.0/3)) > 1e-15 {
		t.Errorf("scale %v", s.Scale[0])
	}
}

func TestErrors(t *testing.T) {
	if _, err := Fit([]float64{1, 2}, 2, 1, []int{0, 0}, DefaultOptions()); err == nil {
		t.Error("one class: no error")
	}
	if _, err := Fit([]float64{1, math.NaN()}, 2, 1, []int{0, 1}, DefaultOptions()); err == nil {
		t.Error("NaN: no error")
	}
	if _, err := Fit([]float64{1}, 2, 1, []int{0, 1}, DefaultOptions()); err == nil {
		t.Error("short x: no error")
	}
}

// BenchmarkFitStudySize is one fold at the study's size: 100 identities ×
// 9 training images × 96 standardised features (+ bias), 100 one-vs-rest
// problems, and the 100 test images' predictions; d512 is the all-kernel
// baseline of conv13.
func BenchmarkFitStudySize(b *testing.B) {
	for _, d := range []int{96, 512} {
		b.Run(fmt.Sprintf("d%d", d), func(b *testing.B) { benchFit(b, d) })
	}
}

func benchFit(b *testing.B, d int) {
	const ids, m = 100, 10
	rng := rand.New(rand.NewPCG(3, 4))
	proto := make([]float64, ids*d)
	for i := range proto {
		proto[i] = rng.NormFloat64()
	}
	var xtr, xte []float64
	var ytr []int
	for id := range ids {
		for k := range m {
			row := make([]float64, d)
			for j := range row {
				row[j] = 0.6*proto[id*d+j] + rng.NormFloat64()
			}
			if k == 0 {
				xte = append(xte, row...)
			} else {
				xtr = append(xtr, row...)
				ytr = append(ytr, id)
			}
		}
	}
	sc := FitScaler(xtr, len(ytr), d)
	sc.Transform(xtr, len(ytr))
	sc.Transform(xte, ids)
	b.ResetTimer()
	for b.Loop() {
		mdl, err := Fit(xtr, len(ytr), d, ytr, DefaultOptions())
		if err != nil {
			b.Fatal(err)
		}
		pred := mdl.Predict(xte, ids)
		correct := 0
		for i, p := range pred {
			if p == i {
				correct++
			}
		}
		maxIter := slices.Max(mdl.Iter)
		b.ReportMetric(float64(maxIter), "max-iter")
		b.ReportMetric(float64(correct)/ids, "accuracy")
	}
}
