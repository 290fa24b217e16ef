package net

import (
	"fmt"
	"hash"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// resLayers are a loaded ResNet's layers.
type resLayers struct {
	stem    *convLayer
	poolPad int // the stem's max pooling's
	blocks  []*blockLayer
	fc      *fcLayer
	stages  []resStage // one per tap
}

// blockLayer is a residual block with packed weights.
type blockLayer struct {
	Block
	convs []*convLayer
	down  *convLayer // nil: identity shortcut
}

// resnetWidths reads a ResNet's widths from the weights into r, reporting
// every inconsistency: each convolution's input is the previous one's
// output, a block's shortcut (identity or downsample) has its last
// convolution's width, and fc reads the last block's.
func resnetWidths(r *ResNet, params map[string]Tensor, check func(string, ...int) []int, problem func(string, ...any)) {
	conv := func(c *Conv, in int) int {
		c.In, c.Out = in, -1
		if s := check(c.Prefix+".weight", -1, in, c.Kernel, c.Kernel); s != nil {
			c.Out = s[0]
		} else if t, ok := params[c.Prefix+".weight"]; ok && len(t.Shape) > 0 && t.Shape[0] >= 1 {
			c.Out = t.Shape[0] // mis-shaped, but keep checking what follows
		}
		if c.BN != "" {
			for _, s := range bnSuffixes {
				check(c.BN+"."+s, c.Out)
			}
		}
		if c.Scale != "" {
			check(c.Scale+".weight", c.Out)
			check(c.Scale+".bias", c.Out)
		}
		if !c.NoBias {
			check(c.Prefix+".bias", c.Out)
		}
		return c.Out
	}
	in := conv(&r.Stem, 3)
	for i := range r.Blocks {
		b := &r.Blocks[i]
		x := in
		for j := range b.Convs {
			x = conv(&b.Convs[j], x)
		}
		switch {
		case b.PoolDown:
			if in > 0 && x > 0 && x < in {
				problem("%s: down-sampling shortcut pads %d channels with zeros, but its last convolution has fewer, %d", b.Tap, in, x)
			}
		case b.Down != nil:
			if d := conv(b.Down, in); d > 0 && x > 0 && d != x {
				problem("%s: downsample has %d channels, its last convolution %d", b.Tap, d, x)
			}
		case in > 0 && x > 0 && in != x:
			problem("%s: identity shortcut of %d channels, its last convolution has %d", b.Tap, in, x)
		}
		in = x
	}
	r.FC.In, r.FC.Out = in, -1
	if s := check(r.FC.Prefix+".weight", -1, in); s != nil {
		r.FC.Out = s[0]
	} else if t, ok := params[r.FC.Prefix+".weight"]; ok && len(t.Shape) == 2 && t.Shape[0] >= 1 {
		r.FC.Out = t.Shape[0]
	}
	if !r.FC.NoBias {
		check(r.FC.Prefix+".bias", r.FC.Out)
	}
}

// newResLayers packs a checked ResNet's weights.
func newResLayers(r *ResNet, params map[string]Tensor) *resLayers {
	stemParams := params
	if r.InputMean != ([3]float64{}) {
		stemParams = foldInputMean(r.Stem, r.InputMean, params)
	}
	l := &resLayers{stem: newConvLayer(r.Stem, stemParams), poolPad: r.StemPoolPad, stages: r.stages()}
	for _, b := range r.Blocks {
		bl := &blockLayer{Block: b}
		for _, c := range b.Convs {
			bl.convs = append(bl.convs, newConvLayer(c, params))
		}
		if b.Down != nil {
			bl.down = newConvLayer(*b.Down, params)
		}
		l.blocks = append(l.blocks, bl)
	}
	l.fc = &fcLayer{Linear: r.FC, w: params[r.FC.Prefix+".weight"].Data, b: params[r.FC.Prefix+".bias"].Data}
	if r.FC.NoBias {
		l.fc.b = make([]float32, r.FC.Out)
	}
	return l
}

// foldInputMean returns params with the stem's bias replaced by
// b − Σ_{c,ky,kx} W[o,c,ky,kx]·mean[c] (float64 sums), so that the stem
// applied to x equals it applied to x − mean (exact for an unpadded
// convolution; BN or scale layers act after it and are folded later).
func foldInputMean(c Conv, mean [3]float64, params map[string]Tensor) map[string]Tensor {
	w := params[c.Prefix+".weight"].Data
	b := make([]float32, c.Out)
	copy(b, params[c.Prefix+".bias"].Data)
	kk := c.Kernel * c.Kernel
	for o := range b {
		s := float64(b[o])
		for ch := 0; ch < c.In; ch++ {
			for _, v := range w[(o*c.In+ch)*kk : (o*c.In+ch+1)*kk] {
				s -= float64(v) * mean[ch]
			}
		}
		b[o] = float32(s)
	}
	out := make(map[string]Tensor, len(params))
	for k, v := range params {
		out[k] = v
	}
	out[c.Prefix+".bias"] = Tensor{Shape: []int{c.Out}, Data: b}
	return out
}

// buildResNet adds the graph of a ResNet's stages start…last to x.
func (n *Net) buildResNet(x *G.Node, start, last int, want []bool, st *runState) (_ *G.Node, err error) {
	r := n.res
	for s := start; s <= last; s++ {
		stage := r.stages[s]
		switch stage.kind {
		case stStem:
			x, err = G.ApplyOp(&convOp{layer: r.stem, st: st}, x)
		case stBlock:
			if stage.block == 0 {
				x, err = G.ApplyOp(&maxPoolOp{after: r.stem.Tap, k: r.stem.Pool, s: r.stem.PoolStride, pad: r.poolPad, st: st}, x)
			}
			if err == nil {
				x, err = G.ApplyOp(&blockOp{layer: r.blocks[stage.block], st: st}, x)
			}
		case stPool:
			if x, err = G.ApplyOp(&adaptiveAvgPoolOp{out: 1, st: st}, x); err == nil {
				s := x.Shape()
				x, err = G.Reshape(x, tensor.Shape{s[0], s[1]})
			}
		case stFC:
			x, err = n.linear(x, r.fc, false, st)
		}
		if err != nil {
			return nil, fmt.Errorf("net: building %s: %w", stage.tap, err)
		}
		if x, err = G.ApplyOp(&tapOp{name: stage.tap, emit: want[s], st: st}, x); err != nil {
			return nil, fmt.Errorf("net: building tap %s: %w", stage.tap, err)
		}
	}
	return x, nil
}

// checkResNetSizes is checkSizes for a ResNet.
func (n *Net) checkResNetSizes(start, last int, h, w int) error {
	r := n.arch.Res
	for s := start; s <= last; s++ {
		stage := n.res.stages[s]
		if _, flat := r.dims(stage); flat {
			break
		}
		var bad string
		if h, w, bad = r.size(stage, h, w); h < 1 || w < 1 {
			return fmt.Errorf("net: input too small for %s: %s has no output pixel", n.arch.Name, bad)
		}
	}
	return nil
}

// blockOp is a residual block as one gorgonia op: ReLU(F(x) + shortcut(x))
// with F its convolutions (BN folded, ReLU after each but the last) and the
// shortcut x itself or the downsample convolution (BN folded, no ReLU).
// The residual add and the final ReLU are fused into the last
// convolution's GEMM (convLayer.forwardWith), which starts from the
// shortcut plus bias instead of the bias alone.
type blockOp struct {
	opBase
	layer *blockLayer
	st    *runState
}

func (op *blockOp) String() string {
	return fmt.Sprintf("ResidualBlock(%s %d→%d, %d convs, downsample %t)", op.layer.Tap, op.layer.convs[0].In, op.out(), len(op.layer.convs), op.layer.down != nil)
}
func (op *blockOp) out() int              { return op.layer.convs[len(op.layer.convs)-1].Out }
func (op *blockOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op *blockOp) Hashcode() uint32      { return hashOf(op) }
func (op *blockOp) ReturnsPtr() bool      { return false }
func (op *blockOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, ok := in[0].(tensor.Shape)
	if !ok || len(s) != 4 {
		return nil, fmt.Errorf("%v: expected a 4-D input shape, got %v", op, in[0])
	}
	h, w := s[2], s[3]
	if op.layer.PoolDown {
		return tensor.Shape{s[0], op.out(), outSize(h, 2, 2, 0), outSize(w, 2, 2, 0)}, nil
	}
	for _, c := range op.layer.convs {
		h, w = outSize(h, c.Kernel, c.Stride, c.Pad), outSize(w, c.Kernel, c.Stride, c.Pad)
	}
	return tensor.Shape{s[0], op.out(), h, w}, nil
}
func (op *blockOp) Do(in ...G.Value) (v G.Value, err error) {
	defer op.st.catch(&err)
	if err := op.st.ctx.Err(); err != nil {
		return nil, op.st.fail(fmt.Errorf("net: stopped before %s: %w", op.layer.Tap, err))
	}
	d, data, err := op.st.input(op, in[0])
	if err != nil {
		return nil, err
	}
	s := d.Shape()
	if len(s) != 4 || s[1] != op.layer.convs[0].In {
		return nil, op.st.fail(fmt.Errorf("net: %v: input shape %v", op, s))
	}
	out, oh, ow, err := op.layer.forward(op.st.mem, data, s[0], s[2], s[3])
	if err != nil {
		return nil, op.st.fail(fmt.Errorf("net: %s: %w", op.layer.Tap, err))
	}
	op.st.adopt(out)
	op.st.release(data)
	return dense(out, s[0], op.out(), oh, ow), nil
}

// forward computes the block for n images of In×h×w, its intermediate
// activations taken from mem and given back.
func (b *blockLayer) forward(mem *arena, in []float32, n, h, w int) (out []float32, oh, ow int, err error) {
	if b.PoolDown {
		return b.forwardPoolDown(mem, in, n, h, w)
	}
	short := in
	if b.down != nil {
		if short, _, _, err = b.down.forwardWith(mem, in, n, h, w, false, nil); err != nil {
			return nil, 0, 0, err
		}
		defer mem.put(short)
	}
	x, xh, xw := in, h, w
	last := len(b.convs) - 1
	for i, c := range b.convs[:last] {
		y, yh, yw, err := c.forwardWith(mem, x, n, xh, xw, true, nil)
		if i > 0 {
			mem.put(x)
		}
		if err != nil {
			return nil, 0, 0, err
		}
		x, xh, xw = y, yh, yw
	}
	out, oh, ow, err = b.convs[last].forwardWith(mem, x, n, xh, xw, true, short)
	mem.put(x)
	return out, oh, ow, err
}

// forwardPoolDown is forward for dlib's down-sampling block:
// ReLU(pad(F(x)) + pool(x)), pool the 2×2/2 average with zero channels
// appended, pad zero rows and columns at the bottom and right of F's
// output up to the pooled size (see Block.PoolDown).
func (b *blockLayer) forwardPoolDown(mem *arena, in []float32, n, h, w int) (out []float32, oh, ow int, err error) {
	cin, cout := b.convs[0].In, b.convs[len(b.convs)-1].Out
	oh, ow = outSize(h, 2, 2, 0), outSize(w, 2, 2, 0)
	x, xh, xw := in, h, w
	for i, c := range b.convs {
		y, yh, yw, err := c.forwardWith(mem, x, n, xh, xw, i < len(b.convs)-1, nil)
		if i > 0 {
			mem.put(x)
		}
		if err != nil {
			return nil, 0, 0, err
		}
		x, xh, xw = y, yh, yw
	}
	defer mem.put(x)
	if xh > oh || xw > ow || xh < oh-1 || xw < ow-1 {
		return nil, 0, 0, fmt.Errorf("%s: residual branch is %d×%d, the pooled shortcut %d×%d", b.Tap, xh, xw, oh, ow)
	}
	out = mem.get(n * cout * oh * ow)
	for img := 0; img < n; img++ {
		for c := 0; c < cout; c++ {
			dst := out[(img*cout+c)*oh*ow:][:oh*ow]
			f := x[(img*cout+c)*xh*xw:][:xh*xw]
			var src []float32
			if c < cin {
				src = in[(img*cin+c)*h*w:][:h*w]
			}
			for y := 0; y < oh; y++ {
				for xx := 0; xx < ow; xx++ {
					var v float32
					if src != nil {
						i := 2*y*w + 2*xx
						v = (src[i] + src[i+1] + src[i+w] + src[i+w+1]) / 4
					}
					if y < xh && xx < xw {
						v += f[y*xw+xx]
					}
					dst[y*ow+xx] = max(v, 0)
				}
			}
		}
	}
	return out, oh, ow, nil
}
