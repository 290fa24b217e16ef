package net

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestSpecMatchesTorchvision compares Spec's names, order and shapes with
// the state dicts of torchvision's full-size models (shapes.json, gen.py).
func TestSpecMatchesTorchvision(t *testing.T) {
	ref := map[string][][2]json.RawMessage{}
	for _, file := range []string{"shapes.json", "shapes_resnet.json"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "net", file))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &ref); err != nil {
			t.Fatal(err)
		}
	}
	for _, arch := range torchvisionArchs() {
		spec, err := Spec(arch)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, e := range ref[arch] {
			var name string
			var shape []int
			json.Unmarshal(e[0], &name)
			json.Unmarshal(e[1], &shape)
			want = append(want, fmt.Sprint(name, shape))
		}
		var got []string
		for _, p := range spec.Params(1000) {
			got = append(got, fmt.Sprint(p.Name, p.Shape))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: Params(1000) =\n%v\ntorchvision:\n%v", arch, got, want)
		}
		if len(spec.Shapes(7)) != len(want) || spec.Shapes(7)[spec.Head().Prefix+".weight"][0] != 7 {
			t.Errorf("%s: Shapes(7) = %v", arch, spec.Shapes(7))
		}
	}
	if taps, _ := Spec("vgg16"); !slices.Equal(taps.Taps(), []string{"conv1", "conv2", "conv3", "conv4", "conv5", "conv6", "conv7", "conv8", "conv9", "conv10", "conv11", "conv12", "conv13", "fc6", "fc7", "logits"}) {
		t.Errorf("vgg16 taps: %v", taps.Taps())
	}
	if _, err := Spec("resnet101"); err == nil {
		t.Error("Spec(resnet101): no error")
	}
}

// TestNewReportsEveryProblem checks that New lists all missing, unexpected
// and mis-shaped parameters in one error.
func TestNewReportsEveryProblem(t *testing.T) {
	f := readFixture(t, "vgg16")
	p := f.params()
	delete(p, "features.0.bias")
	p["features.99.weight"] = Tensor{Shape: []int{1}, Data: []float32{1}}
	p["features.5.weight"] = Tensor{Shape: []int{8, 5, 3, 3}, Data: make([]float32, 8*5*9)} // wrong input width
	p["classifier.3.bias"] = Tensor{Shape: []int{31}, Data: make([]float32, 31)}
	p["classifier.6.weight"] = Tensor{Shape: []int{10, 32}, Data: make([]float32, 3)} // wrong length
	_, err := New("vgg16", p)
	var pe *ParamsError
	if !errors.As(err, &pe) {
		t.Fatalf("New: %v, want *ParamsError", err)
	}
	for _, want := range []string{
		`missing parameter "features.0.bias"`,
		`unexpected parameter "features.99.weight"`,
		`"features.5.weight" has shape [8 5 3 3], want [any 4 3 3]`,
		`"classifier.3.bias" has shape [31], want [32]`,
		`"classifier.6.weight" has 3 values for shape [10 32]`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if len(pe.Problems) != 5 {
		t.Errorf("%d problems, want 5:\n%v", len(pe.Problems), err)
	}
	if _, err := New("vgg16", nil); err == nil || !strings.Contains(err.Error(), "32 problems") {
		t.Errorf("New(vgg16, nil): %v", err)
	}
	if _, err := New("resnet", f.params()); err == nil {
		t.Error("New(resnet): no error")
	}
	// A fixture of one architecture is not another one.
	if _, err := New("vgg16_bn", f.params()); err == nil {
		t.Error("New(vgg16_bn, vgg16 params): no error")
	}
}

func hashParams(p map[string]Tensor) uint64 {
	h := fnv.New64a()
	for _, name := range slices.Sorted(maps.Keys(p)) {
		fmt.Fprint(h, name, p[name].Shape)
		for _, v := range p[name].Data {
			fmt.Fprint(h, math.Float32bits(v))
		}
	}
	return h.Sum64()
}

func collect(taps map[string][]float32) TapFunc {
	var mu sync.Mutex
	return func(tap string, data []float32, c, h, w int) error {
		mu.Lock()
		defer mu.Unlock()
		taps[tap] = slices.Clone(data)
		return nil
	}
}

// TestForwardBehaviour covers streaming order, early stop, ForwardFrom,
// input immutability, concurrency, cancellation and bad input.
func TestForwardBehaviour(t *testing.T) {
	f := readFixture(t, "vgg16")
	params := f.params()
	before := hashParams(params)
	nt, err := New("vgg16", params)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	x := f.tensors["input"].Data
	input := slices.Clone(x)
	const n, h, w = 2, 64, 48

	// Taps arrive in network order whatever the request order; nothing
	// after the last requested tap is delivered.
	var order []string
	err = nt.Forward(ctx, x, n, h, w, []string{"conv7", "conv2"}, func(tap string, _ []float32, _, _, _ int) error {
		order = append(order, tap)
		return nil
	})
	if err != nil || !slices.Equal(order, []string{"conv2", "conv7"}) {
		t.Errorf("order %v, err %v", order, err)
	}

	// ForwardFrom a tap gives the same result as the full pass, bit for bit.
	all := map[string][]float32{}
	if err := nt.Forward(ctx, x, n, h, w, nt.Taps(), collect(all)); err != nil {
		t.Fatal(err)
	}
	for _, from := range []string{"conv1", "conv4", "conv13", "fc6", "fc7"} {
		got := map[string][]float32{}
		ref := f.tensors["tap/"+from]
		c, hh, ww := ref.Shape[1], 1, 1
		if len(ref.Shape) == 4 {
			hh, ww = ref.Shape[2], ref.Shape[3]
		}
		if err := nt.ForwardFrom(ctx, from, all[from], n, c, hh, ww, []string{"logits"}, collect(got)); err != nil {
			t.Fatalf("ForwardFrom(%s): %v", from, err)
		}
		if !slices.Equal(got["logits"], all["logits"]) {
			t.Errorf("ForwardFrom(%s) logits differ from Forward's", from)
		}
	}

	// Concurrent calls share the Net.
	var wg sync.WaitGroup
	res := make([]map[string][]float32, 4)
	for i := range res {
		res[i] = map[string][]float32{}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := nt.Forward(ctx, x, n, h, w, []string{"conv3", "logits"}, collect(res[i])); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	for i := range res {
		if !slices.Equal(res[i]["logits"], all["logits"]) || !slices.Equal(res[i]["conv3"], all["conv3"]) {
			t.Errorf("concurrent call %d differs", i)
		}
	}
	if !slices.Equal(x, input) || hashParams(params) != before {
		t.Error("Forward modified its input or the parameters")
	}

	// Cancellation: before the call, and from a tap (no later tap is seen).
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := nt.Forward(cctx, x, n, h, w, []string{"conv1"}, collect(map[string][]float32{})); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	cctx, cancel = context.WithCancel(ctx)
	order = nil
	err = nt.Forward(cctx, x, n, h, w, []string{"conv1", "conv2", "logits"}, func(tap string, _ []float32, _, _, _ int) error {
		order = append(order, tap)
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) || !slices.Equal(order, []string{"conv1"}) {
		t.Errorf("cancel in callback: err %v, taps %v", err, order)
	}
	// A callback's error stops the pass and is returned as is.
	stop := errors.New("enough")
	if err := nt.Forward(ctx, x, n, h, w, []string{"conv5", "fc6"}, func(string, []float32, int, int, int) error { return stop }); err != stop {
		t.Errorf("callback error: %v", err)
	}

	// Bad input is an error, never a panic.
	sink := collect(map[string][]float32{})
	for name, call := range map[string]func() error{
		"short batch":  func() error { return nt.Forward(ctx, x[:10], n, h, w, []string{"conv1"}, sink) },
		"zero size":    func() error { return nt.Forward(ctx, nil, 0, h, w, []string{"conv1"}, sink) },
		"too small":    func() error { return nt.Forward(ctx, make([]float32, 3*16*16), 1, 16, 16, []string{"logits"}, sink) },
		"unknown tap":  func() error { return nt.Forward(ctx, x, n, h, w, []string{"conv14"}, sink) },
		"no taps":      func() error { return nt.Forward(ctx, x, n, h, w, nil, sink) },
		"nil callback": func() error { return nt.Forward(ctx, x, n, h, w, []string{"conv1"}, nil) },
		"from logits":  func() error { return nt.ForwardFrom(ctx, "logits", x, 1, 10, 1, 1, []string{"logits"}, sink) },
		"from wrong c": func() error {
			return nt.ForwardFrom(ctx, "conv13", make([]float32, 2*31*4*3), 2, 31, 4, 3, []string{"logits"}, sink)
		},
		"from short": func() error {
			return nt.ForwardFrom(ctx, "conv13", make([]float32, 5), 2, 32, 4, 3, []string{"logits"}, sink)
		},
		"tap before from": func() error {
			return nt.ForwardFrom(ctx, "conv13", all["conv13"], 2, 32, 4, 3, []string{"conv2"}, sink)
		},
		"fc with h>1": func() error {
			return nt.ForwardFrom(ctx, "fc6", make([]float32, 2*32*4), 2, 32, 2, 2, []string{"logits"}, sink)
		},
	} {
		if err := call(); err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.HasPrefix(err.Error(), "net: ") {
			t.Errorf("%s: error without context: %v", name, err)
		}
	}
	// The smallest VGG input (32 px) works.
	if err := nt.Forward(ctx, make([]float32, 3*32*33), 1, 32, 33, []string{"logits"}, sink); err != nil {
		t.Errorf("32×33 input: %v", err)
	}
}

// TestLesionerGroups checks multi-channel lesions against ForwardFrom and
// the Lesioner's input checks.
func TestLesionerGroups(t *testing.T) {
	for _, arch := range plainArchs() {
		f := readFixture(t, arch)
		nt, err := New(arch, f.params())
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		last := nt.Arch().Convs[len(nt.Arch().Convs)-1].Tap
		acts := f.tensors["tap/"+last]
		n, c, h, w := acts.Shape[0], acts.Shape[1], acts.Shape[2], acts.Shape[3]
		les, err := nt.NewLesioner(ctx, acts.Data, n, c, h, w)
		if err != nil {
			t.Fatal(err)
		}
		group := []int{c - 1, 0, 5, 0}
		zeroed := slices.Clone(acts.Data)
		for i := 0; i < n; i++ {
			for _, k := range group {
				clear(zeroed[(i*c+k)*h*w : (i*c+k+1)*h*w])
			}
		}
		got := map[string][]float32{}
		if err := nt.ForwardFrom(ctx, last, zeroed, n, c, h, w, []string{"logits"}, collect(got)); err != nil {
			t.Fatal(err)
		}
		dst := make([]float32, 0, n*nt.Classes())
		fast, err := les.Logits(ctx, group, dst)
		if err != nil {
			t.Fatal(err)
		}
		if e := relErr(fast, got["logits"]); e > 1e-5 {
			t.Errorf("%s: group lesion differs from ForwardFrom by %.3g", arch, e)
		}
		if &fast[0] != &dst[:1][0] {
			t.Errorf("%s: Logits did not use dst", arch)
		}
		if les.Images() != n || les.Channels() != c || len(les.FC6Input()) != n*c*nt.Arch().AvgPool*nt.Arch().AvgPool || len(les.FC6Pre()) != n*nt.Arch().FC[0].Out {
			t.Errorf("%s: Lesioner accessors", arch)
		}
		if _, err := les.Logits(ctx, []int{c}, nil); err == nil {
			t.Errorf("%s: channel out of range: no error", arch)
		}
		if _, err := nt.NewLesioner(ctx, acts.Data, n, c+1, h, w); err == nil {
			t.Errorf("%s: wrong shape: no error", arch)
		}
	}
}

// TestLesionerSets checks that LogitsSets stacks, bit for bit, the logits
// Logits gives for each set alone, with 1 and 2 workers (the stacked GEMM
// has other row panels, edge tiles and column blocks than each set's).
func TestLesionerSets(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, arch := range plainArchs() {
		f := readFixture(t, arch)
		nt, err := New(arch, f.params())
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		last := nt.Arch().Convs[len(nt.Arch().Convs)-1].Tap
		acts := f.tensors["tap/"+last]
		n, c, h, w := acts.Shape[0], acts.Shape[1], acts.Shape[2], acts.Shape[3]
		les, err := nt.NewLesioner(ctx, acts.Data, n, c, h, w)
		if err != nil {
			t.Fatal(err)
		}
		sets := [][]int{nil, {0}, {c - 1, 2}, {3}, {0}}
		per := n * nt.Classes()
		var want []float32
		for _, set := range sets {
			one, err := les.Logits(ctx, set, nil)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, one...)
		}
		if slices.Equal(want[:per], want[per:2*per]) {
			t.Fatalf("%s: lesion of channel 0 changed no logit", arch)
		}
		for _, procs := range []int{1, 2} {
			runtime.GOMAXPROCS(procs)
			got, err := les.LogitsSets(ctx, sets, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s, GOMAXPROCS %d: LogitsSets differs from Logits per set", arch, procs)
			}
		}
		if _, err := les.LogitsSets(ctx, [][]int{{0}, {-1}}, nil); err == nil {
			t.Errorf("%s: channel out of range in the second set: no error", arch)
		}
	}
}

// TestReLU checks the branch-free relu against x < 0 ⇒ 0 on the special
// values (−0, NaNs of either sign, infinities, subnormals).
func TestReLU(t *testing.T) {
	in := []float32{-1, 1, 0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN()), -float32(math.NaN()), math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32, -math.MaxFloat32}
	got := slices.Clone(in)
	relu(got)
	for i, v := range in {
		want := v
		if v < 0 {
			want = 0
		}
		if math.Float32bits(got[i]) != math.Float32bits(want) {
			t.Errorf("relu(%v) = %v (bits %#x), want bits %#x", v, got[i], math.Float32bits(got[i]), math.Float32bits(want))
		}
	}
}
