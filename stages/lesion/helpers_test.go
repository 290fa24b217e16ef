package lesion

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"selectivity/cache/arrowfile"
	"selectivity/pipeline/pipelinetest"
	"selectivity/stages"
	"selectivity/stages/internal/data"
	"selectivity/stages/model"
)

// fixtures is testdata/lesion/fixtures.json (see gen.py there).
type fixtures map[string]json.RawMessage

type result struct {
	Loss     float64 `json:"loss"`
	Accuracy float64 `json:"accuracy"`
}

type taskFixture struct {
	N        int               `json:"n"`
	Channels int               `json:"channels"`
	Size     int               `json:"size"`
	Kind     string            `json:"kind"`
	Pixels   string            `json:"pixels"`
	Names    []string          `json:"names"`
	ClassMap map[string]int    `json:"class_map"`
	Labels   []int             `json:"labels"`
	Intact   result            `json:"intact"`
	Conv13   []result          `json:"conv13"`
	Conv10   map[string]result `json:"conv10"`
}

type netFixture struct {
	Checkpoint string       `json:"checkpoint"`
	Channels   int          `json:"conv13_channels"`
	Face       *taskFixture `json:"face"`
	Object     *taskFixture `json:"object"`
	Greedy     []struct {
		Step      int       `json:"step"`
		Kernels   []int     `json:"kernels"`
		TrialLoss []float64 `json:"trial_loss"`
		Tasks     []result  `json:"tasks"`
	} `json:"greedy"`
}

func loadNet(t testing.TB, arch string) *netFixture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "lesion", "fixtures.json"))
	if err != nil {
		t.Fatal(err)
	}
	var all fixtures
	if err := json.Unmarshal(b, &all); err != nil {
		t.Fatal(err)
	}
	var f netFixture
	if err := json.Unmarshal(all[arch], &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

// writeStimuli writes a stimuli-format images.arrow and pixels.arrow; the
// images' names go to the identity or the category column (kind).
func writeStimuli(t testing.TB, dir string, pix []uint8, n, c, s int, names []string, kind string) {
	t.Helper()
	rowLen := c * s * s
	typ := arrow.FixedSizeListOfNonNullable(int32(rowLen), arrow.PrimitiveTypes.Uint8)
	schema := arrowfile.NewSchema([]arrow.Field{{Name: "pixels", Type: typ}}, map[string]string{
		"shape": arrowfile.FormatInts(c, s, s), "normalize": "half", "mean": "0.5,0.5,0.5", "std": "0.5,0.5,0.5",
	})
	w, err := arrowfile.Create(filepath.Join(dir, "pixels.arrow"), schema)
	if err != nil {
		t.Fatal(err)
	}
	const batchRows = 5
	for first := 0; first < n; first += batchRows {
		k := min(batchRows, n-first)
		child := array.NewData(arrow.PrimitiveTypes.Uint8, k*rowLen,
			[]*memory.Buffer{nil, memory.NewBufferBytes(pix[first*rowLen : (first+k)*rowLen])}, nil, 0, 0)
		list := array.NewData(typ, k, []*memory.Buffer{nil}, []arrow.ArrayData{child}, 0, 0)
		rec := array.NewRecordBatch(schema, []arrow.Array{array.MakeFromData(list)}, int64(k))
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	tab := &data.Table{Source: "test"}
	for i := range n {
		tab.Path = append(tab.Path, fmt.Sprintf("test/%s/%d.png", names[i], i+1))
		if kind == "identity" {
			tab.Category = append(tab.Category, "face")
			tab.Domain = append(tab.Domain, "faces")
			tab.Identity = append(tab.Identity, names[i])
		} else {
			tab.Category = append(tab.Category, names[i])
			tab.Domain = append(tab.Domain, "objects")
			tab.Identity = append(tab.Identity, "")
		}
		tab.Image = append(tab.Image, i+1)
	}
	if err := data.WriteImages(filepath.Join(dir, "images.arrow"), tab, nil); err != nil {
		t.Fatal(err)
	}
}

// taskInput writes the fixture task as a stimuli stage.
func taskInput(t testing.TB, tf *taskFixture, stage string) stages.Input {
	t.Helper()
	pix, err := base64.StdEncoding.DecodeString(tf.Pixels)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeStimuli(t, dir, pix, tf.N, tf.Channels, tf.Size, tf.Names, tf.Kind)
	return pipelinetest.Input(t, stage, dir)
}

// modelInput runs the model kind on a testdata/extract checkpoint.
func modelInput(t testing.TB, arch, checkpoint string) stages.Input {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join("..", "..", "testdata", "extract", checkpoint))
	if err != nil {
		t.Fatal(err)
	}
	p := model.DefaultParams()
	p.Arch, p.Init, p.Weights, p.Widths = arch, "checkpoint", stages.Path(abs), "any"
	dir := t.TempDir()
	job := &stages.Job{Stage: "model", Params: p, OutDir: dir, Progress: pipelinetest.Progress{}, Logf: func(string, ...any) {}}
	if err := (model.Kind{}).Run(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	return pipelinetest.Input(t, "model", dir)
}

// writeJSON writes v as JSON to a new file in a temp folder.
func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func classMapJSON(t testing.TB, m map[string]int) string {
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "classes.json", string(b))
}

func classMapCSV(t testing.TB, m map[string]int) string {
	var b strings.Builder
	b.WriteString("name,index\n")
	for k, v := range m {
		fmt.Fprintf(&b, "%s,%d\n", k, v)
	}
	return writeFile(t, "classes.csv", b.String())
}

// run runs the lesion kind and returns its output folder and log.
func run(t testing.TB, p *Params, inputs map[string][]stages.Input) (string, []string, error) {
	t.Helper()
	out := t.TempDir()
	var logs []string
	job := &stages.Job{Stage: "lesion", Params: p, Inputs: inputs, OutDir: out, Progress: pipelinetest.Progress{},
		Logf: func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }}
	err := Kind{}.Run(context.Background(), job)
	return out, logs, err
}

// readTable reads a one-batch table: float64/int64 columns as float64, and
// the metadata.
func readTable(t testing.TB, path string) (map[string][]float64, map[string]string) {
	t.Helper()
	r, err := arrowfile.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cols := map[string][]float64{}
	for b := range r.NumRecords() {
		rec, err := r.Record(b)
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range rec.Schema().Fields() {
			switch c := rec.Column(i).(type) {
			case *array.Float64:
				cols[f.Name] = append(cols[f.Name], c.Float64Values()...)
			case *array.Int64:
				for _, v := range c.Int64Values() {
					cols[f.Name] = append(cols[f.Name], float64(v))
				}
			}
		}
		rec.Release()
	}
	meta := map[string]string{}
	md := r.Schema().Metadata()
	for i, k := range md.Keys() {
		meta[k] = strings.Clone(md.Values()[i])
	}
	return cols, meta
}
