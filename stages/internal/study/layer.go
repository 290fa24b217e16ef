package study

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"

	"selectivity/cache/arrowfile"
	"selectivity/stages"
	"selectivity/stages/internal/data"
	"selectivity/stages/internal/stats"
)

// Result holds one layer's per-item outputs under one design.
type Result struct {
	layer data.Layer
	shape string // the input's shape metadata
	items int

	fsi, dprime []float64
	wz, wp      []float64
	wsel        []bool
	tmin        []float64   // smallest t over the comparisons
	tp          [][]float64 // per comparison: p, then (after fdr) nil
	tq          [][]float64 // per comparison: FDR-adjusted p
	tsel        []bool

	params *Params
}

func (r *Result) level() string { return r.layer.Level }

// selected reports whether metric m selects item i.
func (r *Result) selected(m string, i int) bool {
	p := r.params
	switch m {
	case "fsi":
		return r.fsi[i] > p.FSIThreshold
	case "dprime":
		return r.dprime[i] > p.DPrimeThreshold
	case "wilcoxon":
		return r.wsel[i]
	case "ttest":
		return r.tsel[i]
	}
	return false
}

// selectedCount counts the items metric m selects.
func (r *Result) selectedCount(m string) int {
	n := 0
	for i := range r.items {
		if r.selected(m, i) {
			n++
		}
	}
	return n
}

// readThroughMapping makes runLayer read column blocks through the
// memory mapping even where it could use pread (tests measure the
// difference).
var readThroughMapping = false

// computeViews computes the metrics of every item of layer l under each
// view, streaming chunks of items from the file once for all of them: a
// chunk is loaded in the base design's order, and each view's worker reads
// its responses from there. scratch is the chunk buffer, reused across
// layers (and grown if needed) so that its pages are faulted in once.
func computeViews(ctx context.Context, job *stages.Job, l data.Layer, base *design, views []*View, nImages int, p *Params, scratch *[]float64) ([]*Result, error) {
	r, done, err := openPlain(job, l.Path)
	if err != nil {
		return nil, err
	}
	defer done()
	items, err := arrowfile.MatrixCols(r)
	if err != nil {
		return nil, err
	}
	if r.NumRows() != int64(nImages) {
		return nil, fmt.Errorf("%s has %d rows but %s lists %d images", l.Path, r.NumRows(), data.ImagesFile, nImages)
	}
	shape, _ := arrowfile.Meta(r.Schema(), arrowfile.ShapeKey)
	if l.Level == "kernel" && l.Aggregation == "" {
		return nil, fmt.Errorf("%s: kernel-level file without %q metadata", l.Path, data.AggregationKey)
	}
	src, err := newRowSource(r, base.order)
	if err != nil {
		return nil, err
	}
	defer src.close()

	res := make([]*Result, len(views))
	for v, view := range views {
		res[v] = newResult(l, shape, items, view.d, p)
	}
	m := len(base.order)
	K := chunkItems(p, m, items)
	if cap(*scratch) < K*m {
		*scratch = make([]float64, K*m)
	}
	buf := (*scratch)[:K*m]
	ws := make([]*worker, workers())
	for i := range ws {
		ws[i] = &worker{p: p}
	}
	bar := job.Progress.Bar("metric "+l.Name, "items", int64(items)*int64(len(views)))
	defer bar.Done()
	for i0 := 0; i0 < items; i0 += K {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		k := min(K, items-i0)
		if err := loadChunk(ws, buf[:k*m], src, i0, k); err != nil {
			return nil, err
		}
		computeChunk(ws, views, res, buf[:k*m], m, k, i0, bar)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, r := range res {
		r.finish(p)
	}
	return res, nil
}

// openPlain opens the layer file path; done closes it. A compressed file
// (extract's default) cannot give a chunk its column blocks without
// decompressing every batch, once per chunk, so it is first decompressed,
// a batch at a time, into a hidden file among job's outputs, which is read
// instead and removed by done: the cost is one pass and, for the time of
// the layer, its uncompressed size on disk.
func openPlain(job *stages.Job, path string) (r *arrowfile.Reader, done func(), err error) {
	if r, err = arrowfile.Open(path); err != nil {
		return nil, nil, err
	}
	if !r.Compressed() {
		return r, func() { r.Close() }, nil
	}
	defer r.Close()
	cp := job.Output("." + filepath.Base(path) + ".plain")
	if err := arrowfile.Decompress(cp, r); err != nil {
		return nil, nil, err
	}
	pr, err := arrowfile.Open(cp)
	if err != nil {
		os.Remove(cp)
		return nil, nil, err
	}
	return pr, func() { pr.Close(); os.Remove(cp) }, nil
}

// rowSource reads column blocks of the image rows in the design's order.
//
// Rows are read with pread from the file when data.FileOffsets can
// place them, so that the page cache stays out of the process's resident
// set: reading a little of every row through the mapping would map most of
// the file (the kernel maps whole large folios), and the resident set of a
// unit-level layer would grow to the file's size, if only in reclaimable
// page cache. Otherwise the rows are copied out of the mapping.
type rowSource struct {
	rows [][]float32 // scratch position → mapped row
	f    *os.File    // nil: copy from rows
	off  []int64     // scratch position → file offset of the row
}

func newRowSource(r *arrowfile.Reader, order []int) (*rowSource, error) {
	s := &rowSource{}
	rows := make([][]float32, 0, r.NumRows())
	if err := arrowfile.ReadMatrixRows(r, func(_ int, vals []float32) error {
		rows = append(rows, vals)
		return nil
	}); err != nil {
		return nil, err
	}
	s.rows = make([][]float32, len(order))
	for j, row := range order {
		s.rows[j] = rows[row]
	}
	if readThroughMapping {
		return s, nil
	}
	offs, ok := data.FileOffsets(r.Path(), s.rows)
	if !ok {
		return s, nil
	}
	f, err := os.Open(r.Path())
	if err != nil {
		return nil, err
	}
	s.f, s.off = f, offs
	return s, nil
}

// read reads items [i0, i0+len(dst)) of the row at scratch position j.
func (s *rowSource) read(dst []float32, j, i0 int) error {
	if s.f == nil {
		copy(dst, s.rows[j][i0:])
		return nil
	}
	if _, err := s.f.ReadAt(data.Bytes(dst), s.off[j]+int64(i0)*4); err != nil {
		return fmt.Errorf("read %s: %w", s.f.Name(), err)
	}
	return nil
}

func (s *rowSource) close() {
	if s.f != nil {
		s.f.Close()
	}
}

// newResult allocates the outputs of the requested metrics.
func newResult(l data.Layer, shape string, items int, d *design, p *Params) *Result {
	res := &Result{layer: l, shape: shape, items: items, params: p}
	f := func() []float64 { return make([]float64, items) }
	if p.has("fsi") {
		res.fsi = f()
	}
	if p.has("dprime") {
		res.dprime = f()
	}
	if p.has("wilcoxon") {
		res.wz, res.wp, res.wsel = f(), f(), make([]bool, items)
	}
	if p.has("ttest") {
		res.tmin = f()
		res.tp = make([][]float64, len(d.tgroup))
		for g := range res.tp {
			res.tp[g] = f()
		}
	}
	return res
}

// finish applies the FDR correction of each t-test comparison across the
// whole layer and decides the t-test selection.
func (r *Result) finish(p *Params) {
	if r.tmin == nil {
		return
	}
	method := stats.BH
	if p.FDR == "by" {
		method = stats.BY
	}
	r.tsel = make([]bool, r.items)
	for i, t := range r.tmin {
		r.tsel[i] = t > 0
	}
	r.tq = make([][]float64, len(r.tp))
	for g, pv := range r.tp {
		q, reject := stats.FDR(pv, p.Q, method)
		r.tq[g] = q
		for i, ok := range reject {
			r.tsel[i] = r.tsel[i] && ok
		}
		r.tp[g] = nil // the p-values are no longer needed
	}
}

// tileRows is how many rows a worker loads and transposes at once: eight
// float64 fill a cache line of an item's scratch.
const tileRows = 8

// loadChunk fills scratch (item-major, len k·m) with items [i0, i0+k) of
// every row: workers take tiles of eight rows, read the tile's column
// blocks into their buffer and transpose them into scratch.
func loadChunk(ws []*worker, scratch []float64, src *rowSource, i0, k int) error {
	m := len(src.rows)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, len(ws))
	for wi, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if cap(w.tile) < tileRows*k {
				w.tile = make([]float32, tileRows*k)
			}
			for {
				j0 := int(next.Add(tileRows) - tileRows)
				if j0 >= m {
					return
				}
				j1 := min(j0+tileRows, m)
				for j := j0; j < j1; j++ {
					if err := src.read(w.tile[(j-j0)*k:(j-j0+1)*k], j, i0); err != nil {
						errs[wi] = err
						return
					}
				}
				transpose(scratch, w.tile[:(j1-j0)*k], m, k, j0, j1)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// transpose writes tile — rows j0…j1−1, k values each, row-major — into
// the item-major scratch: scratch[kk·m+j] = tile[(j−j0)·k+kk].
func transpose(scratch []float64, tile []float32, m, k, j0, j1 int) {
	if j1-j0 == tileRows {
		r0, r1, r2, r3 := tile[0:k], tile[k:2*k], tile[2*k:3*k], tile[3*k:4*k]
		r4, r5, r6, r7 := tile[4*k:5*k], tile[5*k:6*k], tile[6*k:7*k], tile[7*k:8*k]
		for kk := range r0 {
			d := scratch[kk*m+j0 : kk*m+j0+tileRows : kk*m+j0+tileRows]
			d[0], d[1], d[2], d[3] = float64(r0[kk]), float64(r1[kk]), float64(r2[kk]), float64(r3[kk])
			d[4], d[5], d[6], d[7] = float64(r4[kk]), float64(r5[kk]), float64(r6[kk]), float64(r7[kk])
		}
		return
	}
	for j := j0; j < j1; j++ {
		for kk, v := range tile[(j-j0)*k : (j-j0+1)*k] {
			scratch[kk*m+j] = float64(v)
		}
	}
}

// blockItems is how many items a worker takes at a time.
const blockItems = 64

// computeChunk computes the metrics of the k items in scratch (item-major,
// m values each), items i0… of the layer, under every view into its
// result; workers take blocks of items, compute each item under all views
// while its responses are in cache, and count them on bar.
func computeChunk(ws []*worker, views []*View, res []*Result, scratch []float64, m, k, i0 int, bar stages.Bar) {
	// With several views, the Mann–Whitney and rank-sum tests sort each
	// item's responses once and pick every view's P and N from the order.
	test := ws[0].p.WilcoxonTest
	presort := len(views) > 1 && res[0].wz != nil && (test == "mannwhitneyu" || test == "ranksums")
	var next atomic.Int64
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				b0 := int(next.Add(blockItems) - blockItems)
				if b0 >= k {
					return
				}
				b1 := min(b0+blockItems, k)
				for kk := b0; kk < b1; kk++ {
					x := scratch[kk*m : (kk+1)*m]
					w.sorted = false
					if presort {
						w.sv, w.si, w.sorted = w.s.SortedOrder(x)
					}
					for v, view := range views {
						w.item(view, res[v], i0+kk, x)
					}
				}
				bar.Add(int64(b1-b0) * int64(len(views)))
			}
		}()
	}
	wg.Wait()
}

// worker loads and computes items; it owns its buffers.
type worker struct {
	p    *Params
	s    stats.Scratch
	cats [][]float64
	x    []float64 // a view's responses, gathered from the chunk
	tile []float32 // tileRows column blocks
	// The item's responses sorted (stats.Scratch.SortedOrder), when
	// sorted, and a view's P and N picked from them.
	sv     []float64
	si     []int32
	sorted bool
	sp, sn []float64
}

// item computes the metrics of item i under view v from x, its responses
// in the base design's order.
func (w *worker) item(v *View, res *Result, i int, x []float64) {
	d, p := v.d, w.p
	if v.pick != nil {
		w.x = slices.Grow(w.x[:0], len(v.pick))[:len(v.pick)]
		for j, pos := range v.pick {
			w.x[j] = x[pos]
		}
		x = w.x
	}
	if cap(w.cats) < len(d.cats) {
		w.cats = make([][]float64, len(d.cats))
	}
	w.cats = w.cats[:len(d.cats)]
	pp, nn := x[:d.nP], x[d.nP:]
	if res.fsi != nil {
		res.fsi[i] = stats.FSI(pp, nn)
	}
	if res.dprime != nil {
		res.dprime[i] = stats.DPrime(pp, nn, p.DDof)
	}
	if res.wz != nil {
		var z, pv float64
		sel := false
		switch {
		case w.sorted && v.role != nil:
			w.pick(v.role)
			if p.WilcoxonTest == "ranksums" {
				z, pv = stats.RankSumsSorted(w.sp, w.sn)
			} else {
				_, z, pv = stats.MannWhitneyGreaterSorted(w.sp, w.sn)
			}
			sel = pv < p.Alpha
		case p.WilcoxonTest == "ranksums":
			z, pv = w.s.RankSums(pp, nn)
			sel = pv < p.Alpha
		case p.WilcoxonTest == "per_category":
			for c, g := range d.cats {
				w.cats[c] = x[g.lo:g.hi]
			}
			var highest bool
			pv, highest = w.s.PerCategory(pp, w.cats)
			sel = pv < p.Alpha && highest
			z = math.Inf(1)
			for _, c := range w.cats {
				_, zc, _ := w.s.MannWhitneyGreater(pp, c)
				z = nanMin(z, zc)
			}
		default:
			_, z, pv = w.s.MannWhitneyGreater(pp, nn)
			sel = pv < p.Alpha
		}
		res.wz[i], res.wp[i], res.wsel[i] = z, pv, sel
	}
	if res.tmin != nil {
		t := math.Inf(1)
		for g, gr := range d.tgroup {
			tg, pg := stats.TTest(pp, x[gr.lo:gr.hi], p.TTest == "welch")
			t = nanMin(t, tg)
			res.tp[g][i] = pg
		}
		res.tmin[i] = t
	}
}

// pick fills sp and sn with the responses of a view's P and N (role), in
// ascending order, from the item's sorted responses. It writes every value
// to both and advances the one it belongs to (inP = 1, inN = 2): roles in
// random order would defeat a branch.
func (w *worker) pick(role []int8) {
	n := len(w.si)
	if cap(w.sp) < n+1 {
		w.sp, w.sn = make([]float64, n+1), make([]float64, n+1)
	}
	sp, sn := w.sp[:n+1], w.sn[:n+1]
	np, nn := 0, 0
	for k, pos := range w.si {
		r, v := role[pos], w.sv[k]
		sp[np], sn[nn] = v, v
		np += int(r & inP)
		nn += int(r >> 1)
	}
	w.sp, w.sn = sp[:np], sn[:nn]
}

// nanMin is the smaller of a and b, NaN if either is.
func nanMin(a, b float64) float64 {
	if a != a || b != b {
		return math.NaN()
	}
	return math.Min(a, b)
}
