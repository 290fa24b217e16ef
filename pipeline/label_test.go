package pipeline

import (
	"strings"
	"testing"
)

// TestLabels: label: takes references like params, names the stage for
// the stages reading it (and so enters their keys), and leaves the keys of
// unlabelled inputs as they were.
func TestLabels(t *testing.T) {
	dir := t.TempDir()
	const base = `
stages:
  a:
    kind: test-source
    matrix: {v: [2, 3]}
    params: {value: "${matrix.v}"}
  s:
    kind: test-sum
    inputs: {in: a}
`
	file := write(t, dir, "exp.yaml", base)
	p0, _ := plan(t, file)
	labelled := strings.Replace(base, "    matrix: {v: [2, 3]}\n", "    label: \"value ${matrix.v}\"\n    matrix: {v: [2, 3]}\n", 1)
	write(t, dir, "exp.yaml", labelled)
	p1, _ := plan(t, file)
	if got := p1.Node("a@2").Stage.Label; got != "value 2" {
		t.Errorf("label of a@2: %q, want %q", got, "value 2")
	}
	if p0.Node("a@3").Key != p1.Node("a@3").Key {
		t.Error("a label changed its own stage's key")
	}
	if p0.Node("s").Key == p1.Node("s").Key {
		t.Error("the labels of s's inputs did not change its key")
	}
	if _, err := Load(write(t, dir, "bad.yaml", strings.Replace(base, "  s:\n", "  s:\n    label: [x]\n", 1)), LoadOptions{}); err == nil || !strings.Contains(err.Error(), "bad.yaml:8:12: label: want text") {
		t.Errorf("a list as label: %v", err)
	}
}
