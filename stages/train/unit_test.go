package train

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"selectivity/cache/arrowfile"
	"selectivity/stages/internal/data"
	"selectivity/stages/internal/imaging"
	_ "selectivity/stages/model"
)

func TestRate(t *testing.T) {
	p := DefaultParams()
	p.LR, p.Epochs, p.Warmup = 0.1, 5, 1
	const steps = 4
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-15 }
	// Warm-up: linear over the first epoch's 4 steps, reaching lr at its last.
	for s, want := range []float64{0.025, 0.05, 0.075, 0.1} {
		if got := p.rate(0, s, steps); !near(got, want) {
			t.Errorf("warm-up step %d: %v, want %v", s, got, want)
		}
	}
	// Cosine over the 4 epochs after warm-up, constant within an epoch.
	for e, want := range []float64{0.1, 0.1 * 0.5 * (1 + math.Cos(math.Pi/4)), 0.05, 0.1 * 0.5 * (1 + math.Cos(3*math.Pi/4))} {
		for s := range steps {
			if got := p.rate(e+1, s, steps); !near(got, want) {
				t.Errorf("cosine epoch %d step %d: %v, want %v", e+1, s, got, want)
			}
		}
	}
	p.Schedule, p.StepEpochs, p.Gamma, p.Warmup = "step", 2, 0.5, 0
	for e, want := range []float64{0.1, 0.1, 0.05, 0.05, 0.025} {
		if got := p.rate(e, 0, steps); !near(got, want) {
			t.Errorf("step epoch %d: %v, want %v", e, got, want)
		}
	}
	p.Schedule = "constant"
	if got := p.rate(4, 3, steps); got != 0.1 {
		t.Errorf("constant: %v", got)
	}
}

func TestValidate(t *testing.T) {
	p := DefaultParams()
	p.Epochs, p.Warmup, p.Save = 3, 3, []int{2, 4, 2}
	errs := p.Validate()
	want := map[string]bool{"warmup": true, "save[1]": true, "save[2]": true}
	if len(errs) != len(want) {
		t.Fatalf("errors %v, want one each for %v", errs, want)
	}
	for _, e := range errs {
		if !want[e.Field] {
			t.Errorf("unexpected error %v", e)
		}
	}
	if errs := DefaultParams().Validate(); len(errs) != 0 {
		t.Errorf("defaults: %v", errs)
	}
}

func TestDraw(t *testing.T) {
	// Every crop offset is reachable and none outside [0, stored-size].
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[[2]int]bool{}
	flips, grays := 0, 0
	const n = 4000
	for range n {
		a := draw(rng, 10, 8, true, 0.25)
		if a.y < 0 || a.y > 2 || a.x < 0 || a.x > 2 {
			t.Fatalf("offset %d,%d outside [0, 2]", a.y, a.x)
		}
		seen[[2]int{a.y, a.x}] = true
		if a.flip {
			flips++
		}
		if a.gray {
			grays++
		}
	}
	if len(seen) != 9 {
		t.Errorf("%d of 9 offsets drawn", len(seen))
	}
	// Binomial: 5 standard deviations.
	if math.Abs(float64(flips)/n-0.5) > 5*math.Sqrt(0.25/n) || math.Abs(float64(grays)/n-0.25) > 5*math.Sqrt(0.1875/n) {
		t.Errorf("%d flips and %d grayscale of %d", flips, grays, n)
	}
	if a := draw(rng, 8, 8, false, 0); a != (augment{}) {
		t.Errorf("no augmentation possible, got %+v", a)
	}
	if a := center(11, 8); a.y != 2 || a.x != 2 { // round(1.5) = 2
		t.Errorf("center(11, 8) = %+v", a)
	}
	if a := center(13, 8); a.y != 2 { // round(2.5) = 2 (half to even)
		t.Errorf("center(13, 8) = %+v", a)
	}
}

// rgbSet writes a pixels.arrow of one 3×s×s image with distinct bytes and
// opens it as a set.
func rgbSet(t *testing.T, s int) (*set, []uint8) {
	t.Helper()
	norm, err := imaging.NormByName("half")
	if err != nil {
		t.Fatal(err)
	}
	pix := make([]uint8, 3*s*s)
	for i := range pix {
		pix[i] = uint8(7*i + 3)
	}
	schema := data.PixelsSchema(3, s, "half", norm)
	b := array.NewBuilder(memory.DefaultAllocator, schema.Field(0).Type).(*array.FixedSizeListBuilder)
	defer b.Release()
	b.Append(true)
	b.ValueBuilder().(*array.Uint8Builder).AppendValues(pix, nil)
	col := b.NewArray()
	defer col.Release()
	path := filepath.Join(t.TempDir(), data.PixelsFile)
	if err := arrowfile.WriteTable(path, schema, col); err != nil {
		t.Fatal(err)
	}
	px, err := data.OpenPixels(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	st := &set{stage: "test", px: px, labels: []int{0}}
	if err := px.Rows(func(_ int, p []uint8) error { st.rows = append(st.rows, p); return nil }); err != nil {
		t.Fatal(err)
	}
	return st, pix
}

func TestFill(t *testing.T) {
	const s, size = 5, 3
	st, pix := rgbSet(t, s)
	level := func(v uint8) float32 { return float32((float64(v)/255 - 0.5) / 0.5) }
	for _, a := range []augment{{}, {y: 2, x: 1}, {y: 1, x: 2, flip: true}, {y: 1, x: 0, gray: true}, {y: 2, x: 2, flip: true, gray: true}} {
		dst := make([]float32, 3*size*size)
		st.fill(dst, 0, size, a)
		for c := range 3 {
			for y := range size {
				for x := range size {
					sx := a.x + x
					if a.flip {
						sx = a.x + size - 1 - x
					}
					i := (a.y+y)*s + sx
					v := pix[c*s*s+i]
					if a.gray {
						// PIL's ITU-R 601-2 luma with its integer rounding.
						r, g, b := float64(pix[i]), float64(pix[s*s+i]), float64(pix[2*s*s+i])
						v = uint8(math.Floor((r*19595 + g*38470 + b*7471 + 32768) / 65536))
					}
					got := dst[c*size*size+y*size+x]
					if math.Abs(float64(got-level(v))) > 1e-6 {
						t.Fatalf("%+v: channel %d (%d,%d) = %v, want %v (byte %d)", a, c, y, x, got, level(v), v)
					}
				}
			}
		}
	}
}

func TestClipNorm(t *testing.T) {
	g := map[string][]float32{"a": {3, 4}, "b": {12}}
	if n := clipNorm(g, 26); n != 13 || g["a"][0] != 3 || g["b"][0] != 12 {
		t.Errorf("norm %v under the limit changed the gradients: %v", n, g)
	}
	clipNorm(g, 6.5)
	c := float32(6.5 / (13 + 1e-6))
	if g["a"][0] != 3*c || g["a"][1] != 4*c || g["b"][0] != 12*c {
		t.Errorf("clipped to %v, want ×%v", g, c)
	}
}
