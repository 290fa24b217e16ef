package net

import (
	"os"
)

// The GEMM micro-kernel computes one mr×nr tile of C = A·B from packed
// panels: a holds kc groups of mr values (one column of an mr-row panel of
// A per k), b holds kc groups of nr values (one row of an nr-column panel of
// B per k). This is the innermost loop of every convolution and of the
// lesioning head, so it has assembly versions on amd64: AVX-512 (nr = 48)
// and AVX2/FMA (nr = 24), chosen at start-up from the CPU's features. The
// environment variable SELECTIVITY_NET_KERNEL=avx2|generic forces a
// slower one (for comparisons).
const (
	mr    = 4  // rows of a micro-tile (output channels / features)
	nrMax = 48 // the widest tile of any kernel
)

// Flags of the micro-kernel.
const (
	kAccumulate = 1 // add the tile to C's current values instead of to bias
	kReLU       = 2 // apply max(0, x) before storing
)

type kernelFunc = func(kc int, a, b, c []float32, ldc int, bias []float32, flags int)

type kernelSpec struct {
	fn kernelFunc
	nr int
}

var (
	// kernel is the micro-kernel in use and nr its tile width (pixels /
	// images per tile). Packed B panels are nr wide.
	kernel     kernelFunc
	nr         int
	kernelName string
)

func init() {
	kernel, nr, kernelName = kernelFor()
	switch os.Getenv("SELECTIVITY_NET_KERNEL") {
	case "avx2":
		if k, ok := asmKernels()["avx2"]; ok {
			kernel, nr, kernelName = k.fn, k.nr, "avx2"
		}
	case "generic":
		kernel, nr, kernelName = microGeneric, 24, "generic"
	}
	if nr < nrMax {
		kcMax = 160
	}
}

// Kernel names the GEMM micro-kernel in use ("avx512", "avx2" or
// "generic"), for logs and benchmark reports.
func Kernel() string { return kernelName }

// micro computes C[r][j] = act(init[r][j] + Σ_k a[k*mr+r]·b[k*nr+j]) for the
// mr×nr tile at c (row stride ldc), where init is C itself with kAccumulate
// and bias[r] otherwise, and act is ReLU with kReLU (NaN propagates, as in
// PyTorch). c must hold (mr-1)*ldc+nr values, bias mr values; kc ≥ 1.
func micro(kc int, a, b, c []float32, ldc int, bias []float32, flags int) {
	_ = a[kc*mr-1]
	_ = b[kc*nr-1]
	_ = c[(mr-1)*ldc+nr-1]
	_ = bias[mr-1]
	kernel(kc, a, b, c, ldc, bias, flags)
}

// microGeneric is the portable micro-kernel for the current tile width
// (and the reference the assembly ones are tested against).
func microGeneric(kc int, a, b, c []float32, ldc int, bias []float32, flags int) {
	microN(nr, kc, a, b, c, ldc, bias, flags)
}

// microN is the portable micro-kernel for tile width w ≤ nrMax.
func microN(w, kc int, a, b, c []float32, ldc int, bias []float32, flags int) {
	var acc [mr][nrMax]float32
	for k := 0; k < kc; k++ {
		bk := b[k*w : k*w+w : k*w+w]
		ak := a[k*mr : k*mr+mr : k*mr+mr]
		for r := 0; r < mr; r++ {
			av := ak[r]
			row := acc[r][:w]
			for j := range row {
				row[j] += av * bk[j]
			}
		}
	}
	for r := 0; r < mr; r++ {
		row := c[r*ldc : r*ldc+w : r*ldc+w]
		for j := range row {
			v := acc[r][j]
			if flags&kAccumulate != 0 {
				v += row[j]
			} else {
				v += bias[r]
			}
			if flags&kReLU != 0 && v < 0 {
				v = 0
			}
			row[j] = v
		}
	}
}
