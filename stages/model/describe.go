package model

import "selectivity/stages/internal/net"

// Archs lists the architectures the arch parameter takes.
func Archs() []string { return net.Archs() }

// ConvKernel names the convolution kernel this machine runs (for run
// records).
func ConvKernel() string { return net.Kernel() }

// Tap is one layer an extract or lesion stage can name.
type Tap struct {
	Name   string // the tap, e.g. conv13
	Module string // the torchvision module it is the output of
	Shape  []int  // its output shape for one image
}

// Describe lists arch's taps at a size×size input. classes ≤ 0 keeps the
// architecture's own head width (dlib_resnet29: its 128-value embedding;
// otherwise 1000); it returns the head width used.
func Describe(arch string, size, classes int) (taps []Tap, outputs int, err error) {
	spec, err := net.Spec(arch)
	if err != nil {
		return nil, 0, err
	}
	switch {
	case classes > 0:
		spec.Head().Out = classes
	case spec.Head().Out <= 0:
		spec.Head().Out = 1000
	}
	ls, err := spec.Layers(size, size)
	if err != nil {
		return nil, 0, err
	}
	taps = make([]Tap, len(ls))
	for i, l := range ls {
		taps[i] = Tap{Name: l.Tap, Module: l.Module, Shape: l.Shape}
	}
	return taps, spec.Head().Out, nil
}
