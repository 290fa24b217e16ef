package net

import (
	"context"
	"math/rand/v2"
	"testing"
)

func randImages(seed uint64, n, h, w int) []float32 {
	rng := rand.New(rand.NewPCG(seed, 9))
	x := make([]float32, n*3*h*w)
	for i := range x {
		x[i] = float32(rng.Float64()*2 - 1)
	}
	return x
}

// TestVGG16FullSizeShapes runs the full-width VGG-16, randomly initialised
// in Go, at 64 px and checks every tap's shape (no PyTorch needed).
func TestVGG16FullSizeShapes(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates the 138M-parameter network")
	}
	params, err := RandomInit("vgg16", 1000, 1)
	if err != nil {
		t.Fatal(err)
	}
	nt, err := New("vgg16", params)
	if err != nil {
		t.Fatal(err)
	}
	const n = 2
	want := map[string][3]int{
		"conv1": {64, 64, 64}, "conv2": {64, 64, 64},
		"conv3": {128, 32, 32}, "conv4": {128, 32, 32},
		"conv5": {256, 16, 16}, "conv6": {256, 16, 16}, "conv7": {256, 16, 16},
		"conv8": {512, 8, 8}, "conv9": {512, 8, 8}, "conv10": {512, 8, 8},
		"conv11": {512, 4, 4}, "conv12": {512, 4, 4}, "conv13": {512, 4, 4},
		"fc6": {4096, 1, 1}, "fc7": {4096, 1, 1}, "logits": {1000, 1, 1},
	}
	var got []string
	err = nt.Forward(context.Background(), randImages(1, n, 64, 64), n, 64, 64, nt.Taps(), func(tap string, data []float32, c, h, w int) error {
		got = append(got, tap)
		if s := [3]int{c, h, w}; s != want[tap] {
			t.Errorf("%s: shape %v, want %v", tap, s, want[tap])
		}
		if len(data) != n*c*h*w {
			t.Errorf("%s: %d values for %d×%d×%d×%d", tap, len(data), n, c, h, w)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("taps delivered: %v", got)
	}
}
