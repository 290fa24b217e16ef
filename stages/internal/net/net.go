package net

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"gorgonia.org/tensor"
)

// bnEps is BatchNorm2d's default epsilon, which torchvision's vgg16_bn uses.
const bnEps = 1e-5

// Net is a network ready for inference. It is immutable after New and safe
// for concurrent use: every call builds its own graph.
type Net struct {
	arch  *Arch // with the loaded widths; FC[2].Out is the number of classes
	convs []*convLayer
	fc    [3]*fcLayer
	res   *resLayers // a ResNet's layers (convs and fc are then empty)
	mem   arena      // recycled activation buffers (see arena)
}

// fcLayer is a linear layer; its weight (out×in, torch layout) is the
// caller's data, shared and never copied (fc6 of VGG-16 is 400 MB).
type fcLayer struct {
	Linear
	w, b []float32
}

// ParamsError lists every problem New found in a parameter set.
type ParamsError struct {
	Arch     string
	Problems []string
}

func (e *ParamsError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "net: parameters do not fit %s (%d problems):", e.Arch, len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n\t* ")
		b.WriteString(p)
	}
	return b.String()
}

// New checks params (torchvision state-dict names, any DataParallel
// "module." prefix already removed) against the architecture and builds the
// network. Channel widths, hidden sizes and the number of classes are read
// from the weights; they must be consistent with each other and with the
// topology (kernel sizes, layer count, the classifier's input being
// lastConvWidth×AvgPool²; a ResNet's shortcuts having their block's width). All problems — missing, unexpected and
// mis-shaped parameters — are reported together in one *ParamsError.
//
// Convolution weights are repacked (BatchNorm folded in: eval mode, ε =
// 1e-5); the linear layers keep referring to params' Data, which must not be
// modified while the Net is in use.
func New(arch string, params map[string]Tensor) (_ *Net, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = panicError(r)
		}
	}()
	spec, err := Spec(arch)
	if err != nil {
		return nil, err
	}
	pe := &ParamsError{Arch: arch}
	problem := func(format string, args ...any) { pe.Problems = append(pe.Problems, fmt.Sprintf(format, args...)) }

	want := map[string]bool{}
	for _, p := range spec.Params(0) {
		want[p.Name] = true
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if _, ok := params[name]; !ok {
			problem("missing parameter %q", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(params)) {
		t := params[name]
		if !want[name] {
			problem("unexpected parameter %q (shape %v)", name, t.Shape)
			continue
		}
		if n, ok := Numel(t.Shape); !ok || n != len(t.Data) {
			problem("parameter %q has %d values for shape %v", name, len(t.Data), t.Shape)
		}
	}
	// check verifies a parameter's shape (wildcard -1 matches any size ≥ 1)
	// and returns it, or nil if it is absent or mis-shaped.
	check := func(name string, shape ...int) []int {
		t, ok := params[name]
		if !ok {
			return nil
		}
		good := len(t.Shape) == len(shape)
		for i := 0; good && i < len(shape); i++ {
			good = t.Shape[i] >= 1 && (shape[i] < 0 || t.Shape[i] == shape[i])
		}
		if !good {
			problem("parameter %q has shape %v, want %s", name, t.Shape, fmtShape(shape))
			return nil
		}
		return t.Shape
	}

	a := spec.clone()
	if a.Res != nil {
		resnetWidths(a.Res, params, check, problem)
		if len(pe.Problems) > 0 {
			return nil, pe
		}
		return &Net{arch: a, res: newResLayers(a.Res, params)}, nil
	}
	in := 3
	for i := range a.Convs {
		c := &a.Convs[i]
		c.In, c.Out = in, -1
		if s := check(c.Prefix+".weight", -1, in, c.Kernel, c.Kernel); s != nil {
			c.Out = s[0]
		} else if t, ok := params[c.Prefix+".weight"]; ok && len(t.Shape) > 0 && t.Shape[0] >= 1 {
			c.Out = t.Shape[0] // mis-shaped, but keep checking what follows
		}
		check(c.Prefix+".bias", c.Out)
		if c.BN != "" {
			for _, s := range bnSuffixes {
				check(c.BN+"."+s, c.Out)
			}
		}
		in = c.Out
	}
	feat := -1
	if in > 0 {
		feat = in * a.AvgPool * a.AvgPool
	}
	for i := range a.FC {
		l := &a.FC[i]
		l.In, l.Out = feat, -1
		if s := check(l.Prefix+".weight", -1, feat); s != nil {
			l.Out = s[0]
		} else if t, ok := params[l.Prefix+".weight"]; ok && len(t.Shape) == 2 && t.Shape[0] >= 1 {
			l.Out = t.Shape[0]
		}
		check(l.Prefix+".bias", l.Out)
		feat = l.Out
	}
	if len(pe.Problems) > 0 {
		return nil, pe
	}

	n := &Net{arch: a}
	for _, c := range a.Convs {
		n.convs = append(n.convs, newConvLayer(c, params))
	}
	for i, l := range a.FC {
		n.fc[i] = &fcLayer{Linear: l, w: params[l.Prefix+".weight"].Data, b: params[l.Prefix+".bias"].Data}
	}
	return n, nil
}

// newConvLayer packs a convolution's weights, folding an eval-mode
// BatchNorm into them: BN(conv(x)) = conv(x)·s + (β − μ·s) with
// s = γ/√(σ²+ε), computed in float64; likewise a scale layer:
// (conv(x) + b)·s + t.
func newConvLayer(c Conv, params map[string]Tensor) *convLayer {
	w := params[c.Prefix+".weight"].Data
	b := params[c.Prefix+".bias"].Data // nil without a bias: 0
	if c.BN != "" {
		k := c.In * c.Kernel * c.Kernel
		gamma, beta := params[c.BN+".weight"].Data, params[c.BN+".bias"].Data
		mean, vr := params[c.BN+".running_mean"].Data, params[c.BN+".running_var"].Data
		fw := make([]float32, len(w))
		fb := make([]float32, c.Out)
		for o := 0; o < c.Out; o++ {
			s := float64(gamma[o]) / math.Sqrt(float64(vr[o])+bnEps)
			for j := o * k; j < (o+1)*k; j++ {
				fw[j] = float32(float64(w[j]) * s)
			}
			bias := 0.0
			if b != nil {
				bias = float64(b[o])
			}
			fb[o] = float32((bias-float64(mean[o]))*s + float64(beta[o]))
		}
		w, b = fw, fb
	}
	if c.Scale != "" { // (conv(x) + b)·s + t
		sw, sb := params[c.Scale+".weight"].Data, params[c.Scale+".bias"].Data
		k := c.In * c.Kernel * c.Kernel
		fw := make([]float32, len(w))
		fb := make([]float32, c.Out)
		for o := 0; o < c.Out; o++ {
			s := float64(sw[o])
			for j := o * k; j < (o+1)*k; j++ {
				fw[j] = float32(float64(w[j]) * s)
			}
			bias := 0.0
			if b != nil {
				bias = float64(b[o])
			}
			fb[o] = float32(bias*s + float64(sb[o]))
		}
		w, b = fw, fb
	}
	return &convLayer{Conv: c, a: newPackedA(w, c.Out, c.In*c.Kernel*c.Kernel, b)}
}

// Arch returns the network's architecture with the loaded widths (fc8's Out
// is the number of classes). The result is a copy.
func (n *Net) Arch() *Arch { return n.arch.clone() }

// Classes is the number of outputs (fc8's or fc's rows).
func (n *Net) Classes() int { return n.arch.Head().Out }

// Taps lists the network's tap names in order.
func (n *Net) Taps() []string { return n.arch.Taps() }

// Numel is the number of values a tensor of shape holds, the product of
// its dimensions; false on a negative dimension or overflow.
func Numel(shape []int) (int, bool) {
	n := 1
	for _, d := range shape {
		if d < 0 || (d > 0 && n > math.MaxInt/d) {
			return 0, false
		}
		n *= d
	}
	return n, true
}

func fmtShape(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		if d < 0 {
			parts[i] = "any"
		} else {
			parts[i] = fmt.Sprint(d)
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// dense wraps data as a gorgonia tensor without copying.
func dense(data []float32, shape ...int) *tensor.Dense {
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))
}
