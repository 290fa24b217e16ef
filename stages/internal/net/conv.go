package net

import "fmt"

// convLayer is a convolution with its bias (BatchNorm folded in), ready
// for the packed GEMM: out[o][p] = ReLU(Σ_k W[o][k]·col[k][p] + b[o]) where
// col is the im2col matrix of the input (k = (c, ky, kx), p = output pixel).
// Computing C = W·col directly yields NCHW output with no transpose.
type convLayer struct {
	Conv
	a *packedA
}

// outSize is PyTorch's output size of a convolution or pooling window (0
// when the window does not fit: Go's division truncates towards zero).
func outSize(in, kernel, stride, pad int) int {
	if in+2*pad < kernel {
		return 0
	}
	return (in+2*pad-kernel)/stride + 1
}

// ncPanels is the number of nr-wide panels of output pixels per work
// item: a B block (kc × ncPanels·nr floats) stays in L2 while its
// micro-panels stream through L1.
const ncPanels = 8

// forward computes ReLU(conv(in)) for a batch of n images of in.In×h×w and
// returns the n×Out×oh×ow output, taken from mem. It runs on all workers.
func (l *convLayer) forward(mem *arena, in []float32, n, h, w int) (out []float32, oh, ow int, err error) {
	return l.forwardWith(mem, in, n, h, w, true, nil)
}

// forwardWith computes act(conv(in) + residual): act is ReLU if relu is
// set, residual (n×Out×oh×ow values, a residual block's shortcut) is added
// before it if non-nil.
func (l *convLayer) forwardWith(mem *arena, in []float32, n, h, w int, relu bool, residual []float32) (out []float32, oh, ow int, err error) {
	oh, ow = outSize(h, l.Kernel, l.Stride, l.Pad), outSize(w, l.Kernel, l.Stride, l.Pad)
	if oh < 1 || ow < 1 {
		return nil, 0, 0, fmt.Errorf("%s: input %d×%d is smaller than its %d×%d kernel", l.Tap, h, w, l.Kernel, l.Kernel)
	}
	out = mem.get(n * l.Out * oh * ow)
	if err := l.forwardIntoWith(mem, out, in, n, h, w, relu, residual); err != nil {
		mem.put(out)
		return nil, 0, 0, err
	}
	return out, oh, ow, nil
}

// forwardInto is forward writing into out (n×Out×oh×ow values), with the
// packing scratch from mem.
func (l *convLayer) forwardInto(mem *arena, out, in []float32, n, h, w int) error {
	return l.forwardIntoWith(mem, out, in, n, h, w, true, nil)
}

// forwardIntoWith is forwardWith writing into out. With a residual, each
// work item first sets its block of out to residual + bias and lets the
// GEMM accumulate onto it.
func (l *convLayer) forwardIntoWith(mem *arena, out, in []float32, n, h, w int, relu bool, residual []float32) error {
	oh, ow := outSize(h, l.Kernel, l.Stride, l.Pad), outSize(w, l.Kernel, l.Stride, l.Pad)
	if oh < 1 || ow < 1 {
		return fmt.Errorf("%s: input %d×%d is smaller than its %d×%d kernel", l.Tap, h, w, l.Kernel, l.Kernel)
	}
	if len(in) != n*l.In*h*w {
		return fmt.Errorf("%s: input has %d values, want %d×%d×%d×%d", l.Tap, len(in), n, l.In, h, w)
	}
	if residual != nil && len(residual) != n*l.Out*oh*ow {
		return fmt.Errorf("%s: shortcut has %d values, want %d×%d×%d×%d", l.Tap, len(residual), n, l.Out, oh, ow)
	}
	p := oh * ow
	// Split each image's pixels into blocks; enough blocks in all to keep
	// every worker busy even for a single small image.
	ncMax := ncPanels * nr
	blocks := (p + ncMax - 1) / ncMax
	if want := (2*workers() + n - 1) / n; blocks < want {
		blocks = min(want, (p+nr-1)/nr)
	}
	per := ((p+blocks-1)/blocks + nr - 1) / nr * nr
	blocks = (p + per - 1) / per
	kc := kBlock(l.a.k)
	bufs := make([][]float32, workers())
	err := parallelFor(n*blocks, func(wk, item int) {
		img, b := item/blocks, item%blocks
		p0 := b * per
		cols := min(per, p-p0)
		if bufs[wk] == nil {
			bufs[wk] = mem.get(kc * per)
		}
		src := in[img*l.In*h*w : (img+1)*l.In*h*w]
		pack := l.im2col(src, h, w, ow, p0, cols)
		if residual != nil {
			for o := 0; o < l.Out; o++ {
				i := img*l.Out*p + o*p + p0
				d, r, b := out[i:i+cols], residual[i:i+cols], l.a.bias[o]
				for j := range d {
					d[j] = r[j] + b
				}
			}
		}
		l.a.gemmBlock(out[img*l.Out*p+p0:], p, cols, relu, residual != nil, bufs[wk], pack)
	})
	for _, b := range bufs {
		if b != nil {
			mem.put(b)
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", l.Tap, err)
	}
	return nil
}

// im2col returns the packer of the im2col matrix of one image (C×h×w) for
// the output pixels [p0, p0+cols) of an output ow pixels wide: row k =
// (c, ky, kx) of the matrix holds, for each output pixel (oy, ox), the input
// value at (c, oy·s−pad+ky, ox·s−pad+kx), zero outside the image.
//
// The pixels are split once into runs that stay within one output row and
// one nr-wide panel; each row k of the matrix is then a few copies (stride
// 1) or gathers per run.
func (l *convLayer) im2col(src []float32, h, w, ow, p0, cols int) packFunc {
	ks, s, pad := l.Kernel, l.Stride, l.Pad
	type run struct{ oy, ox, j, n int }
	var runs []run
	oy, ox := p0/ow, p0%ow
	for j := 0; j < cols; {
		n := min(cols-j, ow-ox, nr-j%nr)
		runs = append(runs, run{oy, ox, j, n})
		j += n
		ox += n
		if ox == ow {
			ox, oy = 0, oy+1
		}
	}
	return func(k0, kb int, dst []float32) {
		npan := (cols + nr - 1) / nr
		for kk := 0; kk < kb; kk++ {
			k := k0 + kk
			ch, r := k/(ks*ks), k%(ks*ks)
			ky, kx := r/ks, r%ks
			plane := src[ch*h*w : (ch+1)*h*w]
			for _, rn := range runs {
				d := dst[(rn.j/nr)*kb*nr+kk*nr+rn.j%nr:][:rn.n]
				iy := rn.oy*s - pad + ky
				if iy < 0 || iy >= h {
					clear(d)
					continue
				}
				row := plane[iy*w : (iy+1)*w]
				ix0 := rn.ox*s - pad + kx
				if s == 1 {
					lo := min(max(0, -ix0), rn.n)
					hi := max(min(rn.n, w-ix0), lo)
					clear(d[:lo])
					if hi > lo { // else the run lies wholly in the right padding, where ix0+lo may pass the plane's end
						copy(d[lo:hi], row[ix0+lo:ix0+hi])
					}
					clear(d[hi:])
					continue
				}
				for t := range d {
					if ix := ix0 + t*s; ix >= 0 && ix < w {
						d[t] = row[ix]
					} else {
						d[t] = 0
					}
				}
			}
			if rem := cols % nr; rem != 0 {
				base := (npan-1)*kb*nr + kk*nr
				clear(dst[base+rem : base+nr])
			}
		}
	}
}
