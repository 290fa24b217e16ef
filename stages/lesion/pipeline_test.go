package lesion_test

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"

	"selectivity/cache/arrowfile"
	"selectivity/pipeline"
	"selectivity/pipeline/pipelinetest"

	_ "selectivity/stages/aggregate"
	_ "selectivity/stages/correlate"
	_ "selectivity/stages/decode"
	_ "selectivity/stages/extract"
	_ "selectivity/stages/lesion"
	_ "selectivity/stages/metric"
	_ "selectivity/stages/model"
	_ "selectivity/stages/stimuli"
)

// experiment is the study's behavioural-relevance analyses on synthetic
// data, end to end: a (reduced-width) VGG-16, synthetic fLOC-like category
// images for the metrics, a synthetic identity set for decoding and
// lesioning; conv13 lesion effects correlated with each metric (Fig. 1d)
// and the decoding table (Fig. 1e).
const experiment = `
name: behaviour
stages:
  cats:
    kind: stimuli
    params: {source: synthetic, per_category: 4, image_size: 48, resize: 40, crop: 40, seed: 3}
  ids:
    kind: stimuli
    params: {source: synthetic, identities: 6, images_per_identity: 4, image_size: 48, resize: 40, crop: 40, seed: 4}
  net:
    kind: model
    params: {arch: vgg16, init: checkpoint, weights: CHECKPOINT, widths: any}
  acts_cats:
    kind: extract
    inputs: {stimuli: cats, model: net}
    params: {layers: [conv13]}
  acts_ids:
    kind: extract
    inputs: {stimuli: ids, model: net}
    params: {layers: [conv13]}
  k_cats:
    kind: aggregate
    inputs: {acts: acts_cats}
    params: {method: l2}
  k_ids:
    kind: aggregate
    inputs: {acts: acts_ids}
    params: {method: l2}
  sel:
    kind: metric
    inputs: {acts: k_cats}
  les:
    kind: lesion
    inputs: {model: net, stimuli: ids}
    params: {class_from: order, greedy: true, greedy_steps: 2, group_size: 2}
  fig1d_fsi:
    kind: correlate
    inputs: {x: sel, y: les}
    params: {mode: values, x_column: fsi, y_column: loss_increase, layer: conv13}
  fig1d_dprime:
    kind: correlate
    inputs: {x: sel, y: les}
    params: {mode: values, x_column: dprime, y_column: loss_increase, layer: conv13}
  fig1e:
    kind: decode
    inputs: {features: k_ids, metrics: sel}
    params: {top_n: 8, random_draws: 3, seed: 5}
`

func TestBehaviourExperiment(t *testing.T) {
	ckpt, err := filepath.Abs(filepath.Join("..", "..", "testdata", "extract", "vgg16.pth.tar"))
	if err != nil {
		t.Fatal(err)
	}
	file := pipelinetest.Experiment(t, strings.Replace(experiment, "CHECKPOINT", ckpt, 1))
	dirs := pipelinetest.MustRun(t, file, pipelinetest.Options{}).Dirs

	// Fig. 1d: one Spearman ρ per metric, over the 32 kernels.
	for _, st := range []string{"fig1d_fsi", "fig1d_dprime"} {
		r, err := arrowfile.Open(filepath.Join(dirs[st], "spearman.arrow"))
		if err != nil {
			t.Fatal(err)
		}
		rec, err := r.Record(0)
		if err != nil {
			t.Fatal(err)
		}
		idx := rec.Schema().FieldIndices("rho")
		nidx := rec.Schema().FieldIndices("n")
		rho := rec.Column(idx[0]).(*array.Float64).Value(0)
		n := rec.Column(nidx[0]).(*array.Int64).Value(0)
		t.Logf("%s: rho %.3f over %d kernels", st, rho, n)
		if n != 32 || math.IsNaN(rho) || math.Abs(rho) > 1 {
			t.Errorf("%s: rho %v n %d", st, rho, n)
		}
		rec.Release()
		r.Close()
	}
	// Fig. 1e: the decoding table.
	r, err := arrowfile.Open(filepath.Join(dirs["fig1e"], "decoding.arrow"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rec, err := r.Record(0)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	sets := rec.Column(0).(*array.String)
	mean := rec.Column(rec.Schema().FieldIndices("mean")[0]).(*array.Float64)
	lo := rec.Column(rec.Schema().FieldIndices("ci_low")[0]).(*array.Float64)
	hi := rec.Column(rec.Schema().FieldIndices("ci_high")[0]).(*array.Float64)
	chance := rec.Column(rec.Schema().FieldIndices("chance")[0]).(*array.Float64)
	var names []string
	for i := range sets.Len() {
		names = append(names, sets.Value(i))
		t.Logf("%-8s mean %.3f  CI [%.3f, %.3f]  chance %.3f", sets.Value(i), mean.Value(i), lo.Value(i), hi.Value(i), chance.Value(i))
		if !(lo.Value(i) <= mean.Value(i) && mean.Value(i) <= hi.Value(i)) || math.Abs(chance.Value(i)-1.0/6) > 1e-15 {
			t.Errorf("row %d inconsistent", i)
		}
	}
	if strings.Join(names, ",") != "fsi,dprime,wilcoxon,ttest,random,all" {
		t.Errorf("sets %v", names)
	}
	for _, f := range []string{"conv13.arrow", "greedy.arrow"} {
		if _, err := os.Stat(filepath.Join(dirs["les"], f)); err != nil {
			t.Error(err)
		}
	}
}

// TestLayerCheckedAgainstModel: a layer the model stage's architecture
// lacks is refused when the experiment is loaded.
func TestLayerCheckedAgainstModel(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "exp.yaml")
	os.WriteFile(file, []byte(`
stages:
  ids:
    kind: stimuli
    params: {source: synthetic, identities: 2, images_per_identity: 2}
  net: {kind: model, params: {arch: resnet34}}
  les:
    kind: lesion
    inputs: {model: net, stimuli: ids}
    params: {class_from: order}
`), 0o644)
	_, err := pipeline.Load(file, pipeline.LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), `params.layer: resnet34 has no layer "conv13"; its layers: conv1, layer1.0`) {
		t.Errorf("conv13 on resnet34: %v", err)
	}
	b, _ := os.ReadFile(file)
	dlib := strings.Replace(string(b), "arch: resnet34", "arch: dlib_resnet29", 1)
	os.WriteFile(file, []byte(strings.Replace(dlib, "params: {class_from: order}", "params: {layer: conv256, class_map: map.json}", 1)), 0o644)
	os.WriteFile(filepath.Join(dir, "map.json"), []byte(`{"id001": 0, "id002": 1}`), 0o644)
	_, err = pipeline.Load(file, pipeline.LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), `params.class_from: dlib_resnet29 has no classification head (its last layer is the embedding): its task is the nearest identity centroid`) {
		t.Errorf("an embedding network with a class map: %v", err)
	}
}

// TestLesionFaceEmbedding: the shipped dlib face ResNet, which has no
// classification head, is lesioned on the nearest-centroid task of its own
// embeddings: intact it names almost every synthetic identity, and some
// conv256 kernel hurts that when silenced.
func TestLesionFaceEmbedding(t *testing.T) {
	models, err := filepath.Abs("../../models/face-recognition")
	if err != nil {
		t.Fatal(err)
	}
	exp := pipelinetest.Experiment(t, `
stages:
  ids:
    kind: stimuli
    params: {source: synthetic, identities: 8, images_per_identity: 3, image_size: 160, resize: 150, crop: 150, normalize: none, seed: 2}
  net:
    kind: model
    params: {arch: dlib_resnet29, init: checkpoint, weights: `+models+`/face_recognition_model-weights_manifest.json}
  held-out:
    kind: stimuli
    params: {source: synthetic, identities: 8, first_image: 3, images_per_identity: 2, image_size: 160, resize: 150, crop: 150, normalize: none, seed: 2}
  les:
    kind: lesion
    inputs: {model: net, stimuli: ids, centroid_stimuli: held-out}
    params: {layer: conv256, class_from: order}
`)
	res := pipelinetest.MustRun(t, exp, pipelinetest.Options{})
	r, err := arrowfile.Open(filepath.Join(res.Dirs["les"], "conv256.arrow"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	inc, err := arrowfile.Float64Column(r, "loss_increase")
	if err != nil {
		t.Fatal(err)
	}
	if len(inc) != 256 {
		t.Fatalf("%d kernels, want 256", len(inc))
	}
	acc, _ := arrowfile.Meta(r.Schema(), "intact_accuracy")
	path, _ := arrowfile.Meta(r.Schema(), "path")
	labels, _ := arrowfile.Meta(r.Schema(), "labels")
	if a, _ := strconv.ParseFloat(acc, 64); a < 0.75 {
		t.Errorf("intact accuracy %s on the held-out images' centroids, want ≥ 0.75 (chance 1/8)", acc)
	}
	t.Logf("intact nearest-centroid accuracy %s", acc)
	if path != "forward_from, nearest centroid" || !strings.Contains(labels, "nearest centroid of held-out images of ids (cosine × 10)") {
		t.Errorf("path %q, labels %q", path, labels)
	}
	if m := slices.Max(inc); !(m > 0) {
		t.Errorf("no kernel raises the loss (largest increase %v)", m)
	}
}

// TestCentroidStimuliErrors: held-out centroid images of identities the
// task lacks, or for a network that has a classification head, are errors.
func TestCentroidStimuliErrors(t *testing.T) {
	models, err := filepath.Abs("../../models/face-recognition")
	if err != nil {
		t.Fatal(err)
	}
	const base = `
stages:
  ids:
    kind: stimuli
    params: {source: synthetic, identities: 3, images_per_identity: 2, image_size: 160, resize: 150, crop: 150, normalize: none}
  other:
    kind: stimuli
    params: {source: synthetic, identities: 3, first_identity: 2, images_per_identity: 2, image_size: 160, resize: 150, crop: 150, normalize: none}
  net:
    kind: model
    params: {arch: dlib_resnet29, init: checkpoint, weights: MODELS/face_recognition_model-weights_manifest.json}
  les:
    kind: lesion
    inputs: {model: net, stimuli: ids, centroid_stimuli: other}
    params: {layer: conv256, class_from: order}
`
	for name, tc := range map[string]struct{ from, to, want string }{
		"unknown identities": {"", "", `centroid_stimuli other: "id004", "id005" not among the task's (ids)`},
		"a classifier":       {"params: {arch: dlib_resnet29, init: checkpoint, weights: MODELS/face_recognition_model-weights_manifest.json}", "params: {arch: resnet18, classes: 3}", "centroid_stimuli is for networks without a classification head; resnet18 has one"},
	} {
		text := strings.ReplaceAll(base, "MODELS", models)
		if tc.from != "" {
			text = strings.Replace(text, strings.ReplaceAll(tc.from, "MODELS", models), tc.to, 1)
			text = strings.Replace(text, "layer: conv256", "layer: layer4", 1)
		}
		_, err := pipelinetest.Run(t, pipelinetest.Experiment(t, text), pipelinetest.Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}
