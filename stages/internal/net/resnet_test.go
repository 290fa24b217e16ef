package net

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

var resnets = []string{"resnet18", "resnet34", "resnet50"}

// TestResNetForwardFrom continues each ResNet fixture from every tap's
// PyTorch activations and compares every later tap with PyTorch's: each
// tap carries the whole state, so lesions of any block or stage go through
// ForwardFrom. The Lesioner (VGG's fast path) refuses ResNets.
func TestResNetForwardFrom(t *testing.T) {
	ctx := context.Background()
	for _, arch := range resnets {
		f := readFixture(t, arch)
		nt, err := New(arch, f.params())
		if err != nil {
			t.Fatal(err)
		}
		taps := nt.Taps()
		for i, from := range taps[:len(taps)-1] {
			ref := f.tensors["tap/"+from]
			s := append(slices.Clone(ref.Shape), 1, 1)
			got := map[string][]float32{}
			if err := nt.ForwardFrom(ctx, from, ref.Data, s[0], s[1], s[2], s[3], taps[i+1:], collect(got)); err != nil {
				t.Fatalf("%s from %s: %v", arch, from, err)
			}
			for _, tap := range taps[i+1:] {
				if e := relErr(got[tap], f.tensors["tap/"+tap].Data); !(e <= parityTol) {
					t.Errorf("%s from %s: %s relative error %.3g", arch, from, tap, e)
				}
			}
		}
		one := map[string][]float32{}
		if err := nt.Forward(ctx, []float32{0.5, -1, 2}, 1, 1, 1, []string{"layer4", "logits"}, collect(one)); err != nil || len(one["logits"]) != 10 {
			t.Errorf("%s: a 1×1 input: %v", arch, err)
		}
		l4 := f.tensors["tap/layer4"]
		s := l4.Shape
		if _, err := nt.NewLesioner(ctx, l4.Data, s[0], s[1], s[2], s[3]); err == nil || !strings.Contains(err.Error(), "residual network") {
			t.Errorf("%s: NewLesioner: %v", arch, err)
		}
		if err := nt.ForwardFrom(ctx, "layer2", l4.Data, s[0], s[1], s[2], s[3], []string{"logits"}, collect(map[string][]float32{})); err == nil {
			t.Errorf("%s: ForwardFrom(layer2) with layer4's channels: no error", arch)
		}
		if err := nt.ForwardFrom(ctx, "avgpool", l4.Data, s[0], s[1], s[2], s[3], []string{"logits"}, collect(map[string][]float32{})); err == nil {
			t.Errorf("%s: ForwardFrom(avgpool) with a 4-D map: no error", arch)
		}
	}
}

// TestResNetParamsErrors checks that New reports a ResNet's missing,
// unexpected and inconsistent parameters together.
func TestResNetParamsErrors(t *testing.T) {
	f := readFixture(t, "resnet18")
	p := maps.Clone(f.params())
	delete(p, "layer2.0.downsample.0.weight")
	p["layer1.0.conv2.bias"] = Tensor{Shape: []int{4}, Data: make([]float32, 4)}
	// layer1.1 widened to 6 channels: its identity shortcut no longer fits.
	p["layer1.1.conv2.weight"] = Tensor{Shape: []int{6, 4, 3, 3}, Data: make([]float32, 6*4*9)}
	_, err := New("resnet18", p)
	pe, ok := err.(*ParamsError)
	if !ok {
		t.Fatalf("New: %v, want a *ParamsError", err)
	}
	for _, want := range []string{
		`missing parameter "layer2.0.downsample.0.weight"`,
		`unexpected parameter "layer1.0.conv2.bias"`,
		"layer1.1: identity shortcut of 4 channels, its last convolution has 6",
		`parameter "layer1.1.bn2.weight" has shape [4], want [6]`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if len(pe.Problems) < 4 {
		t.Errorf("%d problems:\n%v", len(pe.Problems), err)
	}
	if _, err := New("resnet34", f.params()); err == nil {
		t.Error("resnet18 weights as resnet34: no error")
	}
	if _, err := Scaled("resnet50", 8, 32, 10); err == nil {
		t.Error("Scaled(resnet50): no error")
	}
	if _, err := FanInInit(must(Spec("resnet18")), 1); err == nil {
		t.Error("FanInInit(resnet18): no error")
	}
}

func must(a *Arch, err error) *Arch {
	if err != nil {
		panic(err)
	}
	return a
}

// TestLayers checks Layers' shapes against every fixture's PyTorch tap
// shapes (with the fixture's widths), against torchvision's full-size
// shapes at 224 px, and its modules.
func TestLayers(t *testing.T) {
	for _, arch := range torchvisionArchs() {
		f := readFixture(t, arch)
		nt, err := New(arch, f.params())
		if err != nil {
			t.Fatal(err)
		}
		ls, err := nt.Arch().Layers(f.int("height"), f.int("width"))
		if err != nil {
			t.Fatal(err)
		}
		if len(ls) != len(nt.Taps()) {
			t.Fatalf("%s: %d layers for %d taps", arch, len(ls), len(nt.Taps()))
		}
		for i, l := range ls {
			want := f.tensors["tap/"+l.Tap].Shape[1:]
			if l.Tap != nt.Taps()[i] || fmt.Sprint(l.Shape) != fmt.Sprint(want) {
				t.Errorf("%s: layer %d = %s %v, PyTorch %s %v", arch, i, l.Tap, l.Shape, nt.Taps()[i], want)
			}
		}
	}
	want := map[string][]string{
		"resnet50": {"conv1 relu [64 112 112]", "layer1.0 layer1.0 [256 56 56]", "layer1 layer1 [256 56 56]",
			"layer2.3 layer2.3 [512 28 28]", "layer3 layer3 [1024 14 14]", "layer4.2 layer4.2 [2048 7 7]",
			"avgpool avgpool [2048]", "logits fc [1000]"},
		"resnet18": {"layer4 layer4 [512 7 7]", "avgpool avgpool [512]"},
		"vgg16":    {"conv1 features.1 [64 224 224]", "conv13 features.29 [512 14 14]", "fc6 classifier.1 [4096]", "logits classifier.6 [1000]"},
		"vgg16_bn": {"conv13 features.42 [512 14 14]", "fc7 classifier.4 [4096]"},
		"alexnet":  {"conv1 features.1 [64 55 55]", "conv5 features.11 [256 13 13]", "fc6 classifier.2 [4096]"},
	}
	for arch, entries := range want {
		a := must(Spec(arch))
		a.Head().Out = 1000
		ls, err := a.Layers(224, 224)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range ls {
			got = append(got, fmt.Sprint(l.Tap, " ", l.Module, " ", l.Shape))
		}
		for _, e := range entries {
			if !slices.Contains(got, e) {
				t.Errorf("%s: no layer %q in %v", arch, e, got)
			}
		}
	}
	if _, err := must(Spec("vgg16")).Layers(16, 64); err == nil || !strings.Contains(err.Error(), "a 16×64 input is too small for vgg16: the max pooling after conv13") {
		t.Errorf("vgg16 at 16 px: %v", err)
	}
	if _, err := must(Spec("resnet18")).Layers(0, 5); err == nil {
		t.Error("0×5: no error")
	}
}
