package extract

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"selectivity/cache/arrowfile"
	"selectivity/pipeline/pipelinetest"
	"selectivity/stages"
	"selectivity/stages/internal/checkpoint"
	"selectivity/stages/internal/data"
	"selectivity/stages/internal/weights"
	_ "selectivity/stages/stimuli"
)

const parityTol = 1e-4

// TestParityWithPyTorch runs model (a PyTorch checkpoint, each wrapping)
// and extract through the pipeline and compares every tap and the logits
// with PyTorch's activations for the same 8-bit images.
func TestParityWithPyTorch(t *testing.T) {
	for _, arch := range []string{"vgg16", "vgg16_bn", "alexnet"} {
		t.Run(arch, func(t *testing.T) {
			ref, err := checkpoint.Load(abs(t, arch+".ref.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			var layers []string
			for name := range ref.Params {
				if tap, ok := strings.CutPrefix(name, "tap/"); ok && tap != "logits" {
					layers = append(layers, tap)
				}
			}
			slices.Sort(layers)
			dirs, err := runExperiment(t, fmt.Sprintf(`
stages:
  stim:
    kind: extract-test-pixels
    params: {ref: %q}
  net:
    kind: model
    params: {arch: %s, init: checkpoint, weights: %q, widths: any}
  acts:
    kind: extract
    inputs: {stimuli: stim, model: net}
    params: {layers: [%s], logits: true, batch: 2}
`, abs(t, arch+".ref.safetensors"), arch, abs(t, ref.Meta["checkpoint"].(string)), strings.Join(layers, ", ")))
			if err != nil {
				t.Fatal(err)
			}
			for _, tap := range append(layers, "logits") {
				want := ref.Params["tap/"+tap]
				got, cols, meta := readMatrix(t, filepath.Join(dirs["acts"], LayerFile(tap)))
				shape, err := arrowfile.ParseInts(meta["shape"])
				if err != nil {
					t.Fatal(err)
				}
				wantShape := want.Shape[1:]
				if len(wantShape) == 1 {
					wantShape = append(wantShape, 1, 1)
				}
				if !slices.Equal(shape, wantShape) || len(got) != len(want.Data) || cols != len(want.Data)/want.Shape[0] {
					t.Errorf("%s: shape %v (%d values), PyTorch %v", tap, shape, len(got), want.Shape)
					continue
				}
				level := data.LevelUnit
				if tap == "logits" {
					level = data.LevelLogits
				}
				if meta["layer"] != tap || meta["level"] != level || meta["arch"] != arch {
					t.Errorf("%s: metadata %v", tap, meta)
				}
				e := relErr(got, want.Data)
				t.Logf("%-7s %v rel. error %.2e", tap, want.Shape, e)
				if !(e <= parityTol) {
					t.Errorf("%s: relative error %.3g > %g", tap, e, parityTol)
				}
			}
		})
	}
}

// TestEndToEnd runs synthetic stimuli → a random VGG-16 → extract with
// batches of 1 and 7, and compares the files with each other and with a
// direct forward pass over the same tensors.
// The batch size stays out of the cache key, so the two runs use separate
// caches.
func TestEndToEnd(t *testing.T) {
	const exp = `
stages:
  stim:
    kind: stimuli
    params: {per_category: 2, crop: 32, resize: 36, image_size: 48}
  net:
    kind: model
  %s:
    kind: extract
    inputs: {stimuli: stim, model: net}
    params: {batch: %d, logits: true}
`
	dirs, err := runExperiment(t, fmt.Sprintf(exp, "one", 1))
	if err != nil {
		t.Fatal(err)
	}
	dirs7, err := runExperiment(t, fmt.Sprintf(exp, "seven", 7))
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(dirs7["seven"]) != filepath.Base(dirs["one"]) {
		t.Errorf("batch size changed the cache key: %s vs %s", filepath.Base(dirs7["seven"]), filepath.Base(dirs["one"]))
	}
	dirs["seven"] = dirs7["seven"]
	m, err := weights.Load(dirs["net"])
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.ArchName() != "vgg16" || m.Classes() != 1000 || m.Meta["init"] != "random" || m.Meta["seed"] != "1" {
		t.Errorf("model metadata %v", m.Meta)
	}
	px, err := data.OpenPixels(filepath.Join(dirs["stim"], data.PixelsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	n := px.Len()
	if n != 20 {
		t.Errorf("%d images, want 20", n)
	}
	taps := append(slices.Clone(DefaultLayers), "logits")
	direct := map[string][]float32{}
	shapes := map[string][]int{}
	err = px.Batches(n, func(_, nb int, x []float32) error {
		return m.Forward(context.Background(), x, nb, 32, 32, taps, func(tap string, data []float32, c, h, w int) error {
			direct[tap] = slices.Clone(data)
			shapes[tap] = []int{c, h, w}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]int{"conv2": {64, 32, 32}, "conv4": {128, 16, 16}, "conv7": {256, 8, 8}, "conv10": {512, 4, 4}, "conv13": {512, 2, 2}, "logits": {1000, 1, 1}}
	for _, tap := range taps {
		one, cols, meta := readMatrix(t, filepath.Join(dirs["one"], LayerFile(tap)))
		seven, _, meta7 := readMatrix(t, filepath.Join(dirs["seven"], LayerFile(tap)))
		if meta["shape"] != arrowfile.FormatInts(want[tap]...) || cols*n != len(one) || meta["arch"] != "vgg16" || meta["input"] != "3,32,32" {
			t.Errorf("%s: metadata %v, %d columns, %d values", tap, meta, cols, len(one))
		}
		if fmt.Sprint(meta) != fmt.Sprint(meta7) {
			t.Errorf("%s: batch 1 metadata %v, batch 7 %v", tap, meta, meta7)
		}
		if !slices.Equal(one, seven) {
			t.Errorf("%s: batch 1 and batch 7 differ (rel. %.2g)", tap, relErr(seven, one))
		}
		if !slices.Equal(one, direct[tap]) {
			t.Errorf("%s: extract differs from a direct forward pass (rel. %.2g)", tap, relErr(one, direct[tap]))
		}
		nonzero := slices.ContainsFunc(one, func(v float32) bool { return v != 0 })
		if !nonzero {
			t.Errorf("%s: all zero", tap)
		}
	}
	a, _ := os.ReadFile(filepath.Join(dirs["stim"], data.ImagesFile))
	b, _ := os.ReadFile(filepath.Join(dirs["one"], data.ImagesFile))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("images.arrow not copied (%d vs %d bytes)", len(a), len(b))
	}
	// One record batch per image whatever the forward batch, so the files
	// are byte-identical.
	for _, tap := range taps {
		a, _ := os.ReadFile(filepath.Join(dirs["one"], LayerFile(tap)))
		b, _ := os.ReadFile(filepath.Join(dirs["seven"], LayerFile(tap)))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s: batch 1 and batch 7 files differ in bytes", tap)
		}
	}
	for d, want := range map[string]int{"one": 20, "seven": 20} {
		r, err := arrowfile.Open(filepath.Join(dirs[d], LayerFile("conv2")))
		if err != nil {
			t.Fatal(err)
		}
		if r.NumRecords() != want {
			t.Errorf("%s: %d record batches, want %d", d, r.NumRecords(), want)
		}
		r.Close()
	}
	for _, d := range []string{"one", "seven"} {
		ents, _ := os.ReadDir(dirs[d])
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		wantNames := []string{"conv10.arrow", "conv13.arrow", "conv2.arrow", "conv4.arrow", "conv7.arrow", "images.arrow", "logits.arrow", "manifest.json"}
		if !slices.Equal(names, wantNames) {
			t.Errorf("%s: files %v, want %v", d, names, wantNames)
		}
	}
}

// TestBadLayers: names no architecture has, and names the model stage's
// architecture lacks, fail at load time, each listing the valid taps; a
// direct Run still checks them against the network.
func TestBadLayers(t *testing.T) {
	_, err := runExperiment(t, `
stages:
  stim: {kind: extract-test-pixels}
  net: {kind: model}
  acts:
    kind: extract
    inputs: {stimuli: stim, model: net}
    params: {layers: [conv2, conv14, logits, conv2]}
`)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`unknown layer "conv14"`, "vgg16: conv1, conv2", "conv13, fc6, fc7", "alexnet: conv1", "set logits: true", "conv2 listed twice"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}

	_, err = runExperiment(t, fmt.Sprintf(`
stages:
  stim: {kind: extract-test-pixels, params: {size: 80}}
  net:
    kind: model
    params: {arch: alexnet, init: checkpoint, weights: %q, widths: any}
  acts:
    kind: extract
    inputs: {stimuli: stim, model: net}
    params: {layers: [conv2, conv7, conv9]}
`, abs(t, "alexnet.pt")))
	want := `params.layers: alexnet has no layer "conv7", "conv9"; its layers: conv1, conv2, conv3, conv4, conv5, fc6, fc7 ` +
		"(`go run . layers alexnet` shows their shapes) (inputs.model: net)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want %q", err, want)
	}
	t.Log(err)

	dirs, err := runExperiment(t, fmt.Sprintf(`
stages:
  net:
    kind: model
    params: {arch: alexnet, init: checkpoint, weights: %q, widths: any}
`, abs(t, "alexnet.pt")))
	if err != nil {
		t.Fatal(err)
	}
	m, err := weights.Load(dirs["net"])
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, err = requestedTaps(m, &Params{Layers: []string{"conv2", "conv7", "conv9"}})
	want = `extract: layers: "conv7", "conv9" are not layers of alexnet; valid: conv1, conv2, conv3, conv4, conv5, fc6, fc7`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want %q", err, want)
	}
}

// TestResNetLayers extracts a random ResNet-18's stem, a block, a stage and
// the pooled features; the study's default layers (VGG's) are refused at
// load time for it.
func TestResNetLayers(t *testing.T) {
	_, err := runExperiment(t, `
stages:
  stim: {kind: extract-test-pixels}
  net: {kind: model, params: {arch: resnet50}}
  acts:
    kind: extract
    inputs: {stimuli: stim, model: net}
`)
	if err == nil || !strings.Contains(err.Error(), `params.layers: resnet50 has no layer "conv2", "conv4", "conv7", "conv10", "conv13"; its layers: conv1, layer1.0,`) {
		t.Errorf("default layers on resnet50: %v", err)
	}
	dirs, err := runExperiment(t, `
stages:
  stim: {kind: extract-test-pixels, params: {size: 40}}
  net: {kind: model, params: {arch: resnet18, classes: 7}}
  acts:
    kind: extract
    inputs: {stimuli: stim, model: net}
    params: {layers: [layer3.1, conv1, layer4, avgpool], logits: true}
`)
	if err != nil {
		t.Fatal(err)
	}
	for tap, shape := range map[string]string{"conv1": "64,20,20", "layer3.1": "256,3,3", "layer4": "512,2,2", "avgpool": "512,1,1", "logits": "7,1,1"} {
		vals, cols, meta := readMatrix(t, filepath.Join(dirs["acts"], LayerFile(tap)))
		if meta["shape"] != shape || meta["arch"] != "resnet18" || meta["layer"] != tap || len(vals) != 5*cols {
			t.Errorf("%s: metadata %v, %d values of %d columns", tap, meta, len(vals), cols)
		}
		if !slices.ContainsFunc(vals, func(v float32) bool { return v != 0 }) {
			t.Errorf("%s: all zero", tap)
		}
	}
}

// TestCancel stops a direct Run between batches.
func TestCancel(t *testing.T) {
	dirs, err := runExperiment(t, fmt.Sprintf(`
stages:
  stim: {kind: extract-test-pixels, params: {size: 80, n: 9}}
  net:
    kind: model
    params: {arch: alexnet, init: checkpoint, weights: %q, widths: any}
`, abs(t, "alexnet.pt")))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := 0
	job := &stages.Job{
		Stage:  "acts",
		Params: &Params{Layers: []string{"conv1"}, Batch: 2},
		Inputs: map[string][]stages.Input{
			"stimuli": {{Stage: "stim", Dir: dirs["stim"]}},
			"model":   {{Stage: "net", Dir: dirs["net"]}},
		},
		OutDir:   t.TempDir(),
		Progress: pipelinetest.Progress{Add: func(n int64) { done += int(n); cancel() }},
		Logf:     t.Logf,
	}
	err = Kind{}.Run(ctx, job)
	if !errors.Is(err, context.Canceled) || done != 2 {
		t.Errorf("error %v after %d images, want context.Canceled after 2", err, done)
	}
	if ents, _ := os.ReadDir(job.OutDir); len(ents) != 0 {
		t.Errorf("%d files left behind", len(ents))
	}
	// Uncancelled, the same job works.
	job.OutDir = t.TempDir()
	job.Progress = pipelinetest.Progress{}
	if err := (Kind{}).Run(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	if _, _, meta := readMatrix(t, job.Output("conv1.arrow")); meta["shape"] != "4,19,19" {
		t.Errorf("conv1 metadata %v", meta)
	}
}

// TestDlibLayers extracts the face ResNet's (random twin's) stem, a stage
// and its embedding, which is a layer there, at 112 px (about the smallest
// input that keeps a pixel to conv256_down_out); logits: true is refused,
// as the network has none.
func TestDlibLayers(t *testing.T) {
	dirs, err := runExperiment(t, `
stages:
  stim: {kind: extract-test-pixels, params: {size: 112}}
  net: {kind: model, params: {arch: dlib_resnet29}}
  acts:
    kind: extract
    inputs: {stimuli: stim, model: net}
    params: {layers: [embedding, conv1, conv64]}
`)
	if err != nil {
		t.Fatal(err)
	}
	for tap, shape := range map[string]string{"conv1": "32,53,53", "conv64": "64,13,13", "embedding": "128,1,1"} {
		vals, cols, meta := readMatrix(t, filepath.Join(dirs["acts"], LayerFile(tap)))
		if meta["shape"] != shape || meta["arch"] != "dlib_resnet29" || meta["level"] != data.LevelUnit || len(vals) != 5*cols {
			t.Errorf("%s: metadata %v, %d values of %d columns", tap, meta, len(vals), cols)
		}
	}
	m, err := weights.Load(dirs["net"])
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := requestedTaps(m, &Params{Layers: []string{"conv1"}, Logits: true}); err == nil || !strings.Contains(err.Error(), "dlib_resnet29 has no logits") {
		t.Errorf("logits: true: %v", err)
	}
}

// TestModulePaths: a layer may be named by the torchvision module whose
// output it is, as thingsvision names layers: features.29 is VGG-16's
// conv13 after its ReLU, and its values are conv13's.
func TestModulePaths(t *testing.T) {
	exp := func(layers string) string {
		return `
stages:
  stim: {kind: extract-test-pixels, params: {size: 40}}
  net: {kind: model, params: {arch: vgg16, classes: 7}}
  acts:
    kind: extract
    inputs: {stimuli: stim, model: net}
    params: {layers: ` + layers + `}
`
	}
	byModule, err := runExperiment(t, exp("[features.29, features.3]"))
	if err != nil {
		t.Fatal(err)
	}
	byTap, err := runExperiment(t, exp("[conv13, conv2]"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tap := range []string{"conv13", "conv2"} {
		a, _, meta := readMatrix(t, filepath.Join(byModule["acts"], LayerFile(tap)))
		b, _, _ := readMatrix(t, filepath.Join(byTap["acts"], LayerFile(tap)))
		if meta["layer"] != tap || !slices.Equal(a, b) {
			t.Errorf("%s by module path: layer %q, values equal %v", tap, meta["layer"], slices.Equal(a, b))
		}
	}
	if _, err := runExperiment(t, exp("[features.30]")); err == nil || !strings.Contains(err.Error(), `vgg16 has no layer "features.30"`) {
		t.Errorf("features.30 (a max pool, no tap): %v", err)
	}
}
