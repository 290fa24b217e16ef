package imaging

import (
	"fmt"
	"sort"
	"strings"
)

// Norm is a per-channel Normalize(mean, std) (R, G, B order).
type Norm struct {
	Mean, Std [3]float32
}

// Named normalisations. "half" (mean = std = 0.5) is the study's
// (Dobs et al. 2022); "imagenet" is torchvision's usual ImageNet statistics;
// "none" leaves ToTensor's [0, 1] values unchanged.
var norms = map[string]Norm{
	"half":     {Mean: [3]float32{0.5, 0.5, 0.5}, Std: [3]float32{0.5, 0.5, 0.5}},
	"imagenet": {Mean: [3]float32{0.485, 0.456, 0.406}, Std: [3]float32{0.229, 0.224, 0.225}},
	"none":     {Mean: [3]float32{0, 0, 0}, Std: [3]float32{1, 1, 1}},
}

// NormNames lists the names NormByName accepts, sorted.
func NormNames() []string {
	names := make([]string, 0, len(norms))
	for n := range norms {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// NormByName returns a named normalisation (see NormNames).
func NormByName(name string) (Norm, error) {
	n, ok := norms[strings.ToLower(name)]
	if !ok {
		return Norm{}, fmt.Errorf("imaging: unknown normalisation %q (known: %s)", name, strings.Join(NormNames(), ", "))
	}
	return n, nil
}

// Validate rejects a zero standard deviation, as torchvision's normalize does.
func (n Norm) Validate() error {
	for c, s := range n.Std {
		if s == 0 || s != s {
			return fmt.Errorf("imaging: normalisation std[%d] = %v must be non-zero", c, s)
		}
	}
	return nil
}

// ToTensor writes torchvision's ToTensor followed by Normalize into dst
// (length 3*W*H, CHW order; allocated when nil) and returns it. Each value
// is computed in float32 step by step as torch does: (float32(v) / 255 -
// mean) / std, so results are bit-identical to torch's CPU kernels. Gray
// images fill all three channels.
func ToTensor(src *Image, n Norm, dst []float32) []float32 {
	plane := src.W * src.H
	if dst == nil {
		dst = make([]float32, 3*plane)
	}
	dst = dst[:3*plane]
	// Every channel maps 256 possible byte values: tabulate.
	var lut [3][256]float32
	for c := 0; c < 3; c++ {
		for v := 0; v < 256; v++ {
			t := float32(v) / 255
			t = t - n.Mean[c]
			lut[c][v] = t / n.Std[c]
		}
	}
	for c := 0; c < 3; c++ {
		out := dst[c*plane : (c+1)*plane]
		sc, off := src.C, 0
		if sc == 3 {
			off = c
		}
		l := &lut[c]
		for i := range out {
			out[i] = l[src.Pix[i*sc+off]]
		}
	}
	return dst
}

// Pipeline is the study's preprocessing: Resize(Resize) → CenterCrop(Crop)
// → ToTensor → Normalize(Norm).
type Pipeline struct {
	Resize int
	Crop   int
	Norm   Norm
}

// DefaultPipeline is Resize(256), CenterCrop(224), mean = std = 0.5.
func DefaultPipeline() Pipeline {
	return Pipeline{Resize: 256, Crop: 224, Norm: norms["half"]}
}

// Validate checks the sizes and the normalisation.
func (p Pipeline) Validate() error {
	if p.Resize <= 0 || p.Crop <= 0 {
		return fmt.Errorf("imaging: pipeline sizes resize=%d crop=%d must be positive", p.Resize, p.Crop)
	}
	return p.Norm.Validate()
}

// Pixels runs resize and crop, returning the 8-bit Crop×Crop image that
// ToTensor sees.
func (p Pipeline) Pixels(src *Image) (*Image, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	r, err := ResizeShorter(src, p.Resize)
	if err != nil {
		return nil, err
	}
	return CenterCrop(r, p.Crop)
}

// Tensor runs the whole pipeline on a decoded image, writing the 3×Crop×Crop
// CHW tensor into dst (allocated when nil).
func (p Pipeline) Tensor(src *Image, dst []float32) ([]float32, error) {
	px, err := p.Pixels(src)
	if err != nil {
		return nil, err
	}
	return ToTensor(px, p.Norm, dst), nil
}

// File decodes a JPEG or PNG file and runs the pipeline on it.
func (p Pipeline) File(path string, dst []float32) ([]float32, error) {
	img, err := DecodeFile(path)
	if err != nil {
		return nil, err
	}
	t, err := p.Tensor(img, dst)
	if err != nil {
		return nil, fmt.Errorf("imaging: %s: %w", path, err)
	}
	return t, nil
}
