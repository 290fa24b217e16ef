package checkpoint

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestWriteSafetensorsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	params := map[string]Tensor{
		"features.0.weight": {Shape: []int{2, 1, 1, 2}, Data: []float32{1, -2, 3.5, 0}},
		"features.0.bias":   {Shape: []int{2}, Data: []float32{0.25, -0.125}},
		"scalar":            {Shape: []int{}, Data: []float32{7}},
	}
	names := []string{"features.0.weight", "features.0.bias", "scalar"}
	meta := map[string]string{"epoch": "3", "class_names": `["a","b"]`}
	path := filepath.Join(dir, "w.safetensors")
	if err := WriteSafetensors(path, names, params, meta); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	hlen := binary.LittleEndian.Uint64(b[:8])
	if hlen%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", hlen)
	}
	wantHeader := `{"__metadata__":{"class_names":"[\"a\",\"b\"]","epoch":"3"},` +
		`"features.0.bias":{"dtype":"F32","shape":[2],"data_offsets":[16,24]},` +
		`"features.0.weight":{"dtype":"F32","shape":[2,1,1,2],"data_offsets":[0,16]},` +
		`"scalar":{"dtype":"F32","shape":[],"data_offsets":[24,28]}}`
	if got := strings.TrimRight(string(b[8:8+hlen]), " "); got != wantHeader {
		t.Errorf("header\n%s\nwant\n%s", got, wantHeader)
	}
	if got, want := len(b), 8+int(hlen)+28; got != want {
		t.Errorf("file has %d bytes, want %d", got, want)
	}
	sd, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if sd.Format != FormatSafetensors || sd.Meta["epoch"] != "3" || sd.Meta["class_names"] != `["a","b"]` {
		t.Errorf("format %s, meta %v", sd.Format, sd.Meta)
	}
	for _, n := range names {
		got := sd.Params[n]
		if !slices.Equal(got.Data, params[n].Data) || !slices.Equal(got.Shape, params[n].Shape) {
			t.Errorf("%s: got %v %v, want %v %v", n, got.Shape, got.Data, params[n].Shape, params[n].Data)
		}
	}
	// Same arguments, same bytes.
	path2 := filepath.Join(dir, "w2.safetensors")
	if err := WriteSafetensors(path2, names, params, meta); err != nil {
		t.Fatal(err)
	}
	if b2, _ := os.ReadFile(path2); !bytes.Equal(b, b2) {
		t.Error("two writes of the same tensors differ")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestWriteSafetensorsErrors(t *testing.T) {
	dir := t.TempDir()
	p := map[string]Tensor{"a": {Shape: []int{2}, Data: []float32{1}}}
	for _, tc := range []struct {
		names []string
		meta  map[string]string
		want  string
	}{
		{[]string{"a"}, nil, `"a" has 1 values for shape [2]`},
		{[]string{"b"}, nil, `no tensor "b"`},
		{[]string{"__metadata__"}, nil, "reserved or repeated"},
		{nil, map[string]string{"x": strings.Repeat("y", SafetensorsMetaLimit)}, "metadata exceed"},
	} {
		path := filepath.Join(dir, "bad.safetensors")
		err := WriteSafetensors(path, tc.names, p, tc.meta)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.names, err, tc.want)
		}
		if _, serr := os.Stat(path); serr == nil {
			t.Errorf("%v: %s written despite the error", tc.names, path)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("files left after failed writes: %v", left)
	}
}
