// Package svm is a linear support vector classifier: one-vs-rest, squared
// hinge loss, L2 penalty, solved in the dual by coordinate descent (Hsieh et
// al., ICML 2008, Algorithm 3 with shrinking) — the algorithm of LIBLINEAR's
// solve_l2r_l1l2_svc for L2R_L2LOSS_SVC_DUAL and so of scikit-learn's
// LinearSVC() with its defaults.
//
// # Problem
//
// Each binary problem (labels y_i = ±1) minimises over w
//
//	½‖w‖² + C Σ_i max(0, 1 − y_i w·x̃_i)²,   x̃_i = (x_i, B),
//
// where B is the intercept scaling (1): the bias is an extra feature of
// constant value B and its weight is regularised like the others, exactly as
// LIBLINEAR and LinearSVC (fit_intercept, intercept_scaling = 1) do; the
// intercept is B·w_last. The dual, min_α ½αᵀ(Q + D)α − eᵀα with α ≥ 0,
// Q_ij = y_i y_j x̃_i·x̃_j and D_ii = 1/(2C), is solved one coordinate at a
// time: with G = y_i w·x̃_i − 1 + D_ii α_i the gradient,
// α_i ← max(α_i − G/(Q_ii + D_ii), 0) and w += (Δα_i) y_i x̃_i.
//
// # What follows LIBLINEAR exactly
//
//   - Each outer iteration visits the active coordinates in a fresh random
//     permutation (Fisher–Yates over the active set).
//   - Shrinking: a coordinate with α_i = 0 and G > PGmax_old is removed from
//     the active set (PGmax_old: the largest projected gradient of the
//     previous iteration, +Inf when that was ≤ 0). The upper bound is +Inf
//     for the squared hinge, so the α = C branch never applies.
//   - Projected gradient PG = G, except PG = min(G, 0) at α_i = 0; a step is
//     taken only when |PG| > 1e-12.
//   - Stopping: PGmax − PGmin ≤ tol over an iteration. If coordinates were
//     shrunk, the active set is reset to all of them and the search goes on
//     (PGmax_old = +Inf, PGmin_old = −Inf); it stops only when the criterion
//     holds on the full set, or after MaxIter outer iterations (1000), which
//     Model.Converged reports as false (scikit-learn's ConvergenceWarning).
//   - Multi-class: the labels are sorted ascending (scikit-learn's modified
//     group_classes); with K > 2 classes, problem k has class k positive and
//     every other class negative, Cp = Cn = C; the decision values are
//     w_k·x̃ and the prediction is the first class of largest value. With
//     K = 2 there is one problem, the larger label positive, and the
//     prediction is the larger label when w·x̃ > 0 (scikit-learn's
//     coef_ of shape (1, d)).
//
// # What differs
//
// LIBLINEAR draws the permutation with its own generator (scikit-learn
// seeds it from random_state); this package uses math/rand/v2's PCG seeded
// by Options.Seed. Iterates therefore differ, but the primal problem is
// strictly convex, so w is unique, and both implementations stop at
// solutions satisfying the same optimality tolerance: coefficients agree to
// the tolerance's order (≈1e-3 relative on the reference fixtures) and
// predictions agree except for test points within that distance of a
// decision tie.
//
// Arithmetic is float64 throughout; inputs are dense row-major matrices, and
// the inner products and updates use gonum's assembly kernels (floats.Dot,
// floats.AddScaled).
package svm

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/floats"
)

// Options are the solver's settings; DefaultOptions gives LinearSVC()'s.
type Options struct {
	// C is the inverse regularisation strength (> 0).
	C float64
	// Tol is the stopping tolerance on the projected gradient's spread.
	Tol float64
	// MaxIter bounds the outer iterations of each binary problem.
	MaxIter int
	// InterceptScaling is the value B of the bias feature; 0 fits no
	// intercept.
	InterceptScaling float64
	// Seed seeds the coordinate permutations.
	Seed uint64
}

// DefaultOptions returns scikit-learn LinearSVC()'s defaults: C = 1,
// tol = 1e-4, max_iter = 1000, intercept_scaling = 1.
func DefaultOptions() Options {
	return Options{C: 1, Tol: 1e-4, MaxIter: 1000, InterceptScaling: 1}
}

// Model is a fitted classifier.
type Model struct {
	// Classes are the distinct training labels, ascending.
	Classes []int
	// Coef holds one weight vector of length d per binary problem:
	// len(Classes) of them, or one when there are two classes (for the
	// larger label).
	Coef [][]float64
	// Intercept is B·w_bias per binary problem (0 without intercept).
	Intercept []float64
	// Iter is the number of outer iterations each problem took.
	Iter []int
	// Converged is false if some problem stopped at MaxIter.
	Converged bool
}

// Fit trains on the n×d row-major matrix x with labels y (len n).
func Fit(x []float64, n, d int, y []int, opt Options) (*Model, error) {
	if n < 1 || d < 0 || len(x) != n*d || len(y) != n {
		return nil, fmt.Errorf("svm: %d values and %d labels for a %d×%d problem", len(x), len(y), n, d)
	}
	if !(opt.C > 0) || !(opt.Tol > 0) || opt.MaxIter < 1 || opt.InterceptScaling < 0 {
		return nil, fmt.Errorf("svm: invalid options %+v", opt)
	}
	for _, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, errors.New("svm: features hold NaN or Inf")
		}
	}
	classes := slices.Clone(y)
	slices.Sort(classes)
	classes = slices.Compact(classes)
	if len(classes) < 2 {
		return nil, fmt.Errorf("svm: need at least two classes, got %d", len(classes))
	}
	// Augmented rows x̃_i = (x_i, B), contiguous.
	da := d
	if opt.InterceptScaling > 0 {
		da = d + 1
	}
	xa := make([]float64, n*da)
	sq := make([]float64, n)
	for i := range n {
		row := xa[i*da : (i+1)*da]
		copy(row, x[i*d:(i+1)*d])
		if da > d {
			row[d] = opt.InterceptScaling
		}
		sq[i] = floats.Dot(row, row)
	}
	m := &Model{Classes: classes, Converged: true}
	problems := len(classes)
	if problems == 2 {
		problems = 1
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0x5eed5))
	s := &solver{n: n, d: da, x: xa, sq: sq, opt: opt, rng: rng,
		yi: make([]float64, n), alpha: make([]float64, n), index: make([]int, n), qd: make([]float64, n)}
	for k := range problems {
		pos := classes[k]
		if problems == 1 {
			pos = classes[1]
		}
		for i, l := range y {
			if l == pos {
				s.yi[i] = 1
			} else {
				s.yi[i] = -1
			}
		}
		w := make([]float64, da)
		iter := s.solve(w)
		m.Iter = append(m.Iter, iter)
		if iter >= opt.MaxIter {
			m.Converged = false
		}
		b := 0.0
		if da > d {
			b = opt.InterceptScaling * w[d]
		}
		m.Coef = append(m.Coef, w[:d:d])
		m.Intercept = append(m.Intercept, b)
	}
	return m, nil
}

// solver holds one training set's buffers, reused across the binary
// problems.
type solver struct {
	n, d  int
	x     []float64 // n × d augmented rows
	sq    []float64 // ‖x̃_i‖²
	opt   Options
	rng   *rand.Rand
	yi    []float64 // ±1
	alpha []float64
	index []int
	qd    []float64
}

// solve runs dual coordinate descent for the labels in s.yi, writing w, and
// returns the number of outer iterations.
func (s *solver) solve(w []float64) int {
	n := s.n
	diag := 0.5 / s.opt.C
	clear(w)
	for i := range n {
		s.alpha[i] = 0
		s.qd[i] = s.sq[i] + diag
		s.index[i] = i
	}
	active := n
	pgMaxOld := math.Inf(1)
	iter := 0
	for iter < s.opt.MaxIter {
		pgMax, pgMin := math.Inf(-1), math.Inf(1)
		for i := range active {
			j := i + s.rng.IntN(active-i)
			s.index[i], s.index[j] = s.index[j], s.index[i]
		}
		for k := 0; k < active; k++ {
			i := s.index[k]
			xi := s.x[i*s.d : (i+1)*s.d]
			yi := s.yi[i]
			g := floats.Dot(w, xi)*yi - 1 + s.alpha[i]*diag
			pg := 0.0
			if s.alpha[i] == 0 {
				if g > pgMaxOld {
					active--
					s.index[k], s.index[active] = s.index[active], s.index[k]
					k--
					continue
				}
				if g < 0 {
					pg = g
				}
			} else {
				pg = g
			}
			pgMax = max(pgMax, pg)
			pgMin = min(pgMin, pg)
			if math.Abs(pg) > 1e-12 {
				old := s.alpha[i]
				s.alpha[i] = max(old-g/s.qd[i], 0)
				floats.AddScaled(w, (s.alpha[i]-old)*yi, xi)
			}
		}
		iter++
		if pgMax-pgMin <= s.opt.Tol {
			if active == n {
				break
			}
			active = n
			pgMaxOld = math.Inf(1)
			continue
		}
		// LIBLINEAR also keeps PGmin_old, used only to shrink coordinates at
		// the upper bound C of the L1 loss; the squared hinge has none.
		pgMaxOld = pgMax
		if pgMaxOld <= 0 {
			pgMaxOld = math.Inf(1)
		}
	}
	return iter
}

// Decision writes the decision values of the n×d rows x into dst
// (n × len(m.Coef), row-major) and returns it.
func (m *Model) Decision(x []float64, n int, dst []float64) []float64 {
	nw := len(m.Coef)
	d := 0
	if nw > 0 {
		d = len(m.Coef[0])
	}
	if len(x) != n*d {
		panic(fmt.Sprintf("svm: Decision: %d values for %d rows of %d features", len(x), n, d))
	}
	if cap(dst) < n*nw {
		dst = make([]float64, n*nw)
	}
	dst = dst[:n*nw]
	for i := range n {
		row := x[i*d : (i+1)*d]
		for k, w := range m.Coef {
			dst[i*nw+k] = floats.Dot(w, row) + m.Intercept[k]
		}
	}
	return dst
}

// Predict returns the predicted label of each of the n×d rows x.
func (m *Model) Predict(x []float64, n int) []int {
	dec := m.Decision(x, n, nil)
	nw := len(m.Coef)
	out := make([]int, n)
	for i := range n {
		v := dec[i*nw : (i+1)*nw]
		if nw == 1 {
			if v[0] > 0 {
				out[i] = m.Classes[1]
			} else {
				out[i] = m.Classes[0]
			}
			continue
		}
		best := 0
		for k := 1; k < nw; k++ {
			if v[k] > v[best] {
				best = k
			}
		}
		out[i] = m.Classes[best]
	}
	return out
}
