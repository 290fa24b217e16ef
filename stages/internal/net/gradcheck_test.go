package net

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// gradCase is one op under a finite-difference check: build applies the
// forward op to input nodes of the given shapes, filled by fill.
type gradCase struct {
	name   string
	shapes [][]int
	fill   func(rng *rand.Rand, i int, v []float32)
	build  func(b *graphBuilder, in []*G.Node) (*G.Node, error)
	labels []int   // for the cross-entropy
	eps    float64 // the finite-difference step
}

// checkGrad compares the gradients the op's SymDiff computes (for the
// scalar f = Σ r·y with a random upstream gradient r; for a scalar output
// f = r·y) with central differences (f(v+ε) − f(v−ε))/2ε of every input
// value, f in float64 from the op's float32 output. The ops are piecewise
// linear (cross-entropy aside) and the inputs keep every kink farther than
// ε away, so the differences are exact but for rounding.
func checkGrad(t *testing.T, c gradCase) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 11))
	st := &trainState{runState: runState{ctx: context.Background(), mem: &arena{}}, labels: c.labels}
	b := &graphBuilder{st: st}
	g := G.NewGraph()
	vals := make([][]float32, len(c.shapes))
	nodes := make([]*G.Node, len(c.shapes))
	dvals := make([]G.Value, len(c.shapes))
	for i, s := range c.shapes {
		n, _ := Numel(s)
		vals[i] = make([]float32, n)
		c.fill(rng, i, vals[i])
		dvals[i] = dense(vals[i], s...)
		nodes[i] = G.NewTensor(g, tensor.Float32, len(s), G.WithShape(s...), G.WithName(fmt.Sprint("in", i)), G.WithValue(dvals[i]))
	}
	y, err := c.build(b, nodes)
	if err != nil {
		t.Fatal(err)
	}
	var up *G.Node
	var r []float32
	if y.IsScalar() {
		r = []float32{1.7}
		up = G.NewScalar(g, tensor.Float32, G.WithName("upstream"), G.WithValue(r[0]))
	} else {
		r = make([]float32, y.Shape().TotalSize())
		for i := range r {
			r[i] = float32(rng.NormFloat64())
		}
		up = G.NewTensor(g, tensor.Float32, y.Dims(), G.WithShape(y.Shape()...), G.WithName("upstream"), G.WithValue(dense(r, y.Shape()...)))
	}
	grads, err := y.Op().(G.SDOp).SymDiff(G.Nodes(nodes), y, up)
	if err != nil {
		t.Fatal(err)
	}
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	f := func() float64 {
		out, err := y.Op().Do(dvals...)
		if err != nil {
			t.Fatal(err)
		}
		if y.IsScalar() {
			return float64(r[0]) * st.loss
		}
		_, data, _ := denseData(out)
		var s float64
		for i, v := range data {
			s += float64(r[i]) * float64(v)
		}
		return s
	}
	for i, gn := range grads {
		if gn == nil {
			continue
		}
		_, got, err := denseData(gn.Value())
		if err != nil {
			t.Fatal(err)
		}
		want := make([]float32, len(vals[i]))
		for j := range vals[i] {
			v := vals[i][j]
			vals[i][j] = v + float32(c.eps)
			fp := f()
			hi := float64(vals[i][j])
			vals[i][j] = v - float32(c.eps)
			fm := f()
			lo := float64(vals[i][j])
			vals[i][j] = v
			want[j] = float32((fp - fm) / (hi - lo)) // the float32 steps actually taken
		}
		e := relErr(got, want)
		if e > 1e-4 || math.IsNaN(e) {
			t.Errorf("%s: gradient of input %d: rel. error %.2g against finite differences", c.name, i, e)
		} else {
			t.Logf("%s: gradient of input %d: rel. error %.2g", c.name, i, e)
		}
	}
}

func uniform(rng *rand.Rand, v []float32) {
	for i := range v {
		v[i] = float32(2*rng.Float64() - 1)
	}
}

// distinct fills v with a shuffled ladder of values 0.01 apart, so that no
// window has a tie and no ±ε perturbation changes an argmax.
func distinct(rng *rand.Rand, v []float32) {
	for i, j := range rng.Perm(len(v)) {
		v[i] = float32(j)*0.01 - float32(len(v))*0.005
	}
}

// signedBias sets the bias of even channels to +20 and of odd ones to −20:
// the ReLU is then active or dead per channel, far from its kink, so the
// conv or linear layer with ReLU is piecewise linear with no kink within ε.
func signedBias(v []float32) {
	for i := range v {
		v[i] = 20 - 40*float32(i%2)
	}
}

func TestGradConv(t *testing.T) {
	for _, c := range []Conv{
		{Tap: "conv", Prefix: "3x3", In: 3, Out: 5, Kernel: 3, Stride: 1, Pad: 1},
		{Tap: "conv", Prefix: "5x5s2", In: 2, Out: 4, Kernel: 5, Stride: 2, Pad: 2},
		{Tap: "conv", Prefix: "11x11s4", In: 2, Out: 3, Kernel: 11, Stride: 4, Pad: 2},
	} {
		h, w := 13, 11
		if c.Kernel == 11 {
			h, w = 23, 19
		}
		checkGrad(t, gradCase{
			name:   "Conv2d+ReLU " + c.Prefix,
			shapes: [][]int{{2, c.In, h, w}, {c.Out, c.In, c.Kernel, c.Kernel}, {c.Out}},
			fill: func(rng *rand.Rand, i int, v []float32) {
				if i == 2 {
					signedBias(v)
					return
				}
				uniform(rng, v)
			},
			build: func(b *graphBuilder, in []*G.Node) (*G.Node, error) { return b.conv(c, in[0], in[1], in[2], true) },
			eps:   0.05,
		})
	}
}

func TestGradMaxPool(t *testing.T) {
	for _, p := range [][2]int{{2, 2}, {3, 2}} {
		checkGrad(t, gradCase{
			name:   fmt.Sprintf("MaxPool2d(%d, %d)", p[0], p[1]),
			shapes: [][]int{{2, 3, 9, 8}},
			fill:   func(rng *rand.Rand, _ int, v []float32) { distinct(rng, v) },
			build:  func(b *graphBuilder, in []*G.Node) (*G.Node, error) { return b.maxPool("x", p[0], p[1], in[0]) },
			eps:    1e-3,
		})
	}
}

// TestMaxPoolGradTies checks PyTorch's tie rule: in a window of equal
// values (ReLU's zeros, say) the first one in row-major order gets the
// gradient, and overlapping windows add up.
func TestMaxPoolGradTies(t *testing.T) {
	st := &trainState{runState: runState{ctx: context.Background(), mem: &arena{}}}
	b := &graphBuilder{st: st}
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 1, 5, 5), G.WithName("x"), G.WithValue(dense(make([]float32, 25), 1, 1, 5, 5)))
	up := G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 1, 2, 2), G.WithName("up"), G.WithValue(dense([]float32{1, 2, 3, 4}, 1, 1, 2, 2)))
	dx, err := b.maxPoolGrad("x", 3, 2, x, up)
	if err != nil {
		t.Fatal(err)
	}
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	_, got, _ := denseData(dx.Value())
	want := make([]float32, 25) // window (i, j) starts at (2i, 2j)
	want[0], want[2], want[10], want[12] = 1, 2, 3, 4
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("gradient with ties: got %v, want %v", got, want)
		}
	}
}

func TestGradAdaptiveAvgPool(t *testing.T) {
	for _, hw := range [][2]int{{2, 2}, {2, 1}, {5, 3}, {9, 14}} {
		checkGrad(t, gradCase{
			name:   fmt.Sprintf("AdaptiveAvgPool2d(7) of %d×%d", hw[0], hw[1]),
			shapes: [][]int{{2, 3, hw[0], hw[1]}},
			fill:   func(rng *rand.Rand, _ int, v []float32) { uniform(rng, v) },
			build:  func(b *graphBuilder, in []*G.Node) (*G.Node, error) { return b.avgPoolFlatten(7, in[0]) },
			eps:    0.05,
		})
	}
}

func TestGradLinear(t *testing.T) {
	for _, relu := range []bool{false, true} {
		l := Linear{Tap: "fc", Prefix: fmt.Sprint("fc relu=", relu), In: 13, Out: 6}
		checkGrad(t, gradCase{
			name:   "Linear " + l.Prefix,
			shapes: [][]int{{5, l.In}, {l.Out, l.In}, {l.Out}},
			fill: func(rng *rand.Rand, i int, v []float32) {
				if i == 2 && relu {
					signedBias(v)
					return
				}
				uniform(rng, v)
			},
			build: func(b *graphBuilder, in []*G.Node) (*G.Node, error) { return b.linear(l, relu, in[0], in[1], in[2]) },
			eps:   0.05,
		})
	}
}

func TestGradCrossEntropy(t *testing.T) {
	checkGrad(t, gradCase{
		name:   "cross-entropy",
		shapes: [][]int{{4, 6}},
		fill: func(rng *rand.Rand, _ int, v []float32) {
			for i := range v {
				v[i] = float32(3 * rng.NormFloat64())
			}
			v[5] = 80 // a large logit: the max-subtracted form stays finite
		},
		build:  func(b *graphBuilder, in []*G.Node) (*G.Node, error) { return b.crossEntropy(in[0]) },
		labels: []int{2, 0, 5, 5},
		eps:    1e-3,
	})
}
