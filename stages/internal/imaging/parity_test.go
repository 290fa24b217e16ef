package imaging

import (
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"image/jpeg"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Reference fixtures made by testdata/imaging/gen.py with PIL + torchvision.
var refDir = filepath.Join("..", "..", "..", "testdata", "imaging")

type refEntry struct {
	File       string `json:"file"`
	Note       string `json:"note"`
	PILMode    string `json:"pil_mode"`
	Width      int    `json:"width"`
	Height     int    `json:"height"`
	Resized    [2]int `json:"resized"`
	Decoded    string `json:"decoded"`
	Pixels     string `json:"pixels"`
	Tensor     string `json:"tensor"`
	TensorNorm string `json:"tensor_norm"`
}

type refIndex struct {
	Versions map[string]string `json:"versions"`
	LUTs     map[string]string `json:"luts"`
	Entries  []refEntry        `json:"entries"`
}

func loadIndex(t testing.TB) refIndex {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(refDir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx refIndex
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Entries) == 0 {
		t.Fatal("empty index")
	}
	return idx
}

func readFloats(t testing.TB, name string) []float32 {
	t.Helper()
	f, err := os.Open(filepath.Join(refDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(name, ".gz") {
		z, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r = z
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// diffStats compares two images as RGB (gray replicated).
type diffStats struct {
	n, exact, within1, maxDiff int
}

func (d diffStats) fracExact() float64   { return float64(d.exact) / float64(d.n) }
func (d diffStats) fracWithin1() float64 { return float64(d.within1) / float64(d.n) }

func compare(t testing.TB, got, want *Image) diffStats {
	t.Helper()
	if got.W != want.W || got.H != want.H {
		t.Fatalf("size %dx%d, want %dx%d", got.W, got.H, want.W, want.H)
	}
	var d diffStats
	for y := 0; y < got.H; y++ {
		for x := 0; x < got.W; x++ {
			r1, g1, b1 := got.At(x, y)
			r2, g2, b2 := want.At(x, y)
			for _, p := range [3][2]uint8{{r1, r2}, {g1, g2}, {b1, b2}} {
				v := int(p[0]) - int(p[1])
				if v < 0 {
					v = -v
				}
				d.n++
				if v == 0 {
					d.exact++
				}
				if v <= 1 {
					d.within1++
				}
				d.maxDiff = max(d.maxDiff, v)
			}
		}
	}
	return d
}

// TestParityTorchvision checks the pipeline against PIL + torchvision:
//   - resampler alone: on PIL's own decoded pixels, resize + crop must be
//     bit-identical to torchvision's;
//   - decoder alone: our decode vs PIL's (libjpeg-turbo), bit-identical;
//   - end to end: decode + resize + crop bit-identical (the brief's
//     tolerance, ≥ 99.9% within 1/255 and none over 2/255, is also checked
//     so a future fixture that is not exact says by how much);
//   - tensors: bit-identical to torch's float32.
func TestParityTorchvision(t *testing.T) {
	idx := loadIndex(t)
	p := DefaultPipeline()
	for _, e := range idx.Entries {
		t.Run(e.File, func(t *testing.T) {
			img, err := DecodeFile(filepath.Join(refDir, e.File))
			if err != nil {
				t.Fatal(err)
			}
			if img.W != e.Width || img.H != e.Height {
				t.Fatalf("decoded %dx%d, want %dx%d", img.W, img.H, e.Width, e.Height)
			}
			if w, h := ResizedSize(img.W, img.H, 256); w != e.Resized[0] || h != e.Resized[1] {
				t.Errorf("ResizedSize = %dx%d, torchvision %dx%d", w, h, e.Resized[0], e.Resized[1])
			}
			want, err := DecodeFile(filepath.Join(refDir, e.Pixels))
			if err != nil {
				t.Fatal(err)
			}
			if e.Decoded != "" {
				pil, err := DecodeFile(filepath.Join(refDir, e.Decoded))
				if err != nil {
					t.Fatal(err)
				}
				dec := compare(t, img, pil)
				t.Logf("decode vs PIL: %.4f%% exact, %.4f%% within 1, max diff %d (%d values)",
					100*dec.fracExact(), 100*dec.fracWithin1(), dec.maxDiff, dec.n)
				if dec.maxDiff != 0 {
					t.Errorf("decode differs from PIL (max diff %d)", dec.maxDiff)
				}
				// Resampler in isolation: PIL's pixels in, torchvision's out.
				if pil.C == 3 && img.C == 1 {
					t.Logf("note: PIL decoded to RGB where Go has gray")
				}
				got, err := p.Pixels(pil)
				if err != nil {
					t.Fatal(err)
				}
				if d := compare(t, got, want); d.maxDiff != 0 {
					t.Errorf("resize+crop of PIL-decoded pixels: %.4f%% exact, max diff %d; want bit-identical",
						100*d.fracExact(), d.maxDiff)
				}
			}
			got, err := p.Pixels(img)
			if err != nil {
				t.Fatal(err)
			}
			d := compare(t, got, want)
			t.Logf("resize+crop vs torchvision: %.4f%% exact, %.4f%% within 1, max diff %d",
				100*d.fracExact(), 100*d.fracWithin1(), d.maxDiff)
			if d.maxDiff != 0 {
				t.Errorf("end to end not bit-identical (max diff %d)", d.maxDiff)
			}
			if d.fracWithin1() < 0.999 || d.maxDiff > 2 {
				t.Errorf("end to end: %.4f%% within 1/255 (want ≥ 99.9%%), max diff %d (want ≤ 2)",
					100*d.fracWithin1(), d.maxDiff)
			}
			if e.Tensor == "" {
				return
			}
			norm, err := NormByName(e.TensorNorm)
			if err != nil {
				t.Fatal(err)
			}
			ref := readFloats(t, e.Tensor)
			// From torchvision's own pixels the tensor must be bit-identical.
			exactT := ToTensor(want, norm, nil)
			// From ours, within the pixel tolerance scaled by 1/std.
			ours := ToTensor(got, norm, nil)
			if len(ref) != len(ours) {
				t.Fatalf("tensor has %d values, want %d", len(ours), len(ref))
			}
			var maxAbs float64
			for i := range ref {
				if math.Float32bits(exactT[i]) != math.Float32bits(ref[i]) {
					t.Fatalf("tensor[%d] = %v from torchvision's pixels, torch has %v", i, exactT[i], ref[i])
				}
				c := i / (len(ref) / 3)
				diff := math.Abs(float64(ours[i] - ref[i]))
				maxAbs = max(maxAbs, diff)
				if lim := 2.0/255/float64(norm.Std[c]) + 1e-6; diff > lim {
					t.Fatalf("tensor[%d] = %v, torch %v (|diff| %g > %g)", i, ours[i], ref[i], diff, lim)
				}
			}
			t.Logf("tensor (%s): max |diff| %.3g", e.TensorNorm, maxAbs)
		})
	}
}

// TestGoJPEGDrift measures what Go's image/jpeg (the fallback for JPEG kinds
// the exact decoder does not handle) gives against libjpeg, before and after
// resize + crop, and checks it stays within the brief's tolerance for gray
// images and within 3 levels for colour.
func TestGoJPEGDrift(t *testing.T) {
	idx := loadIndex(t)
	p := DefaultPipeline()
	for _, e := range idx.Entries {
		if !strings.HasSuffix(e.File, ".jpg") {
			continue
		}
		f, err := os.Open(filepath.Join(refDir, e.File))
		if err != nil {
			t.Fatal(err)
		}
		m, err := jpeg.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		img := FromImage(m)
		pil, err := DecodeFile(filepath.Join(refDir, e.Decoded))
		if err != nil {
			t.Fatal(err)
		}
		want, err := DecodeFile(filepath.Join(refDir, e.Pixels))
		if err != nil {
			t.Fatal(err)
		}
		dec := compare(t, img, pil)
		got, err := p.Pixels(img)
		if err != nil {
			t.Fatal(err)
		}
		d := compare(t, got, want)
		t.Logf("%-24s Go image/jpeg vs libjpeg: decoded %.2f%% exact, max %d; after resize+crop %.2f%% exact, %.3f%% within 1, max %d",
			e.File, 100*dec.fracExact(), dec.maxDiff, 100*d.fracExact(), 100*d.fracWithin1(), d.maxDiff)
		lim := 3
		if img.C == 1 {
			lim = 1
			if d.fracWithin1() < 0.999 {
				t.Errorf("%s: gray fallback %.3f%% within 1/255", e.File, 100*d.fracWithin1())
			}
		}
		if dec.maxDiff > lim || d.maxDiff > lim {
			t.Errorf("%s: fallback drift %d / %d exceeds %d", e.File, dec.maxDiff, d.maxDiff, lim)
		}
	}
}

// TestNormLUT checks ToTensor+Normalize of every byte value against torch.
func TestNormLUT(t *testing.T) {
	idx := loadIndex(t)
	for name, file := range idx.LUTs {
		norm, err := NormByName(name)
		if err != nil {
			t.Fatal(err)
		}
		ref := readFloats(t, file)
		ramp := NewImage(256, 1, 3)
		for v := 0; v < 256; v++ {
			ramp.Pix[3*v], ramp.Pix[3*v+1], ramp.Pix[3*v+2] = uint8(v), uint8(v), uint8(v)
		}
		got := ToTensor(ramp, norm, nil)
		for i := range ref {
			if math.Float32bits(got[i]) != math.Float32bits(ref[i]) {
				t.Errorf("%s: channel %d value %d: got %v, torch %v", name, i/256, i%256, got[i], ref[i])
			}
		}
	}
}
