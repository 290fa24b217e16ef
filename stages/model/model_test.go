package model

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"selectivity/cache/arrowfile"
	"selectivity/pipeline"
	"selectivity/pipeline/pipelinetest"
	"selectivity/stages"
	"selectivity/stages/internal/checkpoint"
	"selectivity/stages/internal/net"
	"selectivity/stages/internal/weights"
)

var fixtures = filepath.Join("..", "..", "testdata", "extract")

// run runs the model kind directly and returns its output folder.
func run(t *testing.T, p *Params) (string, error) {
	t.Helper()
	if p.Weights != "" {
		a, err := filepath.Abs(string(p.Weights))
		if err != nil {
			t.Fatal(err)
		}
		p.Weights = stages.Path(a)
	}
	if errs := p.Validate(); len(errs) > 0 {
		t.Fatalf("invalid params: %v", errs)
	}
	dir := t.TempDir()
	err := Kind{}.Run(context.Background(), &stages.Job{Stage: "net", Params: p, OutDir: dir, Progress: pipelinetest.Progress{}, Logf: t.Logf})
	return dir, err
}

func fixture(name string) stages.Path { return stages.Path(filepath.Join(fixtures, name)) }

func input(n, s int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, n*3*s*s)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

// taps runs every tap of nt on x and returns copies.
func taps(t *testing.T, nt *net.Net, x []float32, n, s int) map[string][]float32 {
	t.Helper()
	out := map[string][]float32{}
	err := nt.Forward(context.Background(), x, n, s, s, nt.Taps(), func(tap string, data []float32, _, _, _ int) error {
		out[tap] = slices.Clone(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRandomRoundTrip: weights.arrow of a random init loads back into a
// network that computes exactly what net.New(RandomInit(...)) computes.
func TestRandomRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		arch          string
		classes, want int
		size          int
	}{{"vgg16", 0, 1000, 32}, {"alexnet", 7, 7, 80}, {"resnet18", 3, 3, 40}} {
		t.Run(tc.arch, func(t *testing.T) {
			dir, err := run(t, &Params{Epoch: -1, Arch: tc.arch, Init: "random", Seed: 3, Classes: tc.classes, Widths: "standard"})
			if err != nil {
				t.Fatal(err)
			}
			m, err := weights.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			want := map[string]string{"arch": tc.arch, "classes": itoa(tc.want), "init": "random", "seed": "3"}
			if !mapsEqual(m.Meta, want) {
				t.Errorf("metadata %v, want %v", m.Meta, want)
			}
			// Stored lean: the metadata, no rows.
			if fi, err := os.Stat(filepath.Join(dir, weights.File)); err != nil || fi.Size() > 4096 {
				t.Errorf("weights.arrow of a random init: %v, %v", fi.Size(), err)
			}
			r, err := arrowfile.Open(filepath.Join(dir, weights.File))
			if err != nil {
				t.Fatal(err)
			}
			if r.NumRecords() != 0 {
				t.Errorf("%d records", r.NumRecords())
			}
			r.Close()
			ref, err := net.RandomInit(tc.arch, tc.want, 3)
			if err != nil {
				t.Fatal(err)
			}
			nt, err := net.New(tc.arch, ref)
			if err != nil {
				t.Fatal(err)
			}
			x := input(2, tc.size, 5)
			got, exp := taps(t, m.Net, x, 2, tc.size), taps(t, nt, x, 2, tc.size)
			for _, tap := range nt.Taps() {
				if !slices.Equal(got[tap], exp[tap]) {
					t.Errorf("%s differs", tap)
				}
			}
		})
	}
}

// checkRows checks that the weights file at path holds one row per
// parameter in Spec order, each one's values 64-byte aligned in the mapping.
func checkRows(t *testing.T, path, arch string, classes int) {
	t.Helper()
	r, err := arrowfile.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	params, _, err := weights.ReadWeights(r)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i := range r.NumRecords() {
		rec, _ := r.Record(i)
		names = append(names, rec.Column(0).ValueStr(0))
		rec.Release()
	}
	spec, _ := net.Spec(arch)
	var specNames []string
	for _, p := range spec.Params(classes) {
		specNames = append(specNames, p.Name)
		if len(params[p.Name].Shape) != len(p.Shape) {
			t.Errorf("%s: shape %v, want rank %d", p.Name, params[p.Name].Shape, len(p.Shape))
			continue
		}
		if a := uintptr(unsafe.Pointer(&params[p.Name].Data[0])) % weights.Alignment; a != 0 {
			t.Errorf("%s: values at %d mod %d in the mapping", p.Name, a, weights.Alignment)
		}
	}
	if !slices.Equal(names, specNames) {
		t.Errorf("rows %v, want %v", names, specNames)
	}
}

// TestCheckpoints loads each wrapping of the PyTorch fixtures (widths: any)
// and compares every tap with PyTorch's.
func TestCheckpoints(t *testing.T) {
	for _, tc := range []struct {
		arch, file, format, wrapper, epoch string
	}{
		{"vgg16", "vgg16.pth.tar", "torch-zip", "state_dict", "7"},
		{"vgg16_bn", "vgg16_bn.pth", "torch-legacy", "model_state_dict", "3"},
		{"alexnet", "alexnet.pt", "torch-zip", "", ""},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			dir, err := run(t, &Params{Epoch: -1, Arch: tc.arch, Init: "checkpoint", Weights: fixture(tc.file), Widths: "any"})
			if err != nil {
				t.Fatal(err)
			}
			m, err := weights.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			b, _ := os.ReadFile(string(fixture(tc.file)))
			sum := sha256.Sum256(b)
			want := map[string]string{"arch": tc.arch, "classes": "10", "init": "checkpoint", "source": tc.file,
				"source_sha256": hex.EncodeToString(sum[:]), "source_format": tc.format, "source_wrapper": tc.wrapper}
			if tc.epoch != "" {
				want["epoch"] = tc.epoch
			}
			if !mapsEqual(m.Meta, want) {
				t.Errorf("metadata %v, want %v", m.Meta, want)
			}
			checkRows(t, filepath.Join(dir, weights.File), tc.arch, 10)
			ref, err := checkpoint.Load(string(fixture(tc.arch + ".ref.safetensors")))
			if err != nil {
				t.Fatal(err)
			}
			pix := ref.Params["pixels"]
			n, c, s := pix.Shape[0], pix.Shape[1], pix.Shape[2]
			x := make([]float32, n*3*s*s)
			for i := range n {
				for ch := range 3 {
					src := pix.Data[(i*c+ch%c)*s*s:][:s*s]
					dst := x[(i*3+ch)*s*s:][:s*s]
					for k, v := range src {
						dst[k] = (v/255 - 0.5) / 0.5
					}
				}
			}
			got := taps(t, m.Net, x, n, s)
			for _, tap := range m.Taps() {
				e := relErr(got[tap], ref.Params["tap/"+tap].Data)
				if !(e <= 1e-4) {
					t.Errorf("%s: relative error %.3g", tap, e)
				}
			}
		})
	}
}

// TestStandardWidths: the reduced fixtures do not fit torchvision's
// shapes; one error names the file and lists every parameter.
func TestStandardWidths(t *testing.T) {
	_, err := run(t, &Params{Epoch: -1, Arch: "vgg16", Init: "checkpoint", Weights: fixture("vgg16.pth.tar"), Widths: "standard"})
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{"vgg16.pth.tar does not match", "(31 problems)", "set widths: any to use them", `"features.0.weight" has shape [4 3 3 3], want [64 3 3 3]`, `"classifier.6.weight" has shape [10 32], want [10 4096]`} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}

// writeSafetensors writes float32 tensors as a safetensors file.
func writeSafetensors(t *testing.T, path string, tensors map[string]checkpoint.Tensor) {
	t.Helper()
	names := make([]string, 0, len(tensors))
	for k := range tensors {
		names = append(names, k)
	}
	sort.Strings(names)
	header := map[string]any{}
	var data []byte
	for _, k := range names {
		tt := tensors[k]
		start := len(data)
		for _, v := range tt.Data {
			data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
		}
		header[k] = map[string]any{"dtype": "F32", "shape": tt.Shape, "data_offsets": []int{start, len(data)}}
	}
	h, _ := json.Marshal(header)
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	out = append(append(out, h...), data...)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestMisfit: a missing, an unexpected and a mis-shaped parameter are
// reported together, naming the file, with either widths setting.
func TestMisfit(t *testing.T) {
	sd, err := checkpoint.Load(string(fixture("vgg16.pth.tar")))
	if err != nil {
		t.Fatal(err)
	}
	delete(sd.Params, "features.2.bias")
	sd.Params["features.99.weight"] = checkpoint.Tensor{Shape: []int{2}, Data: []float32{1, 2}}
	w := sd.Params["features.5.weight"]
	sd.Params["features.5.weight"] = checkpoint.Tensor{Shape: []int{w.Shape[0], w.Shape[1], 9}, Data: w.Data}
	path := filepath.Join(t.TempDir(), "broken.safetensors")
	writeSafetensors(t, path, sd.Params)
	for _, widths := range []string{"any", "standard"} {
		_, err := run(t, &Params{Epoch: -1, Arch: "vgg16", Init: "checkpoint", Weights: stages.Path(path), Widths: widths})
		if err == nil {
			t.Fatalf("widths %s: no error", widths)
		}
		msg := err.Error()
		t.Logf("widths %s: %.400s", widths, msg)
		for _, want := range []string{path, `missing parameter "features.2.bias"`, `unexpected parameter "features.99.weight"`, `"features.5.weight" has shape [8 4 9]`} {
			if !strings.Contains(msg, want) {
				t.Errorf("widths %s: error lacks %q:\n%s", widths, want, msg)
			}
		}
		if strings.Count(msg, "\n\t* ") < 3 {
			t.Errorf("widths %s: not one list:\n%s", widths, msg)
		}
	}
}

// TestNotACheckpoint: files that are no checkpoint give an error naming
// them.
func TestNotACheckpoint(t *testing.T) {
	dir := t.TempDir()
	full, _ := os.ReadFile(string(fixture("vgg16.pth.tar")))
	files := map[string][]byte{
		"notes.pth":        []byte("these are not the weights you are looking for\n"),
		"empty.pt":         nil,
		"truncated.pth":    full[:len(full)/2],
		"ints.safetensors": nil, // written below
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A valid safetensors file with only an integer tensor.
	h := []byte(`{"step":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}`)
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	b = append(append(b, h...), make([]byte, 8)...)
	os.WriteFile(filepath.Join(dir, "ints.safetensors"), b, 0o644)
	for name := range files {
		path := filepath.Join(dir, name)
		_, err := run(t, &Params{Epoch: -1, Arch: "vgg16", Init: "checkpoint", Weights: stages.Path(path), Widths: "standard"})
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v does not name the file", name, err)
			continue
		}
		t.Logf("%s: %v", name, err)
	}
}

func TestClasses(t *testing.T) {
	_, err := run(t, &Params{Epoch: -1, Arch: "alexnet", Init: "checkpoint", Weights: fixture("alexnet.pt"), Widths: "any", Classes: 5})
	if err == nil || !strings.Contains(err.Error(), "classes: 5 set, but checkpoint") || !strings.Contains(err.Error(), "has 10 (classifier.6.weight [10 32])") {
		t.Errorf("error %v", err)
	}
	if _, err := run(t, &Params{Epoch: -1, Arch: "alexnet", Init: "checkpoint", Weights: fixture("alexnet.pt"), Widths: "any", Classes: 10}); err != nil {
		t.Error(err)
	}
	// Wrong architecture for the weights.
	_, err = run(t, &Params{Epoch: -1, Arch: "vgg16_bn", Init: "checkpoint", Weights: fixture("vgg16.pth.tar"), Widths: "any"})
	if err == nil || !strings.Contains(err.Error(), `missing parameter "features.1.running_mean"`) {
		t.Errorf("vgg16 weights as vgg16_bn: %v", err)
	}
}

// TestResNetCheckpoint loads the reduced ResNet-18 of testdata/net as
// torch.save wrote its state dict (with integer num_batches_tracked
// buffers) and compares every tap with PyTorch's; torchvision's widths are
// enforced with widths: standard.
func TestResNetCheckpoint(t *testing.T) {
	pt := stages.Path(filepath.Join("..", "..", "testdata", "net", "resnet18.pt"))
	dir, err := run(t, &Params{Epoch: -1, Arch: "resnet18", Init: "checkpoint", Weights: pt, Widths: "any"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := weights.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Meta["classes"] != "10" || m.Meta["source_format"] != "torch-zip" {
		t.Errorf("metadata %v", m.Meta)
	}
	ref, err := checkpoint.Load(filepath.Join("..", "..", "testdata", "net", "resnet18.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	in := ref.Params["input"]
	n, h, w := in.Shape[0], in.Shape[2], in.Shape[3]
	seen := 0
	err = m.Net.Forward(context.Background(), in.Data, n, h, w, m.Taps(), func(tap string, data []float32, _, _, _ int) error {
		seen++
		if e := relErr(data, ref.Params["tap/"+tap].Data); !(e <= 1e-4) {
			t.Errorf("%s: relative error %.3g", tap, e)
		}
		return nil
	})
	if err != nil || seen != 15 {
		t.Fatalf("%d taps: %v", seen, err)
	}
	_, err = run(t, &Params{Epoch: -1, Arch: "resnet18", Init: "checkpoint", Weights: pt, Widths: "standard"})
	if err == nil || !strings.Contains(err.Error(), "set widths: any to use them") || !strings.Contains(err.Error(), `"conv1.weight" has shape [4 3 7 7], want [64 3 7 7]`) {
		t.Errorf("widths: standard: %v", err)
	}
	_, err = run(t, &Params{Epoch: -1, Arch: "resnet50", Init: "checkpoint", Weights: pt, Widths: "any"})
	if err == nil || !strings.Contains(err.Error(), "layer1.0.conv3.weight") {
		t.Errorf("resnet18 weights as resnet50: %v", err)
	}
}

// TestParamsValidation checks the rules beyond tags through an experiment
// file.
func TestParamsValidation(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "w.pth"), []byte("x"), 0o644)
	file := filepath.Join(dir, "exp.yaml")
	os.WriteFile(file, []byte(`
stages:
  a: {kind: model, params: {init: checkpoint}}
  b: {kind: model, params: {weights: w.pth}}
  c: {kind: model, params: {arch: resnet101, widths: some}}
`), 0o644)
	_, err := pipeline.Load(file, pipeline.LoadOptions{})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"weights: required with init: checkpoint", "weights: only read with init: checkpoint", "resnet101", "some"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	// Defaults.
	p := DefaultParams()
	if p.Arch != "vgg16" || p.Init != "random" || p.Seed != 1 || p.Classes != 0 || p.Widths != "standard" {
		t.Errorf("defaults %+v", p)
	}
}

func TestLoadRejects(t *testing.T) {
	if _, err := weights.Load(t.TempDir()); err == nil {
		t.Error("empty folder loaded")
	}
	dir := t.TempDir()
	if err := arrowfile.WriteMatrix(filepath.Join(dir, weights.File), 2, 3, map[string]string{"arch": "vgg16"}, func(int, []float32) {}); err != nil {
		t.Fatal(err)
	}
	if _, err := weights.Load(dir); err == nil || !strings.Contains(err.Error(), "not a weights file") {
		t.Errorf("matrix as weights: %v", err)
	}
}

func relErr(got, want []float32) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var d, n float64
	for i := range want {
		e := float64(got[i]) - float64(want[i])
		d += e * e
		n += float64(want[i]) * float64(want[i])
	}
	return math.Sqrt(d / n)
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func itoa(i int) string { return strconv.Itoa(i) }
