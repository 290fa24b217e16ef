// Package imaging turns image files into network input tensors exactly as
// the study's PyTorch pipeline does: PIL open → convert("RGB") →
// torchvision Resize(256) (bilinear, antialiased) → CenterCrop(224) →
// ToTensor → Normalize(mean, std), output CHW float32.
//
// The resampler is a reimplementation of PIL's libImaging/Resample.c
// (separable triangle filter whose support grows with the downscale factor,
// 22-bit fixed-point coefficients, 8-bit rounding between the horizontal and
// the vertical pass), so that on identical decoded pixels the resized and
// cropped values are bit-identical to torchvision's. PNGs are decoded with
// Go's image/png (lossless, so identical to PIL, with PIL's conversions to
// RGB). JPEGs are decoded by this package's own decoder (jpeg.go), which
// reproduces libjpeg-turbo's default output exactly (islow integer IDCT,
// "fancy" chroma upsampling, its YCbCr→RGB tables) for 8-bit Huffman JPEGs,
// baseline or progressive, gray or YCbCr/RGB; other JPEGs (CMYK, arithmetic
// coding, 12-bit) fall back to Go's image/jpeg, whose IDCT differs from
// libjpeg's by a level or two on a few percent of pixels.
//
// Grayscale sources stay single-channel (C = 1) through resize and crop:
// PIL's RGB resampling processes each band with the same arithmetic, so
// resampling one plane and replicating it into three tensor channels is
// exactly equivalent to converting to RGB first, and three times cheaper.
package imaging

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"sync"
)

// Limits on what the decoder accepts. They are checked on the header
// (image.DecodeConfig) before any pixel buffer is allocated, so a small
// hostile file cannot make the decoder allocate gigabytes.
const (
	// MaxSide is the largest accepted width or height.
	MaxSide = 16384
	// MaxPixels is the largest accepted width × height.
	MaxPixels = 100_000_000
	// MaxFileBytes is the largest accepted encoded file.
	MaxFileBytes = 512 << 20
	// pixelFloor and pixelsPerByte bound the pixel count by the size of the
	// encoded data: no real PNG or JPEG encodes more than a few thousand
	// pixels per byte (deflate tops out near 1032:1, times 8 pixels per byte
	// for 1-bit images), so a header claiming more is a lie meant to force a
	// huge allocation. Images up to pixelFloor pixels are always accepted.
	pixelFloor    = 4 << 20
	pixelsPerByte = 10000
)

// Image is an 8-bit image, C = 1 (gray, standing for RGB with three equal
// channels) or C = 3 (RGB), pixels row-major and channel-interleaved:
// Pix[(y*W+x)*C+c].
type Image struct {
	W, H, C int
	Pix     []uint8
}

// NewImage allocates a zeroed w×h image with c channels (1 or 3).
func NewImage(w, h, c int) *Image {
	return &Image{W: w, H: h, C: c, Pix: make([]uint8, w*h*c)}
}

// At returns the (r, g, b) value at (x, y); gray images replicate.
func (m *Image) At(x, y int) (r, g, b uint8) {
	i := (y*m.W + x) * m.C
	if m.C == 1 {
		v := m.Pix[i]
		return v, v, v
	}
	return m.Pix[i], m.Pix[i+1], m.Pix[i+2]
}

// RGB returns the image as three interleaved channels (a copy when gray
// is expanded, m itself when it already has three).
func (m *Image) RGB() *Image {
	if m.C == 3 {
		return m
	}
	out := NewImage(m.W, m.H, 3)
	for i, v := range m.Pix {
		out.Pix[3*i], out.Pix[3*i+1], out.Pix[3*i+2] = v, v, v
	}
	return out
}

// ToImage converts m to a standard library image (*image.Gray or *image.RGBA),
// e.g. for writing it out as PNG.
func (m *Image) ToImage() image.Image {
	r := image.Rect(0, 0, m.W, m.H)
	if m.C == 1 {
		g := image.NewGray(r)
		copy(g.Pix, m.Pix)
		return g
	}
	o := image.NewRGBA(r)
	for i := 0; i < m.W*m.H; i++ {
		o.Pix[4*i], o.Pix[4*i+1], o.Pix[4*i+2], o.Pix[4*i+3] = m.Pix[3*i], m.Pix[3*i+1], m.Pix[3*i+2], 255
	}
	return o
}

// ErrTooLarge is wrapped by decode errors for images over the size limits.
var ErrTooLarge = errors.New("image too large")

// DecodeFile reads and decodes a JPEG or PNG file. Errors name the file.
func DecodeFile(path string) (*Image, error) {
	img, release, err := DecodeFileWithin(path, nil)
	release()
	return img, err
}

// DecodeFileWithin is DecodeFile reserving from b (nil: no budget) the
// memory the image needs, reckoned from its header before any pixel is
// allocated; release gives it back once the caller is done with the image
// (it is never nil).
func DecodeFileWithin(path string, b *Budget) (img *Image, release func(), err error) {
	data, err := readFile(path)
	if err != nil {
		return nil, func() {}, err
	}
	return decodeWithin(data, path, b)
}

// readFile reads an encoded image of at most MaxFileBytes.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("imaging: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("imaging: %s: %w", path, err)
	}
	if st.Size() > MaxFileBytes {
		return nil, fmt.Errorf("imaging: %s: file of %d bytes exceeds %d: %w", path, st.Size(), MaxFileBytes, ErrTooLarge)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("imaging: reading %s: %w", path, err)
	}
	return data, nil
}

// Decode decodes an in-memory JPEG or PNG; name is used in error messages.
// Gray and gray+alpha sources give C = 1; everything else C = 3, alpha
// dropped (as PIL's convert("RGB") does, without compositing). 16-bit
// colour samples keep their high byte, as PIL reads 16-bit RGB PNGs. 16-bit
// gray PNGs are CLIPPED to 255, not scaled: PIL opens them in mode "I" and
// convert("RGB") clips, so that is what the study's pipeline would have fed
// the network (a 16-bit gray image with values above 255 comes out white).
func Decode(data []byte, name string) (*Image, error) {
	img, release, err := decodeWithin(data, name, nil)
	release()
	return img, err
}

// decodeWithin is Decode holding a reservation from b (nil: none) that
// release gives back.
func decodeWithin(data []byte, name string, b *Budget) (*Image, func(), error) {
	none := func() {}
	if len(data) > MaxFileBytes {
		return nil, none, fmt.Errorf("imaging: %s: %d bytes exceeds %d: %w", name, len(data), MaxFileBytes, ErrTooLarge)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, none, fmt.Errorf("imaging: %s: reading header: %w", name, err)
	}
	if format != "jpeg" && format != "png" {
		return nil, none, fmt.Errorf("imaging: %s: unsupported format %q (want JPEG or PNG)", name, format)
	}
	if err := checkSize(cfg.Width, cfg.Height, len(data)); err != nil {
		return nil, none, fmt.Errorf("imaging: %s: %w", name, err)
	}
	release, err := b.reserve(DecodeCost(cfg.Width, cfg.Height))
	if err != nil {
		return nil, none, fmt.Errorf("imaging: %s: %dx%d: %w", name, cfg.Width, cfg.Height, err)
	}
	img, err := decode(data, name, format, cfg)
	if err != nil {
		release()
		return nil, none, err
	}
	return img, release, nil
}

// decode decodes data, whose header cfg has been checked.
func decode(data []byte, name, format string, cfg image.Config) (*Image, error) {
	var img image.Image
	var err error
	if format == "jpeg" {
		// 8-bit Huffman JPEGs: libjpeg-exact decoder. Others (CMYK,
		// arithmetic, 12-bit): Go's decoder, off by a level or so on some
		// pixels.
		out, handled, err := decodeJPEGExact(data)
		if handled {
			if err != nil {
				return nil, fmt.Errorf("imaging: %s: %w", name, err)
			}
			if out.W != cfg.Width || out.H != cfg.Height {
				return nil, fmt.Errorf("imaging: %s: decoded %dx%d, header said %dx%d", name, out.W, out.H, cfg.Width, cfg.Height)
			}
			return out, nil
		}
		img, err = jpeg.Decode(bytes.NewReader(data))
	} else {
		img, err = png.Decode(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("imaging: %s: decoding %s: %w", name, format, err)
	}
	b := img.Bounds()
	if b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return nil, fmt.Errorf("imaging: %s: decoded %dx%d, header said %dx%d", name, b.Dx(), b.Dy(), cfg.Width, cfg.Height)
	}
	return FromImage(img), nil
}

// bytesPerPixel is what decoding and preprocessing one pixel may hold at
// the peak: Go's PNG decoder's RGBA64 (8 bytes), the 8-bit copy (3), the
// resampler's intermediate rows and the encoded data besides.
const bytesPerPixel = 16

// DecodeCost is the memory reserved from a Budget for a w×h image.
func DecodeCost(w, h int) int64 { return int64(w) * int64(h) * bytesPerPixel }

// DefaultBudget is what a stage's concurrent decodes may hold at once: the
// largest image accepted (MaxPixels) fits, and however many workers decode,
// together they stay within it.
const DefaultBudget = 2 << 30

// A Budget bounds the memory that images being decoded and preprocessed
// hold at once, whatever the number of goroutines: each reserves its
// DecodeCost before a pixel is allocated, waiting while others hold too
// much, and releases it when done with the image.
type Budget struct {
	mu   sync.Mutex
	cond *sync.Cond
	size int64
	used int64
}

// NewBudget returns a budget of size bytes.
func NewBudget(size int64) *Budget {
	b := &Budget{size: size}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// reserve waits until n bytes are free and takes them; more than the whole
// budget is an error. A nil budget reserves nothing.
func (b *Budget) reserve(n int64) (release func(), err error) {
	if b == nil {
		return func() {}, nil
	}
	if n > b.size {
		return nil, fmt.Errorf("needs %d MiB to decode, more than the %d MiB allowed: %w", n>>20, b.size>>20, ErrTooLarge)
	}
	b.mu.Lock()
	for b.used+n > b.size {
		b.cond.Wait()
	}
	b.used += n
	b.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			b.used -= n
			b.mu.Unlock()
			b.cond.Broadcast()
		})
	}, nil
}

func checkSize(w, h, n int) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("empty image %dx%d", w, h)
	}
	if w > MaxSide || h > MaxSide {
		return fmt.Errorf("%dx%d exceeds %d pixels per side: %w", w, h, MaxSide, ErrTooLarge)
	}
	px := int64(w) * int64(h)
	if px > MaxPixels {
		return fmt.Errorf("%dx%d exceeds %d pixels: %w", w, h, MaxPixels, ErrTooLarge)
	}
	if px > pixelFloor && px > int64(n)*pixelsPerByte {
		return fmt.Errorf("%dx%d pixels cannot be encoded in %d bytes: %w", w, h, n, ErrTooLarge)
	}
	return nil
}

// FromImage converts a decoded image to 8-bit gray or RGB, following PIL's
// convert("RGB") (see Decode).
func FromImage(img image.Image) *Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	switch s := img.(type) {
	case *image.Gray:
		out := NewImage(w, h, 1)
		for y := 0; y < h; y++ {
			copy(out.Pix[y*w:(y+1)*w], s.Pix[y*s.Stride:y*s.Stride+w])
		}
		return out
	case *image.Gray16:
		out := NewImage(w, h, 1)
		for y := 0; y < h; y++ {
			row := s.Pix[y*s.Stride:]
			for x := 0; x < w; x++ {
				v := int(row[2*x])<<8 | int(row[2*x+1])
				out.Pix[y*w+x] = uint8(min(v, 255))
			}
		}
		return out
	case *image.YCbCr:
		return fromYCbCr(s)
	case *image.NRGBA:
		out := NewImage(w, h, 3)
		for y := 0; y < h; y++ {
			row := s.Pix[y*s.Stride:]
			o := out.Pix[y*w*3:]
			for x := 0; x < w; x++ {
				o[3*x], o[3*x+1], o[3*x+2] = row[4*x], row[4*x+1], row[4*x+2]
			}
		}
		return out
	case *image.NRGBA64:
		out := NewImage(w, h, 3)
		for y := 0; y < h; y++ {
			row := s.Pix[y*s.Stride:]
			o := out.Pix[y*w*3:]
			for x := 0; x < w; x++ {
				o[3*x], o[3*x+1], o[3*x+2] = row[8*x], row[8*x+2], row[8*x+4]
			}
		}
		return out
	case *image.RGBA64:
		// Opaque 16-bit RGB PNGs decode to RGBA64 (alpha 0xffff, so
		// premultiplied equals straight).
		out := NewImage(w, h, 3)
		for y := 0; y < h; y++ {
			row := s.Pix[y*s.Stride:]
			o := out.Pix[y*w*3:]
			for x := 0; x < w; x++ {
				o[3*x], o[3*x+1], o[3*x+2] = row[8*x], row[8*x+2], row[8*x+4]
			}
		}
		return out
	case *image.Paletted:
		// PIL maps palette indices to the palette's RGB, ignoring alpha.
		var lut [256][3]uint8
		gray := true
		for i, c := range s.Palette {
			r, g, bb := paletteRGB(c)
			lut[i] = [3]uint8{r, g, bb}
		}
		for y := 0; y < h && gray; y++ {
			for _, idx := range s.Pix[y*s.Stride : y*s.Stride+w] {
				if e := lut[idx]; e[0] != e[1] || e[1] != e[2] {
					gray = false
					break
				}
			}
		}
		if gray {
			out := NewImage(w, h, 1)
			for y := 0; y < h; y++ {
				for x, idx := range s.Pix[y*s.Stride : y*s.Stride+w] {
					out.Pix[y*w+x] = lut[idx][0]
				}
			}
			return out
		}
		out := NewImage(w, h, 3)
		for y := 0; y < h; y++ {
			for x, idx := range s.Pix[y*s.Stride : y*s.Stride+w] {
				copy(out.Pix[(y*w+x)*3:], lut[idx][:])
			}
		}
		return out
	case *image.CMYK:
		// PIL's cmyk2rgb: nk - nk*c/255 (rounded), nk = 255 - k.
		out := NewImage(w, h, 3)
		for y := 0; y < h; y++ {
			row := s.Pix[y*s.Stride:]
			o := out.Pix[y*w*3:]
			for x := 0; x < w; x++ {
				nk := 255 - int(row[4*x+3])
				for c := 0; c < 3; c++ {
					o[3*x+c] = uint8(max(0, nk-mul255(int(row[4*x+c]), nk)))
				}
			}
		}
		return out
	}
	// Anything else: straight (non-premultiplied) RGB through the color model.
	out := NewImage(w, h, 3)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			i := (y*w + x) * 3
			out.Pix[i], out.Pix[i+1], out.Pix[i+2] = c.R, c.G, c.B
		}
	}
	return out
}

// mul255 is PIL's MULDIV255: a*b/255 rounded.
func mul255(a, b int) int {
	t := a*b + 128
	return (t + t>>8) >> 8
}

func paletteRGB(c color.Color) (r, g, b uint8) {
	switch p := c.(type) {
	case color.NRGBA:
		return p.R, p.G, p.B
	case color.RGBA:
		if p.A == 0xff {
			return p.R, p.G, p.B
		}
	}
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	return n.R, n.G, n.B
}
