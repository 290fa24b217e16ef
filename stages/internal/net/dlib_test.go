package net

import (
	"context"
	"encoding/binary"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"selectivity/stages/internal/checkpoint"
)

const (
	dlibManifest = "../../../models/face-recognition/face_recognition_model-weights_manifest.json"
	dlibFixtures = "../../../testdata/faceapi/"
)

// dlibPixel is testdata/faceapi/gen.mjs's pixel: image n at row y, column
// x, channel c, 0…255.
func dlibPixel(n, y, x, c int) int {
	return (x*(3+n) + y*(5+2*c) + ((x * y) >> (4 + n)) + 40*c) & 255
}

// dlibImages is gen.mjs's batch as Forward takes it: N×3×150×150, ToTensor's
// pixel/255.
func dlibImages(n int) []float32 {
	const s = 150
	b := make([]float32, n*3*s*s)
	for i := 0; i < n; i++ {
		for c := 0; c < 3; c++ {
			for y := 0; y < s; y++ {
				for x := 0; x < s; x++ {
					b[((i*3+c)*s+y)*s+x] = float32(dlibPixel(i, y, x, c)) / 255
				}
			}
		}
	}
	return b
}

func readF32(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

func loadDlib(t *testing.T) *Net {
	t.Helper()
	sd, err := checkpoint.Load(dlibManifest)
	if err != nil {
		t.Fatal(err)
	}
	tensors := make(map[string]Tensor, len(sd.Params))
	for k, v := range sd.Params {
		tensors[k] = Tensor(v)
	}
	params, err := FromTfjs("dlib_resnet29", tensors)
	if err != nil {
		t.Fatal(err)
	}
	nt, err := New("dlib_resnet29", params)
	if err != nil {
		t.Fatal(err)
	}
	return nt
}

// TestDlibParity runs face-api's weights on gen.mjs's three images and
// compares the stage taps conv64 and conv256 and the descriptors with
// tfjs's (testdata/faceapi/gen.mjs), image by image; then continues from
// tfjs's conv64 to the descriptors.
func TestDlibParity(t *testing.T) {
	const n = 3
	nt := loadDlib(t)
	taps := []string{"conv64", "conv256", "embedding"}
	got := map[string][]float32{}
	if err := nt.Forward(context.Background(), dlibImages(n), n, 150, 150, taps, collect(got)); err != nil {
		t.Fatal(err)
	}
	want := map[string][]float32{}
	for _, tap := range taps {
		want[tap] = readF32(t, dlibFixtures+tap+".f32")
		if len(got[tap]) != len(want[tap]) {
			t.Fatalf("%s: %d values, tfjs %d", tap, len(got[tap]), len(want[tap]))
		}
		per := len(want[tap]) / n
		for i := 0; i < n; i++ {
			if e := relErr(got[tap][i*per:(i+1)*per], want[tap][i*per:(i+1)*per]); !(e <= parityTol) {
				t.Errorf("%s, image %d: relative error %.3g", tap, i, e)
			} else {
				t.Logf("%s, image %d: relative error %.3g", tap, i, e)
			}
		}
	}
	cont := map[string][]float32{}
	if err := nt.ForwardFrom(context.Background(), "conv64", want["conv64"], n, 64, 17, 17, []string{"embedding"}, collect(cont)); err != nil {
		t.Fatal(err)
	}
	if e := relErr(cont["embedding"], want["embedding"]); !(e <= parityTol) {
		t.Errorf("embedding from tfjs's conv64: relative error %.3g", e)
	}
}

// TestDlibLayers checks the architecture's taps and shapes at 150 px
// against face-api's (72 → 35 → 17 → 8 → 4 → 2 px) and its 29
// convolutions.
func TestDlibLayers(t *testing.T) {
	a, err := Spec("dlib_resnet29")
	if err != nil {
		t.Fatal(err)
	}
	ls, err := a.Layers(150, 150)
	if err != nil {
		t.Fatal(err)
	}
	shapes := map[string][]int{}
	for _, l := range ls {
		shapes[l.Tap] = l.Shape
	}
	for tap, want := range map[string][]int{
		"conv1": {32, 72, 72}, "conv32_1": {32, 35, 35}, "conv32": {32, 35, 35}, "conv64_down": {64, 17, 17},
		"conv64": {64, 17, 17}, "conv128": {128, 8, 8}, "conv256_down": {256, 4, 4}, "conv256_2": {256, 4, 4},
		"conv256_down_out": {256, 2, 2}, "conv256": {256, 2, 2}, "avgpool": {256}, "embedding": {128},
	} {
		if !slices.Equal(shapes[tap], want) {
			t.Errorf("%s: shape %v, want %v", tap, shapes[tap], want)
		}
	}
	if len(ls) != 1+14+4+2 || ls[0].Module != "conv32_down" {
		t.Errorf("%d taps, first %+v", len(ls), ls[0])
	}
	convs := 0
	for _, p := range a.Params(128) {
		if strings.HasSuffix(p.Name, ".conv.weight") {
			convs++
		}
	}
	if convs != 29 {
		t.Errorf("%d convolutions, want 29", convs)
	}
}

// TestDlibRandom: the seeded untrained twin loads, is deterministic, its
// scale layers are the identity, and its descriptors are finite and differ
// between images.
func TestDlibRandom(t *testing.T) {
	p, err := RandomInit("dlib_resnet29", 128, 7)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := RandomInit("dlib_resnet29", 128, 7)
	if !slices.Equal(p["conv128_1.conv2.conv.weight"].Data, q["conv128_1.conv2.conv.weight"].Data) {
		t.Error("not deterministic")
	}
	if s := p["conv64_1.conv1.scale.weight"].Data; s[0] != 1 || s[63] != 1 {
		t.Errorf("scale weight %v", s[:2])
	}
	std := func(d []float32) (s float64) {
		for _, v := range d {
			s += float64(v) * float64(v)
		}
		return math.Sqrt(s / float64(len(d)))
	}
	for name, want := range map[string]float64{
		"conv256_1.conv1.conv.weight":  math.Sqrt(2.0 / (256 * 9)), // kaiming_normal_, fan_out
		"conv32_down.conv.weight":      math.Sqrt(2.0 / (32 * 49)),
		"fc.weight":                    1.0 / 16 / math.Sqrt(3), // U(−1/√256, 1/√256)
		"conv64_down.conv2.conv.bias":  0,
		"conv64_down.conv2.scale.bias": 0,
	} {
		if g := std(p[name].Data); math.Abs(g-want) > 0.02*want {
			t.Errorf("%s: RMS %.5g, want %.5g", name, g, want)
		}
	}
	nt, err := New("dlib_resnet29", p)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]float32{}
	if err := nt.Forward(context.Background(), dlibImages(2), 2, 150, 150, []string{"embedding"}, collect(got)); err != nil {
		t.Fatal(err)
	}
	e := got["embedding"]
	for _, v := range e {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("non-finite descriptor value %v", v)
		}
	}
	if slices.Equal(e[:128], e[128:]) {
		t.Error("two images give the same descriptor")
	}
}

// TestFromTfjsErrors: a tensor face-api's net lacks, a wrong rank and
// another architecture are errors naming them.
func TestFromTfjsErrors(t *testing.T) {
	for _, c := range []struct {
		arch    string
		tensors map[string]Tensor
		want    string
	}{
		{"dlib_resnet29", map[string]Tensor{"conv32_1/conv1/bn/gamma": {[]int{32}, make([]float32, 32)}}, `"conv32_1/conv1/bn/gamma"`},
		{"dlib_resnet29", map[string]Tensor{"conv32_1/conv1/conv/filters": {[]int{9, 32}, make([]float32, 288)}}, "want rank 4"},
		{"dlib_resnet29", map[string]Tensor{"fc": {[]int{256, 128}, make([]float32, 5)}}, "5 values"},
		{"resnet18", nil, "no tfjs layout"},
	} {
		if _, err := FromTfjs(c.arch, c.tensors); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one mentioning %s", c.tensors, err, c.want)
		}
	}
	nt := loadDlib(t)
	if nt.Classes() != 128 || nt.Taps()[len(nt.Taps())-1] != "embedding" {
		t.Errorf("classes %d, taps %v", nt.Classes(), nt.Taps())
	}
}
