package checkpoint

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"maps"
	"math"
	"math/big"
	"slices"
	"strings"
	"testing"
)

// pk assembles protocol-2 pickles opcode by opcode, so tests can forge
// checkpoints that torch would never write.
type pk struct{ b []byte }

func newPickle() *pk { return &pk{b: []byte{0x80, 2}} }

func (p *pk) op(b ...byte) *pk { p.b = append(p.b, b...); return p }

func (p *pk) str(s string) *pk {
	p.b = append(p.b, 'X')
	p.b = binary.LittleEndian.AppendUint32(p.b, uint32(len(s)))
	p.b = append(p.b, s...)
	return p
}

func (p *pk) int(i int64) *pk {
	if i >= math.MinInt32 && i <= math.MaxInt32 {
		p.b = append(p.b, 'J')
		p.b = binary.LittleEndian.AppendUint32(p.b, uint32(int32(i)))
		return p
	}
	p.b = append(p.b, 0x8a, 8)
	p.b = binary.LittleEndian.AppendUint64(p.b, uint64(i))
	return p
}

func (p *pk) global(module, name string) *pk {
	p.b = append(p.b, 'c')
	p.b = append(p.b, module+"\n"+name+"\n"...)
	return p
}

func (p *pk) ints(xs []int64) *pk {
	p.op('(')
	for _, x := range xs {
		p.int(x)
	}
	return p.op('t')
}

func (p *pk) stop() []byte { return append(p.b, '.') }

// fakeTensor describes one forged tensor entry.
type fakeTensor struct {
	name   string
	class  string // storage class, default FloatStorage
	key    string
	numel  int64
	offset int64
	shape  []int64
	stride []int64 // default row-major
}

func (ft fakeTensor) withDefaults() fakeTensor {
	if ft.class == "" {
		ft.class = "FloatStorage"
	}
	if ft.stride == nil {
		ft.stride = make([]int64, len(ft.shape))
		acc := int64(1)
		for i := len(ft.shape) - 1; i >= 0; i-- {
			ft.stride[i] = acc
			acc *= ft.shape[i]
		}
	}
	return ft
}

// tensor pushes _rebuild_tensor_v2(persistent storage, ...) onto the stack.
func (p *pk) tensor(ft fakeTensor, legacy bool) *pk {
	ft = ft.withDefaults()
	p.global("torch._utils", "_rebuild_tensor_v2").op('(')
	p.op('(').str("storage").global("torch", ft.class).str(ft.key).str("cpu").int(ft.numel)
	if legacy {
		p.op('N')
	}
	p.op('t', 'Q').int(ft.offset).ints(ft.shape).ints(ft.stride).op(0x89)
	p.global("collections", "OrderedDict").op(')', 'R')
	return p.op('t', 'R')
}

// stateDictPickle is {name: tensor, ...} plus whatever extra pushes as
// further key/value pairs.
func stateDictPickle(ts []fakeTensor, legacy bool, extra func(p *pk)) []byte {
	p := newPickle().op('}', '(')
	for _, ft := range ts {
		p.str(ft.name).tensor(ft, legacy)
	}
	if extra != nil {
		extra(p)
	}
	return p.op('u').stop()
}

// zipFile builds a stored (uncompressed) zip archive with entries in the
// given order.
func zipFile(names []string, data map[string][]byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range names {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: n, Method: zip.Store})
		if err != nil {
			panic(err)
		}
		w.Write(data[n])
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// zipCheckpoint wraps a pickle and storages in torch's zip layout.
func zipCheckpoint(pickle []byte, storages map[string][]byte) []byte {
	data := map[string][]byte{"archive/data.pkl": pickle, "archive/version": []byte("3\n")}
	names := []string{"archive/data.pkl"}
	for _, k := range slices.Sorted(maps.Keys(storages)) {
		data["archive/data/"+k] = storages[k]
		names = append(names, "archive/data/"+k)
	}
	names = append(names, "archive/version")
	return zipFile(names, data)
}

// legacyStorage is one raw storage of a legacy file.
type legacyStorage struct {
	key   string
	numel uint64 // element count written in the header
	data  []byte
}

// legacyCheckpoint assembles the legacy torch.save stream.
func legacyCheckpoint(pickle []byte, storages []legacyStorage) []byte {
	magic, _ := new(big.Int).SetString("1950a86a20f9469cfc6c", 16)
	mb := magic.Bytes() // big-endian
	slices.Reverse(mb)
	out := append([]byte{0x80, 2, 0x8a, byte(len(mb))}, mb...)
	out = append(out, '.')
	out = append(out, 0x80, 2, 'M', 0xe9, 0x03, '.')                                    // 1001
	out = append(out, newPickle().op('}').str("little_endian").op(0x88, 's').stop()...) // sys_info
	out = append(out, pickle...)
	keys := newPickle().op(']', '(')
	for _, s := range storages {
		keys.str(s.key)
	}
	out = append(out, keys.op('e').stop()...)
	for _, s := range storages {
		out = binary.LittleEndian.AppendUint64(out, s.numel)
		out = append(out, s.data...)
	}
	return out
}

// f32 returns n little-endian float32 values 0, 1, 2, ...
func f32(n int) []byte {
	out := make([]byte, 0, 4*n)
	for i := 0; i < n; i++ {
		out = binary.LittleEndian.AppendUint32(out, math.Float32bits(float32(i)))
	}
	return out
}

// safetensorsFile assembles a safetensors file from a header object.
func safetensorsFile(header map[string]any, data []byte) []byte {
	h, err := json.Marshal(header)
	if err != nil {
		panic(err)
	}
	h = append(h, strings.Repeat(" ", (8-len(h)%8)%8)...)
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	out = append(out, h...)
	return append(out, data...)
}

// readZip lists a zip archive's entries in order with their contents.
func readZip(t testing.TB, data []byte) ([]string, map[string][]byte) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	entries := map[string][]byte{}
	for _, f := range zr.File {
		b, err := readEntry(f, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, f.Name)
		entries[f.Name] = b
	}
	return names, entries
}
