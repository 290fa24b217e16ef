// Package synth draws synthetic grayscale stimuli with fLOC's category
// names (adult, child, body, limb, word, number, car, instrument, house,
// corridor, scrambled), deterministically from (category, index, size,
// seed), for tests, for the default experiment and for anyone without the
// fLOC images; and more object categories (Extra: chair, bottle, cup,
// lamp) for training a network on more classes than fLOC's.
//
// Images imitate fLOC's look: a grayscale object on a mid-gray, low-contrast
// textured background. Faces are built from identity-specific geometry
// (outline, jaw and chin, eye spacing and size, brows, nose, mouth, ears,
// hair style and tone, skin tone, clothing) and identity-fixed facial hair
// (none, moustache, full beard, goatee, stubble) and accessories (glasses,
// hat, earrings), with per-image variation: position, scale, in-plane tilt,
// a sideways shift of the features (a slight turn of the head), gaze,
// expression (neutral, smile, laugh, surprise, frown), light from one side,
// hair volume and tone, clothes on half the images, glasses and hats worn
// always or in some images only, a backdrop (stripes, blobs, a horizon or
// none) and noise, so a set of synthetic identities can be learnt and
// decoded by identity from held-out images. Child faces are rounder, with
// larger eyes placed lower and smaller features, and no facial hair. Words
// and numbers are random strings set in the Go font; the other objects are
// drawn with simple antialiased vector shapes.
//
// Every step is integer arithmetic on a PCG stream seeded from the
// arguments, so the same arguments give the same bytes on any machine.
package synth

import (
	"fmt"
	"image"
	"slices"
	"strings"
)

// Categories lists fLOC's categories in fLOC's order.
var Categories = []string{
	"adult", "child", "body", "limb", "word", "number",
	"car", "instrument", "house", "corridor", "scrambled",
}

// Extra are synth's object categories beyond fLOC's: drawn like car and
// instrument, in no fLOC domain unless the experiment's domains put them
// in one.
var Extra = []string{"chair", "bottle", "cup", "lamp"}

// Known reports whether synth draws category cat (fLOC's or Extra).
func Known(cat string) bool { return slices.Contains(Categories, cat) || slices.Contains(Extra, cat) }

// Size limits for generated images.
const (
	MinSize = 16
	MaxSize = 4096
)

type drawFunc func(c *canvas, r *rng, index int)

var drawers = map[string]drawFunc{
	"body":       drawBody,
	"limb":       drawLimb,
	"word":       drawWord,
	"number":     drawNumber,
	"car":        drawCar,
	"instrument": drawInstrument,
	"house":      drawHouse,
	"corridor":   drawCorridor,
	"chair":      drawChair,
	"bottle":     drawBottle,
	"cup":        drawCup,
	"lamp":       drawLamp,
}

func checkArgs(index, size int) error {
	if size < MinSize || size > MaxSize {
		return fmt.Errorf("synth: size %d outside [%d, %d]", size, MinSize, MaxSize)
	}
	if index < 0 {
		return fmt.Errorf("synth: negative index %d", index)
	}
	return nil
}

// Category draws image number index (0-based) of a fLOC category as a
// size×size grayscale image. For adult and child, index is the identity
// and the image is that identity's image 0 (see Face). Scrambled images are
// block-scrambled images of the other categories in turn.
func Category(cat string, index int, size int, seed int64) (*image.Gray, error) {
	if err := checkArgs(index, size); err != nil {
		return nil, err
	}
	switch cat {
	case "adult":
		return Face(index, 0, size, seed), nil
	case "child":
		return ChildFace(index, 0, size, seed), nil
	case "scrambled":
		return scrambled(index, size, seed)
	}
	draw, ok := drawers[cat]
	if !ok {
		return nil, fmt.Errorf("synth: unknown category %q (known: %s)", cat, strings.Join(append(slices.Clone(Categories), Extra...), ", "))
	}
	r := newRNG(seed, cat, int64(index))
	c := newCanvas(size, size, 128)
	background(c, r)
	draw(c, r, index)
	finish(c, r)
	return c.gray(), nil
}

// background paints fLOC-like texture: mid-gray (about 128) with smooth
// two-octave value noise of low contrast.
func background(c *canvas, r *rng) {
	base := r.rng(118, 138)
	for i := range c.pix {
		c.pix[i] = int32(base)
	}
	valueNoise(c, r, 5, 16)
	valueNoise(c, r, 13, 9)
}

// valueNoise adds smooth noise: random values on a (g+1)² grid in [-amp,
// amp], interpolated bilinearly with a smoothstep weight.
func valueNoise(c *canvas, r *rng, g int, amp int64) {
	grid := make([]int64, (g+1)*(g+1))
	for i := range grid {
		grid[i] = r.sym(amp)
	}
	smooth := func(t int64) int64 { return t * t * (3*256 - 2*t) >> 16 } // t, result in Q8
	for y := 0; y < c.h; y++ {
		fy := int64(y) * int64(g) * 256 / int64(c.h)
		gy, ty := fy>>8, smooth(fy&255)
		for x := 0; x < c.w; x++ {
			fx := int64(x) * int64(g) * 256 / int64(c.w)
			gx, tx := fx>>8, smooth(fx&255)
			v00, v10 := grid[gy*int64(g+1)+gx], grid[gy*int64(g+1)+gx+1]
			v01, v11 := grid[(gy+1)*int64(g+1)+gx], grid[(gy+1)*int64(g+1)+gx+1]
			top := v00*(256-tx) + v10*tx
			bot := v01*(256-tx) + v11*tx
			c.pix[y*c.w+x] += int32((top*(256-ty) + bot*ty) >> 16)
		}
	}
}

// scenery adds a backdrop to a face image's background: nothing, stripes
// (a wall of boards or a blind), out-of-focus blobs, or a horizon between
// two tones; all of low contrast.
func scenery(c *canvas, r *rng) {
	switch r.intn(5) {
	case 1, 2:
		period := int64(c.w) * r.rng(12, 30) / 100
		amp := r.rng(5, 14)
		ax, ay := r.intn(3), r.intn(3) // direction: (1, 0), (0, 1), diagonals
		if ax == 0 && ay == 0 {
			ax = 1
		}
		for y := 0; y < c.h; y++ {
			for x := 0; x < c.w; x++ {
				t := (ax*int64(x) + ay*int64(y)) * 512 / max(period, 1) % 512 // Q8 phase, two half-periods
				tri := min(t, 512-t) - 128                                    // triangle wave in [-128, 128]
				c.pix[y*c.w+x] += int32(tri * amp / 128)
			}
		}
	case 3:
		x := place(c.w, 0, 0, q16, 0)
		for range r.rng(3, 6) {
			cx, cy := r.intn(designSize), r.intn(designSize)
			rx, ry := r.rng(400, 1400), r.rng(400, 1400)
			c.fill(x.polys(ellipse(cx, cy, rx, ry)), int32(r.rng(60, 200)), int32(r.rng(40, 90)), true)
		}
	case 4:
		x := place(c.w, 0, 0, q16, 0)
		h := r.rng(designSize*45/100, designSize*80/100)
		c.fill(x.polys(rect(-designSize, h, 2*designSize, 2*designSize)), int32(r.rng(70, 190)), int32(r.rng(50, 110)), true)
	}
}

// finish applies a random linear lighting gradient and fine pixel noise.
func finish(c *canvas, r *rng) {
	gx, gy := r.sym(24), r.sym(24) // levels across the whole image
	n := r.rng(2, 5)
	for y := 0; y < c.h; y++ {
		for x := 0; x < c.w; x++ {
			d := (gx*(2*int64(x)-int64(c.w)) + gy*(2*int64(y)-int64(c.h))) / int64(2*c.w)
			c.pix[y*c.w+x] += int32(d + r.sym(n))
		}
	}
}

// scrambled cuts an image of another category into a 10×10 grid and
// shuffles the cells.
func scrambled(index, size int, seed int64) (*image.Gray, error) {
	others := Categories[:len(Categories)-1]
	src, err := Category(others[index%len(others)], index/len(others), size, seed)
	if err != nil {
		return nil, err
	}
	const g = 10
	r := newRNG(seed, "scrambled", int64(index))
	perm := r.perm(g * g)
	out := image.NewGray(src.Rect)
	edge := func(i int) int { return i * size / g }
	for cell := 0; cell < g*g; cell++ {
		dx0, dy0 := edge(cell%g), edge(cell/g)
		dw, dh := edge(cell%g+1)-dx0, edge(cell/g+1)-dy0
		s := perm[cell]
		sx0, sy0 := edge(s%g), edge(s/g)
		sw, sh := edge(s%g+1)-sx0, edge(s/g+1)-sy0
		for y := 0; y < dh; y++ {
			for x := 0; x < dw; x++ {
				out.Pix[(dy0+y)*size+dx0+x] = src.Pix[(sy0+y*sh/dh)*size+sx0+x*sw/dw]
			}
		}
	}
	return out, nil
}

// ContactSheet draws perCat images of each category in a grid (one row per
// category, a 4-pixel gap), for looking at the stimuli.
func ContactSheet(cats []string, perCat, size int, seed int64) (*image.Gray, error) {
	const gap = 4
	w := perCat*(size+gap) + gap
	h := len(cats)*(size+gap) + gap
	sheet := image.NewGray(image.Rect(0, 0, w, h))
	for i := range sheet.Pix {
		sheet.Pix[i] = 255
	}
	for row, cat := range cats {
		for col := 0; col < perCat; col++ {
			img, err := Category(cat, col, size, seed)
			if err != nil {
				return nil, err
			}
			x0, y0 := gap+col*(size+gap), gap+row*(size+gap)
			for y := 0; y < size; y++ {
				copy(sheet.Pix[(y0+y)*w+x0:(y0+y)*w+x0+size], img.Pix[y*size:(y+1)*size])
			}
		}
	}
	return sheet, nil
}
