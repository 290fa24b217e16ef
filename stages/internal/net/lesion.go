package net

import (
	"context"
	"fmt"
	"math"
	"slices"
)

// Lesioner evaluates the classifier behind the last convolution (VGG-16:
// conv13 → max pool → adaptive avg pool → flatten → fc6 → fc7 → fc8) for a
// fixed set of images with any set of that convolution's channels lesioned
// (zeroed after the ReLU, for every image).
//
// A zeroed channel stays zero through max and average pooling, so it only
// removes its own slice of fc6's input x: channel k owns x[k·P², (k+1)·P²)
// (P = AvgPool). NewLesioner computes x and fc6's intact pre-activation
// z = W6·x + b6 once; a lesion then subtracts the channel's contribution
// W6[:, slice_k]·x[slice_k] from z (P² = 49 multiply-adds per feature and
// image instead of 25088) and only runs fc7 and fc8. Everything is batched
// over the images with the packed SGEMM, and LogitsSets stacks several
// lesions' rows into one GEMM.
//
// Logits with no channel lesioned are the intact network's logits; compare
// lesioned runs with that (not with Forward's) so that the difference is
// the lesion alone and not float rounding of two code paths (which agree
// to ~1e-6 relative).
type Lesioner struct {
	net  *Net
	n, c int
	p2   int       // AvgPool²: fc6 inputs per channel
	x    []float32 // n × c·p2: fc6's input
	z    []float32 // n × fc6.Out: fc6's intact pre-activation
}

// NewLesioner prepares lesions of the last convolution from its post-ReLU
// activations for n images (n×c×h×w, as Forward delivers the tap).
func (nt *Net) NewLesioner(ctx context.Context, acts []float32, n, c, h, w int) (_ *Lesioner, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = panicError(r)
		}
	}()
	if nt.res != nil {
		return nil, fmt.Errorf("net: NewLesioner: %s is a residual network; lesion it with ForwardFrom", nt.arch.Name)
	}
	lc := nt.convs[len(nt.convs)-1]
	if n < 1 || c != lc.Out || h < 1 || w < 1 || len(acts) != n*c*h*w {
		return nil, fmt.Errorf("net: NewLesioner: activations of %s must be n×%d×h×w, got %d values for %d×%d×%d×%d", lc.Tap, lc.Out, len(acts), n, c, h, w)
	}
	if lc.Pool > 0 {
		ph, pw := outSize(h, lc.Pool, lc.PoolStride, 0), outSize(w, lc.Pool, lc.PoolStride, 0)
		if ph < 1 || pw < 1 {
			return nil, fmt.Errorf("net: NewLesioner: %d×%d activations of %s are too small for its %d×%d max pooling", h, w, lc.Tap, lc.Pool, lc.Pool)
		}
		acts = maxPool(acts, n*c, h, w, lc.Pool, lc.PoolStride)
		h, w = ph, pw
	}
	p := nt.arch.AvgPool
	l := &Lesioner{net: nt, n: n, c: c, p2: p * p}
	l.x = adaptiveAvgPool(acts, n*c, h, w, p) // n × c × p × p = n × (c·p²)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("net: Lesioner: %w", err)
	}
	if l.z, err = linearRows(nil, l.x, n, nt.fc[0], false); err != nil {
		return nil, fmt.Errorf("net: NewLesioner: fc6: %w", err)
	}
	return l, nil
}

// Images is the number of images; Channels the number of channels of the
// lesioned layer.
func (l *Lesioner) Images() int   { return l.n }
func (l *Lesioner) Channels() int { return l.c }

// FC6Input returns fc6's input, n × (Channels·P²) row-major (P = AvgPool):
// image i's channel k is x[i·Channels·P² + k·P² : … + (k+1)·P²]. The slice
// is the Lesioner's own: do not modify it.
func (l *Lesioner) FC6Input() []float32 { return l.x }

// FC6Pre returns fc6's intact pre-activation W6·x + b6, n × fc6.Out. Do
// not modify it.
func (l *Lesioner) FC6Pre() []float32 { return l.z }

// Logits returns the n × classes logits with the given channels lesioned
// (nil or empty: the intact network), written into dst if it has room.
func (l *Lesioner) Logits(ctx context.Context, channels []int, dst []float32) ([]float32, error) {
	return l.LogitsSets(ctx, [][]int{channels}, dst)
}

// LogitsSets returns the logits of len(sets) lesions, set s's n × classes
// block at [s·n·classes, (s+1)·n·classes), written into dst if it has room.
// fc6's lesioned pre-activations of all sets are stacked into one
// (len(sets)·n) × fc6.Out matrix and fc7 and fc8 run once over it, so each
// weight matrix is packed once per call instead of once per set and the
// GEMM runs on a tall matrix. The result is bit for bit that of Logits on
// each set alone: every element of the packed GEMM is a sum over the
// shared dimension in a fixed order (blocks of kBlock(In), then k), which
// does not depend on the number of rows or on the row's place among them.
func (l *Lesioner) LogitsSets(ctx context.Context, sets [][]int, dst []float32) (_ []float32, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = panicError(r)
		}
	}()
	for _, set := range sets {
		for _, k := range set {
			if k < 0 || k >= l.c {
				return nil, fmt.Errorf("net: Lesioner: channel %d out of range [0, %d)", k, l.c)
			}
		}
	}
	fc, mem := l.net.fc, &l.net.mem
	rows := len(sets) * l.n
	z := mem.get(rows * fc[0].Out)
	defer mem.put(z)
	for s, set := range sets {
		zs := z[s*len(l.z) : (s+1)*len(l.z)]
		copy(zs, l.z)
		if len(set) > 0 {
			if err := l.subtract(zs, set); err != nil {
				return nil, fmt.Errorf("net: Lesioner: fc6: %w", err)
			}
		}
	}
	if err := reluParallel(z); err != nil {
		return nil, fmt.Errorf("net: Lesioner: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("net: Lesioner: %w", err)
	}
	h7, err := linearRows(mem, z, rows, fc[1], true)
	if err != nil {
		return nil, fmt.Errorf("net: Lesioner: fc7: %w", err)
	}
	defer mem.put(h7)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("net: Lesioner: %w", err)
	}
	if cap(dst) < rows*fc[2].Out {
		dst = make([]float32, rows*fc[2].Out)
	}
	dst = dst[:rows*fc[2].Out]
	if err := linearRowsInto(mem, dst, h7, rows, fc[2], false); err != nil {
		return nil, fmt.Errorf("net: Lesioner: fc8: %w", err)
	}
	return dst, nil
}

// reluParallel is relu in parallel over chunks of 64 Ki values.
func reluParallel(x []float32) error {
	const chunk = 1 << 16
	return parallelFor((len(x)+chunk-1)/chunk, func(_, i int) { relu(x[i*chunk : min(len(x), (i+1)*chunk)]) })
}

// subtract removes the lesioned channels' contributions from z:
// z[i][o] −= Σ_{k∈channels} Σ_{j<P²} W6[o][k·P²+j]·x[i][k·P²+j], as one
// GEMM over the gathered slices (A = −x slices, B = the matching columns
// of W6ᵀ), accumulated into z.
func (l *Lesioner) subtract(z []float32, channels []int) error {
	fc6 := l.net.fc[0]
	ks := slices.Clone(channels)
	slices.Sort(ks)
	ks = slices.Compact(ks)
	kk := len(ks) * l.p2
	mem := &l.net.mem
	xs := mem.get(l.n * kk)
	defer mem.put(xs)
	for i := 0; i < l.n; i++ {
		row := l.x[i*fc6.In:]
		for j, k := range ks {
			for t, v := range row[k*l.p2 : (k+1)*l.p2] {
				xs[i*kk+j*l.p2+t] = -v
			}
		}
	}
	// Gather W6's columns of the lesioned channels into a contiguous
	// out × kk matrix (one row per output feature).
	ws := mem.get(fc6.Out * kk)
	defer mem.put(ws)
	for o := 0; o < fc6.Out; o++ {
		row := fc6.w[o*fc6.In:]
		for j, k := range ks {
			copy(ws[o*kk+j*l.p2:o*kk+(j+1)*l.p2], row[k*l.p2:(k+1)*l.p2])
		}
	}
	pa, err := packRows(mem, xs, l.n, kk)
	if err != nil {
		return err
	}
	defer pa.free(mem)
	return pa.matmul(mem, z, fc6.Out, false, true, func(c0, cols int) packFunc { return packNK(ws[c0*kk:], kk, cols) })
}

// linearRows computes act(x·Wᵀ + b) for n rows of x (n × l.In) with the
// packed GEMM: A = x (the images), B = Wᵀ packed straight from the torch
// weight, the bias pre-filled and accumulated into. The result and the
// scratch come from mem (nil: fresh memory).
func linearRows(mem *arena, x []float32, n int, l *fcLayer, reluOut bool) ([]float32, error) {
	var y []float32
	if mem != nil {
		y = mem.get(n * l.Out)
	} else {
		y = make([]float32, n*l.Out)
	}
	if err := linearRowsInto(mem, y, x, n, l, reluOut); err != nil {
		if mem != nil {
			mem.put(y)
		}
		return nil, err
	}
	return y, nil
}

// linearRowsInto is linearRows writing into y (n × l.Out values).
func linearRowsInto(mem *arena, y, x []float32, n int, l *fcLayer, reluOut bool) error {
	for i := 0; i < n; i++ {
		copy(y[i*l.Out:(i+1)*l.Out], l.b)
	}
	pa, err := packRows(mem, x, n, l.In)
	if err != nil {
		return err
	}
	err = pa.matmul(mem, y, l.Out, reluOut, true, func(c0, cols int) packFunc { return packNK(l.w[c0*l.In:], l.In, cols) })
	if mem != nil {
		pa.free(mem)
	}
	return err
}

// packRows is packA of n rows of x (n × k) without bias, in parallel over
// groups of panels (the same panels as packA's); mem may be nil.
func packRows(mem *arena, x []float32, n, k int) (*packedA, error) {
	size := packedSize(n, k)
	var data []float32
	if mem != nil {
		data = mem.get(size)
	} else {
		data = make([]float32, size)
	}
	p := &packedA{m: n, k: k, data: data, bias: make([]float32, (n+mr-1)/mr*mr)}
	const group = 8 // panels per item
	np := (n + mr - 1) / mr
	err := parallelFor((np+group-1)/group, func(_, i int) {
		r0, r1 := i*group*mr, min(n, (i+1)*group*mr)
		packAInto(data[r0*k:], x[r0*k:r1*k], r1-r0, k, nil)
	})
	if err != nil && mem != nil {
		p.free(mem)
	}
	return p, err
}

// relu is max(0, x) in place, keeping NaN and −0 as they are (x < 0 ⇒ 0),
// without branches: random signs make a branch mispredict half the time.
func relu(x []float32) {
	for i, v := range x {
		b := math.Float32bits(v)
		mag := b &^ (1 << 31)
		// negative: the sign set on a non-zero magnitude that is not NaN.
		neg := b >> 31 & b2u(mag != 0) & b2u(mag <= 0x7f800000)
		x[i] = math.Float32frombits(b &^ -neg)
	}
}

// b2u is 1 for true, 0 for false.
func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// maxPool is MaxPool2d(k, s) (no padding, floor mode) over planes of h×w.
// NaN propagates, as in PyTorch.
func maxPool(data []float32, planes, h, w, k, s int) []float32 {
	out := make([]float32, planes*outSize(h, k, s, 0)*outSize(w, k, s, 0))
	maxPoolPlanes(out, data, 0, planes, h, w, k, s, 0)
	return out
}

// maxPoolInto is MaxPool2d(k, s, padding pad) into out, in parallel over
// the planes.
func maxPoolInto(out, data []float32, planes, h, w, k, s, pad int) error {
	const chunk = 16
	return parallelFor((planes+chunk-1)/chunk, func(_, i int) {
		maxPoolPlanes(out, data, i*chunk, min(planes, (i+1)*chunk), h, w, k, s, pad)
	})
}

// maxPoolPlanes pools planes [c0, c1). Padding is −∞ (each window is
// clipped to the image), as in PyTorch, where pad ≤ k/2 leaves every window
// at least one pixel.
func maxPoolPlanes(out, data []float32, c0, c1, h, w, k, s, pad int) {
	oh, ow := outSize(h, k, s, pad), outSize(w, k, s, pad)
	if pad > 0 {
		for c := c0; c < c1; c++ {
			maxPoolPadded(out[c*oh*ow:(c+1)*oh*ow], data[c*h*w:(c+1)*h*w], h, w, oh, ow, k, s, pad)
		}
		return
	}
	for c := c0; c < c1; c++ {
		src := data[c*h*w : (c+1)*h*w]
		dst := out[c*oh*ow : (c+1)*oh*ow]
		if k == 2 && s == 2 { // VGG's pooling: one pass over row pairs
			for y := 0; y < oh; y++ {
				r0 := src[2*y*w : 2*y*w+2*ow]
				r1 := src[(2*y+1)*w : (2*y+1)*w+2*ow]
				d := dst[y*ow : y*ow+ow]
				for x := range d {
					d[x] = max4(r0[2*x], r0[2*x+1], r1[2*x], r1[2*x+1])
				}
			}
			continue
		}
		for y := 0; y < oh; y++ {
			for x := 0; x < ow; x++ {
				m := src[y*s*w+x*s]
				for dy := 0; dy < k; dy++ {
					for _, v := range src[(y*s+dy)*w+x*s : (y*s+dy)*w+x*s+k] {
						if v > m || v != v {
							m = v
						}
					}
				}
				dst[y*ow+x] = m
			}
		}
	}
}

// maxPoolPadded pools one h×w plane into oh×ow with padding pad.
func maxPoolPadded(dst, src []float32, h, w, oh, ow, k, s, pad int) {
	for y := 0; y < oh; y++ {
		y0, y1 := max(y*s-pad, 0), min(y*s-pad+k, h)
		for x := 0; x < ow; x++ {
			x0, x1 := max(x*s-pad, 0), min(x*s-pad+k, w)
			m := src[y0*w+x0]
			for yy := y0; yy < y1; yy++ {
				for _, v := range src[yy*w+x0 : yy*w+x1] {
					if v > m || v != v {
						m = v
					}
				}
			}
			dst[y*ow+x] = m
		}
	}
}

// max4 is the maximum of four values, NaN if any is NaN (as PyTorch).
func max4(a, b, c, d float32) float32 {
	m := a
	if b > m || b != b {
		m = b
	}
	if c > m || c != c {
		m = c
	}
	if d > m || d != d {
		m = d
	}
	if a != a {
		return a
	}
	return m
}
