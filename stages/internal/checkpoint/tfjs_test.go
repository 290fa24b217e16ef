package checkpoint

import (
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// memShards opens shards from a map.
func memShards(files map[string][]byte) shardOpener {
	return func(p string) (io.ReaderAt, int64, func() error, error) {
		b, ok := files[p]
		if !ok {
			return nil, 0, nil, os.ErrNotExist
		}
		return bytes.NewReader(b), int64(len(b)), nil, nil
	}
}

func le32(vs ...float32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

// TestTfjsValues decodes every storage type, with a tensor split across two
// shards and an object-form (model.json) manifest.
func TestTfjsValues(t *testing.T) {
	manifest := `{"format": "graph-model", "weightsManifest": [{"paths": ["a.bin", "b.bin"], "weights": [
		{"name": "f32", "shape": [2, 2], "dtype": "float32"},
		{"name": "u8", "shape": [3], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1}},
		{"name": "u16", "shape": [2], "dtype": "float32", "quantization": {"dtype": "uint16", "scale": 0.25, "min": 10}},
		{"name": "f16", "shape": [2], "dtype": "float32", "quantization": {"dtype": "float16"}},
		{"name": "scalar", "shape": [], "dtype": "float32"}]}]}`
	data := le32(1, -2, 3.5, 1e-8)
	data = append(data, 0, 4, 255)
	data = binary.LittleEndian.AppendUint16(data, 0)
	data = binary.LittleEndian.AppendUint16(data, 65535)
	data = binary.LittleEndian.AppendUint16(data, 0x3c00) // 1
	data = binary.LittleEndian.AppendUint16(data, 0xc100) // -2.5
	data = append(data, le32(7)...)
	split := 6 // inside f32's second value
	sd, err := parseTfjs([]byte(manifest), memShards(map[string][]byte{"a.bin": data[:split], "b.bin": data[split:]}))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Tensor{
		"f32":    {[]int{2, 2}, []float32{1, -2, 3.5, 1e-8}},
		"u8":     {[]int{3}, []float32{-1, 1, 126.5}},
		"u16":    {[]int{2}, []float32{10, 16393.75}},
		"f16":    {[]int{2}, []float32{1, -2.5}},
		"scalar": {[]int{}, []float32{7}},
	}
	if sd.Format != FormatTfjs || len(sd.Params) != len(want) {
		t.Fatalf("format %s, %d params, want %s, %d", sd.Format, len(sd.Params), FormatTfjs, len(want))
	}
	for name, w := range want {
		g := sd.Params[name]
		if !slices.Equal(g.Shape, w.Shape) || !slices.Equal(g.Data, w.Data) {
			t.Errorf("%s = %v %v, want %v %v", name, g.Shape, g.Data, w.Shape, w.Data)
		}
	}
}

// TestTfjsMalformed: every malformed manifest or shard is an error naming
// the tensor or shard at fault.
func TestTfjsMalformed(t *testing.T) {
	good := le32(1, 2, 3, 4)
	for _, c := range []struct {
		name, manifest string
		shards         map[string][]byte
		want           []string
	}{
		{"missing shard", `[{"paths": ["w.bin"], "weights": [{"name": "k", "shape": [4], "dtype": "float32"}]}]`,
			nil, []string{"shard w.bin", "not exist"}},
		{"short shard", `[{"paths": ["w.bin"], "weights": [{"name": "k", "shape": [5], "dtype": "float32"}]}]`,
			map[string][]byte{"w.bin": good}, []string{"w.bin", "16 bytes", "need 20", `"k"`}},
		{"long shard", `[{"paths": ["w.bin"], "weights": [{"name": "k", "shape": [3], "dtype": "float32"}]}]`,
			map[string][]byte{"w.bin": good}, []string{"w.bin", "16 bytes", "need 12"}},
		{"unknown dtype", `[{"paths": ["w.bin"], "weights": [{"name": "k", "shape": [4], "dtype": "complex64"}]}]`,
			map[string][]byte{"w.bin": good}, []string{`tensor "k"`, `dtype "complex64"`}},
		{"int32 weights", `[{"paths": ["w.bin"], "weights": [{"name": "k", "shape": [4], "dtype": "int32"}]}]`,
			map[string][]byte{"w.bin": good}, []string{`tensor "k"`, `dtype "int32"`}},
		{"unknown quantization", `[{"paths": ["w.bin"], "weights": [{"name": "k", "shape": [4], "dtype": "float32", "quantization": {"dtype": "int4", "scale": 1, "min": 0}}]}]`,
			map[string][]byte{"w.bin": good}, []string{`tensor "k"`, `"int4"`}},
		{"quantization without scale", `[{"paths": ["w.bin"], "weights": [{"name": "k", "shape": [16], "dtype": "float32", "quantization": {"dtype": "uint8", "min": 0}}]}]`,
			map[string][]byte{"w.bin": good}, []string{`tensor "k"`, "without scale and min"}},
		{"negative dimension", `[{"paths": ["w.bin"], "weights": [{"name": "k", "shape": [-4], "dtype": "float32"}]}]`,
			map[string][]byte{"w.bin": good}, []string{`tensor "k"`, "negative"}},
		{"overflowing shape", `[{"paths": ["w.bin"], "weights": [{"name": "k", "shape": [4294967296, 4294967296, 4], "dtype": "float32"}]}]`,
			map[string][]byte{"w.bin": good}, []string{`tensor "k"`, "too many elements"}},
		{"no shape", `[{"paths": ["w.bin"], "weights": [{"name": "k", "dtype": "float32"}]}]`,
			map[string][]byte{"w.bin": good}, []string{`tensor "k"`, "no shape"}},
		{"duplicate name", `[{"paths": ["w.bin"], "weights": [{"name": "k", "shape": [2], "dtype": "float32"}, {"name": "k", "shape": [2], "dtype": "float32"}]}]`,
			map[string][]byte{"w.bin": good}, []string{`tensor "k"`, "twice"}},
		{"path leaves the folder", `[{"paths": ["../w.bin"], "weights": [{"name": "k", "shape": [4], "dtype": "float32"}]}]`,
			map[string][]byte{"../w.bin": good}, []string{`"../w.bin"`, "inside the manifest's folder"}},
		{"no paths", `[{"paths": [], "weights": [{"name": "k", "shape": [4], "dtype": "float32"}]}]`,
			nil, []string{"group 0", "no paths"}},
		{"not a manifest", `{"modelTopology": {}}`, nil, []string{"without weightsManifest"}},
		{"bad JSON", `[{"paths": 3}]`, nil, []string{"not a weights manifest"}},
		{"empty", `[]`, nil, []string{"no weights"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseTfjs([]byte(c.manifest), memShards(c.shards))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestTfjsLoad goes through Load's sniffing on disk: the manifest's path
// leads every error, and a binary checkpoint is not taken for a manifest.
func TestTfjsLoad(t *testing.T) {
	dir := t.TempDir()
	man := filepath.Join(dir, "m.json")
	write := func(p string, b []byte) {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(man, []byte(` [{"paths": ["w.bin"], "weights": [{"name": "k", "shape": [2, 2], "dtype": "float32"}]}]`))
	if _, err := Load(man); err == nil || !strings.Contains(err.Error(), man) || !strings.Contains(err.Error(), "shard w.bin") {
		t.Fatalf("missing shard: %v", err)
	}
	write(filepath.Join(dir, "w.bin"), le32(1, 2, 3, 4))
	sd, err := Load(man)
	if err != nil {
		t.Fatal(err)
	}
	if sd.Path != man || !slices.Equal(sd.Params["k"].Data, []float32{1, 2, 3, 4}) {
		t.Fatalf("loaded %+v", sd)
	}
	write(filepath.Join(dir, "w.bin"), le32(1, 2, 3))
	if _, err := Load(man); err == nil || !strings.Contains(err.Error(), man) || !strings.Contains(err.Error(), `"k"`) {
		t.Fatalf("short shard: %v", err)
	}
	if isTfjsManifest(bytes.NewReader([]byte("[\x80binary")), 8) {
		t.Fatal("invalid JSON taken for a manifest")
	}
}

// FuzzTfjs feeds arbitrary manifests and shard bytes to the loader: it must
// never panic, and what it accepts must be self-consistent.
func FuzzTfjs(f *testing.F) {
	f.Add([]byte(`[{"paths": ["w.bin"], "weights": [{"name": "k", "shape": [2, 2], "dtype": "float32"}]}]`), le32(1, 2, 3, 4))
	f.Add([]byte(`[{"paths": ["w.bin", "w.bin"], "weights": [{"name": "q", "shape": [4], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 0.1, "min": -1}}, {"name": "h", "shape": [1, 2], "dtype": "float32", "quantization": {"dtype": "float16"}}]}]`), []byte{1, 2, 3, 4})
	f.Add([]byte(`{"weightsManifest": [{"paths": ["w.bin"], "weights": [{"name": "s", "shape": [3], "dtype": "float32", "quantization": {"dtype": "uint16", "scale": 2, "min": 0}}]}]}`), []byte{1, 0, 2, 0, 3, 0})
	if b, err := os.ReadFile("../../../models/face-recognition/face_recognition_model-weights_manifest.json"); err == nil {
		f.Add(b, le32(0, 1))
	}
	f.Fuzz(func(t *testing.T, manifest, shard []byte) {
		if len(manifest) > 1<<16 || len(shard) > 1<<16 {
			t.Skip("bounded inputs")
		}
		sd, err := parseTfjs(manifest, memShards(map[string][]byte{"w.bin": shard}))
		if err != nil {
			return
		}
		total := 0
		for name, p := range sd.Params {
			n := 1
			for _, d := range p.Shape {
				n *= d
			}
			if n != len(p.Data) {
				t.Fatalf("%s: shape %v with %d values", name, p.Shape, len(p.Data))
			}
			total += n
		}
		if total > 4*len(shard)*max(1, strings.Count(string(manifest), "w.bin")) {
			t.Fatalf("%d values from %d shard bytes", total, len(shard))
		}
		if sd.Format != FormatTfjs {
			t.Fatalf("format %s", sd.Format)
		}
	})
}
