// Package arrowfile reads and writes Apache Arrow IPC files (the random
// access "file" format, .arrow, readable by pyarrow.ipc.open_file), the
// format stage outputs are cached in.
//
// Files are read through a read-only memory map, so record batches point
// straight into the page cache: opening a multi-GB activation matrix costs
// neither a copy nor the memory to hold one. The price is that arrays from a
// Reader are valid only until Reader.Close, must never be written to (the
// pages are mapped read-only, and a write kills the process), and the file
// must not be truncated while mapped. Cache entries are immutable once
// committed, which is what makes this safe.
//
// A writer may compress the record batches' bodies (Arrow IPC body
// compression, LZ4 frame or ZSTD, which pyarrow and Arrow JS read). A
// compressed file is still mapped, but each Record call decompresses its
// batch into memory of its own, which the garbage collector reclaims once
// the record and its slices are no longer referenced: a scan that drops a
// batch before taking the next holds one batch, not the file. Open then
// takes row counts from the batches' metadata and leaves the check of each
// batch's layout to Record, so that opening costs no decompression.
package arrowfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"golang.org/x/sys/unix"
)

// Writer writes one Arrow IPC file.
type Writer struct {
	path   string
	f      *os.File
	bw     *bufio.Writer
	w      *ipc.FileWriter
	schema *arrow.Schema
	closed bool
}

// Compression is the body compression of a file's record batches.
type Compression string

const (
	Uncompressed Compression = ""
	LZ4          Compression = "lz4"  // LZ4 frame
	ZSTD         Compression = "zstd" // Zstandard at its default level
)

// Create creates (or truncates) the Arrow file path for records of schema.
// Nothing is readable until Close writes the footer.
func Create(path string, schema *arrow.Schema) (*Writer, error) {
	return CreateCompressed(path, schema, Uncompressed)
}

// CreateCompressed is Create with the record batches' bodies compressed
// by c. Each buffer is compressed on its own, by one goroutine, so the
// bytes depend only on the data.
func CreateCompressed(path string, schema *arrow.Schema, c Compression) (*Writer, error) {
	opts := []ipc.Option{ipc.WithSchema(schema), ipc.WithAllocator(memory.DefaultAllocator)}
	switch c {
	case Uncompressed:
	case LZ4:
		opts = append(opts, ipc.WithLZ4())
	case ZSTD:
		opts = append(opts, ipc.WithZstd())
	default:
		return nil, fmt.Errorf("arrowfile: create %s: unknown compression %q", path, c)
	}
	if schema == nil {
		return nil, fmt.Errorf("arrowfile: create %s: nil schema", path)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("arrowfile: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w, err := ipc.NewFileWriter(bw, opts...)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("arrowfile: create %s: %w", path, err)
	}
	return &Writer{path: path, f: f, bw: bw, w: w, schema: schema}, nil
}

// Path returns the file's path.
func (w *Writer) Path() string { return w.path }

// Write appends one record batch, whose schema must equal the file's.
func (w *Writer) Write(rec arrow.RecordBatch) error {
	if w.closed {
		return fmt.Errorf("arrowfile: write %s: writer closed", w.path)
	}
	if rec == nil || !rec.Schema().Equal(w.schema) {
		return fmt.Errorf("arrowfile: write %s: record schema differs from the file's", w.path)
	}
	if err := w.w.Write(rec); err != nil {
		return fmt.Errorf("arrowfile: write %s: %w", w.path, err)
	}
	return nil
}

// Close writes the footer, then flushes, fsyncs and closes the file. A file
// is a valid Arrow file only once Close has returned nil.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	err := w.w.Close()
	if err == nil {
		err = w.bw.Flush()
	}
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("arrowfile: close %s: %w", w.path, err)
	}
	return nil
}

// Abort closes the file without finishing it and removes it; use it on
// error paths instead of Close. After Close it does nothing.
func (w *Writer) Abort() error {
	if w.closed {
		return nil
	}
	w.closed = true
	w.f.Close()
	if err := os.Remove(w.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("arrowfile: abort %s: %w", w.path, err)
	}
	return nil
}

// WriteTable writes a file holding one record batch made of cols, which
// must match schema's fields in number and type and have equal lengths.
func WriteTable(path string, schema *arrow.Schema, cols ...arrow.Array) error {
	if schema == nil {
		return fmt.Errorf("arrowfile: write %s: nil schema", path)
	}
	if len(cols) != schema.NumFields() {
		return fmt.Errorf("arrowfile: write %s: %d columns for %d fields", path, len(cols), schema.NumFields())
	}
	rows := 0
	for i, c := range cols {
		f := schema.Field(i)
		if c == nil || !arrow.TypeEqual(c.DataType(), f.Type) {
			return fmt.Errorf("arrowfile: write %s: column %d (%s) is not of type %s", path, i, f.Name, f.Type)
		}
		if i == 0 {
			rows = c.Len()
		} else if c.Len() != rows {
			return fmt.Errorf("arrowfile: write %s: column %d (%s) has %d rows, column 0 has %d", path, i, f.Name, c.Len(), rows)
		}
	}
	w, err := Create(path, schema)
	if err != nil {
		return err
	}
	rec := array.NewRecordBatch(schema, cols, int64(rows))
	defer rec.Release()
	if err := w.Write(rec); err != nil {
		w.Abort()
		return err
	}
	return w.Close()
}

// Decompress writes the records of r, a compressed file, to the new
// uncompressed file path, one record in memory at a time, so that readers
// that need the mapping's zero-copy layout (column blocks read with pread)
// can have it.
func Decompress(path string, r *Reader) error {
	w, err := Create(path, r.Schema())
	if err != nil {
		return err
	}
	for i := range r.NumRecords() {
		rec, err := r.Record(i)
		if err == nil {
			err = w.Write(rec)
			rec.Release()
		}
		if err != nil {
			w.Abort()
			return err
		}
	}
	return w.Close()
}

// Reader is an open, memory-mapped Arrow file. Its methods may be called
// from several goroutines at once, but not concurrently with Close.
type Reader struct {
	path   string
	data   []byte // the file's contents: the mapping
	mapped bool   // whether data is a mapping (only tests read from memory)
	r      *ipc.FileReader
	schema *arrow.Schema
	rows   int64
	nrecs  int
	compr  bool    // compressed bodies: Record decompresses
	starts []int64 // the first row of each record batch
}

// Open maps the Arrow file path and checks its footer, schema and every
// record batch's layout (an O(1) check per array, not a scan of the data).
// A truncated, corrupted or non-Arrow file gives an error naming the file.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("arrowfile: %w", err)
	}
	defer f.Close() // the mapping outlives the descriptor
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("arrowfile: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("arrowfile: open %s: not a regular file", path)
	}
	size := info.Size()
	if size == 0 {
		return nil, fmt.Errorf("arrowfile: open %s: empty file, not an Arrow file", path)
	}
	if int64(int(size)) != size {
		return nil, fmt.Errorf("arrowfile: open %s: too big to map (%d bytes)", path, size)
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("arrowfile: mmap %s: %w", path, err)
	}
	return newReader(path, data, true)
}

// newReader makes a Reader over data, the contents of the file path, which
// Close unmaps if mapped.
func newReader(path string, data []byte, mapped bool) (*Reader, error) {
	r := &Reader{path: path, data: data, mapped: mapped}
	if err := r.init(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// init opens the IPC reader over the mapping and checks every batch.
func (r *Reader) init() (err error) {
	defer r.recoverInto(&err, "open")
	lay, err := verifyFile(r.data)
	if err != nil {
		return fmt.Errorf("arrowfile: open %s: not a valid Arrow file: %w", r.path, err)
	}
	opts := []ipc.Option{
		// Byte swapping would write into the read-only mapping, so files
		// of the other endianness are refused rather than converted.
		ipc.WithEnsureNativeEndian(false),
		ipc.WithAllocator(memory.DefaultAllocator),
		// Block bodies are checked against the file's size, which is
		// bound enough: no further limit on batch size.
		ipc.WithBodySizeLimit(0),
	}
	if lay.dictionaries {
		// arrow-go's mapped reader cannot decode dictionaries (it writes
		// into a nil map), so such files are read through ReadAt, which
		// copies each batch out of the mapping.
		r.r, err = ipc.NewFileReader(bytes.NewReader(r.data), opts...)
	} else {
		r.r, err = ipc.NewMappedFileReader(r.data, opts...)
	}
	if err != nil {
		return fmt.Errorf("arrowfile: open %s: not a valid Arrow file: %w", r.path, err)
	}
	if !r.r.Schema().IsNativeEndian() {
		return fmt.Errorf("arrowfile: open %s: non-native byte order is not supported", r.path)
	}
	r.schema = r.r.Schema()
	r.nrecs = r.r.NumRecords()
	if lay.compressed {
		r.compr = true
		if len(lay.rows) != r.nrecs {
			return fmt.Errorf("arrowfile: open %s: %d record batches, %d blocks", r.path, r.nrecs, len(lay.rows))
		}
		for i, n := range lay.rows {
			if n < 0 {
				return fmt.Errorf("arrowfile: open %s: record %d: bad block", r.path, i)
			}
			r.starts = append(r.starts, r.rows)
			r.rows += n
		}
		return nil
	}
	for i := 0; i < r.nrecs; i++ {
		rec, err := r.Record(i)
		if err != nil {
			return err
		}
		r.starts = append(r.starts, r.rows)
		r.rows += rec.NumRows()
		rec.Release()
	}
	return nil
}

// recoverInto turns a panic inside arrow (it panics on some malformed
// inputs) into an error naming the file.
func (r *Reader) recoverInto(err *error, op string) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("arrowfile: %s %s: malformed Arrow file: %v", op, r.path, p)
	}
}

// Path returns the file's path.
func (r *Reader) Path() string { return r.path }

// Schema returns the file's schema, metadata included.
func (r *Reader) Schema() *arrow.Schema { return r.schema }

// NumRecords returns the number of record batches.
func (r *Reader) NumRecords() int { return r.nrecs }

// NumRows returns the total number of rows over all record batches.
func (r *Reader) NumRows() int64 { return r.rows }

// Compressed reports whether the file's record batches are compressed, so
// that each Record call decompresses a copy instead of pointing into the
// mapping.
func (r *Reader) Compressed() bool { return r.compr }

// Record returns record batch i, which points into the mapping (except in
// dictionary-encoded and compressed files, which are copied, the latter
// decompressed): it is valid until Close and must not be modified. Call
// Release when done with it (that frees only bookkeeping; the data stays
// mapped until Close).
func (r *Reader) Record(i int) (rec arrow.RecordBatch, err error) {
	if r.r == nil {
		return nil, fmt.Errorf("arrowfile: read %s: reader closed", r.path)
	}
	if i < 0 || i >= r.nrecs {
		return nil, fmt.Errorf("arrowfile: read %s: record %d out of range [0, %d)", r.path, i, r.nrecs)
	}
	// Faults on the mapping (the file truncated under us) become panics
	// here rather than killing the process.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer r.recoverInto(&err, "read")
	rec, err = r.r.RecordBatchAt(i)
	if err != nil {
		return nil, fmt.Errorf("arrowfile: read %s: record %d: %w", r.path, i, err)
	}
	if err := array.ValidateRecord(rec); err != nil {
		rec.Release()
		return nil, fmt.Errorf("arrowfile: read %s: record %d: %w", r.path, i, err)
	}
	return rec, nil
}

// Close unmaps the file. Arrays obtained from the Reader must not be used
// afterwards.
func (r *Reader) Close() error {
	if r.r != nil {
		r.r.Close()
		r.r = nil
	}
	if r.data == nil || !r.mapped {
		r.data = nil
		return nil
	}
	err := unix.Munmap(r.data)
	r.data = nil
	if err != nil {
		return fmt.Errorf("arrowfile: unmap %s: %w", r.path, err)
	}
	return nil
}
