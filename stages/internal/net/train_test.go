package net

import (
	"context"
	"math"
	"math/rand/v2"
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
			var worstD float64
			for name, p := range params {
				want := f.tensors["step2/"+name].Data
				e := relErr(p.Data, want)
				worstW = max(worstW, e)
				if e > 1e-5 {
					t.Errorf("%s after two steps: rel. error %.2g", name, e)
				}
				// The change itself (w₂ − w₀), a stricter measure.
				w0 := f.tensors["param/"+name].Data
				got, ref := make([]float32, len(w0)), make([]float32, len(w0))
				for i := range w0 {
					got[i], ref[i] = p.Data[i]-w0[i], want[i]-w0[i]
				}
				worstD = max(worstD, relErr(got, ref))
			}
			t.Logf("max rel. error: gradients %.2g, weights after two SGD steps %.2g (their change %.2g)", worstGrad, worstW, worstD)
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

// TestTrainDeterministic runs the same Step with 1, 2 and 3 workers and
// compares the loss and every gradient bit for bit. With one image, the
// convolutions on 16×16 maps split their pixels into a number of blocks
// that depends on the worker count.
func TestTrainDeterministic(t *testing.T) {
	f, params, labels := trainFixture(t, "vgg16")
	h, w := f.int("height"), f.int("width")
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, n := range []int{1, f.int("batch")} {
		tr, err := NewTrainer("vgg16", params, n, h, w)
		if err != nil {
			t.Fatal(err)
		}
		x := f.tensors["input"].Data[:n*3*h*w]
		var ref map[string][]float32
		var refLoss float64
		for _, procs := range []int{1, 2, 3} {
			runtime.GOMAXPROCS(procs)
			loss, _, err := tr.Step(context.Background(), x, labels[:n])
			if err != nil {
				t.Fatal(err)
			}
			if ref == nil {
				ref, refLoss = map[string][]float32{}, loss
				for name, g := range tr.Grads() {
					ref[name] = slices.Clone(g)
				}
				continue
			}
			if math.Float64bits(loss) != math.Float64bits(refLoss) {
				t.Errorf("batch %d: loss %v with 1 worker, %v with %d", n, refLoss, loss, procs)
			}
			for name, g := range tr.Grads() {
				for j, v := range g {
					if math.Float32bits(v) != math.Float32bits(ref[name][j]) {
						t.Errorf("batch %d: gradient of %s[%d]: %v with 1 worker, %v with %d", n, name, j, ref[name][j], v, procs)
						break
					}
				}
			}
		}
	}
}

// quadrantImages is an easy 4-class problem: class k has a bright 8×8
// patch in quadrant k of a 32×32 image, on noise.
func quadrantImages(n int, seed uint64) ([]float32, []int) {
	rng := rand.New(rand.NewPCG(seed, 3))
	x := make([]float32, n*3*32*32)
	labels := make([]int, n)
	for i := range labels {
		labels[i] = i % 4
		oy, ox := 4+16*(labels[i]/2), 4+16*(labels[i]%2)
		img := x[i*3*32*32 : (i+1)*3*32*32]
		for j := range img {
			img[j] = float32(0.3 * rng.NormFloat64())
		}
		for c := 0; c < 3; c++ {
			for y := oy; y < oy+8; y++ {
				for xx := ox; xx < ox+8; xx++ {
					img[c*32*32+y*32+xx] += 2
				}
			}
		}
	}
	return x, labels
}

// train runs steps of SGD on the quadrant problem and returns the losses
// and the final parameters.
func trainQuadrants(t *testing.T, steps int) ([]float64, map[string]Tensor) {
	const batch = 16
	tr, params := tinyTrainer(t, batch, 4, 42)
	// torchvision's N(0, 0.01) linear weights make a 32-wide classifier
	// shrink its input ~20-fold per layer, and the net barely moves in a
	// few dozen steps; He's N(0, 2/in) keeps the signal.
	for _, l := range tr.Arch().FC {
		w := params[l.Prefix+".weight"].Data
		for i := range w {
			w[i] *= float32(math.Sqrt(2/float64(l.In)) / 0.01)
		}
	}
	opt := &SGD{Momentum: 0.9, WeightDecay: 1e-4}
	var losses []float64
	for s := 0; s < steps; s++ {
		x, labels := quadrantImages(batch, uint64(s))
		loss, _, err := tr.Step(context.Background(), x, labels)
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, loss)
		if err := opt.Update(0.005, params, tr.Grads()); err != nil {
			t.Fatal(err)
		}
	}
	return losses, params
}

// TestTrainLearns trains the tiny VGG-16 on the quadrant problem: the loss
// must fall well below chance (ln 4), and a second run must give
// bit-identical weights.
func TestTrainLearns(t *testing.T) {
	const steps = 40
	losses, a := trainQuadrants(t, steps)
	first, last := mean(losses[:5]), mean(losses[steps-5:])
	t.Logf("mean loss: first 5 steps %.4f, last 5 steps %.4f (chance %.4f)", first, last, math.Log(4))
	if last > 0.5*first || last > 0.5*math.Log(4) {
		t.Errorf("loss did not fall: first 5 steps %.4f, last 5 steps %.4f: %v", first, last, losses)
	}
	_, b := trainQuadrants(t, steps)
	for name, p := range a {
		for i, v := range p.Data {
			if math.Float32bits(v) != math.Float32bits(b[name].Data[i]) {
				t.Fatalf("%s[%d]: %v in one run, %v in the other", name, i, v, b[name].Data[i])
			}
		}
	}
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// TestTrainErrors checks that bad arguments give clear errors.
func TestTrainErrors(t *testing.T) {
	if _, err := Scaled("vgg16", 3, 32, 10); err == nil || !strings.Contains(err.Error(), "not a multiple of width 3") {
		t.Errorf("Scaled with width 3: %v", err)
	}
	if _, err := Scaled("vgg16", 8, 0, 10); err == nil {
		t.Error("Scaled with hidden 0: no error")
	}
	if _, err := Scaled("resnet", 8, 32, 10); err == nil {
		t.Error("Scaled(resnet): no error")
	}
	bn, _ := Scaled("vgg16_bn", 16, 32, 10)
	bnParams, err := RandomInitArch(bn, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewTrainer("vgg16_bn", bnParams, 2, 32, 32); err == nil || !strings.Contains(err.Error(), "BatchNorm") {
		t.Errorf("NewTrainer(vgg16_bn): %v", err)
	}
	a, _ := Scaled("vgg16", 16, 32, 10)
	params, _ := RandomInitArch(a, 1)
	if _, err := NewTrainer("vgg16", params, 2, 16, 16); err == nil || !strings.Contains(err.Error(), "too small") {
		t.Errorf("NewTrainer at 16 px: %v", err)
	}
	delete(params, "features.0.bias")
	if _, err := NewTrainer("vgg16", params, 2, 32, 32); err == nil || !strings.Contains(err.Error(), `missing parameter "features.0.bias"`) {
		t.Errorf("NewTrainer without features.0.bias: %v", err)
	}

	tr, params := tinyTrainer(t, 2, 10, 1)
	x := make([]float32, 2*3*32*32)
	ctx := context.Background()
	for _, c := range []struct {
		x      []float32
		labels []int
		want   string
	}{
		{x[:10], []int{0, 1}, "batch has 10 values"},
		{x, []int{0}, "1 labels for a batch of 2"},
		{x, []int{0, 10}, "label 10 of image 1 is outside [0, 10)"},
	} {
		if _, _, err := tr.Step(ctx, c.x, c.labels); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Step: got %v, want an error with %q", err, c.want)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := tr.Step(cctx, x, []int{0, 1}); err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Errorf("Step with a cancelled context: %v", err)
	}
	late := &lateCancel{Context: ctx, after: 20} // cancelled inside the graph
	if _, _, err := tr.Step(late, x, []int{0, 1}); err == nil || !strings.Contains(err.Error(), "training step stopped at") {
		t.Errorf("Step cancelled midway: %v", err)
	}
	if len(tr.Grads()) != 0 {
		t.Errorf("%d gradients after a failed Step, want none", len(tr.Grads()))
	}
	if _, _, err := tr.Step(ctx, x, []int{0, 1}); err != nil || len(tr.Grads()) != len(params) {
		t.Errorf("Step after a cancelled one: %v, %d gradients", err, len(tr.Grads()))
	}
	opt := &SGD{Momentum: 0.9}
	if err := opt.Update(0.1, params, map[string][]float32{"nope": {1}}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("SGD with an unknown gradient: %v", err)
	}
	if err := opt.Update(0.1, params, map[string][]float32{"features.0.bias": {1}}); err == nil || !strings.Contains(err.Error(), "1 values") {
		t.Errorf("SGD with a short gradient: %v", err)
	}
}

// lateCancel is a context whose Err turns to context.Canceled after a
// number of calls.
type lateCancel struct {
	context.Context
	after int
}

func (c *lateCancel) Err() error {
	if c.after--; c.after < 0 {
		return context.Canceled
	}
	return nil
}

// TestSGDMatchesTorch checks SGD's update rule on hand-computed values:
// torch.optim.SGD(lr=0.1, momentum=0.5, weight_decay=0.1).
func TestSGDMatchesTorch(t *testing.T) {
	params := map[string]Tensor{"w": {Shape: []int{2}, Data: []float32{1, -2}}}
	opt := &SGD{Momentum: 0.5, WeightDecay: 0.1}
	grads := map[string][]float32{"w": {0.5, 0.25}}
	// Step 1: g = grad + 0.1·w = (0.6, 0.05); buf = g; w = (0.94, −2.005).
	// Step 2: g = (0.594, 0.0495); buf = 0.5·buf + g = (0.894, 0.0745);
	// w = (0.8506, −2.01245).
	for range 2 {
		if err := opt.Update(0.1, params, grads); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range []float64{0.8506, -2.01245} {
		if got := float64(params["w"].Data[i]); math.Abs(got-want) > 1e-6 {
			t.Errorf("w[%d] = %v, want %v", i, got, want)
		}
	}
	plain := &SGD{}
	p := map[string]Tensor{"w": {Shape: []int{1}, Data: []float32{1}}}
	if err := plain.Update(0.5, p, map[string][]float32{"w": {2}}); err != nil || p["w"].Data[0] != 0 {
		t.Errorf("plain SGD: w = %v (%v), want 0", p["w"].Data[0], err)
	}
}

// TestTrainMemoryBounded checks that Steps reuse the Trainer's buffers:
// the live heap does not grow from step to step.
func TestTrainMemoryBounded(t *testing.T) {
	tr, params := tinyTrainer(t, 4, 4, 3)
	x, labels := quadrantImages(4, 1)
	opt := &SGD{Momentum: 0.9}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	var after []uint64
	for s := 0; s < 50; s++ {
		if _, _, err := tr.Step(context.Background(), x, labels); err != nil {
			t.Fatal(err)
		}
		if err := opt.Update(0.01, params, tr.Grads()); err != nil {
			t.Fatal(err)
		}
		after = append(after, heap())
	}
	t.Logf("live heap after the last steps: %v", after[len(after)-3:])
	// After the first steps (scratch and momentum buffers) nothing more is
	// kept: holding on to one conv1 activation (64 KiB) per step would add
	// 3 MB. 256 KiB of slack for the runtime's bookkeeping, which settles
	// within ~40 steps.
	if grow := int64(after[len(after)-1]) - int64(after[2]); grow > 256<<10 {
		t.Errorf("live heap grew by %d bytes from step 3 to step %d: %v", grow, len(after), after)
	}
}

// TestScaled checks Scaled's widths and that New loads what
// RandomInitArch draws for it, with the state-dict names of Spec.
func TestScaled(t *testing.T) {
	for _, c := range []struct {
		arch  string
		width int
		want  []int
	}{
		{"vgg16", 8, []int{8, 8, 16, 16, 32, 32, 32, 64, 64, 64, 64, 64, 64}},
		{"alexnet", 8, []int{8, 24, 48, 32, 32}},
	} {
		a, err := Scaled(c.arch, c.width, 256, 108)
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		for _, cv := range a.Convs {
			got = append(got, cv.Out)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s ÷ %d: widths %v, want %v", c.arch, c.width, got, c.want)
		}
		last := c.want[len(c.want)-1]
		if a.FC[0].In != last*a.AvgPool*a.AvgPool || a.FC[0].Out != 256 || a.FC[1].Out != 256 || a.FC[2].Out != 108 {
			t.Errorf("%s ÷ %d: classifier %+v", c.arch, c.width, a.FC)
		}
		params, err := RandomInitArch(a, 5)
		if err != nil {
			t.Fatal(err)
		}
		spec, _ := Spec(c.arch)
		for _, p := range spec.Params(108) {
			if _, ok := params[p.Name]; !ok {
				t.Errorf("%s ÷ %d: no parameter %q", c.arch, c.width, p.Name)
			}
		}
		nt, err := New(c.arch, params)
		if err != nil {
			t.Fatal(err)
		}
		if got := nt.Arch(); !slices.Equal(got.Convs, a.Convs) || got.FC != a.FC {
			t.Errorf("%s ÷ %d: New reads %+v, Scaled gave %+v", c.arch, c.width, got, a)
		}
	}
}
