package pipeline

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-multierror"
	"golang.org/x/sys/unix"

	"selectivity/pipeline/digest"
	"selectivity/stages"
)

// envOf returns an Env func over m.
func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// copyTestdata copies files from testdata/load into a fresh temp folder
// and returns it.
func copyTestdata(t testing.TB, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join("testdata", "load", n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(n)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// snapshot lists every path under dir with its size and time, to show
// that Load wrote nothing.
func snapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		m[p] = info.Mode().String() + " " + info.ModTime().String() + " " + string(rune(info.Size()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// load runs Load on a copy of the named testdata files (the first is the
// experiment) and checks that it wrote nothing.
func load(t *testing.T, opt LoadOptions, names ...string) (*Experiment, error, string) {
	t.Helper()
	dir := copyTestdata(t, names...)
	before := snapshot(t, dir)
	e, err := Load(filepath.Join(dir, names[0]), opt)
	if after := snapshot(t, dir); !reflect.DeepEqual(before, after) {
		t.Errorf("Load changed %s:\nbefore %v\nafter  %v", dir, before, after)
	}
	return e, err, dir
}

// loadString loads an experiment file holding text, in a fresh folder.
func loadString(t *testing.T, text string, opt LoadOptions) (*Experiment, error, string) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "exp.yaml")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := Load(file, opt)
	return e, err, dir
}

// problems returns the *Errors inside err.
func problems(t *testing.T, err error) []*Error {
	t.Helper()
	var m *multierror.Error
	if !errors.As(err, &m) {
		t.Fatalf("error %v (%T) is not a *multierror.Error", err, err)
	}
	var list []*Error
	for _, e := range m.Errors {
		pe, ok := e.(*Error)
		if !ok {
			t.Fatalf("problem %v (%T) is not a *pipeline.Error", e, e)
		}
		list = append(list, pe)
	}
	return list
}

func TestLoadValid(t *testing.T) {
	opt := LoadOptions{
		Set: []string{"params.seed=3", "stages.metric.params.threshold=0.4", "params.layers=[conv1, fc]"},
		Env: envOf(map[string]string{"SCRATCH": "/scratch", "KEY": "k1"}),
	}
	e, err, dir := load(t, opt, "valid.yaml", "weights.bin", "data/extra.bin")
	if err != nil {
		t.Fatal(err)
	}
	w := filepath.Join(dir, "weights.bin")
	metric := func(net, agg string) *metricParams {
		return &metricParams{
			metricCommon: metricCommon{Note: "${x} for " + net + "/" + agg},
			Threshold:    0.4, Aggregation: agg,
			Weights: stages.Path(filepath.Join(dir, "data", "extra.bin")),
			Extra:   []stages.Path{stages.Path(w), stages.Path(w)},
			Opts:    metricOpts{Depth: 2, Mode: "exact"},
			Groups:  map[string][]string{"faces": {"f1", "f2"}},
			Files:   map[string]stages.Path{"w": stages.Path(w)},
			Timeout: 90 * time.Second,
			Small:   7,
		}
	}
	in := func(slot string, names ...string) Input { return Input{Slot: slot, Stages: names} }
	mx := func(kv ...string) []MatrixValue {
		var m []MatrixValue
		for i := 0; i < len(kv); i += 2 {
			m = append(m, MatrixValue{kv[i], kv[i+1]})
		}
		return m
	}
	allMetrics := []string{"metric@trained-mean", "metric@trained-l2", "metric@trained-max", "metric@untrained-mean", "metric@untrained-l2"}
	want := []*Stage{
		{Name: "stim", Base: "stim", Params: &sourceParams{Seed: 3, N: 10, Weights: stages.Path(w), Label: "run-3"}},
		{Name: "acts@trained", Base: "acts", Matrix: mx("net", "trained"), Params: &extractParams{Net: "trained", Layers: []string{"conv1", "fc"}, Batch: 32}, Inputs: []Input{in("stimuli", "stim")}},
		{Name: "acts@untrained", Base: "acts", Matrix: mx("net", "untrained"), Params: &extractParams{Net: "untrained", Layers: []string{"conv1", "fc"}, Batch: 32}, Inputs: []Input{in("stimuli", "stim")}},
		{Name: "metric@trained-mean", Base: "metric", Matrix: mx("net", "trained", "agg", "mean"), Params: metric("trained", "mean"), Inputs: []Input{in("acts", "acts@trained")}},
		{Name: "metric@trained-l2", Base: "metric", Matrix: mx("net", "trained", "agg", "l2"), Params: metric("trained", "l2"), Inputs: []Input{in("acts", "acts@trained")}},
		{Name: "metric@trained-max", Base: "metric", Matrix: mx("net", "trained", "agg", "max"), Params: metric("trained", "max"), Inputs: []Input{in("acts", "acts@trained")}},
		{Name: "metric@untrained-mean", Base: "metric", Matrix: mx("net", "untrained", "agg", "mean"), Params: metric("untrained", "mean"), Inputs: []Input{in("acts", "acts@untrained")}},
		{Name: "metric@untrained-l2", Base: "metric", Matrix: mx("net", "untrained", "agg", "l2"), Params: metric("untrained", "l2"), Inputs: []Input{in("acts", "acts@untrained")}},
		{Name: "summary", Base: "summary", Params: &correlateParams{Method: "spearman", Key: "all"}, Inputs: []Input{in("values", allMetrics...), in("ref", "metric@trained-l2")}},
		{Name: "trained", Base: "trained", Params: &correlateParams{Method: "spearman", Key: "k1"}, Inputs: []Input{in("values", "metric@trained-mean", "metric@trained-l2", "metric@trained-max", "metric@untrained-l2")}},
	}
	if len(e.Stages) != len(want) {
		var names []string
		for _, s := range e.Stages {
			names = append(names, s.Name)
		}
		t.Fatalf("stages %v, want %d", names, len(want))
	}
	for i, s := range e.Stages {
		w := want[i]
		if s.Kind == nil || s.Pos.Line == 0 || s.Pos.File != e.File {
			t.Errorf("%s: kind %v, pos %v", s.Name, s.Kind, s.Pos)
		}
		for j := range s.Inputs {
			if s.Inputs[j].Pos.Line == 0 {
				t.Errorf("%s: input %s has no position", s.Name, s.Inputs[j].Slot)
			}
			s.Inputs[j].Pos = Pos{}
		}
		if s.Name == "metric@trained-mean" && (s.PathPos["files.w"].Line != 42 || s.PathPos["extra[1]"].Col != 28) {
			t.Errorf("%s: path parameter positions %v", s.Name, s.PathPos)
		}
		got := *s
		got.Kind, got.Pos, got.PathPos = nil, Pos{}, nil
		if !reflect.DeepEqual(&got, w) {
			t.Errorf("stage %d:\n got %+v\n     %+v\nwant %+v\n     %+v", i, got, got.Params, *w, w.Params)
		}
	}
	wantParams := map[string]any{
		"seed": 3, "nets": []any{"trained", "untrained"}, "layers": []any{"conv1", "fc"},
		"thr": 0.25, "label": "run-3",
		"derived": map[string]any{"seed": 3, "all": []any{"trained", "untrained"}},
	}
	if !reflect.DeepEqual(e.Params, wantParams) {
		t.Errorf("params %#v\nwant %#v", e.Params, wantParams)
	}
	// The overrides name the run: a hash, as "[conv1, fc]" is no file name.
	if e.Name != "valid" || e.Dir != dir || e.CacheDir != "/scratch/cache" || !regexp.MustCompile(`^set-[0-9a-f]{12}$`).MatchString(e.Run) ||
		!reflect.DeepEqual(e.Overrides, []string{"params.layers=[conv1, fc]", "params.seed=3", "stages.metric.params.threshold=0.4"}) ||
		e.ResultsDir != filepath.Join(dir, "results", "valid", "@"+e.Run) || e.LockFile != filepath.Join(dir, "valid@"+e.Run+".lock") {
		t.Errorf("experiment %+v", e)
	}
	if order, err := e.Graph().Sort(); err != nil || len(order) != len(want) {
		t.Errorf("graph: %v %v", order, err)
	}
	if deps := e.Graph().Dependencies("trained"); !reflect.DeepEqual(deps, want[9].Inputs[0].Stages) {
		t.Errorf("trained depends on %v", deps)
	}
}

// checkProblems asserts that err holds exactly the problems want, each
// "line:col: start of message" (or the whole text of a --set problem), in
// order.
func checkProblems(t *testing.T, err error, file string, want []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %d problems", len(want))
	}
	got := problems(t, err)
	var text []string
	for _, p := range got {
		text = append(text, p.Error())
	}
	if len(got) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(got), len(want), strings.Join(text, "\n"))
	}
	for i := range min(len(got), len(want)) {
		w := want[i]
		if !strings.HasPrefix(w, "--set") {
			w = file + ":" + w
		}
		if !strings.HasPrefix(text[i], w) {
			t.Errorf("problem %d:\n got %s\nwant %s…", i, text[i], w)
		}
	}
}

func TestLoadBad(t *testing.T) {
	_, err, dir := load(t, LoadOptions{Env: envOf(nil)}, "bad.yaml")
	file := filepath.Join(dir, "bad.yaml")
	checkProblems(t, err, file, []string{
		`2:1: unknown key "stags" (did you mean "stages"?); valid keys: cache, description, executor, name, params, results, stages`,
		`5:9: params reference cycle: params.loop → params.loop`,
		`10:13: params.seed: must be at least 0, got -1`,
		`11:10: params.n: want an integer, got string "abc"`,
		`12:7: params.wieghts: unknown parameter (did you mean "weights"?); valid keys: label, n, seed, weights`,
		`14:11: unknown kind "load-extrct" (did you mean "load-extract"?); known kinds: `,
		`18:23: matrix.agg: value "mean" is listed twice`,
		`21:5: stage m2: missing required input "acts" (kind load-metric)`,
		`22:7: unknown input slot "act" for kind load-metric (did you mean "acts"?); slots: acts`,
		`24:18: params.threshold: must be at most 1, got 1.5`,
		`25:20: params.aggregation: must be one of mean, l2, max; got "avg"`,
		`26:16: params.weights: no such file or folder: nothere.bin (resolved to ` + filepath.Join(dir, "nothere.bin") + `)`,
		`27:36: params.opts.color: unknown parameter; valid keys: depth, mode`,
		`31:15: no stage "nosuch"`,
		`32:12: inputs.ref: slot takes one stage, got 2: src, ext`,
		`33:5: unknown stage key "unknown"; valid keys: inputs, kind, label, matrix, params`,
		`37:22: inputs.values: "self" includes the stage itself (self)`,
		`38:19: ${env:NOPE_NOT_SET}: environment variable NOPE_NOT_SET is not set`,
		`38:50: ${matrix.x}: stage self has no matrix`,
		`39:3: duplicate stage "src" (first at line 7)`,
		`47:10: params.n: must be at most 1000, got 2000 (in sweep@2)`,
		`47:10: params.n: must be at most 1000, got 3000 (in sweep@3)`,
		`50:22: "sweep@9*" matches no expansion of sweep; expansions: sweep@1, sweep@2, sweep@3`,
	})
}

func TestLoadCycles(t *testing.T) {
	_, err, dir := load(t, LoadOptions{}, "cycles.yaml")
	checkProblems(t, err, filepath.Join(dir, "cycles.yaml"), []string{
		`4:3: cycle: a → b → a`,
		`6:3: cycle: c → d → e → c`,
		`9:3: cycle: m@x → n@x → m@x`,
	})
}

const setBase = `
params:
  seed: 1
  layers: [conv1]
stages:
  stim:
    kind: load-source
    params: {seed: "${params.seed}"}
  acts:
    kind: load-extract
    inputs: {stimuli: stim}
    params: {layers: "${params.layers}"}
`

func TestLoadSet(t *testing.T) {
	for _, tc := range []struct {
		set  []string
		want func(e *Experiment) bool
	}{
		{nil, func(e *Experiment) bool { return e.Stage("stim").Params.(*sourceParams).Seed == 1 }},
		{[]string{"params.seed=5"}, func(e *Experiment) bool {
			return e.Stage("stim").Params.(*sourceParams).Seed == 5 && e.Params["seed"] == 5
		}},
		{[]string{"params.layers=[conv2, conv4]"}, func(e *Experiment) bool {
			return reflect.DeepEqual(e.Stage("acts").Params.(*extractParams).Layers, []string{"conv2", "conv4"})
		}},
		{[]string{"stages.stim.params.n=7", "stages.stim.params.label=${params.seed}x", "params.seed=2"}, func(e *Experiment) bool {
			p := e.Stage("stim").Params.(*sourceParams)
			return p.N == 7 && p.Label == "2x" && p.Seed == 2
		}},
		{[]string{"+params.extra.deep=1", "stages.acts.params.batch=4"}, func(e *Experiment) bool {
			return reflect.DeepEqual(e.Params["extra"], map[string]any{"deep": 1}) && e.Stage("acts").Params.(*extractParams).Batch == 4
		}},
		{[]string{"stages.stim.params.label="}, func(e *Experiment) bool { return e.Stage("stim").Params.(*sourceParams).Label == "" }},
	} {
		e, err, _ := loadString(t, setBase, LoadOptions{Set: tc.set})
		if err != nil {
			t.Errorf("%v: %v", tc.set, err)
		} else if !tc.want(e) {
			t.Errorf("%v: wrong result: %+v", tc.set, e.Stages[0].Params)
		}
	}

	_, err, dir := loadString(t, setBase, LoadOptions{Set: []string{
		"foo=1",
		"params.seed",
		"stages.stm.params.seed=1",
		"params.seed.x=1",
		"stages.stim.params.bogus=1",
		"stages.stim.params.n=abc",
		"params.x=[1",
		"cache=/x",
		"stages.stim.seed=1",
		"params..x=1",
		"params.layers=${params.nope}",
		"params.sed=4",
		"+stages.stim.params.n=2",
	}})
	checkProblems(t, err, filepath.Join(dir, "exp.yaml"), []string{
		`--set foo=1: want params.NAME=VALUE or stages.STAGE.params.KEY=VALUE`,
		`--set params.seed: want PATH=VALUE`,
		`--set stages.stm.params.seed=1: no stage "stm" (did you mean "stim"?)`,
		`--set params.seed.x=1: seed is number 1, not a mapping`,
		`--set params.x=[1: bad value: `,
		`--set cache=/x: want params.NAME=VALUE or stages.STAGE.params.KEY=VALUE`,
		`--set stages.stim.seed=1: want params.NAME=VALUE or stages.STAGE.params.KEY=VALUE`,
		`--set params..x=1: empty name in "params..x"`,
		`--set params.sed=4: no parameter params.sed (did you mean "seed"?); write +params.sed=VALUE to add one`,
		`--set +stages.stim.params.n=2: + adds experiment parameters only: +params.NAME=VALUE`,
		`--set params.layers=${params.nope}: ${params.nope}: no parameter params.nope`,
		`--set stages.stim.params.bogus=1: params.bogus: unknown parameter; valid keys: label, n, seed, weights`,
		`--set stages.stim.params.n=abc: params.n: want an integer, got string "abc"`,
	})
}

func TestLoadPaths(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"sub/exp.yaml", "sub/w.bin", "abs.bin", "sub/dir/x"} {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(root)
	write := func(text string) {
		if err := os.WriteFile("sub/exp.yaml", []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := envOf(map[string]string{"ROOT": root, "EMPTY": ""})
	write(`
results: ${env:OUT:-out}/r
stages:
  m:
    kind: load-metric
    inputs: {acts: s}
    params:
      weights: w.bin
      extra: ["${env:ROOT}/abs.bin", ../abs.bin, "${env:EMPTY:-dir}", dir/../w.bin]
      files: {a: "${env:ROOT}"}
  s:
    kind: load-source
    params: {weights: ""}
`)
	before := snapshot(t, root)
	e, err := Load("sub/exp.yaml", LoadOptions{Env: env})
	if err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(root, "sub")
	p := e.Stage("m").Params.(*metricParams)
	want := []stages.Path{stages.Path(filepath.Join(root, "abs.bin")), stages.Path(filepath.Join(root, "abs.bin")), stages.Path(filepath.Join(sub, "dir")), stages.Path(filepath.Join(sub, "w.bin"))}
	if p.Weights != stages.Path(filepath.Join(sub, "w.bin")) || !reflect.DeepEqual(p.Extra, want) || p.Files["a"] != stages.Path(root) {
		t.Errorf("paths %q %q %q", p.Weights, p.Extra, p.Files)
	}
	if w := e.Stage("s").Params.(*sourceParams).Weights; w != "" {
		t.Errorf("empty path became %q", w)
	}
	if e.File != "sub/exp.yaml" || e.Dir != sub || e.CacheDir != filepath.Join(sub, ".cache") || e.ResultsDir != filepath.Join(sub, "out", "r") || e.LockFile != filepath.Join(sub, "exp.lock") {
		t.Errorf("experiment %+v", e)
	}
	e, err = Load("sub/exp.yaml", LoadOptions{Env: env, CacheDir: "c"})
	if err != nil || e.CacheDir != filepath.Join(root, "c") {
		t.Errorf("CacheDir: %v %v", e, err)
	}
	if after := snapshot(t, root); !reflect.DeepEqual(before, after) {
		t.Errorf("Load wrote something")
	}

	write(`
cache: ${env:NOPE}
stages:
  s:
    kind: load-source
    params: {weights: "${env:ROOT}/nope.bin"}
  t:
    kind: load-source
    params: {weights: w.bin/x}
`)
	_, err = Load("sub/exp.yaml", LoadOptions{Env: env})
	checkProblems(t, err, "sub/exp.yaml", []string{
		`2:8: ${env:NOPE}: environment variable NOPE is not set`,
		`6:23: params.weights: no such file or folder: ${env:ROOT}/nope.bin (resolved to ` + filepath.Join(root, "nope.bin") + `)`,
		`9:23: params.weights: w.bin/x (resolved to ` + filepath.Join(sub, "w.bin", "x") + `): not a directory`,
	})

	_, err = Load("sub/nope.yaml", LoadOptions{})
	checkProblems(t, err, "sub/nope.yaml", []string{`1:1: cannot read experiment file: no such file or directory`})
}

// An experiment file that would be its own lock file is refused: run
// would overwrite it.
func TestExperimentFileThatIsItsOwnLockFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "exp.lock")
	if err := os.WriteFile(f, []byte("stages:\n  s: {kind: load-source}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(f, LoadOptions{})
	checkProblems(t, err, f, []string{`1:1: the lock file of exp.lock would be the experiment file itself`})
}

// Experiment files that are not regular files, or are huge, are refused
// before they are read.
func TestExperimentFileTypeAndSize(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(fifo, LoadOptions{})
	checkProblems(t, err, fifo, []string{`1:1: cannot read experiment file: not a regular file (a named pipe)`})
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("stages:\n  s: {kind: load-source}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, maxFileSize+1); err != nil {
		t.Fatal(err)
	}
	_, err = Load(big, LoadOptions{})
	checkProblems(t, err, big, []string{`1:1: cannot read experiment file: 16777217 bytes; experiment files may hold at most 16 MiB`})
}

// --cache naming a file is reported against the flag, not as a state file
// that cannot be read.
func TestCacheFlagNamingAFile(t *testing.T) {
	_, err, dir := loadString(t, "stages:\n  s: {kind: load-source}\n", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Load(filepath.Join(dir, "exp.yaml"), LoadOptions{CacheDir: filepath.Join(dir, "exp.yaml")})
	if err == nil || !strings.Contains(err.Error(), "--cache "+filepath.Join(dir, "exp.yaml")+": is a file, not a folder") {
		t.Errorf("got %v", err)
	}
}

// A named pipe as a file parameter is a validation error at its line:
// opening it to hash it would wait forever.
func TestPathParamThatIsANamedPipe(t *testing.T) {
	dir := t.TempDir()
	if err := unix.Mkfifo(filepath.Join(dir, "w.bin"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "exp.yaml")
	if err := os.WriteFile(f, []byte("stages:\n  s:\n    kind: load-source\n    params:\n      weights: w.bin\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(f, LoadOptions{})
	checkProblems(t, err, f, []string{`5:16: params.weights: w.bin (resolved to ` + filepath.Join(dir, "w.bin") + `) is a named pipe, not a regular file or folder`})
}

// A problem found while hashing the folder a parameter names is reported
// at the parameter's line, not the stage's.
func TestPlanProblemAtTheParameter(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "set"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("nowhere", filepath.Join(dir, "set", "a.png")); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "exp.yaml")
	if err := os.WriteFile(f, []byte("stages:\n  s:\n    kind: load-source\n    params:\n      weights: set\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := Load(f, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := digest.New("")
	_, err = NewPlan(e, h)
	if err == nil || !strings.HasPrefix(err.Error(), f+":5:16: stage \"s\": params.weights: ") || !strings.Contains(err.Error(), "broken symlink") {
		t.Errorf("got %v", err)
	}
}

// A --set value of the wrong type, used through ${params...}, is reported
// against the flag, with the place that uses it.
func TestSetValueOfTheWrongTypeNamesTheFlag(t *testing.T) {
	_, err, dir := loadString(t, setBase, LoadOptions{Set: []string{"params.seed=abc"}})
	checkProblems(t, err, filepath.Join(dir, "exp.yaml"), []string{
		`--set params.seed=abc: params.seed: want an integer, got string "abc" (used at ` + filepath.Join(dir, "exp.yaml") + `:8:20)`,
	})
}

// A slot filled with a stage whose kind makes something else is a
// validation error at the reference; kinds that declare no outputs, and
// slots that accept anything, are not checked.
func TestInputKindsAreChecked(t *testing.T) {
	_, err, dir := loadString(t, `stages:
  img: {kind: load-images}
  net: {kind: load-net}
  src: {kind: load-source}
  ok: {kind: load-reader, inputs: {model: net, any: [img, src]}}
  undeclared: {kind: load-reader, inputs: {model: src}}
  bad:
    kind: load-reader
    inputs: {model: img}
`, LoadOptions{})
	checkProblems(t, err, filepath.Join(dir, "exp.yaml"), []string{
		`9:21: inputs.model: stage img is a load-images stage, which makes images; slot model of kind load-reader reads network (from load-net stages)`,
	})
}
