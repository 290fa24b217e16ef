package checkpoint

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// maxSafetensorsHeader is the header-size limit of the reference
// implementation (100 MB).
const maxSafetensorsHeader = 100_000_000

// safetensorsDTypes maps safetensors dtype names to element types. Types
// not listed (F8_*, U16, ...) are reported in Other as-is.
var safetensorsDTypes = map[string]dtype{
	"F32": dtFloat32, "F64": dtFloat64, "F16": dtFloat16, "BF16": dtBFloat16,
	"I64": dtInt64, "I32": dtInt32, "I16": dtInt16, "I8": dtInt8, "U8": dtUint8, "BOOL": dtBool,
}

// safetensorsEntry is one tensor of the JSON header.
type safetensorsEntry struct {
	DType       string  `json:"dtype"`
	Shape       []int64 `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
	name        string  // set after decoding
	dt          dtype   // set after decoding
	n           int64   // number of elements
}

// loadSafetensors decodes a safetensors file: an 8-byte little-endian header
// length, a JSON header mapping names to {dtype, shape, data_offsets} (plus
// optional string __metadata__), then the data buffer. Offsets are relative
// to the buffer and must tile it without overlapping.
func loadSafetensors(ra io.ReaderAt, size int64) (*StateDict, error) {
	var lenBuf [8]byte
	if _, err := ra.ReadAt(lenBuf[:], 0); err != nil {
		return nil, fmt.Errorf("safetensors: reading header length: %w", err)
	}
	hlen := binary.LittleEndian.Uint64(lenBuf[:])
	if hlen > uint64(size-8) {
		return nil, fmt.Errorf("safetensors: header length %d exceeds the %d bytes after it (truncated or not a safetensors file)", hlen, size-8)
	}
	if hlen > maxSafetensorsHeader {
		return nil, fmt.Errorf("safetensors: header length %d exceeds the %d-byte limit", hlen, maxSafetensorsHeader)
	}
	header := make([]byte, hlen)
	if _, err := ra.ReadAt(header, 8); err != nil {
		return nil, fmt.Errorf("safetensors: reading header: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(header, &raw); err != nil {
		return nil, fmt.Errorf("safetensors: malformed JSON header: %w", err)
	}
	dataStart := 8 + int64(hlen)
	dataLen := size - dataStart
	sd := &StateDict{Format: FormatSafetensors, Params: map[string]Tensor{}, Other: map[string]TensorInfo{}, Meta: map[string]any{}}
	var entries []*safetensorsEntry
	for name, msg := range raw {
		if name == "__metadata__" {
			var meta map[string]string
			if err := json.Unmarshal(msg, &meta); err != nil {
				return nil, fmt.Errorf("safetensors: __metadata__ is not a string map: %w", err)
			}
			for k, v := range meta {
				sd.Meta[k] = v
			}
			continue
		}
		e := &safetensorsEntry{name: name}
		if err := json.Unmarshal(msg, e); err != nil {
			return nil, fmt.Errorf("parameter %q: malformed header entry: %w", name, err)
		}
		if len(e.DataOffsets) != 2 {
			return nil, fmt.Errorf("parameter %q: data_offsets has %d values, want 2", name, len(e.DataOffsets))
		}
		begin, end := e.DataOffsets[0], e.DataOffsets[1]
		if begin < 0 || end < begin || end > dataLen {
			return nil, fmt.Errorf("parameter %q: data_offsets [%d, %d] outside the %d-byte data buffer (truncated file?)", name, begin, end, dataLen)
		}
		n, err := numel(e.Shape)
		if err != nil {
			return nil, fmt.Errorf("parameter %q: %w", name, err)
		}
		e.n = n
		dt, known := safetensorsDTypes[e.DType]
		e.dt = dt
		if known && n*dt.size() != end-begin {
			return nil, fmt.Errorf("parameter %q: shape %v of %s needs %d bytes but data_offsets [%d, %d] hold %d", name, e.Shape, e.DType, n*dt.size(), begin, end, end-begin)
		}
		entries = append(entries, e)
	}
	// Overlapping ranges would let one small buffer be materialised many
	// times over; the format forbids them.
	slices.SortFunc(entries, func(a, b *safetensorsEntry) int {
		if c := a.DataOffsets[0] - b.DataOffsets[0]; c != 0 {
			if c < 0 {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	for i := 1; i < len(entries); i++ {
		prev, cur := entries[i-1], entries[i]
		if cur.DataOffsets[0] < prev.DataOffsets[1] {
			return nil, fmt.Errorf("parameter %q: data_offsets [%d, %d] overlap those of %q", cur.name, cur.DataOffsets[0], cur.DataOffsets[1], prev.name)
		}
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("safetensors: no tensors in the header")
	}
	b := newBudget(size)
	slices.SortFunc(entries, func(a, b *safetensorsEntry) int { return strings.Compare(a.name, b.name) })
	for _, e := range entries {
		name := strings.TrimPrefix(e.name, "module.")
		if _, dup := sd.Params[name]; dup {
			return nil, fmt.Errorf("parameter %q appears twice (with and without the DataParallel \"module.\" prefix)", name)
		}
		if _, dup := sd.Other[name]; dup {
			return nil, fmt.Errorf("parameter %q appears twice (with and without the DataParallel \"module.\" prefix)", name)
		}
		if !e.dt.isFloat() {
			shape := make([]int, len(e.Shape))
			for i, d := range e.Shape {
				shape[i] = int(d)
			}
			dtName := strings.ToLower(e.DType)
			if e.dt != dtUnknown {
				dtName = e.dt.String()
			}
			sd.Other[name] = TensorInfo{DType: dtName, Shape: shape}
			continue
		}
		begin, end := e.DataOffsets[0], e.DataOffsets[1]
		root := &rootData{key: e.name, where: "safetensors data", ra: ra, off: dataStart + begin, nbytes: end - begin}
		stride := make([]int64, len(e.Shape))
		acc := int64(1)
		for i := len(e.Shape) - 1; i >= 0; i-- {
			stride[i] = acc
			acc *= e.Shape[i]
		}
		ref := &tensorRef{
			st:     &storage{key: e.name, dtype: e.dt, numel: e.n, root: root},
			dtype:  e.dt,
			shape:  e.Shape,
			stride: stride,
		}
		t, err := materialise(ref, b)
		if err != nil {
			return nil, fmt.Errorf("parameter %q: %w", name, err)
		}
		sd.Params[name] = t
	}
	return sd, nil
}
