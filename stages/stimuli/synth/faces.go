package synth

import "image"

// FaceKind selects adult or child face geometry.
type FaceKind int

const (
	Adult FaceKind = iota
	Child
)

func (k FaceKind) String() string {
	if k == Child {
		return "child"
	}
	return "adult"
}

// Face draws image number img of adult identity id as a size×size
// grayscale image. The identity fixes the geometry and tones (face outline,
// jaw and chin, eye spacing and size, iris tone, brows, nose, mouth, ears,
// hair style and tone, skin tone, clothing); img varies position, scale,
// tilt, gaze, expression, lighting and noise. Sizes outside
// [MinSize, MaxSize] are clamped.
func Face(id, img, size int, seed int64) *image.Gray {
	return KindFace(Adult, id, img, size, seed)
}

// ChildFace is Face for child identities (a separate population: child
// identity 3 is unrelated to adult identity 3).
func ChildFace(id, img, size int, seed int64) *image.Gray {
	return KindFace(Child, id, img, size, seed)
}

// KindFace draws image img of identity id of the given kind.
func KindFace(kind FaceKind, id, img, size int, seed int64) *image.Gray {
	size = min(max(size, MinSize), MaxSize)
	p := newIdentity(kind, id, seed)
	r := newRNG(seed, "face-image", int64(kind), int64(id), int64(img))
	c := newCanvas(size, size, 128)
	background(c, r)
	p.draw(c, r)
	finish(c, r)
	return c.gray()
}

// identity holds one face's fixed parameters, in design units (the canvas
// is designSize = 4096 wide) relative to the face centre, and gray tones.
type identity struct {
	kind                  FaceKind
	fw, fh                int64 // half-width, half-height (centre to chin) of the face
	top                   int64 // centre to crown: children have a larger cranium
	shoulderW, shoulderY  int64 // children: narrower shoulders, shorter neck
	p1y, jawW, jawY       int64 // jaw: cubic control points of the lower outline
	chinW, chinDrop       int64
	skin, hair, iris, lip int64
	cloth, brow           int64
	hairStyle             int   // 0 short, 1 medium, 2 long, 3 receding, 4 curly, 5 bun
	hairline, temple      int64 // y of the hairline centre and of the temples (negative: up)
	fringe                int64 // hairline dip (+ down) toward the left side
	hairVol               int64 // how far hair stands off the skull
	eyeY, eyeX            int64 // eye centre height and half-distance between eyes
	eyeW, eyeH            int64 // eye half-width and half-height
	browT, browArch       int64 // brow thickness and arch height
	browTilt              int64
	noseY, noseW          int64
	mouthY, mouthW        int64
	upLip, loLip, smile   int64
	earH                  int64
	neckW                 int64
	cheek                 int64 // cheek highlight strength
}

func newIdentity(kind FaceKind, id int, seed int64) *identity {
	r := newRNG(seed, "face-identity", int64(kind), int64(id))
	p := &identity{kind: kind}
	pct := func(v int64, lo, hi int64) int64 { return v * r.rng(lo, hi) / 100 }
	if kind == Adult {
		p.fw = r.rng(560, 660)
		p.fh = pct(p.fw, 124, 146)
		p.skin = r.rng(150, 205)
	} else {
		p.fw = r.rng(600, 680)
		p.fh = pct(p.fw, 106, 118)
		p.skin = r.rng(165, 210)
	}
	p.p1y = pct(p.fh, 30, 55)
	if kind == Adult {
		p.top = pct(p.fh, 98, 104)
		p.shoulderW = pct(p.fw, 215, 250)
		p.shoulderY = pct(p.fh, 145, 160)
	} else {
		p.top = pct(p.fh, 114, 124)
		p.shoulderW = pct(p.fw, 150, 175)
		p.shoulderY = pct(p.fh, 122, 132)
	}
	if kind == Adult {
		p.jawW = pct(p.fw, 72, 100)
		p.jawY = pct(p.fh, 72, 96)
		p.chinW = pct(p.fw, 14, 34)
		p.chinDrop = pct(p.fh, 0, 8)
	} else {
		p.jawW = pct(p.fw, 92, 108)
		p.jawY = pct(p.fh, 78, 98)
		p.chinW = pct(p.fw, 32, 46)
		p.chinDrop = pct(p.fh, 0, 5)
	}
	// Hair: mostly dark, sometimes fair or gray.
	switch v := r.intn(100); {
	case v < 60:
		p.hair = r.rng(20, 75)
	case v < 82:
		p.hair = r.rng(75, 125)
	default:
		p.hair = r.rng(160, 215)
	}
	p.hairStyle = int(r.intn(6))
	if kind == Child && p.hairStyle == 3 {
		p.hairStyle = 0 // no receding hairlines on children
	}
	p.hairline = -pct(p.top, 48, 70)
	p.temple = -pct(p.fh, 5, 30)
	p.fringe = pct(p.fh, -8, 22)
	p.hairVol = pct(p.fw, 4, 16)
	p.iris = r.rng(35, 120)
	p.lip = p.skin - r.rng(30, 60)
	p.cloth = r.rng(30, 220)
	p.brow = min(p.hair, p.skin-r.rng(60, 100))
	p.cheek = r.rng(8, 22)
	if kind == Adult {
		p.eyeY = -pct(p.fh, 0, 14)
		p.eyeX = pct(p.fw, 36, 48)
		p.eyeW = pct(p.fw, 16, 20)
		p.eyeH = pct(p.eyeW, 38, 52)
		p.browT = pct(p.fh, 4, 8)
		p.browArch = pct(p.fh, 2, 7)
		p.noseY = p.eyeY + pct(p.fh, 34, 46)
		p.noseW = pct(p.fw, 15, 23)
		p.mouthY = p.noseY + pct(p.fh, 20, 27)
		p.mouthW = pct(p.fw, 30, 42)
		p.upLip = pct(p.fh, 3, 6)
		p.loLip = pct(p.fh, 4, 8)
		p.earH = pct(p.fh, 18, 24)
		p.neckW = pct(p.fw, 40, 52)
	} else {
		p.eyeY = pct(p.fh, 6, 16)
		p.eyeX = pct(p.fw, 36, 44)
		p.eyeW = pct(p.fw, 21, 25)
		p.eyeH = pct(p.eyeW, 50, 64)
		p.browT = pct(p.fh, 3, 5)
		p.browArch = pct(p.fh, 2, 6)
		p.noseY = p.eyeY + pct(p.fh, 26, 33)
		p.noseW = pct(p.fw, 12, 17)
		p.mouthY = p.noseY + pct(p.fh, 18, 23)
		p.mouthW = pct(p.fw, 24, 32)
		p.upLip = pct(p.fh, 3, 5)
		p.loLip = pct(p.fh, 4, 7)
		p.earH = pct(p.fh, 20, 25)
		p.neckW = pct(p.fw, 34, 42)
	}
	p.browTilt = pct(p.fh, -3, 4)
	p.smile = pct(p.fh, -1, 4)
	return p
}

// outline is the face's closed contour: the top half of an ellipse, then
// cubic cheeks down to the jaw and a rounded chin.
func (p *identity) outline() poly {
	o := arc(0, 0, p.fw, p.top, 0, 24) // +x, over the top, to -x (n = 12 per quadrant)
	left := cubic(pt{-p.fw, 0}, pt{-p.fw, p.p1y}, pt{-p.jawW, p.jawY}, pt{-p.chinW, p.fh}, 12)
	o = append(o, left...)
	o = append(o, quad(pt{-p.chinW, p.fh}, pt{0, p.fh + p.chinDrop}, pt{p.chinW, p.fh}, 6)...)
	right := cubic(pt{p.chinW, p.fh}, pt{p.jawW, p.jawY}, pt{p.fw, p.p1y}, pt{p.fw, 0}, 12)
	return append(o, right[:len(right)-1]...)
}

func (p *identity) draw(c *canvas, r *rng) {
	size := c.w
	// Per-image pose: the face centre sits a little above the canvas centre.
	cx := designSize/2 + r.sym(180)
	cy := designSize/2 - 120 + r.sym(140)
	scale := int64(q16) * r.rng(128, 146) / 100
	tilt := r.sym(q16 * 5 / 100) // about ±6 degrees
	x := place(size, cx, cy, scale, tilt)
	fill := func(tone int64, alpha int32, ps ...poly) {
		c.fill(x.polys(ps...), int32(clampInt(tone, 0, 255)), alpha, true)
	}
	gaze := r.sym(p.eyeW * 18 / 100)
	smile := p.smile + r.sym(p.fh*2/100)
	fw, fh := p.fw, p.fh

	// Clothes and shoulders, then the neck.
	shoulderY := p.shoulderY
	fill(p.cloth, 256, ellipse(0, shoulderY+fh*60/100, p.shoulderW, fh*75/100))
	fill(p.skin-22, 256, rect(-p.neckW, fh*40/100, p.neckW, shoulderY-fh*8/100))
	neckline := append(poly{{-p.neckW * 125 / 100, shoulderY - fh*14/100}}, quad(pt{-p.neckW * 125 / 100, shoulderY - fh*14/100}, pt{0, shoulderY + fh*40/100}, pt{p.neckW * 125 / 100, shoulderY - fh*14/100}, 10)...)
	fill(p.skin-22, 256, neckline)
	fill(max(p.cloth-50, 5), 200, stroke(neckline, fw*5/100, fw*5/100)...)
	fill(p.skin-45, 140, ellipse(0, fh*98/100, p.neckW*110/100, fh*18/100)) // shadow under the jaw

	// Hair behind the head (medium, long, curly).
	hairTop := -p.top - p.hairVol
	switch p.hairStyle {
	case 1, 2:
		bottom := fh * 55 / 100
		wide := fw + p.hairVol*2
		if p.hairStyle == 2 {
			bottom = fh * 150 / 100
			wide = fw + p.hairVol*3
		}
		back := arc(0, p.temple, wide, p.temple-hairTop, 0, 24)
		back = append(back, pt{-wide - p.hairVol, bottom}, pt{wide + p.hairVol, bottom})
		fill(p.hair, 256, back)
	case 4:
		var blobs []poly
		for i := int64(0); i <= 12; i++ {
			a := arc(0, p.temple+fh*10/100, fw+p.hairVol*2, p.temple-hairTop+p.hairVol*2, 0, 24)
			q := a[i*2]
			blobs = append(blobs, ellipse(q.x, q.y, fw*26/100, fw*26/100))
		}
		blobs = append(blobs, ellipse(0, p.temple, fw+p.hairVol*2, fh*95/100))
		fill(p.hair, 256, blobs...)
	case 5:
		fill(p.hair, 256, ellipse(0, hairTop-fw*12/100, fw*30/100, fw*24/100))
	case 3: // receding: a rim of hair at the sides and back, behind the face
		fill(p.hair, 256, ellipse(0, -fh*5/100, fw*107/100, fh*70/100))
	}

	// Ears unless covered.
	if p.hairStyle != 1 && p.hairStyle != 2 && p.hairStyle != 4 {
		for _, s := range []int64{-1, 1} {
			ex := s * fw * 97 / 100
			fill(p.skin-18, 256, ellipse(ex, p.eyeY+p.earH*45/100, fw*14/100, p.earH))
			fill(p.skin-50, 160, ellipse(ex+s*fw*2/100, p.eyeY+p.earH*45/100, fw*6/100, p.earH*55/100))
		}
	}

	// Face, with a soft highlight on the cheeks and forehead for depth.
	out := p.outline()
	fill(p.skin-30, 256, scaled(out, 103, 101)) // thin darker rim
	fill(p.skin, 256, out)
	fill(p.skin+p.cheek, 110, ellipse(0, -fh*10/100, fw*70/100, fh*70/100))
	fill(p.skin+p.cheek/2, 90, ellipse(0, -fh*10/100, fw*45/100, fh*50/100))

	// Eyes.
	for _, s := range []int64{-1, 1} {
		ex, ey := s*p.eyeX, p.eyeY
		ew, eh := p.eyeW, p.eyeH
		inner, outer := pt{ex - s*ew, ey + eh/6}, pt{ex + s*ew, ey}
		upper := quad(inner, pt{ex, ey - eh*2}, outer, 10)
		lower := quad(outer, pt{ex, ey + eh*17/10}, inner, 10)
		eye := append(poly{inner}, upper...)
		eye = append(eye, lower[:len(lower)-1]...)
		fill(p.skin-28, 200, ellipse(ex, ey-eh*75/100, ew*110/100, eh*95/100)) // socket shadow
		fill(clampInt(p.skin+35, 190, 235), 256, eye)
		ir := eh * 74 / 100
		ix := ex + gaze
		fill(p.iris, 256, ellipse(ix, ey-eh*8/100, ir, ir))
		fill(12, 256, ellipse(ix, ey-eh*8/100, ir*45/100, ir*45/100))
		fill(235, 220, ellipse(ix+ir*30/100, ey-eh*35/100, ir*18/100, ir*18/100)) // catch light
		lid := append(poly{inner}, upper...)
		fill(max(p.brow-10, 5), 256, stroke(lid, eh*30/100, eh*22/100)...)                                  // upper lid / lashes
		fill(p.skin-35, 150, stroke(quad(inner, pt{ex, ey - eh*29/10}, outer, 8), eh*12/100, eh*12/100)...) // crease
		// Brow.
		b0 := pt{ex - s*ew*95/100, ey - eh*22/10}
		b2 := pt{ex + s*ew*115/100, ey - eh*22/10 + p.browTilt}
		b1 := pt{ex + s*ew*20/100, ey - eh*22/10 - p.browArch}
		brow := append(poly{b0}, quad(b0, b1, b2, 10)...)
		fill(p.brow, 235, stroke(brow, p.browT, p.browT*55/100)...)
	}

	// Nose: side shadows, tip highlight, nostrils.
	nw, ny := p.noseW, p.noseY
	for _, s := range []int64{-1, 1} {
		side := poly{{s * nw * 30 / 100, p.eyeY + p.eyeH}, {s * nw * 42 / 100, (p.eyeY + ny) / 2}, {s * nw * 75 / 100, ny - nw*25/100}}
		fill(p.skin-40, 110, stroke(side, nw*16/100, nw*22/100)...)
		fill(p.skin-75, 230, ellipse(s*nw*45/100, ny+nw*8/100, nw*26/100, nw*13/100))
	}
	fill(p.skin-30, 120, ellipse(0, ny+nw*20/100, nw*70/100, nw*18/100))
	fill(p.skin+18, 130, ellipse(0, ny-nw*22/100, nw*34/100, nw*26/100))

	// Mouth: upper lip with a cupid's bow, lower lip, dark line between.
	my, mw := p.mouthY, p.mouthW
	lc, rc := pt{-mw, my - smile}, pt{mw, my - smile}
	mid := pt{0, my + smile}
	up := append(poly{lc}, quad(lc, pt{-mw * 45 / 100, my - p.upLip*2}, pt{0, my - p.upLip*7/10}, 6)...)
	up = append(up, quad(pt{0, my - p.upLip*7/10}, pt{mw * 45 / 100, my - p.upLip*2}, rc, 6)...)
	line := append(poly{rc}, quad(rc, mid, lc, 10)...)
	fill(p.lip-10, 256, append(up, line[1:len(line)-1]...))
	lo := append(poly{rc}, quad(rc, pt{0, my + smile + p.loLip*2}, lc, 10)...)
	fill(p.lip, 256, append(lo, quad(lc, mid, rc, 10)[:9]...))
	fill(p.lip+25, 110, ellipse(0, my+smile+p.loLip*55/100, mw*35/100, p.loLip*35/100)) // lower-lip sheen
	fill(max(p.lip-70, 5), 256, stroke(line, p.upLip*30/100, p.upLip*30/100)...)

	// Hair on top of the head: a cap above a hairline curve.
	switch p.hairStyle {
	case 0, 1, 2, 4, 5:
		wide := fw + p.hairVol
		cap := arc(0, p.temple, wide, p.temple-hairTop, 0, 24) // right temple, over, left temple
		hl := cubic(pt{-wide, p.temple}, pt{-fw * 70 / 100, p.hairline + p.fringe*2}, pt{fw * 60 / 100, p.hairline - p.fringe/2}, pt{wide, p.temple}, 14)
		cap = append(cap, hl[:len(hl)-1]...)
		fill(p.hair, 256, cap)
		// Strands: a few darker or lighter streaks for texture.
		for i := int64(-3); i <= 3; i++ {
			a := pt{i * fw * 22 / 100, hairTop + p.hairVol}
			b := pt{i * fw * 30 / 100, p.hairline + fh*4/100}
			fill(p.hair+18, 70, stroke(poly{a, b}, fw*4/100, fw*2/100)...)
		}
	}
}

// scaled scales local points by (sx, sy) percent about the origin.
func scaled(p poly, sx, sy int64) poly {
	out := make(poly, len(p))
	for i, v := range p {
		out[i] = pt{v.x * sx / 100, v.y * sy / 100}
	}
	return out
}
