package synth

import (
	"fmt"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
)

// Text is set in the Go font (goregular). Glyph outlines come from sfnt,
// which scales them in integer 26.6 fixed point; they are loaded once at a
// fixed reference size and scaled and rasterized here in integers, so text
// is bit-identical across machines (x/image/vector, which font.Drawer
// uses, rasterizes in float32).

const refPPEM = 256 // reference glyph size in pixels

type glyph struct {
	contours []poly // Q8 pixels at refPPEM, origin on the baseline
	advance  int64  // Q8 pixels at refPPEM
}

var fontOnce struct {
	sync.Once
	glyphs map[rune]*glyph
	kern   map[[2]rune]int64
	err    error
}

const glyphSet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func loadFont() (map[rune]*glyph, map[[2]rune]int64, error) {
	fontOnce.Do(func() {
		f, err := opentype.Parse(goregular.TTF)
		if err != nil {
			fontOnce.err = fmt.Errorf("synth: parsing goregular: %w", err)
			return
		}
		var buf sfnt.Buffer
		ppem := fixed.Int26_6(refPPEM << 6)
		glyphs := map[rune]*glyph{}
		idx := map[rune]sfnt.GlyphIndex{}
		for _, ch := range glyphSet {
			gi, err := f.GlyphIndex(&buf, ch)
			if err != nil {
				fontOnce.err = fmt.Errorf("synth: glyph %q: %w", ch, err)
				return
			}
			idx[ch] = gi
			segs, err := f.LoadGlyph(&buf, gi, ppem, nil)
			if err != nil {
				fontOnce.err = fmt.Errorf("synth: loading glyph %q: %w", ch, err)
				return
			}
			adv, err := f.GlyphAdvance(&buf, gi, ppem, font.HintingNone)
			if err != nil {
				fontOnce.err = fmt.Errorf("synth: advance of %q: %w", ch, err)
				return
			}
			glyphs[ch] = &glyph{contours: flatten(segs), advance: int64(adv) * 4}
		}
		kern := map[[2]rune]int64{}
		for _, a := range glyphSet {
			for _, b := range glyphSet {
				k, err := f.Kern(&buf, idx[a], idx[b], ppem, font.HintingNone)
				if err == nil && k != 0 {
					kern[[2]rune{a, b}] = int64(k) * 4
				}
			}
		}
		fontOnce.glyphs, fontOnce.kern = glyphs, kern
	})
	return fontOnce.glyphs, fontOnce.kern, fontOnce.err
}

// flatten turns sfnt segments (26.6 pixels) into Q8 polygons.
func flatten(segs sfnt.Segments) []poly {
	var out []poly
	var cur poly
	q8 := func(p fixed.Point26_6) pt { return pt{int64(p.X) * 4, int64(p.Y) * 4} }
	for _, s := range segs {
		switch s.Op {
		case sfnt.SegmentOpMoveTo:
			if len(cur) > 2 {
				out = append(out, cur)
			}
			cur = poly{q8(s.Args[0])}
		case sfnt.SegmentOpLineTo:
			cur = append(cur, q8(s.Args[0]))
		case sfnt.SegmentOpQuadTo:
			if len(cur) > 0 {
				cur = append(cur, quad(cur[len(cur)-1], q8(s.Args[0]), q8(s.Args[1]), 8)...)
			}
		case sfnt.SegmentOpCubeTo:
			if len(cur) > 0 {
				cur = append(cur, cubic(cur[len(cur)-1], q8(s.Args[0]), q8(s.Args[1]), q8(s.Args[2]), 10)...)
			}
		}
	}
	if len(cur) > 2 {
		out = append(out, cur)
	}
	return out
}

// drawText sets s so that it spans widthPct% of the canvas width, centred
// with some jitter, in the given tone.
func drawText(c *canvas, r *rng, s string, widthPct, tone int64) {
	glyphs, kern, err := loadFont()
	if err != nil {
		panic(err) // the embedded font always parses; a failure is a build problem
	}
	// Layout at the reference size.
	var total int64
	var prev rune
	for i, ch := range s {
		if i > 0 {
			total += kern[[2]rune{prev, ch}]
		}
		total += glyphs[ch].advance
		prev = ch
	}
	if total == 0 {
		return
	}
	W := int64(c.w) << 8
	target := W * widthPct / 100
	// Cap the height: glyphs are about 0.72 em tall; keep within 45% of the canvas.
	maxScale := (int64(c.h) << 8) * 45 / 100 * 1000 / (refPPEM * 256 * 72 / 100)
	scale := min(target*1000/total, maxScale) // per mille of refPPEM
	x0 := (W-total*scale/1000)/2 + int64(c.w)*r.sym(6)*256/100
	base := (int64(c.h)<<8)/2 + (refPPEM*256*36/100)*scale/1000 + int64(c.h)*r.sym(12)*256/100
	var polys []poly
	var x int64 // reference-size pen position
	prev = 0
	for i, ch := range s {
		if i > 0 {
			x += kern[[2]rune{prev, ch}]
		}
		g := glyphs[ch]
		for _, cp := range g.contours {
			q := make(poly, len(cp))
			for j, v := range cp {
				q[j] = pt{x0 + (x+v.x)*scale/1000, base + v.y*scale/1000}
			}
			polys = append(polys, q)
		}
		x += g.advance
		prev = ch
	}
	c.fill(polys, int32(clampInt(tone, 0, 255)), 256, false)
}

// drawWord: a random pronounceable pseudoword (like fLOC's), 4–7 letters.
func drawWord(c *canvas, r *rng, _ int) {
	const cons, vows = "bcdfghjklmnprstvwz", "aeiou"
	n := int(r.rng(4, 7))
	b := make([]byte, 0, n)
	startVowel := r.chance(300)
	for i := 0; i < n; i++ {
		if (i%2 == 0) != startVowel {
			b = append(b, cons[r.intn(int64(len(cons)))])
		} else {
			b = append(b, vows[r.intn(int64(len(vows)))])
		}
	}
	if r.chance(150) {
		b[0] -= 'a' - 'A'
	}
	drawText(c, r, string(b), r.rng(55, 80), r.rng(10, 45))
}

// drawNumber: a random string of 3–6 digits.
func drawNumber(c *canvas, r *rng, _ int) {
	n := int(r.rng(3, 6))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + r.intn(10))
	}
	if b[0] == '0' {
		b[0] = byte('1' + r.intn(9))
	}
	drawText(c, r, string(b), r.rng(45, 75), r.rng(10, 45))
}
