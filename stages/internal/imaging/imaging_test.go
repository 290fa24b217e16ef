package imaging

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestResizedSize(t *testing.T) {
	cases := []struct{ w, h, r, nw, nh int }{
		{1024, 1024, 256, 256, 256},
		{300, 200, 256, 384, 256},
		{200, 300, 256, 256, 384},
		{257, 311, 256, 256, 309}, // int(256*311/257) = int(309.79)
		{100, 60, 256, 426, 256},  // int(426.67)
		{3, 1000, 256, 256, 85333},
	}
	for _, c := range cases {
		if w, h := ResizedSize(c.w, c.h, c.r); w != c.nw || h != c.nh {
			t.Errorf("ResizedSize(%d,%d,%d) = %dx%d, want %dx%d", c.w, c.h, c.r, w, h, c.nw, c.nh)
		}
	}
}

func TestCenterCropOffsets(t *testing.T) {
	// 256x309 → 224: (309-224)/2 = 42.5 rounds half to even → 42.
	src := NewImage(256, 309, 1)
	for y := 0; y < src.H; y++ {
		for x := 0; x < src.W; x++ {
			src.Pix[y*src.W+x] = uint8(y)
		}
	}
	out, err := CenterCrop(src, 224)
	if err != nil {
		t.Fatal(err)
	}
	if out.Pix[0] != 42 {
		t.Errorf("top row comes from source row %d, want 42", out.Pix[0])
	}
	// 259 rows: 35/2 = 17.5 → 18.
	src.H = 259
	src.Pix = src.Pix[:256*259]
	out, _ = CenterCrop(src, 224)
	if out.Pix[0] != 18 {
		t.Errorf("top row comes from source row %d, want 18", out.Pix[0])
	}
	// Smaller than the crop: zero padding, left/top get the floor.
	small := NewImage(3, 2, 1)
	for i := range small.Pix {
		small.Pix[i] = 9
	}
	out, _ = CenterCrop(small, 6)
	want := []uint8{
		0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0,
		0, 9, 9, 9, 0, 0,
		0, 9, 9, 9, 0, 0,
		0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0,
	}
	if !bytes.Equal(out.Pix, want) {
		t.Errorf("padded crop = %v, want %v", out.Pix, want)
	}
}

func TestResizeIdentityAndConstant(t *testing.T) {
	src := NewImage(37, 53, 3)
	for i := range src.Pix {
		src.Pix[i] = 77
	}
	for _, sz := range [][2]int{{37, 53}, {10, 7}, {100, 200}, {37, 20}, {5, 53}} {
		out, err := Resize(src, sz[0], sz[1])
		if err != nil {
			t.Fatal(err)
		}
		if out.W != sz[0] || out.H != sz[1] {
			t.Fatalf("size %dx%d", out.W, out.H)
		}
		for _, v := range out.Pix {
			if v != 77 {
				t.Fatalf("resize %v of a constant image gave %d", sz, v)
			}
		}
	}
	if _, err := Resize(src, 0, 5); err == nil {
		t.Error("Resize to width 0 succeeded")
	}
}

func TestNormByName(t *testing.T) {
	n, err := NormByName("ImageNet")
	if err != nil || n.Mean[0] != 0.485 || n.Std[2] != 0.225 {
		t.Errorf("imagenet = %+v, %v", n, err)
	}
	if _, err := NormByName("bogus"); err == nil || !strings.Contains(err.Error(), "imagenet") {
		t.Errorf("unknown name error %v should list the known ones", err)
	}
	if err := (Norm{Std: [3]float32{1, 0, 1}}).Validate(); err == nil {
		t.Error("zero std accepted")
	}
}

func TestErrorsNameFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "broken.jpg")
	if err := os.WriteFile(bad, []byte("\xff\xd8\xff\xe0 not really"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{bad, filepath.Join(dir, "missing.png")} {
		_, err := DefaultPipeline().File(path, nil)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("error %v does not name %s", err, path)
		}
	}
}

// pngHeader builds a PNG whose IHDR claims w×h and whose data is tiny.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		c := crc32.NewIEEE()
		c.Write([]byte(typ))
		c.Write(data)
		binary.Write(&b, binary.BigEndian, c.Sum32())
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 0 // 8-bit gray
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	chunk("IEND", nil)
	return b.Bytes()
}

func TestHostileHeaders(t *testing.T) {
	for _, sz := range [][2]uint32{{20000, 10}, {16000, 16000}, {4000, 4000}, {1 << 24, 1 << 24}} {
		_, err := Decode(pngHeader(sz[0], sz[1]), "hostile.png")
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("%dx%d header: err = %v, want ErrTooLarge", sz[0], sz[1], err)
		}
		if err != nil && !strings.Contains(err.Error(), "hostile.png") {
			t.Errorf("error %v does not name the file", err)
		}
	}
	// A small claimed size is decoded (and fails only on the bogus data).
	if _, err := Decode(pngHeader(100, 100), "ok.png"); errors.Is(err, ErrTooLarge) {
		t.Errorf("100x100 rejected as too large: %v", err)
	}
}

func TestFromImageKinds(t *testing.T) {
	g16 := image.NewGray16(image.Rect(0, 0, 2, 1))
	g16.SetGray16(0, 0, color.Gray16{Y: 200})
	g16.SetGray16(1, 0, color.Gray16{Y: 300})
	if m := FromImage(g16); m.C != 1 || m.Pix[0] != 200 || m.Pix[1] != 255 {
		t.Errorf("Gray16 → %v (PIL clips to 255)", m.Pix)
	}
	pal := image.NewPaletted(image.Rect(0, 0, 2, 1), color.Palette{color.RGBA{10, 20, 30, 255}, color.NRGBA{40, 50, 60, 0}})
	pal.Pix[1] = 1
	if m := FromImage(pal); m.C != 3 || !bytes.Equal(m.Pix, []byte{10, 20, 30, 40, 50, 60}) {
		t.Errorf("Paletted → %v", m.Pix)
	}
	nrgba := image.NewNRGBA(image.Rect(0, 0, 1, 1))
	nrgba.Pix = []uint8{100, 150, 200, 0} // alpha dropped, not composited
	if m := FromImage(nrgba); !bytes.Equal(m.Pix, []byte{100, 150, 200}) {
		t.Errorf("NRGBA → %v", m.Pix)
	}
}

// FuzzDecode feeds arbitrary bytes to the decoder: it must never panic and
// never allocate far beyond what the input can justify.
func FuzzDecode(f *testing.F) {
	entries, _ := filepath.Glob(filepath.Join(refDir, "*"))
	for _, e := range entries {
		if b, err := os.ReadFile(e); err == nil && len(b) < 64<<10 && (strings.HasSuffix(e, ".jpg") || strings.HasSuffix(e, ".png")) {
			f.Add(b)
		}
	}
	f.Add(pngHeader(5000, 5000))
	f.Add(pngHeader(3, 3))
	f.Add([]byte("\xff\xd8\xff\xc0\x00\x0b\x08\x7f\xff\x7f\xff\x01\x01\x11\x00\xff\xd9"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		img, err := Decode(data, "fuzz")
		runtime.ReadMemStats(&after)
		if err == nil {
			if img.W <= 0 || img.H <= 0 || len(img.Pix) != img.W*img.H*img.C {
				t.Fatalf("bad image %dx%dx%d with %d bytes", img.W, img.H, img.C, len(img.Pix))
			}
			if _, err := DefaultPipeline().Tensor(img, nil); err != nil {
				t.Fatal(err)
			}
		}
		// Budget: the pixel floor (4 MP) or 10000 pixels per input byte,
		// times a generous 40 bytes per pixel for all decode buffers.
		px := max(int64(pixelFloor), int64(len(data))*pixelsPerByte)
		if alloc := after.TotalAlloc - before.TotalAlloc; int64(alloc) > 40*px+(64<<20) {
			t.Fatalf("allocated %d bytes for %d input bytes", alloc, len(data))
		}
	})
}

// BenchmarkPipelineGray1024 preprocesses one 1024×1024 grayscale JPEG (the
// fLOC format): decode, Resize(256), CenterCrop(224), ToTensor, Normalize.
func BenchmarkPipelineGray1024(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(refDir, "gray1024.jpg"))
	if err != nil {
		b.Fatal(err)
	}
	p := DefaultPipeline()
	dst := make([]float32, 3*224*224)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		img, err := Decode(data, "gray1024.jpg")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.Tensor(img, dst); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResizeGray1024 is the resampling part alone.
func BenchmarkResizeGray1024(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(refDir, "gray1024.jpg"))
	if err != nil {
		b.Fatal(err)
	}
	img, err := Decode(data, "gray1024.jpg")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := ResizeShorter(img, 256); err != nil {
			b.Fatal(err)
		}
	}
}
