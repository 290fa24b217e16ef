package aggregate

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"selectivity/cache/arrowfile"
	"selectivity/pipeline/pipelinetest"
	"selectivity/stages"
	"selectivity/stages/internal/data"
)

// The fixtures are numpy's answers, written by testdata/metric/gen.py:
// per image and channel the float64 mean, l2 norm and max of the spatial
// map, rounded to float32.
const fixturePath = "../../testdata/metric/fixtures.json"

type fixtures struct {
	Layers []struct {
		Name  string
		Shape []int
		Acts  [][]float64
	}
	Aggregate map[string]map[string][][]float64
}

func loadFixtures(t *testing.T) *fixtures {
	t.Helper()
	b, err := os.ReadFile(fixturePath)
	if err != nil {
		t.Fatal(err)
	}
	var fx fixtures
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	return &fx
}

// writeExtract writes the fixture's layers as an extract stage does, plus a
// stand-in images.arrow and a logits matrix that is not a layer.
func writeExtract(t *testing.T, fx *fixtures) stages.Input {
	return writeExtractCompressed(t, fx, arrowfile.Uncompressed, 7)
}

// writeExtractCompressed is writeExtract with the layers compressed by c
// in batches of batch rows.
func writeExtractCompressed(t *testing.T, fx *fixtures, c arrowfile.Compression, batch int) stages.Input {
	t.Helper()
	dir := t.TempDir()
	in := stages.Input{Stage: "extract@x", Dir: dir}
	for _, l := range fx.Layers {
		meta := map[string]string{"layer": l.Name, "level": "unit", "shape": arrowfile.FormatInts(l.Shape...), "net": "trained"}
		name := l.Name + ".arrow"
		if err := arrowfile.WriteMatrixCompressed(filepath.Join(dir, name), len(l.Acts), len(l.Acts[0]), batch, c, meta, func(r int, dst []float32) {
			for i, v := range l.Acts[r] {
				dst[i] = float32(v)
			}
		}); err != nil {
			t.Fatal(err)
		}
		in.Files = append(in.Files, name)
	}
	if err := arrowfile.WriteMatrix(filepath.Join(dir, "logits.arrow"), 3, 2, map[string]string{"level": "logits"}, func(int, []float32) {}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, data.ImagesFile), []byte("the image table"), 0o644); err != nil {
		t.Fatal(err)
	}
	in.Files = append(in.Files, "logits.arrow", data.ImagesFile)
	return in
}

func run(t *testing.T, in stages.Input, p *Params) (string, error) {
	t.Helper()
	out := t.TempDir()
	job := &stages.Job{Stage: "aggregate", Params: p, OutDir: out,
		Inputs: map[string][]stages.Input{"acts": {in}}, Progress: pipelinetest.Progress{}, Logf: t.Logf}
	return out, kind{}.Run(context.Background(), job)
}

// TestAgainstNumpy: every method gives numpy's float64 reduction rounded
// to float32, bit for bit, with the kernel-level metadata, from plain
// layer files in batches of 7 images and from ZSTD-compressed ones of one
// image per batch, as extract writes them.
func TestAgainstNumpy(t *testing.T) {
	fx := loadFixtures(t)
	for _, tc := range []struct {
		name string
		in   stages.Input
	}{{"plain", writeExtract(t, fx)}, {"zstd", writeExtractCompressed(t, fx, arrowfile.ZSTD, 1)}} {
		t.Run(tc.name, func(t *testing.T) { againstNumpy(t, fx, tc.in) })
	}
}

func againstNumpy(t *testing.T, fx *fixtures, in stages.Input) {
	for _, method := range data.Aggregations {
		t.Run(method, func(t *testing.T) {
			out, err := run(t, in, &Params{Method: method})
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(filepath.Join(out, data.ImagesFile)); string(b) != "the image table" {
				t.Errorf("images.arrow not copied: %q", b)
			}
			ents, _ := os.ReadDir(out)
			if len(ents) != len(fx.Layers)+1 {
				t.Errorf("%d outputs, want the layers and images.arrow (no logits)", len(ents))
			}
			for _, l := range fx.Layers {
				r, err := arrowfile.Open(filepath.Join(out, l.Name+".arrow"))
				if err != nil {
					t.Fatal(err)
				}
				want := fx.Aggregate[l.Name][method]
				if cols, _ := arrowfile.MatrixCols(r); cols != l.Shape[0] || int(r.NumRows()) != len(want) {
					t.Fatalf("%s: %d×%d, want %d×%d", l.Name, r.NumRows(), cols, len(want), l.Shape[0])
				}
				bad := 0
				if err := arrowfile.ReadMatrixRows(r, func(row int, vals []float32) error {
					for c, v := range vals {
						if w := float32(want[row][c]); math.Float32bits(v) != math.Float32bits(w) {
							if bad++; bad <= 3 {
								t.Errorf("%s image %d channel %d: %v, numpy %v", l.Name, row, c, v, w)
							}
						}
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				for k, v := range map[string]string{"level": "kernel", "aggregation": method, "layer": l.Name,
					"shape": arrowfile.FormatInts(l.Shape[0]), "unit_shape": arrowfile.FormatInts(l.Shape...), "net": "trained"} {
					if got, _ := arrowfile.Meta(r.Schema(), k); got != v {
						t.Errorf("%s: metadata %s = %q, want %q", l.Name, k, got, v)
					}
				}
				r.Close()
			}
		})
	}
}

func TestLayersParamAndErrors(t *testing.T) {
	fx := loadFixtures(t)
	in := writeExtract(t, fx)
	out, err := run(t, in, &Params{Method: "max", Layers: []string{"conv_b"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "conv_a.arrow")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("conv_a aggregated though only conv_b was asked for")
	}
	if _, err := run(t, in, &Params{Method: "max", Layers: []string{"conv5"}}); err == nil || !strings.Contains(err.Error(), `no layer "conv5"; layers: conv_a, conv_b`) {
		t.Errorf("unknown layer: %v", err)
	}
	noImages := in
	noImages.Files = slices.DeleteFunc(slices.Clone(in.Files), func(f string) bool { return f == data.ImagesFile })
	if _, err := run(t, noImages, &Params{Method: "l2"}); err == nil || !strings.Contains(err.Error(), "has no images.arrow") {
		t.Errorf("missing images.arrow: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	job := &stages.Job{Stage: "a", Params: &Params{Method: "l2"}, OutDir: t.TempDir(),
		Inputs: map[string][]stages.Input{"acts": {in}}, Progress: pipelinetest.Progress{}}
	if err := (kind{}).Run(ctx, job); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if errs := (&Params{Method: "l2", Layers: []string{"a", "b", "a"}}).Validate(); len(errs) != 1 || errs[0].Field != "layers[2]" {
		t.Errorf("duplicate layer: %v", errs)
	}
}
