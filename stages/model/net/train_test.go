package net

import (
	"context"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// trainFixture reads testdata/train/<arch>.safetensors (gen.py).
func trainFixture(t *testing.T, arch string) (f *fixture, params map[string]Tensor, labels []int) {
	t.Helper()
	f = readFixtureFile(t, filepath.Join("..", "..", "..", "testdata", "train", arch+".safetensors"))
	params = map[string]Tensor{}
	for name, v := range f.tensors {
		if rest, ok := strings.CutPrefix(name, "param/"); ok {
			params[rest] = Tensor{Shape: v.Shape, Data: slices.Clone(v.Data)}
		}
	}
	for _, s := range strings.Split(f.meta["labels"], ",") {
		l, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("fixture labels %q: %v", f.meta["labels"], err)
		}
		labels = append(labels, l)
	}
	return f, params, labels
}

// TestTrainMatchesPyTorch checks the loss, every gradient and the
// parameters after two SGD steps (lr 0.01, momentum 0.9, weight decay 1e-4)
// against PyTorch's autograd and torch.optim.SGD.
func TestTrainMatchesPyTorch(t *testing.T) {
	for _, arch := range []string{"vgg16", "alexnet"} {
		t.Run(arch, func(t *testing.T) {
			f, params, labels := trainFixture(t, arch)
			meta := func(k string) float64 {
				v, err := strconv.ParseFloat(f.meta[k], 64)
				if err != nil {
					t.Fatalf("fixture metadata %q: %v", k, err)
				}
				return v
			}
			tr, err := NewTrainer(arch, params, f.int("batch"), f.int("height"), f.int("width"))
			if err != nil {
				t.Fatal(err)
			}
			opt := &SGD{Momentum: meta("momentum"), WeightDecay: meta("weight_decay")}
			wantLoss := f.tensors["loss"].Data
			var worstGrad, worstW float64
			for step := 0; step < 2; step++ {
				loss, _, err := tr.Step(context.Background(), f.tensors["input"].Data, labels)
				if err != nil {
					t.Fatal(err)
				}
				if e := math.Abs(loss-float64(wantLoss[step])) / float64(wantLoss[step]); e > 1e-6 {
					t.Errorf("step %d: loss %.8g, PyTorch %.8g (rel. error %.2g)", step+1, loss, wantLoss[step], e)
				}
				grads := tr.Grads()
				if len(grads) != len(params) {
					t.Fatalf("%d gradients for %d parameters", len(grads), len(params))
				}
				if step == 0 {
					for name := range params {
						want := f.tensors["grad/"+name].Data
						e := relErr(grads[name], want)
						worstGrad = max(worstGrad, e)
						if e > 1e-5 {
							t.Errorf("gradient of %s: rel. error %.2g", name, e)
						}
					}
				}
				if err := opt.Update(meta("lr"), params, grads); err != nil {
					t.Fatal(err)
				}
			}
			for name, p := range params {
				e := relErr(p.Data, f.tensors["step2/"+name].Data)
				worstW = max(worstW, e)
				if e > 1e-5 {
					t.Errorf("%s after two steps: rel. error %.2g", name, e)
				}
			}
			t.Logf("max rel. error: gradients %.2g, weights after two SGD steps %.2g", worstGrad, worstW)
		})
	}
}

// tinyTrainer is a VGG-16 ÷ 16 with a 32-32 classifier on 32 px images.
func tinyTrainer(t *testing.T, batch, classes int, seed uint64) (*Trainer, map[string]Tensor) {
	t.Helper()
	a, err := Scaled("vgg16", 16, 32, classes)
	if err != nil {
		t.Fatal(err)
	}
	params, err := RandomInitArch(a, seed)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer("vgg16", params, batch, 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	return tr, params
}

// TestTrainDeterministic runs the same Step with 1 and 2 workers and
// compares every gradient bit for bit.
func TestTrainDeterministic(t *testing.T) {
	f, params, labels := trainFixture(t, "vgg16")
	tr, err := NewTrainer("vgg16", params, f.int("batch"), f.int("height"), f.int("width"))
	if err != nil {
		t.Fatal(err)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	var runs [2]map[string][]float32
	var losses [2]float64
	for i, procs := range []int{1, 2} {
		runtime.GOMAXPROCS(procs)
		if losses[i], _, err = tr.Step(context.Background(), f.tensors["input"].Data, labels); err != nil {
			t.Fatal(err)
		}
		runs[i] = map[string][]float32{}
		for name, g := range tr.Grads() {
			runs[i][name] = slices.Clone(g)
		}
	}
	if math.Float64bits(losses[0]) != math.Float64bits(losses[1]) {
		t.Errorf("loss %v with 1 worker, %v with 2", losses[0], losses[1])
	}
	for name, g := range runs[0] {
		for j, v := range g {
			if math.Float32bits(v) != math.Float32bits(runs[1][name][j]) {
				t.Errorf("gradient of %s[%d]: %v with 1 worker, %v with 2", name, j, v, runs[1][name][j])
				break
			}
		}
	}
}
