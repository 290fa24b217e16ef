// Package weights is the network contract between stages: weights.arrow,
// the file a model stage writes (Write) and the extract, lesion and other
// kinds open as a network (Load, LoadInput).
package weights

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"selectivity/cache/arrowfile"
	"selectivity/stages"
	"selectivity/stages/internal/checkpoint"
	"selectivity/stages/internal/net"
)

// Column types of weights.arrow.
// File is a model stage's output.
const File = "weights.arrow"

var (
	shapeType = arrow.ListOfNonNullable(arrow.PrimitiveTypes.Int32)
	dataType  = arrow.ListOfNonNullable(arrow.PrimitiveTypes.Float32)
)

// Schema is weights.arrow's schema with meta as its metadata.
func Schema(meta map[string]string) *arrow.Schema {
	return arrowfile.NewSchema([]arrow.Field{
		{Name: "name", Type: arrow.BinaryTypes.String},
		{Name: "shape", Type: shapeType},
		{Name: "data", Type: dataType},
	}, meta)
}

// Write writes params to path in the order of order (every entry of
// params must be listed there), one record batch per parameter, pointing at
// the parameters' own memory. Each parameter's values start 64-byte aligned
// in the file (see aligner), so that a memory-mapped network computes
// exactly what the same weights on the heap do: the BLAS kernels of the
// fully connected layers round differently for differently aligned weights.
func Write(ctx context.Context, path string, order []net.Param, params map[string]net.Tensor, meta map[string]string) (err error) {
	if len(order) != len(params) {
		return fmt.Errorf("model: %d parameters for an architecture of %d", len(params), len(order))
	}
	schema := Schema(meta)
	al, err := newAligner(schema)
	if err != nil {
		return err
	}
	w, err := arrowfile.Create(path, schema)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			w.Abort()
		}
	}()
	for _, p := range order {
		if err := ctx.Err(); err != nil {
			return err
		}
		t, ok := params[p.Name]
		if !ok {
			return fmt.Errorf("model: parameter %q missing", p.Name)
		}
		if err := writeParam(w, al, schema, p.Name, t); err != nil {
			return err
		}
	}
	return w.Close()
}

// writeParam writes one record batch holding one parameter; its values are
// not copied.
func writeParam(w *arrowfile.Writer, al *aligner, schema *arrow.Schema, name string, t net.Tensor) error {
	if n, ok := net.Numel(t.Shape); !ok || n != len(t.Data) {
		return fmt.Errorf("model: parameter %q: %d values for shape %v", name, len(t.Data), t.Shape)
	}
	if len(t.Data) > math.MaxInt32 {
		return fmt.Errorf("model: parameter %q has %d values, more than a weights.arrow row holds", name, len(t.Data))
	}
	nb := array.NewStringBuilder(memory.DefaultAllocator)
	nb.Append(name)
	names := nb.NewArray()
	defer names.Release()
	shape32 := make([]int32, len(t.Shape))
	for i, d := range t.Shape {
		if d > math.MaxInt32 {
			return fmt.Errorf("model: parameter %q: dimension %d too large", name, d)
		}
		shape32[i] = int32(d)
	}
	shapes := listArray(shapeType, arrow.PrimitiveTypes.Int32, arrow.Int32Traits.CastToBytes(shape32), len(shape32))
	defer shapes.Release()
	data := listArray(dataType, arrow.PrimitiveTypes.Float32, arrow.Float32Traits.CastToBytes(t.Data), len(t.Data))
	defer data.Release()

	rec, err := al.record(schema, []arrow.Array{names, shapes, data}, 4*int64(len(t.Data)))
	if err != nil {
		return fmt.Errorf("model: parameter %q: %w", name, err)
	}
	defer rec.Release()
	return w.Write(rec)
}

// Alignment is the file offset every parameter's values start at a
// multiple of.
const Alignment = 64

// aligner follows the position in an Arrow IPC file as arrow-go's file
// writer lays it out (8 bytes of magic, the schema message, then one
// message per record batch, each the payload ipc.Payload.WritePayload
// writes) and pads each record batch's custom metadata so that its last
// buffer — the values of its last column — starts at a multiple of
// Alignment. Should the layout ever differ from this model, the values are
// merely less aligned (tests check it).
type aligner struct{ pos int64 }

func newAligner(schema *arrow.Schema) (*aligner, error) {
	p := ipc.GetSchemaPayload(schema, memory.DefaultAllocator)
	defer p.Release()
	n, err := payloadSize(&p)
	return &aligner{pos: 8 + n}, err
}

// record returns the record batch of cols with the padding that aligns its
// last buffer (lastLen bytes) and advances the position past it.
func (a *aligner) record(schema *arrow.Schema, cols []arrow.Array, lastLen int64) (arrow.RecordBatch, error) {
	tail := (lastLen + 7) &^ 7
	for pad := 0; ; pad++ {
		md := arrow.Metadata{}
		if pad > 0 {
			md = arrow.NewMetadata([]string{"pad"}, []string{strings.Repeat(" ", pad-1)})
		}
		rec := array.NewRecordBatchWithMetadata(schema, cols, 1, md)
		p, err := ipc.GetRecordBatchPayload(rec)
		if err != nil {
			rec.Release()
			return nil, err
		}
		n, err := payloadSize(&p)
		p.Release()
		if err != nil {
			rec.Release()
			return nil, err
		}
		if (a.pos+n-tail)%Alignment == 0 || pad >= 4*Alignment {
			a.pos += n
			return rec, nil
		}
		rec.Release()
	}
}

// payloadSize is the number of bytes p takes in an IPC file.
func payloadSize(p *ipc.Payload) (int64, error) {
	var c counter
	_, err := p.WritePayload(&c)
	return int64(c), err
}

type counter int64

func (c *counter) Write(b []byte) (int, error) {
	*c += counter(len(b))
	return len(b), nil
}

// listArray wraps values (n elements of elem) as a one-row list array of
// typ without copying them.
func listArray(typ arrow.DataType, elem arrow.DataType, values []byte, n int) arrow.Array {
	offsets := arrow.Int32Traits.CastToBytes([]int32{0, int32(n)})
	child := array.NewData(elem, n, []*memory.Buffer{nil, memory.NewBufferBytes(values)}, nil, 0, 0)
	defer child.Release()
	list := array.NewData(typ, 1, []*memory.Buffer{nil, memory.NewBufferBytes(offsets)}, []arrow.ArrayData{child}, 0, 0)
	defer list.Release()
	return array.MakeFromData(list)
}

// Model is a network loaded from a model stage's weights.arrow. The fully
// connected layers' weights point into the memory-mapped file, so the Model
// must stay open while its Net is used; Close unmaps it.
type Model struct {
	*net.Net
	// Meta is weights.arrow's schema metadata (arch, classes, init, seed or
	// source, ...).
	Meta map[string]string
	r    *arrowfile.Reader
}

// ArchName is the architecture's name ("vgg16").
func (m *Model) ArchName() string { return m.Meta["arch"] }

// ClassNames are the names of the outputs (output k is names[k]) when the
// weights came with them (a train stage's checkpoint; see the package doc),
// else nil.
func (m *Model) ClassNames() ([]string, error) {
	v, ok := m.Meta[checkpoint.ClassNamesKey]
	if !ok {
		return nil, nil
	}
	return ParseClassNames(v, m.Classes())
}

// Close unmaps the weights. The Net must not be used afterwards.
func (m *Model) Close() error {
	if m == nil || m.r == nil {
		return nil
	}
	err := m.r.Close()
	m.r = nil
	return err
}

// LoadInput loads the model of an upstream model stage.
func LoadInput(in stages.Input) (*Model, error) {
	m, err := Load(in.Dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in.Stage, err)
	}
	return m, nil
}

// Load opens dir/weights.arrow (a model stage's output) memory-mapped and
// builds the network from it without copying the weights (net.New still
// repacks the convolutions).
func Load(dir string) (_ *Model, err error) {
	r, err := arrowfile.Open(filepath.Join(dir, File))
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	params, meta, err := ReadWeights(r)
	if err != nil {
		return nil, err
	}
	if len(params) == 0 && meta["init"] == "random" { // lean: regenerate
		if params, err = regenerate(meta); err != nil {
			return nil, fmt.Errorf("model: %s: %w", r.Path(), err)
		}
	}
	arch := meta["arch"]
	nt, err := net.New(arch, params)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", r.Path(), err)
	}
	if c, err := strconv.Atoi(meta["classes"]); err != nil || c != nt.Classes() {
		return nil, fmt.Errorf("model: %s: metadata says %q classes, the weights have %d", r.Path(), meta["classes"], nt.Classes())
	}
	return &Model{Net: nt, Meta: meta, r: r}, nil
}

// regenerate rebuilds a random init's weights from weights.arrow's
// metadata: arch, classes and seed.
func regenerate(meta map[string]string) (map[string]net.Tensor, error) {
	classes, err := strconv.Atoi(meta["classes"])
	if err != nil {
		return nil, fmt.Errorf("metadata classes %q: %w", meta["classes"], err)
	}
	seed, err := strconv.ParseUint(meta["seed"], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("metadata seed %q: %w", meta["seed"], err)
	}
	return net.RandomInit(meta["arch"], classes, seed)
}

// ReadWeights returns the parameters in r, pointing into its mapping, and
// its metadata.
func ReadWeights(r *arrowfile.Reader) (map[string]net.Tensor, map[string]string, error) {
	s := r.Schema()
	want := Schema(nil)
	if s.NumFields() != 3 {
		return nil, nil, fmt.Errorf("model: %s: %d columns, not a weights file (want name, shape, data)", r.Path(), s.NumFields())
	}
	for i := range 3 {
		if f, g := want.Field(i), s.Field(i); f.Name != g.Name || !arrow.TypeEqual(f.Type, g.Type) {
			return nil, nil, fmt.Errorf("model: %s: column %d is %s %s, want %s %s: not a weights file", r.Path(), i, g.Name, g.Type, f.Name, f.Type)
		}
	}
	meta := map[string]string{}
	md := s.Metadata()
	for i, k := range md.Keys() {
		meta[k] = md.Values()[i]
	}
	if _, err := net.Spec(meta["arch"]); err != nil {
		return nil, nil, fmt.Errorf("model: %s: arch %q: %w", r.Path(), meta["arch"], err)
	}
	params := map[string]net.Tensor{}
	for i := range r.NumRecords() {
		rec, err := r.Record(i)
		if err != nil {
			return nil, nil, err
		}
		err = func() error {
			defer rec.Release()
			names, ok1 := rec.Column(0).(*array.String)
			shapes, ok2 := rec.Column(1).(*array.List)
			data, ok3 := rec.Column(2).(*array.List)
			if !ok1 || !ok2 || !ok3 {
				return fmt.Errorf("model: %s: record %d has unexpected array types", r.Path(), i)
			}
			sv, ok1 := shapes.ListValues().(*array.Int32)
			dv, ok2 := data.ListValues().(*array.Float32)
			if !ok1 || !ok2 {
				return fmt.Errorf("model: %s: record %d has unexpected list values", r.Path(), i)
			}
			if names.NullN()+shapes.NullN()+data.NullN()+sv.NullN()+dv.NullN() > 0 {
				return fmt.Errorf("model: %s: record %d holds nulls", r.Path(), i)
			}
			svals, dvals := sv.Int32Values(), dv.Float32Values()
			for row := range int(rec.NumRows()) {
				name := names.Value(row)
				s0, s1 := shapes.ValueOffsets(row)
				d0, d1 := data.ValueOffsets(row)
				if s0 < 0 || s1 < s0 || int(s1) > len(svals) || d0 < 0 || d1 < d0 || int(d1) > len(dvals) {
					return fmt.Errorf("model: %s: parameter %q: offsets out of range", r.Path(), name)
				}
				shape := make([]int, s1-s0)
				for k := range shape {
					shape[k] = int(svals[int(s0)+k])
				}
				vals := dvals[d0:d1:d1]
				if n, ok := net.Numel(shape); !ok || n != len(vals) {
					return fmt.Errorf("model: %s: parameter %q: %d values for shape %v", r.Path(), name, len(vals), shape)
				}
				if _, dup := params[name]; dup {
					return fmt.Errorf("model: %s: parameter %q appears twice", r.Path(), name)
				}
				params[name] = net.Tensor{Shape: shape, Data: vals}
			}
			return nil
		}()
		if err != nil {
			return nil, nil, err
		}
	}
	return params, meta, nil
}

// ParseClassNames decodes a class_names value: a JSON array of classes
// distinct strings.
func ParseClassNames(v string, classes int) ([]string, error) {
	var names []string
	if err := json.Unmarshal([]byte(v), &names); err != nil {
		return nil, fmt.Errorf("%s is not a JSON array of strings: %w", checkpoint.ClassNamesKey, err)
	}
	if len(names) != classes {
		return nil, fmt.Errorf("%s names %d outputs, the weights have %d", checkpoint.ClassNamesKey, len(names), classes)
	}
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if seen[n] {
			return nil, fmt.Errorf("%s names %q twice", checkpoint.ClassNamesKey, n)
		}
		seen[n] = true
	}
	return names, nil
}

// Layers returns the architecture that a model stage's parameters
// (upstream, as stages.InputChecker receives them; they name it with an
// Architecture method) name and its layers:
// every tap but the logits (dlib_resnet29: every tap, embedding included). ok is false if upstream is not a model stage's
// parameters or names no known architecture (the model stage reports that).
func Layers(upstream any) (arch string, layers []string, ok bool) {
	p, isModel := upstream.(interface{ Architecture() string })
	if !isModel {
		return "", nil, false
	}
	spec, err := net.Spec(p.Architecture())
	if err != nil {
		return "", nil, false
	}
	taps := spec.Taps()
	if spec.Head().Tap == "logits" { // dlib_resnet29's embedding is a layer
		taps = taps[:len(taps)-1]
	}
	return p.Architecture(), taps, true
}
