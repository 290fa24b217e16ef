package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestLayersCommand lists taps, modules and shapes, and refuses unknown
// architectures and inputs too small for the network.
func TestLayersCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := cli([]string{"layers", "resnet50", "--size", "64", "--classes", "5"}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	// Header, column titles, conv1, 16 blocks, 4 stages, avgpool, logits.
	if len(lines) != 2+1+16+4+2 || lines[0] != "resnet50, 64×64 input, 5 classes" {
		t.Fatalf("output:\n%s", out.String())
	}
	for _, want := range [][]string{
		{"LAYER", "MODULE", "SHAPE"}, {"conv1", "relu", "64×32×32"}, {"layer3.5", "layer3.5", "1024×4×4"},
		{"layer4", "layer4", "2048×2×2"}, {"avgpool", "avgpool", "2048"}, {"logits", "fc", "5"},
	} {
		found := false
		for _, l := range lines {
			found = found || strings.Join(strings.Fields(l), " ") == strings.Join(want, " ")
		}
		if !found {
			t.Errorf("no line %q in:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := cli([]string{"layers", "vgg16"}, &out, &errb); code != exitOK || !strings.Contains(out.String(), "conv13  features.29   512×14×14") {
		t.Errorf("vgg16: exit %d\n%s", code, out.String())
	}
	out.Reset()
	if code := cli([]string{"layers", "dlib_resnet29", "--size", "150"}, &out, &errb); code != exitOK ||
		!strings.Contains(out.String(), "128 classes") || !strings.Contains(out.String(), "conv256_down_out  conv256_down_out  256×2×2") ||
		!strings.Contains(out.String(), "embedding         fc                128") {
		t.Errorf("dlib_resnet29: exit %d\n%s", code, out.String())
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"layers", "resnet101"}, `unknown architecture "resnet101"`},
		{[]string{"layers", "vgg16", "--size", "16"}, "a 16×16 input is too small for vgg16"},
		{[]string{"layers"}, "layers takes one architecture: alexnet, dlib_resnet29, resnet18"},
		{[]string{"layers", "alexnet", "--classes", "0"}, "--classes 0: must be ≥ 1"},
	} {
		errb.Reset()
		if code := cli(tc.args, &out, &errb); code != exitBadFile || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: exit %d, %q; want %q", tc.args, code, errb.String(), tc.want)
		}
	}
}
