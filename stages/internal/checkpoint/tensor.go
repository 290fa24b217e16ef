package checkpoint

import (
	"archive/zip"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// dtype is an element type of a stored tensor.
type dtype int

const (
	dtUnknown dtype = iota
	dtFloat32
	dtFloat64
	dtFloat16
	dtBFloat16
	dtInt64
	dtInt32
	dtInt16
	dtInt8
	dtUint8
	dtBool
	dtComplex64
	dtComplex128
)

var dtypeInfo = [...]struct {
	name string
	size int64
}{
	dtUnknown:    {"unknown", 0},
	dtFloat32:    {"float32", 4},
	dtFloat64:    {"float64", 8},
	dtFloat16:    {"float16", 2},
	dtBFloat16:   {"bfloat16", 2},
	dtInt64:      {"int64", 8},
	dtInt32:      {"int32", 4},
	dtInt16:      {"int16", 2},
	dtInt8:       {"int8", 1},
	dtUint8:      {"uint8", 1},
	dtBool:       {"bool", 1},
	dtComplex64:  {"complex64", 8},
	dtComplex128: {"complex128", 16},
}

func (d dtype) String() string { return dtypeInfo[d].name }

// size is the element size in bytes (0 if unknown).
func (d dtype) size() int64 { return dtypeInfo[d].size }

// isFloat reports whether tensors of this type are kept as parameters.
func (d dtype) isFloat() bool {
	return d == dtFloat32 || d == dtFloat64 || d == dtFloat16 || d == dtBFloat16
}

// storage is a (possibly view of a) torch storage referenced by a pickle
// persistent id. Its bytes are located in root once the container is parsed.
type storage struct {
	key    string
	dtype  dtype
	numel  int64 // declared number of elements
	offset int64 // element offset into root (legacy storage views)
	root   *rootData
}

// rootData locates the raw bytes of one stored storage in the input.
type rootData struct {
	key       string
	where     string // human-readable location, e.g. zip entry name
	ra        io.ReaderAt
	off       int64 // byte offset of element 0 in ra
	nbytes    int64 // bytes actually present
	bigEndian bool
	err       error     // why the bytes are unavailable
	inflate   *zip.File // deflated zip entry, inflated on first use
}

// budget bounds the memory materialisation may allocate, relative to the
// size of the input file, so that aliasing views or forged shapes cannot
// make a small file expand into a huge allocation.
type budget struct{ left int64 }

// newBudget allows maxExpansion times the file size plus 1 MiB: float16 data
// doubles when converted and tied weights are materialised once per name.
func newBudget(fileSize int64) *budget {
	const maxExpansion = 8
	if fileSize > (math.MaxInt64-(1<<20))/maxExpansion {
		return &budget{left: math.MaxInt64}
	}
	return &budget{left: maxExpansion*fileSize + 1<<20}
}

func (b *budget) take(n int64) error {
	if n > b.left {
		return fmt.Errorf("materialising it would exceed the allocation budget (%d bytes left; the file is too small to hold this many values)", b.left)
	}
	b.left -= n
	return nil
}

// numel multiplies the dimensions, rejecting negatives and overflow.
func numel(shape []int64) (int64, error) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension in shape %v", shape)
		}
		if d != 0 && n > math.MaxInt64/8/d {
			return 0, fmt.Errorf("shape %v has too many elements", shape)
		}
		n *= d
	}
	return n, nil
}

// materialise reads a floating tensor view into a row-major float32 slice,
// honouring storage offset and strides. Every declared size is checked
// against the bytes actually present before anything is allocated.
func materialise(t *tensorRef, b *budget) (Tensor, error) {
	if len(t.shape) != len(t.stride) {
		return Tensor{}, fmt.Errorf("shape %v and stride %v differ in rank", t.shape, t.stride)
	}
	n, err := numel(t.shape)
	if err != nil {
		return Tensor{}, err
	}
	shape := make([]int, len(t.shape))
	for i, d := range t.shape {
		shape[i] = int(d)
	}
	if t.offset < 0 {
		return Tensor{}, fmt.Errorf("negative storage offset %d", t.offset)
	}
	for _, s := range t.stride {
		if s < 0 {
			return Tensor{}, fmt.Errorf("negative stride in %v", t.stride)
		}
	}
	if n == 0 {
		return Tensor{Shape: shape, Data: []float32{}}, nil
	}
	// extent: elements spanned by the view, 1 + sum((d-1)*s).
	span := int64(1)
	for i, d := range t.shape {
		s := t.stride[i]
		if s != 0 && d-1 > (math.MaxInt64/8-span)/s {
			return Tensor{}, fmt.Errorf("stride %v spans too many elements", t.stride)
		}
		span += (d - 1) * s
	}
	if t.offset > math.MaxInt64/8-span {
		return Tensor{}, fmt.Errorf("storage offset %d too large", t.offset)
	}
	st := t.st
	esz := t.dtype.size()
	ssz := st.dtype.size()
	if esz == 0 || ssz == 0 {
		return Tensor{}, fmt.Errorf("unsupported element type")
	}
	if st.numel < 0 || st.numel > math.MaxInt64/16 || st.offset < 0 || st.offset > math.MaxInt64/16 {
		return Tensor{}, fmt.Errorf("storage %q declares an invalid size %d", st.key, st.numel)
	}
	declBytes := st.numel * ssz
	avail := declBytes / esz // storage elements of the view's type
	if t.offset+span > avail {
		return Tensor{}, fmt.Errorf("shape %v with stride %v at offset %d needs %d elements but storage %q declares only %d",
			t.shape, t.stride, t.offset, t.offset+span, st.key, avail)
	}
	if n > avail {
		return Tensor{}, fmt.Errorf("shape %v declares %d elements but storage %q holds only %d", t.shape, n, st.key, avail)
	}
	root := st.root
	if root == nil {
		return Tensor{}, fmt.Errorf("storage %q has no data", st.key)
	}
	if root.err != nil {
		return Tensor{}, fmt.Errorf("storage %q: %w", st.key, root.err)
	}
	base := st.offset * ssz
	if base+declBytes > root.nbytes {
		return Tensor{}, fmt.Errorf("storage %q declares %d elements (%d bytes from byte %d) but %s holds only %d bytes",
			st.key, st.numel, declBytes, base, root.where, root.nbytes)
	}
	if err := b.take(4 * n); err != nil {
		return Tensor{}, err
	}
	start := root.off + base + t.offset*esz
	data := make([]float32, n)
	if contiguous(t.shape, t.stride) {
		if err := readFloats(data, root, start, t.dtype); err != nil {
			return Tensor{}, err
		}
		return Tensor{Shape: shape, Data: data}, nil
	}
	// Non-contiguous view: read the spanned range, then gather row-major.
	// span <= storage size, itself checked against the file size above.
	if err := b.take(4 * span); err != nil {
		return Tensor{}, err
	}
	src := make([]float32, span)
	if err := readFloats(src, root, start, t.dtype); err != nil {
		return Tensor{}, err
	}
	gather(data, src, t.shape, t.stride)
	b.left += 4 * span // the temporary is garbage now
	return Tensor{Shape: shape, Data: data}, nil
}

// contiguous reports whether strides are row-major for shape (dimensions of
// size 1 may have any stride).
func contiguous(shape, stride []int64) bool {
	want := int64(1)
	for i := len(shape) - 1; i >= 0; i-- {
		if shape[i] != 1 && stride[i] != want {
			return false
		}
		want *= shape[i]
	}
	return true
}

// gather copies src (indexed by strides) into dst in row-major order.
func gather(dst, src []float32, shape, stride []int64) {
	idx := make([]int64, len(shape))
	var pos int64
	for i := range dst {
		dst[i] = src[pos]
		for d := len(shape) - 1; d >= 0; d-- {
			idx[d]++
			pos += stride[d]
			if idx[d] < shape[d] {
				break
			}
			pos -= idx[d] * stride[d]
			idx[d] = 0
		}
	}
}

// readFloats decodes len(dst) elements of type dt starting at byte off of
// root into dst, in bounded chunks.
func readFloats(dst []float32, root *rootData, off int64, dt dtype) error {
	esz := dt.size()
	const chunk = 1 << 16
	buf := make([]byte, min(int64(len(dst))*esz, chunk*esz))
	for done := 0; done < len(dst); {
		k := min(len(dst)-done, chunk)
		raw := buf[:int64(k)*esz]
		if _, err := root.ra.ReadAt(raw, off+int64(done)*esz); err != nil {
			return fmt.Errorf("reading %s: %w", root.where, err)
		}
		decode(dst[done:done+k], raw, dt, root.bigEndian)
		done += k
	}
	return nil
}

// decode converts raw little- or big-endian elements to float32.
func decode(dst []float32, raw []byte, dt dtype, bigEndian bool) {
	var bo binary.ByteOrder = binary.LittleEndian
	if bigEndian {
		bo = binary.BigEndian
	}
	switch dt {
	case dtFloat32:
		for i := range dst {
			dst[i] = math.Float32frombits(bo.Uint32(raw[4*i:]))
		}
	case dtFloat64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(bo.Uint64(raw[8*i:])))
		}
	case dtFloat16:
		for i := range dst {
			dst[i] = halfToFloat32(bo.Uint16(raw[2*i:]))
		}
	case dtBFloat16:
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(bo.Uint16(raw[2*i:])) << 16)
		}
	default:
		panic("decode: not a floating type: " + dt.String())
	}
}

// halfToFloat32 converts IEEE 754 binary16 bits to float32 exactly.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf/NaN
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp == 0:
		if frac == 0 {
			return math.Float32frombits(sign)
		}
		// subnormal: value = frac * 2^-24
		f := float32(frac) * (1.0 / (1 << 24))
		if sign != 0 {
			f = -f
		}
		return f
	}
	return math.Float32frombits(sign | (exp+112)<<23 | frac<<13)
}
