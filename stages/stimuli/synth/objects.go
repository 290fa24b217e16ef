package synth

// Objects other than faces and text, each drawn in a local design frame
// (design units, canvas = 4096) and placed with random position, scale
// and tilt.

type pen struct {
	c *canvas
	x xform
}

func (p pen) fill(tone int64, alpha int32, ps ...poly) {
	p.c.fill(p.x.polys(ps...), int32(clampInt(tone, 0, 255)), alpha, true)
}

// shadowFill draws ps offset down-right in a darker tone first: a soft drop
// shadow that separates the object from the background.
func (p pen) shadowFill(tone int64, ps ...poly) {
	sh := make([]poly, len(ps))
	for i, q := range ps {
		sh[i] = translated(q, 40, 50)
	}
	p.fill(60, 90, sh...)
	p.fill(tone, 256, ps...)
}

func placed(c *canvas, r *rng, jitter, lo, hi, tiltPct int64) pen {
	cx := designSize/2 + r.sym(jitter)
	cy := designSize/2 + r.sym(jitter)
	scale := int64(q16) * r.rng(lo, hi) / 100
	return pen{c, place(c.w, cx, cy, scale, r.sym(q16*tiltPct/100))}
}

// dir returns a vector of length l pointing along the angle whose
// half-angle tangent is t, measured from straight down (+y).
func dir(l, t int64) pt {
	cs, sn := rot(t)
	return pt{-sn * l / q16, cs * l / q16}
}

func add(a, b pt) pt { return pt{a.x + b.x, a.y + b.y} }

// drawBody: a headless standing figure (fLOC's bodies have no heads):
// torso, arms and legs in clothing.
func drawBody(c *canvas, r *rng, _ int) {
	p := placed(c, r, 120, 102, 112, 4)
	shirt, pants := r.rng(40, 210), r.rng(25, 150)
	skin := r.rng(140, 205)
	shoes := r.rng(15, 60)
	sw := r.rng(400, 470) // half shoulder width
	ww := sw * r.rng(68, 84) / 100
	top := int64(-1450)
	waist := top + r.rng(900, 1000)
	dress := r.chance(250)
	shortSleeves := r.chance(400)

	// Legs: hip → knee → calf → ankle, standing or walking.
	hipY := waist + 150
	legL := r.rng(820, 900)
	for _, s := range []int64{-1, 1} {
		hip := pt{s * ww * 52 / 100, hipY}
		knee := add(hip, dir(legL, -s*r.rng(0, q16*7/100)+r.sym(q16*6/100)))
		ankle := add(knee, dir(legL*96/100, r.sym(q16*7/100)))
		calf := lerp(knee, ankle, 35, 100)
		leg := poly{hip, knee, calf, ankle}
		if dress {
			p.shadowFill(skin-10, profile(leg, []int64{240, 170, 190, 110})...)
		} else {
			p.shadowFill(pants, profile(leg, []int64{330, 250, 240, 210})...)
		}
		toe := -s
		if r.chance(500) {
			toe = s
		}
		p.fill(shoes, 256, ellipse(ankle.x+toe*90, ankle.y+70, 170, 80), ellipse(ankle.x, ankle.y+30, 110, 90))
	}
	// Hips or skirt.
	if dress {
		p.shadowFill(shirt, poly{{-ww, waist - 40}, {ww, waist - 40}, {ww + 280, hipY + 560}, {-ww - 280, hipY + 560}})
	} else {
		p.shadowFill(pants, poly{{-ww, waist - 40}, {ww, waist - 40}, {ww + 50, hipY + 200}, {-ww - 50, hipY + 200}})
		p.fill(pants-30, 160, stroke(poly{{0, waist + 20}, {0, hipY + 180}}, 20, 20)...)
	}

	// Torso with rounded shoulders and the neck cut off above the collar.
	p.fill(skin-15, 256, rect(-sw*27/100, top-200, sw*27/100, top+60))
	chest := ww + (sw-ww)*60/100
	torso := poly{{-sw, top + 100}, {-sw + 100, top}, {sw - 100, top}, {sw, top + 100}, {chest, top + 450}, {ww, waist}, {-ww, waist}, {-chest, top + 450}}
	p.shadowFill(shirt, append([]poly{torso}, ellipse(-sw+110, top+120, 120, 120), ellipse(sw-110, top+120, 120, 120))...)
	p.fill(skin-15, 256, append(poly{{-sw * 27 / 100, top}}, quad(pt{-sw * 27 / 100, top}, pt{0, top + 260}, pt{sw * 27 / 100, top}, 8)...))
	p.fill(shirt-40, 200, stroke(append(poly{{-sw * 27 / 100, top}}, quad(pt{-sw * 27 / 100, top}, pt{0, top + 260}, pt{sw * 27 / 100, top}, 8)...), 30, 30)...)
	p.fill(shirt-30, 140, stroke(poly{{-ww, waist - 20}, {ww, waist - 20}}, 45, 45)...)

	// Arms: shoulder → elbow → wrist, hands.
	armL := r.rng(600, 660)
	for _, s := range []int64{-1, 1} {
		sh := pt{s * (sw - 100), top + 130}
		elbow := add(sh, dir(armL, -s*r.rng(q16*5/100, q16*28/100)))
		bend := -s * r.rng(-q16*4/100, q16*50/100)
		if r.chance(250) {
			bend = -bend
		}
		wrist := add(elbow, dir(armL*90/100, bend))
		fore := lerp(elbow, wrist, 30, 100)
		if shortSleeves {
			p.shadowFill(skin, profile(poly{lerp(sh, elbow, 50, 100), elbow, fore, wrist}, []int64{175, 150, 165, 110})...)
			p.shadowFill(shirt, profile(poly{sh, lerp(sh, elbow, 55, 100)}, []int64{220, 200})...)
		} else {
			p.shadowFill(shirt, profile(poly{sh, elbow, fore, wrist}, []int64{220, 175, 180, 140})...)
		}
		h := add(wrist, dir(120, bend))
		p.fill(skin, 256, ellipse(h.x, h.y, 80, 115))
	}
}

// drawLimb: a single arm, leg or hand, large in the frame.
func drawLimb(c *canvas, r *rng, index int) {
	p := placed(c, r, 200, 92, 108, 35)
	skin := r.rng(140, 210)
	switch (index + int(r.intn(3))) % 3 {
	case 0:
		hand(p, skin, r, pt{0, 1100}, 0, 100, false)
	case 1: // arm: shoulder → elbow → wrist → hand
		sh := pt{-250, -1700}
		elbow := add(sh, dir(1200, r.sym(q16*8/100)))
		bend := r.rng(q16*8/100, q16*45/100)
		wrist := add(elbow, dir(1100, bend))
		arm := poly{sh, lerp(sh, elbow, 45, 100), elbow, lerp(elbow, wrist, 30, 100), wrist}
		if r.chance(500) {
			p.shadowFill(r.rng(40, 200), profile(arm, []int64{560, 500, 400, 430, 300})...)
		} else {
			p.shadowFill(skin, profile(arm, []int64{500, 470, 340, 390, 250})...)
			p.fill(skin-30, 140, ellipse(elbow.x, elbow.y, 90, 60))
		}
		hand(p, skin, r, wrist, bend, 62, true)
	default: // leg, bare or in trousers, with a foot or shoe
		hip := pt{-100, -1800}
		knee := add(hip, dir(1350, r.sym(q16*10/100)))
		ankle := add(knee, dir(1250, r.sym(q16*10/100)))
		leg := poly{hip, lerp(hip, knee, 50, 100), knee, lerp(knee, ankle, 30, 100), ankle}
		s := int64(1)
		if r.chance(500) {
			s = -1
		}
		if r.chance(500) {
			pants := r.rng(25, 170)
			p.shadowFill(pants, profile(leg, []int64{760, 680, 560, 540, 500})...)
			shoe := r.rng(15, 90)
			p.shadowFill(shoe, ellipse(ankle.x+s*300, ankle.y+200, 450, 170), ellipse(ankle.x, ankle.y+120, 230, 200))
			p.fill(shoe+50, 200, stroke(poly{{ankle.x - s*180, ankle.y + 330}, {ankle.x + s*700, ankle.y + 330}}, 50, 50)...)
		} else {
			p.shadowFill(skin, profile(leg, []int64{720, 600, 420, 480, 260})...)
			p.fill(skin-30, 150, ellipse(knee.x, knee.y, 130, 100))
			a := ankle
			foot := poly{{a.x - s*150, a.y + 40}, {a.x - s*170, a.y + 250}, {a.x - s*60, a.y + 330}, {a.x + s*650, a.y + 340}, {a.x + s*780, a.y + 280}, {a.x + s*760, a.y + 190}, {a.x + s*420, a.y + 90}, {a.x + s*130, a.y - 60}}
			p.shadowFill(skin, foot, ellipse(a.x+s*700, a.y+265, 110, 80))
			p.fill(skin-40, 150, stroke(poly{{a.x + s*560, a.y + 200}, {a.x + s*590, a.y + 320}}, 20, 20)...)
		}
	}
}

// hand draws an open hand at scale pct% whose wrist lands on wrist, with
// the fingers pointing up (or down, when down) rotated by the half-angle
// tangent t.
func hand(p pen, skin int64, r *rng, wrist pt, t, pct int64, down bool) {
	palmW, palmH := int64(520), int64(580)
	sy := pct
	if down {
		sy = -pct
	}
	w := rotated(poly{{0, 1100 * sy / 100}}, t)[0]
	at := pt{wrist.x - w.x, wrist.y - w.y}
	place := func(ps ...poly) []poly {
		out := make([]poly, len(ps))
		for i, q := range ps {
			out[i] = translated(rotated(scaled(q, pct, sy), t), at.x, at.y)
		}
		return out
	}
	var parts []poly
	parts = append(parts, ellipse(0, 150, palmW, palmH), rect(-palmW*78/100, 300, palmW*78/100, 1100))
	lens := []int64{700, 790, 740, 580}
	spread := r.rng(2, 8)
	for i, l := range lens {
		bx := (int64(i)*2 - 3) * palmW * 29 / 100
		ft := (int64(i)*2 - 3) * q16 * spread / 200
		base := pt{bx, -250}
		mid := add(base, dir(-l*55/100, ft))
		tip := add(mid, dir(-l*45/100, ft+r.sym(q16*3/100)))
		parts = append(parts, profile(poly{base, mid, tip}, []int64{190, 165, 145})...)
	}
	s := int64(1)
	if r.chance(500) {
		s = -1
	}
	tb := pt{s * palmW * 70 / 100, 380}
	tm := add(tb, pt{s * 360, -300})
	tt := add(tm, pt{s * 240, -330})
	parts = append(parts, profile(poly{tb, tm, tt}, []int64{300, 220, 170})...)
	p.shadowFill(skin, place(parts...)...)
	for i := range lens {
		bx := (int64(i)*2 - 3) * palmW * 29 / 100
		p.fill(skin-40, 140, place(stroke(poly{{bx - 55, -430}, {bx + 55, -430}}, 22, 22)...)...)
	}
	p.fill(skin-35, 120, place(stroke(quad(pt{-palmW * 60 / 100, 500}, pt{0, 150}, pt{palmW * 50 / 100, -60}, 8), 28, 18)...)...)
}

// drawCar: side view of a car (sedan, hatchback or SUV).
func drawCar(c *canvas, r *rng, _ int) {
	p := placed(c, r, 160, 92, 108, 3)
	paint := r.rng(40, 215)
	glass := r.rng(35, 90)
	if r.chance(300) {
		glass = r.rng(170, 215)
	}
	L := r.rng(1450, 1700) // half length
	bodyTop, bodyBot := int64(-150), r.rng(220, 320)
	roof := bodyTop - r.rng(380, 520)
	wr := r.rng(230, 280)
	kind := r.intn(3) // 0 sedan, 1 hatch, 2 SUV
	dirX := int64(1)
	if r.chance(500) {
		dirX = -1
	}
	fx := func(pp poly) poly { // face left or right
		if dirX == 1 {
			return pp
		}
		return mirrorX(pp)
	}
	// Ground shadow.
	p.fill(40, 110, ellipse(0, bodyBot+wr*60/100, L*105/100, 90))
	// Body with rounded nose and tail.
	body := poly{{-L, bodyBot - 60}, {-L, bodyTop + 120}, {-L + 120, bodyTop}, {L - 300, bodyTop - 20}, {L - 60, bodyTop + 90}, {L, bodyTop + 200}, {L, bodyBot - 60}, {L - 80, bodyBot}, {-L + 80, bodyBot}}
	// Cabin.
	var cabin poly
	switch kind {
	case 0:
		cabin = poly{{-L * 62 / 100, bodyTop}, {-L * 40 / 100, roof}, {L * 22 / 100, roof}, {L * 48 / 100, bodyTop}}
	case 1:
		cabin = poly{{-L * 92 / 100, bodyTop}, {-L * 80 / 100, roof}, {L * 18 / 100, roof}, {L * 48 / 100, bodyTop}}
	default:
		roof -= 120
		cabin = poly{{-L * 96 / 100, bodyTop}, {-L * 94 / 100, roof}, {L * 30 / 100, roof}, {L * 52 / 100, bodyTop}}
	}
	p.shadowFill(paint, fx(body), fx(cabin))
	// Windows with a pillar between.
	inset := func(q poly, d int64) poly {
		return poly{{q[0].x + d*2, q[0].y - 10}, {q[1].x + d, q[1].y + d}, {q[2].x - d, q[2].y + d}, {q[3].x - d*2, q[3].y - 10}}
	}
	win := inset(cabin, 70)
	midX := (win[1].x + win[2].x) / 2
	back := poly{win[0], win[1], {midX - 50, win[1].y}, {midX - 50, win[0].y}}
	front := poly{{midX + 50, win[3].y}, {midX + 50, win[2].y}, win[2], win[3]}
	p.fill(glass, 256, fx(back), fx(front))
	p.fill(glass+40, 90, fx(poly{{midX + 120, win[3].y}, {midX + 240, win[2].y}, {midX + 330, win[2].y}, {midX + 210, win[3].y}})) // reflection
	// Door lines, handle, lights, bumper.
	p.fill(paint-60, 200, stroke(fx(poly{{midX, bodyTop}, {midX, bodyBot - 40}}), 22, 22)...)
	p.fill(paint-60, 200, stroke(fx(poly{{win[0].x - 20, bodyTop}, {win[0].x + 40, bodyBot - 40}}), 22, 22)...)
	p.fill(paint-70, 220, fx(rect(midX-260, bodyTop+80, midX-120, bodyTop+120)))
	p.fill(230, 256, fx(ellipse(L-70, bodyTop+160, 60, 45)))
	p.fill(40, 256, fx(rect(-L-10, bodyTop+120, -L+60, bodyTop+220)))
	p.fill(paint-50, 256, fx(rect(-L-30, bodyBot-130, -L+250, bodyBot-50)), fx(rect(L-250, bodyBot-130, L+30, bodyBot-50)))
	// Wheels: arch, tyre, rim, hub.
	for _, wx := range []int64{-L * 62 / 100, L * 64 / 100} {
		w := fx(poly{{wx, 0}})[0].x
		p.fill(20, 256, ellipse(w, bodyBot-40, wr*118/100, wr*118/100))
		p.fill(30, 256, ellipse(w, bodyBot, wr, wr))
		p.fill(150, 256, ellipse(w, bodyBot, wr*58/100, wr*58/100))
		p.fill(95, 256, ellipse(w, bodyBot, wr*22/100, wr*22/100))
	}
}

// drawInstrument: a guitar, violin or trumpet.
func drawInstrument(c *canvas, r *rng, index int) {
	switch (index + int(r.intn(3))) % 3 {
	case 0:
		guitar(c, r)
	case 1:
		violin(c, r)
	default:
		trumpet(c, r)
	}
}

func guitar(c *canvas, r *rng) {
	p := placed(c, r, 160, 80, 96, 45)
	wood := r.rng(120, 215)
	dark := r.rng(25, 70)
	// Neck and headstock.
	p.shadowFill(dark+20, rect(-85, -1900, 85, -300))
	p.fill(dark, 256, poly{{-120, -2250}, {120, -2250}, {90, -1880}, {-90, -1880}})
	for i := int64(0); i < 3; i++ {
		for _, s := range []int64{-1, 1} {
			p.fill(200, 256, ellipse(s*150, -2180+i*110, 40, 30))
		}
	}
	for y := int64(-1800); y < -350; y += 110 + (y+1900)/12 {
		p.fill(190, 200, rect(-85, y, 85, y+10))
	}
	// Body: upper and lower bouts.
	p.shadowFill(dark, ellipse(0, -20, 560, 540), ellipse(0, 700, 730, 700))
	p.fill(wood, 256, ellipse(0, -20, 520, 500), ellipse(0, 700, 690, 660))
	p.fill(wood+20, 90, ellipse(-150, 500, 380, 420))
	p.fill(dark-10, 256, ellipse(0, 150, 170, 170))
	p.fill(wood-40, 180, rect(-260, 950, 260, 1020))
	for i := int64(-5); i <= 5; i += 2 {
		p.fill(225, 220, rect(i*14-3, -2150, i*14+3, 985))
	}
}

func violin(c *canvas, r *rng) {
	p := placed(c, r, 160, 84, 98, 40)
	wood := r.rng(70, 150)
	// Outline: upper bout, C-bout waist, lower bout, built as one contour.
	right := poly{{0, -1150}}
	right = append(right, cubic(pt{0, -1150}, pt{420, -1150}, pt{520, -900}, pt{470, -560}, 10)...)
	right = append(right, cubic(pt{470, -560}, pt{300, -420}, pt{300, -120}, pt{520, 20}, 10)...)
	right = append(right, cubic(pt{520, 20}, pt{700, 300}, pt{620, 900}, pt{0, 960}, 12)...)
	body := append(right, mirrorX(right[1:len(right)-1])...)
	p.shadowFill(wood-30, scaled(body, 104, 103))
	p.fill(wood, 256, body)
	p.fill(wood+35, 90, scaled(body, 70, 80))
	// f-holes.
	for _, s := range []int64{-1, 1} {
		f := poly{{s * 230, -330}}
		f = append(f, cubic(pt{s * 230, -330}, pt{s * 330, -150}, pt{s * 170, 50}, pt{s * 270, 260}, 10)...)
		p.fill(20, 256, stroke(f, 35, 35)...)
		p.fill(20, 256, ellipse(s*230, -330, 45, 45), ellipse(s*270, 260, 45, 45))
	}
	// Fingerboard, neck, pegbox, scroll; tailpiece and bridge.
	p.fill(20, 256, poly{{-90, 200}, {90, 200}, {60, -1750}, {-60, -1750}})
	p.fill(wood-20, 256, rect(-60, -2150, 60, -1750))
	p.fill(wood-20, 256, ellipse(0, -2230, 130, 130))
	p.fill(wood-60, 256, ellipse(0, -2230, 60, 60))
	p.fill(20, 256, poly{{-120, 520}, {120, 520}, {70, 900}, {-70, 900}})
	p.fill(210, 256, rect(-170, 300, 170, 340))
	for i := int64(-3); i <= 3; i += 2 {
		p.fill(210, 220, rect(i*16-3, -2000, i*16+3, 560))
	}
}

func trumpet(c *canvas, r *rng) {
	p := placed(c, r, 160, 84, 100, 18)
	brass := r.rng(150, 220)
	edge := brass - 70
	tube := func(ps poly, w0, w1 int64) {
		p.fill(edge, 256, stroke(ps, w0+40, w1+40)...)
		p.fill(brass, 256, stroke(ps, w0, w1)...)
	}
	// Lower loop, lead pipe, valves, bell.
	tube(poly{{-500, -150}, {-1300, -150}, {-1450, 100}, {-1300, 350}, {500, 350}, {650, 100}, {500, -150}}, 110, 110)
	tube(poly{{-1900, -150}, {-500, -150}}, 70, 110)
	p.fill(edge, 256, ellipse(-1930, -150, 60, 90))
	for i := int64(0); i < 3; i++ {
		x := -250 + i*230
		p.fill(edge, 256, rect(x-90, -500, x+90, 500))
		p.fill(brass, 256, rect(x-65, -480, x+65, 480))
		p.fill(brass+20, 256, rect(x-30, -720, x+30, -480))
		p.fill(edge, 256, ellipse(x, -740, 90, 40))
	}
	bell := poly{{500, -210}, {1500, -270}, {1900, -560}, {1900, 260}, {1500, -30}, {500, -90}}
	p.fill(edge, 256, scaled(bell, 101, 108))
	p.fill(brass, 256, bell)
	p.fill(edge, 256, ellipse(1900, -150, 90, 420))
	p.fill(brass-40, 256, ellipse(1910, -150, 55, 360))
	p.fill(255, 110, stroke(poly{{-1200, -175}, {400, -175}}, 25, 25)...) // highlight
}

// drawHouse: walls, roof, windows, door, chimney, ground.
func drawHouse(c *canvas, r *rng, _ int) {
	p := placed(c, r, 140, 90, 106, 2)
	wall := r.rng(140, 220)
	roofT := r.rng(35, 110)
	trim := r.rng(200, 240)
	W := r.rng(1150, 1450) // half width
	floors := 1 + r.intn(2)
	floorH := r.rng(560, 680)
	base := int64(1100)
	top := base - floors*floorH
	ridge := top - r.rng(600, 900)
	over := r.rng(80, 200)
	// Ground.
	p.fill(r.rng(70, 110), 256, rect(-2600, base, 2600, 2600))
	gable := r.chance(500)
	ridgeX := W * 45 / 100
	if gable {
		ridgeX = 0
	}
	// Side wall in perspective (sometimes).
	if r.chance(500) {
		d := r.rng(350, 600)
		p.shadowFill(wall-35, poly{{W, base}, {W, top}, {W + d, top - d/3}, {W + d, base - d/3}})
		p.fill(roofT-15, 256, poly{{ridgeX, ridge}, {ridgeX + d, ridge - d/3}, {W + over + d, top + 20 - d/3}, {W + over, top + 20}})
	}
	p.shadowFill(wall, rect(-W, top, W, base))
	// Brick/siding lines.
	for y := top + 90; y < base; y += 90 {
		p.fill(wall-18, 120, rect(-W, y, W, y+8))
	}
	// Roof: gable or hipped.
	roof := poly{{-W - over, top + 20}, {-ridgeX, ridge}, {ridgeX, ridge}, {W + over, top + 20}}
	if r.chance(600) {
		cx := W * r.rng(20, 60) / 100
		p.shadowFill(wall-50, rect(cx, ridge+100, cx+200, top-100))
	}
	p.shadowFill(roofT, roof)
	p.fill(roofT-25, 256, stroke(poly{roof[0], roof[len(roof)-1]}, 50, 50)...)
	// Door.
	dx := W * r.sym(45) / 100
	dw := r.rng(190, 240)
	door := r.rng(40, 120)
	p.fill(trim, 256, rect(dx-dw-40, base-900, dx+dw+40, base))
	p.fill(door, 256, rect(dx-dw, base-860, dx+dw, base))
	p.fill(min(door+70, 230), 180, rect(dx-dw+50, base-800, dx+dw-50, base-500))
	p.fill(220, 256, ellipse(dx+dw-60, base-430, 25, 25))
	// Windows on each floor, avoiding the door.
	glass := r.rng(40, 95)
	n := 2 + r.intn(2)
	ww, wh := r.rng(170, 230), r.rng(200, 260)
	for f := int64(0); f < floors; f++ {
		wy := base - f*floorH - floorH*55/100
		for i := int64(0); i < n; i++ {
			wx := -W + (2*i+1)*W/n
			if f == 0 && wx+ww+60 > dx-dw-60 && wx-ww-60 < dx+dw+60 {
				continue
			}
			p.fill(trim, 256, rect(wx-ww-35, wy-wh-35, wx+ww+35, wy+wh+35))
			p.fill(glass, 256, rect(wx-ww, wy-wh, wx+ww, wy+wh))
			p.fill(glass+60, 100, poly{{wx - ww, wy + wh/3}, {wx - ww/3, wy - wh}, {wx, wy - wh}, {wx - ww, wy + wh}})
			p.fill(trim, 256, rect(wx-15, wy-wh, wx+15, wy+wh), rect(wx-ww, wy-15, wx+ww, wy+15))
		}
	}
}

// drawCorridor: a one-point-perspective corridor filling the frame.
func drawCorridor(c *canvas, r *rng, _ int) {
	x := place(c.w, 0, 0, q16, 0)
	p := pen{c, x}
	vx := designSize/2 + r.sym(350)
	vy := designSize/2 + r.sym(250)
	ew, eh := r.rng(380, 620), r.rng(420, 640) // end-wall half-size
	floorT, ceilT := r.rng(60, 130), r.rng(175, 230)
	wallT := r.rng(130, 200)
	sideL, sideR := wallT+r.sym(15), wallT-r.rng(5, 30)
	// Outer frame beyond the canvas and inner (end wall) rectangle.
	o0, o1 := int64(-200), int64(designSize+200)
	i0x, i1x, i0y, i1y := vx-ew, vx+ew, vy-eh, vy+eh
	// depth interpolation: z in [1, zEnd]; a point at depth z lies at
	// vp + (outer - vp)/z; the end wall is at zEnd where the inner rect is.
	zEnd := (o1 - vx) * 100 / (i1x - vx)
	at := func(outer, vp, z100 int64) int64 { return vp + (outer-vp)*100/z100 }
	p.fill(ceilT, 256, poly{{o0, o0}, {o1, o0}, {i1x, i0y}, {i0x, i0y}})
	p.fill(floorT, 256, poly{{o0, o1}, {i0x, i1y}, {i1x, i1y}, {o1, o1}})
	p.fill(sideL, 256, poly{{o0, o0}, {i0x, i0y}, {i0x, i1y}, {o0, o1}})
	p.fill(sideR, 256, poly{{o1, o0}, {o1, o1}, {i1x, i1y}, {i1x, i0y}})
	p.fill(wallT+r.rng(-10, 25), 256, rect(i0x, i0y, i1x, i1y))
	// Floor tiles: lines to the vanishing point and across at depths.
	for i := int64(-6); i <= 6; i++ {
		bx := vx + i*designSize/6
		p.fill(floorT-25, 150, stroke(poly{{bx, o1}, {vx + (bx-vx)*100/zEnd, i1y}}, 14, 4)...)
	}
	for z := int64(130); z < zEnd; z = z * 135 / 100 {
		yy := at(o1, vy, z)
		p.fill(floorT-25, 150, stroke(poly{{at(o0, vx, z), yy}, {at(o1, vx, z), yy}}, 12, 12)...)
	}
	// Ceiling lights along the centre, baseboards, doors on the walls.
	for z := int64(140); z < zEnd; z = z * 170 / 100 {
		z2 := z * 118 / 100
		ya, yb := at(o0, vy, z), at(o0, vy, z2)
		wa, wb := 500*100/z, 500*100/z2
		p.fill(250, 256, poly{{vx - wa, ya}, {vx + wa, ya}, {vx + wb, yb}, {vx - wb, yb}})
	}
	p.fill(40, 220, stroke(poly{{o0, o1}, {i0x, i1y}, {i1x, i1y}, {o1, o1}}, 40, 10)...)
	doorT := r.rng(50, 120)
	for _, side := range []int64{-1, 1} {
		ox := o0
		if side == 1 {
			ox = o1
		}
		for z := int64(150) + r.intn(60); z*160/100 < zEnd; z = z * r.rng(190, 260) / 100 {
			z2 := z * 140 / 100
			xa, xb := at(ox, vx, z), at(ox, vx, z2)
			// door from the floor to 70% of the wall height
			ya0, yb0 := at(o1, vy, z), at(o1, vy, z2)
			ya1, yb1 := at(o0+(o1-o0)*30/100, vy, z), at(o0+(o1-o0)*30/100, vy, z2)
			p.fill(doorT, 256, poly{{xa, ya1}, {xb, yb1}, {xb, yb0}, {xa, ya0}})
			p.fill(doorT+60, 200, stroke(poly{{xa, ya1}, {xb, yb1}, {xb, yb0}}, 24*100/z, 24*100/z2)...)
		}
	}
	// End: a door or window on the far wall.
	if r.chance(600) {
		p.fill(doorT, 256, rect(vx-ew*35/100, vy+eh-eh*150/100, vx+ew*35/100, vy+eh))
	} else {
		p.fill(235, 256, rect(vx-ew*60/100, vy-eh*60/100, vx+ew*60/100, vy+eh*20/100))
	}
}
