//go:build !amd64 || purego

package net

// kernelFor returns the portable micro-kernel where no assembly exists.
func kernelFor() (func(kc int, a, b, c []float32, ldc int, bias []float32, flags int), int, string) {
	return microGeneric, 24, "generic"
}

func asmKernels() map[string]kernelSpec { return nil }
