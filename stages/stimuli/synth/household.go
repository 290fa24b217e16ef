package synth

// Household objects beyond fLOC's categories (chair, bottle, cup, lamp),
// drawn like the others: a local design frame placed with random position,
// scale and tilt, a tone of its own, exemplar-level shape variation.

func drawChair(c *canvas, r *rng, _ int) {
	p := placed(c, r, 160, 100, 118, 5)
	wood := r.rng(40, 200)
	dark := max(wood-60, 10)
	hw := r.rng(520, 700)    // half width of the seat
	seatY := r.rng(100, 300) // seat front edge
	depth := r.rng(180, 280) // seat seen from a little above
	backTop := seatY - depth - r.rng(1100, 1500)
	legY := seatY + r.rng(1000, 1300)
	leg := r.rng(50, 90)
	// Back legs (behind), then the backrest: posts and a top rail with
	// slats or a panel.
	for _, s := range []int64{-1, 1} {
		x := s * hw * 88 / 100
		p.shadowFill(dark, rect(x-leg, seatY-depth, x+leg, legY-depth*2/3))
		p.shadowFill(wood, rect(x-leg, backTop, x+leg, seatY-depth))
	}
	p.fill(wood, 256, rect(-hw*88/100, backTop, hw*88/100, backTop+r.rng(160, 260)))
	if r.chance(500) {
		n := r.rng(2, 5)
		for i := int64(1); i <= n; i++ {
			x := -hw*88/100 + i*2*hw*88/100/(n+1)
			p.fill(wood, 256, rect(x-leg*7/10, backTop, x+leg*7/10, seatY-depth))
		}
	} else {
		p.fill(wood-15, 256, rect(-hw*80/100, backTop+200, hw*80/100, (backTop+seatY-depth)/2+100))
	}
	// Seat: a trapezoid seen from above, then its front edge; front legs.
	p.shadowFill(wood+25, poly{{-hw * 88 / 100, seatY - depth}, {hw * 88 / 100, seatY - depth}, {hw, seatY}, {-hw, seatY}})
	p.fill(dark, 256, rect(-hw, seatY, hw, seatY+90))
	for _, s := range []int64{-1, 1} {
		x := s * (hw - leg)
		p.shadowFill(dark+20, rect(x-leg, seatY+90, x+leg, legY))
	}
	if r.chance(400) { // armrests
		for _, s := range []int64{-1, 1} {
			x := s * hw
			p.fill(wood, 256, stroke(poly{{x, seatY}, {x, seatY - 500}, {s * hw * 92 / 100, seatY - depth - 520}}, 90, 90)...)
		}
	}
}

func drawBottle(c *canvas, r *rng, _ int) {
	p := placed(c, r, 150, 86, 104, 12)
	glass := r.rng(30, 110)
	if r.chance(350) {
		glass = r.rng(150, 215) // clear or pale glass
	}
	bw := r.rng(330, 520) // half width of the body
	bot := r.rng(1400, 1650)
	shoulder := r.rng(-500, 100)
	nw := r.rng(110, 170) // half width of the neck
	neckTop := shoulder - r.rng(700, 1100)
	right := poly{{nw, neckTop}}
	right = append(right, pt{nw, shoulder - 250})
	right = append(right, cubic(pt{nw, shoulder - 250}, pt{nw, shoulder}, pt{bw, shoulder}, pt{bw, shoulder + 350}, 10)...)
	right = append(right, pt{bw, bot - 80}, pt{bw - 80, bot})
	body := append(right, mirrorX(right)...)
	p.shadowFill(glass, body)
	p.fill(glass+45, 120, rect(-bw*60/100, shoulder+300, -bw*35/100, bot-150)) // highlight
	if r.chance(650) {                                                         // label
		tone := r.rng(170, 235)
		if r.chance(400) {
			tone = r.rng(30, 90)
		}
		ly := r.rng(shoulder+450, (shoulder+bot)/2)
		p.fill(tone, 256, rect(-bw, ly, bw, ly+r.rng(400, 700)))
	}
	// Lip and cap.
	p.fill(glass-20, 256, rect(-nw-30, neckTop, nw+30, neckTop+90))
	if r.chance(600) {
		p.fill(r.rng(20, 220), 256, rect(-nw-40, neckTop-220, nw+40, neckTop+60))
	}
}

func drawCup(c *canvas, r *rng, _ int) {
	p := placed(c, r, 170, 90, 108, 6)
	tone := r.rng(50, 225)
	w := r.rng(450, 650) // half width
	top := r.rng(-900, -600)
	bot := top + r.rng(1000, 1500)
	rim := w * r.rng(18, 26) / 100 // the rim ellipse's half height
	taper := w * r.rng(0, 15) / 100
	// Handle: a ring on the right.
	hy := (top + bot) / 2
	hr := (bot - top) * 30 / 100
	handle := arc(w-taper/2, hy, hr+120, hr, -12, 12)
	p.fill(max(tone-50, 10), 200, stroke(translated(handle, 40, 50), 150, 150)...)
	p.fill(tone-15, 256, stroke(handle, 140, 140)...)
	if r.chance(400) { // saucer
		p.shadowFill(tone+15, ellipse(0, bot+40, w*175/100, rim*150/100))
	}
	body := poly{{-w, top}, {w, top}}
	body = append(body, quad(pt{w, top}, pt{w - taper/2, bot + rim}, pt{w - taper, bot}, 6)...)
	body = append(body, quad(pt{w - taper, bot}, pt{0, bot + rim*2}, pt{-w + taper, bot}, 10)...)
	body = append(body, quad(pt{-w + taper, bot}, pt{-w + taper/2, bot + rim}, pt{-w, top}, 6)...)
	p.shadowFill(tone, body)
	p.fill(tone+30, 110, rect(-w*70/100, top+rim, -w*40/100, bot-rim)) // highlight
	if r.chance(400) {                                                 // a band
		by := r.rng(top+rim*2, bot-rim*3)
		p.fill(r.rng(20, 230), 256, rect(-w+taper*(by-top)/(bot-top), by, w-taper*(by-top)/(bot-top), by+r.rng(80, 200)))
	}
	p.fill(tone-25, 256, ellipse(0, top, w, rim))
	p.fill(r.rng(20, 70), 256, ellipse(0, top+rim/5, w*88/100, rim*78/100)) // the drink
}

func drawLamp(c *canvas, r *rng, _ int) {
	p := placed(c, r, 150, 88, 104, 5)
	shade := r.rng(150, 235)
	if r.chance(300) {
		shade = r.rng(40, 110)
	}
	metal := r.rng(30, 200)
	base := r.rng(1300, 1600)
	bw := r.rng(380, 620)
	stem := r.rng(45, 90)
	top := r.rng(-1700, -1300) // top of the shade
	sh := r.rng(650, 950)      // shade height
	tw, lw := r.rng(280, 480), r.rng(620, 900)
	// Base and stem, then the shade: a trapezoid with a curved bottom edge.
	p.shadowFill(metal, ellipse(0, base, bw, bw*25/100))
	p.fill(metal-20, 256, rect(-bw, base-90, bw, base))
	p.fill(metal+20, 256, ellipse(0, base-90, bw, bw*25/100))
	if r.chance(500) {
		p.shadowFill(metal, ellipse(0, (top+sh+base)/2+200, stem*5, stem*6)) // a bulging stem
	}
	p.shadowFill(metal, rect(-stem, top+sh-100, stem, base-100))
	sp := poly{{-tw, top}, {tw, top}, {lw, top + sh}}
	sp = append(sp, quad(pt{lw, top + sh}, pt{0, top + sh + lw*20/100}, pt{-lw, top + sh}, 10)...)
	p.shadowFill(shade, sp)
	p.fill(min(shade+30, 250), 150, poly{{-tw * 40 / 100, top}, {-tw * 10 / 100, top}, {-lw * 20 / 100, top + sh}, {-lw * 60 / 100, top + sh}})
	p.fill(max(shade-40, 10), 256, stroke(quad(pt{lw, top + sh}, pt{0, top + sh + lw*20/100}, pt{-lw, top + sh}, 10), 50, 50)...)
}
