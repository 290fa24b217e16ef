package net

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// fixture is one testdata/net/<arch>.safetensors file written by gen.py.
type fixture struct {
	tensors map[string]Tensor
	meta    map[string]string
}

func (f *fixture) int(key string) int {
	v, err := strconv.Atoi(f.meta[key])
	if err != nil {
		panic(fmt.Sprintf("fixture metadata %q: %v", key, err))
	}
	return v
}

// params returns the fixture's state dict (param/ prefix removed).
func (f *fixture) params() map[string]Tensor {
	p := map[string]Tensor{}
	for name, t := range f.tensors {
		if rest, ok := strings.CutPrefix(name, "param/"); ok {
			p[rest] = t
		}
	}
	return p
}

// readFixture parses a float32-only safetensors file.
func readFixture(t testing.TB, arch string) *fixture {
	t.Helper()
	return readFixtureFile(t, filepath.Join("..", "..", "..", "testdata", "net", arch+".safetensors"))
}

// readFixtureFile parses the float32-only safetensors file at path.
func readFixtureFile(t testing.TB, path string) *fixture {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b)
	var header map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &header); err != nil {
		t.Fatal(err)
	}
	f := &fixture{tensors: map[string]Tensor{}}
	data := b[8+n:]
	for name, raw := range header {
		if name == "__metadata__" {
			if err := json.Unmarshal(raw, &f.meta); err != nil {
				t.Fatal(err)
			}
			continue
		}
		var e struct {
			Dtype   string
			Shape   []int
			Offsets [2]int `json:"data_offsets"`
		}
		if err := json.Unmarshal(raw, &e); err != nil || e.Dtype != "F32" {
			t.Fatalf("%s: %v (dtype %s)", name, err, e.Dtype)
		}
		v := make([]float32, (e.Offsets[1]-e.Offsets[0])/4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[e.Offsets[0]+4*i:]))
		}
		f.tensors[name] = Tensor{Shape: e.Shape, Data: v}
	}
	return f
}

// relErr is ‖got − want‖ / ‖want‖.
func relErr(got, want []float32) float64 {
	var d, n float64
	for i := range want {
		e := float64(got[i]) - float64(want[i])
		d += e * e
		n += float64(want[i]) * float64(want[i])
	}
	return math.Sqrt(d / n)
}

const parityTol = 1e-4

// torchvisionArchs are the architectures with PyTorch fixtures
// (testdata/net): all but dlib_resnet29, whose reference is tfjs's
// (dlib_test.go).
func torchvisionArchs() []string {
	return slices.DeleteFunc(Archs(), func(a string) bool { return a == "dlib_resnet29" })
}

// plainArchs are the architectures without residual blocks (VGG, AlexNet),
// those with the Lesioner's fast path.
func plainArchs() []string {
	var out []string
	for _, a := range torchvisionArchs() {
		if s, _ := Spec(a); s.Res == nil {
			out = append(out, a)
		}
	}
	return out
}

// TestParityWithPyTorch compares every tap of each architecture with
// PyTorch's activations on the same weights and images.
func TestParityWithPyTorch(t *testing.T) {
	for _, arch := range torchvisionArchs() {
		t.Run(arch, func(t *testing.T) {
			f := readFixture(t, arch)
			nt, err := New(arch, f.params())
			if err != nil {
				t.Fatal(err)
			}
			if nt.Classes() != f.int("classes") {
				t.Errorf("classes = %d, want %d", nt.Classes(), f.int("classes"))
			}
			n, h, w := f.int("batch"), f.int("height"), f.int("width")
			seen := 0
			err = nt.Forward(context.Background(), f.tensors["input"].Data, n, h, w, nt.Taps(), func(tap string, data []float32, c, hh, ww int) error {
				seen++
				ref := f.tensors["tap/"+tap]
				want := ref.Shape
				if len(want) == 2 {
					want = append(want, 1, 1)
				}
				if got := []int{n, c, hh, ww}; fmt.Sprint(got) != fmt.Sprint(want) {
					return fmt.Errorf("%s: shape %v, PyTorch %v", tap, got, ref.Shape)
				}
				e := relErr(data, ref.Data)
				t.Logf("%-7s %v rel. error %.2e", tap, ref.Shape, e)
				if !(e <= parityTol) {
					t.Errorf("%s: relative error %.3g > %g", tap, e, parityTol)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if seen != len(nt.Taps()) {
				t.Errorf("%d taps delivered, want %d", seen, len(nt.Taps()))
			}
		})
	}
}

// TestLesionMatchesPyTorch shows that zeroing a channel of the last conv
// tap after its ReLU and continuing with ForwardFrom (or the Lesioner)
// reproduces PyTorch's lesion, in which the channel's weights and bias are
// set to zero — and that with BatchNorm the conv-only lesion is different.
func TestLesionMatchesPyTorch(t *testing.T) {
	for _, arch := range plainArchs() {
		t.Run(arch, func(t *testing.T) {
			f := readFixture(t, arch)
			nt, err := New(arch, f.params())
			if err != nil {
				t.Fatal(err)
			}
			last := nt.Arch().Convs[len(nt.Arch().Convs)-1].Tap
			acts := f.tensors["tap/"+last]
			n, c, h, w := acts.Shape[0], acts.Shape[1], acts.Shape[2], acts.Shape[3]
			les, err := nt.NewLesioner(context.Background(), acts.Data, n, c, h, w)
			if err != nil {
				t.Fatal(err)
			}
			intact, err := les.Logits(context.Background(), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if e := relErr(intact, f.tensors["tap/logits"].Data); e > parityTol {
				t.Errorf("Lesioner intact logits: relative error %.3g", e)
			}
			for name, ref := range f.tensors {
				rest, ok := strings.CutPrefix(name, "lesion/")
				if !ok {
					continue
				}
				parts := strings.Split(rest, ".")
				k, _ := strconv.Atoi(parts[1])
				zeroed := append([]float32(nil), acts.Data...)
				for i := 0; i < n; i++ {
					clear(zeroed[(i*c+k)*h*w : (i*c+k+1)*h*w])
				}
				var got []float32
				err := nt.ForwardFrom(context.Background(), last, zeroed, n, c, h, w, []string{"logits"}, func(_ string, data []float32, _, _, _ int) error {
					got = append([]float32(nil), data...)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				fast, err := les.Logits(context.Background(), []int{k}, nil)
				if err != nil {
					t.Fatal(err)
				}
				eFull, eFast := relErr(got, ref.Data), relErr(fast, ref.Data)
				t.Logf("%s: ForwardFrom rel. error %.2e, Lesioner %.2e", rest, eFull, eFast)
				if strings.HasSuffix(rest, ".convonly") {
					// BatchNorm re-adds β − μ·γ/√(σ²+ε): not a lesion.
					if eFull < 1e-3 {
						t.Errorf("%s: conv-only lesion of a BN net unexpectedly equals the zeroed channel (%.2g)", rest, eFull)
					}
					continue
				}
				if eFull > parityTol || eFast > parityTol {
					t.Errorf("%s: relative error ForwardFrom %.3g, Lesioner %.3g > %g", rest, eFull, eFast, parityTol)
				}
			}
		})
	}
}
