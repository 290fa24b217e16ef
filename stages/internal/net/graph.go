package net

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"slices"
	"sync"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TapFunc receives the activations of one tap for the whole batch: data is
// N×C×H×W in row-major order (N×C with h = w = 1 for fc6, fc7, avgpool and
// logits). data is only valid during the call: copy what must be kept. An
// error stops the forward pass and is returned by it.
type TapFunc func(tap string, data []float32, c, h, w int) error

// Forward runs a batch of n images (n×3×h×w, CHW order, already
// normalised) through the network and calls fn for each requested tap in
// network order, as soon as that layer is computed. Computation stops after
// the last requested tap. ctx is checked between layers.
//
// Every tap of an architecture works at any input size for which each layer
// keeps at least one pixel (VGG: 32 px; AlexNet: 63 px; a ResNet: any, its
// padded layers keep one); the classifier's AdaptiveAvgPool2d makes the
// fully connected layers size-independent, as in PyTorch. Memory is bounded by the batch: a layer's input is recycled as
// soon as the layer is done (VGG-16 at 224 px: about 30 MB per image at
// the peak), and the Net keeps the recycled buffers for the next call
// (see ReleaseBuffers).
func (n *Net) Forward(ctx context.Context, batch []float32, size, h, w int, taps []string, fn TapFunc) error {
	if size < 1 || h < 1 || w < 1 {
		return fmt.Errorf("net: Forward: invalid batch shape %d×3×%d×%d", size, h, w)
	}
	if len(batch) != size*3*h*w {
		return fmt.Errorf("net: Forward: batch has %d values, want %d×3×%d×%d = %d", len(batch), size, h, w, size*3*h*w)
	}
	return n.run(ctx, 0, batch, []int{size, 3, h, w}, taps, fn)
}

// ForwardFrom continues the network from the activations acts at tap from
// (N×C×H×W post-ReLU values, as Forward delivers them; N×C with h = w = 1
// for fc6, fc7 and avgpool) and calls fn for the requested later taps. It
// computes only the layers after from, so a lesion can zero channels of a
// tap and re-run what follows. Zeroing channel k after the ReLU is the same as
// setting the conv's weights and bias of output channel k to zero in VGG-16
// and AlexNet (ReLU(0) = 0); with BatchNorm it is the same as zeroing the
// BN's weight and bias of channel k, not the conv's. A ResNet's block or
// stage taps carry the whole residual stream, so zeroing one of their
// channels removes it from every later block's input and shortcut.
func (n *Net) ForwardFrom(ctx context.Context, from string, acts []float32, size, c, h, w int, taps []string, fn TapFunc) error {
	i := n.arch.tapIndex(from)
	if i < 0 || i == len(n.arch.Taps())-1 {
		return fmt.Errorf("net: ForwardFrom: %q is not a tap with layers after it (taps: %v)", from, n.Taps()[:len(n.Taps())-1])
	}
	shape := []int{size, c, h, w}
	want, flat := n.tapDims(i)
	if flat {
		shape = []int{size, c}
		if h != 1 || w != 1 {
			return fmt.Errorf("net: ForwardFrom(%s): activations are %d×%d×%d×%d, want %d×%d×1×1", from, size, c, h, w, size, want)
		}
	}
	if size < 1 || c != want || h < 1 || w < 1 {
		return fmt.Errorf("net: ForwardFrom(%s): invalid activation shape %d×%d×%d×%d (the tap has %d channels)", from, size, c, h, w, want)
	}
	if len(acts) != size*c*h*w {
		return fmt.Errorf("net: ForwardFrom(%s): activations have %d values, want %d×%d×%d×%d = %d", from, len(acts), size, c, h, w, size*c*h*w)
	}
	return n.run(ctx, i+1, acts, shape, taps, fn)
}

// tapDims is the number of channels (features) of tap i and whether the
// tap is flat (N×C).
func (n *Net) tapDims(i int) (int, bool) {
	if n.res != nil {
		return n.arch.Res.dims(n.res.stages[i])
	}
	if i < len(n.convs) {
		return n.convs[i].Out, false
	}
	return n.fc[i-len(n.convs)].Out, true
}

// run computes stages start… up to the last requested tap from input (the
// network input for start 0, tap start-1's activations otherwise). Stage
// i < len(convs) is [max pooling of the previous conv,] conv i; stage
// len(convs) is [pooling,] adaptive average pooling, flatten, fc6; then
// fc7 and fc8. Each stage ends in a tap op.
func (n *Net) run(ctx context.Context, start int, input []float32, shape []int, taps []string, fn TapFunc) (err error) {
	names := n.arch.Taps()
	want := make([]bool, len(names))
	last := -1
	for _, t := range taps {
		i := slices.Index(names, t)
		if i < 0 {
			return fmt.Errorf("net: unknown tap %q (%s taps: %v)", t, n.arch.Name, names)
		}
		if i < start {
			return fmt.Errorf("net: tap %q comes before the starting point %q", t, names[start-1])
		}
		want[i] = true
		last = max(last, i)
	}
	if last < 0 {
		return errors.New("net: no taps requested")
	}
	if fn == nil {
		return errors.New("net: nil TapFunc")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("net: forward pass not started: %w", err)
	}
	if err := n.checkSizes(start, last, shape); err != nil {
		return err
	}

	defer func() {
		if r := recover(); r != nil {
			err = panicError(r)
		}
	}()
	st := &runState{ctx: ctx, fn: fn, mem: &n.mem, owned: map[*float32][]float32{}}
	defer st.releaseAll()
	m, err := n.build(start, last, input, shape, names, want, st)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := m.RunAll(); err != nil {
		if st.err != nil {
			return st.err
		}
		return fmt.Errorf("net: forward pass of %s: %w", n.arch.Name, err)
	}
	return nil
}

// buildMu serialises graph construction: gorgonia keeps unsynchronised
// package-level state while building graphs (e.g. the group counter behind
// Rectify), so concurrent builds race; running the compiled machines
// concurrently is safe.
var buildMu sync.Mutex

// build constructs and compiles the graph of stages start…last.
func (n *Net) build(start, last int, input []float32, shape []int, names []string, want []bool, st *runState) (_ G.VM, err error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			err = panicError(r)
		}
	}()
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float32, len(shape), G.WithShape(shape...), G.WithName("input"),
		G.WithValue(dense(input, shape...)))
	if n.res != nil {
		if _, err = n.buildResNet(x, start, last, want, st); err != nil {
			return nil, err
		}
		return G.NewTapeMachine(g), nil
	}
	nconv := len(n.convs)
	for s := start; s <= last; s++ {
		if s <= nconv && s > 0 {
			if p := n.convs[s-1]; p.Pool > 0 {
				if x, err = G.ApplyOp(&maxPoolOp{after: p.Tap, k: p.Pool, s: p.PoolStride, st: st}, x); err != nil {
					return nil, fmt.Errorf("net: max pooling after %s: %w", p.Tap, err)
				}
			}
		}
		switch {
		case s < nconv:
			x, err = G.ApplyOp(&convOp{layer: n.convs[s], st: st}, x)
		case s == nconv:
			x, err = n.classifierInput(x, st)
			if err == nil {
				x, err = n.linear(x, n.fc[0], true, st)
			}
		default:
			x, err = n.linear(x, n.fc[s-nconv], s < len(names)-1, st)
		}
		if err != nil {
			return nil, fmt.Errorf("net: building %s: %w", names[s], err)
		}
		if x, err = G.ApplyOp(&tapOp{name: names[s], emit: want[s], st: st}, x); err != nil {
			return nil, fmt.Errorf("net: building tap %s: %w", names[s], err)
		}
	}
	return G.NewTapeMachine(g), nil
}

// checkSizes verifies that every stage from start to last keeps at least
// one pixel, before gorgonia sees the shapes (its ops panic on bad ones, in
// a goroutine of the tape machine where no recover can reach).
func (n *Net) checkSizes(start, last int, shape []int) error {
	if len(shape) != 4 {
		return nil
	}
	h, w := shape[2], shape[3]
	if n.res != nil {
		return n.checkResNetSizes(start, last, h, w)
	}
	for s := start; s <= last && s <= len(n.convs); s++ {
		if s > 0 {
			if p := n.convs[s-1]; p.Pool > 0 {
				h, w = outSize(h, p.Pool, p.PoolStride, 0), outSize(w, p.Pool, p.PoolStride, 0)
				if h < 1 || w < 1 {
					return fmt.Errorf("net: input too small for %s: nothing left after the max pooling that follows %s", n.arch.Name, p.Tap)
				}
			}
		}
		if s == len(n.convs) {
			break
		}
		c := n.convs[s]
		h, w = outSize(h, c.Kernel, c.Stride, c.Pad), outSize(w, c.Kernel, c.Stride, c.Pad)
		if h < 1 || w < 1 {
			return fmt.Errorf("net: input too small for %s: %s has no output pixel", n.arch.Name, c.Tap)
		}
	}
	return nil
}

// classifierInput is AdaptiveAvgPool2d((P, P)) and torch.flatten(x, 1).
func (n *Net) classifierInput(x *G.Node, st *runState) (*G.Node, error) {
	p := n.arch.AvgPool
	x, err := G.ApplyOp(&adaptiveAvgPoolOp{out: p, st: st}, x)
	if err != nil {
		return nil, err
	}
	s := x.Shape()
	return G.Reshape(x, tensor.Shape{s[0], s[1] * p * p})
}

// linear is x·Wᵀ + b (nn.Linear), optionally followed by ReLU, as one
// gorgonia op computed by the packed SGEMM (see linearOp).
func (n *Net) linear(x *G.Node, l *fcLayer, relu bool, st *runState) (*G.Node, error) {
	return G.ApplyOp(&linearOp{layer: l, relu: relu, st: st}, x)
}

// runState is the per-call state the ops of one graph share. The ops run
// one after the other on the tape machine's goroutine.
type runState struct {
	ctx context.Context
	fn  TapFunc
	err error // the first error raised by an op of this package, returned as is

	mem   *arena
	owned map[*float32][]float32 // buffers of this call, from mem, by address
}

// alloc returns a buffer of n values from the arena, owned by this call.
func (st *runState) alloc(n int) []float32 {
	b := st.mem.get(n)
	st.adopt(b)
	return b
}

// adopt marks a buffer obtained from the arena elsewhere as owned.
func (st *runState) adopt(b []float32) {
	if len(b) > 0 {
		st.owned[&b[0]] = b
	}
}

// release returns an input buffer to the arena once its consumer is done,
// if this call owns it (never the caller's input).
func (st *runState) release(b []float32) {
	if len(b) == 0 {
		return
	}
	if ob, ok := st.owned[&b[0]]; ok {
		delete(st.owned, &b[0])
		st.mem.put(ob)
	}
}

// releaseAll returns every buffer still owned when the call ends (the
// activations handed to TapFunc are only valid during its call).
func (st *runState) releaseAll() {
	for _, b := range st.owned {
		st.mem.put(b)
	}
	clear(st.owned)
}

// fail records err (the first one wins) and returns it.
func (st *runState) fail(err error) error {
	if st.err == nil {
		st.err = err
	}
	return err
}

// catch turns a panic in an op's Do into the run's error:
// defer op.st.catch(&err).
func (st *runState) catch(err *error) {
	if r := recover(); r != nil {
		*err = st.fail(panicError(r))
	}
}

// input unwraps op's input tensor, failing the run if it is not a dense
// float32 one.
func (st *runState) input(op fmt.Stringer, v G.Value) (*tensor.Dense, []float32, error) {
	d, data, err := denseData(v)
	if err != nil {
		return nil, nil, st.fail(fmt.Errorf("net: %v: %w", op, err))
	}
	return d, data, nil
}

// denseData returns the row-major float32 data of a gorgonia value.
func denseData(v G.Value) (*tensor.Dense, []float32, error) {
	d, ok := v.(*tensor.Dense)
	if !ok {
		return nil, nil, fmt.Errorf("expected a *tensor.Dense, got %T", v)
	}
	if d.RequiresIterator() || d.IsView() {
		d = d.Materialize().(*tensor.Dense)
	}
	data, ok := d.Data().([]float32)
	if !ok {
		return nil, nil, fmt.Errorf("expected float32 data, got %T", d.Data())
	}
	return d, data, nil
}

// opBase implements the parts of gorgonia.Op shared by this package's
// shape-preserving-rank, inference-only ops.
type opBase struct{}

func (opBase) Arity() int { return 1 }
func (opBase) Type() hm.Type {
	t := G.TensorType{Dims: 4, Of: hm.TypeVariable('a')}
	return hm.NewFnType(t, t)
}
func (opBase) CallsExtern() bool    { return false }
func (opBase) OverwritesInput() int { return -1 }

func hashOf(s fmt.Stringer) uint32 {
	h := fnv.New32a()
	fmt.Fprint(h, s.String())
	return h.Sum32()
}

// convOp is Conv2d + bias (+ folded BatchNorm) + ReLU as one gorgonia op,
// computed by im2col packing and the packed SGEMM (convLayer.forward).
type convOp struct {
	opBase
	layer *convLayer
	st    *runState
}

func (op *convOp) String() string {
	return fmt.Sprintf("ConvReLU(%s %d→%d k%d s%d p%d)", op.layer.Tap, op.layer.In, op.layer.Out, op.layer.Kernel, op.layer.Stride, op.layer.Pad)
}
func (op *convOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op *convOp) Hashcode() uint32      { return hashOf(op) }
func (op *convOp) ReturnsPtr() bool      { return false }
func (op *convOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, ok := in[0].(tensor.Shape)
	if !ok || len(s) != 4 {
		return nil, fmt.Errorf("%v: expected a 4-D input shape, got %v", op, in[0])
	}
	l := op.layer
	return tensor.Shape{s[0], l.Out, outSize(s[2], l.Kernel, l.Stride, l.Pad), outSize(s[3], l.Kernel, l.Stride, l.Pad)}, nil
}
func (op *convOp) Do(in ...G.Value) (v G.Value, err error) {
	defer op.st.catch(&err)
	if err := op.st.ctx.Err(); err != nil {
		return nil, op.st.fail(fmt.Errorf("net: stopped before %s: %w", op.layer.Tap, err))
	}
	d, data, err := op.st.input(op, in[0])
	if err != nil {
		return nil, err
	}
	s := d.Shape()
	if len(s) != 4 || s[1] != op.layer.In {
		return nil, op.st.fail(fmt.Errorf("net: %v: input shape %v", op, s))
	}
	out, oh, ow, err := op.layer.forward(op.st.mem, data, s[0], s[2], s[3])
	if err != nil {
		return nil, op.st.fail(fmt.Errorf("net: %w", err))
	}
	op.st.adopt(out)
	op.st.release(data)
	return dense(out, s[0], op.layer.Out, oh, ow), nil
}

// linearOp is nn.Linear (+ ReLU) as one gorgonia op: out = act(x·Wᵀ + b)
// for x of n×In, computed by linearRows, the Lesioner's packed SGEMM path
// (A = x packed per call, B = Wᵀ packed block-wise straight from the torch
// weight), so the caller's weight is used in place and never copied.
type linearOp struct {
	layer *fcLayer
	relu  bool
	st    *runState
}

func (op *linearOp) Arity() int { return 1 }
func (op *linearOp) Type() hm.Type {
	t := G.TensorType{Dims: 2, Of: hm.TypeVariable('a')}
	return hm.NewFnType(t, t)
}
func (op *linearOp) CallsExtern() bool    { return false }
func (op *linearOp) OverwritesInput() int { return -1 }
func (op *linearOp) String() string {
	act := ""
	if op.relu {
		act = "ReLU"
	}
	return fmt.Sprintf("Linear%s(%s %d→%d)", act, op.layer.Prefix, op.layer.In, op.layer.Out)
}
func (op *linearOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op *linearOp) Hashcode() uint32      { return hashOf(op) }
func (op *linearOp) ReturnsPtr() bool      { return false }
func (op *linearOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, ok := in[0].(tensor.Shape)
	if !ok || len(s) != 2 || s[1] != op.layer.In {
		return nil, fmt.Errorf("%v: expected an n×%d input shape, got %v", op, op.layer.In, in[0])
	}
	return tensor.Shape{s[0], op.layer.Out}, nil
}
func (op *linearOp) Do(in ...G.Value) (v G.Value, err error) {
	defer op.st.catch(&err)
	if err := op.st.ctx.Err(); err != nil {
		return nil, op.st.fail(fmt.Errorf("net: stopped before %s: %w", op.layer.Prefix, err))
	}
	d, data, err := op.st.input(op, in[0])
	if err != nil {
		return nil, err
	}
	s := d.Shape()
	if len(s) != 2 || s[1] != op.layer.In || len(data) != s[0]*s[1] {
		return nil, op.st.fail(fmt.Errorf("net: %v: input shape %v", op, s))
	}
	out, err := linearRows(op.st.mem, data, s[0], op.layer, op.relu)
	if err != nil {
		return nil, op.st.fail(fmt.Errorf("net: %v: %w", op, err))
	}
	op.st.adopt(out)
	op.st.release(data)
	return dense(out, s[0], op.layer.Out), nil
}

// adaptiveAvgPoolOp is AdaptiveAvgPool2d((out, out)) exactly as PyTorch
// defines it: output cell i averages input rows [⌊i·in/out⌋, ⌈(i+1)·in/out⌉)
// (likewise columns), so bins overlap or repeat when in is not a multiple
// of out (a 1×1 map is replicated; VGG at 224 px is the identity).
type adaptiveAvgPoolOp struct {
	opBase
	out int
	st  *runState
}

func (op *adaptiveAvgPoolOp) String() string        { return fmt.Sprintf("AdaptiveAvgPool2d(%d)", op.out) }
func (op *adaptiveAvgPoolOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op *adaptiveAvgPoolOp) Hashcode() uint32      { return hashOf(op) }
func (op *adaptiveAvgPoolOp) ReturnsPtr() bool      { return false }
func (op *adaptiveAvgPoolOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, ok := in[0].(tensor.Shape)
	if !ok || len(s) != 4 {
		return nil, fmt.Errorf("%v: expected a 4-D input shape, got %v", op, in[0])
	}
	return tensor.Shape{s[0], s[1], op.out, op.out}, nil
}
func (op *adaptiveAvgPoolOp) Do(in ...G.Value) (v G.Value, err error) {
	defer op.st.catch(&err)
	d, data, err := op.st.input(op, in[0])
	if err != nil {
		return nil, err
	}
	s := d.Shape()
	if len(s) != 4 {
		return nil, op.st.fail(fmt.Errorf("net: %v: input shape %v", op, s))
	}
	out := adaptiveAvgPool(data, s[0]*s[1], s[2], s[3], op.out)
	op.st.release(data)
	return dense(out, s[0], s[1], op.out, op.out), nil
}

// maxPoolOp is MaxPool2d(k, stride s, padding pad) as PyTorch's (floor
// mode, padding never chosen; NaN propagates). It replaces gorgonia's MaxPool2D, which is
// single-threaded and also builds the argmax mask needed for training
// (together ~10% of a VGG-16 forward pass).
type maxPoolOp struct {
	opBase
	after     string // the conv tap it follows
	k, s, pad int
	st        *runState
}

func (op *maxPoolOp) String() string {
	return fmt.Sprintf("MaxPool2d(%d, %d, %d) after %s", op.k, op.s, op.pad, op.after)
}
func (op *maxPoolOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op *maxPoolOp) Hashcode() uint32      { return hashOf(op) }
func (op *maxPoolOp) ReturnsPtr() bool      { return false }
func (op *maxPoolOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, ok := in[0].(tensor.Shape)
	if !ok || len(s) != 4 {
		return nil, fmt.Errorf("%v: expected a 4-D input shape, got %v", op, in[0])
	}
	return tensor.Shape{s[0], s[1], outSize(s[2], op.k, op.s, op.pad), outSize(s[3], op.k, op.s, op.pad)}, nil
}
func (op *maxPoolOp) Do(in ...G.Value) (v G.Value, err error) {
	defer op.st.catch(&err)
	if err := op.st.ctx.Err(); err != nil {
		return nil, op.st.fail(fmt.Errorf("net: stopped after %s: %w", op.after, err))
	}
	d, data, err := op.st.input(op, in[0])
	if err != nil {
		return nil, err
	}
	s := d.Shape()
	if len(s) != 4 {
		return nil, op.st.fail(fmt.Errorf("net: %v: input shape %v", op, s))
	}
	oh, ow := outSize(s[2], op.k, op.s, op.pad), outSize(s[3], op.k, op.s, op.pad)
	if oh < 1 || ow < 1 {
		return nil, op.st.fail(fmt.Errorf("net: %v: input %d×%d is smaller than the window", op, s[2], s[3]))
	}
	out := op.st.alloc(s[0] * s[1] * oh * ow)
	if err := maxPoolInto(out, data, s[0]*s[1], s[2], s[3], op.k, op.s, op.pad); err != nil {
		return nil, op.st.fail(fmt.Errorf("net: %v: %w", op, err))
	}
	op.st.release(data)
	return dense(out, s[0], s[1], oh, ow), nil
}

// adaptiveAvgPool pools planes of h×w values to p×p (PyTorch's bins).
func adaptiveAvgPool(data []float32, planes, h, w, p int) []float32 {
	out := make([]float32, planes*p*p)
	adaptiveAvgPoolInto(out, data, planes, h, w, p)
	return out
}

// adaptiveAvgPoolInto is adaptiveAvgPool writing into out.
func adaptiveAvgPoolInto(out, data []float32, planes, h, w, p int) {
	for c := 0; c < planes; c++ {
		src := data[c*h*w : (c+1)*h*w]
		dst := out[c*p*p : (c+1)*p*p]
		for i := 0; i < p; i++ {
			y0, y1 := i*h/p, ((i+1)*h+p-1)/p
			for j := 0; j < p; j++ {
				x0, x1 := j*w/p, ((j+1)*w+p-1)/p
				var sum float32
				for y := y0; y < y1; y++ {
					for _, v := range src[y*w+x0 : y*w+x1] {
						sum += v
					}
				}
				dst[i*p+j] = sum / float32((y1-y0)*(x1-x0))
			}
		}
	}
}

// tapOp passes its input through. It checks the context (so every layer
// boundary is a cancellation point) and, for a requested tap, hands the
// activations to the caller's TapFunc.
type tapOp struct {
	name string
	emit bool
	st   *runState
}

func (op *tapOp) Arity() int { return 1 }
func (op *tapOp) Type() hm.Type {
	t := hm.TypeVariable('a')
	return hm.NewFnType(t, t)
}
func (op *tapOp) String() string        { return "Tap(" + op.name + ")" }
func (op *tapOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op *tapOp) Hashcode() uint32      { return hashOf(op) }
func (op *tapOp) ReturnsPtr() bool      { return true }
func (op *tapOp) CallsExtern() bool     { return false }
func (op *tapOp) OverwritesInput() int  { return -1 }
func (op *tapOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, ok := in[0].(tensor.Shape)
	if !ok {
		return nil, fmt.Errorf("%v: expected a shape, got %v", op, in[0])
	}
	return s.Clone(), nil
}
func (op *tapOp) Do(in ...G.Value) (v G.Value, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = op.st.fail(fmt.Errorf("net: tap %s: %w", op.name, panicError(r)))
		}
	}()
	if err := op.st.ctx.Err(); err != nil {
		return nil, op.st.fail(fmt.Errorf("net: stopped at %s: %w", op.name, err))
	}
	if !op.emit {
		return in[0], nil
	}
	d, data, err := denseData(in[0])
	if err != nil {
		return nil, op.st.fail(fmt.Errorf("net: tap %s: %w", op.name, err))
	}
	s := d.Shape()
	c, h, w := 1, 1, 1
	switch len(s) {
	case 4:
		c, h, w = s[1], s[2], s[3]
	case 2:
		c = s[1]
	default:
		return nil, op.st.fail(fmt.Errorf("net: tap %s: unexpected shape %v", op.name, s))
	}
	if err := op.st.fn(op.name, data, c, h, w); err != nil {
		return nil, op.st.fail(err)
	}
	return d, nil
}
