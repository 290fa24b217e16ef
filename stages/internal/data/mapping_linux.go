package data

import (
	"bufio"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

var pageSize = uintptr(os.Getpagesize())

// mapping is one line of /proc/self/maps.
type mapping struct {
	lo, hi uintptr
	offset int64  // file offset of lo
	shared bool   // MAP_SHARED
	file   bool   // backed by a file (inode ≠ 0)
	path   string // the file, "" if none
}

// findMapping returns the mapping of this process that contains addr.
func findMapping(addr uintptr) (mapping, bool) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return mapping{}, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		// lo-hi perms offset dev inode [path]
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		l, h, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		lo, err1 := strconv.ParseUint(l, 16, 64)
		hi, err2 := strconv.ParseUint(h, 16, 64)
		off, err3 := strconv.ParseInt(fields[2], 16, 64)
		if err1 != nil || err2 != nil || err3 != nil || addr < uintptr(lo) || addr >= uintptr(hi) {
			continue
		}
		m := mapping{lo: uintptr(lo), hi: uintptr(hi), offset: off,
			shared: len(fields[1]) == 4 && fields[1][3] == 's', file: fields[4] != "0"}
		if len(fields) > 5 {
			m.path = strings.Join(fields[5:], " ")
		}
		return m, true
	}
	return mapping{}, false
}

// Pager releases the pages of a memory-mapped file that a scan is done
// with, so that the resident set of a scan over a file bigger than memory
// stays bounded by what is being worked on instead of growing to the whole
// file (file pages touched through a mapping count in the process's RSS
// until the kernel reclaims them).
//
// Release uses madvise(MADV_DONTNEED), which on a shared file mapping only
// drops the process's page-table entries: the data stays in the page
// cache and the file, and the next read faults it back in. On private or
// anonymous memory it would discard the contents, so a Pager is made only
// for memory that /proc/self/maps shows inside a shared, file-backed
// mapping; for anything else (a reader that copied the data, another
// system) its Release does nothing.
//
// The kernel may map a whole large folio of the page cache (up to a few
// MiB) when any of its pages is read, so releasing part of a row does not
// bound the resident set of a scan that reads a little of every row; read
// such column blocks with FileOffsets and pread instead.
type Pager struct {
	lo, hi uintptr // the mapping; hi == 0: releases nothing
}

// NewPager returns the Pager of the mapping that holds vals.
func NewPager(vals []float32) Pager {
	if len(vals) == 0 {
		return Pager{}
	}
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(vals)))
	m, ok := findMapping(addr)
	if !ok || !m.shared || !m.file || addr+uintptr(len(vals))*4 > m.hi {
		return Pager{}
	}
	return Pager{lo: m.lo, hi: m.hi}
}

// Release advises the kernel that the pages holding vals are not needed
// for now. The range is widened to whole pages, so neighbouring values may
// be released too; that costs a page fault later, never data. Memory
// outside the Pager's mapping is left alone.
func (p Pager) Release(vals []float32) {
	if p.hi == 0 || len(vals) == 0 {
		return
	}
	ptr := unsafe.Pointer(unsafe.SliceData(vals))
	start := uintptr(ptr)
	end := start + uintptr(len(vals))*4
	if start < p.lo || end > p.hi {
		return
	}
	off := start % pageSize
	n := (end - start + off + pageSize - 1) / pageSize * pageSize
	if start-off+n > p.hi {
		n = p.hi - (start - off)
	}
	b := unsafe.Slice((*byte)(unsafe.Add(ptr, -int(off))), n)
	_ = syscall.Madvise(b, syscall.MADV_DONTNEED) // advice: a failure changes nothing
}

// FileOffsets returns the byte offset in the file path of each of rows —
// slices of path's memory mapping, as arrowfile.ReadMatrixRows hands them
// out — so that parts of them can be read with pread (os.File.ReadAt)
// instead of through the mapping, which keeps the page cache out of the
// process's resident set. ok is false, and the rows must be read as
// slices, unless every row lies in a shared mapping of path (per
// /proc/self/maps) and reading the first and last row back through the
// file gives the same bits.
func FileOffsets(path string, rows [][]float32) (offs []int64, ok bool) {
	if len(rows) == 0 {
		return nil, false
	}
	want, err := filepath.Abs(path)
	if err != nil {
		return nil, false
	}
	if w, err := filepath.EvalSymlinks(want); err == nil {
		want = w
	}
	var m mapping
	offs = make([]int64, len(rows))
	for i, row := range rows {
		if len(row) == 0 {
			return nil, false
		}
		addr := uintptr(unsafe.Pointer(unsafe.SliceData(row)))
		end := addr + uintptr(len(row))*4
		if addr < m.lo || end > m.hi {
			if m, ok = findMapping(addr); !ok || !m.shared || !m.file || m.path != want || end > m.hi {
				return nil, false
			}
		}
		offs[i] = m.offset + int64(addr-m.lo)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	for _, i := range []int{0, len(rows) - 1} {
		row := rows[i]
		n := min(len(row), 1024)
		got := make([]float32, n)
		if _, err := f.ReadAt(Bytes(got), offs[i]+int64(len(row)-n)*4); err != nil {
			return nil, false
		}
		for k, v := range got {
			if math.Float32bits(v) != math.Float32bits(row[len(row)-n+k]) {
				return nil, false
			}
		}
	}
	return offs, true
}
