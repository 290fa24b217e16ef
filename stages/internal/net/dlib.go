package net

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// dlib_resnet29 is dlib's face recognition ResNet (Davis E. King,
// dlib_face_recognition_resnet_model_v1: 29 convolutions, trained with a
// metric loss on about 3 M faces of 7,485 identities) as face-api (1.7.15,
// src/faceRecognitionNet) runs it, a ResNet (see ResNet) with:
//
//   - input 150×150 RGB; face-api computes (pixel − mean)/255 with mean =
//     (122.782, 117.001, 104.298), so Forward takes ToTensor's [0, 1] values
//     (the stimuli stage's normalize: none) and subtracts mean/255, folded
//     into the stem's bias (InputMean);
//   - stem conv1: 7×7 convolution of 32 channels, stride 2, no padding
//     ('valid'), with bias, a scale layer (y = x·weight + bias: dlib's
//     affine, its folded batch norm) and ReLU, then 3×3 max pooling of
//     stride 2 without padding (150 px → 72 → 35);
//   - 14 residual blocks, each two 3×3 convolutions with bias and scale
//     layer, ReLU after the first, ReLU(F(x) + shortcut) at the end: stage
//     conv32 (conv32_1…3), conv64 (conv64_down, conv64_1…3), conv128
//     (conv128_down, conv128_1, 2) and conv256 (conv256_down, conv256_1, 2,
//     conv256_down_out); a *_down block's first convolution has stride 2 and
//     no padding, its shortcut is the 2×2/2 average pooling with zero
//     channels appended (Block.PoolDown), the others pad 1 and keep the
//     input as shortcut (35 → 17 → 8 → 4 → 2 px);
//   - avgpool, the global mean (256 values), and embedding, the 256→128
//     linear layer without bias: the face descriptor (face-api compares
//     descriptors by Euclidean distance, 0.6 the same-identity threshold).
//
// Parameter names are face-api's tensor names with dots for slashes and
// torch's conventions (FromTfjs converts): "conv64_1.conv2.conv.weight"
// (out × in × 3 × 3), ".conv.bias", ".scale.weight", ".scale.bias", and
// "fc.weight" (128 × 256). Taps: conv1, every block, every stage (its last
// block's values), avgpool and embedding.
func dlibSpec() *Arch {
	r := &ResNet{
		Stem: Conv{Tap: "conv1", Prefix: "conv32_down.conv", Scale: "conv32_down.scale",
			In: 3, Out: 32, Kernel: 7, Stride: 2, Pool: 3, PoolStride: 2},
		StemModule: "conv32_down",
		InputMean:  [3]float64{122.782 / 255, 117.001 / 255, 104.298 / 255},
		FC:         Linear{Tap: "embedding", Prefix: "fc", In: 256, Out: 128, NoBias: true},
	}
	in := 32
	for _, st := range []struct {
		width  int
		blocks []string
	}{
		{32, []string{"conv32_1", "conv32_2", "conv32_3"}},
		{64, []string{"conv64_down", "conv64_1", "conv64_2", "conv64_3"}},
		{128, []string{"conv128_down", "conv128_1", "conv128_2"}},
		{256, []string{"conv256_down", "conv256_1", "conv256_2", "conv256_down_out"}},
	} {
		for _, name := range st.blocks {
			down := strings.Contains(name, "_down")
			conv := func(i, cin, stride, pad int) Conv {
				m := fmt.Sprintf("%s.conv%d", name, i)
				return Conv{Tap: m, Prefix: m + ".conv", Scale: m + ".scale", In: cin, Out: st.width, Kernel: 3, Stride: stride, Pad: pad}
			}
			c1 := conv(1, in, 1, 1)
			if down {
				c1 = conv(1, in, 2, 0)
			}
			r.Blocks = append(r.Blocks, Block{Tap: name, Stage: fmt.Sprintf("conv%d", st.width),
				Convs: []Conv{c1, conv(2, st.width, 1, 1)}, PoolDown: down})
			in = st.width
		}
	}
	return &Arch{Name: "dlib_resnet29", Res: r}
}

// FromTfjs converts the tensors of face-api's tfjs weights manifest of
// arch (only dlib_resnet29 comes as tfjs) to the network's parameters:
// "P/conv/filters" of shape [h, w, in, out] becomes "P.conv.weight"
// [out, in, h, w], "P/conv/bias" "P.conv.bias", "P/scale/weights" and
// "P/scale/biases" "P.scale.weight" and "P.scale.bias" (P with dots for
// slashes), and "fc" [in, out] "fc.weight" [out, in]. A tensor of another
// name or rank is an error naming it.
func FromTfjs(arch string, tensors map[string]Tensor) (map[string]Tensor, error) {
	if arch != "dlib_resnet29" {
		return nil, fmt.Errorf("net: %s has no tfjs layout (tfjs weights are read for dlib_resnet29)", arch)
	}
	out := make(map[string]Tensor, len(tensors))
	for _, name := range slices.Sorted(maps.Keys(tensors)) {
		t := tensors[name]
		rank := func(r int) error {
			if len(t.Shape) != r {
				return fmt.Errorf("net: tfjs tensor %q has shape %v, want rank %d", name, t.Shape, r)
			}
			if n, ok := Numel(t.Shape); !ok || n != len(t.Data) {
				return fmt.Errorf("net: tfjs tensor %q has %d values for shape %v", name, len(t.Data), t.Shape)
			}
			return nil
		}
		p, suffix := name, ""
		if i := strings.LastIndexByte(name, '/'); i >= 0 {
			p, suffix = strings.ReplaceAll(name[:i], "/", "."), name[i+1:]
		}
		switch {
		case name == "fc":
			if err := rank(2); err != nil {
				return nil, err
			}
			in, o := t.Shape[0], t.Shape[1]
			d := make([]float32, len(t.Data))
			for i := 0; i < in; i++ {
				for j := 0; j < o; j++ {
					d[j*in+i] = t.Data[i*o+j]
				}
			}
			out["fc.weight"] = Tensor{Shape: []int{o, in}, Data: d}
		case suffix == "filters" && strings.HasSuffix(p, ".conv"):
			if err := rank(4); err != nil {
				return nil, err
			}
			kh, kw, in, o := t.Shape[0], t.Shape[1], t.Shape[2], t.Shape[3]
			d := make([]float32, len(t.Data))
			for y := 0; y < kh; y++ {
				for x := 0; x < kw; x++ {
					for c := 0; c < in; c++ {
						src := t.Data[((y*kw+x)*in+c)*o:][:o]
						for k, v := range src {
							d[((k*in+c)*kh+y)*kw+x] = v
						}
					}
				}
			}
			out[p+".weight"] = Tensor{Shape: []int{o, in, kh, kw}, Data: d}
		case suffix == "bias" && strings.HasSuffix(p, ".conv"),
			suffix == "weights" && strings.HasSuffix(p, ".scale"),
			suffix == "biases" && strings.HasSuffix(p, ".scale"):
			if err := rank(1); err != nil {
				return nil, err
			}
			out[p+"."+map[string]string{"bias": "bias", "weights": "weight", "biases": "bias"}[suffix]] = t
		default:
			return nil, fmt.Errorf("net: tfjs tensor %q is not one of face-api's face recognition net (…/conv/filters, …/conv/bias, …/scale/weights, …/scale/biases, fc)", name)
		}
	}
	return out, nil
}
