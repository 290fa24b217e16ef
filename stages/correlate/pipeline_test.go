package correlate

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"selectivity/cache/arrowfile"
	"selectivity/pipeline"
	"selectivity/pipeline/pipelinetest"
	"selectivity/stages"
	_ "selectivity/stages/aggregate"
	"selectivity/stages/internal/data"
	"selectivity/stages/internal/stats"
)

// actsKind stands in for the extract stage: fLOC-like images (11
// categories × 4) and two post-ReLU layers, the "trained" network with
// face-selective channels, the "untrained" one without.
type actsKind struct{}

type actsParams struct {
	Net string `yaml:"net" oneof:"trained untrained"`
}

func (actsKind) Name() string          { return "test-acts" }
func (actsKind) Version() string       { return "1" }
func (actsKind) Doc() string           { return "synthetic activations (tests only)" }
func (actsKind) NewParams() any        { return &actsParams{Net: "trained"} }
func (actsKind) Inputs() []stages.Slot { return nil }

var fLOC = [][2]string{{"adult", "faces"}, {"child", "faces"}, {"body", "bodies"}, {"limb", "bodies"},
	{"word", "characters"}, {"number", "characters"}, {"car", "objects"}, {"instrument", "objects"},
	{"house", "places"}, {"corridor", "places"}, {"scrambled", "scrambled"}}

func (actsKind) Run(ctx context.Context, job *stages.Job) error {
	net := job.Params.(*actsParams).Net
	im := &data.Table{}
	for _, cd := range fLOC {
		for k := 1; k <= 4; k++ {
			im.Path = append(im.Path, fmt.Sprintf("stimuli/%s/%s-%d.jpg", cd[0], cd[0], k))
			im.Category, im.Domain = append(im.Category, cd[0]), append(im.Domain, cd[1])
			im.Identity, im.Image = append(im.Identity, ""), append(im.Image, k)
		}
	}
	if err := data.WriteImages(job.Output("images.arrow"), im, nil); err != nil {
		return err
	}
	h := fnv.New64a()
	h.Write([]byte(net))
	rng := rand.New(rand.NewPCG(h.Sum64(), 7))
	for _, l := range []struct {
		name    string
		c, h, w int
	}{{"conv10", 4, 3, 3}, {"conv2", 6, 2, 2}} {
		meta := map[string]string{"layer": l.name, "level": "unit", "shape": arrowfile.FormatInts(l.c, l.h, l.w)}
		hw := l.h * l.w
		if err := arrowfile.WriteMatrix(job.Output(l.name+".arrow"), im.Len(), l.c*hw, meta, func(r int, dst []float32) {
			for i := range dst {
				mu := -0.2
				if net == "trained" && im.Domain[r] == "faces" && (i/hw)%2 == 0 {
					mu = 1
				}
				dst[i] = float32(math.Max(0, mu+rng.NormFloat64()))
			}
		}); err != nil {
			return err
		}
	}
	// Not a layer: ignored downstream.
	return arrowfile.WriteMatrix(job.Output("logits.arrow"), im.Len(), 3, map[string]string{"layer": "logits"}, func(int, []float32) {})
}

func init() { stages.Register(actsKind{}) }

const experiment = `
stages:
  acts:
    kind: test-acts
    matrix: {net: [trained, untrained]}
    params: {net: "${matrix.net}"}
  unit:
    kind: metric
    matrix: {net: [trained, untrained]}
    inputs: {acts: "acts@${matrix.net}"}
    params: {chunk_units: 5}
  agg:
    kind: aggregate
    matrix: {net: [trained, untrained], agg: [mean, l2, max]}
    inputs: {acts: "acts@${matrix.net}"}
    params: {method: "${matrix.agg}"}
  kernel:
    kind: metric
    matrix: {net: [trained, untrained], agg: [mean, l2, max]}
    inputs: {acts: "agg@${matrix.net}-${matrix.agg}"}
  fig1f:
    kind: correlate
    inputs: {values: [unit, kernel]}
  fsi_vs:
    kind: correlate
    inputs: {x: unit@trained, y: unit@untrained}
    params: {mode: values, x_column: fsi, y_column: fsi}
`

// TestExperiment runs the study's shape end to end: unit-level metrics
// and kernel-level metrics (mean, l2, max) for a trained and an untrained
// network, and the inter-metric consistency table of Fig. 1f with the
// networks and aggregations side by side; a second run is all cached.
func TestExperiment(t *testing.T) {
	file := pipelinetest.Experiment(t, experiment)
	out := pipelinetest.MustRun(t, file, pipelinetest.Options{})
	states, p := out.States, out.Plan
	if len(states) != 2+2+6+6+2 {
		t.Errorf("stages %v", states)
	}
	for s, st := range states {
		if st != "ran" {
			t.Errorf("stage %s: %s", s, st)
		}
	}
	res := func(stage, f string) string { return filepath.Join(p.Exp.ResultsDir, stage, f) }

	// The summary of a kernel-level stage says so.
	sum := readTable(t, res("kernel@untrained-max", data.MetricSummaryFile))
	if sum.n != 2*4 || sum.str["level"][0] != "kernel" || sum.str["aggregation"][0] != "max" || sum.str["layer"][0] != "conv2" || sum.i64["items"][0] != 6 {
		t.Errorf("kernel summary: %d rows, %v %v %v %v", sum.n, sum.str["level"], sum.str["aggregation"], sum.str["layer"], sum.i64["items"])
	}
	// The trained network has face-selective units, the untrained one
	// fewer (chance only).
	tr, un := readTable(t, res("unit@trained", data.MetricSummaryFile)), readTable(t, res("unit@untrained", data.MetricSummaryFile))
	if tr.str["level"][0] != "unit" || tr.str["metric"][0] != "fsi" || tr.f64["percent"][0] < un.f64["percent"][0]+15 {
		t.Errorf("FSI %% selected: trained %v, untrained %v", tr.f64["percent"], un.f64["percent"])
	}

	pairs := readTable(t, res("fig1f", data.CorrelatePairsFile))
	cons := readTable(t, res("fig1f", data.ConsistencyFile))
	if pairs.n != 8*2*6 || cons.n != 8*2 {
		t.Fatalf("%d pair rows, %d consistency rows; want 96 and 16", pairs.n, cons.n)
	}
	for i := range pairs.n {
		in, layer := pairs.str["input"][i], pairs.str["layer"][i]
		wantAgg := ""
		if strings.HasPrefix(in, "kernel@") {
			wantAgg = in[strings.LastIndex(in, "-")+1:]
		}
		if pairs.str["net"][i] != in[strings.Index(in, "@")+1:][:len(pairs.str["net"][i])] || pairs.str["agg"][i] != wantAgg || pairs.str["aggregation"][i] != wantAgg {
			t.Errorf("row %d: input %s net %q agg %q aggregation %q", i, in, pairs.str["net"][i], pairs.str["agg"][i], pairs.str["aggregation"][i])
		}
		r, err := arrowfile.Open(res(in, layer+".arrow"))
		if err != nil {
			t.Fatal(err)
		}
		x, _ := arrowfile.Float64Column(r, data.ValueColumn[pairs.str["metric_a"][i]])
		y, _ := arrowfile.Float64Column(r, data.ValueColumn[pairs.str["metric_b"][i]])
		r.Close()
		if rho := stats.Spearman(x, y); math.Float64bits(rho) != math.Float64bits(pairs.f64["rho"][i]) {
			t.Errorf("row %d (%s %s %s–%s): ρ %v, recomputed %v", i, in, layer, pairs.str["metric_a"][i], pairs.str["metric_b"][i], pairs.f64["rho"][i], rho)
		}
	}
	vs := readTable(t, res("fsi_vs", data.SpearmanFile))
	if vs.n != 2 || vs.str["layer"][0] != "conv2" || vs.str["layer"][1] != "conv10" {
		t.Errorf("fsi_vs layers %v", vs.str["layer"])
	}

	states = pipelinetest.MustRun(t, file, pipelinetest.Options{}).States
	for s, st := range states {
		if st != "cached" {
			t.Errorf("second run: stage %s %s", s, st)
		}
	}
}

// TestExperimentParamErrors: the kinds' parameter tags and validators
// reach the experiment file's error report.
func TestExperimentParamErrors(t *testing.T) {
	bad := `
stages:
  acts: {kind: test-acts}
  m:
    kind: metric
    inputs: {acts: acts}
    params: {wilcoxon_test: wilcox, ddof: 2, metrics: [fsi, fsi], q: 0}
  a:
    kind: aggregate
    inputs: {acts: acts}
    params: {method: median}
  c:
    kind: correlate
    inputs: {x: m, y: m}
    params: {mode: values}
`
	_, err := pipeline.Load(pipelinetest.Experiment(t, bad), pipeline.LoadOptions{})
	if err == nil {
		t.Fatal("bad parameters accepted")
	}
	for _, want := range []string{
		`params.wilcoxon_test: must be one of mannwhitneyu, ranksums, per_category; got "wilcox"`,
		"params.ddof: must be at most 1, got 2",
		`params.method: must be one of mean, l2, max; got "median"`,
		"params.x_column: mode values needs x_column",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
}
