package model_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"selectivity/pipeline"
	"selectivity/pipeline/digest"
	"selectivity/pipeline/pipelinetest"

	_ "selectivity/stages/model"
)

// TestShardsInKey: a TensorFlow.js manifest's weight shard enters the
// model stage's key by content, as the manifest does, so changing a shard
// under an unchanged manifest reruns the stage.
func TestShardsInKey(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"face_recognition_model-weights_manifest.json", "face_recognition_model.bin"} {
		b, err := os.ReadFile(filepath.Join("../../models/face-recognition", name))
		if err != nil {
			t.Fatal(err)
		}
		pipelinetest.Write(t, dir, name, string(b))
	}
	exp := pipelinetest.Write(t, dir, "exp.yaml", `
stages:
  net:
    kind: model
    params: {arch: dlib_resnet29, init: checkpoint, weights: face_recognition_model-weights_manifest.json}
`)
	plan := func() *pipeline.Node {
		t.Helper()
		e, err := pipeline.Load(exp, pipeline.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		h, err := digest.New(filepath.Join(t.TempDir(), "state.json"))
		if err != nil {
			t.Fatal(err)
		}
		p, err := pipeline.NewPlan(e, h)
		if err != nil {
			t.Fatal(err)
		}
		return p.Node("net")
	}
	before := plan()
	var listed bool
	for _, f := range before.Params.Files {
		listed = listed || strings.HasSuffix(f.Path, "face_recognition_model.bin")
	}
	if !listed {
		t.Errorf("the shard is not among the stage's input files: %+v", before.Params.Files)
	}
	bin := filepath.Join(dir, "face_recognition_model.bin")
	b, _ := os.ReadFile(bin)
	b[len(b)/2] ^= 1
	if err := os.WriteFile(bin, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if after := plan(); after.Key == before.Key {
		t.Error("a changed shard left the model stage's key unchanged")
	}
}
