package checkpoint

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
)

// SafetensorsMetaLimit bounds the string metadata WriteSafetensors stores.
const SafetensorsMetaLimit = 1 << 20

// WriteSafetensors writes params as a safetensors file: the 8-byte
// little-endian header length, the JSON header ({"__metadata__": meta,
// name: {"dtype": "F32", "shape": […], "data_offsets": [begin, end]}, …},
// object keys sorted, padded with spaces to a multiple of 8 bytes as the
// reference implementation does), then the tensors' float32 data in the
// order of names, little-endian. The same arguments give the same bytes.
//
// The file is written under a temporary name beside path, synced and
// renamed, so path holds either nothing or the whole file. Every name must
// be in params with len(Data) equal to its shape's product.
func WriteSafetensors(path string, names []string, params map[string]Tensor, meta map[string]string) (err error) {
	type entry struct {
		DType       string   `json:"dtype"`
		Shape       []int    `json:"shape"`
		DataOffsets [2]int64 `json:"data_offsets"`
	}
	header := map[string]any{}
	metaLen := 0
	for k, v := range meta {
		metaLen += len(k) + len(v)
	}
	if metaLen > SafetensorsMetaLimit {
		return fmt.Errorf("checkpoint: %s: %d bytes of metadata exceed the %d-byte limit", path, metaLen, SafetensorsMetaLimit)
	}
	if len(meta) > 0 {
		header["__metadata__"] = meta
	}
	var off int64
	for i, name := range names {
		if name == "__metadata__" || slices.Contains(names[:i], name) {
			return fmt.Errorf("checkpoint: %s: tensor name %q is reserved or repeated", path, name)
		}
		t, ok := params[name]
		if !ok {
			return fmt.Errorf("checkpoint: %s: no tensor %q", path, name)
		}
		n := 1
		for _, d := range t.Shape {
			if d < 0 {
				return fmt.Errorf("checkpoint: %s: tensor %q has shape %v", path, name, t.Shape)
			}
			n *= d
		}
		if n != len(t.Data) {
			return fmt.Errorf("checkpoint: %s: tensor %q has %d values for shape %v", path, name, len(t.Data), t.Shape)
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		header[name] = entry{DType: "F32", Shape: shape, DataOffsets: [2]int64{off, off + 4*int64(n)}}
		off += 4 * int64(n)
	}
	js, err := json.Marshal(header) // map keys are sorted
	if err != nil {
		return fmt.Errorf("checkpoint: %s: %w", path, err)
	}
	js = append(js, bytes.Repeat([]byte{' '}, (8-len(js)%8)%8)...)

	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(js)))
	w.Write(lenBuf[:])
	w.Write(js)
	var b [4]byte
	for _, name := range names {
		for _, v := range params[name].Data {
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
			w.Write(b[:])
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("checkpoint: writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("checkpoint: writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("checkpoint: writing %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// ClassNamesKey is the safetensors metadata key under which a checkpoint
// written by the train kind names its outputs: a JSON array of strings, the
// name of output k at position k.
const ClassNamesKey = "class_names"

// EpochFile is the name the train kind gives the weights after epoch
// ("epoch_00.safetensors" before training).
func EpochFile(epoch int) string { return fmt.Sprintf("epoch_%02d.safetensors", epoch) }

// ParseEpochFile is EpochFile's inverse: the epoch of such a name.
func ParseEpochFile(name string) (int, bool) {
	var e int
	if n, err := fmt.Sscanf(name, "epoch_%d.safetensors", &e); n != 1 || err != nil || e < 0 || EpochFile(e) != name {
		return 0, false
	}
	return e, true
}
