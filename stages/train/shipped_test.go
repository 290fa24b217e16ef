package train_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"selectivity/cache/arrowfile"
	"selectivity/pipeline/pipelinetest"
	"selectivity/stages/internal/data"
	"selectivity/stages/internal/stats"
	"selectivity/stages/internal/weights"

	_ "selectivity/stages/extract"
)

// shipped scores the networks in models/ on held-out images of their
// trained identities (images 40–44 of identities 0–99, as
// configs/train.yaml scores them), as the quickstart loads them.
const shipped = `
name: shipped
stages:
  faces:
    kind: stimuli
    params: {source: synthetic, identities: 100, first_image: 40, images_per_identity: 5, image_size: 80, resize: 72, crop: 64, seed: 1}
  net:
    kind: model
    matrix: {net: [trained, untrained]}
    params: {init: checkpoint, widths: any, weights: "MODELS/dual-vgg16w8-${matrix.net}.safetensors"}
  logits:
    kind: extract
    matrix: {net: [trained, untrained]}
    inputs: {stimuli: faces, model: "net@${matrix.net}"}
    params: {layers: [], logits: true}
`

// TestShippedNetwork checks what models/README.md says of the shipped
// networks: their SHA-256, and held-out face-identity accuracy far above
// chance (1 %) when trained and at chance at epoch 0.
func TestShippedNetwork(t *testing.T) {
	models, err := filepath.Abs("../../models")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(models, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, net := range []string{"trained", "untrained"} {
		name := "dual-vgg16w8-" + net + ".safetensors"
		b, err := os.ReadFile(filepath.Join(models, name))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		row := regexp.MustCompile("`" + regexp.QuoteMeta(name) + "` .*`([0-9a-f]{64})`").FindSubmatch(readme)
		if row == nil || string(row[1]) != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: SHA-256 %x is not the one models/README.md gives (%q)", name, sum, row)
		}
	}

	exp := pipelinetest.Experiment(t, strings.ReplaceAll(shipped, "MODELS", models))
	res := pipelinetest.MustRun(t, exp, pipelinetest.Options{})
	for net, bounds := range map[string][2]float64{"trained": {0.9, 1}, "untrained": {0, 0.05}} {
		m, err := weights.Load(res.Dirs["net@"+net])
		if err != nil {
			t.Fatal(err)
		}
		names, err := m.ClassNames()
		m.Close()
		if err != nil || len(names) != 112 {
			t.Fatalf("%s: %d class names, %v", net, len(names), err)
		}
		index := map[string]int{}
		for k, n := range names {
			index[n] = k
		}
		tab, err := data.ReadImages(filepath.Join(res.Dirs["logits@"+net], data.ImagesFile))
		if err != nil {
			t.Fatal(err)
		}
		labels := make([]int, tab.Len())
		for i, id := range tab.Identity {
			labels[i] = index[id]
		}
		r, err := arrowfile.Open(filepath.Join(res.Dirs["logits@"+net], "logits.arrow"))
		if err != nil {
			t.Fatal(err)
		}
		var logits []float32
		err = arrowfile.ReadMatrixRows(r, func(_ int, v []float32) error { logits = append(logits, v...); return nil })
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		_, correct := stats.CrossEntropy(logits, labels, len(names))
		acc := float64(correct) / float64(len(labels))
		if acc < bounds[0] || acc > bounds[1] {
			t.Errorf("%s network: held-out face accuracy %.3f, want within %v", net, acc, bounds)
		}
		t.Logf("%s network: held-out face accuracy %.3f (chance 0.01)", net, acc)
	}
}
