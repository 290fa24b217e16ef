package net

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The training graph's ops. Every forward op is a gorgonia SDOp whose
// SymDiff builds its backward computation from the gradient ops below, so
// gorgonia's symbolic differentiation (G.Grad) assembles the backward
// graph. Each op owns its output buffer, allocated once for the graph's
// fixed shapes and rewritten at every run; scratch comes from the
// trainer's arena. Work is split over fixed items (images, channel
// chunks, column blocks) whose results never depend on which worker ran
// them, and sums over the batch run in image order, so the results are
// bit-identical whatever GOMAXPROCS.

// trainState is the per-trainer state the ops of its graph share.
type trainState struct {
	runState
	labels  []int   // the batch's labels, set before each run
	loss    float64 // the mean cross-entropy of the last run
	correct int     // how many argmax predictions equal the labels
}

// tOp is one op of the training graph: out = fn(inputs), with the inputs'
// lengths checked against lens (the upstream gradient of the scalar loss
// has length 1).
type tOp struct {
	name   string // unique within the graph (gorgonia merges equal hashes)
	typ    hm.Type
	shape  tensor.Shape // of the output; empty for the scalar loss
	lens   []int
	st     *trainState
	out    []float32
	fn     func(out []float32, in [][]float32) error
	scalar bool
}

func (o *tOp) Arity() int                                     { return len(o.lens) }
func (o *tOp) Type() hm.Type                                  { return o.typ }
func (o *tOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return o.shape.Clone(), nil }
func (o *tOp) ReturnsPtr() bool                               { return false }
func (o *tOp) CallsExtern() bool                              { return false }
func (o *tOp) OverwritesInput() int                           { return -1 }
func (o *tOp) String() string                                 { return o.name }
func (o *tOp) WriteHash(h hash.Hash)                          { fmt.Fprint(h, o.name) }
func (o *tOp) Hashcode() uint32                               { return hashOf(o) }

func (o *tOp) Do(in ...G.Value) (v G.Value, err error) {
	defer o.st.catch(&err)
	if err := o.st.ctx.Err(); err != nil {
		return nil, o.st.fail(fmt.Errorf("net: training step stopped at %s: %w", o.name, err))
	}
	args := make([][]float32, len(in))
	for i, x := range in {
		if f, ok := x.(*G.F32); ok {
			args[i] = []float32{float32(*f)}
		} else if _, args[i], err = o.st.input(o, x); err != nil {
			return nil, err
		}
		if len(args[i]) != o.lens[i] {
			return nil, o.st.fail(fmt.Errorf("net: %s: input %d has %d values, want %d", o.name, i, len(args[i]), o.lens[i]))
		}
	}
	if err := o.fn(o.out, args); err != nil {
		return nil, o.st.fail(fmt.Errorf("net: %s: %w", o.name, err))
	}
	if o.scalar {
		return G.NewF32(o.out[0]), nil
	}
	return dense(o.out, o.shape...), nil
}

// sdOp is a differentiable tOp: back returns the gradients of the inputs
// (nil where wrt is false) given the op's output node and its gradient.
type sdOp struct {
	*tOp
	wrt  []bool
	back func(in G.Nodes, out, grad *G.Node) (G.Nodes, error)
}

func (o *sdOp) DiffWRT(int) []bool { return o.wrt }
func (o *sdOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	return o.back(in, out, grad)
}

// fnType is the type of an op taking tensors of the ranks ins (0: a
// scalar) to one of rank out, all of one dtype.
func fnType(out int, ins ...int) hm.Type {
	a := hm.TypeVariable('a')
	t := func(d int) hm.Type {
		if d == 0 {
			return a
		}
		return G.TensorType{Dims: d, Of: a}
	}
	ts := make([]hm.Type, 0, len(ins)+1)
	for _, d := range ins {
		ts = append(ts, t(d))
	}
	return hm.NewFnType(append(ts, t(out))...)
}

// graphBuilder adds the training ops to one graph.
type graphBuilder struct {
	st *trainState
}

func (b *graphBuilder) op(name string, shape tensor.Shape, lens []int, fn func(out []float32, in [][]float32) error) *tOp {
	return &tOp{name: name, shape: shape, lens: lens, st: b.st, out: make([]float32, max(shape.TotalSize(), 1)), fn: fn}
}

// apply adds op o (typed by the ranks of its inputs) to the graph.
func (b *graphBuilder) apply(o *tOp, diff *sdOp, in ...*G.Node) (*G.Node, error) {
	ranks := make([]int, len(in))
	for i, n := range in {
		ranks[i] = n.Shape().Dims()
	}
	o.typ = fnType(o.shape.Dims(), ranks...)
	if diff != nil {
		return G.ApplyOp(diff, in...)
	}
	return G.ApplyOp(o, in...)
}

// conv is Conv2d(x; W, b) followed by ReLU (F.relu(F.conv2d(x, W, b,
// stride, padding))), computed as inference does (im2col packing into the
// packed SGEMM, bias and ReLU fused) with W packed afresh at each run. Its
// derivative is reluGrad, then convInputGrad (unless x is the network
// input), convWeightGrad and biasGrad.
func (b *graphBuilder) conv(c Conv, x, w, bias *G.Node, inputGrad bool) (*G.Node, error) {
	s := x.Shape()
	n, h, wd := s[0], s[2], s[3]
	oh, ow := outSize(h, c.Kernel, c.Stride, c.Pad), outSize(wd, c.Kernel, c.Stride, c.Pad)
	k := c.In * c.Kernel * c.Kernel
	mem := b.st.mem
	o := b.op("ConvReLU("+c.Prefix+")", tensor.Shape{n, c.Out, oh, ow}, []int{n * c.In * h * wd, c.Out * k, c.Out},
		func(out []float32, in [][]float32) error {
			l := convLayer{Conv: c, a: packA(mem, in[1], c.Out, k, in[2])}
			defer l.a.free(mem)
			return l.forwardInto(mem, out, in[0], n, h, wd)
		})
	d := &sdOp{tOp: o, wrt: []bool{inputGrad, true, true}}
	d.back = func(in G.Nodes, y, g *G.Node) (G.Nodes, error) {
		dpre, err := b.reluGrad(c.Prefix, y, g)
		if err != nil {
			return nil, err
		}
		var dx *G.Node
		if inputGrad {
			if dx, err = b.convInputGrad(c, in[1], dpre, n, h, wd); err != nil {
				return nil, err
			}
		}
		dw, err := b.convWeightGrad(c, in[0], dpre)
		if err != nil {
			return nil, err
		}
		db, err := b.biasGrad(c.Prefix, dpre)
		if err != nil {
			return nil, err
		}
		return G.Nodes{dx, dw, db}, nil
	}
	return b.apply(o, d, x, w, bias)
}

// reluGrad is the derivative of ReLU given its output y: dy where y > 0,
// else 0 (PyTorch's threshold_backward(grad, y, 0), so the gradient at 0
// is 0).
func (b *graphBuilder) reluGrad(layer string, y, g *G.Node) (*G.Node, error) {
	size := y.Shape().TotalSize()
	o := b.op("ReLUGrad("+layer+")", y.Shape().Clone(), []int{size, size}, func(out []float32, in [][]float32) error {
		const chunk = 1 << 14
		return parallelFor((size+chunk-1)/chunk, func(_, i int) {
			lo, hi := i*chunk, min(size, (i+1)*chunk)
			yv, gv, ov := in[0][lo:hi], in[1][lo:hi], out[lo:hi]
			gv, ov = gv[:len(yv)], ov[:len(yv)]
			for j, v := range yv {
				m := uint32(0) // branch-free (a conditional move): y's sign is random
				if v > 0 {
					m = ^m
				}
				ov[j] = math.Float32frombits(math.Float32bits(gv[j]) & m)
			}
		})
	})
	return b.apply(o, nil, y, g)
}

// convInputGrad is the gradient of Conv2d with respect to its input
// (convolution_backward's grad_input, i.e. conv_transpose2d of dy with W):
// per image, dcol = Wᵀ·dy (K×P, K = In·k·k, P = output pixels) on the
// packed SGEMM, block of output pixels by block, each block scattered
// back into the image by col2im. Images run in parallel; within one, the
// sums run in a fixed order.
func (b *graphBuilder) convInputGrad(c Conv, w, dy *G.Node, n, h, wd int) (*G.Node, error) {
	oh, ow := outSize(h, c.Kernel, c.Stride, c.Pad), outSize(wd, c.Kernel, c.Stride, c.Pad)
	k, p := c.In*c.Kernel*c.Kernel, oh*ow
	mem := b.st.mem
	o := b.op("ConvInputGrad("+c.Prefix+")", tensor.Shape{n, c.In, h, wd}, []int{c.Out * k, n * c.Out * p},
		func(out []float32, in [][]float32) error {
			wt := mem.get(k * c.Out) // Wᵀ, K×Out
			for r := 0; r < c.Out; r++ {
				for j, v := range in[0][r*k : (r+1)*k] {
					wt[j*c.Out+r] = v
				}
			}
			a := packA(mem, wt, k, c.Out, nil)
			mem.put(wt)
			defer a.free(mem)
			per := min(ncPanels*nr, (p+nr-1)/nr*nr)
			kc := kBlock(c.Out)
			bufs, cols := make([][]float32, workers()), make([][]float32, workers())
			defer func() {
				for i := range bufs {
					if bufs[i] != nil {
						mem.put(bufs[i])
						mem.put(cols[i])
					}
				}
			}()
			return parallelFor(n, func(wk, img int) {
				if bufs[wk] == nil {
					bufs[wk], cols[wk] = mem.get(kc*per), mem.get(k*per)
				}
				dx := out[img*c.In*h*wd : (img+1)*c.In*h*wd]
				clear(dx)
				dyi := in[1][img*c.Out*p : (img+1)*c.Out*p]
				for p0 := 0; p0 < p; p0 += per {
					nc := min(per, p-p0)
					dcol := cols[wk][:k*nc]
					a.gemmBlock(dcol, nc, nc, false, false, bufs[wk], packKN(dyi, p, p0, nc))
					col2im(dx, dcol, &c, h, wd, ow, p0, nc)
				}
			})
		})
	return b.apply(o, nil, w, dy)
}

// convWeightGrad is the gradient of Conv2d with respect to its weight
// (convolution_backward's grad_weight): Σ over images of dy·colᵀ (Out×K),
// col being the image's im2col matrix (packed straight from the image by
// im2colT), each image's term on the packed SGEMM in parallel, then summed
// in image order (in float64).
func (b *graphBuilder) convWeightGrad(c Conv, x, dy *G.Node) (*G.Node, error) {
	s := x.Shape()
	n, h, wd := s[0], s[2], s[3]
	oh, ow := outSize(h, c.Kernel, c.Stride, c.Pad), outSize(wd, c.Kernel, c.Stride, c.Pad)
	k, p := c.In*c.Kernel*c.Kernel, oh*ow
	mem := b.st.mem
	acc := make([]float64, c.Out*k) // sumImages' scratch, kept with the op
	o := b.op("ConvWeightGrad("+c.Prefix+")", tensor.Shape{c.Out, c.In, c.Kernel, c.Kernel}, []int{n * c.In * h * wd, n * c.Out * p},
		func(out []float32, in [][]float32) error {
			part := mem.get(n * c.Out * k)
			defer mem.put(part)
			kc := kBlock(p)
			npan := (k + nr - 1) / nr
			bufs, packs := make([][]float32, workers()), make([][]float32, workers())
			defer func() {
				for i := range bufs {
					if bufs[i] != nil {
						mem.put(bufs[i])
						mem.put(packs[i])
					}
				}
			}()
			err := parallelFor(n, func(wk, img int) {
				if bufs[wk] == nil {
					bufs[wk], packs[wk] = mem.get(kc*npan*nr), mem.get(packedSize(c.Out, p))
				}
				a := packAInto(packs[wk], in[1][img*c.Out*p:(img+1)*c.Out*p], c.Out, p, nil)
				a.gemmBlock(part[img*c.Out*k:], k, k, false, false, bufs[wk], im2colT(in[0][img*c.In*h*wd:(img+1)*c.In*h*wd], &c, h, wd, ow))
			})
			if err != nil {
				return err
			}
			sumImages(out, part, n, acc)
			return nil
		})
	return b.apply(o, nil, x, dy)
}

// sumImages sets out[i] = Σ_img part[img·len(out)+i], summed in image order
// in float64 (acc: len(out) values of scratch).
func sumImages(out, part []float32, n int, acc []float64) {
	m := len(out)
	clear(acc)
	for img := 0; img < n; img++ {
		for i, v := range part[img*m : (img+1)*m] {
			acc[i] += float64(v)
		}
	}
	for i, v := range acc {
		out[i] = float32(v)
	}
}

// biasGrad is the gradient of a bias: dy summed over the batch and the
// pixels (dy.sum((0, 2, 3)) for Conv2d, dy.sum(0) for Linear), per channel
// in float64, images in order.
func (b *graphBuilder) biasGrad(layer string, dy *G.Node) (*G.Node, error) {
	s := dy.Shape()
	n, c := s[0], s[1]
	p := s.TotalSize() / (n * c)
	o := b.op("BiasGrad("+layer+")", tensor.Shape{c}, []int{n * c * p}, func(out []float32, in [][]float32) error {
		const chunk = 8
		return parallelFor((c+chunk-1)/chunk, func(_, i int) {
			for ch := i * chunk; ch < min(c, (i+1)*chunk); ch++ {
				var sum float64
				for img := 0; img < n; img++ {
					for _, v := range in[0][(img*c+ch)*p : (img*c+ch+1)*p] {
						sum += float64(v)
					}
				}
				out[ch] = float32(sum)
			}
		})
	})
	return b.apply(o, nil, dy)
}

// colRuns walks the im2col matrix of one image (C×h×w input, output ow
// pixels wide) restricted to the output pixels [p0, p0+cols): for each row
// k = (ch, ky, kx) and each run of pixels within one output row whose
// input lies inside the image, fn gets k, the channel, the run's first
// column j (relative to p0), the offset in the channel's plane of its
// first input value (the next ones follow at the conv's stride) and its
// length. im2colT and col2im are the two directions of this one map (the
// forward pass packs im2col with its own, faster walker, convLayer.im2col).
func colRuns(c *Conv, h, w, ow, p0, cols int, fn func(k, ch, j, src, n int)) {
	ks, s, pad := c.Kernel, c.Stride, c.Pad
	for k := 0; k < c.In*ks*ks; k++ {
		ch, r := k/(ks*ks), k%(ks*ks)
		ky, kx := r/ks, r%ks
		for p := p0; p < p0+cols; {
			oy, ox0 := p/ow, p%ow
			ox1 := min(ow, ox0+p0+cols-p)
			p += ox1 - ox0
			iy := oy*s - pad + ky
			if iy < 0 || iy >= h {
				continue
			}
			lo, hi := ox0, ox1
			for lo < hi && lo*s-pad+kx < 0 {
				lo++
			}
			for hi > lo && (hi-1)*s-pad+kx >= w {
				hi--
			}
			if lo < hi {
				fn(k, ch, oy*ow+lo-p0, iy*w+lo*s-pad+kx, hi-lo)
			}
		}
	}
}

// im2colT returns the packer of B = colᵀ (P×K: row p = output pixel,
// column k = (ch, ky, kx)) of one image straight from the image, for the
// weight gradient dy·colᵀ, whose inner dimension is the pixels: panels of
// nr columns k hold, for the pixels [p0, p0+np), the im2col values, zero
// where the window leaves the image and beyond K.
func im2colT(src []float32, c *Conv, h, w, ow int) packFunc {
	k := c.In * c.Kernel * c.Kernel
	npan := (k + nr - 1) / nr
	return func(p0, np int, dst []float32) {
		clear(dst[:npan*np*nr])
		colRuns(c, h, w, ow, p0, np, func(kk, ch, j, s0, n int) {
			plane := src[ch*h*w : (ch+1)*h*w]
			d := dst[(kk/nr)*np*nr+kk%nr:]
			for t := 0; t < n; t++ {
				d[(j+t)*nr] = plane[s0+t*c.Stride]
			}
		})
	}
}

// col2im adds the im2col-shaped matrix dcol (K × cols, for the output
// pixels [p0, p0+cols)) back into the image dx: the adjoint of im2col.
func col2im(dx, dcol []float32, c *Conv, h, w, ow, p0, cols int) {
	colRuns(c, h, w, ow, p0, cols, func(k, ch, j, s0, n int) {
		plane := dx[ch*h*w : (ch+1)*h*w]
		d := dcol[k*cols+j : k*cols+j+n]
		if c.Stride == 1 {
			dst := plane[s0 : s0+n]
			for t, v := range d {
				dst[t] += v
			}
			return
		}
		for t, v := range d {
			plane[s0+t*c.Stride] += v
		}
	})
}

// maxPool is MaxPool2d(k, s) (no padding, floor mode), computed as in
// inference; its derivative is maxPoolGrad.
func (b *graphBuilder) maxPool(after string, k, s int, x *G.Node) (*G.Node, error) {
	sh := x.Shape()
	n, c, h, w := sh[0], sh[1], sh[2], sh[3]
	oh, ow := outSize(h, k, s, 0), outSize(w, k, s, 0)
	o := b.op(fmt.Sprintf("MaxPool2d(%d, %d, after %s)", k, s, after), tensor.Shape{n, c, oh, ow}, []int{n * c * h * w},
		func(out []float32, in [][]float32) error {
			return maxPoolInto(out, in[0], n*c, h, w, k, s, 0)
		})
	d := &sdOp{tOp: o, wrt: []bool{true}}
	d.back = func(in G.Nodes, _, g *G.Node) (G.Nodes, error) {
		dx, err := b.maxPoolGrad(after, k, s, in[0], g)
		return G.Nodes{dx}, err
	}
	return b.apply(o, d, x)
}

// maxPoolGrad is MaxPool2d's derivative (max_pool2d_with_indices_backward):
// each output's gradient goes to the input PyTorch's kernel selects, the
// first maximum of the window in row-major order (a later value wins
// only if it is greater, or NaN), summed where windows overlap.
func (b *graphBuilder) maxPoolGrad(after string, k, s int, x, g *G.Node) (*G.Node, error) {
	sh := x.Shape()
	n, c, h, w := sh[0], sh[1], sh[2], sh[3]
	oh, ow := outSize(h, k, s, 0), outSize(w, k, s, 0)
	planes := n * c
	o := b.op(fmt.Sprintf("MaxPool2dGrad(%d, %d, after %s)", k, s, after), sh.Clone(), []int{planes * h * w, planes * oh * ow},
		func(out []float32, in [][]float32) error {
			const chunk = 16
			return parallelFor((planes+chunk-1)/chunk, func(_, i int) {
				for pl := i * chunk; pl < min(planes, (i+1)*chunk); pl++ {
					src := in[0][pl*h*w : (pl+1)*h*w]
					gy := in[1][pl*oh*ow : (pl+1)*oh*ow]
					dx := out[pl*h*w : (pl+1)*h*w]
					clear(dx)
					for y := 0; y < oh; y++ {
						for x := 0; x < ow; x++ {
							best, m := y*s*w+x*s, float32(math.Inf(-1))
							for dy := 0; dy < k; dy++ {
								for dxx := 0; dxx < k; dxx++ {
									idx := (y*s+dy)*w + x*s + dxx
									if v := src[idx]; v > m || v != v {
										best, m = idx, v
									}
								}
							}
							dx[best] += gy[y*ow+x]
						}
					}
				}
			})
		})
	return b.apply(o, nil, x, g)
}

// avgPoolFlatten is AdaptiveAvgPool2d((p, p)) followed by
// torch.flatten(x, 1), giving n × (C·p·p); its derivative is avgPoolGrad.
func (b *graphBuilder) avgPoolFlatten(p int, x *G.Node) (*G.Node, error) {
	sh := x.Shape()
	n, c, h, w := sh[0], sh[1], sh[2], sh[3]
	o := b.op(fmt.Sprintf("AdaptiveAvgPool2dFlatten(%d)", p), tensor.Shape{n, c * p * p}, []int{n * c * h * w},
		func(out []float32, in [][]float32) error {
			adaptiveAvgPoolInto(out, in[0], n*c, h, w, p)
			return nil
		})
	d := &sdOp{tOp: o, wrt: []bool{true}}
	d.back = func(_ G.Nodes, _, g *G.Node) (G.Nodes, error) {
		dx, err := b.avgPoolGrad(p, sh, g)
		return G.Nodes{dx}, err
	}
	return b.apply(o, d, x)
}

// avgPoolGrad is AdaptiveAvgPool2d's derivative
// (adaptive_avg_pool2d_backward): each output cell's gradient, divided by
// its bin's size, is added to every input of the bin (PyTorch's bins
// [⌊i·in/p⌋, ⌈(i+1)·in/p⌉), so an input in several bins, e.g. when a 2×2
// map is pooled to 7×7, gets the sum).
func (b *graphBuilder) avgPoolGrad(p int, sh tensor.Shape, g *G.Node) (*G.Node, error) {
	n, c, h, w := sh[0], sh[1], sh[2], sh[3]
	planes := n * c
	o := b.op(fmt.Sprintf("AdaptiveAvgPool2dGrad(%d)", p), sh.Clone(), []int{planes * p * p},
		func(out []float32, in [][]float32) error {
			for pl := 0; pl < planes; pl++ {
				dx := out[pl*h*w : (pl+1)*h*w]
				gy := in[0][pl*p*p : (pl+1)*p*p]
				clear(dx)
				for i := 0; i < p; i++ {
					y0, y1 := i*h/p, ((i+1)*h+p-1)/p
					for j := 0; j < p; j++ {
						x0, x1 := j*w/p, ((j+1)*w+p-1)/p
						v := gy[i*p+j] / float32((y1-y0)*(x1-x0))
						for y := y0; y < y1; y++ {
							row := dx[y*w+x0 : y*w+x1]
							for t := range row {
								row[t] += v
							}
						}
					}
				}
			}
			return nil
		})
	return b.apply(o, nil, g)
}

// linear is nn.Linear (x·Wᵀ + b), with ReLU if relu is set, computed as in
// inference (linearRows). Its derivative is reluGrad (with ReLU), then
// linearInputGrad, linearWeightGrad and biasGrad.
func (b *graphBuilder) linear(l Linear, relu bool, x, w, bias *G.Node) (*G.Node, error) {
	n := x.Shape()[0]
	mem := b.st.mem
	o := b.op("Linear("+l.Prefix+")", tensor.Shape{n, l.Out}, []int{n * l.In, l.Out * l.In, l.Out},
		func(out []float32, in [][]float32) error {
			return linearRowsInto(mem, out, in[0], n, &fcLayer{Linear: l, w: in[1], b: in[2]}, relu)
		})
	d := &sdOp{tOp: o, wrt: []bool{true, true, true}}
	d.back = func(in G.Nodes, y, g *G.Node) (G.Nodes, error) {
		dz := g
		var err error
		if relu {
			if dz, err = b.reluGrad(l.Prefix, y, g); err != nil {
				return nil, err
			}
		}
		dx, err := b.linearInputGrad(l, n, in[1], dz)
		if err != nil {
			return nil, err
		}
		dw, err := b.linearWeightGrad(l, n, in[0], dz)
		if err != nil {
			return nil, err
		}
		db, err := b.biasGrad(l.Prefix, dz)
		if err != nil {
			return nil, err
		}
		return G.Nodes{dx, dw, db}, nil
	}
	return b.apply(o, d, x, w, bias)
}

// linearInputGrad is nn.Linear's input gradient dz·W (n×In) on the packed
// SGEMM (A = dz, B = W straight from the torch layout).
func (b *graphBuilder) linearInputGrad(l Linear, n int, w, dz *G.Node) (*G.Node, error) {
	mem := b.st.mem
	o := b.op("LinearInputGrad("+l.Prefix+")", tensor.Shape{n, l.In}, []int{l.Out * l.In, n * l.Out},
		func(out []float32, in [][]float32) error {
			a := packA(mem, in[1], n, l.Out, nil)
			defer a.free(mem)
			return a.matmul(mem, out, l.In, false, false, func(c0, cols int) packFunc { return packKN(in[0], l.In, c0, cols) })
		})
	return b.apply(o, nil, w, dz)
}

// linearWeightGrad is nn.Linear's weight gradient dzᵀ·x (Out×In) on the
// packed SGEMM; the sum over the batch is the GEMM's inner dimension, in
// image order.
func (b *graphBuilder) linearWeightGrad(l Linear, n int, x, dz *G.Node) (*G.Node, error) {
	mem := b.st.mem
	o := b.op("LinearWeightGrad("+l.Prefix+")", tensor.Shape{l.Out, l.In}, []int{n * l.In, n * l.Out},
		func(out []float32, in [][]float32) error {
			zt := mem.get(l.Out * n) // dzᵀ
			for i := 0; i < n; i++ {
				for j, v := range in[1][i*l.Out : (i+1)*l.Out] {
					zt[j*n+i] = v
				}
			}
			a := packA(mem, zt, l.Out, n, nil)
			mem.put(zt)
			defer a.free(mem)
			return a.matmul(mem, out, l.In, false, false, func(c0, cols int) packFunc { return packKN(in[0], l.In, c0, cols) })
		})
	return b.apply(o, nil, x, dz)
}

// crossEntropy is F.cross_entropy(logits, labels) with the default mean
// reduction: (1/n)·Σ_i (log Σ_j exp z_ij − z_i,label), computed in float64
// with the row maximum subtracted first. It also counts the rows whose
// first maximum is the label. Its derivative is crossEntropyGrad.
func (b *graphBuilder) crossEntropy(z *G.Node) (*G.Node, error) {
	n, c := z.Shape()[0], z.Shape()[1]
	st := b.st
	o := b.op("CrossEntropy", tensor.ScalarShape(), []int{n * c}, func(out []float32, in [][]float32) error {
		var total float64
		correct := 0
		for i := 0; i < n; i++ {
			row := in[0][i*c : (i+1)*c]
			lab := st.labels[i]
			am := 0
			for j, v := range row {
				if v > row[am] {
					am = j
				}
			}
			if am == lab {
				correct++
			}
			total += logSumExp(row) - float64(row[lab])
		}
		st.loss, st.correct = total/float64(n), correct
		out[0] = float32(st.loss)
		return nil
	})
	o.scalar = true
	d := &sdOp{tOp: o, wrt: []bool{true}}
	d.back = func(in G.Nodes, _, g *G.Node) (G.Nodes, error) {
		dz, err := b.crossEntropyGrad(in[0], g)
		return G.Nodes{dz}, err
	}
	return b.apply(o, d, z)
}

// logSumExp is log Σ exp(v) in float64, stable (the maximum subtracted).
func logSumExp(row []float32) float64 {
	m := math.Inf(-1)
	for _, v := range row {
		m = math.Max(m, float64(v))
	}
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v) - m)
	}
	return m + math.Log(s)
}

// crossEntropyGrad is the mean cross-entropy's gradient with respect to
// the logits, scaled by the upstream gradient g: g·(softmax(z_i) −
// onehot(label_i))/n, computed in float64.
func (b *graphBuilder) crossEntropyGrad(z, g *G.Node) (*G.Node, error) {
	n, c := z.Shape()[0], z.Shape()[1]
	st := b.st
	o := b.op("CrossEntropyGrad", z.Shape().Clone(), []int{n * c, 1}, func(out []float32, in [][]float32) error {
		scale := float64(in[1][0]) / float64(n)
		for i := 0; i < n; i++ {
			row := in[0][i*c : (i+1)*c]
			lse := logSumExp(row)
			for j, v := range row {
				p := math.Exp(float64(v) - lse)
				if j == st.labels[i] {
					p--
				}
				out[i*c+j] = float32(p * scale)
			}
		}
		return nil
	})
	return b.apply(o, nil, z, g)
}
