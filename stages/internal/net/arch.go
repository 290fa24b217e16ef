// Package net runs inference and training of torchvision-layout image
// classification networks (VGG-16, VGG-16-BN, AlexNet, ResNet-18, -34 and
// -50; training: VGG-16 and AlexNet), and inference of dlib's face
// recognition ResNet-29 (dlib_resnet29, from face-api's tfjs weights: see
// dlib.go), in pure Go, with gorgonia as the
// execution framework: each call builds a gorgonia expression graph of the
// layers it needs and runs it on a tape machine, with gorgonia tensors as
// values. The classifier is gorgonia's own ops (reshape, matrix product
// with the weight bound as a lazily transposed view, broadcast bias add,
// rectify). Convolution, max pooling and adaptive average pooling are
// gorgonia ops of this package: gorgonia's Conv2d materialises the im2col
// matrix of the whole batch (925 MB for VGG-16's conv2 at batch 8) and its
// MaxPool2D is single-threaded and builds a training mask, so convolution
// here is im2col packing straight into the panels of a blocked SGEMM whose
// micro-kernel is Go assembly (AVX-512 or AVX2/FMA, chosen at run time;
// portable Go elsewhere), writing NCHW output with bias and ReLU fused.
//
// Parameters use torchvision's state-dict names and shapes, so a checkpoint
// of torchvision.models.vgg16 (or one trained from it, DataParallel prefix
// removed) loads as is. Channel widths and the number of classes are read
// from the weights: Spec gives the standard shapes, New accepts any widths
// that are consistent with the architecture's topology. Inference mode
// throughout: Dropout is the identity, BatchNorm uses its running
// statistics (folded into the convolution).
//
// Activations are exposed at "taps": the post-ReLU output of every
// convolution (conv1…convN), of fc6 and fc7, and the logits (a ResNet's:
// see ResNet; its residual blocks are ops of this package too, on the same
// convolution engine, with the residual add fused into the GEMM). Forward streams
// the requested taps of a batch to a callback and stops after the last one;
// ForwardFrom continues from a tap (to lesion a channel and recompute only
// what follows); Lesioner makes per-channel lesions of the last convolution
// cheap by working on fc6's input directly.
//
// Results agree with PyTorch 1.13 to ~1e-6 relative at every tap
// (testdata/net/gen.py and gen_resnet.py make the reference fixtures), and
// dlib_resnet29's with tfjs-core 4.22's cpu backend to ~1e-6
// (testdata/faceapi/gen.mjs).
//
// Training (train.go, trainops.go): Scaled gives narrower variants of an
// architecture, RandomInitArch initialises them, and a Trainer computes the
// mean cross-entropy of a batch and its gradient with respect to every
// parameter on a gorgonia graph whose ops (the same convolution, pooling
// and linear kernels as inference) carry their own derivatives; SGD is
// torch.optim.SGD's update. Gradients are bit-identical whatever
// GOMAXPROCS and agree with PyTorch's autograd (testdata/train/gen.py).
package net

import (
	"fmt"
	"slices"
	"strconv"
)

// Tensor is a dense float32 tensor in row-major (C) order, as a checkpoint
// loader produces it (the same layout as checkpoint.Tensor, so one converts
// to the other with a type conversion).
type Tensor struct {
	Shape []int
	Data  []float32
}

// Conv describes one convolution layer, its optional BatchNorm and the max
// pooling that follows its ReLU.
type Conv struct {
	// Tap is the layer's tap name ("conv1", …).
	Tap string
	// Prefix is the state-dict prefix of the convolution ("features.0").
	Prefix string
	// BN is the state-dict prefix of the BatchNorm2d that follows it
	// ("features.1"), or "" without batch normalisation.
	BN string
	// In and Out are the input and output channels (torchvision's widths
	// in a Spec; the loaded widths in a Net).
	In, Out int
	// Kernel, Stride and Pad describe the square convolution.
	Kernel, Stride, Pad int
	// Pool and PoolStride describe the max pooling after the ReLU (Pool = 0:
	// none). Pooling is PyTorch's default: no padding, floor mode.
	Pool, PoolStride int
	// NoBias marks a convolution without a bias (a ResNet's: bias=False,
	// its BatchNorm supplies the shift).
	NoBias bool
	// Scale is the prefix of a per-channel scale layer after the
	// convolution (dlib's affine, y = x·weight + bias: a folded batch
	// norm), or "" for none.
	Scale string
}

// Linear describes one fully connected layer of the classifier.
type Linear struct {
	// Tap is "fc6", "fc7" or "logits" (fc8).
	Tap string
	// Prefix is the state-dict prefix ("classifier.0").
	Prefix string
	// In and Out are the input and output features; fc8's Out is the
	// number of classes (0 in a Spec: it is chosen by Params' argument).
	In, Out int
	// NoBias marks a layer without a bias (dlib's fc_no_bias).
	NoBias bool
}

// Param is one named entry of a state dict and its shape.
type Param struct {
	Name  string
	Shape []int
}

// Arch is an architecture: for VGG and AlexNet its convolutions, the
// adaptive average pooling that feeds the classifier, and the three linear
// layers; for a ResNet the residual description Res (Convs, AvgPool and FC
// are then empty).
type Arch struct {
	// Name is the torchvision model name ("vgg16", "vgg16_bn", "alexnet").
	Name string
	// Convs are conv1…convN in order.
	Convs []Conv
	// AvgPool is the side of AdaptiveAvgPool2d's output (7 for VGG, 6 for
	// AlexNet).
	AvgPool int
	// FC are fc6, fc7 and fc8.
	FC [3]Linear
	// Res is the residual network (resnet18, resnet34, resnet50), nil for
	// the plain feed-forward ones.
	Res *ResNet
}

// Archs lists the architecture names Spec knows.
func Archs() []string {
	return []string{"alexnet", "dlib_resnet29", "resnet18", "resnet34", "resnet50", "vgg16", "vgg16_bn"}
}

// vgg16Cfg is torchvision's configuration "D" (0 = max pooling).
var vgg16Cfg = []int{64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0}

// Spec returns the architecture with torchvision's standard widths. The
// returned value is a fresh copy the caller may modify.
func Spec(arch string) (*Arch, error) {
	switch arch {
	case "vgg16":
		return vggSpec(arch, false), nil
	case "vgg16_bn":
		return vggSpec(arch, true), nil
	case "alexnet":
		return alexnetSpec(), nil
	case "resnet18":
		return resnetSpec(arch, false, [4]int{2, 2, 2, 2}), nil
	case "resnet34":
		return resnetSpec(arch, false, [4]int{3, 4, 6, 3}), nil
	case "resnet50":
		return resnetSpec(arch, true, [4]int{3, 4, 6, 3}), nil
	case "dlib_resnet29":
		return dlibSpec(), nil
	}
	return nil, fmt.Errorf("net: unknown architecture %q (known: %v)", arch, Archs())
}

// vggSpec follows torchvision's make_layers: each number of the
// configuration adds Conv2d(3×3, pad 1)[, BatchNorm2d], ReLU, each 0 a
// MaxPool2d(2, 2), numbering the modules of `features` consecutively.
func vggSpec(name string, bn bool) *Arch {
	a := &Arch{Name: name, AvgPool: 7}
	idx, in := 0, 3
	for _, v := range vgg16Cfg {
		if v == 0 {
			a.Convs[len(a.Convs)-1].Pool, a.Convs[len(a.Convs)-1].PoolStride = 2, 2
			idx++
			continue
		}
		c := Conv{
			Tap:    "conv" + strconv.Itoa(len(a.Convs)+1),
			Prefix: "features." + strconv.Itoa(idx),
			In:     in, Out: v, Kernel: 3, Stride: 1, Pad: 1,
		}
		idx++
		if bn {
			c.BN = "features." + strconv.Itoa(idx)
			idx++
		}
		idx++ // ReLU
		a.Convs = append(a.Convs, c)
		in = v
	}
	// classifier: Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear.
	a.FC = [3]Linear{
		{Tap: "fc6", Prefix: "classifier.0", In: 512 * 7 * 7, Out: 4096},
		{Tap: "fc7", Prefix: "classifier.3", In: 4096, Out: 4096},
		{Tap: "logits", Prefix: "classifier.6", In: 4096},
	}
	return a
}

// alexnetSpec is torchvision's AlexNet (the single-GPU variant of "One weird
// trick", 64-192-384-256-256 channels).
func alexnetSpec() *Arch {
	return &Arch{
		Name: "alexnet",
		Convs: []Conv{
			{Tap: "conv1", Prefix: "features.0", In: 3, Out: 64, Kernel: 11, Stride: 4, Pad: 2, Pool: 3, PoolStride: 2},
			{Tap: "conv2", Prefix: "features.3", In: 64, Out: 192, Kernel: 5, Stride: 1, Pad: 2, Pool: 3, PoolStride: 2},
			{Tap: "conv3", Prefix: "features.6", In: 192, Out: 384, Kernel: 3, Stride: 1, Pad: 1},
			{Tap: "conv4", Prefix: "features.8", In: 384, Out: 256, Kernel: 3, Stride: 1, Pad: 1},
			{Tap: "conv5", Prefix: "features.10", In: 256, Out: 256, Kernel: 3, Stride: 1, Pad: 1, Pool: 3, PoolStride: 2},
		},
		AvgPool: 6,
		// classifier: Dropout, Linear, ReLU, Dropout, Linear, ReLU, Linear.
		FC: [3]Linear{
			{Tap: "fc6", Prefix: "classifier.1", In: 256 * 6 * 6, Out: 4096},
			{Tap: "fc7", Prefix: "classifier.4", In: 4096, Out: 4096},
			{Tap: "logits", Prefix: "classifier.6", In: 4096},
		},
	}
}

// Scaled returns arch with every convolution's channel count divided by
// width (VGG-16 ÷ 8: 8, 8, 16, 16, 32, 32, 32, 64, 64, 64, 64, 64, 64),
// fc6 and fc7 of hidden features and fc8 of classes outputs; fc6's input is
// lastWidth·AvgPool², as torchvision's layout, and the state-dict names
// are the standard ones. Every channel count must be a multiple of width.
func Scaled(arch string, width, hidden, classes int) (*Arch, error) {
	a, err := Spec(arch)
	if err != nil {
		return nil, err
	}
	if a.Res != nil {
		return nil, fmt.Errorf("net: Scaled: %s is a residual network; only %s scale", arch, "alexnet, vgg16 and vgg16_bn")
	}
	if width < 1 || hidden < 1 || classes < 1 {
		return nil, fmt.Errorf("net: Scaled(%s): width %d, hidden %d and classes %d must all be ≥ 1", arch, width, hidden, classes)
	}
	in := 3
	for i := range a.Convs {
		c := &a.Convs[i]
		if c.Out%width != 0 {
			return nil, fmt.Errorf("net: Scaled(%s): %s has %d channels, not a multiple of width %d", arch, c.Tap, c.Out, width)
		}
		c.In, c.Out = in, c.Out/width
		in = c.Out
	}
	a.FC[0].In, a.FC[0].Out = in*a.AvgPool*a.AvgPool, hidden
	a.FC[1].In, a.FC[1].Out = hidden, hidden
	a.FC[2].In, a.FC[2].Out = hidden, classes
	return a, nil
}

func (a *Arch) clone() *Arch {
	b := *a
	b.Convs = slices.Clone(a.Convs)
	if a.Res != nil {
		b.Res = a.Res.clone()
	}
	return &b
}

// Head is the last linear layer, whose outputs are the classes (fc8, or a
// ResNet's fc).
func (a *Arch) Head() *Linear {
	if a.Res != nil {
		return &a.Res.FC
	}
	return &a.FC[2]
}

// bnSuffixes are the floating-point entries of a BatchNorm2d in a state dict
// (its integer num_batches_tracked buffer carries no weights and is not a
// parameter here).
var bnSuffixes = []string{"weight", "bias", "running_mean", "running_var"}

// Params lists every floating-point state-dict entry of the architecture,
// in state-dict order, for a classifier with the given number of classes.
func (a *Arch) Params(classes int) []Param {
	if a.Res != nil {
		return a.Res.params(classes)
	}
	var ps []Param
	for _, c := range a.Convs {
		ps = c.params(ps)
	}
	for i, l := range a.FC {
		out := l.Out
		if i == 2 {
			out = classes
		}
		ps = append(ps,
			Param{l.Prefix + ".weight", []int{out, l.In}},
			Param{l.Prefix + ".bias", []int{out}})
	}
	return ps
}

// params appends the convolution's state-dict entries (weight, bias, BN).
func (c Conv) params(ps []Param) []Param {
	ps = append(ps, Param{c.Prefix + ".weight", []int{c.Out, c.In, c.Kernel, c.Kernel}})
	if !c.NoBias {
		ps = append(ps, Param{c.Prefix + ".bias", []int{c.Out}})
	}
	if c.BN != "" {
		for _, s := range bnSuffixes {
			ps = append(ps, Param{c.BN + "." + s, []int{c.Out}})
		}
	}
	if c.Scale != "" {
		ps = append(ps, Param{c.Scale + ".weight", []int{c.Out}}, Param{c.Scale + ".bias", []int{c.Out}})
	}
	return ps
}

// Shapes is Params as a map from name to shape (the form
// checkpoint.StateDict.Check takes).
func (a *Arch) Shapes(classes int) map[string][]int {
	m := make(map[string][]int)
	for _, p := range a.Params(classes) {
		m[p.Name] = p.Shape
	}
	return m
}

// Taps lists the tap names in network order: conv1…convN, fc6, fc7, logits
// (a ResNet: conv1, each block and stage, avgpool, logits; see ResNet).
func (a *Arch) Taps() []string {
	if a.Res != nil {
		return a.Res.taps()
	}
	var t []string
	for _, c := range a.Convs {
		t = append(t, c.Tap)
	}
	for _, l := range a.FC {
		t = append(t, l.Tap)
	}
	return t
}

// tapIndex returns the position of tap in Taps, or -1.
func (a *Arch) tapIndex(tap string) int {
	return slices.Index(a.Taps(), tap)
}
