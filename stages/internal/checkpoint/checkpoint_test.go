package checkpoint

import (
	"encoding/json"
	"errors"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-multierror"
)

const fixtureDir = "../../../testdata/checkpoint"

// expected mirrors testdata/checkpoint/expected.json, written by gen.py.
type expected struct {
	Torch    string `json:"torch"`
	Fixtures map[string]struct {
		Format  string         `json:"format"`
		Wrapper string         `json:"wrapper"`
		Meta    map[string]any `json:"meta"`
	} `json:"fixtures"`
	Tensors map[string]struct {
		Shape []int     `json:"shape"`
		Data  []float64 `json:"data"`
	} `json:"tensors"`
	Other map[string]struct {
		DType string `json:"dtype"`
		Shape []int  `json:"shape"`
	} `json:"other"`
}

func readExpected(t *testing.T) *expected {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e expected
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	if len(e.Fixtures) == 0 || len(e.Tensors) == 0 {
		t.Fatal("expected.json lists no fixtures or tensors")
	}
	return &e
}

// TestFixtures loads every torch-written fixture and compares every tensor
// bit for bit with torch's float32 values.
func TestFixtures(t *testing.T) {
	exp := readExpected(t)
	for name, fx := range exp.Fixtures {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(fixtureDir, name)
			sd, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if sd.Path != path || string(sd.Format) != fx.Format || sd.Wrapper != fx.Wrapper {
				t.Errorf("path/format/wrapper = %q/%q/%q, want %q/%q/%q", sd.Path, sd.Format, sd.Wrapper, path, fx.Format, fx.Wrapper)
			}
			if got, want := sd.Names(), slices.Sorted(maps.Keys(exp.Tensors)); !slices.Equal(got, want) {
				t.Fatalf("names = %v\nwant %v", got, want)
			}
			for pname, want := range exp.Tensors {
				got := sd.Params[pname]
				if !slices.Equal(got.Shape, want.Shape) {
					t.Errorf("%s: shape %v, want %v", pname, got.Shape, want.Shape)
					continue
				}
				if len(got.Data) != len(want.Data) {
					t.Errorf("%s: %d values, want %d", pname, len(got.Data), len(want.Data))
					continue
				}
				for i, w := range want.Data {
					if math.Float32bits(got.Data[i]) != math.Float32bits(float32(w)) {
						t.Errorf("%s[%d] = %v, want %v", pname, i, got.Data[i], float32(w))
						break
					}
				}
			}
			if len(sd.Other) != len(exp.Other) {
				t.Errorf("other = %v, want %v", sd.Other, exp.Other)
			}
			for oname, want := range exp.Other {
				got, ok := sd.Other[oname]
				if !ok || got.DType != want.DType || !slices.Equal(got.Shape, want.Shape) {
					t.Errorf("other %s = %+v, want %+v", oname, got, want)
				}
			}
			if len(sd.Meta) != len(fx.Meta) {
				t.Errorf("meta = %v, want %v", sd.Meta, fx.Meta)
			}
			for k, want := range fx.Meta {
				got := sd.Meta[k]
				switch w := want.(type) {
				case float64:
					var g float64
					switch x := got.(type) {
					case int64:
						g = float64(x)
					case float64:
						g = x
					default:
						t.Errorf("meta %s = %T %v, want number %v", k, got, got, w)
						continue
					}
					if g != w {
						t.Errorf("meta %s = %v, want %v", k, g, w)
					}
				default:
					if got != want {
						t.Errorf("meta %s = %v, want %v", k, got, want)
					}
				}
			}
			if err := sd.Check(sd.shapes()); err != nil {
				t.Errorf("Check against own shapes: %v", err)
			}
		})
	}
}

// shapes returns the name→shape map of sd (test helper).
func (sd *StateDict) shapes() map[string][]int {
	m := map[string][]int{}
	for k, v := range sd.Params {
		m[k] = v.Shape
	}
	return m
}

func TestCheck(t *testing.T) {
	sd := &StateDict{Path: "x.pth", Params: map[string]Tensor{
		"a.weight": {Shape: []int{2, 3}},
		"b.weight": {Shape: []int{4}},
		"z.extra":  {Shape: []int{1}},
	}}
	if got := sd.Names(); !slices.Equal(got, []string{"a.weight", "b.weight", "z.extra"}) {
		t.Errorf("Names = %v", got)
	}
	err := sd.Check(map[string][]int{
		"a.weight": {2, 3},
		"b.weight": {4, 1},
		"c.bias":   {7},
	})
	var merr *multierror.Error
	if !errors.As(err, &merr) || len(merr.Errors) != 3 {
		t.Fatalf("Check = %v, want 3 errors", err)
	}
	msg := err.Error()
	for _, want := range []string{"x.pth", `missing parameter "c.bias"`, `parameter "b.weight" has shape [4], want [4 1]`, `unexpected parameter "z.extra"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("Check error lacks %q:\n%s", want, msg)
		}
	}
	if err := sd.Check(sd.shapes()); err != nil {
		t.Errorf("Check(own shapes) = %v", err)
	}
}

func TestHalfToFloat32(t *testing.T) {
	for _, c := range []struct {
		h uint16
		f float32
	}{
		{0x0000, 0}, {0x3c00, 1}, {0xc000, -2}, {0x7bff, 65504},
		{0x0001, 5.960464477539063e-08}, {0x03ff, 6.097555160522461e-05}, {0x0400, 6.103515625e-05},
		{0x7c00, float32(math.Inf(1))}, {0xfc00, float32(math.Inf(-1))},
	} {
		if got := halfToFloat32(c.h); got != c.f {
			t.Errorf("halfToFloat32(%#04x) = %v, want %v", c.h, got, c.f)
		}
	}
	if got := halfToFloat32(0x7e00); !math.IsNaN(float64(got)) {
		t.Errorf("halfToFloat32(NaN) = %v", got)
	}
	if got := halfToFloat32(0x8000); math.Float32bits(got) != 0x80000000 {
		t.Errorf("halfToFloat32(-0) = %v", got)
	}
}
