package train_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"selectivity/cache/arrowfile"
	"selectivity/pipeline/pipelinetest"
	"selectivity/stages/internal/checkpoint"
	"selectivity/stages/internal/data"
	"selectivity/stages/internal/net"
	"selectivity/stages/internal/weights"
	"selectivity/stages/train"

	_ "selectivity/stages/lesion"
	_ "selectivity/stages/stimuli"
)

// experiment trains a tiny VGG-16 (width ÷ 16, 32 px) on three synthetic
// identities and two object categories, loads its last and its epoch-0
// weights through model stages, and lesions the trained one's conv13 on its
// own identities, labelled through the network's class names.
const experiment = `
name: train
stages:
  ids:
    kind: stimuli
    params: {source: synthetic, identities: 3, images_per_identity: 8, image_size: 40, resize: 36, crop: 36, seed: 2}
  objs:
    kind: stimuli
    params: {source: synthetic, categories: [car, house], domains: {objects: [car], places: [house]}, per_category: 8, image_size: 40, resize: 36, crop: 36, seed: 2}
  val-ids:
    kind: stimuli
    params: {source: synthetic, identities: 3, images_per_identity: 2, image_size: 40, resize: 36, crop: 32, seed: 2}
  val-objs:
    kind: stimuli
    params: {source: synthetic, categories: [car, house], domains: {objects: [car], places: [house]}, per_category: 2, image_size: 40, resize: 36, crop: 32, seed: 2}
  net:
    kind: train
    inputs: {identities: ids, objects: objs, val_identities: val-ids, val_objects: val-objs}
    params: {width: 8, hidden: 64, size: 32, epochs: 20, batch: 8, lr: 0.02, warmup: 1, save: [2], seed: 5}
  trained:
    kind: model
    inputs: {train: net}
    params: {init: train}
  untrained:
    kind: model
    inputs: {train: net}
    params: {init: train, epoch: 0}
  lesion:
    kind: lesion
    inputs: {model: trained, stimuli: val-ids}
    params: {class_from: model}
`

func TestTrainPipeline(t *testing.T) {
	exp := pipelinetest.Experiment(t, experiment)
	res := pipelinetest.MustRun(t, exp, pipelinetest.Options{})
	dir := res.Dirs["net"]
	for _, e := range []int{0, 2, 20} {
		if _, err := os.Stat(filepath.Join(dir, checkpoint.EpochFile(e))); err != nil {
			t.Errorf("epoch %d not saved: %v", e, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, checkpoint.EpochFile(1))); err == nil {
		t.Error("epoch 1 saved, though not asked for")
	}

	r, err := arrowfile.Open(filepath.Join(dir, data.CurveFile))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	col := func(name string) []float64 {
		v, err := arrowfile.Float64Column(r, name)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	loss, faceLoss, faceAcc, lr := col("train_loss"), col("face_loss"), col("face_acc"), col("lr")
	if len(loss) != 21 {
		t.Fatalf("%d curve rows, want 21 (epochs 0…20)", len(loss))
	}
	if !math.IsNaN(loss[0]) || !math.IsNaN(lr[0]) {
		t.Errorf("epoch 0 has train loss %v, lr %v; want NaN", loss[0], lr[0])
	}
	// Before training the five outputs are near uniform: loss ≈ ln 5.
	if math.Abs(faceLoss[0]-math.Log(5)) > 0.1 {
		t.Errorf("untrained held-out loss %v, want ≈ ln 5 = %v", faceLoss[0], math.Log(5))
	}
	if !(loss[20] < 0.5*loss[1]) || !(faceLoss[20] < faceLoss[0]) {
		t.Errorf("training loss did not fall: %v", loss)
	}
	if lr[1] != 0.02 || !(lr[20] < lr[2]) {
		t.Errorf("learning rates %v: want warm-up to 0.02, then cosine decay", lr)
	}
	for _, a := range faceAcc {
		if a < 0 || a > 1 {
			t.Errorf("face accuracy %v", a)
		}
	}
	if v, _ := arrowfile.Meta(r.Schema(), data.CurveFaceChance); v != "0.3333333333333333" {
		t.Errorf("face_chance %q", v)
	}

	// The model stage loads epoch 0 as exactly the seeded initialisation,
	// and the trained weights with their output names.
	m0, err := weights.Load(res.Dirs["untrained"])
	if err != nil {
		t.Fatal(err)
	}
	defer m0.Close()
	if m0.Meta["epoch"] != "0" || m0.Meta["init"] != "train" {
		t.Errorf("epoch-0 model metadata %v", m0.Meta)
	}
	m, err := weights.Load(res.Dirs["trained"])
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	names, err := m.ClassNames()
	if err != nil || !slices.Equal(names, []string{"id001", "id002", "id003", "car", "house"}) {
		t.Errorf("class names %v, %v", names, err)
	}
	if m.Meta["epoch"] != "20" || m.Classes() != 5 {
		t.Errorf("trained model: epoch %s, %d classes", m.Meta["epoch"], m.Classes())
	}
	want0, err := net.FanInInit(m0.Net.Arch(), 5)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := checkpoint.Load(filepath.Join(dir, checkpoint.EpochFile(0)))
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range want0 {
		if !slices.Equal(sd.Params[name].Data, w.Data) {
			t.Errorf("epoch 0 %s differs from FanInInit", name)
		}
	}
	if res.States["lesion"] != "ran" {
		t.Errorf("lesion %s", res.States["lesion"])
	}
}

// shortExperiment is experiment trained for 2 epochs, saving only the last.
func shortExperiment() string {
	short := strings.Replace(experiment, "epochs: 20", "epochs: 2", 1)
	return strings.Replace(short, "save: [2], ", "", 1)
}

// TestTrainDeterministic: the same experiment on one and on two cores
// gives the same bytes.
func TestTrainDeterministic(t *testing.T) {
	short := shortExperiment()
	weights := func(procs int) []byte {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		res := pipelinetest.MustRun(t, pipelinetest.Experiment(t, short), pipelinetest.Options{Jobs: 1})
		b, err := os.ReadFile(filepath.Join(res.Dirs["net"], checkpoint.EpochFile(2)))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if !bytes.Equal(weights(1), weights(2)) {
		t.Error("weights trained on 1 and on 2 cores differ")
	}
}

// TestTrainBadInputs: inputs that cannot be trained on are errors naming
// the slot and the stage.
func TestTrainBadInputs(t *testing.T) {
	for _, tc := range []struct {
		name, from, to, want string
	}{
		{"category set as identities", "inputs: {identities: ids, objects: objs, val_identities: val-ids, val_objects: val-objs}",
			"inputs: {identities: objs}", "identities objs: images without an identity"},
		{"images smaller than size", "size: 32,", "size: 40,", "identities ids: images are stored at 36 px, smaller than size 40"},
		{"held-out identity never trained", "identities: 3, images_per_identity: 2,", "identities: 4, images_per_identity: 2,", `val_identities val-ids: names not among the trained ones: "id004"`},
		{"fewer images than a batch", "batch: 8,", "batch: 64,", "40 training images, fewer than one batch of 64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Replace(experiment, tc.from, tc.to, 1)
			if text == experiment {
				t.Fatalf("%q not in the experiment", tc.from)
			}
			_, err := pipelinetest.Run(t, pipelinetest.Experiment(t, text), pipelinetest.Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestTrainWiring: the kinds around train say at validation what they
// read, so a model stage fed by a stimuli stage, or a train stage fed by a
// model, is an error at the line before anything runs.
func TestTrainWiring(t *testing.T) {
	for from, to := range map[string]string{
		"inputs: {train: net}\n    params: {init: train}\n": "inputs: {train: ids}\n    params: {init: train}\n",
		"inputs: {identities: ids,":                         "inputs: {identities: untrained-src,",
	} {
		text := strings.Replace(experiment, from, to, 1)
		if text == experiment {
			t.Fatalf("%q not in the experiment", from)
		}
		text += "  untrained-src:\n    kind: model\n    params: {init: random, seed: 1}\n"
		res, err := pipelinetest.Run(t, pipelinetest.Experiment(t, text), pipelinetest.Options{})
		if err == nil || res != nil || !strings.Contains(err.Error(), "exp.yaml:") || !strings.Contains(err.Error(), "reads") {
			t.Errorf("%s: got %v, want a validation error naming what the slot reads, at a line of exp.yaml", to, err)
		}
	}
}

// pinned are the SHA-256 sums of TestTrainDeterministic's epoch-2 weights
// per convolution kernel path, with the train kind's Version: a change of
// the training's results must come with a Version bump (and new sums).
// (SELECTIVITY_NET_KERNEL=avx2 or generic forces the other paths).
var pinned = map[string]string{
	"1/avx512":  "316d03357b6cd57814157804dabc1b6591c55a5f5b152908c49e150a1967b6f8",
	"1/avx2":    "7011249d8b499fa71d944f6fc7d6602f5114cbdc1794f5fa1545078ed9b6f589",
	"1/generic": "0403055e49130582827ae0612f7344f397c6157803ff5b75330c4ffc525717e2",
}

// TestTrainPinned: the tiny training run gives the recorded bytes on this
// kernel path, so results cannot change under an unchanged Version.
func TestTrainPinned(t *testing.T) {
	res := pipelinetest.MustRun(t, pipelinetest.Experiment(t, shortExperiment()), pipelinetest.Options{Jobs: 1})
	b, err := os.ReadFile(filepath.Join(res.Dirs["net"], checkpoint.EpochFile(2)))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	got := hex.EncodeToString(sum[:])
	key := (train.Kind{}).Version() + "/" + net.Kernel()
	want, ok := pinned[key]
	if !ok {
		t.Skipf("no sum recorded for version/kernel %s (this run: %s)", key, got)
	}
	if got != want {
		t.Errorf("version/kernel %s: the weights' SHA-256 is %s, recorded %s: bump the train kind's Version if its results changed, and record the new sum", key, got, want)
	}
}
