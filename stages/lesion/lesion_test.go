package lesion

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"selectivity/pipeline/pipelinetest"
	"selectivity/stages"
	"selectivity/stages/model"
)

// relErr is |got − want| / |want|.
func relErr(got, want float64) float64 { return math.Abs(got-want) / math.Abs(want) }

// TestLesionMatchesPyTorch: every conv13 kernel of the reduced VGG-16, on a
// face task (identity → class through a JSON map) and an object task
// (category → class through a CSV map): PyTorch's loss with the kernel's
// conv weights and bias zeroed, and its accuracy, against ours; then the
// greedy variant's choices and re-tests.
func TestLesionMatchesPyTorch(t *testing.T) {
	f := loadNet(t, "vgg16")
	p := DefaultParams()
	p.ClassMap = stages.Path(classMapJSON(t, f.Face.ClassMap))
	p.ObjectClassMap = stages.Path(classMapCSV(t, f.Object.ClassMap))
	p.Greedy, p.GreedySteps, p.GroupSize = true, 3, 2
	p.Batch, p.Chunk = 4, 5 // several chunks and batches
	inputs := map[string][]stages.Input{
		"model":          {modelInput(t, "vgg16", f.Checkpoint)},
		"stimuli":        {taskInput(t, f.Face, "stimuli@faces")},
		"object_stimuli": {taskInput(t, f.Object, "stimuli@objects")},
	}
	out, logs, err := run(t, p, inputs)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(strings.Join(logs, "\n"))
	cols, meta := readTable(t, out+"/conv13.arrow")
	if meta["path"] != "lesioner" || meta["layer"] != "conv13" {
		t.Errorf("metadata %v", meta)
	}
	worst := 0.0
	for _, tc := range []struct {
		prefix string
		tf     *taskFixture
	}{{"", f.Face}, {"object_", f.Object}} {
		intactLoss, _ := strconv.ParseFloat(meta[tc.prefix+"intact_loss"], 64)
		intactAcc, _ := strconv.ParseFloat(meta[tc.prefix+"intact_accuracy"], 64)
		worst = max(worst, relErr(intactLoss, tc.tf.Intact.Loss))
		if math.Abs(intactAcc-tc.tf.Intact.Accuracy) > 1e-6 {
			t.Errorf("%sintact accuracy %v, PyTorch %v", tc.prefix, intactAcc, tc.tf.Intact.Accuracy)
		}
		if len(cols["item"]) != f.Channels {
			t.Fatalf("%d rows, want %d", len(cols["item"]), f.Channels)
		}
		var incs []float64
		for k, want := range tc.tf.Conv13 {
			if cols["item"][k] != float64(k) {
				t.Errorf("row %d is item %v", k, cols["item"][k])
			}
			got := cols[tc.prefix+"loss"][k]
			worst = max(worst, relErr(got, want.Loss))
			if e := math.Abs(cols[tc.prefix+"loss_increase"][k] - (want.Loss - tc.tf.Intact.Loss)); e > 2e-6 {
				t.Errorf("%skernel %d: loss increase %v, PyTorch %v", tc.prefix, k, cols[tc.prefix+"loss_increase"][k], want.Loss-tc.tf.Intact.Loss)
			}
			if math.Abs(cols[tc.prefix+"accuracy"][k]-want.Accuracy) > 1e-6 || math.Abs(cols[tc.prefix+"acc_drop"][k]-(tc.tf.Intact.Accuracy-want.Accuracy)) > 1e-6 {
				t.Errorf("%skernel %d: accuracy %v, PyTorch %v", tc.prefix, k, cols[tc.prefix+"accuracy"][k], want.Accuracy)
			}
			incs = append(incs, want.Loss)
		}
		// rank 1 = most damaging.
		best := 0
		for k, v := range incs {
			if v > incs[best] {
				best = k
			}
		}
		if cols[tc.prefix+"rank"][best] != 1 {
			t.Errorf("%srank of the most damaging kernel %d: %v", tc.prefix, best, cols[tc.prefix+"rank"][best])
		}
	}
	t.Logf("largest relative loss difference to PyTorch: %.2g", worst)
	if worst > 1e-4 {
		t.Errorf("loss differs from PyTorch by %g relative", worst)
	}

	g, _ := readTable(t, out+"/"+GreedyFile)
	var kernels []int
	for _, st := range f.Greedy {
		kernels = append(kernels, st.Kernels...)
	}
	var got []int
	for _, v := range g["item"] {
		got = append(got, int(v))
	}
	if !slices.Equal(got, kernels) {
		t.Fatalf("greedy kernels %v, PyTorch %v", got, kernels)
	}
	row := 0
	for _, st := range f.Greedy {
		for j := range st.Kernels {
			if relErr(g["trial_loss"][row], st.TrialLoss[j]) > 1e-4 || g["step"][row] != float64(st.Step) {
				t.Errorf("greedy row %d: step %v trial loss %v, PyTorch step %d %v", row, g["step"][row], g["trial_loss"][row], st.Step, st.TrialLoss[j])
			}
			for i, prefix := range []string{"", "object_"} {
				if relErr(g[prefix+"loss"][row], st.Tasks[i].Loss) > 1e-4 || math.Abs(g[prefix+"accuracy"][row]-st.Tasks[i].Accuracy) > 1e-6 {
					t.Errorf("greedy row %d %s: loss %v accuracy %v, PyTorch %+v", row, prefix, g[prefix+"loss"][row], g[prefix+"accuracy"][row], st.Tasks[i])
				}
			}
			row++
		}
	}
}

// TestLesionGeneralPath: an earlier layer (conv10) through ForwardFrom, with
// labels by order of appearance mapped like the fixture.
func TestLesionGeneralPath(t *testing.T) {
	f := loadNet(t, "vgg16")
	p := DefaultParams()
	p.Layer = "conv10"
	p.ClassMap = stages.Path(writeFile(t, "classes.txt", textMap(f.Face.ClassMap)))
	p.Batch, p.Chunk = 8, 8
	out, _, err := run(t, p, map[string][]stages.Input{
		"model":   {modelInput(t, "vgg16", f.Checkpoint)},
		"stimuli": {taskInput(t, f.Face, "stimuli")},
	})
	if err != nil {
		t.Fatal(err)
	}
	cols, meta := readTable(t, out+"/conv10.arrow")
	if meta["path"] != "forward_from" {
		t.Errorf("path %q", meta["path"])
	}
	for ks, want := range f.Face.Conv10 {
		k, _ := strconv.Atoi(ks)
		if e := relErr(cols["loss"][k], want.Loss); e > 1e-4 {
			t.Errorf("conv10 kernel %d: loss %v, PyTorch %v", k, cols["loss"][k], want.Loss)
		}
		if math.Abs(cols["accuracy"][k]-want.Accuracy) > 1e-6 {
			t.Errorf("conv10 kernel %d: accuracy %v, PyTorch %v", k, cols["accuracy"][k], want.Accuracy)
		}
	}
}

// textMap writes a class map as "name index" lines.
func textMap(m map[string]int) string {
	var b strings.Builder
	for k, v := range m {
		b.WriteString(k + " " + strconv.Itoa(v) + "\n")
	}
	return b.String()
}

// TestLesionBatchNorm: VGG-16-BN, gray task images; PyTorch zeroes the BN's
// weight and bias (the channel is zero after ReLU).
func TestLesionBatchNorm(t *testing.T) {
	f := loadNet(t, "vgg16_bn")
	p := DefaultParams()
	p.ClassMap = stages.Path(classMapJSON(t, f.Face.ClassMap))
	out, _, err := run(t, p, map[string][]stages.Input{
		"model":   {modelInput(t, "vgg16_bn", f.Checkpoint)},
		"stimuli": {taskInput(t, f.Face, "stimuli")},
	})
	if err != nil {
		t.Fatal(err)
	}
	cols, _ := readTable(t, out+"/conv13.arrow")
	for k, want := range f.Face.Conv13 {
		if relErr(cols["loss"][k], want.Loss) > 1e-4 || math.Abs(cols["accuracy"][k]-want.Accuracy) > 1e-6 {
			t.Errorf("kernel %d: loss %v accuracy %v, PyTorch %+v", k, cols["loss"][k], cols["accuracy"][k], want)
		}
	}
}

func TestLabelErrors(t *testing.T) {
	f := loadNet(t, "vgg16")
	mdl := modelInput(t, "vgg16", f.Checkpoint)
	face := taskInput(t, f.Face, "stimuli")
	check := func(name string, p *Params, want string) {
		t.Helper()
		_, _, err := run(t, p, map[string][]stages.Input{"model": {mdl}, "stimuli": {face}})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, want)
		}
	}
	// Names missing from the map are listed.
	partial := map[string]int{}
	for k, v := range f.Face.ClassMap {
		partial[k] = v
	}
	missing := f.Face.Names[0]
	delete(partial, missing)
	p := DefaultParams()
	p.ClassMap = stages.Path(classMapJSON(t, partial))
	check("missing", p, strconv.Quote(missing))
	// An index beyond the head.
	big := map[string]int{}
	for k, v := range f.Face.ClassMap {
		big[k] = 10 + v
	}
	p = DefaultParams()
	p.ClassMap = stages.Path(classMapJSON(t, big))
	check("range", p, "the network has 10 outputs")
	// class_from name with non-numeric names.
	p = DefaultParams()
	p.ClassFrom, p.ClassMap = "name", ""
	check("name", p, "not")
	// Unknown layer.
	p = DefaultParams()
	p.ClassFrom, p.ClassMap = "order", ""
	p.Layer = "conv20"
	check("layer", p, "no layer \"conv20\"")
	// Object map without object task.
	p = DefaultParams()
	p.ClassFrom, p.ClassMap = "order", ""
	p.ObjectClassMap = stages.Path(classMapJSON(t, big))
	check("object map", p, "no object_stimuli")
}

func TestValidate(t *testing.T) {
	p := DefaultParams()
	if errs := p.Validate(); len(errs) != 1 || errs[0].Field != "class_map" {
		t.Errorf("defaults without class_map: %v", errs)
	}
	p.ClassFrom = "order"
	if errs := p.Validate(); len(errs) != 0 {
		t.Errorf("order: %v", errs)
	}
	p.ClassMap = "x.json"
	p.ObjectClassFrom = "name"
	p.ObjectClassMap = "y.json"
	if errs := p.Validate(); len(errs) != 2 {
		t.Errorf("want 2 errors, got %v", errs)
	}
}

func TestClassMaps(t *testing.T) {
	want := map[string]int{"a b": 3, "c": 0, "d": 7}
	cases := map[string]string{
		"m.json": `{"a b": 3, "c": 0, "d": 7}`,
		"m.csv":  "name,index\n\"a b\",3\nc, 0\nd,7\n",
		"m.tsv":  "a b\t3\nc\t0\nd\t7\n",
		"m.txt":  "# comment\na b 3\n\nc 0\nd 7\n",
	}
	for name, content := range cases {
		m, err := ReadClassMap(writeFile(t, name, content))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(m) != len(want) {
			t.Errorf("%s: %v", name, m)
		}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("%s: %q → %d, want %d", name, k, m[k], v)
			}
		}
	}
	for name, content := range map[string]string{"list.json": `["x", "y", "z"]`, "list.txt": "x\ny\n\nz\n"} {
		m, err := ReadClassMap(writeFile(t, name, content))
		if err != nil || m["x"] != 0 || m["y"] != 1 || m["z"] != 2 {
			t.Errorf("%s: %v %v", name, m, err)
		}
	}
	for name, content := range map[string]string{
		"dup.csv":    "a,1\na,2\n",
		"neg.json":   `{"a": -1}`,
		"mixed.txt":  "a 1\nb\n",
		"float.json": `{"a": 1.5}`,
		"empty.txt":  "\n",
	} {
		if _, err := ReadClassMap(writeFile(t, name, content)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestLossAndRanks(t *testing.T) {
	// Two images, three classes.
	logits := []float32{1, 2, 3, 0, 0, 0}
	loss, acc := Loss(logits, []int{2, 1}, 3)
	lse := math.Log(math.Exp(1) + math.Exp(2) + math.Exp(3))
	want := ((lse - 3) + math.Log(3)) / 2
	if math.Abs(loss-want) > 1e-15 || acc != 0.5 { // ties: first class wins
		t.Errorf("loss %v acc %v, want %v 0.5", loss, acc, want)
	}
	if r := ranks([]float64{0.1, 0.3, math.NaN(), 0.3, -1}); !slices.Equal(r, []int64{3, 1, 5, 2, 4}) {
		t.Errorf("ranks %v", r)
	}
}

// TestLesionResNet: a ResNet has no Lesioner fast path; its stage outputs
// are lesioned through ForwardFrom, one row per channel of layer4, ranked.
func TestLesionResNet(t *testing.T) {
	f := loadNet(t, "vgg16")
	mp := model.DefaultParams()
	mp.Arch, mp.Classes = "resnet18", 10
	dir := t.TempDir()
	job := &stages.Job{Stage: "model", Params: mp, OutDir: dir, Progress: pipelinetest.Progress{}, Logf: func(string, ...any) {}}
	if err := (model.Kind{}).Run(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	p := DefaultParams()
	p.Layer = "layer4"
	p.ClassMap = stages.Path(classMapJSON(t, f.Face.ClassMap))
	out, _, err := run(t, p, map[string][]stages.Input{
		"model":   {pipelinetest.Input(t, "model", dir)},
		"stimuli": {taskInput(t, f.Face, "stimuli")},
	})
	if err != nil {
		t.Fatal(err)
	}
	cols, meta := readTable(t, out+"/layer4.arrow")
	if meta["path"] != "forward_from" || meta["arch"] != "resnet18" || len(cols["loss"]) != 512 {
		t.Fatalf("path %q arch %q, %d rows", meta["path"], meta["arch"], len(cols["loss"]))
	}
	ranks := slices.Sorted(slices.Values(cols["rank"]))
	changed := 0
	for i, r := range ranks {
		if r != float64(i+1) {
			t.Fatalf("ranks %v are not 1…512", ranks)
		}
		if cols["loss_increase"][i] != 0 {
			changed++
		}
	}
	if changed == 0 {
		t.Error("no lesion of layer4 changes the loss")
	}
	p.Layer = "layer4.5"
	if _, _, err := run(t, p, map[string][]stages.Input{
		"model":   {pipelinetest.Input(t, "model", dir)},
		"stimuli": {taskInput(t, f.Face, "stimuli")},
	}); err == nil || !strings.Contains(err.Error(), `resnet18 has no layer "layer4.5"`) {
		t.Errorf("layer4.5: %v", err)
	}
}

// TestLesionStackAndCores checks that the stage's files are byte for byte
// the same whatever the number of lesions stacked per head GEMM, the batch
// size and the number of cores (the chunk size, which sets the order of the
// float64 sums over chunks, stays 8).
func TestLesionStackAndCores(t *testing.T) {
	f := loadNet(t, "vgg16")
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	defer func(s int) { stackRows = s }(stackRows)
	var want map[string][]byte
	for _, c := range []struct{ stack, procs, batch, chunk int }{
		{stackRows, 2, 4, 8}, {1, 1, 4, 8}, {7, 2, 2, 8}, {1 << 20, 1, 8, 8}, {20, 2, 1, 8},
	} {
		stackRows = c.stack
		runtime.GOMAXPROCS(c.procs)
		p := DefaultParams()
		p.ClassMap = stages.Path(classMapJSON(t, f.Face.ClassMap))
		p.ObjectClassMap = stages.Path(classMapCSV(t, f.Object.ClassMap))
		p.Greedy, p.GreedySteps, p.GroupSize = true, 2, 2
		p.Batch, p.Chunk = c.batch, c.chunk
		inputs := map[string][]stages.Input{
			"model":          {modelInput(t, "vgg16", f.Checkpoint)},
			"stimuli":        {taskInput(t, f.Face, "stimuli@faces")},
			"object_stimuli": {taskInput(t, f.Object, "stimuli@objects")},
		}
		out, _, err := run(t, p, inputs)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]byte{}
		for _, name := range []string{"conv13.arrow", GreedyFile} {
			if got[name], err = os.ReadFile(filepath.Join(out, name)); err != nil {
				t.Fatal(err)
			}
		}
		if want == nil {
			want = got
			continue
		}
		for name, b := range got {
			if !bytes.Equal(b, want[name]) {
				t.Errorf("%+v: %s differs from the first run's", c, name)
			}
		}
	}
}
