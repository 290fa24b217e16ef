package synth

import (
	"image"
	"slices"
)

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
// hair style and tone, skin tone, clothing, facial hair, which glasses, hat
// and earrings it has and how often it wears them); img varies pose, gaze,
// expression, lighting, hair, clothes, what is worn, the backdrop and
// noise (see the package comment). Sizes outside
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
	scenery(c, r)
	p.draw(c, r, p.newLook(newRNG(seed, "face-look", int64(kind), int64(id), int64(img))))
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

	// Accessories and facial hair. beard is fixed for an identity; glasses,
	// hat and earrings are the identity's own, worn in a share of images.
	beard                 int   // 0 none, 1 moustache, 2 full beard, 3 goatee, 4 stubble
	glasses, glassesWear  int64 // style (0 none, 1 round, 2 rectangular, 3 sunglasses); per-mille of images worn
	frame                 int64 // frame tone
	hat, hatWear, hatTone int64 // style (1 beanie, 2 brimmed); per-mille of images worn
	earring, earringTone  int64 // 0 none, 1 stud, 2 hoop
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
	p.accessories(r)
	return p
}

// accessories draws the identity's facial hair and accessories (after its
// geometry, so adding them left every identity's face as it was).
func (p *identity) accessories(r *rng) {
	adult := p.kind == Adult
	if adult {
		if v := r.intn(100); v < 36 {
			p.beard = 1 + int(v%4)
		}
	}
	glassesShare := int64(30)
	if !adult {
		glassesShare = 12
	}
	if r.intn(100) < glassesShare {
		p.glasses = 1 + r.intn(3)
		p.glassesWear = 1000 // always worn, or in some images only
		if r.chance(400) {
			p.glassesWear = r.rng(300, 700)
		}
	}
	p.frame = r.rng(10, 70)
	if r.chance(150) {
		p.frame = r.rng(170, 220)
	}
	if r.chance(250) {
		p.hat, p.hatWear = 1+r.intn(2), r.rng(300, 800)
	}
	p.hatTone = r.rng(20, 90) // dark or light, to stand off the mid-gray background
	if r.chance(400) {
		p.hatTone = r.rng(170, 230)
	}
	earrings := int64(250)
	if !adult {
		earrings = 60
	}
	if r.chance(earrings) {
		p.earring = 1 + r.intn(2)
	}
	p.earringTone = r.rng(200, 245)
}

// look is one image's departure from the identity: pose, expression,
// lighting and what is worn.
type look struct {
	yaw               int64 // sideways shift of the features (design units): a slight head turn
	smile, open       int64 // mouth-corner lift and mouth opening
	browLift, eyeOpen int64 // brow raise (design units) and eye height (percent)
	light, lightSide  int64 // side shading opacity (0..256) and its side (±1)
	cloth, hairTone   int64
	glasses, hat      bool
}

// newLook draws an image's look: one of six expressions (neutral twice as
// often), a turn, light from one side, clothes and what is worn today.
func (p *identity) newLook(r *rng) look {
	l := look{smile: p.smile + r.sym(p.fh*2/100), eyeOpen: 100}
	l.yaw = r.sym(p.fw * 12 / 100)
	switch r.intn(6) {
	case 2: // smile
		l.smile += p.fh * r.rng(3, 6) / 100
	case 3: // laugh: open smile, narrowed eyes
		l.smile += p.fh * r.rng(4, 7) / 100
		l.open, l.eyeOpen = p.fh*r.rng(4, 7)/100, r.rng(60, 80)
	case 4: // surprise: raised brows, wide eyes, round open mouth
		l.open, l.browLift, l.eyeOpen = p.fh*r.rng(5, 9)/100, p.eyeH*r.rng(50, 90)/100, r.rng(115, 130)
		l.smile = 0
	case 5: // frown
		l.smile, l.browLift = -p.fh*r.rng(1, 3)/100, -p.eyeH*r.rng(20, 40)/100
	}
	l.light, l.lightSide = r.rng(0, 100), 1
	if r.chance(500) {
		l.lightSide = -1
	}
	l.cloth = p.cloth
	if r.chance(500) {
		l.cloth = r.rng(30, 220) // other clothes on other days
	}
	l.hairTone = p.hair + r.sym(10)
	l.glasses = p.glasses > 0 && r.intn(1000) < p.glassesWear
	l.hat = p.hat > 0 && r.intn(1000) < p.hatWear
	return l
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

// draw paints the identity in look l; r draws the pose and the small
// jitters.
func (p *identity) draw(c *canvas, r *rng, l look) {
	size := c.w
	fw, fh := p.fw, p.fh
	// Per-image pose: the face centre sits a little above the canvas centre.
	cx := designSize/2 + r.sym(220)
	cy := designSize/2 - 120 + r.sym(170)
	scale := int64(q16) * r.rng(122, 150) / 100
	tilt := r.sym(q16 * 6 / 100) // about ±7 degrees
	x := place(size, cx, cy, scale, tilt)
	fill := func(tone int64, alpha int32, ps ...poly) {
		c.fill(x.polys(ps...), int32(clampInt(tone, 0, 255)), alpha, true)
	}
	gaze := r.sym(p.eyeW * 18 / 100)
	smile := l.smile
	hair := l.hairTone
	hairVol := p.hairVol * r.rng(80, 120) / 100

	// Clothes and shoulders, then the neck.
	shoulderY := p.shoulderY
	fill(l.cloth, 256, ellipse(0, shoulderY+fh*60/100, p.shoulderW, fh*75/100))
	fill(p.skin-22, 256, rect(-p.neckW, fh*40/100, p.neckW, shoulderY-fh*8/100))
	neckline := append(poly{{-p.neckW * 125 / 100, shoulderY - fh*14/100}}, quad(pt{-p.neckW * 125 / 100, shoulderY - fh*14/100}, pt{0, shoulderY + fh*40/100}, pt{p.neckW * 125 / 100, shoulderY - fh*14/100}, 10)...)
	fill(p.skin-22, 256, neckline)
	fill(max(l.cloth-50, 5), 200, stroke(neckline, fw*5/100, fw*5/100)...)
	fill(p.skin-45, 140, ellipse(0, fh*98/100, p.neckW*110/100, fh*18/100)) // shadow under the jaw

	// Hair behind the head (medium, long, curly).
	hairTop := -p.top - hairVol
	switch p.hairStyle {
	case 1, 2:
		bottom := fh * 55 / 100
		wide := fw + hairVol*2
		if p.hairStyle == 2 {
			bottom = fh * 150 / 100
			wide = fw + hairVol*3
		}
		back := arc(0, p.temple, wide, p.temple-hairTop, 0, 24)
		back = append(back, pt{-wide - hairVol, bottom}, pt{wide + hairVol, bottom})
		fill(hair, 256, back)
	case 4:
		var blobs []poly
		for i := int64(0); i <= 12; i++ {
			a := arc(0, p.temple+fh*10/100, fw+hairVol*2, p.temple-hairTop+hairVol*2, 0, 24)
			q := a[i*2]
			blobs = append(blobs, ellipse(q.x, q.y, fw*26/100, fw*26/100))
		}
		blobs = append(blobs, ellipse(0, p.temple, fw+hairVol*2, fh*95/100))
		fill(hair, 256, blobs...)
	case 5:
		if !l.hat {
			fill(hair, 256, ellipse(0, hairTop-fw*12/100, fw*30/100, fw*24/100))
		}
	case 3: // receding: a rim of hair at the sides and back, behind the face
		fill(hair, 256, ellipse(0, -fh*5/100, fw*107/100, fh*70/100))
	}

	// Ears unless covered; a turned head shows one ear a little more.
	if p.hairStyle != 1 && p.hairStyle != 2 && p.hairStyle != 4 {
		for _, s := range []int64{-1, 1} {
			ex := s*fw*97/100 - l.yaw/3
			ey := p.eyeY + p.earH*45/100
			fill(p.skin-18, 256, ellipse(ex, ey, fw*14/100, p.earH))
			fill(p.skin-50, 160, ellipse(ex+s*fw*2/100, ey, fw*6/100, p.earH*55/100))
			switch p.earring {
			case 1:
				fill(p.earringTone, 256, ellipse(ex, ey+p.earH*85/100, fw*4/100, fw*4/100))
			case 2:
				hoop := arc(ex, ey+p.earH*110/100, fw*8/100, fw*9/100, 0, 48)
				fill(p.earringTone, 256, stroke(hoop, fw*3/100, fw*3/100)...)
			}
		}
	}

	// Face, with a soft highlight on the cheeks and forehead for depth and
	// shading away from the light: bands of the face beyond a vertical cut.
	out := p.outline()
	fill(p.skin-30, 256, scaled(out, 103, 101)) // thin darker rim
	fill(p.skin, 256, out)
	fill(p.skin+p.cheek, 110, ellipse(0, -fh*10/100, fw*70/100, fh*70/100))
	fill(p.skin+p.cheek/2, 90, ellipse(0, -fh*10/100, fw*45/100, fh*50/100))
	for cut := int64(-20); cut <= 80; cut += 20 {
		fill(p.skin-70, int32(l.light/6), clipX(out, l.lightSide*fw*cut/100+l.yaw, l.lightSide))
	}

	// Eyes, shifted with the turn of the head; the far eye is a little
	// narrower.
	eh := p.eyeH * l.eyeOpen / 100
	for _, s := range []int64{-1, 1} {
		ex, ey := s*p.eyeX+l.yaw*8/10, p.eyeY
		ew := p.eyeW * (4*fw - s*l.yaw*3) / (4 * fw)
		inner, outer := pt{ex - s*ew, ey + eh/6}, pt{ex + s*ew, ey}
		upper := quad(inner, pt{ex, ey - eh*2}, outer, 10)
		lower := quad(outer, pt{ex, ey + eh*17/10}, inner, 10)
		eye := append(poly{inner}, upper...)
		eye = append(eye, lower[:len(lower)-1]...)
		fill(p.skin-28, 200, ellipse(ex, ey-p.eyeH*75/100, ew*110/100, p.eyeH*95/100)) // socket shadow
		fill(clampInt(p.skin+35, 190, 235), 256, eye)
		ir := min(p.eyeH*74/100, eh*95/100)
		ix := ex + gaze
		fill(p.iris, 256, ellipse(ix, ey-eh*8/100, ir, ir))
		fill(12, 256, ellipse(ix, ey-eh*8/100, ir*45/100, ir*45/100))
		fill(235, 220, ellipse(ix+ir*30/100, ey-eh*35/100, ir*18/100, ir*18/100)) // catch light
		lid := append(poly{inner}, upper...)
		fill(max(p.brow-10, 5), 256, stroke(lid, p.eyeH*30/100, p.eyeH*22/100)...)                                      // upper lid / lashes
		fill(p.skin-35, 150, stroke(quad(inner, pt{ex, ey - p.eyeH*29/10}, outer, 8), p.eyeH*12/100, p.eyeH*12/100)...) // crease
		// Brow.
		by := ey - p.eyeH*22/10 - l.browLift
		b0 := pt{ex - s*ew*95/100, by}
		b2 := pt{ex + s*ew*115/100, by + p.browTilt}
		b1 := pt{ex + s*ew*20/100, by - p.browArch}
		brow := append(poly{b0}, quad(b0, b1, b2, 10)...)
		fill(p.brow, 235, stroke(brow, p.browT, p.browT*55/100)...)
	}

	// Nose: side shadows, tip highlight, nostrils; the tip moves most with
	// the turn.
	nw, ny, nx := p.noseW, p.noseY, l.yaw*13/10
	for _, s := range []int64{-1, 1} {
		side := poly{{l.yaw*8/10 + s*nw*30/100, p.eyeY + p.eyeH}, {l.yaw + s*nw*42/100, (p.eyeY + ny) / 2}, {nx + s*nw*75/100, ny - nw*25/100}}
		fill(p.skin-40, 110, stroke(side, nw*16/100, nw*22/100)...)
		fill(p.skin-75, 230, ellipse(nx+s*nw*45/100, ny+nw*8/100, nw*26/100, nw*13/100))
	}
	fill(p.skin-30, 120, ellipse(nx, ny+nw*20/100, nw*70/100, nw*18/100))
	fill(p.skin+18, 130, ellipse(nx, ny-nw*22/100, nw*34/100, nw*26/100))

	// Beard (under the mouth): the face below the cheeks, its top edge
	// dipping under the nose.
	mx := l.yaw
	my, mw := p.mouthY, p.mouthW
	if l.open > 0 && l.smile <= 0 {
		mw = mw * 70 / 100 // surprise: a rounder mouth
	}
	beardTone := max(hair-15, 10)
	switch p.beard {
	case 2, 4:
		top := (p.eyeY + ny) / 2
		var b poly
		for _, v := range out {
			if v.y >= top {
				b = append(b, v)
			}
		}
		corner := pt{mx + mw*115/100, my - smile}
		b = append(b, quad(pt{fw, top}, pt{fw * 60 / 100, my}, corner, 8)...)
		b = append(b, pt{mx, ny + nw*35/100})
		left := pt{mx - mw*115/100, my - smile}
		b = append(b, left)
		b = append(b, quad(left, pt{-fw * 60 / 100, my}, pt{-fw, top}, 8)...)
		alpha := int32(250)
		if p.beard == 4 {
			alpha = 90
		}
		fill(beardTone, alpha, b)
	}

	// Mouth: upper lip with a cupid's bow, lower lip, dark line between; an
	// open mouth shows its dark inside and, smiling, the upper teeth.
	lc, rc := pt{mx - mw, my - smile}, pt{mx + mw, my - smile}
	mid := pt{mx, my + smile}
	up := append(poly{lc}, quad(lc, pt{mx - mw*45/100, my - p.upLip*2}, pt{mx, my - p.upLip*7/10}, 6)...)
	up = append(up, quad(pt{mx, my - p.upLip*7/10}, pt{mx + mw*45/100, my - p.upLip*2}, rc, 6)...)
	line := append(poly{rc}, quad(rc, mid, lc, 10)...)
	if l.open > 0 {
		gap := append(slices.Clone(line), quad(lc, pt{mx, my + smile + l.open*2}, rc, 10)...)
		fill(25, 256, gap)
		if l.smile > 0 {
			fill(215, 240, append(slices.Clone(line), quad(lc, pt{mx, my + smile + l.open*7/10}, rc, 10)...))
		}
	}
	fill(p.lip-10, 256, append(up, line[1:len(line)-1]...))
	lo := append(poly{rc}, quad(rc, pt{mx, my + smile + p.loLip*2}, lc, 10)...)
	lo = append(lo, quad(lc, mid, rc, 10)[:9]...)
	lo = translated(lo, 0, l.open)
	fill(p.lip, 256, lo)
	fill(p.lip+25, 110, ellipse(mx, my+smile+l.open+p.loLip*55/100, mw*35/100, p.loLip*35/100)) // lower-lip sheen
	if l.open == 0 {
		fill(max(p.lip-70, 5), 256, stroke(line, p.upLip*30/100, p.upLip*30/100)...)
	}
	switch p.beard {
	case 1, 2: // moustache
		m := append(poly{{mx - mw*95/100, my - smile + p.upLip}}, quad(pt{mx - mw*95/100, my - smile + p.upLip}, pt{mx, my - p.upLip*5}, pt{mx + mw*95/100, my - smile + p.upLip}, 10)...)
		fill(beardTone, 250, stroke(m, p.upLip*2, p.upLip*2)...)
	case 3: // goatee
		fill(beardTone, 250, ellipse(mx, (my+fh)/2+l.open+p.loLip, mw*45/100, (fh-my)*38/100))
	}

	// Glasses: two frames, a bridge and the arms toward the ears.
	if l.glasses {
		var lenses []poly
		for _, s := range []int64{-1, 1} {
			ex := s*p.eyeX + l.yaw*8/10
			rx, ry := p.eyeW*140/100, p.eyeW*105/100
			if p.glasses == 2 {
				ry = p.eyeW * 85 / 100
			}
			lens := ellipse(ex, p.eyeY-p.eyeH/2, rx, ry)
			if p.glasses == 2 {
				lens = rect(ex-rx, p.eyeY-p.eyeH/2-ry, ex+rx, p.eyeY-p.eyeH/2+ry)
			}
			lenses = append(lenses, lens)
			fill(p.frame, 256, stroke(append(slices.Clone(lens), lens[0]), fw*4/100, fw*4/100)...)
			fill(p.frame, 256, stroke(poly{{ex + s*rx, p.eyeY - p.eyeH}, {s * fw * 98 / 100, p.eyeY - p.eyeH/2}}, fw*3/100, fw*3/100)...)
		}
		bx := l.yaw * 8 / 10
		bridge := poly{{bx - p.eyeX + p.eyeW*140/100, p.eyeY - p.eyeH}, {bx, p.eyeY - p.eyeH*2}, {bx + p.eyeX - p.eyeW*140/100, p.eyeY - p.eyeH}}
		fill(p.frame, 256, stroke(bridge, fw*3/100, fw*3/100)...)
		if p.glasses == 3 {
			fill(20, 190, lenses...)
		} else {
			fill(225, 30, lenses...) // glare
		}
	}

	// Hair on top of the head: a cap above a hairline curve.
	switch p.hairStyle {
	case 0, 1, 2, 4, 5:
		wide := fw + hairVol
		cap := arc(0, p.temple, wide, p.temple-hairTop, 0, 24) // right temple, over, left temple
		hl := cubic(pt{-wide, p.temple}, pt{-fw * 70 / 100, p.hairline + p.fringe*2}, pt{fw * 60 / 100, p.hairline - p.fringe/2}, pt{wide, p.temple}, 14)
		cap = append(cap, hl[:len(hl)-1]...)
		fill(hair, 256, cap)
		// Strands: a few darker or lighter streaks for texture.
		for i := int64(-3); i <= 3; i++ {
			a := pt{i * fw * 22 / 100, hairTop + hairVol}
			b := pt{i * fw * 30 / 100, p.hairline + fh*4/100}
			fill(hair+18, 70, stroke(poly{a, b}, fw*4/100, fw*2/100)...)
		}
	}

	// Hat: a dome over the crown with a rim band (beanie) or a wide brim.
	if l.hat {
		wide := fw + hairVol + fw*6/100
		rim := p.hairline + fh*6/100
		dome := arc(0, rim, wide, rim+p.top+hairVol+fh*8/100, 0, 24)
		fill(p.hatTone, 256, dome)
		if p.hat == 1 {
			fill(max(p.hatTone-30, 5), 256, rect(-wide, rim-fh*14/100, wide, rim))
		} else {
			fill(max(p.hatTone-30, 5), 256, ellipse(0, rim, wide*150/100, fh*9/100))
		}
	}
}

// clipX keeps the part of a convex-ish contour on one side of x = cut:
// side +1 keeps x ≥ cut, -1 keeps x ≤ cut (vertices beyond are moved onto
// the cut).
func clipX(p poly, cut, side int64) poly {
	out := make(poly, len(p))
	for i, v := range p {
		if (v.x-cut)*side < 0 {
			v.x = cut
		}
		out[i] = v
	}
	return out
}

// scaled scales local points by (sx, sy) percent about the origin.
func scaled(p poly, sx, sy int64) poly {
	out := make(poly, len(p))
	for i, v := range p {
		out[i] = pt{v.x * sx / 100, v.y * sy / 100}
	}
	return out
}
