//go:build !linux

package data

// Pager releases the pages of a memory-mapped file a scan is done with;
// on this system it does nothing (see the Linux version).
type Pager struct{}

// NewPager returns the Pager of the mapping that holds vals.
func NewPager(vals []float32) Pager { return Pager{} }

// Release does nothing on this system.
func (Pager) Release(vals []float32) {}

// FileOffsets locates mapped rows in their file; on this system it cannot,
// and the rows must be read as slices.
func FileOffsets(path string, rows [][]float32) ([]int64, bool) { return nil, false }
