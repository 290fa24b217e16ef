package imaging

import (
	"errors"
	"fmt"
)

// This file is a small decoder for Huffman-coded 8-bit JPEGs (baseline,
// extended sequential and progressive) with one or three components that
// reproduces libjpeg-turbo's default output bit for bit, which Go's
// image/jpeg does not: libjpeg's default inverse DCT is the "islow" Loeffler–Ligtenberg–
// Moschytz integer transform (jidctint.c: 13-bit constants, 2 extra bits
// after the column pass, its post-IDCT range-limit table), while Go uses a
// different fixed-point IDCT that is off by one on about 0.5–2% of samples.
// Chroma upsampling and colour conversion follow jdsample.c / jdcolor.c
// (see ycbcr.go). Anything else — arithmetic-coded or lossless files,
// 12-bit samples, CMYK, progressive files whose scans leave low-frequency
// coefficients incomplete (libjpeg then applies block smoothing) — returns
// errJPEGUnsupported and the caller falls back to image/jpeg.

var errJPEGUnsupported = errors.New("jpeg: not an 8-bit Huffman JPEG with 1 or 3 components")

// unzig maps zigzag index to natural (row-major) index, with libjpeg's 16
// extra entries so that a corrupt run past the end lands on 63.
var unzig = [80]int{
	0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
	63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63,
}

type huffTable struct {
	lookup  [256]uint16 // 8-bit lookahead: length<<8 | value, 0 = longer code
	maxcode [17]int32
	mincode [17]int32
	valptr  [17]int32
	vals    []uint8
}

type jpegComp struct {
	id, h, v, tq int
	td, ta       int
	dcPred       int32
	w, h8        int // plane size in samples (whole MCUs)
	cw, ch       int // real (downsampled) size: ceil(X*h/hmax) × ceil(Y*v/vmax)
	pix          []uint8
	coef         []int32   // progressive: all blocks' coefficients, natural order
	coefBits     [64]int32 // progressive: bits still missing per coefficient, -1 = never seen
}

type jpegDec struct {
	data      []byte
	pos       int
	bits      uint32
	nbits     int
	hitMarker bool

	q              [4][64]int32 // natural order
	qok            [4]bool
	dc, ac         [4]*huffTable
	comps          []jpegComp
	width, height  int
	hmax, vmax     int
	mcux, mcuy     int
	restart        int
	jfif, adobe    bool
	adobeTransform int
	frame          bool
	progressive    bool
	eobrun         int32
}

// decodeJPEG decodes data (whose header has already passed checkSize).
func decodeJPEG(data []byte) (*Image, error) {
	d := &jpegDec{data: data}
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return nil, errors.New("jpeg: missing SOI marker")
	}
	d.pos = 2
	for {
		m, err := d.nextMarker()
		if err != nil {
			return nil, err
		}
		switch {
		case m == 0xD9: // EOI
			if !d.frame {
				return nil, errors.New("jpeg: no frame before EOI")
			}
			return d.output()
		case m == 0xC0 || m == 0xC1 || m == 0xC2:
			d.progressive = m == 0xC2
			if err := d.readSOF(); err != nil {
				return nil, err
			}
		case m >= 0xC3 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC:
			return nil, errJPEGUnsupported // progressive, lossless, arithmetic
		case m == 0xC4:
			if err := d.readDHT(); err != nil {
				return nil, err
			}
		case m == 0xDB:
			if err := d.readDQT(); err != nil {
				return nil, err
			}
		case m == 0xDD:
			seg, err := d.segment()
			if err != nil {
				return nil, err
			}
			if len(seg) != 2 {
				return nil, errors.New("jpeg: bad DRI length")
			}
			d.restart = int(seg[0])<<8 | int(seg[1])
		case m == 0xDA:
			if !d.frame {
				return nil, errors.New("jpeg: SOS before SOF")
			}
			if err := d.readScan(); err != nil {
				return nil, err
			}
		case m == 0xE0 || m == 0xEE:
			seg, err := d.segment()
			if err != nil {
				return nil, err
			}
			if m == 0xE0 && len(seg) >= 5 && string(seg[:5]) == "JFIF\x00" {
				d.jfif = true
			}
			if m == 0xEE && len(seg) >= 12 && string(seg[:5]) == "Adobe" {
				d.adobe = true
				d.adobeTransform = int(seg[11])
			}
		case m == 0xDC: // DNL
			return nil, errJPEGUnsupported
		case m >= 0xD0 && m <= 0xD7: // stray RST: ignore
		case m == 0x01:
		default: // APPn, COM, others with a length
			if _, err := d.segment(); err != nil {
				return nil, err
			}
		}
	}
}

// nextMarker skips to the next marker (libjpeg tolerates garbage between
// segments) and returns its code.
func (d *jpegDec) nextMarker() (byte, error) {
	for d.pos+1 < len(d.data) {
		if d.data[d.pos] != 0xFF {
			d.pos++
			continue
		}
		c := d.data[d.pos+1]
		if c == 0xFF { // fill byte
			d.pos++
			continue
		}
		d.pos += 2
		if c == 0 {
			continue
		}
		return c, nil
	}
	return 0, errors.New("jpeg: unexpected end of data")
}

func (d *jpegDec) segment() ([]byte, error) {
	if d.pos+2 > len(d.data) {
		return nil, errors.New("jpeg: truncated segment length")
	}
	n := int(d.data[d.pos])<<8 | int(d.data[d.pos+1])
	if n < 2 || d.pos+n > len(d.data) {
		return nil, errors.New("jpeg: truncated segment")
	}
	seg := d.data[d.pos+2 : d.pos+n]
	d.pos += n
	return seg, nil
}

func (d *jpegDec) readSOF() error {
	if d.frame {
		return errors.New("jpeg: more than one frame")
	}
	seg, err := d.segment()
	if err != nil {
		return err
	}
	if len(seg) < 6 {
		return errors.New("jpeg: short SOF")
	}
	if seg[0] != 8 {
		return errJPEGUnsupported
	}
	d.height = int(seg[1])<<8 | int(seg[2])
	d.width = int(seg[3])<<8 | int(seg[4])
	nf := int(seg[5])
	if nf != 1 && nf != 3 {
		return errJPEGUnsupported
	}
	if d.height == 0 || d.width == 0 {
		return errJPEGUnsupported // DNL-defined height
	}
	if len(seg) != 6+3*nf {
		return errors.New("jpeg: bad SOF length")
	}
	d.hmax, d.vmax = 1, 1
	for i := 0; i < nf; i++ {
		c := jpegComp{id: int(seg[6+3*i]), h: int(seg[7+3*i] >> 4), v: int(seg[7+3*i] & 15), tq: int(seg[8+3*i])}
		if c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 || c.tq > 3 {
			return errors.New("jpeg: bad component parameters")
		}
		for _, o := range d.comps {
			if o.id == c.id {
				return errors.New("jpeg: repeated component id")
			}
		}
		d.hmax, d.vmax = max(d.hmax, c.h), max(d.vmax, c.v)
		d.comps = append(d.comps, c)
	}
	if nf == 1 { // a single component is never interleaved: one block per MCU
		d.comps[0].h, d.comps[0].v = 1, 1
		d.hmax, d.vmax = 1, 1
	}
	d.mcux = (d.width + 8*d.hmax - 1) / (8 * d.hmax)
	d.mcuy = (d.height + 8*d.vmax - 1) / (8 * d.vmax)
	for i := range d.comps {
		c := &d.comps[i]
		c.w, c.h8 = d.mcux*c.h*8, d.mcuy*c.v*8
		c.cw = (d.width*c.h + d.hmax - 1) / d.hmax
		c.ch = (d.height*c.v + d.vmax - 1) / d.vmax
		c.pix = make([]uint8, c.w*c.h8)
		if d.progressive {
			c.coef = make([]int32, c.w*c.h8)
			for k := range c.coefBits {
				c.coefBits[k] = -1
			}
		}
	}
	d.frame = true
	return nil
}

func (d *jpegDec) readDQT() error {
	seg, err := d.segment()
	if err != nil {
		return err
	}
	for len(seg) > 0 {
		pq, tq := seg[0]>>4, int(seg[0]&15)
		if tq > 3 || pq > 1 {
			return errors.New("jpeg: bad DQT")
		}
		n := 64 * (1 + int(pq))
		if len(seg) < 1+n {
			return errors.New("jpeg: short DQT")
		}
		for k := 0; k < 64; k++ {
			var v int32
			if pq == 0 {
				v = int32(seg[1+k])
			} else {
				v = int32(seg[1+2*k])<<8 | int32(seg[2+2*k])
			}
			d.q[tq][unzig[k]] = v
		}
		d.qok[tq] = true
		seg = seg[1+n:]
	}
	return nil
}

func (d *jpegDec) readDHT() error {
	seg, err := d.segment()
	if err != nil {
		return err
	}
	for len(seg) > 0 {
		if len(seg) < 17 {
			return errors.New("jpeg: short DHT")
		}
		tc, th := seg[0]>>4, int(seg[0]&15)
		if tc > 1 || th > 3 {
			return errors.New("jpeg: bad DHT class or id")
		}
		var counts [17]int
		total := 0
		for l := 1; l <= 16; l++ {
			counts[l] = int(seg[l])
			total += counts[l]
		}
		if total > 256 || len(seg) < 17+total {
			return errors.New("jpeg: bad DHT counts")
		}
		h := &huffTable{vals: append([]uint8(nil), seg[17:17+total]...)}
		code, k := int32(0), int32(0)
		for l := 1; l <= 16; l++ {
			h.valptr[l] = k
			h.mincode[l] = code
			h.maxcode[l] = -1
			for i := 0; i < counts[l]; i++ {
				if code >= 1<<l {
					return errors.New("jpeg: bad Huffman table")
				}
				if l <= 8 {
					shift := 8 - l
					for s := int32(0); s < 1<<shift; s++ {
						h.lookup[code<<shift|s] = uint16(l)<<8 | uint16(h.vals[k])
					}
				}
				code++
				k++
			}
			if counts[l] > 0 {
				h.maxcode[l] = code - 1
			}
			code <<= 1
		}
		if tc == 0 {
			d.dc[th] = h
		} else {
			d.ac[th] = h
		}
		seg = seg[17+total:]
	}
	return nil
}

// fill tops the bit buffer up past 24 bits. At a marker (or the end of
// data) it feeds zeros, as libjpeg does for a premature end of a segment.
func (d *jpegDec) fill() {
	for d.nbits <= 24 {
		var b byte
		if !d.hitMarker && d.pos < len(d.data) {
			b = d.data[d.pos]
			if b == 0xFF {
				next := byte(0xFF)
				if d.pos+1 < len(d.data) {
					next = d.data[d.pos+1]
				}
				if next == 0 {
					d.pos += 2
				} else {
					d.hitMarker = true
					b = 0
				}
			} else {
				d.pos++
			}
		}
		d.bits |= uint32(b) << (24 - d.nbits)
		d.nbits += 8
	}
}

func (d *jpegDec) decodeHuff(h *huffTable) (uint8, error) {
	if d.nbits < 16 {
		d.fill()
	}
	if e := h.lookup[d.bits>>24]; e != 0 {
		l := int(e >> 8)
		d.bits <<= l
		d.nbits -= l
		return uint8(e), nil
	}
	for l := 9; l <= 16; l++ {
		code := int32(d.bits >> (32 - l))
		if code <= h.maxcode[l] {
			d.bits <<= l
			d.nbits -= l
			return h.vals[h.valptr[l]+code-h.mincode[l]], nil
		}
	}
	return 0, errors.New("jpeg: bad Huffman code")
}

// receiveExtend reads s bits and sign-extends them (JPEG's EXTEND).
func (d *jpegDec) receiveExtend(s uint8) (int32, error) {
	if s == 0 {
		return 0, nil
	}
	if s > 16 {
		return 0, errors.New("jpeg: bad coefficient size")
	}
	if d.nbits < int(s) {
		d.fill()
	}
	v := int32(d.bits >> (32 - uint(s)))
	d.bits <<= s
	d.nbits -= int(s)
	if v < 1<<(s-1) {
		v += -(1 << s) + 1
	}
	return v, nil
}

func (d *jpegDec) readScan() error {
	seg, err := d.segment()
	if err != nil {
		return err
	}
	if len(seg) < 1 {
		return errors.New("jpeg: short SOS")
	}
	ns := int(seg[0])
	if ns < 1 || ns > len(d.comps) || len(seg) != 4+2*ns {
		return errors.New("jpeg: bad SOS")
	}
	ss, se := int(seg[1+2*ns]), int(seg[2+2*ns])
	ah, al := int32(seg[3+2*ns]>>4), uint(seg[3+2*ns]&15)
	if !d.progressive && (ss != 0 || se != 63 || ah != 0 || al != 0) {
		return errors.New("jpeg: spectral selection in a sequential JPEG")
	}
	if d.progressive && (ss > se || se > 63 || (ss == 0 && se != 0) || (ss > 0 && ns != 1) || al > 13) {
		return errors.New("jpeg: bad progressive scan parameters")
	}
	var sc []*jpegComp
	for i := 0; i < ns; i++ {
		id, t := int(seg[1+2*i]), seg[2+2*i]
		var c *jpegComp
		for j := range d.comps {
			if d.comps[j].id == id {
				c = &d.comps[j]
			}
		}
		if c == nil {
			return errors.New("jpeg: SOS names an unknown component")
		}
		c.td, c.ta = int(t>>4), int(t&15)
		needDC := ss == 0 && ah == 0
		needAC := se > 0
		if c.td > 3 || c.ta > 3 || (needDC && d.dc[c.td] == nil) || (needAC && d.ac[c.ta] == nil) {
			return errors.New("jpeg: scan uses an undefined table")
		}
		c.dcPred = 0
		sc = append(sc, c)
	}
	d.bits, d.nbits, d.hitMarker, d.eobrun = 0, 0, false, 0
	for _, c := range sc {
		for k := ss; k <= se; k++ {
			c.coefBits[k] = int32(al)
		}
	}

	var blk [64]int32
	decodeBlock := func(c *jpegComp, bx, by int) error {
		clear(blk[:])
		t, err := d.decodeHuff(d.dc[c.td])
		if err != nil {
			return err
		}
		diff, err := d.receiveExtend(t)
		if err != nil {
			return err
		}
		c.dcPred += diff
		blk[0] = int32(int16(c.dcPred))
		ac := d.ac[c.ta]
		for k := 1; k < 64; k++ {
			rs, err := d.decodeHuff(ac)
			if err != nil {
				return err
			}
			r, s := int(rs>>4), rs&15
			if s == 0 {
				if r != 15 {
					break
				}
				k += 15
				continue
			}
			k += r
			v, err := d.receiveExtend(s)
			if err != nil {
				return err
			}
			blk[unzig[min(k, 79)]] = int32(int16(v))
		}
		if !d.qok[c.tq] {
			return errors.New("jpeg: undefined quantisation table")
		}
		idctIslow(&blk, &d.q[c.tq], c.pix[by*8*c.w+bx*8:], c.w)
		return nil
	}
	if d.progressive {
		decodeBlock = func(c *jpegComp, bx, by int) error {
			b := c.coef[(by*(c.w/8)+bx)*64:][:64]
			switch {
			case ss == 0 && ah == 0:
				return d.dcFirst(c, b, al)
			case ss == 0:
				return d.dcRefine(b, al)
			case ah == 0:
				return d.acFirst(c, b, ss, se, al)
			default:
				return d.acRefine(c, b, ss, se, al)
			}
		}
	}

	// Units: MCUs when interleaved, single blocks otherwise.
	var ux, uy int
	if ns == 1 {
		c := sc[0]
		ux, uy = (c.cw+7)/8, (c.ch+7)/8
	} else {
		ux, uy = d.mcux, d.mcuy
	}
	units := 0
	for my := 0; my < uy; my++ {
		for mx := 0; mx < ux; mx++ {
			if d.restart > 0 && units > 0 && units%d.restart == 0 {
				if err := d.processRestart(sc); err != nil {
					return err
				}
			}
			units++
			if ns == 1 {
				if err := decodeBlock(sc[0], mx, my); err != nil {
					return err
				}
				continue
			}
			for _, c := range sc {
				for v := 0; v < c.v; v++ {
					for h := 0; h < c.h; h++ {
						if err := decodeBlock(c, mx*c.h+h, my*c.v+v); err != nil {
							return err
						}
					}
				}
			}
		}
	}
	// Leave d.pos at the next marker for the segment loop.
	return nil
}

// processRestart discards the remaining bits, expects an RSTn marker and
// resets the DC predictors.
func (d *jpegDec) processRestart(sc []*jpegComp) error {
	d.bits, d.nbits = 0, 0
	for d.pos+1 < len(d.data) {
		if d.data[d.pos] == 0xFF && d.data[d.pos+1] >= 0xD0 && d.data[d.pos+1] <= 0xD7 {
			d.pos += 2
			break
		}
		if d.data[d.pos] == 0xFF && d.data[d.pos+1] != 0 && d.data[d.pos+1] != 0xFF {
			break // another marker: leave it; the rest decodes as zeros
		}
		d.pos++
	}
	d.hitMarker = false
	d.eobrun = 0
	for _, c := range sc {
		c.dcPred = 0
	}
	return nil
}

// getBits reads n (≤ 16) bits unsigned.
func (d *jpegDec) getBits(n uint) int32 {
	if n == 0 {
		return 0
	}
	if d.nbits < int(n) {
		d.fill()
	}
	v := int32(d.bits >> (32 - n))
	d.bits <<= n
	d.nbits -= int(n)
	return v
}

// The four progressive scan kinds, after libjpeg's jdphuff.c.

func (d *jpegDec) dcFirst(c *jpegComp, b []int32, al uint) error {
	t, err := d.decodeHuff(d.dc[c.td])
	if err != nil {
		return err
	}
	diff, err := d.receiveExtend(t)
	if err != nil {
		return err
	}
	c.dcPred += diff
	b[0] = int32(int16(c.dcPred * (1 << al)))
	return nil
}

func (d *jpegDec) dcRefine(b []int32, al uint) error {
	if d.getBits(1) != 0 {
		b[0] = int32(int16(b[0] | 1<<al))
	}
	return nil
}

func (d *jpegDec) acFirst(c *jpegComp, b []int32, ss, se int, al uint) error {
	if d.eobrun > 0 {
		d.eobrun--
		return nil
	}
	ac := d.ac[c.ta]
	for k := ss; k <= se; k++ {
		rs, err := d.decodeHuff(ac)
		if err != nil {
			return err
		}
		r, s := int(rs>>4), rs&15
		if s != 0 {
			k += r
			v, err := d.receiveExtend(s)
			if err != nil {
				return err
			}
			b[unzig[min(k, 79)]] = int32(int16(v * (1 << al)))
			continue
		}
		if r == 15 {
			k += 15
			continue
		}
		d.eobrun = 1 << r
		if r > 0 {
			d.eobrun += d.getBits(uint(r))
		}
		d.eobrun--
		break
	}
	return nil
}

func (d *jpegDec) acRefine(c *jpegComp, b []int32, ss, se int, al uint) error {
	p1, m1 := int32(1)<<al, int32(-1)<<al
	refine := func(pos int) {
		if v := b[pos]; v != 0 && d.getBits(1) != 0 && v&p1 == 0 {
			if v >= 0 {
				b[pos] = int32(int16(v + p1))
			} else {
				b[pos] = int32(int16(v + m1))
			}
		}
	}
	k := ss
	if d.eobrun == 0 {
		ac := d.ac[c.ta]
		for ; k <= se; k++ {
			rs, err := d.decodeHuff(ac)
			if err != nil {
				return err
			}
			r, s := int(rs>>4), int32(rs&15)
			if s != 0 {
				if s != 1 {
					return errors.New("jpeg: bad progressive refinement")
				}
				if d.getBits(1) != 0 {
					s = p1
				} else {
					s = m1
				}
			} else if r != 15 {
				d.eobrun = 1 << r
				if r > 0 {
					d.eobrun += d.getBits(uint(r))
				}
				break
			}
			for k <= se {
				pos := unzig[k]
				if b[pos] != 0 {
					refine(pos)
				} else {
					r--
					if r < 0 {
						break
					}
				}
				k++
			}
			if s != 0 {
				b[unzig[min(k, 79)]] = s
			}
		}
	}
	if d.eobrun > 0 {
		for ; k <= se; k++ {
			refine(unzig[k])
		}
		d.eobrun--
	}
	return nil
}

// output upsamples and colour-converts the component planes (after the
// inverse DCT of all stored blocks, for a progressive file).
func (d *jpegDec) output() (*Image, error) {
	if d.progressive {
		for i := range d.comps {
			c := &d.comps[i]
			// libjpeg block-smooths when DC or any of the first 9 AC
			// coefficients is incomplete; not reproduced here.
			for k := 0; k < 10; k++ {
				if c.coefBits[k] != 0 {
					return nil, errJPEGUnsupported
				}
			}
			if !d.qok[c.tq] {
				return nil, errors.New("jpeg: undefined quantisation table")
			}
			bw := c.w / 8
			var blk [64]int32
			for by := 0; by < c.h8/8; by++ {
				for bx := 0; bx < bw; bx++ {
					copy(blk[:], c.coef[(by*bw+bx)*64:])
					idctIslow(&blk, &d.q[c.tq], c.pix[by*8*c.w+bx*8:], c.w)
				}
			}
		}
	}
	for i := range d.comps {
		c := &d.comps[i]
		if d.hmax%c.h != 0 || d.vmax%c.v != 0 {
			return nil, errJPEGUnsupported
		}
	}
	w, h := d.width, d.height
	planes := make([][]uint8, len(d.comps))
	for i := range d.comps {
		c := &d.comps[i]
		tight := make([]uint8, c.cw*c.ch)
		for y := 0; y < c.ch; y++ {
			copy(tight[y*c.cw:(y+1)*c.cw], c.pix[y*c.w:])
		}
		planes[i] = upsample(tight, c.cw, c.ch, d.hmax/c.h, d.vmax/c.v, w, h)
	}
	if len(d.comps) == 1 {
		return &Image{W: w, H: h, C: 1, Pix: planes[0]}, nil
	}
	out := NewImage(w, h, 3)
	if d.isRGB() {
		for i := 0; i < w*h; i++ {
			out.Pix[3*i], out.Pix[3*i+1], out.Pix[3*i+2] = planes[0][i], planes[1][i], planes[2][i]
		}
		return out, nil
	}
	yccToRGB(out.Pix, planes[0], planes[1], planes[2])
	return out, nil
}

// isRGB follows libjpeg's default_decompress_parms for 3 components.
func (d *jpegDec) isRGB() bool {
	switch {
	case d.jfif:
		return false
	case d.adobe:
		return d.adobeTransform == 0
	}
	c0, c1, c2 := d.comps[0].id, d.comps[1].id, d.comps[2].id
	return c0 == 'R' && c1 == 'G' && c2 == 'B'
}

// idctRange is libjpeg's post-IDCT range-limit table indexed by
// (value & 1023): clamps [-512, 511] (centred) to [0, 255] after adding 128.
var idctRange = func() (t [1024]uint8) {
	for i := range t {
		switch {
		case i < 128:
			t[i] = uint8(i + 128)
		case i < 512:
			t[i] = 255
		case i < 896:
			t[i] = 0
		default:
			t[i] = uint8(i - 896)
		}
	}
	return
}()

// Fixed-point constants of jidctint.c (CONST_BITS = 13).
const (
	constBits  = 13
	pass1Bits  = 2
	fix0298631 = 2446
	fix0390181 = 3196
	fix0541196 = 4433
	fix0765367 = 6270
	fix0899976 = 7373
	fix1175876 = 9633
	fix1501321 = 12299
	fix1847759 = 15137
	fix1961571 = 16069
	fix2053120 = 16819
	fix2562915 = 20995
	fix3072711 = 25172
)

func descale(x int64, n uint) int64 { return (x + 1<<(n-1)) >> n }

// idct1D is the even/odd butterfly shared by both passes of jidctint.c on
// inputs in0..in7 (already scaled); it returns the eight sums before
// descaling.
func idct1D(in0, in1, in2, in3, in4, in5, in6, in7 int64) (o [8]int64) {
	z2, z3 := in2, in6
	z1 := (z2 + z3) * fix0541196
	tmp2 := z1 + z3*(-fix1847759)
	tmp3 := z1 + z2*fix0765367
	tmp0 := (in0 + in4) << constBits
	tmp1 := (in0 - in4) << constBits
	tmp10, tmp13 := tmp0+tmp3, tmp0-tmp3
	tmp11, tmp12 := tmp1+tmp2, tmp1-tmp2

	tmp0, tmp1, tmp2, tmp3 = in7, in5, in3, in1
	z1, z2, z3 = tmp0+tmp3, tmp1+tmp2, tmp0+tmp2
	z4 := tmp1 + tmp3
	z5 := (z3 + z4) * fix1175876
	tmp0 *= fix0298631
	tmp1 *= fix2053120
	tmp2 *= fix3072711
	tmp3 *= fix1501321
	z1 *= -fix0899976
	z2 *= -fix2562915
	z3 = z3*(-fix1961571) + z5
	z4 = z4*(-fix0390181) + z5
	tmp0 += z1 + z3
	tmp1 += z2 + z4
	tmp2 += z2 + z3
	tmp3 += z1 + z4
	o[0], o[7] = tmp10+tmp3, tmp10-tmp3
	o[1], o[6] = tmp11+tmp2, tmp11-tmp2
	o[2], o[5] = tmp12+tmp1, tmp12-tmp1
	o[3], o[4] = tmp13+tmp0, tmp13-tmp0
	return o
}

// idctIslow is jpeg_idct_islow: dequantize, column pass (results scaled by
// 2^PASS1_BITS, stored as int), row pass, range-limit, write 8×8 samples.
// Like libjpeg it short-cuts columns and rows whose AC terms are all zero;
// the short cuts give exactly what the full butterflies would.
func idctIslow(blk *[64]int32, q *[64]int32, dst []uint8, stride int) {
	var ws [64]int32
	for c := 0; c < 8; c++ {
		if blk[8+c]|blk[16+c]|blk[24+c]|blk[32+c]|blk[40+c]|blk[48+c]|blk[56+c] == 0 {
			dc := blk[c] * q[c] << pass1Bits
			for r := 0; r < 8; r++ {
				ws[8*r+c] = dc
			}
			continue
		}
		var in [8]int64
		for r := 0; r < 8; r++ {
			in[r] = int64(blk[8*r+c]) * int64(q[8*r+c])
		}
		o := idct1D(in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7])
		for r := 0; r < 8; r++ {
			ws[8*r+c] = int32(descale(o[r], constBits-pass1Bits))
		}
	}
	for r := 0; r < 8; r++ {
		w := ws[8*r : 8*r+8]
		row := dst[r*stride : r*stride+8]
		if w[1]|w[2]|w[3]|w[4]|w[5]|w[6]|w[7] == 0 {
			v := idctRange[int(descale(int64(w[0]), pass1Bits+3))&1023]
			for x := range row {
				row[x] = v
			}
			continue
		}
		o := idct1D(int64(w[0]), int64(w[1]), int64(w[2]), int64(w[3]), int64(w[4]), int64(w[5]), int64(w[6]), int64(w[7]))
		for x := 0; x < 8; x++ {
			row[x] = idctRange[int(descale(o[x], constBits+pass1Bits+3))&1023]
		}
	}
}

// decodeJPEGExact tries the exact decoder; it reports whether the file was
// of a kind it handles.
func decodeJPEGExact(data []byte) (*Image, bool, error) {
	img, err := decodeJPEG(data)
	if errors.Is(err, errJPEGUnsupported) {
		return nil, false, nil
	}
	if err != nil {
		return nil, true, fmt.Errorf("decoding jpeg: %w", err)
	}
	return img, true, nil
}
