package checkpoint

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the loader — as a whole file and, since
// zip CRCs would reject nearly every mutated pickle, also as the data.pkl of
// a well-formed torch zip archive. Loading must never panic, must stay within
// allocLimit, and anything it accepts must be self-consistent.
func FuzzLoad(f *testing.F) {
	entries, err := os.ReadDir(fixtureDir)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		switch filepath.Ext(e.Name()) {
		case ".pt", ".pth", ".tar", ".safetensors":
			b, err := os.ReadFile(filepath.Join(fixtureDir, e.Name()))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
			if b[0] == 'P' { // seed the pickle of zip fixtures for the wrapped path
				names, files := readZip(f, b)
				for _, n := range names {
					if filepath.Base(n) == "data.pkl" {
						f.Add(files[n])
					}
				}
			}
		}
	}
	pkl := stateDictPickle([]fakeTensor{w9, {name: "t", key: "0", numel: 9, offset: 1, shape: []int64{2, 2}, stride: []int64{1, 3}}}, true, nil)
	f.Add(legacyCheckpoint(pkl, []legacyStorage{{"0", 9, f32(9)}}))
	f.Add(stateDictPickle([]fakeTensor{w9}, false, nil))
	f.Add(safetensorsFile(map[string]any{
		"a": map[string]any{"dtype": "F16", "shape": []int{2}, "data_offsets": []int{0, 4}},
		"b": map[string]any{"dtype": "BF16", "shape": []int{1, 2}, "data_offsets": []int{4, 8}},
	}, make([]byte, 8)))
	f.Add(binary.LittleEndian.AppendUint64([]byte{0x80, 4, 0x95}, 1<<62))

	f.Fuzz(func(t *testing.T, data []byte) {
		check(t, data)
		if !bytes.HasPrefix(data, []byte("PK")) {
			check(t, zipCheckpoint(data, map[string][]byte{"0": f32(16), "1": f32(4)}))
		}
	})
}

func check(t *testing.T, data []byte) {
	var sd *StateDict
	var err error
	alloc := allocated(func() { sd, err = load(bytes.NewReader(data), int64(len(data))) })
	if alloc > allocLimit(len(data)) {
		t.Fatalf("allocated %d bytes for a %d-byte input (err %v)", alloc, len(data), err)
	}
	if err != nil {
		return
	}
	for name, p := range sd.Params {
		n := 1
		for _, d := range p.Shape {
			if d < 0 {
				t.Fatalf("%s: negative dimension in %v", name, p.Shape)
			}
			n *= d
		}
		if n != len(p.Data) {
			t.Fatalf("%s: shape %v but %d values", name, p.Shape, len(p.Data))
		}
	}
}
