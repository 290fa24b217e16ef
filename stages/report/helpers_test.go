package report

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"selectivity/cache/arrowfile"
	"selectivity/pipeline"
	"selectivity/pipeline/pipelinetest"
	"selectivity/stages"
	_ "selectivity/stages/aggregate"
	_ "selectivity/stages/bootstrap"
	_ "selectivity/stages/correlate"
	"selectivity/stages/internal/data"
	_ "selectivity/stages/metric"
	_ "selectivity/stages/permutation"
	_ "selectivity/stages/reliability"
	_ "selectivity/stages/variants"
)

// The test kinds stand in for extract, lesion and decode: small synthetic
// tables of the shapes those kinds write, so that the real metric,
// aggregate and correlate kinds produce the report's inputs.
func init() {
	stages.Register(actsKind{})
	stages.Register(lesionKind{})
	stages.Register(decodeKind{})
}

// actsKind: fLOC-like images (11 categories × 4) and three post-ReLU
// layers; in the "trained" network the even channels prefer faces.
type actsKind struct{}

type netParams struct {
	Net string `yaml:"net" oneof:"trained untrained"`
}

func (actsKind) Name() string          { return "report-test-acts" }
func (actsKind) Version() string       { return "1" }
func (actsKind) Doc() string           { return "synthetic activations (tests only)" }
func (actsKind) NewParams() any        { return &netParams{Net: "trained"} }
func (actsKind) Inputs() []stages.Slot { return nil }

var fLOC = [][2]string{{"adult", "faces"}, {"child", "faces"}, {"body", "bodies"}, {"limb", "bodies"},
	{"word", "characters"}, {"number", "characters"}, {"car", "objects"}, {"instrument", "objects"},
	{"house", "places"}, {"corridor", "places"}, {"scrambled", "scrambled"}}

func (actsKind) Run(ctx context.Context, job *stages.Job) error {
	net := job.Params.(*netParams).Net
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
	// Written out of network order, to see that the report sorts them.
	for _, l := range []struct {
		name    string
		c, h, w int
		gain    float64
	}{{"conv10", 16, 3, 3, 1.2}, {"conv2", 8, 4, 4, 0.3}, {"conv4", 8, 3, 3, 0.6}} {
		meta := map[string]string{"layer": l.name, "level": "unit", "shape": arrowfile.FormatInts(l.c, l.h, l.w)}
		hw := l.h * l.w
		if err := arrowfile.WriteMatrix(job.Output(l.name+".arrow"), im.Len(), l.c*hw, meta, func(r int, dst []float32) {
			for i := range dst {
				mu := -0.2
				if net == "trained" && im.Domain[r] == "faces" && (i/hw)%2 == 0 {
					mu = l.gain * float64(1+(i/hw)%4)
				}
				dst[i] = float32(math.Max(0, mu+rng.NormFloat64()))
			}
		}); err != nil {
			return err
		}
	}
	return nil
}

// lesionKind writes conv10.arrow as the lesion kind does (item,
// loss_increase), for 16 kernels: the face-preferring even kernels hurt more.
type lesionKind struct{}

func (lesionKind) Name() string          { return "report-test-lesion" }
func (lesionKind) Version() string       { return "1" }
func (lesionKind) Doc() string           { return "synthetic lesion effects (tests only)" }
func (lesionKind) NewParams() any        { return &struct{}{} }
func (lesionKind) Inputs() []stages.Slot { return nil }

func (lesionKind) Run(ctx context.Context, job *stages.Job) error {
	rng := rand.New(rand.NewPCG(3, 4))
	item := make([]int64, 16)
	inc := make([]float64, 16)
	for k := range item {
		item[k] = int64(k)
		inc[k] = 0.05 * rng.NormFloat64()
		if k%2 == 0 {
			inc[k] += 0.02 * float64(1+k%4)
		}
	}
	var t arrowfile.Table
	t.Int64s("item", item)
	t.Float64s("loss_increase", inc)
	return t.Write(job.Output("conv10.arrow"), map[string]string{"layer": "conv10", "table": "lesion"})
}

// decodeKind writes decoding.arrow as the decode kind does.
type decodeKind struct{}

func (decodeKind) Name() string          { return "report-test-decode" }
func (decodeKind) Version() string       { return "1" }
func (decodeKind) Doc() string           { return "synthetic decoding results (tests only)" }
func (decodeKind) NewParams() any        { return &netParams{Net: "trained"} }
func (decodeKind) Inputs() []stages.Slot { return nil }

// decodingRows are the fake results: set, kernels, mean, ci_low, ci_high.
var decodingRows = map[string][]struct {
	set          string
	n            int64
	mean, lo, hi float64
}{
	"trained": {{"fsi", 6, 0.62, 0.55, 0.69}, {"dprime", 6, 0.6, 0.51, 0.69}, {"wilcoxon", 6, 0.58, 0.5, 0.66},
		{"ttest", 6, 0.61, 0.52, 0.7}, {"random", 6, 0.41, 0.33, 0.49}, {"all", 16, 0.705, 0.64, 0.77}},
	"untrained": {{"fsi", 6, 0.31, 0.22, 0.4}, {"dprime", 6, 0.3, 0.2, 0.4}, {"wilcoxon", 6, 0.29, 0.19, 0.39},
		{"ttest", 6, 0.33, 0.25, 0.41}, {"random", 6, 0.28, 0.2, 0.36}, {"all", 16, 0.35, 0.27, 0.43}},
}

func (decodeKind) Run(ctx context.Context, job *stages.Job) error {
	rows := decodingRows[job.Params.(*netParams).Net]
	var set []string
	var n, draws []int64
	var mean, sd, lo, hi, chance []float64
	var folds [][]float64
	for _, r := range rows {
		set, n, draws = append(set, r.set), append(n, r.n), append(draws, 1)
		mean, sd, lo, hi, chance = append(mean, r.mean), append(sd, 0.05), append(lo, r.lo), append(hi, r.hi), append(chance, 0.1)
		folds = append(folds, []float64{r.mean - 0.05, r.mean, r.mean + 0.05})
	}
	var t arrowfile.Table
	t.Strings("set", set)
	t.Int64s("n_kernels", n)
	t.Int64s("draws", draws)
	t.Float64s("mean", mean)
	t.Float64s("sd", sd)
	t.Float64s("ci_low", lo)
	t.Float64s("ci_high", hi)
	t.Float64s("chance", chance)
	t.Float64Lists("folds", folds)
	meta := map[string]string{"layer": "conv10", "aggregation": "l2", "identities": "10", "chance": "0.1"}
	// As the decode kind: the metric stages ranked, which name the network.
	for _, m := range []string{"fsi", "dprime", "wilcoxon", "ttest"} {
		meta["metric_stage_"+m] = "kernel-metrics@" + job.Params.(*netParams).Net + "-l2"
	}
	return t.Write(job.Output(DecodingFile), meta)
}

// experiment is the study's shape in miniature: unit- and kernel-level
// metrics of a trained and an untrained network, their consistency, the
// agreement of each metric with lesion effects, decoding, and the report.
const experiment = `
stages:
  acts:
    kind: report-test-acts
    matrix: {net: [trained, untrained]}
    params: {net: "${matrix.net}"}
  unit:
    kind: metric
    matrix: {net: [trained, untrained]}
    inputs: {acts: "acts@${matrix.net}"}
  agg:
    kind: aggregate
    matrix: {net: [trained, untrained], agg: [l2]}
    inputs: {acts: "acts@${matrix.net}"}
    params: {method: "${matrix.agg}"}
  kernel:
    kind: metric
    matrix: {net: [trained, untrained], agg: [l2]}
    inputs: {acts: "agg@${matrix.net}-${matrix.agg}"}
  cons:
    kind: correlate
    inputs: {values: [unit, kernel]}
  les:
    kind: report-test-lesion
  vs:
    kind: correlate
    matrix: {metric: [fsi, dprime, wilcoxon_z, ttest_t]}
    inputs: {x: kernel@trained-l2, y: les}
    params: {mode: values, x_column: "${matrix.metric}", y_column: loss_increase, layer: conv10}
  dec:
    kind: report-test-decode
    matrix: {net: [trained, untrained]}
    params: {net: "${matrix.net}"}
  fig:
    kind: report
    inputs: {summary: [unit, kernel], consistency: cons, lesion: vs, decoding: dec}
    params: {dpi: 100}
`

// runExperiment runs the experiment file and returns its plan.
func runExperiment(t *testing.T, file string, sets ...string) *pipeline.Plan {
	t.Helper()
	p, _ := runExperimentStates(t, file, sets...)
	return p
}

// runExperimentStates runs the experiment file and returns its plan and
// each stage's state.
func runExperimentStates(t *testing.T, file string, sets ...string) (*pipeline.Plan, map[string]string) {
	t.Helper()
	res := pipelinetest.MustRun(t, file, pipelinetest.Options{Set: sets})
	for stage, state := range res.States {
		if state != "ran" && state != "cached" {
			t.Errorf("stage %s: %s", stage, state)
		}
	}
	return res.Plan, res.States
}

// input is a finished stage of the experiment as a report input.
func input(t *testing.T, p *pipeline.Plan, stage string, matrix map[string]string) stages.Input {
	t.Helper()
	dir, err := filepath.EvalSymlinks(filepath.Join(p.Exp.ResultsDir, stage))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		files = append(files, rel)
		return nil
	})
	if err != nil {
		t.Fatalf("stage %s: %v", stage, err)
	}
	return stages.Input{Stage: stage, Matrix: matrix, Dir: dir, Files: files}
}

// runReport runs the kind directly on inputs into a new folder.
func runReport(t *testing.T, params *Params, inputs map[string][]stages.Input) (string, error) {
	t.Helper()
	out := t.TempDir()
	job := &stages.Job{Stage: "report", Params: params, Inputs: inputs, OutDir: out,
		Progress: pipelinetest.Progress{}, Logf: func(string, ...any) {}}
	return out, Kind{}.Run(context.Background(), job)
}
