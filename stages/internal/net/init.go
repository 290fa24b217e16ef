package net

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// RandomInit returns freshly initialised parameters of arch (standard
// widths, the given number of classes) following torchvision's
// initialisation scheme for that model:
//
//   - vgg16, vgg16_bn (VGG._initialize_weights): conv weights
//     kaiming_normal_(mode="fan_out", nonlinearity="relu"), i.e.
//     N(0, √(2/fan_out)) with fan_out = out·kh·kw; conv biases 0; linear
//     weights N(0, 0.01), biases 0; BatchNorm weight 1, bias 0, running
//     mean 0, running variance 1.
//   - alexnet, which torchvision leaves to PyTorch's layer defaults: every
//     weight kaiming_uniform_(a=√5), i.e. U(−b, b) with b = 1/√fan_in
//     (fan_in = in·kh·kw), and every bias U(−b, b) with the same bound.
//   - resnet18, resnet34, resnet50 (ResNet.__init__, zero_init_residual
//     False): conv weights kaiming_normal_(mode="fan_out",
//     nonlinearity="relu") as VGG's (no conv biases); BatchNorm weight 1,
//     bias 0, running mean 0, variance 1; fc PyTorch's Linear default, as
//     AlexNet's layers: weight and bias U(−b, b) with b = 1/√in.
//   - dlib_resnet29 (whose trainer, dlib, has its own scheme): the same as
//     the ResNets' — conv weights N(0, √(2/fan_out)), conv biases 0, scale
//     layers weight 1, bias 0 (BatchNorm's identity), fc (no bias) weight
//     U(−b, b), b = 1/√256 — so that the untrained twin differs from the
//     torchvision ResNets' only in topology.
//
// The values are drawn from math/rand/v2's PCG seeded with seed, parameter
// by parameter in state-dict order, so they are deterministic for a seed.
// They follow PyTorch's distributions, not its random stream: bit-identical
// weights to torch.manual_seed are not reproducible outside PyTorch.
// It returns an error for an unknown arch or classes < 1.
func RandomInit(arch string, classes int, seed uint64) (map[string]Tensor, error) {
	spec, err := Spec(arch)
	if err != nil {
		return nil, err
	}
	if classes < 1 {
		return nil, fmt.Errorf("net: RandomInit(%s): %d classes", arch, classes)
	}
	spec.Head().Out = classes
	return RandomInitArch(spec, seed)
}

// RandomInitArch is RandomInit for any architecture a (a Spec, Scaled or
// modified one; the Head's Out is the number of classes), with the same scheme,
// chosen by a.Name, and the same PCG stream: for a Spec with classes set,
// the values are RandomInit's.
func RandomInitArch(a *Arch, seed uint64) (map[string]Tensor, error) {
	return randomInit(a, seed, false)
}

// FanInInit is He et al.'s (2015) initialisation for ReLU networks with
// variance kept on the forward pass, for the VGG architectures: conv
// weights kaiming_normal_(mode="fan_in", nonlinearity="relu"), N(0,
// √(2/fan_in)) with fan_in = in·kh·kw; fc6 and fc7 weights N(0, √(2/in));
// fc8 (no ReLU after it) N(0, √(1/in)); biases 0; BatchNorm as
// RandomInit. It draws the same PCG stream as RandomInitArch, only the
// standard deviations differ.
//
// It exists for training from scratch: with torchvision's scheme the
// activations shrink at every widening convolution and the N(0, 0.01)
// linear layers, so a VGG-16 without BatchNorm sits on the class-prior
// plateau for many epochs (see the train kind).
func FanInInit(a *Arch, seed uint64) (map[string]Tensor, error) {
	if a != nil && (a.Name == "alexnet" || a.Res != nil) {
		return nil, fmt.Errorf("net: FanInInit: only for the VGG architectures, not %s", a.Name)
	}
	return randomInit(a, seed, true)
}

func randomInit(a *Arch, seed uint64, fanIn bool) (map[string]Tensor, error) {
	if a == nil {
		return nil, fmt.Errorf("net: RandomInitArch: nil architecture")
	}
	classes := a.Head().Out
	for _, p := range a.Params(classes) {
		if n, ok := Numel(p.Shape); !ok || n < 1 {
			return nil, fmt.Errorf("net: RandomInitArch(%s): parameter %q has shape %v", a.Name, p.Name, p.Shape)
		}
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed5e1ec7))
	params := make(map[string]Tensor)
	for _, p := range a.Params(classes) {
		n, _ := Numel(p.Shape)
		params[p.Name] = Tensor{Shape: p.Shape, Data: make([]float32, n)}
	}
	normal := func(d []float32, std float64) {
		for i := range d {
			d[i] = float32(rng.NormFloat64() * std)
		}
	}
	uniform := func(d []float32, bound float64) {
		for i := range d {
			d[i] = float32((2*rng.Float64() - 1) * bound)
		}
	}
	fill := func(d []float32, v float32) {
		for i := range d {
			d[i] = v
		}
	}
	if r := a.Res; r != nil {
		conv := func(c Conv) {
			normal(params[c.Prefix+".weight"].Data, math.Sqrt(2/float64(c.Out*c.Kernel*c.Kernel)))
			if c.BN != "" {
				fill(params[c.BN+".weight"].Data, 1)
				fill(params[c.BN+".running_var"].Data, 1)
			}
			if c.Scale != "" {
				fill(params[c.Scale+".weight"].Data, 1)
			}
		}
		conv(r.Stem)
		for _, b := range r.Blocks {
			for _, c := range b.Convs {
				conv(c)
			}
			if b.Down != nil {
				conv(*b.Down)
			}
		}
		bound := 1 / math.Sqrt(float64(r.FC.In))
		uniform(params[r.FC.Prefix+".weight"].Data, bound)
		uniform(params[r.FC.Prefix+".bias"].Data, bound)
		return params, nil
	}
	alex := a.Name == "alexnet"
	for _, c := range a.Convs {
		w, b := params[c.Prefix+".weight"].Data, params[c.Prefix+".bias"].Data
		if alex {
			bound := 1 / math.Sqrt(float64(c.In*c.Kernel*c.Kernel))
			uniform(w, bound)
			uniform(b, bound)
		} else {
			fan := c.Out
			if fanIn {
				fan = c.In
			}
			normal(w, math.Sqrt(2/float64(fan*c.Kernel*c.Kernel)))
		}
		if c.BN != "" {
			fill(params[c.BN+".weight"].Data, 1)
			fill(params[c.BN+".running_var"].Data, 1)
		}
	}
	for k, l := range a.FC {
		w, b := params[l.Prefix+".weight"].Data, params[l.Prefix+".bias"].Data
		switch {
		case alex:
			bound := 1 / math.Sqrt(float64(l.In))
			uniform(w, bound)
			uniform(b, bound)
		case fanIn && k < 2:
			normal(w, math.Sqrt(2/float64(l.In)))
		case fanIn:
			normal(w, math.Sqrt(1/float64(l.In)))
		default:
			normal(w, 0.01)
		}
	}
	return params, nil
}
