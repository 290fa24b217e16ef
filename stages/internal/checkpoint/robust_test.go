package checkpoint

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime/metrics"
	"strings"
	"testing"
)

// allocLimit is how much a load may allocate for an input of n bytes: a
// constant factor (the unpickler spends up to a few hundred bytes on some
// one-byte opcodes) plus slack; never anything driven by a declared size.
func allocLimit(n int) uint64 { return 512*uint64(n) + 8<<20 }

// allocated reports the bytes allocated (process-wide, cumulative) while f
// runs. runtime/metrics is used instead of ReadMemStats because it does not
// stop the world, which keeps the fuzzer fast.
func allocated(f func()) uint64 {
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(sample)
	before := sample[0].Value.Uint64()
	f()
	metrics.Read(sample)
	return sample[0].Value.Uint64() - before
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadBad loads data from a temporary file, expecting an error that names
// the file and contains every one of subs, within the allocation limit.
func loadBad(t *testing.T, name string, data []byte, subs ...string) {
	t.Helper()
	path := writeTemp(t, name, data)
	var err error
	alloc := allocated(func() { _, err = Load(path) })
	if err == nil {
		t.Fatalf("Load(%s) succeeded, want an error containing %q", name, subs)
	}
	msg := err.Error()
	if !strings.Contains(msg, path) {
		t.Errorf("error does not name the file %s: %v", path, msg)
	}
	for _, s := range subs {
		if !strings.Contains(msg, s) {
			t.Errorf("error lacks %q: %v", s, msg)
		}
	}
	if alloc > allocLimit(len(data)) {
		t.Errorf("allocated %d bytes for a %d-byte input", alloc, len(data))
	}
}

func loadGood(t *testing.T, name string, data []byte) *StateDict {
	t.Helper()
	path := writeTemp(t, name, data)
	var sd *StateDict
	var err error
	alloc := allocated(func() { sd, err = Load(path) })
	if err != nil {
		t.Fatalf("Load(%s): %v", name, err)
	}
	if alloc > allocLimit(len(data)) {
		t.Errorf("allocated %d bytes for a %d-byte input", alloc, len(data))
	}
	return sd
}

var w9 = fakeTensor{name: "w", key: "0", numel: 9, shape: []int64{3, 3}}

func TestForgedZip(t *testing.T) {
	good := zipCheckpoint(stateDictPickle([]fakeTensor{w9}, false, nil), map[string][]byte{"0": f32(9)})
	sd := loadGood(t, "good.pt", good)
	if got := sd.Params["w"].Data; len(got) != 9 || got[8] != 8 {
		t.Fatalf("w = %v", got)
	}

	// Transposed view with a storage offset: element (i, j) = storage[2 + i + 3j].
	tr := fakeTensor{name: "t", key: "0", numel: 9, offset: 2, shape: []int64{2, 2}, stride: []int64{1, 3}}
	sd = loadGood(t, "view.pt", zipCheckpoint(stateDictPickle([]fakeTensor{tr}, false, nil), map[string][]byte{"0": f32(9)}))
	if got := sd.Params["t"].Data; len(got) != 4 || got[0] != 2 || got[1] != 5 || got[2] != 3 || got[3] != 6 {
		t.Fatalf("t = %v, want [2 5 3 6]", got)
	}

	cases := []struct {
		name string
		ts   []fakeTensor
		st   map[string][]byte
		subs []string
	}{
		{"missing entry", []fakeTensor{w9}, nil, []string{`parameter "w"`, "archive/data/0 is missing"}},
		{"storage too small for shape", []fakeTensor{{name: "w", key: "0", numel: 4, shape: []int64{3, 3}}},
			map[string][]byte{"0": f32(4)}, []string{`parameter "w"`, "needs 9 elements", "declares only 4"}},
		{"storage too small for stride", []fakeTensor{{name: "w", key: "0", numel: 9, shape: []int64{3, 3}, stride: []int64{4, 1}}},
			map[string][]byte{"0": f32(9)}, []string{`parameter "w"`, "needs 11 elements"}},
		{"offset past storage", []fakeTensor{{name: "w", key: "0", numel: 9, offset: 5, shape: []int64{3, 3}}},
			map[string][]byte{"0": f32(9)}, []string{`parameter "w"`, "at offset 5 needs 14"}},
		{"more elements than file", []fakeTensor{{name: "w", key: "0", numel: 1 << 40, shape: []int64{1 << 40}}},
			map[string][]byte{"0": f32(4)}, []string{`parameter "w"`, "holds only 16 bytes"}},
		{"broadcast stride 0", []fakeTensor{{name: "w", key: "0", numel: 1, shape: []int64{1e9}, stride: []int64{0}}},
			map[string][]byte{"0": f32(1)}, []string{`parameter "w"`, "declares 1000000000 elements", "holds only 1"}},
		{"shape overflow", []fakeTensor{{name: "w", key: "0", numel: 4, shape: []int64{1 << 40, 1 << 40}}},
			map[string][]byte{"0": f32(4)}, []string{`parameter "w"`, "too many elements"}},
		{"stride overflow", []fakeTensor{{name: "w", key: "0", numel: 4, shape: []int64{2, 2}, stride: []int64{1 << 62, 1}}},
			map[string][]byte{"0": f32(4)}, []string{`parameter "w"`, "spans too many"}},
		{"negative dim", []fakeTensor{{name: "w", key: "0", numel: 4, shape: []int64{-2, 2}}},
			map[string][]byte{"0": f32(4)}, []string{`parameter "w"`, "negative dimension"}},
		{"negative stride", []fakeTensor{{name: "w", key: "0", numel: 4, shape: []int64{2, 2}, stride: []int64{-1, 1}}},
			map[string][]byte{"0": f32(4)}, []string{`parameter "w"`, "negative stride"}},
		{"rank mismatch", []fakeTensor{{name: "w", key: "0", numel: 4, shape: []int64{2, 2}, stride: []int64{1}}},
			map[string][]byte{"0": f32(4)}, []string{`parameter "w"`, "differ in rank"}},
		{"unknown storage in optimizer", []fakeTensor{w9, {name: "opt", key: "9", numel: 3, shape: []int64{3}}},
			map[string][]byte{"0": f32(9)}, []string{`parameter "opt"`, "archive/data/9 is missing"}},
		{"prefix duplicate", []fakeTensor{w9, {name: "module.w", key: "0", numel: 9, shape: []int64{9}}},
			map[string][]byte{"0": f32(9)}, []string{`"w" appears twice`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			loadBad(t, "bad.pt", zipCheckpoint(stateDictPickle(c.ts, false, nil), c.st), c.subs...)
		})
	}

	// A storage only the optimizer uses is missing: still a damaged file.
	wrapped := newPickle().op('}', '(').str("state_dict").op('}', '(').str("w").tensor(w9, false).op('u')
	wrapped.str("optimizer").tensor(fakeTensor{key: "7", numel: 2, shape: []int64{2}}, false).op('u')
	loadBad(t, "opt.pth.tar", zipCheckpoint(wrapped.stop(), map[string][]byte{"0": f32(9)}), `storage "7" (outside the state dict)`, "missing")

	// Many views of one storage must not multiply into a huge allocation.
	var many []fakeTensor
	for i := range 3000 {
		many = append(many, fakeTensor{name: "w" + string(rune('a'+i%26)) + strings.Repeat("x", i/26), key: "0", numel: 1 << 16, shape: []int64{1 << 16}})
	}
	loadBad(t, "alias.pt", zipCheckpoint(stateDictPickle(many, false, nil), map[string][]byte{"0": f32(1 << 16)}), `parameter "`, "allocation budget")

	t.Run("not a state dict", func(t *testing.T) {
		loadBad(t, "list.pt", zipCheckpoint(newPickle().op(']').stop(), nil), "top-level object is a list")
		loadBad(t, "module.pt", zipCheckpoint(newPickle().op('}').str("model").global("torchvision.models.vgg", "VGG").op(')', 0x81, 's').stop(), nil),
			`entry "model" is an instance of torchvision.models.vgg.VGG, not a state dict`)
		loadBad(t, "nodict.pt", zipCheckpoint(newPickle().op('}').str("epoch").int(3).op('s').stop(), nil), "no state dict found", `"epoch"`)
		loadBad(t, "nopkl.pt", zipFile([]string{"a/b.txt"}, map[string][]byte{"a/b.txt": []byte("x")}), "no data.pkl")
		loadBad(t, "intkey.pt", zipCheckpoint(newPickle().op('}').int(1).tensor(w9, false).op('s').stop(), map[string][]byte{"0": f32(9)}), "key is an int")
	})
}

func TestForgedLegacy(t *testing.T) {
	pkl := stateDictPickle([]fakeTensor{w9}, true, nil)
	good := legacyCheckpoint(pkl, []legacyStorage{{"0", 9, f32(9)}})
	if sd := loadGood(t, "good.pth", good); len(sd.Params["w"].Data) != 9 {
		t.Fatal("w not loaded")
	}
	loadBad(t, "trunc.pth", good[:len(good)-5], `parameter "w"`, "truncated")
	loadBad(t, "huge.pth", legacyCheckpoint(pkl, []legacyStorage{{"0", 1 << 60, f32(9)}}), `parameter "w"`, "truncated", "1152921504606846976 elements")
	loadBad(t, "short.pth", legacyCheckpoint(pkl, []legacyStorage{{"0", 4, f32(4)}}), `parameter "w"`, "holds only 16 bytes")
	loadBad(t, "unlisted.pth", legacyCheckpoint(pkl, nil), `parameter "w"`, "missing from the storage key list")
	loadBad(t, "stray.pth", legacyCheckpoint(pkl, []legacyStorage{{"0", 9, f32(9)}, {"5", 1, f32(1)}}), `storage "5" is listed but`)
	loadBad(t, "dup.pth", legacyCheckpoint(pkl, []legacyStorage{{"0", 9, f32(9)}, {"0", 9, f32(9)}}), "listed twice")
	loadBad(t, "plain.pkl", newPickle().op('}').stop(), "magic number")
	loadBad(t, "cut-pickle.pth", good[:60], "truncated")
}

func TestPickleBombs(t *testing.T) {
	sdPickle := func(extra func(p *pk)) []byte {
		p := newPickle().op('}', '(').str("state_dict").op('}', '(').str("w").tensor(w9, false).op('u')
		extra(p)
		return p.op('u').stop()
	}
	st := map[string][]byte{"0": f32(9)}

	// Harmless bombs beside the state dict: loading must succeed quickly
	// without traversing them.
	laughs := func(p *pk) {
		p.str("optimizer").op(']', 'r', 0, 1, 0, 0) // memo 256
		for i := range 100 {
			p.op(']', '(', 'j').b = binary.LittleEndian.AppendUint32(p.b, uint32(256+i))
			p.op('j').b = binary.LittleEndian.AppendUint32(p.b, uint32(256+i))
			p.op('e', 'r').b = binary.LittleEndian.AppendUint32(p.b, uint32(257+i))
		}
	}
	cyclic := func(p *pk) { p.str("cycle").op(']', 'q', 9, 'h', 9, 'a') }
	unknown := func(p *pk) {
		p.str("args").global("argparse", "Namespace").op(')', 0x81, '}').str("lr").op('G', 0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a, 's', 'b')
		p.str("fn").global("functools", "partial").str("echo hi").op(0x85, 'R')
	}
	for name, extra := range map[string]func(*pk){"laughs": laughs, "cyclic": cyclic, "unknown": unknown} {
		t.Run(name, func(t *testing.T) {
			sd := loadGood(t, name+".pth.tar", zipCheckpoint(sdPickle(extra), st))
			if len(sd.Params) != 1 {
				t.Errorf("params = %v", sd.Names())
			}
		})
	}

	bad := []struct {
		name   string
		pickle []byte
		subs   []string
	}{
		{"mark flood", append(append([]byte{0x80, 2}, bytes.Repeat([]byte{'('}, 3<<20)...), '.'), []string{"pickle bomb"}},
		{"huge unicode", binary.LittleEndian.AppendUint64([]byte{0x80, 2, 0x8d}, 1<<60), []string{"declares a 1152921504606846976-byte argument"}},
		{"huge bytes", binary.LittleEndian.AppendUint64([]byte{0x80, 2, 0x8e}, 1<<40), []string{"only 0 bytes remain"}},
		{"huge frame", binary.LittleEndian.AppendUint64([]byte{0x80, 4, 0x95}, 1<<62), []string{"frame"}},
		{"huge long4", append(binary.LittleEndian.AppendUint32([]byte{0x80, 2, 0x8b}, 1<<20), make([]byte, 1<<20)...), []string{"LONG4"}},
		{"long text int", append(append([]byte{0x80, 2, 'L'}, bytes.Repeat([]byte{'9'}, 100000)...), '\n', '.'), []string{"longer than 4096"}},
		{"bad opcode", []byte{0x80, 2, 0xff, '.'}, []string{"invalid pickle opcode 0xff"}},
		{"no stop", []byte{0x80, 2, '}'}, []string{"no STOP"}},
		{"empty long1", []byte{0x80, 2, 0x8a, 0, '.'}, []string{"empty LONG1"}},
		{"unhashable key", newPickle().global("collections", "OrderedDict").op(')', 'R', 'C', 1, 'x', 'K', 1, 's').stop(), []string{"malformed pickle"}},
		{"stack underflow", []byte{0x80, 2, 'R', '.'}, []string{"malformed pickle"}},
		{"extension", []byte{0x80, 2, 0x82, 1, '.'}, []string{"extension"}},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			loadBad(t, "bomb.pt", zipCheckpoint(c.pickle, nil), c.subs...)
		})
	}
}

func TestForgedSafetensors(t *testing.T) {
	ent := func(dtype string, shape []int64, begin, end int64) map[string]any {
		return map[string]any{"dtype": dtype, "shape": shape, "data_offsets": []int64{begin, end}}
	}
	good := safetensorsFile(map[string]any{"a": ent("F32", []int64{2, 2}, 0, 16), "n": ent("I64", nil, 16, 24)}, append(f32(4), make([]byte, 8)...))
	sd := loadGood(t, "good.safetensors", good)
	if len(sd.Params["a"].Data) != 4 || sd.Other["n"].DType != "int64" {
		t.Fatalf("loaded %+v", sd)
	}
	loadBad(t, "absurd.safetensors", binary.LittleEndian.AppendUint64(nil, 1<<62), "not a checkpoint")
	loadBad(t, "absurd2.safetensors", append(binary.LittleEndian.AppendUint64(nil, 1<<62), "{}"...), "header length 4611686018427387904 exceeds the 2 bytes")
	loadBad(t, "json.safetensors", append(binary.LittleEndian.AppendUint64(nil, 4), "{xx}"...), "malformed JSON")
	loadBad(t, "trunc.safetensors", good[:len(good)-1], `parameter "n"`, "outside the 23-byte data buffer")
	loadBad(t, "size.safetensors", safetensorsFile(map[string]any{"a": ent("F32", []int64{3, 2}, 0, 16)}, f32(4)), `parameter "a"`, "needs 24 bytes")
	loadBad(t, "overlap.safetensors", safetensorsFile(map[string]any{"a": ent("F32", []int64{4}, 0, 16), "b": ent("F32", []int64{2}, 8, 16)}, f32(4)), "overlap")
	loadBad(t, "neg.safetensors", safetensorsFile(map[string]any{"a": ent("F32", []int64{-4}, 0, 16)}, f32(4)), `parameter "a"`, "negative dimension")
	loadBad(t, "overflow.safetensors", safetensorsFile(map[string]any{"a": ent("F32", []int64{1 << 40, 1 << 40}, 0, 16)}, f32(4)), `parameter "a"`, "too many elements")
	loadBad(t, "offsets.safetensors", safetensorsFile(map[string]any{"a": ent("F32", []int64{4}, 16, 0)}, f32(4)), `parameter "a"`, "outside")
	loadBad(t, "empty.safetensors", safetensorsFile(map[string]any{}, nil), "no tensors")
}

func TestNotCheckpoint(t *testing.T) {
	loadBad(t, "hello.pth", []byte("hello, world\n"), "not a checkpoint")
	loadBad(t, "empty.pth", nil, "empty file")
	loadBad(t, "zip.pth", []byte("PK\x03\x04garbage"), "corrupt or truncated zip")
	tar := make([]byte, 1024)
	copy(tar[257:], "ustar")
	loadBad(t, "old.tar", tar, "tar-based")
	dir := t.TempDir()
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("Load(dir) = %v", err)
	}
	missing := filepath.Join(dir, "nope.pth")
	if _, err := Load(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("Load(missing) = %v", err)
	}
}

// TestTruncatedFixtures cuts every reference checkpoint at many points:
// each prefix must fail cleanly with an error naming the file.
func TestTruncatedFixtures(t *testing.T) {
	exp := readExpected(t)
	for name := range exp.Fixtures {
		data, err := os.ReadFile(filepath.Join(fixtureDir, name))
		if err != nil {
			t.Fatal(err)
		}
		path := writeTemp(t, name, nil)
		step := max(1, len(data)/150)
		for cut := 0; cut < len(data); cut += step {
			checkCut(t, path, data, cut)
		}
		for cut := max(0, len(data)-16); cut < len(data); cut++ {
			checkCut(t, path, data, cut)
		}
	}
}

func checkCut(t *testing.T, path string, data []byte, cut int) {
	t.Helper()
	if err := os.WriteFile(path, data[:cut], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil {
		t.Errorf("%s cut at %d of %d bytes loaded without error", filepath.Base(path), cut, len(data))
	} else if !strings.Contains(err.Error(), path) {
		t.Errorf("error does not name the file: %v", err)
	}
}

// TestMissingZipEntry drops each storage entry of a real torch archive.
func TestMissingZipEntry(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(fixtureDir, "train_zip.pth.tar"))
	if err != nil {
		t.Fatal(err)
	}
	names, entries := readZip(t, data)
	for _, drop := range names {
		if !strings.Contains(drop, "/data/") {
			continue
		}
		var keep []string
		for _, n := range names {
			if n != drop {
				keep = append(keep, n)
			}
		}
		loadBad(t, "drop.pth.tar", zipFile(keep, entries), drop+" is missing", "storage")
	}
	// Without data.pkl it is not a checkpoint at all.
	var keep []string
	for _, n := range names {
		if !strings.HasSuffix(n, "data.pkl") {
			keep = append(keep, n)
		}
	}
	loadBad(t, "nopkl.pth.tar", zipFile(keep, entries), "no data.pkl")
}
