package arrowfile

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// arrow-go decodes the flatbuffers of an Arrow file without checking them.
// Out-of-range reads become panics, which Open recovers, but some damage is
// fatal to the whole process and cannot be recovered: a vector length of
// 2^32 makes arrow allocate tens of GB, a deep chain of nested fields
// overflows the stack, and shared subtrees can make a small file describe
// billions of fields. So before handing a file to arrow, Open checks the
// flatbuffers it will decode — the footer (with the schema) and every
// message's metadata — against the layout of File.fbs, Schema.fbs and
// Message.fbs: every offset and vector inside its buffer, nesting and total
// size bounded. It checks only what keeps arrow's decoding bounded, not
// every field's meaning; arrow reports the rest.

const (
	maxDepth  = 200     // nested tables; arrow's own field nesting limit is 64
	maxTables = 1 << 20 // tables visited in a whole file (footer and messages)
)

var errBadFlatbuffer = errors.New("malformed flatbuffer metadata")

// fbKind is the kind of a table field the verifier follows.
type fbKind int

const (
	kString   fbKind = iota // string (vector of bytes)
	kVector                 // vector of scalars or structs of elem bytes
	kTable                  // table of type table
	kTableVec               // vector of tables of type table
	kUnion                  // union: the type tag is field idx-1, the table field idx
)

// fbField describes one field of a table: its index in the vtable and how
// to follow it. Scalar fields are not listed: reading them out of range only
// panics, which Open recovers.
type fbField struct {
	idx   int
	kind  fbKind
	elem  int                 // element size of an fbVector
	table *fbTable            // kTable, kTableVec
	union func(byte) *fbTable // kUnion: the table type for a tag, nil if none
}

type fbTable struct {
	name   string
	fields []fbField
}

// The tables of the Arrow format that arrow-go decodes, with the fields that
// hold offsets (https://github.com/apache/arrow/tree/main/format).
var (
	tKeyValue = &fbTable{"KeyValue", []fbField{{idx: 0, kind: kString}, {idx: 1, kind: kString}}}
	tScalars  = &fbTable{"table", nil} // a table with scalar fields only
	tTimestmp = &fbTable{"Timestamp", []fbField{{idx: 1, kind: kString}}}
	tUnion    = &fbTable{"Union", []fbField{{idx: 1, kind: kVector, elem: 4}}}
	tDictEnc  = &fbTable{"DictionaryEncoding", []fbField{{idx: 1, kind: kTable, table: tScalars}}}
	tField    = &fbTable{name: "Field"}
	tSchema   = &fbTable{"Schema", []fbField{
		{idx: 1, kind: kTableVec, table: tField},
		{idx: 2, kind: kTableVec, table: tKeyValue},
		{idx: 3, kind: kVector, elem: 8},
	}}
	tFooter = &fbTable{"Footer", []fbField{
		{idx: 1, kind: kTable, table: tSchema},
		{idx: 2, kind: kVector, elem: blockSize},
		{idx: 3, kind: kVector, elem: blockSize},
		{idx: 4, kind: kTableVec, table: tKeyValue},
	}}
	tRecordBatch = &fbTable{"RecordBatch", []fbField{
		{idx: 1, kind: kVector, elem: 16},
		{idx: 2, kind: kVector, elem: 16},
		{idx: 3, kind: kTable, table: tScalars},
		{idx: 4, kind: kVector, elem: 8},
	}}
	tDictBatch = &fbTable{"DictionaryBatch", []fbField{{idx: 1, kind: kTable, table: tRecordBatch}}}
	tMessage   = &fbTable{"Message", []fbField{
		{idx: 2, kind: kUnion, union: messageHeader},
		{idx: 4, kind: kTableVec, table: tKeyValue},
	}}
)

func init() {
	tField.fields = []fbField{
		{idx: 0, kind: kString},
		{idx: 3, kind: kUnion, union: fieldType},
		{idx: 4, kind: kTable, table: tDictEnc},
		{idx: 5, kind: kTableVec, table: tField},
		{idx: 6, kind: kTableVec, table: tKeyValue},
	}
}

// fieldType maps a Field's type tag (Schema.fbs union Type) to its table.
func fieldType(tag byte) *fbTable {
	switch tag {
	case 0:
		return nil
	case 10: // Timestamp
		return tTimestmp
	case 14: // Union
		return tUnion
	}
	return tScalars
}

// messageHeader maps a Message's header tag (union MessageHeader) to its table.
func messageHeader(tag byte) *fbTable {
	switch tag {
	case 0:
		return nil
	case 1:
		return tSchema
	case 2:
		return tDictBatch
	case 3:
		return tRecordBatch
	}
	return tScalars // tensors: arrow refuses them
}

// blockSize is the size of the Block struct (File.fbs): offset int64,
// metaDataLength int32, 4 bytes padding, bodyLength int64.
const blockSize = 24

// fbVerifier walks one flatbuffer.
type fbVerifier struct {
	buf    []byte
	tables *int // shared by the verifiers of one file
	// seen holds what the walk noticed that Open needs to know.
	dictionary bool  // a Field with dictionary encoding
	compressed bool  // a RecordBatch with body compression
	buffers    int   // buffers of the last RecordBatch
	bufs       int64 // position of the last RecordBatch's buffer structs
	variadic   []int64
	length     int64 // the last RecordBatch's row count
}

func (v *fbVerifier) u16(p int64) (int64, bool) {
	if p < 0 || p+2 > int64(len(v.buf)) {
		return 0, false
	}
	return int64(binary.LittleEndian.Uint16(v.buf[p:])), true
}

func (v *fbVerifier) u32(p int64) (int64, bool) {
	if p < 0 || p+4 > int64(len(v.buf)) {
		return 0, false
	}
	return int64(binary.LittleEndian.Uint32(v.buf[p:])), true
}

// root checks the flatbuffer's root table, of type t.
func (v *fbVerifier) root(t *fbTable) error {
	off, ok := v.u32(0)
	if !ok {
		return errBadFlatbuffer
	}
	return v.table(off, t, 0)
}

// fieldPos returns the absolute position of field idx of the table at tp,
// or 0 if the field is absent.
func (v *fbVerifier) fieldPos(tp, vt, vtSize int64, idx int) (int64, error) {
	voff := int64(4 + 2*idx)
	if voff+2 > vtSize {
		return 0, nil
	}
	off, ok := v.u16(vt + voff)
	if !ok {
		return 0, errBadFlatbuffer
	}
	if off == 0 {
		return 0, nil
	}
	return tp + off, nil
}

// deref follows the uoffset stored at p.
func (v *fbVerifier) deref(p int64) (int64, error) {
	off, ok := v.u32(p)
	if !ok {
		return 0, errBadFlatbuffer
	}
	return p + off, nil
}

// vector checks the vector at p holding elements of elem bytes and returns
// the position of its first element and its length.
func (v *fbVerifier) vector(p int64, elem int) (int64, int64, error) {
	n, ok := v.u32(p)
	if !ok || p+4+n*int64(elem) > int64(len(v.buf)) {
		return 0, 0, fmt.Errorf("%w: vector of %d elements overruns the buffer", errBadFlatbuffer, n)
	}
	return p + 4, n, nil
}

func (v *fbVerifier) table(tp int64, t *fbTable, depth int) error {
	*v.tables++
	if depth > maxDepth || *v.tables > maxTables {
		return fmt.Errorf("%w: nested too deep or too many tables", errBadFlatbuffer)
	}
	so, ok := v.u32(tp)
	if !ok {
		return errBadFlatbuffer
	}
	vt := tp - int64(int32(uint32(so)))
	vtSize, ok1 := v.u16(vt)
	tblSize, ok2 := v.u16(vt + 2)
	if !ok1 || !ok2 || vtSize < 4 || vt+vtSize > int64(len(v.buf)) || tp+tblSize > int64(len(v.buf)) {
		return fmt.Errorf("%w: bad %s table", errBadFlatbuffer, t.name)
	}
	if t == tDictEnc {
		v.dictionary = true
	}
	if t == tRecordBatch {
		if lp, err := v.fieldPos(tp, vt, vtSize, 0); err == nil && lp != 0 && lp+8 <= int64(len(v.buf)) {
			v.length = int64(binary.LittleEndian.Uint64(v.buf[lp:]))
		}
	}
	for _, f := range t.fields {
		fp, err := v.fieldPos(tp, vt, vtSize, f.idx)
		if err != nil {
			return err
		}
		if fp == 0 {
			continue
		}
		if t == tRecordBatch && f.idx == 3 {
			v.compressed = true
		}
		target, err := v.deref(fp)
		if err != nil {
			return err
		}
		switch f.kind {
		case kString:
			_, _, err = v.vector(target, 1)
		case kVector:
			var first, n int64
			first, n, err = v.vector(target, f.elem)
			if err == nil && t == tRecordBatch {
				switch f.idx {
				case 2:
					v.buffers, v.bufs = int(n), first
				case 4:
					for i := range n {
						c := int64(binary.LittleEndian.Uint64(v.buf[first+8*i:]))
						v.variadic = append(v.variadic, c)
					}
				}
			}
		case kTable:
			err = v.table(target, f.table, depth+1)
		case kTableVec:
			var first, n int64
			first, n, err = v.vector(target, 4)
			for i := int64(0); err == nil && i < n; i++ {
				var et int64
				if et, err = v.deref(first + 4*i); err == nil {
					err = v.table(et, f.table, depth+1)
				}
			}
		case kUnion:
			var tagPos int64
			tagPos, err = v.fieldPos(tp, vt, vtSize, f.idx-1)
			if err == nil && tagPos >= int64(len(v.buf)) {
				err = fmt.Errorf("%w: %s union type out of the buffer", errBadFlatbuffer, t.name)
			}
			if err == nil && tagPos != 0 { // no tag: NONE, which arrow refuses
				if ut := f.union(v.buf[tagPos]); ut != nil {
					err = v.table(target, ut, depth+1)
				}
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// checkVariadic refuses variadic buffer counts (of binary views) that
// exceed the buffers the record batch has: arrow allocates by them.
func (v *fbVerifier) checkVariadic() error {
	for _, c := range v.variadic {
		if c < 0 || c > int64(v.buffers) {
			return fmt.Errorf("%w: variadic buffer count %d for %d buffers", errBadFlatbuffer, c, v.buffers)
		}
	}
	return nil
}

// MaxBufferBytes bounds the uncompressed size that a compressed buffer of
// a file may claim: arrow allocates that size before decompressing, so a
// larger claim is refused rather than trusted.
const MaxBufferBytes = 1 << 30

// fileLayout is what verifyFile learnt about a file.
type fileLayout struct {
	dictionaries bool    // dictionary-encoded fields or dictionary batches
	compressed   bool    // record batches with body compression
	rows         []int64 // each record batch's row count, as its metadata says
}

// checkCompressed checks the buffers of a compressed record batch, whose
// body is body: each lies inside it and claims at most MaxBufferBytes
// uncompressed (a leading int64 of −1 marks a buffer stored as is).
func (v *fbVerifier) checkCompressed(body []byte) error {
	for i := range int64(v.buffers) {
		b := v.buf[v.bufs+16*i:]
		off, n := int64(binary.LittleEndian.Uint64(b)), int64(binary.LittleEndian.Uint64(b[8:]))
		if n == 0 {
			continue
		}
		if off < 0 || n < 8 || off > int64(len(body)) || n > int64(len(body))-off {
			return fmt.Errorf("%w: compressed buffer %d outside the body", errBadFlatbuffer, i)
		}
		if size := int64(binary.LittleEndian.Uint64(body[off:])); size < -1 || size > MaxBufferBytes {
			return fmt.Errorf("compressed buffer %d claims %d bytes uncompressed (at most %d)", i, size, MaxBufferBytes)
		}
	}
	return nil
}

// verifyFile checks the flatbuffers of the Arrow file data: the footer and
// every message it points to. Blocks that lie outside the file are left
// for arrow to reject. Compressed bodies must lie inside their block and
// claim at most MaxBufferBytes per buffer (arrow allocates the size the
// file claims), and must not be mixed with dictionaries.
func verifyFile(data []byte) (fileLayout, error) {
	var lay fileLayout
	// The same checks, in the same order, as arrow's readFooter: whatever
	// passes them is decoded by arrow, so it must be verified here.
	const tail = 10 // int32 footer length + "ARROW1"
	n := int64(len(data))
	if n <= 16 || string(data[n-6:]) != "ARROW1" {
		return lay, nil // arrow reports "file too small" or "not an Arrow file"
	}
	size := int64(binary.LittleEndian.Uint32(data[n-tail:]))
	if size <= 0 || size+16 > n {
		return lay, nil // arrow reports inconsistent metadata
	}
	footer := data[n-tail-size : n-tail]
	tables := 0
	fv := &fbVerifier{buf: footer, tables: &tables}
	if err := fv.root(tFooter); err != nil {
		return lay, fmt.Errorf("footer: %w", err)
	}
	lay.dictionaries = fv.dictionary

	// The verified footer's Footer table and its block vectors.
	root := int64(binary.LittleEndian.Uint32(footer))
	vt := root - int64(int32(binary.LittleEndian.Uint32(footer[root:])))
	vtSize := int64(binary.LittleEndian.Uint16(footer[vt:]))
	for _, idx := range []int{2, 3} { // dictionaries, recordBatches
		fp, _ := fv.fieldPos(root, vt, vtSize, idx)
		if fp == 0 {
			continue
		}
		target, _ := fv.deref(fp)
		first, count, _ := fv.vector(target, blockSize)
		if idx == 2 && count > 0 {
			lay.dictionaries = true
		}
		for i := range count {
			b := footer[first+blockSize*i:]
			off := int64(binary.LittleEndian.Uint64(b))
			meta := int64(int32(binary.LittleEndian.Uint32(b[8:])))
			bodyLen := int64(binary.LittleEndian.Uint64(b[16:]))
			if off < 0 || meta < 8 || off > n || meta > n-off {
				if idx == 3 {
					lay.rows = append(lay.rows, -1) // arrow rejects the block
				}
				continue
			}
			msg := data[off : off+meta]
			prefix := int64(4)
			if binary.LittleEndian.Uint32(msg) == 0xFFFFFFFF {
				prefix = 8
			}
			mv := &fbVerifier{buf: msg[prefix:], tables: &tables}
			err := mv.root(tMessage)
			if err == nil {
				err = mv.checkVariadic()
			}
			if err == nil && mv.compressed {
				if bodyLen < 0 || bodyLen > n-off-meta {
					err = errors.New("compressed body overruns the file")
				} else {
					err = mv.checkCompressed(data[off+meta : off+meta+bodyLen])
				}
			}
			if err != nil {
				return lay, fmt.Errorf("message at offset %d: %w", off, err)
			}
			lay.dictionaries = lay.dictionaries || mv.dictionary
			lay.compressed = lay.compressed || mv.compressed
			if idx == 3 {
				lay.rows = append(lay.rows, mv.length)
			}
		}
	}
	if lay.compressed && lay.dictionaries {
		return lay, errors.New("compressed files with dictionaries are not supported")
	}
	return lay, nil
}
