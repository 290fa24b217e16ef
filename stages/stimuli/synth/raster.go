package synth

import (
	"image"
	"slices"
)

// The rasterizer works in integers only, so that an image is the same byte
// for byte on every machine: Go may fuse floating-point multiply-adds on
// some architectures (arm64, ppc64, s390x), which would change rounding,
// and golang.org/x/image/vector accumulates in float32. Coordinates are
// int64 pixels in Q8 fixed point (1/256 pixel); shapes are built in
// "design units" (designSize across the canvas) and mapped by an integer
// affine transform.

const (
	designSize = 4096 // design units across the canvas
	subRows    = 16   // sub-scanlines per pixel row (vertical antialiasing)
	q16        = 1 << 16
)

// pt is a point in Q8 pixel coordinates.
type pt struct{ x, y int64 }

// poly is a closed polygon.
type poly []pt

// canvas is an 8-bit luminance image being drawn on.
type canvas struct {
	w, h int
	pix  []int32 // luminance 0..255 (kept as int32 for blending)
	acc  []int32 // scratch: per-pixel coverage of the current row
	dif  []int32 // scratch: difference array for full-pixel runs
}

func newCanvas(w, h int, tone int32) *canvas {
	c := &canvas{w: w, h: h, pix: make([]int32, w*h), acc: make([]int32, w+1), dif: make([]int32, w+2)}
	for i := range c.pix {
		c.pix[i] = tone
	}
	return c
}

func (c *canvas) gray() *image.Gray {
	g := image.NewGray(image.Rect(0, 0, c.w, c.h))
	for i, v := range c.pix {
		g.Pix[i] = uint8(clampInt(int64(v), 0, 255))
	}
	return g
}

func clampInt(v, lo, hi int64) int64 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

type edge struct {
	x0, y0, x1, y1 int64
	dir            int32
}

type crossing struct {
	x   int64
	dir int32
}

// area2 is twice the signed area of p.
func area2(p poly) int64 {
	var a int64
	for i := range p {
		j := (i + 1) % len(p)
		a += p[i].x*p[j].y - p[j].x*p[i].y
	}
	return a
}

// fill paints the union (union = true: every polygon is first oriented the
// same way, so overlaps add up) or the nonzero-winding interior (union =
// false, for font outlines whose holes run the other way) of polys with
// tone at opacity alpha (0..256), antialiased: each pixel's coverage is
// measured exactly along subRows sub-scanlines.
func (c *canvas) fill(polys []poly, tone int32, alpha int32, union bool) {
	var edges []edge
	minY, maxY := int64(1<<62), int64(-1<<62)
	for _, p := range polys {
		if len(p) < 3 {
			continue
		}
		flip := union && area2(p) < 0
		for i := range p {
			a, b := p[i], p[(i+1)%len(p)]
			if flip {
				a, b = b, a
			}
			if a.y == b.y {
				continue
			}
			e := edge{a.x, a.y, b.x, b.y, 1}
			if a.y > b.y {
				e = edge{b.x, b.y, a.x, a.y, -1}
			}
			edges = append(edges, e)
			minY, maxY = min(minY, e.y0), max(maxY, e.y1)
		}
	}
	if len(edges) == 0 {
		return
	}
	r0 := max(0, int(minY>>8))
	r1 := min(c.h-1, int(maxY>>8))
	slices.SortFunc(edges, func(a, b edge) int { return int(clampInt(a.y0-b.y0, -1, 1)) })
	var xs []crossing
	var active []edge // edges begun above the sub-scanline (ys only grows)
	next := 0
	wq := int64(c.w) << 8
	for r := r0; r <= r1; r++ {
		clear(c.acc)
		clear(c.dif)
		touched := false
		for k := 0; k < subRows; k++ {
			ys := int64(r)<<8 + int64(2*k+1)*128/subRows
			for next < len(edges) && edges[next].y0 <= ys { // sorted by y0
				active = append(active, edges[next])
				next++
			}
			xs = xs[:0]
			live := active[:0]
			for _, e := range active {
				if ys >= e.y1 {
					continue // ended for good
				}
				live = append(live, e)
				x := e.x0 + (ys-e.y0)*(e.x1-e.x0)/(e.y1-e.y0)
				xs = append(xs, crossing{x, e.dir})
			}
			active = live
			if len(xs) < 2 {
				continue
			}
			slices.SortFunc(xs, func(a, b crossing) int { return int(clampInt(a.x-b.x, -1, 1)) })
			var wind int32
			var start int64
			for _, x := range xs {
				prev := wind
				wind += x.dir
				if prev == 0 && wind != 0 {
					start = x.x
				} else if prev != 0 && wind == 0 {
					xa, xb := clampInt(start, 0, wq), clampInt(x.x, 0, wq)
					if xb > xa {
						c.span(xa, xb)
						touched = true
					}
				}
			}
		}
		if !touched {
			continue
		}
		row := c.pix[r*c.w : (r+1)*c.w]
		var run int32
		for x := 0; x < c.w; x++ {
			run += c.dif[x]
			cov := c.acc[x] + run // 0 .. 256*subRows
			if cov == 0 {
				continue
			}
			a := int64(cov) * int64(alpha) / (256 * subRows) // 0..256
			row[x] = int32((int64(row[x])*(256-a) + int64(tone)*a + 128) >> 8)
		}
	}
}

// span adds horizontal coverage [xa, xb) (Q8, clipped) of one sub-scanline.
func (c *canvas) span(xa, xb int64) {
	pa, pb := int(xa>>8), int(xb>>8)
	if pa == pb {
		c.acc[pa] += int32(xb - xa)
		return
	}
	c.acc[pa] += int32(256 - xa&255)
	if pb > pa+1 {
		c.dif[pa+1] += 256
		c.dif[pb] -= 256
	}
	if pb < c.w {
		c.acc[pb] += int32(xb & 255)
	}
}

// xform maps design units to Q8 pixels: p' = t + M·p, M in Q16 scaled so
// that designSize units span the canvas.
type xform struct {
	a, b, c, d int64 // Q16 rotation·scale
	tx, ty     int64 // design units
	size       int64 // canvas pixels
}

// place returns the transform that puts a shape's local design frame at
// design position (cx, cy), scaled by scale/q16 and rotated by the angle
// whose half-angle tangent is t/q16 (rational rotation keeps it integer).
func place(size int, cx, cy, scale, t int64) xform {
	cs, sn := rot(t)
	return xform{
		a: cs * scale >> 16, b: -sn * scale >> 16,
		c: sn * scale >> 16, d: cs * scale >> 16,
		tx: cx, ty: cy, size: int64(size),
	}
}

// rot gives (cos, sin) in Q16 for the half-angle tangent t (Q16), exactly
// as rationals: cos = (1-t²)/(1+t²), sin = 2t/(1+t²).
func rot(t int64) (int64, int64) {
	t2 := t * t >> 16
	den := q16 + t2
	return (q16 - t2) * q16 / den, 2 * t * q16 / den
}

func (x xform) apply(p pt) pt {
	X := x.tx<<16 + x.a*p.x + x.b*p.y // design units, Q16
	Y := x.ty<<16 + x.c*p.x + x.d*p.y
	// Q8 pixels = design * size * 256 / designSize.
	return pt{X * x.size / (designSize << 8), Y * x.size / (designSize << 8)}
}

func (x xform) polys(ps ...poly) []poly {
	out := make([]poly, len(ps))
	for i, p := range ps {
		q := make(poly, len(p))
		for j, v := range p {
			q[j] = x.apply(v)
		}
		out[i] = q
	}
	return out
}

// Shape builders, all in design units.

// ellipse approximates an axis-aligned ellipse by 4n points from the
// rational parametrisation of the circle.
func ellipse(cx, cy, rx, ry int64) poly {
	const n = 12
	p := make(poly, 0, 4*n)
	for q := 0; q < 4; q++ {
		for i := int64(0); i < n; i++ {
			den := n*n + i*i
			u, v := (n*n-i*i)*q16/den, 2*i*n*q16/den // cos, sin
			for j := 0; j < q; j++ {
				u, v = -v, u
			}
			p = append(p, pt{cx + rx*u/q16, cy - ry*v/q16})
		}
	}
	return p
}

// arc returns points of the ellipse from quadrant-steps a to b (each
// quadrant has n steps, counter-clockwise from +x with y up, 0..4n).
func arc(cx, cy, rx, ry int64, a, b int) poly {
	e := ellipse(cx, cy, rx, ry)
	var p poly
	for i := a; i <= b; i++ {
		p = append(p, e[((i%len(e))+len(e))%len(e)])
	}
	return p
}

// rotated rotates local points about the origin by the half-angle tangent t.
func rotated(p poly, t int64) poly {
	cs, sn := rot(t)
	out := make(poly, len(p))
	for i, v := range p {
		out[i] = pt{(cs*v.x - sn*v.y) / q16, (sn*v.x + cs*v.y) / q16}
	}
	return out
}

func translated(p poly, dx, dy int64) poly {
	out := make(poly, len(p))
	for i, v := range p {
		out[i] = pt{v.x + dx, v.y + dy}
	}
	return out
}

func rect(x0, y0, x1, y1 int64) poly {
	return poly{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}}
}

// cubic flattens a cubic Bézier (excluding its start point) into n points.
func cubic(p0, p1, p2, p3 pt, n int64) poly {
	out := make(poly, 0, n)
	n3 := n * n * n
	for i := int64(1); i <= n; i++ {
		j := n - i
		b0, b1, b2, b3 := j*j*j, 3*j*j*i, 3*j*i*i, i*i*i
		out = append(out, pt{
			(b0*p0.x + b1*p1.x + b2*p2.x + b3*p3.x) / n3,
			(b0*p0.y + b1*p1.y + b2*p2.y + b3*p3.y) / n3,
		})
	}
	return out
}

// quad flattens a quadratic Bézier (excluding its start point).
func quad(p0, p1, p2 pt, n int64) poly {
	out := make(poly, 0, n)
	n2 := n * n
	for i := int64(1); i <= n; i++ {
		j := n - i
		out = append(out, pt{
			(j*j*p0.x + 2*j*i*p1.x + i*i*p2.x) / n2,
			(j*j*p0.y + 2*j*i*p1.y + i*i*p2.y) / n2,
		})
	}
	return out
}

func isqrt(v int64) int64 {
	if v <= 0 {
		return 0
	}
	x := int64(1) << ((64 - lz(uint64(v))) / 2)
	for {
		y := (x + v/x) / 2
		if y >= x {
			break
		}
		x = y
	}
	for x*x > v {
		x--
	}
	for (x+1)*(x+1) <= v {
		x++
	}
	return x
}

func lz(v uint64) int {
	n := 0
	for i := 63; i >= 0 && v&(1<<uint(i)) == 0; i-- {
		n++
	}
	return n
}

// stroke returns polygons covering a polyline of width w0 at its start
// tapering linearly to w1 at its end, with round joins and caps.
func stroke(pts poly, w0, w1 int64) []poly {
	var out []poly
	n := len(pts)
	if n == 0 {
		return nil
	}
	// cumulative length for the taper
	lens := make([]int64, n)
	for i := 1; i < n; i++ {
		dx, dy := pts[i].x-pts[i-1].x, pts[i].y-pts[i-1].y
		lens[i] = lens[i-1] + isqrt(dx*dx+dy*dy)
	}
	total := max(lens[n-1], 1)
	width := func(i int) int64 { return w0 + (w1-w0)*lens[i]/total }
	for i := 0; i < n; i++ {
		r := width(i) / 2
		out = append(out, ellipse(pts[i].x, pts[i].y, r, r))
		if i == 0 {
			continue
		}
		a, b := pts[i-1], pts[i]
		dx, dy := b.x-a.x, b.y-a.y
		l := isqrt(dx*dx + dy*dy)
		if l == 0 {
			continue
		}
		ra, rb := width(i-1)/2, r
		nxa, nya := -dy*ra/l, dx*ra/l
		nxb, nyb := -dy*rb/l, dx*rb/l
		out = append(out, poly{{a.x + nxa, a.y + nya}, {b.x + nxb, b.y + nyb}, {b.x - nxb, b.y - nyb}, {a.x - nxa, a.y - nya}})
	}
	return out
}

// profile returns polygons covering a polyline whose width at vertex i is
// widths[i] (linear in between), with round joins: a limb with a shape.
func profile(pts poly, widths []int64) []poly {
	var out []poly
	for i := range pts {
		r := widths[i] / 2
		out = append(out, ellipse(pts[i].x, pts[i].y, r, r))
		if i == 0 {
			continue
		}
		a, b := pts[i-1], pts[i]
		dx, dy := b.x-a.x, b.y-a.y
		l := isqrt(dx*dx + dy*dy)
		if l == 0 {
			continue
		}
		ra, rb := widths[i-1]/2, r
		out = append(out, poly{{a.x - dy*ra/l, a.y + dx*ra/l}, {b.x - dy*rb/l, b.y + dx*rb/l}, {b.x + dy*rb/l, b.y - dx*rb/l}, {a.x + dy*ra/l, a.y - dx*ra/l}})
	}
	return out
}

// lerp returns a + (b-a)*num/den.
func lerp(a, b pt, num, den int64) pt {
	return pt{a.x + (b.x-a.x)*num/den, a.y + (b.y-a.y)*num/den}
}

// mirrorX mirrors local points about x = 0, reversing their order.
func mirrorX(p poly) poly {
	out := make(poly, len(p))
	for i, v := range p {
		out[len(p)-1-i] = pt{-v.x, v.y}
	}
	return out
}
