//go:build amd64 && !purego

package net

import "golang.org/x/sys/cpu"

// kern4x24 and kern4x48 are the AVX2/FMA and AVX-512 micro-kernels
// (kernel_amd64.s); see microGeneric for their contract (nr = 24 or 48).
//
//go:noescape
func kern4x24(kc int, a, b, c *float32, ldc int, bias *float32, flags int)

//go:noescape
func kern4x48(kc int, a, b, c *float32, ldc int, bias *float32, flags int)

var (
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	hasAVX512 = cpu.X86.HasAVX512F
)

// kernelFor returns the fastest micro-kernel for the CPU and its tile width.
func kernelFor() (func(kc int, a, b, c []float32, ldc int, bias []float32, flags int), int, string) {
	switch {
	case hasAVX512:
		return kernAVX512, 48, "avx512"
	case hasAVX2:
		return kernAVX2, 24, "avx2"
	}
	return microGeneric, 24, "generic"
}

func kernAVX2(kc int, a, b, c []float32, ldc int, bias []float32, flags int) {
	kern4x24(kc, &a[0], &b[0], &c[0], ldc, &bias[0], flags)
}

func kernAVX512(kc int, a, b, c []float32, ldc int, bias []float32, flags int) {
	kern4x48(kc, &a[0], &b[0], &c[0], ldc, &bias[0], flags)
}

// asmKernels lists the assembly kernels this CPU can run (for tests).
func asmKernels() map[string]kernelSpec {
	k := map[string]kernelSpec{}
	if hasAVX2 {
		k["avx2"] = kernelSpec{kernAVX2, 24}
	}
	if hasAVX512 {
		k["avx512"] = kernelSpec{kernAVX512, 48}
	}
	return k
}
