package net

import (
	"fmt"
	"strconv"
	"strings"
)

// ResNet is torchvision's ResNet (He et al. 2016, torchvision ≥ 0.13's
// "v1.5" with the stride on a Bottleneck's 3×3 convolution): a stem
// (conv1 7×7 stride 2 pad 3, bn1, ReLU, then MaxPool2d(3, 2, padding 1)),
// four stages layer1…layer4 of residual blocks, global average pooling and
// one linear layer fc. Every convolution has no bias and is followed by a
// BatchNorm (folded in at load time). A block computes
// ReLU(F(x) + shortcut(x)), F being its convolutions with a ReLU after
// each but the last, shortcut the identity or, where the stride or width
// changes, the 1×1 convolution + BN downsample.
//
// dlib_resnet29 (dlib.go) is a ResNet too: convolutions with biases and
// scale layers (Conv.Scale) instead of BatchNorm, an unpadded stem
// (StemPoolPad 0, InputMean), average-pooling shortcuts (Block.PoolDown)
// and a linear layer without bias (Linear.NoBias).
//
// Its taps are conv1 (after the stem's ReLU, before the max pooling, as a
// VGG convN is before its pooling), every block by module path (layer3.1,
// after its final ReLU), every stage (layer3, the same values as its last
// block), avgpool (N×C, flattened) and logits.
type ResNet struct {
	// Stem is conv1 + bn1; its Pool and PoolStride are 3 and 2 (padding
	// StemPoolPad).
	Stem Conv
	// Blocks are the residual blocks in order.
	Blocks []Block
	// FC is fc (Tap "logits"); Out is the number of classes.
	FC Linear
	// StemPoolPad is the padding of the stem's max pooling (torchvision:
	// 1; dlib: 0).
	StemPoolPad int
	// StemModule is the module the stem's tap is the output of, as Layers
	// names it ("relu").
	StemModule string
	// InputMean, where non-zero, is subtracted from each input channel
	// before the stem; it is folded into the stem's bias (exact only for an
	// unpadded stem, as dlib's is: a padded border would see −mean).
	InputMean [3]float64
}

// Block is one BasicBlock (two 3×3 convolutions) or Bottleneck (1×1, 3×3,
// 1×1 with 4× expansion).
type Block struct {
	// Tap is the module path ("layer3.1"), Stage its stage ("layer3").
	Tap, Stage string
	// Convs are conv1+bn1, conv2+bn2[, conv3+bn3]; their Tap is the module
	// path ("layer3.1.conv2"), used in messages.
	Convs []Conv
	// Down is downsample.0 + downsample.1, nil for an identity shortcut.
	Down *Conv
	// PoolDown marks dlib's down-sampling shortcut (Down is then nil): a
	// 2×2 average pooling of stride 2 (no padding) with zero channels
	// appended up to the block's width; F's output, one pixel smaller
	// where the input side is even, is zero-padded at the bottom and right
	// to the pooled size before the sum.
	PoolDown bool
}

// resnetSpec follows torchvision's ResNet and _make_layer: stage s has
// planes 64·2^s, stride 2 on its first block from layer2 on, and a
// downsample branch where the stride or the width (planes·expansion)
// changes.
func resnetSpec(name string, bottleneck bool, depth [4]int) *Arch {
	r := &ResNet{Stem: Conv{Tap: "conv1", Prefix: "conv1", BN: "bn1", In: 3, Out: 64, Kernel: 7, Stride: 2, Pad: 3, Pool: 3, PoolStride: 2, NoBias: true},
		StemPoolPad: 1, StemModule: "relu"}
	exp := 1
	if bottleneck {
		exp = 4
	}
	in := 64
	for s, nb := range depth {
		planes := 64 << s
		for b := 0; b < nb; b++ {
			stride := 1
			if b == 0 && s > 0 {
				stride = 2
			}
			p := fmt.Sprintf("layer%d.%d", s+1, b)
			conv := func(i, cin, cout, k, st int) Conv {
				m := p + ".conv" + strconv.Itoa(i)
				return Conv{Tap: m, Prefix: m, BN: p + ".bn" + strconv.Itoa(i), In: cin, Out: cout, Kernel: k, Stride: st, Pad: k / 2, NoBias: true}
			}
			blk := Block{Tap: p, Stage: fmt.Sprintf("layer%d", s+1)}
			if bottleneck {
				blk.Convs = []Conv{conv(1, in, planes, 1, 1), conv(2, planes, planes, 3, stride), conv(3, planes, planes*exp, 1, 1)}
			} else {
				blk.Convs = []Conv{conv(1, in, planes, 3, stride), conv(2, planes, planes, 3, 1)}
			}
			if stride != 1 || in != planes*exp {
				blk.Down = &Conv{Tap: p + ".downsample", Prefix: p + ".downsample.0", BN: p + ".downsample.1", In: in, Out: planes * exp, Kernel: 1, Stride: stride, NoBias: true}
			}
			in = planes * exp
			r.Blocks = append(r.Blocks, blk)
		}
	}
	r.FC = Linear{Tap: "logits", Prefix: "fc", In: in}
	return &Arch{Name: name, Res: r}
}

func (r *ResNet) clone() *ResNet {
	c := *r
	c.Blocks = make([]Block, len(r.Blocks))
	for i, b := range r.Blocks {
		b.Convs = append([]Conv(nil), b.Convs...)
		if b.Down != nil {
			d := *b.Down
			b.Down = &d
		}
		c.Blocks[i] = b
	}
	return &c
}

// params lists the state-dict entries in torchvision's order.
func (r *ResNet) params(classes int) []Param {
	ps := r.Stem.params(nil)
	for _, b := range r.Blocks {
		for _, c := range b.Convs {
			ps = c.params(ps)
		}
		if b.Down != nil {
			ps = b.Down.params(ps)
		}
	}
	ps = append(ps, Param{r.FC.Prefix + ".weight", []int{classes, r.FC.In}})
	if !r.FC.NoBias {
		ps = append(ps, Param{r.FC.Prefix + ".bias", []int{classes}})
	}
	return ps
}

// Stage kinds of a ResNet: what computes the tap of the same index.
const (
	stStem  = iota // conv1 + bn1 + ReLU
	stBlock        // [the stem's max pooling,] a residual block
	stEnd          // a stage's output: the identity on its last block's
	stPool         // global average pooling and flatten
	stFC           // fc
)

// resStage is one tap of a ResNet and what computes it.
type resStage struct {
	kind  int
	tap   string
	block int // the block of stBlock and stEnd
}

// stages lists the ResNet's taps with what computes each.
func (r *ResNet) stages() []resStage {
	st := []resStage{{kind: stStem, tap: r.Stem.Tap}}
	for i, b := range r.Blocks {
		st = append(st, resStage{kind: stBlock, tap: b.Tap, block: i})
		if i == len(r.Blocks)-1 || r.Blocks[i+1].Stage != b.Stage {
			st = append(st, resStage{kind: stEnd, tap: b.Stage, block: i})
		}
	}
	return append(st, resStage{kind: stPool, tap: "avgpool"}, resStage{kind: stFC, tap: r.FC.Tap})
}

func (r *ResNet) taps() []string {
	var t []string
	for _, s := range r.stages() {
		t = append(t, s.tap)
	}
	return t
}

// size is the output size of a spatial stage for an h×w input (0 where a
// layer has no output pixel), naming the layer that failed.
func (r *ResNet) size(s resStage, h, w int) (int, int, string) {
	conv := func(c Conv) {
		h, w = outSize(h, c.Kernel, c.Stride, c.Pad), outSize(w, c.Kernel, c.Stride, c.Pad)
	}
	switch s.kind {
	case stStem:
		conv(r.Stem)
		return h, w, r.Stem.Tap
	case stBlock:
		if s.block == 0 {
			h, w = outSize(h, r.Stem.Pool, r.Stem.PoolStride, r.StemPoolPad), outSize(w, r.Stem.Pool, r.Stem.PoolStride, r.StemPoolPad)
			if h < 1 || w < 1 {
				return h, w, "maxpool"
			}
		}
		h0, w0 := h, w
		for _, c := range r.Blocks[s.block].Convs {
			if conv(c); h < 1 || w < 1 {
				return h, w, c.Tap
			}
		}
		if r.Blocks[s.block].PoolDown {
			h, w = outSize(h0, 2, 2, 0), outSize(w0, 2, 2, 0)
		}
	}
	return h, w, s.tap
}

// dims is the number of channels of stage s and whether it is flat (N×C).
func (r *ResNet) dims(s resStage) (int, bool) {
	switch s.kind {
	case stStem:
		return r.Stem.Out, false
	case stPool:
		return r.FC.In, true
	case stFC:
		return r.FC.Out, true
	}
	cs := r.Blocks[s.block].Convs
	return cs[len(cs)-1].Out, false
}

// Layer is one tap of an architecture at a given input size.
type Layer struct {
	// Tap is the name Forward and the extract stage take.
	Tap string
	// Module is the torchvision module whose output the tap is, as
	// thingsvision names it ("features.29": VGG-16's conv13 after its
	// in-place ReLU; "relu": a ResNet's conv1).
	Module string
	// Shape is C×H×W, or C for a flat tap (fc6, fc7, avgpool, logits).
	Shape []int
}

// Resolve names a's tap for name: the tap itself ("conv13", "layer3.1"),
// or the tap that is the output of the torchvision module name
// ("features.29", VGG-16's conv13 after its ReLU; see Layer.Module).
func (a *Arch) Resolve(name string) (string, bool) {
	layers, err := a.Layers(224, 224)
	if err != nil {
		return "", false
	}
	for _, l := range layers {
		if l.Tap == name || l.Module == name {
			return l.Tap, true
		}
	}
	return "", false
}

// Layers lists every tap with its module and output shape for an h×w
// input, or an error naming the first layer with no output pixel.
func (a *Arch) Layers(h, w int) ([]Layer, error) {
	if h < 1 || w < 1 {
		return nil, fmt.Errorf("net: %s: invalid input size %d×%d", a.Name, h, w)
	}
	ih, iw := h, w
	small := func(layer string) error {
		return fmt.Errorf("net: a %d×%d input is too small for %s: %s has no output pixel", ih, iw, a.Name, layer)
	}
	var ls []Layer
	if r := a.Res; r != nil {
		for _, s := range r.stages() {
			c, flat := r.dims(s)
			var bad string
			h, w, bad = r.size(s, h, w)
			if !flat && (h < 1 || w < 1) {
				return nil, small(bad)
			}
			l := Layer{Tap: s.tap, Module: s.tap, Shape: []int{c, h, w}}
			switch s.kind {
			case stStem:
				l.Module = r.StemModule
			case stFC:
				l.Module = r.FC.Prefix
			}
			if flat {
				l.Shape = []int{c}
			}
			ls = append(ls, l)
		}
		return ls, nil
	}
	for _, c := range a.Convs {
		if h, w = outSize(h, c.Kernel, c.Stride, c.Pad), outSize(w, c.Kernel, c.Stride, c.Pad); h < 1 || w < 1 {
			return nil, small(c.Tap)
		}
		relu := c.Prefix
		if c.BN != "" {
			relu = c.BN
		}
		ls = append(ls, Layer{Tap: c.Tap, Module: nextModule(relu), Shape: []int{c.Out, h, w}})
		if c.Pool > 0 {
			if h, w = outSize(h, c.Pool, c.PoolStride, 0), outSize(w, c.Pool, c.PoolStride, 0); h < 1 || w < 1 {
				return nil, small("the max pooling after " + c.Tap)
			}
		}
	}
	for i, l := range a.FC {
		m := l.Prefix
		if i < 2 {
			m = nextModule(m) // its ReLU
		}
		ls = append(ls, Layer{Tap: l.Tap, Module: m, Shape: []int{l.Out}})
	}
	return ls, nil
}

// nextModule is the path of the module after prefix in its Sequential
// ("features.28" → "features.29").
func nextModule(prefix string) string {
	i := strings.LastIndexByte(prefix, '.')
	n, _ := strconv.Atoi(prefix[i+1:])
	return prefix[:i+1] + strconv.Itoa(n+1)
}
