package net

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// packedA is a matrix A (m×k, row-major: a torch conv weight flattened to
// out×(in·kh·kw), or a linear weight out×in) stored as ceil(m/mr) panels of
// mr rows, each panel k groups of mr values, zero-padded to whole panels.
// Packing once at load time lets every multiplication stream A panels
// straight into the micro-kernel.
type packedA struct {
	m, k int
	data []float32 // panels × k × mr
	bias []float32 // panels × mr (zero-padded)
}

func (p *packedA) panels() int { return (p.m + mr - 1) / mr }

// newPackedA packs w (m×k row-major) and bias (m values, or nil for zero).
func newPackedA(w []float32, m, k int, bias []float32) *packedA {
	return packA(nil, w, m, k, bias)
}

// packA is newPackedA with the panel storage taken from mem (nil: a new
// slice); give it back with p.free(mem).
func packA(mem *arena, w []float32, m, k int, bias []float32) *packedA {
	n := packedSize(m, k)
	if mem != nil {
		return packAInto(mem.get(n), w, m, k, bias)
	}
	return packAInto(make([]float32, n), w, m, k, bias)
}

// packedSize is the length of the panel storage of an m×k matrix.
func packedSize(m, k int) int { return (m + mr - 1) / mr * k * mr }

// packAInto is packA with the panel storage data (packedSize(m, k) values).
func packAInto(data, w []float32, m, k int, bias []float32) *packedA {
	np := (m + mr - 1) / mr
	p := &packedA{m: m, k: k, bias: make([]float32, np*mr), data: data}
	for ip := 0; ip < np; ip++ {
		panel := p.data[ip*k*mr : (ip+1)*k*mr]
		for r := 0; r < mr; r++ {
			i := ip*mr + r
			if i >= m {
				for kk := 0; kk < k; kk++ {
					panel[kk*mr+r] = 0
				}
				continue
			}
			for kk, v := range w[i*k : i*k+k] {
				panel[kk*mr+r] = v
			}
		}
	}
	copy(p.bias, bias)
	return p
}

// free returns the panel storage to mem.
func (p *packedA) free(mem *arena) {
	mem.put(p.data)
	p.data = nil
}

// kBlock splits the shared dimension into nearly equal blocks of at most
// about kcMax so that one B micro-panel (kc×nr floats) stays in L1 while
// all A panels of the block (m×kc) stay in L2. kcMax is set with the
// kernel (kernel.go): measured best on Zen 5, 256 for nr = 48 and 160 for
// nr = 24.
var kcMax = 256

func kBlock(k int) int {
	if k <= kcMax+kcMax/2 {
		return max(k, 1)
	}
	nb := (k + kcMax - 1) / kcMax
	return (k + nb - 1) / nb
}

// packFunc fills dst with the B block rows [k0, k0+kb) × columns of the
// current column block, as ceil(cols/nr) panels of kb×nr values, zero-padded
// beyond the last column.
type packFunc func(k0, kb int, dst []float32)

// gemmBlock computes the columns [0, cols) of C (rows 0…m-1, element (i, j)
// at c[i*ldc+j]) as act(A·B + init), B supplied block-wise by pack; init is
// A's bias (per row), or C's current values when accumulate is set (a
// caller's per-column bias, say). buf must hold
// kBlock(A.k)*ceil(cols/nr)*nr values; A.k ≥ 1.
func (p *packedA) gemmBlock(c []float32, ldc, cols int, relu, accumulate bool, buf []float32, pack packFunc) {
	kc := kBlock(p.k)
	npan := (cols + nr - 1) / nr
	mpan := p.panels()
	var t [mr * nrMax]float32 // edge tiles (one per call: it escapes to the heap)
	for k0 := 0; k0 < p.k; k0 += kc {
		kb := min(kc, p.k-k0)
		pack(k0, kb, buf[:npan*kb*nr])
		flags := 0
		if k0 > 0 || accumulate {
			flags |= kAccumulate
		}
		if k0+kb >= p.k && relu {
			flags |= kReLU
		}
		for jp := 0; jp < npan; jp++ {
			bp := buf[jp*kb*nr : (jp+1)*kb*nr]
			j0 := jp * nr
			w := min(nr, cols-j0)
			for ip := 0; ip < mpan; ip++ {
				i0 := ip * mr
				h := min(mr, p.m-i0)
				ap := p.data[ip*p.k*mr+k0*mr:]
				bias := p.bias[i0 : i0+mr]
				if h == mr && w == nr {
					micro(kb, ap, bp, c[i0*ldc+j0:], ldc, bias, flags)
					continue
				}
				// Edge tile: compute into a scratch tile and copy the valid part.
				if flags&kAccumulate != 0 {
					for r := 0; r < h; r++ {
						copy(t[r*nr:r*nr+w], c[(i0+r)*ldc+j0:])
					}
				}
				micro(kb, ap, bp, t[:], nr, bias, flags)
				for r := 0; r < h; r++ {
					copy(c[(i0+r)*ldc+j0:(i0+r)*ldc+j0+w], t[r*nr:r*nr+w])
				}
			}
		}
	}
}

// workers is the number of goroutines the compute kernels use.
func workers() int { return max(1, runtime.GOMAXPROCS(0)) }

// parallelFor runs fn(worker, item) for item = 0…n-1 on up to workers()
// goroutines; worker identifies the goroutine (for per-worker scratch).
// A panic in fn is recovered and returned as the error of the call.
func parallelFor(n int, fn func(worker, item int)) (err error) {
	nw := min(workers(), n)
	if nw <= 0 {
		return nil
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	for w := 0; w < nw; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					mu.Lock()
					if err == nil {
						err = panicError(r)
					}
					mu.Unlock()
					next.Store(int64(n)) // stop the others early
				}
			}()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(w, i)
			}
		}(w)
	}
	wg.Wait()
	return err
}

// packNK returns a packFunc for B = Xᵀ where X is row-major cols×k (one row
// per column of B, e.g. one row per image of a linear layer's input).
func packNK(x []float32, k, cols int) packFunc {
	return func(k0, kb int, dst []float32) {
		npan := (cols + nr - 1) / nr
		for jp := 0; jp < npan; jp++ {
			panel := dst[jp*kb*nr : (jp+1)*kb*nr]
			for j := 0; j < nr; j++ {
				col := jp*nr + j
				if col >= cols {
					for kk := 0; kk < kb; kk++ {
						panel[kk*nr+j] = 0
					}
					continue
				}
				row := x[col*k+k0 : col*k+k0+kb]
				for kk, v := range row {
					panel[kk*nr+j] = v
				}
			}
		}
	}
}

// packKN returns a packFunc for B stored row-major k×ld, using the columns
// [c0, c0+cols).
func packKN(b []float32, ld, c0, cols int) packFunc {
	return func(k0, kb int, dst []float32) {
		npan := (cols + nr - 1) / nr
		for jp := 0; jp < npan; jp++ {
			panel := dst[jp*kb*nr : (jp+1)*kb*nr]
			j0 := jp * nr
			w := min(nr, cols-j0)
			for kk := 0; kk < kb; kk++ {
				src := b[(k0+kk)*ld+c0+j0:]
				d := panel[kk*nr : kk*nr+nr]
				copy(d[:w], src[:w])
				clear(d[w:])
			}
		}
	}
}

// matmul computes out (m×cols, row-major) = act(A·B + init) as gemmBlock
// does, src(c0, n) giving the packer of B's columns [c0, c0+n). It splits
// the columns into blocks and runs them in parallel.
func (p *packedA) matmul(mem *arena, out []float32, cols int, relu, accumulate bool, src func(c0, n int) packFunc) error {
	ncMax := ncPanels * nr
	nb := (cols + ncMax - 1) / ncMax
	// Enough blocks to keep every worker busy when cols is small.
	if nb < workers() && cols > nr {
		nb = min(workers(), (cols+nr-1)/nr)
	}
	if nb == 0 {
		return nil
	}
	per := ((cols+nb-1)/nb + nr - 1) / nr * nr
	nb = (cols + per - 1) / per
	kc := kBlock(p.k)
	if mem == nil {
		mem = &arena{}
	}
	bufs := make([][]float32, workers())
	err := parallelFor(nb, func(w, i int) {
		c0 := i * per
		n := min(per, cols-c0)
		if bufs[w] == nil {
			bufs[w] = mem.get(kc * per)
		}
		p.gemmBlock(out[c0:], cols, n, relu, accumulate, bufs[w], src(c0, n))
	})
	for _, b := range bufs {
		if b != nil {
			mem.put(b)
		}
	}
	return err
}
