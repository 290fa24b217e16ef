package net

import (
	"slices"
	"sync"
)

// arena recycles the large float32 buffers of activations across layers and
// calls. Fresh memory is expensive where it matters: every page of a new
// buffer costs a page fault on first touch (≈10–25 µs in the VMs this runs
// on, i.e. ~0.5 s for VGG-16's 100 MB conv1 output at batch 8 — more than
// the convolution itself), and Go returns freed heap memory to the OS
// between calls. Reusing buffers keeps the pages mapped.
type arena struct {
	mu    sync.Mutex
	free  [][]float32 // sorted by capacity, ascending
	limit int         // the most idle buffers kept (0: maxFree)
}

// maxFree bounds the number of idle buffers kept. With best-fit reuse a
// forward pass holds about four at a time (a layer's input and output and
// the packing scratch of two workers) and creates fewer than 16 in all, so
// repeated calls with the same batch shape allocate nothing new.
const maxFree = 16

// minPooled is the smallest buffer worth recycling (64 KiB).
const minPooled = 16 << 10

// get returns a buffer of length n with unspecified contents: the smallest
// idle one that is large enough, or a new one.
func (a *arena) get(n int) []float32 {
	if n < minPooled {
		return make([]float32, n)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, b := range a.free {
		if cap(b) >= n {
			a.free = slices.Delete(a.free, i, i+1)
			return b[:n]
		}
	}
	return make([]float32, n)
}

// put makes b available again; the caller must not use it afterwards.
// When too many are idle, the smallest is dropped.
func (a *arena) put(b []float32) {
	if cap(b) < minPooled {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	i, _ := slices.BinarySearchFunc(a.free, cap(b), func(x []float32, c int) int { return cap(x) - c })
	a.free = slices.Insert(a.free, i, b[:cap(b)])
	if len(a.free) > max(a.limit, maxFree) {
		a.free = slices.Delete(a.free, 0, 1)
	}
}

// reset drops every idle buffer.
func (a *arena) reset() {
	a.mu.Lock()
	a.free = nil
	a.mu.Unlock()
}

// ReleaseBuffers lets the garbage collector reclaim the activation buffers
// the Net keeps for reuse between calls (about three activations of the
// largest batch run so far: ~300 MB for VGG-16 at 224 px, batch 8).
func (n *Net) ReleaseBuffers() { n.mem.reset() }
