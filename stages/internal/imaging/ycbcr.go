package imaging

import "image"

// fromYCbCr converts a decoded colour JPEG to RGB the way libjpeg(-turbo)
// does with its default settings, which is what PIL uses: chroma planes
// subsampled by 2 are upsampled with libjpeg's "fancy" triangle filter
// (jdsample.c: h2v1, h1v2 and h2v2 fancy upsampling, edges replicated), other
// integer ratios by replication, and YCbCr→RGB uses libjpeg's 16-bit fixed-point
// tables (jdcolor.c). Go's own conversion replicates chroma and rounds
// differently, which would put colour JPEGs several levels off PIL.
func fromYCbCr(s *image.YCbCr) *Image {
	b := s.Rect
	w, h := b.Dx(), b.Dy()
	// Chroma plane geometry relative to the image origin.
	var hs, vs int // horizontal/vertical subsampling factors
	switch s.SubsampleRatio {
	case image.YCbCrSubsampleRatio444:
		hs, vs = 1, 1
	case image.YCbCrSubsampleRatio422:
		hs, vs = 2, 1
	case image.YCbCrSubsampleRatio420:
		hs, vs = 2, 2
	case image.YCbCrSubsampleRatio440:
		hs, vs = 1, 2
	case image.YCbCrSubsampleRatio411:
		hs, vs = 4, 1
	case image.YCbCrSubsampleRatio410:
		hs, vs = 4, 2
	default:
		hs, vs = 1, 1
	}
	cw := (w + hs - 1) / hs
	ch := (h + vs - 1) / vs
	cbOff := s.COffset(b.Min.X, b.Min.Y)
	plane := func(p []uint8) []uint8 { // tight copy of a chroma plane
		out := make([]uint8, cw*ch)
		for y := 0; y < ch; y++ {
			copy(out[y*cw:(y+1)*cw], p[cbOff+y*s.CStride:])
		}
		return out
	}
	cb := upsample(plane(s.Cb), cw, ch, hs, vs, w, h)
	cr := upsample(plane(s.Cr), cw, ch, hs, vs, w, h)

	out := NewImage(w, h, 3)
	ys := make([]uint8, w*h)
	for y := 0; y < h; y++ {
		copy(ys[y*w:(y+1)*w], s.Y[s.YOffset(b.Min.X, b.Min.Y+y):])
	}
	yccToRGB(out.Pix, ys, cb, cr)
	return out
}

// yccToRGB converts full-resolution Y, Cb, Cr planes to interleaved RGB
// with libjpeg's ycc_rgb_convert.
func yccToRGB(dst, ys, cb, cr []uint8) {
	t := yccTables()
	for i, yv := range ys {
		yy := int32(yv)
		cbv, crv := cb[i], cr[i]
		dst[3*i] = clamp8(yy + t.crR[crv])
		dst[3*i+1] = clamp8(yy + (t.cbG[cbv]+t.crG[crv])>>16)
		dst[3*i+2] = clamp8(yy + t.cbB[cbv])
	}
}

type yccTab struct {
	crR, cbB, crG, cbG [256]int32
}

// yccTables builds libjpeg's build_ycc_rgb_table (SCALEBITS = 16).
func yccTables() *yccTab {
	const scale = 16
	const half = int32(1) << (scale - 1)
	fix := func(v float64) int32 { return int32(v*(1<<scale) + 0.5) }
	t := new(yccTab)
	for i := 0; i < 256; i++ {
		x := int32(i - 128)
		t.crR[i] = (fix(1.40200)*x + half) >> scale
		t.cbB[i] = (fix(1.77200)*x + half) >> scale
		t.crG[i] = -fix(0.71414) * x
		t.cbG[i] = -fix(0.34414)*x + half
	}
	return t
}

func clamp8(v int32) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// upsample expands a cw×ch chroma plane by (hs, vs) to a w×h plane.
func upsample(p []uint8, cw, ch, hs, vs, w, h int) []uint8 {
	if hs == 1 && vs == 1 {
		return p
	}
	// libjpeg (jinit_upsampler) uses the fancy filters for 2:1 ratios,
	// horizontally only when the plane is more than 2 samples wide.
	fancy := (hs == 1 && vs == 2) || (hs == 2 && vs <= 2 && cw > 2)
	ow, oh := cw*hs, ch*vs
	full := make([]uint8, ow*oh)
	row := func(y int) []uint8 { // edge-replicated input row
		if y < 0 {
			y = 0
		}
		if y >= ch {
			y = ch - 1
		}
		return p[y*cw : (y+1)*cw]
	}
	switch {
	case !fancy:
		for y := 0; y < oh; y++ {
			in := row(y / vs)
			o := full[y*ow:]
			for x := 0; x < ow; x++ {
				o[x] = in[x/hs]
			}
		}
	case hs == 2 && vs == 1: // h2v1_fancy_upsample
		for y := 0; y < ch; y++ {
			in, o := row(y), full[y*ow:]
			o[0] = in[0]
			o[1] = uint8((int(in[0])*3 + int(in[1]) + 2) >> 2)
			for x := 1; x < cw-1; x++ {
				v := int(in[x]) * 3
				o[2*x] = uint8((v + int(in[x-1]) + 1) >> 2)
				o[2*x+1] = uint8((v + int(in[x+1]) + 2) >> 2)
			}
			v := int(in[cw-1])
			o[2*cw-2] = uint8((v*3 + int(in[cw-2]) + 1) >> 2)
			o[2*cw-1] = uint8(v)
		}
	case hs == 1 && vs == 2: // h1v2_fancy_upsample
		for y := 0; y < ch; y++ {
			in0 := row(y)
			for v := 0; v < 2; v++ {
				in1, bias := row(y-1), 1
				if v == 1 {
					in1, bias = row(y+1), 2
				}
				o := full[(2*y+v)*ow:]
				for x := 0; x < cw; x++ {
					o[x] = uint8((int(in0[x])*3 + int(in1[x]) + bias) >> 2)
				}
			}
		}
	default: // h2v2_fancy_upsample
		for y := 0; y < ch; y++ {
			in0 := row(y)
			for v := 0; v < 2; v++ {
				in1 := row(y - 1)
				if v == 1 {
					in1 = row(y + 1)
				}
				o := full[(2*y+v)*ow:]
				col := func(x int) int { return int(in0[x])*3 + int(in1[x]) }
				this, next := col(0), col(1)
				o[0] = uint8((this*4 + 8) >> 4)
				o[1] = uint8((this*3 + next + 7) >> 4)
				last := this
				this = next
				for x := 1; x < cw-1; x++ {
					next = col(x + 1)
					o[2*x] = uint8((this*3 + last + 8) >> 4)
					o[2*x+1] = uint8((this*3 + next + 7) >> 4)
					last, this = this, next
				}
				o[2*cw-2] = uint8((this*3 + last + 8) >> 4)
				o[2*cw-1] = uint8((this*4 + 7) >> 4)
			}
		}
	}
	if ow == w && oh == h {
		return full
	}
	out := make([]uint8, w*h)
	for y := 0; y < h; y++ {
		copy(out[y*w:(y+1)*w], full[y*ow:])
	}
	return out
}
