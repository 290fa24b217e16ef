package model

import (
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"selectivity/stages"
	"selectivity/stages/internal/weights"
)

// TestDlibCheckpoint loads face-api's shipped tfjs weights through the
// model stage (init: checkpoint, the manifest as weights) and checks that
// the stored network gives tfjs's descriptors (testdata/faceapi/gen.mjs's
// first image); the random twin stores lean with 128 outputs; and a tfjs
// manifest for another architecture is refused.
func TestDlibCheckpoint(t *testing.T) {
	man := stages.Path(filepath.Join("..", "..", "models", "face-recognition", "face_recognition_model-weights_manifest.json"))
	dir, err := run(t, &Params{Epoch: -1, Arch: "dlib_resnet29", Init: "checkpoint", Weights: man, Widths: "standard"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := weights.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Meta["classes"] != "128" || m.Meta["source_format"] != "tfjs" || m.Meta["source"] != "face_recognition_model-weights_manifest.json" {
		t.Errorf("metadata %v", m.Meta)
	}
	const s = 150
	x := make([]float32, 3*s*s)
	for c := 0; c < 3; c++ {
		for y := 0; y < s; y++ {
			for xx := 0; xx < s; xx++ { // gen.mjs's pixel(0, y, x, c)
				x[(c*s+y)*s+xx] = float32((xx*3+y*(5+2*c)+((xx*y)>>4)+40*c)&255) / 255
			}
		}
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "faceapi", "embedding.f32"))
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float32, 128)
	for i := range want {
		want[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	err = m.Net.Forward(context.Background(), x, 1, s, s, []string{"embedding"}, func(_ string, data []float32, _, _, _ int) error {
		if e := relErr(data, want); !(e <= 1e-4) {
			t.Errorf("embedding: relative error %.3g", e)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if arch, layers, _ := weights.Layers(&Params{Arch: "dlib_resnet29"}); arch != "dlib_resnet29" || layers[len(layers)-1] != "embedding" {
		t.Errorf("Layers: %s %v", arch, layers)
	}

	rdir, err := run(t, &Params{Epoch: -1, Arch: "dlib_resnet29", Init: "random", Seed: 3, Widths: "standard"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := weights.Load(rdir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Meta["classes"] != "128" || r.Net.Classes() != 128 {
		t.Errorf("random twin: metadata %v, %d outputs", r.Meta, r.Net.Classes())
	}

	_, err = run(t, &Params{Epoch: -1, Arch: "resnet18", Init: "checkpoint", Weights: man, Widths: "standard"})
	if err == nil || !strings.Contains(err.Error(), "no tfjs layout") || !strings.Contains(err.Error(), "face_recognition_model-weights_manifest.json") {
		t.Errorf("tfjs weights as resnet18: %v", err)
	}
}
