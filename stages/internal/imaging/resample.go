package imaging

import (
	"fmt"
	"math"
)

// precisionBits is PIL's PRECISION_BITS (32 - 8 - 2): coefficients are
// fixed-point with 22 fractional bits, leaving 8 bits for the pixel value
// and 2 for overflow of filters with negative lobes.
const precisionBits = 32 - 8 - 2

// coeffs holds one pass's filter: for output index i, the input window
// starts at bounds[2i] and has bounds[2i+1] taps, weights k[i*ksize:].
type coeffs struct {
	ksize  int
	bounds []int
	k      []int32
}

// triangle is PIL's bilinear_filter (support 1).
func triangle(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return 1 - x
	}
	return 0
}

// precompute mirrors PIL's precompute_coeffs followed by
// normalize_coeffs_8bpc, for the box (0, inSize) and the bilinear filter.
// The float64(...) conversions around products keep the Go compiler from
// fusing multiply-adds (which C on x86-64 does not do), so the double
// arithmetic, and with it every rounded coefficient, is PIL's exactly.
func precompute(inSize, outSize int) coeffs {
	in0, in1 := float32(0), float32(inSize)
	scale := float64(in1-in0) / float64(outSize)
	filterscale := scale
	if filterscale < 1 {
		filterscale = 1
	}
	support := float64(1.0 * filterscale)
	ksize := int(math.Ceil(support))*2 + 1
	c := coeffs{ksize: ksize, bounds: make([]int, 2*outSize), k: make([]int32, outSize*ksize)}
	w := make([]float64, ksize)
	for xx := 0; xx < outSize; xx++ {
		center := float64(in0) + float64((float64(xx)+0.5)*scale)
		ss := 1.0 / filterscale
		xmin := int(center - support + 0.5)
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > inSize {
			xmax = inSize
		}
		xmax -= xmin
		ww := 0.0
		for x := 0; x < xmax; x++ {
			v := triangle(float64((float64(x+xmin) - center + 0.5) * ss))
			w[x] = v
			ww += v
		}
		k := c.k[xx*ksize : (xx+1)*ksize]
		for x := 0; x < xmax; x++ {
			v := w[x]
			if ww != 0 {
				v /= ww
			}
			if v < 0 {
				k[x] = int32(-0.5 + float64(v*(1<<precisionBits)))
			} else {
				k[x] = int32(0.5 + float64(v*(1<<precisionBits)))
			}
		}
		c.bounds[2*xx], c.bounds[2*xx+1] = xmin, xmax
	}
	return c
}

// clip8 is PIL's clip8: the accumulator's integer part clamped to 0..255.
func clip8(ss int32) uint8 {
	v := ss >> precisionBits
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// Resize resamples src to w×h exactly like PIL's Image.resize(size,
// Image.BILINEAR) on an 8-bit L or RGB image: a horizontal pass over the
// source rows the vertical pass will need, rounded to 8 bits, then a
// vertical pass; a pass whose size does not change is skipped.
func Resize(src *Image, w, h int) (*Image, error) {
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("imaging: resize to %dx%d: sizes must be positive", w, h)
	}
	if src.W <= 0 || src.H <= 0 {
		return nil, fmt.Errorf("imaging: resize of an empty %dx%d image", src.W, src.H)
	}
	needH := w != src.W
	needV := h != src.H
	if !needH && !needV {
		out := *src
		out.Pix = append([]uint8(nil), src.Pix...)
		return &out, nil
	}
	cur := src
	vert := precompute(src.H, h)
	if needH {
		// Only rows first..last of the source feed the vertical pass.
		first := vert.bounds[0]
		last := vert.bounds[2*h-2] + vert.bounds[2*h-1]
		if !needV {
			first, last = 0, src.H
		}
		cur = horizontal(src, precompute(src.W, w), first, last)
		if needV {
			for i := 0; i < h; i++ {
				vert.bounds[2*i] -= first
			}
		}
	}
	if needV {
		cur = vertical(cur, vert)
	}
	return cur, nil
}

func horizontal(src *Image, c coeffs, first, last int) *Image {
	ow := len(c.bounds) / 2
	C := src.C
	out := NewImage(ow, last-first, C)
	for y := first; y < last; y++ {
		in := src.Pix[y*src.W*C : (y+1)*src.W*C]
		o := out.Pix[(y-first)*ow*C:]
		for xx := 0; xx < ow; xx++ {
			xmin, n := c.bounds[2*xx], c.bounds[2*xx+1]
			k := c.k[xx*c.ksize : xx*c.ksize+n]
			if C == 1 {
				ss := int32(1) << (precisionBits - 1)
				px := in[xmin : xmin+n]
				for x, kv := range k {
					ss += int32(px[x]) * kv
				}
				o[xx] = clip8(ss)
				continue
			}
			s0 := int32(1) << (precisionBits - 1)
			s1, s2 := s0, s0
			px := in[xmin*3 : (xmin+n)*3]
			for x, kv := range k {
				s0 += int32(px[3*x]) * kv
				s1 += int32(px[3*x+1]) * kv
				s2 += int32(px[3*x+2]) * kv
			}
			o[3*xx], o[3*xx+1], o[3*xx+2] = clip8(s0), clip8(s1), clip8(s2)
		}
	}
	return out
}

func vertical(src *Image, c coeffs) *Image {
	oh := len(c.bounds) / 2
	rowLen := src.W * src.C
	out := NewImage(src.W, oh, src.C)
	acc := make([]int32, rowLen)
	for yy := 0; yy < oh; yy++ {
		ymin, n := c.bounds[2*yy], c.bounds[2*yy+1]
		for i := range acc {
			acc[i] = 1 << (precisionBits - 1)
		}
		// Accumulate row by row: integer addition is associative, so
		// the order does not change the result, and this order streams
		// memory.
		for y := 0; y < n; y++ {
			kv := c.k[yy*c.ksize+y]
			row := src.Pix[(ymin+y)*rowLen : (ymin+y+1)*rowLen]
			for i, p := range row {
				acc[i] += int32(p) * kv
			}
		}
		o := out.Pix[yy*rowLen : (yy+1)*rowLen]
		for i, s := range acc {
			o[i] = clip8(s)
		}
	}
	return out
}

// ResizedSize returns torchvision's output size for Resize(r) (an int
// size) on a w×h image: the shorter side becomes r and the longer
// int(r * long / short), computed in float64 and truncated as Python does.
func ResizedSize(w, h, r int) (nw, nh int) {
	short, long := w, h
	if w > h {
		short, long = h, w
	}
	newLong := int(float64(r*long) / float64(short))
	if w <= h {
		return r, newLong
	}
	return newLong, r
}

// ResizeShorter is torchvision's transforms.Resize(r) (bilinear, antialias)
// on a PIL image: unchanged if already of the target size, else Resize.
func ResizeShorter(src *Image, r int) (*Image, error) {
	if r <= 0 {
		return nil, fmt.Errorf("imaging: resize shorter side to %d: must be positive", r)
	}
	w, h := ResizedSize(src.W, src.H, r)
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("imaging: resizing %dx%d to shorter side %d gives empty %dx%d", src.W, src.H, r, w, h)
	}
	if w == src.W && h == src.H {
		return src, nil
	}
	return Resize(src, w, h)
}

// CenterCropOffset is where CenterCrop(s) starts on a side of size ≥ s:
// int(round((size − s) / 2)) with Python's round-half-to-even.
func CenterCropOffset(size, s int) int { return int(math.RoundToEven(float64(size-s) / 2)) }

// CenterCrop is torchvision's CenterCrop(s) on a PIL image: if the image is
// smaller than s on a side it is first zero-padded (left/top get the floor
// of half the deficit), then the crop starts at int(round((size - s) / 2))
// with Python's round-half-to-even.
func CenterCrop(src *Image, s int) (*Image, error) {
	if s <= 0 {
		return nil, fmt.Errorf("imaging: center crop to %d: must be positive", s)
	}
	padL, padT := 0, 0
	W, H := src.W, src.H
	if s > W {
		padL = (s - W) / 2
		W = s
	}
	if s > H {
		padT = (s - H) / 2
		H = s
	}
	top, left := CenterCropOffset(H, s), CenterCropOffset(W, s)
	C := src.C
	out := NewImage(s, s, C)
	for y := 0; y < s; y++ {
		sy := y + top - padT
		if sy < 0 || sy >= src.H {
			continue
		}
		for x := 0; x < s; x++ {
			sx := x + left - padL
			if sx < 0 || sx >= src.W {
				continue
			}
			copy(out.Pix[(y*s+x)*C:(y*s+x+1)*C], src.Pix[(sy*src.W+sx)*C:])
		}
	}
	return out, nil
}
