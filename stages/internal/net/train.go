package net

import (
	"context"
	"fmt"
	"slices"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Trainer computes, for a batch of images, the mean softmax cross-entropy
// of the network's full output head and its gradient with respect to every
// parameter (torchvision's VGG-16 or AlexNet layout at any widths, without
// BatchNorm).
//
// The computation is a gorgonia graph built once by NewTrainer: the
// parameters are input nodes bound to the caller's tensors, the forward
// pass is the ops of trainops.go (convolution + ReLU, max pooling,
// AdaptiveAvgPool2d + flatten, linear layers, cross-entropy), each a
// gorgonia SDOp whose SymDiff supplies its backward ops, the gradients come
// from G.Grad(loss, params...), and every Step runs the compiled graph on a
// tape machine. Training mode differs from torchvision's only in having no
// Dropout (the classifier's Dropout layers are the identity, as in eval
// mode).
//
// Gradients are bit-identical for the same inputs whatever GOMAXPROCS (see
// trainops.go), and agree with PyTorch 1.13's autograd within 4e-6
// relative per tensor, the weights after two SGD steps within 1e-7
// (testdata/train/gen.py). Memory is bounded by the batch: every op's
// output (activations and gradients) is allocated once by NewTrainer,
// about 120 MB for VGG-16 ÷ 8 at 64 px and batch 32, and scratch is
// recycled between Steps.
//
// A Trainer is not safe for concurrent use.
type Trainer struct {
	arch        *Arch
	batch, h, w int
	names       []string // parameter names in state-dict order
	st          *trainState
	mem         arena
	x           []float32 // the input node's value, refilled by Step
	labels      []int
	m           G.VM
	gradNodes   []*G.Node
	grads       map[string][]float32
}

// NewTrainer builds the training graph of arch for batches of batch images
// of h×w pixels. params are checked as New checks them (names, shapes,
// consistent widths) and stay the caller's: their Data slices are the
// graph's parameter values, read at every Step, so an optimiser updates
// them in place (SGD.Update does). vgg16_bn is refused: BatchNorm in
// training mode is not implemented.
//
// Step needs exactly batch images; a smaller last batch needs a Trainer of
// its own (building one is cheap next to a Step).
func NewTrainer(arch string, params map[string]Tensor, batch, h, w int) (_ *Trainer, err error) {
	if arch == "vgg16_bn" {
		return nil, fmt.Errorf("net: NewTrainer: training %s is not supported (BatchNorm in training mode is not implemented); use vgg16", arch)
	}
	nt, err := New(arch, params)
	if err != nil {
		return nil, err
	}
	if batch < 1 || h < 1 || w < 1 {
		return nil, fmt.Errorf("net: NewTrainer: invalid batch shape %d×3×%d×%d", batch, h, w)
	}
	if err := nt.checkSizes(0, len(nt.convs), []int{batch, 3, h, w}); err != nil {
		return nil, err
	}
	t := &Trainer{arch: nt.arch, batch: batch, h: h, w: w, x: make([]float32, batch*3*h*w),
		labels: make([]int, batch), grads: map[string][]float32{}}
	// A training step holds a few scratch buffers at a time, of many sizes
	// (per layer and per op): keep them all for the next Step.
	t.mem.limit = 64
	t.st = &trainState{runState: runState{ctx: context.Background(), mem: &t.mem}}
	for _, p := range t.arch.Params(t.arch.FC[2].Out) {
		t.names = append(t.names, p.Name)
	}

	buildMu.Lock()
	defer buildMu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			err = panicError(r)
		}
	}()
	g := G.NewGraph()
	b := &graphBuilder{st: t.st}
	nodes := map[string]*G.Node{}
	var wrt []*G.Node
	for _, name := range t.names {
		p := params[name]
		n := G.NewTensor(g, tensor.Float32, len(p.Shape), G.WithShape(p.Shape...), G.WithName(name),
			G.WithValue(dense(p.Data, p.Shape...)))
		nodes[name] = n
		wrt = append(wrt, n)
	}
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(batch, 3, h, w), G.WithName("input"),
		G.WithValue(dense(t.x, batch, 3, h, w)))
	convs := t.arch.Convs
	for i, c := range convs {
		if i > 0 && convs[i-1].Pool > 0 {
			if x, err = b.maxPool(convs[i-1].Tap, convs[i-1].Pool, convs[i-1].PoolStride, x); err != nil {
				return nil, fmt.Errorf("net: building the training graph: %w", err)
			}
		}
		if x, err = b.conv(c, x, nodes[c.Prefix+".weight"], nodes[c.Prefix+".bias"], i > 0); err != nil {
			return nil, fmt.Errorf("net: building the training graph: %w", err)
		}
	}
	if last := convs[len(convs)-1]; last.Pool > 0 {
		if x, err = b.maxPool(last.Tap, last.Pool, last.PoolStride, x); err != nil {
			return nil, fmt.Errorf("net: building the training graph: %w", err)
		}
	}
	if x, err = b.avgPoolFlatten(t.arch.AvgPool, x); err != nil {
		return nil, fmt.Errorf("net: building the training graph: %w", err)
	}
	for i, l := range t.arch.FC {
		if x, err = b.linear(l, i < 2, x, nodes[l.Prefix+".weight"], nodes[l.Prefix+".bias"]); err != nil {
			return nil, fmt.Errorf("net: building the training graph: %w", err)
		}
	}
	loss, err := b.crossEntropy(x)
	if err != nil {
		return nil, fmt.Errorf("net: building the training graph: %w", err)
	}
	if t.gradNodes, err = G.Grad(loss, wrt...); err != nil {
		return nil, fmt.Errorf("net: differentiating the training graph: %w", err)
	}
	t.m = G.NewTapeMachine(g)
	return t, nil
}

// Arch returns the trained architecture (the widths read from the
// parameters). The result is a copy.
func (t *Trainer) Arch() *Arch { return t.arch.clone() }

// Step runs the forward and backward pass on x (batch×3×h×w, CHW order,
// normalised) with labels (one class index per image) and returns the mean
// cross-entropy and the number of images whose argmax prediction (the
// first maximum) is the label. The gradients are then in Grads until the
// next Step. ctx is checked before every op.
func (t *Trainer) Step(ctx context.Context, x []float32, labels []int) (loss float64, correct int, err error) {
	if len(x) != len(t.x) {
		return 0, 0, fmt.Errorf("net: Trainer.Step: batch has %d values, want %d×3×%d×%d = %d", len(x), t.batch, t.h, t.w, len(t.x))
	}
	if len(labels) != t.batch {
		return 0, 0, fmt.Errorf("net: Trainer.Step: %d labels for a batch of %d", len(labels), t.batch)
	}
	classes := t.arch.FC[2].Out
	for i, l := range labels {
		if l < 0 || l >= classes {
			return 0, 0, fmt.Errorf("net: Trainer.Step: label %d of image %d is outside [0, %d)", l, i, classes)
		}
	}
	if err := ctx.Err(); err != nil {
		return 0, 0, fmt.Errorf("net: training step not started: %w", err)
	}
	defer func() {
		if r := recover(); r != nil {
			err = panicError(r)
		}
	}()
	copy(t.x, x)
	copy(t.labels, labels)
	clear(t.grads)
	t.st.ctx, t.st.err, t.st.labels = ctx, nil, t.labels
	defer func() { t.st.ctx = context.Background() }()
	t.m.Reset()
	if err := t.m.RunAll(); err != nil {
		if t.st.err != nil {
			return 0, 0, t.st.err
		}
		return 0, 0, fmt.Errorf("net: training step of %s: %w", t.arch.Name, err)
	}
	for i, name := range t.names {
		_, data, err := denseData(t.gradNodes[i].Value())
		if err != nil {
			return 0, 0, fmt.Errorf("net: gradient of %s: %w", name, err)
		}
		t.grads[name] = data
	}
	return t.st.loss, t.st.correct, nil
}

// Grads returns the gradients of the last Step's loss by parameter name
// (every parameter, torch layout, the parameters' lengths). The slices are
// the Trainer's buffers, overwritten by the next Step; the map is empty
// before the first successful Step.
func (t *Trainer) Grads() map[string][]float32 { return t.grads }

// SGD is torch.optim.SGD(params, lr, momentum, weight_decay, dampening=0,
// nesterov=False): for each parameter w with gradient grad,
//
//	g = grad + weight_decay·w
//	buf = g on the first update, then buf = momentum·buf + g
//	w = w − lr·buf
//
// (with momentum 0: w = w − lr·g and no buffer), in float32 as PyTorch.
// The zero value is plain SGD; the momentum buffers live in the SGD value.
type SGD struct {
	Momentum, WeightDecay float64
	buf                   map[string][]float32
}

// Update applies one step with learning rate lr to params, in place, for
// every parameter in grads. It returns an error, changing nothing, if a
// gradient has no parameter of the same length.
func (s *SGD) Update(lr float64, params map[string]Tensor, grads map[string][]float32) error {
	names := make([]string, 0, len(grads))
	for name, g := range grads {
		p, ok := params[name]
		if !ok {
			return fmt.Errorf("net: SGD: gradient of %q, which is not a parameter", name)
		}
		if len(p.Data) != len(g) {
			return fmt.Errorf("net: SGD: gradient of %q has %d values, the parameter %d", name, len(g), len(p.Data))
		}
		names = append(names, name)
	}
	slices.Sort(names)
	if s.buf == nil {
		s.buf = map[string][]float32{}
	}
	lr32, mom, wd := float32(lr), float32(s.Momentum), float32(s.WeightDecay)
	for _, name := range names {
		w, g := params[name].Data, grads[name]
		if s.Momentum == 0 {
			for i := range w {
				w[i] -= float32(lr32 * (g[i] + float32(wd*w[i])))
			}
			continue
		}
		buf, seen := s.buf[name]
		if !seen || len(buf) != len(w) {
			buf = make([]float32, len(w))
			s.buf[name] = buf
			seen = false
		}
		for i := range w {
			d := g[i] + float32(wd*w[i])
			if seen {
				d += float32(mom * buf[i])
			}
			buf[i] = d
			w[i] -= float32(lr32 * d)
		}
	}
	return nil
}
