package net

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// TestRandomInitFollowsTorchvision checks every parameter's empirical
// distribution against torchvision's scheme and the determinism of seeds.
func TestRandomInitFollowsTorchvision(t *testing.T) {
	if testing.Short() {
		t.Skip("draws 400M values")
	}
	for _, arch := range torchvisionArchs() {
		const classes = 2137
		p, err := RandomInit(arch, classes, 7)
		if err != nil {
			t.Fatal(err)
		}
		spec, _ := Spec(arch)
		if err := checkShapes(p, spec.Shapes(classes)); err != nil {
			t.Fatalf("%s: %v", arch, err)
		}
		if _, err := New(arch, p); err != nil {
			t.Fatalf("%s: New(RandomInit): %v", arch, err)
		}
		for _, prm := range spec.Params(classes) {
			d := p[prm.Name].Data
			var want, kurt float64 // std and kurtosis of the distribution
			switch {
			case strings.HasSuffix(prm.Name, "running_var"), isBN(spec, prm.Name) && strings.HasSuffix(prm.Name, ".weight"):
				checkConst(t, prm.Name, d, 1)
				continue
			case arch == "alexnet" || (spec.Res != nil && strings.HasPrefix(prm.Name, "fc.")):
				fanIn := 1
				for _, s := range prm.Shape[1:] {
					fanIn *= s
				}
				if len(prm.Shape) == 1 { // bias: the bound of its layer's weight
					fanIn = p[strings.TrimSuffix(prm.Name, "bias")+"weight"].Shape[1]
					for _, s := range p[strings.TrimSuffix(prm.Name, "bias")+"weight"].Shape[2:] {
						fanIn *= s
					}
				}
				bound := 1 / math.Sqrt(float64(fanIn))
				for _, v := range d {
					if math.Abs(float64(v)) > bound {
						t.Fatalf("%s %s: %g outside ±%g", arch, prm.Name, v, bound)
					}
				}
				want, kurt = bound/math.Sqrt(3), 1.8
			case len(prm.Shape) == 1:
				checkConst(t, prm.Name, d, 0)
				continue
			case len(prm.Shape) == 4:
				want, kurt = math.Sqrt(2/float64(prm.Shape[0]*prm.Shape[2]*prm.Shape[3])), 3
			default:
				want, kurt = 0.01, 3
			}
			mean, std := meanStd(d)
			n := float64(len(d))
			// 5 standard errors of the sample std and mean.
			if tol := 5 * math.Sqrt((kurt-1)/(4*n)); math.Abs(std/want-1) > tol {
				t.Errorf("%s %s: std %.5g, want %.5g (±%.2g relative)", arch, prm.Name, std, want, tol)
			}
			if math.Abs(mean) > 5*want/math.Sqrt(n) {
				t.Errorf("%s %s: mean %.3g, want 0", arch, prm.Name, mean)
			}
		}
	}
	a, _ := RandomInit("alexnet", 10, 3)
	b, _ := RandomInit("alexnet", 10, 3)
	c, _ := RandomInit("alexnet", 10, 4)
	if !slices.Equal(a["features.3.weight"].Data, b["features.3.weight"].Data) {
		t.Error("same seed, different weights")
	}
	if slices.Equal(a["features.3.weight"].Data, c["features.3.weight"].Data) {
		t.Error("different seeds, same weights")
	}
	if _, err := RandomInit("vgg16", 0, 1); err == nil {
		t.Error("0 classes: no error")
	}
	if _, err := RandomInit("vgg19", 10, 1); err == nil {
		t.Error("unknown arch: no error")
	}
}

func isBN(a *Arch, name string) bool {
	convs := a.Convs
	if r := a.Res; r != nil {
		convs = append(convs, r.Stem)
		for _, b := range r.Blocks {
			convs = append(convs, b.Convs...)
			if b.Down != nil {
				convs = append(convs, *b.Down)
			}
		}
	}
	for _, c := range convs {
		if c.BN != "" && strings.HasPrefix(name, c.BN+".") {
			return true
		}
	}
	return false
}

func checkConst(t *testing.T, name string, d []float32, v float32) {
	t.Helper()
	for _, x := range d {
		if x != v {
			t.Errorf("%s: %g, want all %g", name, x, v)
			return
		}
	}
}

func meanStd(d []float32) (mean, std float64) {
	for _, v := range d {
		mean += float64(v)
	}
	mean /= float64(len(d))
	for _, v := range d {
		std += (float64(v) - mean) * (float64(v) - mean)
	}
	return mean, math.Sqrt(std / float64(len(d)))
}

func checkShapes(p map[string]Tensor, want map[string][]int) error {
	if len(p) != len(want) {
		return &ParamsError{Problems: []string{"count differs"}}
	}
	for name, s := range want {
		if !slices.Equal(p[name].Shape, s) || len(p[name].Data) == 0 {
			return &ParamsError{Problems: []string{name}}
		}
	}
	return nil
}

// TestFanInInit checks He et al.'s fan-in standard deviations on a scaled
// VGG-16 and that it draws RandomInitArch's stream, only rescaled.
func TestFanInInit(t *testing.T) {
	a, err := Scaled("vgg16", 4, 512, 300)
	if err != nil {
		t.Fatal(err)
	}
	p, err := FanInInit(a, 3)
	if err != nil {
		t.Fatal(err)
	}
	tv, err := RandomInitArch(a, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New("vgg16", p); err != nil {
		t.Fatal(err)
	}
	check := func(name string, want float64) {
		t.Helper()
		d := p[name].Data
		mean, std := meanStd(d)
		n := float64(len(d))
		if tol := 5 * math.Sqrt(2/(4*n)); math.Abs(std/want-1) > tol {
			t.Errorf("%s: std %.5g, want %.5g (±%.2g relative)", name, std, want, tol)
		}
		if math.Abs(mean) > 5*want/math.Sqrt(n) {
			t.Errorf("%s: mean %.3g, want 0", name, mean)
		}
		// The same draws as torchvision's scheme, up to float32 rounding.
		ratio := float64(d[0]) / float64(tv[name].Data[0])
		for i, v := range d {
			if w := float64(tv[name].Data[i]) * ratio; math.Abs(float64(v)-w) > 1e-6*math.Abs(w)+1e-12 {
				t.Fatalf("%s[%d] = %g, want %g: not the same stream", name, i, v, w)
			}
		}
	}
	for _, c := range a.Convs {
		check(c.Prefix+".weight", math.Sqrt(2/float64(c.In*c.Kernel*c.Kernel)))
		checkConst(t, c.Prefix+".bias", p[c.Prefix+".bias"].Data, 0)
	}
	check(a.FC[0].Prefix+".weight", math.Sqrt(2/float64(a.FC[0].In)))
	check(a.FC[1].Prefix+".weight", math.Sqrt(2/float64(a.FC[1].In)))
	check(a.FC[2].Prefix+".weight", math.Sqrt(1/float64(a.FC[2].In)))
	if _, err := FanInInit(alexnetSpec(), 1); err == nil {
		t.Error("FanInInit accepted AlexNet")
	}
}
