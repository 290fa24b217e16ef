package extract

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"selectivity/cache/arrowfile"
	"selectivity/pipeline/pipelinetest"
	"selectivity/stages"
	"selectivity/stages/internal/checkpoint"
	"selectivity/stages/internal/data"
	_ "selectivity/stages/model"
)

// fixtures is testdata/extract (see gen.py there).
var fixtures = filepath.Join("..", "..", "testdata", "extract")

func init() { stages.Register(testPixels{}) }

// testPixelsParams: either ref (a gen.py reference file whose pixels are
// used) or n random images of channels×size×size from seed.
type testPixelsParams struct {
	Ref      stages.Path `yaml:"ref"`
	N        int         `yaml:"n"`
	Size     int         `yaml:"size"`
	Channels int         `yaml:"channels"`
	Seed     uint64      `yaml:"seed"`
}

// testPixels writes images.arrow and pixels.arrow in the stimuli stage's
// format (tests only).
type testPixels struct{}

func (testPixels) Name() string          { return "extract-test-pixels" }
func (testPixels) Version() string       { return "1" }
func (testPixels) Doc() string           { return "stimuli-format pixels from a fixture or a seed (tests only)" }
func (testPixels) NewParams() any        { return &testPixelsParams{N: 5, Size: 32, Channels: 3, Seed: 1} }
func (testPixels) Inputs() []stages.Slot { return nil }

func (testPixels) Run(ctx context.Context, job *stages.Job) error {
	p := job.Params.(*testPixelsParams)
	var pix []uint8
	n, c, s := p.N, p.Channels, p.Size
	if p.Ref != "" {
		sd, err := checkpoint.Load(string(p.Ref))
		if err != nil {
			return err
		}
		t := sd.Params["pixels"]
		n, c, s = t.Shape[0], t.Shape[1], t.Shape[2]
		pix = make([]uint8, len(t.Data))
		for i, v := range t.Data {
			pix[i] = uint8(v)
		}
	} else {
		rng := rand.New(rand.NewPCG(p.Seed, 7))
		pix = make([]uint8, n*c*s*s)
		for i := range pix {
			pix[i] = uint8(rng.IntN(256))
		}
	}
	return writeStimuli(job.OutDir, pix, n, c, s, 2)
}

// writeStimuli writes images.arrow and pixels.arrow (batchRows rows per
// record batch, so that batches straddle records) into dir.
func writeStimuli(dir string, pix []uint8, n, c, s, batchRows int) error {
	rowLen := c * s * s
	typ := arrow.FixedSizeListOfNonNullable(int32(rowLen), arrow.PrimitiveTypes.Uint8)
	schema := arrowfile.NewSchema([]arrow.Field{{Name: "pixels", Type: typ}}, map[string]string{
		"shape": arrowfile.FormatInts(c, s, s), "normalize": "half", "mean": "0.5,0.5,0.5", "std": "0.5,0.5,0.5",
	})
	w, err := arrowfile.Create(filepath.Join(dir, data.PixelsFile), schema)
	if err != nil {
		return err
	}
	for first := 0; first < n; first += batchRows {
		k := min(batchRows, n-first)
		child := array.NewData(arrow.PrimitiveTypes.Uint8, k*rowLen,
			[]*memory.Buffer{nil, memory.NewBufferBytes(pix[first*rowLen : (first+k)*rowLen])}, nil, 0, 0)
		list := array.NewData(typ, k, []*memory.Buffer{nil}, []arrow.ArrayData{child}, 0, 0)
		col := array.MakeFromData(list)
		rec := array.NewRecordBatch(schema, []arrow.Array{col}, int64(k))
		if err := w.Write(rec); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	tab := &data.Table{Source: "test"}
	for i := range n {
		tab.Path = append(tab.Path, fmt.Sprintf("test/img-%d.png", i+1))
		tab.Category = append(tab.Category, "adult")
		tab.Domain = append(tab.Domain, "faces")
		tab.Identity = append(tab.Identity, "")
		tab.Image = append(tab.Image, i+1)
	}
	return data.WriteImages(filepath.Join(dir, data.ImagesFile), tab, nil)
}

// runExperiment writes text as an experiment in a temporary folder, runs
// it one stage at a time and returns each stage's cache folder; the error
// is the load's or the run's.
func runExperiment(t *testing.T, text string) (map[string]string, error) {
	t.Helper()
	res, err := pipelinetest.Run(t, pipelinetest.Experiment(t, text), pipelinetest.Options{Jobs: 1})
	if res == nil {
		return nil, err
	}
	return res.Dirs, err
}

// abs is a fixture's absolute path, for experiment files in temp folders.
func abs(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// readMatrix reads an extract output: its values (copied), shape and
// metadata.
func readMatrix(t *testing.T, path string) ([]float32, int, map[string]string) {
	t.Helper()
	r, err := arrowfile.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cols, err := arrowfile.MatrixCols(r)
	if err != nil {
		t.Fatal(err)
	}
	var vals []float32
	if err := arrowfile.ReadMatrixRows(r, func(_ int, v []float32) error {
		vals = append(vals, v...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	meta := map[string]string{}
	md := r.Schema().Metadata()
	for i, k := range md.Keys() {
		meta[k] = md.Values()[i]
	}
	if got := len(vals) / cols; int64(got) != r.NumRows() {
		t.Fatalf("%s: %d rows read, %d in the file", path, got, r.NumRows())
	}
	return vals, cols, meta
}

func relErr(got, want []float32) float64 {
	var d, n float64
	for i := range want {
		e := float64(got[i]) - float64(want[i])
		d += e * e
		n += float64(want[i]) * float64(want[i])
	}
	return math.Sqrt(d / n)
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	v, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
