package net

import (
	"fmt"
	"testing"
)

// TestIm2colAtPlaneEnd checks the packed im2col matrix against a direct
// definition for small images whose last plane ends its slice exactly
// (cap = len), where a run lying wholly in the right padding once sliced
// past the end (AlexNet's 5×5 conv2 at 63–70 px).
func TestIm2colAtPlaneEnd(t *testing.T) {
	for _, g := range []struct{ ks, s, pad int }{{5, 1, 2}, {3, 1, 1}, {11, 4, 2}} {
		for h := g.ks; h <= g.ks+9; h++ {
			for _, w := range []int{g.ks, g.ks + 1, g.ks + 6} {
				t.Run(fmt.Sprintf("k%d-s%d-%dx%d", g.ks, g.s, h, w), func(t *testing.T) {
					const in = 2
					l := &convLayer{Conv: Conv{In: in, Kernel: g.ks, Stride: g.s, Pad: g.pad}}
					src := make([]float32, in*h*w)
					for i := range src {
						src[i] = float32(i + 1)
					}
					src = src[:len(src):len(src)]
					oh, ow := outSize(h, g.ks, g.s, g.pad), outSize(w, g.ks, g.s, g.pad)
					cols, k := oh*ow, in*g.ks*g.ks
					npan := (cols + nr - 1) / nr
					dst := make([]float32, npan*k*nr)
					l.im2col(src, h, w, ow, 0, cols)(0, k, dst)
					for kk := range k {
						c, r := kk/(g.ks*g.ks), kk%(g.ks*g.ks)
						ky, kx := r/g.ks, r%g.ks
						for p := range cols {
							iy, ix := (p/ow)*g.s-g.pad+ky, (p%ow)*g.s-g.pad+kx
							want := float32(0)
							if iy >= 0 && iy < h && ix >= 0 && ix < w {
								want = src[c*h*w+iy*w+ix]
							}
							if got := dst[(p/nr)*k*nr+kk*nr+p%nr]; got != want {
								t.Fatalf("row %d pixel %d: %g, want %g", kk, p, got, want)
							}
						}
					}
				})
			}
		}
	}
}
