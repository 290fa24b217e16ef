package study

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"selectivity/cache/arrowfile"
	"selectivity/pipeline/pipelinetest"
	"selectivity/stages"
	"selectivity/stages/internal/data"
	"selectivity/stages/internal/stats"
)

// TestAgainstReference runs every fixture case — defaults and each variant,
// unit level and kernel level (mean, l2, max) — in one chunk and in chunks
// of 7 items, and compares with numpy/scipy/statsmodels: values and
// p-values to 1e-9 relative (1e-12 absolute), selected sets identical,
// summary rows exact.
func TestAgainstReference(t *testing.T) {
	fx := loadFixtures(t)
	inputs := map[string]stages.Input{}
	for _, c := range fx.Cases {
		for _, v := range []struct {
			chunk  int
			mapped bool
			compr  arrowfile.Compression
		}{{0, false, ""}, {7, false, ""}, {7, true, ""}, {7, false, arrowfile.ZSTD}} {
			key := c.Input + "/" + string(v.compr)
			in, ok := inputs[key]
			if !ok {
				in = writeInputCompressed(t, fx, c.Input, v.compr)
				inputs[key] = in
			}
			name := fmt.Sprintf("%s/chunk%d", c.Name, v.chunk)
			if v.mapped {
				name += "-mapped"
			}
			if v.compr != "" {
				name += "-" + string(v.compr)
			}
			t.Run(name, func(t *testing.T) {
				p := params(t, c.Params)
				p.ChunkUnits = v.chunk
				readThroughMapping = v.mapped
				defer func() { readThroughMapping = false }()
				out, err := run(t, in, p)
				if err != nil {
					t.Fatal(err)
				}
				checkCase(t, out, c, p)
				if hidden, _ := filepath.Glob(filepath.Join(out, ".*")); len(hidden) > 0 {
					t.Errorf("decompressed copies left among the outputs: %v", hidden)
				}
			})
		}
	}
}

func checkCase(t *testing.T, out string, c fxCase, p *Params) {
	t.Helper()
	for name, want := range c.Layers {
		r := openTable(t, filepath.Join(out, name+".arrow"))
		if int(r.NumRows()) != want.Items {
			t.Fatalf("%s: %d rows, want %d", name, r.NumRows(), want.Items)
		}
		if items := column[int64](t, r, "item"); items[0] != 0 || items[len(items)-1] != int64(want.Items-1) {
			t.Errorf("%s: items %d…%d", name, items[0], items[len(items)-1])
		}
		cmp := func(col string, want []F) {
			if want == nil {
				if len(r.Schema().FieldIndices(col)) != 0 {
					t.Errorf("%s: column %s present but its metric was not asked for", name, col)
				}
				return
			}
			got := floats(t, r, col)
			bad := 0
			for i, w := range want {
				if !agree(got[i], float64(w)) {
					if bad < 3 {
						t.Errorf("%s item %d: %s = %v, reference %v", name, i, col, got[i], float64(w))
					}
					bad++
				}
			}
			if bad > 3 {
				t.Errorf("%s: %s: %d items disagree", name, col, bad)
			}
		}
		has := func(m string) bool { return slices.Contains(p.Metrics, m) }
		pick := func(m string, v []F) []F {
			if has(m) {
				return v
			}
			return nil
		}
		cmp("fsi", pick("fsi", want.FSI))
		cmp("dprime", pick("dprime", want.DPrime))
		cmp("wilcoxon_z", pick("wilcoxon", want.WZ))
		cmp("wilcoxon_p", pick("wilcoxon", want.WP))
		cmp("ttest_t", pick("ttest", want.TT))
		if has("ttest") {
			for _, g := range want.Groups {
				cmp("ttest_q_"+g, want.TQ[g])
			}
			got, _ := arrowfile.Meta(r.Schema(), "comparisons")
			if got != strings.Join(want.Groups, ",") {
				t.Errorf("%s: comparisons %q, want %v", name, got, want.Groups)
			}
		}
		for _, m := range data.Metrics {
			if !has(m) {
				continue
			}
			got := indices(column[bool](t, r, data.SelectedColumn(m)))
			if w := want.Selected[m]; !slices.Equal(got, w) {
				t.Errorf("%s: %s selects %v, reference %v", name, m, got, w)
			}
		}
		level := "unit"
		agg := ""
		if c.Input != "unit" {
			level, agg = "kernel", c.Input
		}
		for k, v := range map[string]string{"level": level, "aggregation": agg, "layer": name, "preferred": p.Preferred} {
			if got, _ := arrowfile.Meta(r.Schema(), k); got != v {
				t.Errorf("%s: metadata %s = %q, want %q", name, k, got, v)
			}
		}
	}

	s := openTable(t, filepath.Join(out, data.MetricSummaryFile))
	layer, lev, agg, met := column[string](t, s, "layer"), column[string](t, s, "level"), column[string](t, s, "aggregation"), column[string](t, s, "metric")
	items, sel, pct := column[int64](t, s, "items"), column[int64](t, s, "selected"), floats(t, s, "percent")
	if len(layer) != len(c.Summary) {
		t.Fatalf("summary: %d rows, want %d", len(layer), len(c.Summary))
	}
	for i, w := range c.Summary {
		if layer[i] != w.Layer || lev[i] != w.Level || agg[i] != w.Aggregation || met[i] != w.Metric ||
			items[i] != int64(w.Items) || sel[i] != int64(w.Selected) || pct[i] != float64(w.Percent) {
			t.Errorf("summary row %d: %s %s %q %s %d %d %v; want %+v", i, layer[i], lev[i], agg[i], met[i], items[i], sel[i], pct[i], w)
		}
	}
}

// TestChunkingChangesNothing: the output files are byte for byte the same
// whatever the chunk size (1, 7, 64 items or the default single chunk) and
// whether column blocks are read with pread or through the mapping, so the
// FDR correction and everything else see the whole layer.
func TestChunkingChangesNothing(t *testing.T) {
	fx := loadFixtures(t)
	in := writeInput(t, fx, "unit")
	var ref map[string][]byte
	for i, chunk := range []int{0, 1, 7, 64, 0, 5} {
		p := params(t, nil)
		p.ChunkUnits = chunk
		readThroughMapping = i >= 4
		out, err := run(t, in, p)
		readThroughMapping = false
		if err != nil {
			t.Fatal(err)
		}
		files := map[string][]byte{}
		for _, f := range []string{"conv_a.arrow", "conv_b.arrow", data.MetricSummaryFile} {
			b, err := os.ReadFile(filepath.Join(out, f))
			if err != nil {
				t.Fatal(err)
			}
			files[f] = b
		}
		if ref == nil {
			ref = files
			continue
		}
		for f, b := range files {
			if !bytes.Equal(b, ref[f]) {
				t.Errorf("chunk_units %d (mapped %v): %s differs from the single-chunk run", chunk, i >= 4, f)
			}
		}
	}
}

// TestFDRIsPerLayerNotPerChunk shows that the fixtures can tell the two
// apart: correcting each chunk of 7 items on its own would select other
// items than the reference for some case, while TestAgainstReference
// passes with chunks of 7.
func TestFDRIsPerLayerNotPerChunk(t *testing.T) {
	fx := loadFixtures(t)
	differs := 0
	for _, c := range fx.Cases {
		p := params(t, c.Params)
		if !slices.Contains(p.Metrics, "ttest") {
			continue
		}
		method := stats.BH
		if p.FDR == "by" {
			method = stats.BY
		}
		for name, l := range c.Layers {
			sel := make([]bool, l.Items)
			for i := range sel {
				sel[i] = l.TT[i] > 0
			}
			for _, g := range l.Groups {
				pv := fs(l.TP[g])
				for i0 := 0; i0 < len(pv); i0 += 7 {
					_, rej := stats.FDR(pv[i0:min(i0+7, len(pv))], p.Q, method)
					for k, ok := range rej {
						sel[i0+k] = sel[i0+k] && ok
					}
				}
			}
			if !slices.Equal(indices(sel), l.Selected["ttest"]) {
				differs++
				t.Logf("%s/%s: per-chunk FDR would select %d items, the layer-wide one %d", c.Name, name, len(indices(sel)), len(l.Selected["ttest"]))
			}
		}
	}
	if differs == 0 {
		t.Fatal("no fixture case distinguishes per-chunk from layer-wide FDR")
	}
}

// TestBadInputs: problems with the images or the layers are clear errors.
func TestBadInputs(t *testing.T) {
	fx := loadFixtures(t)
	in := writeInput(t, fx, "unit")
	expectErr := func(t *testing.T, in stages.Input, p *Params, want string) {
		t.Helper()
		_, err := run(t, in, p)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want one containing %q", err, want)
		}
	}
	t.Run("preferred absent", func(t *testing.T) {
		expectErr(t, in, params(t, map[string]any{"preferred": "animals"}), `preferred "animals" is neither a domain nor a category`)
	})
	t.Run("unknown layer", func(t *testing.T) {
		expectErr(t, in, params(t, map[string]any{"layers": []string{"conv9"}}), `no layer "conv9"; layers: conv_a, conv_b`)
	})
	t.Run("row count", func(t *testing.T) {
		bad := copyInput(t, in)
		im := fx.Images
		im.Path, im.Category, im.Domain, im.Identity, im.Image = im.Path[1:], im.Category[1:], im.Domain[1:], im.Identity[1:], im.Image[1:]
		writeImages(t, bad.Path("images.arrow"), im)
		expectErr(t, bad, params(t, nil), "has 56 rows but images.arrow lists 55 images")
	})
	t.Run("no images table", func(t *testing.T) {
		bad := in
		bad.Files = slices.DeleteFunc(slices.Clone(in.Files), func(f string) bool { return f == "images.arrow" })
		expectErr(t, bad, params(t, nil), "has no images.arrow")
	})
	t.Run("tiny group", func(t *testing.T) {
		bad := copyInput(t, in)
		im := fx.Images
		im.Category = slices.Clone(im.Category)
		i := slices.Index(im.Category, "corridor")
		im.Category[i] = "tunnel" // a category of one image
		writeImages(t, bad.Path("images.arrow"), im)
		expectErr(t, bad, params(t, map[string]any{"compare": "categories"}), `comparison group "tunnel" has 1 image`)
		// Other metrics do not need groups of two.
		if _, err := run(t, bad, params(t, map[string]any{"compare": "categories", "metrics": []string{"fsi", "wilcoxon"}})); err != nil {
			t.Error(err)
		}
	})
	t.Run("category in two domains", func(t *testing.T) {
		bad := copyInput(t, in)
		im := fx.Images
		im.Domain = slices.Clone(im.Domain)
		im.Domain[slices.Index(im.Category, "car")] = "places"
		writeImages(t, bad.Path("images.arrow"), im)
		expectErr(t, bad, params(t, nil), `category "car" is in two domains`)
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		job := &stages.Job{Stage: "m", Params: params(t, nil), OutDir: t.TempDir(),
			Inputs: map[string][]stages.Input{"acts": {in}}, Progress: pipelinetest.Progress{}}
		if err := Run(ctx, job); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled run: %v", err)
		}
	})
}

// copyInput copies an input folder so that a test can damage it.
func copyInput(t *testing.T, in stages.Input) stages.Input {
	t.Helper()
	dir := t.TempDir()
	for _, f := range in.Files {
		b, err := os.ReadFile(in.Path(f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	in.Dir = dir
	return in
}

func TestValidate(t *testing.T) {
	p := Defaults()
	if errs := p.Validate(); len(errs) != 0 {
		t.Fatalf("defaults: %v", errs)
	}
	p.Metrics = []string{"fsi", "fsi"}
	p.Preferred = ""
	p.Alpha = 0
	p.Q = 0
	p.Layers = []string{"a", "a"}
	var fields []string
	for _, e := range p.Validate() {
		fields = append(fields, e.Field)
	}
	want := []string{"metrics[1]", "layers[1]", "preferred", "alpha", "q"}
	if !slices.Equal(fields, want) {
		t.Errorf("problems with %v, want %v", fields, want)
	}
}

// TestReadsWithPread: on Linux the fixtures' layers are read with pread
// (the path TestAgainstReference checks), in design order.
func TestReadsWithPread(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("pread placement needs /proc/self/maps")
	}
	fx := loadFixtures(t)
	in := writeInput(t, fx, "unit")
	r, err := arrowfile.Open(in.Path("conv_a.arrow"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var rows [][]float32
	if err := arrowfile.ReadMatrixRows(r, func(_ int, v []float32) error { rows = append(rows, v); return nil }); err != nil {
		t.Fatal(err)
	}
	order := make([]int, len(rows))
	for i := range order {
		order[i] = len(rows) - 1 - i
	}
	src, err := newRowSource(r, order)
	if err != nil {
		t.Fatal(err)
	}
	defer src.close()
	if src.f == nil {
		t.Fatal("rows not placed in the file: reading through the mapping")
	}
	got := make([]float32, 5)
	for j := range order {
		if err := src.read(got, j, 100); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, rows[order[j]][100:105]) {
			t.Fatalf("position %d: pread %v, mapping %v", j, got, rows[order[j]][100:105])
		}
	}
}
