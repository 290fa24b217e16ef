package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// FormatTfjs is a TensorFlow.js weights manifest with its binary shards.
const FormatTfjs Format = "tfjs"

// maxManifest bounds the size of a manifest read into memory (face-api's
// largest is 20 KB).
const maxManifest = 16 << 20

// A TensorFlow.js weights manifest (tfjs-core's io.WeightsManifestConfig)
// is a JSON array of groups — or an object whose weightsManifest member is
// that array, as in a model.json — each group
//
//	{"paths": ["shard1", …], "weights": [{"name", "shape", "dtype",
//	 "quantization": {"dtype", "scale", "min"}}, …]}
//
// The shards of a group, files in the manifest's folder, are concatenated
// and hold the group's tensors one after the other, row-major, little
// endian: dtype float32 (4 bytes a value), or with quantization its dtype's
// bytes — uint8 or uint16 with value = q·scale + min (scale and min
// required), or float16 (IEEE binary16). Only float32 tensors are network
// weights here; another dtype is an error.
type tfjsGroup struct {
	Paths   []string     `json:"paths"`
	Weights []tfjsWeight `json:"weights"`
}

type tfjsWeight struct {
	Name         string     `json:"name"`
	Shape        []int64    `json:"shape"`
	DType        string     `json:"dtype"`
	Quantization *tfjsQuant `json:"quantization"`
}

type tfjsQuant struct {
	DType string   `json:"dtype"`
	Scale *float64 `json:"scale"`
	Min   *float64 `json:"min"`
}

// isTfjsManifest reports whether a file's content is a JSON array or
// object: a tfjs manifest, as no binary checkpoint format is valid JSON.
func isTfjsManifest(ra io.ReaderAt, size int64) bool {
	var head [512]byte
	n, _ := ra.ReadAt(head[:], 0)
	if h := bytes.TrimLeft(head[:n], " \t\r\n"); size > maxManifest || len(h) == 0 || (h[0] != '[' && h[0] != '{') {
		return false
	}
	b := make([]byte, size)
	if n, _ := ra.ReadAt(b, 0); int64(n) != size {
		return false
	}
	return json.Valid(b)
}

// LoadTfjs reads the TensorFlow.js weights manifest at path and its shards
// (paths relative to the manifest's folder, which they may not leave).
// Tensors keep tfjs's names and shapes (a conv2d filter is [h, w, in, out]);
// quantised values are dequantised to float32. Every shard's size is checked
// against the tensors the manifest places in it before anything is
// allocated; errors name the file and the tensor.
func LoadTfjs(path string) (*StateDict, error) {
	b, err := readManifest(path)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	sd, err := parseTfjs(b, func(shard string) (io.ReaderAt, int64, func() error, error) {
		f, err := os.Open(filepath.Join(dir, shard))
		if err != nil {
			return nil, 0, nil, err
		}
		fi, err := f.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			f.Close()
			if err == nil {
				err = fmt.Errorf("not a regular file")
			}
			return nil, 0, nil, err
		}
		return f, fi.Size(), f.Close, nil
	})
	if err != nil {
		return nil, fmt.Errorf("tfjs manifest %s: %w", path, err)
	}
	sd.Path = path
	return sd, nil
}

// Companions lists the files a checkpoint at path reads besides itself:
// the weight shards of a TensorFlow.js manifest (absolute, in manifest
// order), none for any other format. A shard path that leaves the
// manifest's folder is an error.
func Companions(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	tfjs := fi.Mode().IsRegular() && isTfjsManifest(f, fi.Size())
	f.Close()
	if !tfjs {
		return nil, nil
	}
	b, err := readManifest(path)
	if err != nil {
		return nil, err
	}
	groups, err := decodeManifest(b)
	if err != nil {
		return nil, fmt.Errorf("tfjs manifest %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	var out []string
	for _, g := range groups {
		for _, shard := range g.Paths {
			if !filepath.IsLocal(shard) {
				return nil, fmt.Errorf("tfjs manifest %s: shard %q leaves the manifest's folder", path, shard)
			}
			out = append(out, filepath.Join(dir, shard))
		}
	}
	return out, nil
}

func readManifest(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tfjs manifest %s: %w", path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxManifest+1))
	if err != nil {
		return nil, fmt.Errorf("tfjs manifest %s: %w", path, err)
	}
	if len(b) > maxManifest {
		return nil, fmt.Errorf("tfjs manifest %s: larger than %d bytes", path, maxManifest)
	}
	return b, nil
}

// shardOpener opens a shard by its manifest path, returning its bytes, size
// and closer.
type shardOpener func(shard string) (io.ReaderAt, int64, func() error, error)

// parseTfjs decodes a manifest and reads its tensors through open.
func parseTfjs(manifest []byte, open shardOpener) (*StateDict, error) {
	groups, err := decodeManifest(manifest)
	if err != nil {
		return nil, err
	}
	sd := &StateDict{Format: FormatTfjs, Params: map[string]Tensor{}, Other: map[string]TensorInfo{}, Meta: map[string]any{}}
	for gi, g := range groups {
		if len(g.Paths) == 0 && len(g.Weights) > 0 {
			return nil, fmt.Errorf("group %d has %d weights but no paths", gi, len(g.Weights))
		}
		if err := readGroup(sd, gi, g, open); err != nil {
			return nil, err
		}
	}
	if len(sd.Params) == 0 {
		return nil, fmt.Errorf("no weights")
	}
	return sd, nil
}

func decodeManifest(b []byte) ([]tfjsGroup, error) {
	var groups []tfjsGroup
	t := bytes.TrimLeft(b, " \t\r\n")
	if len(t) > 0 && t[0] == '{' {
		var m struct {
			WeightsManifest *[]tfjsGroup `json:"weightsManifest"`
		}
		if err := json.Unmarshal(t, &m); err != nil {
			return nil, fmt.Errorf("not a weights manifest: %w", err)
		}
		if m.WeightsManifest == nil {
			return nil, fmt.Errorf("not a weights manifest: a JSON object without weightsManifest")
		}
		return *m.WeightsManifest, nil
	}
	if err := json.Unmarshal(t, &groups); err != nil {
		return nil, fmt.Errorf("not a weights manifest: %w", err)
	}
	return groups, nil
}

// tfjsLayout is where one tensor lies in its group's bytes.
type tfjsLayout struct {
	w      tfjsWeight
	shape  []int
	numel  int64
	elem   int64 // bytes per stored value
	offset int64 // in the concatenated shards
}

// readGroup checks a group's tensors against its shards' sizes, then reads
// them.
func readGroup(sd *StateDict, gi int, g tfjsGroup, open shardOpener) error {
	var lay []tfjsLayout
	var total int64
	for _, w := range g.Weights {
		if w.Name == "" {
			return fmt.Errorf("group %d: a weight without a name", gi)
		}
		if _, dup := sd.Params[w.Name]; dup || containsName(lay, w.Name) {
			return fmt.Errorf("tensor %q: named twice", w.Name)
		}
		l, err := layout(w)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", w.Name, err)
		}
		if l.numel > (math.MaxInt64-total)/l.elem {
			return fmt.Errorf("tensor %q: shape %v overflows", w.Name, w.Shape)
		}
		l.offset = total
		total += l.numel * l.elem
		lay = append(lay, l)
	}
	var shards multiShard
	defer shards.close()
	var have int64
	for _, p := range g.Paths {
		if p == "" || !filepath.IsLocal(p) {
			return fmt.Errorf("shard %q: not a path inside the manifest's folder", p)
		}
		ra, n, closer, err := open(p)
		if err != nil {
			return fmt.Errorf("shard %s: %w", p, err)
		}
		shards.parts = append(shards.parts, shardPart{name: p, ra: ra, off: have, n: n, close: closer})
		have += n
	}
	if have != total {
		last := "none"
		if len(lay) > 0 {
			last = fmt.Sprintf("%q", lay[len(lay)-1].w.Name)
		}
		return fmt.Errorf("shards %s hold %d bytes, the manifest's %d tensors need %d (last tensor %s)", strings.Join(g.Paths, ", "), have, len(lay), total, last)
	}
	for _, l := range lay {
		buf := make([]byte, l.numel*l.elem)
		if err := shards.readAt(buf, l.offset); err != nil {
			return fmt.Errorf("tensor %q: %w", l.w.Name, err)
		}
		sd.Params[l.w.Name] = Tensor{Shape: l.shape, Data: dequantise(buf, l)}
	}
	return nil
}

func containsName(lay []tfjsLayout, name string) bool {
	for _, l := range lay {
		if l.w.Name == name {
			return true
		}
	}
	return false
}

// layout checks a weight's dtype, quantization and shape.
func layout(w tfjsWeight) (tfjsLayout, error) {
	l := tfjsLayout{w: w, elem: 4}
	if w.DType != "float32" {
		return l, fmt.Errorf("unknown or unsupported dtype %q (network weights are float32)", w.DType)
	}
	if q := w.Quantization; q != nil {
		switch q.DType {
		case "uint8", "uint16":
			if q.Scale == nil || q.Min == nil {
				return l, fmt.Errorf("%s quantization without scale and min", q.DType)
			}
			if math.IsNaN(*q.Scale) || math.IsInf(*q.Scale, 0) || math.IsNaN(*q.Min) || math.IsInf(*q.Min, 0) {
				return l, fmt.Errorf("%s quantization with scale %v, min %v", q.DType, *q.Scale, *q.Min)
			}
			l.elem = 1
			if q.DType == "uint16" {
				l.elem = 2
			}
		case "float16":
			l.elem = 2
		default:
			return l, fmt.Errorf("unknown quantization dtype %q (uint8, uint16, float16)", q.DType)
		}
	}
	if w.Shape == nil {
		return l, fmt.Errorf("no shape")
	}
	n, err := numel(w.Shape)
	if err != nil {
		return l, err
	}
	l.numel = n
	l.shape = make([]int, len(w.Shape))
	for i, d := range w.Shape {
		l.shape[i] = int(d)
	}
	return l, nil
}

// dequantise converts a tensor's stored bytes to float32: value = q·scale +
// min (computed in float64, as tfjs's float32 arithmetic rounds the same
// product and sum once more).
func dequantise(b []byte, l tfjsLayout) []float32 {
	out := make([]float32, l.numel)
	q := l.w.Quantization
	switch {
	case q == nil:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case q.DType == "float16":
		for i := range out {
			out[i] = halfToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case q.DType == "uint16":
		for i := range out {
			out[i] = float32(float64(binary.LittleEndian.Uint16(b[2*i:]))**q.Scale + *q.Min)
		}
	default:
		for i := range out {
			out[i] = float32(float64(b[i])**q.Scale + *q.Min)
		}
	}
	return out
}

// multiShard reads the concatenation of a group's shards.
type multiShard struct{ parts []shardPart }

type shardPart struct {
	name   string
	ra     io.ReaderAt
	off, n int64
	close  func() error
}

func (m *multiShard) readAt(buf []byte, off int64) error {
	for _, p := range m.parts {
		if len(buf) == 0 {
			return nil
		}
		if off >= p.off+p.n {
			continue
		}
		k := min(int64(len(buf)), p.off+p.n-off)
		if n, err := p.ra.ReadAt(buf[:k], off-p.off); int64(n) < k {
			return fmt.Errorf("shard %s: %w", p.name, err)
		}
		buf, off = buf[k:], off+k
	}
	if len(buf) > 0 {
		return fmt.Errorf("shards end %d bytes early", len(buf))
	}
	return nil
}

func (m *multiShard) close() {
	for _, p := range m.parts {
		if p.close != nil {
			p.close()
		}
	}
}
