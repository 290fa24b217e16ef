// Package lesion is the `lesion` stage kind: how much the network's own task
// suffers when one kernel of a layer is silenced (analyses.md, Lesioning;
// the paper's Fig. 1d), and optionally Dobs et al.'s greedy lesioning.
//
// # Inputs
//
//   - model: a model stage (the network).
//   - stimuli: the task images (a stimuli stage). Each image's class — an
//     output index of the network — comes from a name in images.arrow:
//     its identity (labels: identity, the default; a folder-per-identity
//     set) or its category (labels: category), mapped to an index by
//     class_from:
//     map (default): the file class_map (see ReadClassMap: JSON, CSV/TSV or
//     text) maps names to indices; images whose name is not in the map are
//     an error that lists them;
//     model: the network's own output names (weights from a train stage's
//     checkpoint name them: model.Model.ClassNames), likewise;
//     order: the k-th distinct name in stimulus order is class k;
//     name: the name itself is the index ("17").
//   - object_stimuli (optional): a second task, e.g. object images, with
//     object_labels (default category), object_class_from and
//     object_class_map.
//
// # Lesion
//
// Lesioning kernel k of layer (default conv13) sets its output channel to 0
// after the ReLU, for every image: the same as zeroing the conv's weights
// and bias, as the study's code does (without batch normalisation; with it,
// the BN's weight and bias). Everything up to the layer is computed once.
//
// Last convolution (conv13 of VGG-16, conv5 of AlexNet): the fast path,
// net.Lesioner. A zero channel stays zero through the max and average
// pooling, so a lesion only removes the channel's slice of fc6's input; fc6's
// intact pre-activation is computed once and each lesion subtracts that
// slice's contribution and recomputes fc7 and fc8 only, batched over the
// images. Memory: fc6's input and pre-activation of every task image
// (n × (C·P² + fc6 width) floats: 117 KB per image for VGG-16), plus one
// chunk's activations at the layer while they are computed.
//
// Any other tap (an earlier conv, fc6, fc7; every tap of a ResNet, where a
// zeroed channel of a block or stage leaves the residual stream for every
// later block): the general path, net.ForwardFrom
// — the layer's activations of a chunk of images are computed once per
// pass and each lesion zeroes the channel in a copy and runs the rest of the
// network from there (exact, but each lesion costs the layers after the
// tap).
//
// # Measures
//
// Per task: loss = mean over the task images of the cross-entropy over the
// full output head, natural log (torch.nn.CrossEntropyLoss()), computed in
// float64 from the float32 logits; accuracy = fraction of images whose
// largest logit (first on ties) is their class. loss_increase_k =
// loss(k lesioned) − loss(intact), acc_drop_k = accuracy(intact) −
// accuracy(k lesioned); both intact and lesioned logits come from the same
// code path (net.Lesioner notes why).
//
// # Greedy lesioning (greedy: true; Dobs et al. 2022)
//
// Starting from no lesion, each of greedy_steps steps tries every kernel not
// yet lesioned added to the current set, on the face task (stimuli); the
// group_size kernels whose trials give the largest loss (ties: smaller
// kernel index) join the set, and the enlarged set is re-tested on every
// task. This costs about greedy_steps × C evaluations of the head.
//
// # Outputs
//
// <layer>.arrow (e.g. conv13.arrow; the name the correlate kind looks for,
// so that lesion effects line up with metric tables) — one row per kernel in
// kernel order:
//
//	item            int64    the kernel (channel) index
//	loss            float64  face-task loss with the kernel lesioned
//	loss_increase   float64  loss − intact loss
//	accuracy        float64  face-task accuracy with the kernel lesioned
//	acc_drop        float64  intact accuracy − accuracy
//	rank            int64    1 = largest loss_increase (ties: smaller index)
//
// and with object_stimuli the same five measures prefixed object_
// (object_loss, object_loss_increase, object_accuracy, object_acc_drop,
// object_rank). Schema metadata: layer, table "lesion", path ("lesioner" or
// "forward_from"), arch, classes, images, intact_loss, intact_accuracy (and
// object_images, object_intact_loss, object_intact_accuracy), labels and
// class sources.
//
// greedy.arrow (greedy: true) — one row per kernel added, in order: order
// (int64, 1-based), step (int64), item (int64), trial_loss (float64, the
// face loss when this kernel was tried with the previous set), then the
// re-test of the set after its step: loss, loss_increase, accuracy,
// acc_drop (and object_… with a second task).
package lesion

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"selectivity/stages"
	"selectivity/stages/model"
	"selectivity/stages/model/net"
	"selectivity/stages/stats"
	"selectivity/stages/stimuli"
)

func init() { stages.Register(Kind{}) }

// GreedyFile is the greedy lesioning table.
const GreedyFile = "greedy.arrow"

// Params are the lesion kind's parameters.
type Params struct {
	Layer           string      `yaml:"layer" doc:"the layer whose kernels are lesioned (default conv13; the last conv of VGG or AlexNet takes the fast path); checked against the model stage's arch"`
	Labels          string      `yaml:"labels" oneof:"identity category" doc:"which images.arrow column names each task image's class"`
	ClassFrom       string      `yaml:"class_from" oneof:"map model order name" doc:"name → output index: map (class_map file), model (the network's own output names, from a train stage), order (k-th distinct name is class k) or name (the name is the index)"`
	ClassMap        stages.Path `yaml:"class_map" doc:"class_from map: JSON, CSV/TSV or text file mapping names to output indices"`
	ObjectLabels    string      `yaml:"object_labels" oneof:"identity category" doc:"object task: the column naming each image's class"`
	ObjectClassFrom string      `yaml:"object_class_from" oneof:"map model order name" doc:"object task: as class_from"`
	ObjectClassMap  stages.Path `yaml:"object_class_map" doc:"object task: as class_map"`
	Greedy          bool        `yaml:"greedy" doc:"also run Dobs et al.'s greedy lesioning"`
	GreedySteps     int         `yaml:"greedy_steps" min:"1" max:"100000" doc:"greedy: steps"`
	GroupSize       int         `yaml:"group_size" min:"1" max:"100000" doc:"greedy: kernels added per step"`
	Batch           int         `yaml:"batch" min:"1" max:"4096" doc:"images per forward pass"`
	Chunk           int         `yaml:"chunk" min:"1" max:"1000000" doc:"images whose layer activations are held at once"`
}

// DefaultParams returns the defaults: conv13, identity labels through a
// class map, object task by category through a class map, no greedy
// (10 steps of 1 kernel when enabled), batches of 16, chunks of 128 images.
func DefaultParams() *Params {
	return &Params{Layer: "conv13", Labels: "identity", ClassFrom: "map", ObjectLabels: "category", ObjectClassFrom: "map",
		GreedySteps: 10, GroupSize: 1, Batch: 16, Chunk: 128}
}

// Validate checks what the tags cannot.
func (p *Params) Validate() []stages.FieldError {
	var errs []stages.FieldError
	if p.Layer == "" {
		errs = append(errs, stages.FieldError{Field: "layer", Msg: "must name a layer"})
	}
	check := func(from string, path stages.Path, fromKey, mapKey string) {
		switch {
		case from == "map" && path == "":
			errs = append(errs, stages.FieldError{Field: mapKey, Msg: fmt.Sprintf("required with %s: map (or set %s: order or name)", fromKey, fromKey)})
		case from != "map" && path != "":
			errs = append(errs, stages.FieldError{Field: mapKey, Msg: fmt.Sprintf("only read with %s: map", fromKey)})
		}
	}
	check(p.ClassFrom, p.ClassMap, "class_from", "class_map")
	if p.ObjectClassFrom != "map" || p.ObjectClassMap != "" {
		check(p.ObjectClassFrom, p.ObjectClassMap, "object_class_from", "object_class_map")
	}
	return errs
}

// CheckInput reports a layer the model stage's architecture lacks, before
// anything runs.
func (p *Params) CheckInput(slot string, upstream any) []stages.FieldError {
	arch, layers, ok := model.Layers(upstream)
	if slot != "model" || !ok || p.Layer == "" || slices.Contains(layers, p.Layer) {
		return nil
	}
	return []stages.FieldError{{Field: "layer", Msg: fmt.Sprintf("%s has no layer %q; its layers: %s", arch, p.Layer, strings.Join(layers, ", "))}}
}

// Kind is the `lesion` stage kind.
type Kind struct{}

func (Kind) Name() string    { return "lesion" }
func (Kind) Version() string { return "2" }
func (Kind) Doc() string {
	return "per-kernel lesion effects (loss increase, accuracy drop) on the network's own task, optionally greedy"
}
func (Kind) NewParams() any   { return DefaultParams() }
func (Kind) Produces() string { return stages.LesionEffects }
func (Kind) Inputs() []stages.Slot {
	return []stages.Slot{
		{Name: "model", Required: true, Accepts: []string{stages.Network}, Doc: "model stage: the network"},
		{Name: "stimuli", Required: true, Accepts: []string{stages.Images}, Doc: "stimuli stage: the (face) task images, classes named by identity or category"},
		{Name: "object_stimuli", Accepts: []string{stages.Images}, Doc: "stimuli stage: a second (object) task"},
	}
}

// task is one set of task images and their classes.
type task struct {
	prefix string // "" or "object_"
	stage  string
	pixels string
	labels []int
	labSrc string // "identity via map", …
	evals  []evaluator
}

// score is a task's loss and accuracy under one lesion.
type score struct{ loss, acc float64 }

// Run computes the lesion effects and writes the outputs.
func (Kind) Run(ctx context.Context, job *stages.Job) error {
	p, ok := job.Params.(*Params)
	if !ok {
		return fmt.Errorf("lesion: params are %T, not *lesion.Params", job.Params)
	}
	logf := job.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	one := func(slot string) (*stages.Input, error) {
		in, err := job.Single(slot)
		if err != nil {
			return nil, fmt.Errorf("lesion: %w", err)
		}
		return in, nil
	}
	mIn, err := one("model")
	if err != nil {
		return err
	}
	sin, err := one("stimuli")
	if err != nil {
		return err
	}
	oin, err := one("object_stimuli")
	if err != nil {
		return err
	}
	if mIn == nil || sin == nil {
		return fmt.Errorf("lesion: slots model and stimuli are required")
	}
	if oin == nil && p.ObjectClassMap != "" {
		return fmt.Errorf("lesion: object_class_map is given but no object_stimuli input")
	}
	if oin != nil && p.ObjectClassFrom == "map" && p.ObjectClassMap == "" {
		return fmt.Errorf("lesion: object_stimuli needs object_class_map (or object_class_from: order or name)")
	}

	mdl, err := model.LoadInput(*mIn)
	if err != nil {
		return fmt.Errorf("lesion: %w", err)
	}
	defer mdl.Close()
	nt := mdl.Net
	defer nt.ReleaseBuffers()
	arch := nt.Arch()
	taps := nt.Taps()
	if !slices.Contains(taps[:len(taps)-1], p.Layer) {
		return fmt.Errorf("lesion: %s has no layer %q to lesion (layers: %s)", arch.Name, p.Layer, strings.Join(taps[:len(taps)-1], ", "))
	}
	fast := arch.Res == nil && p.Layer == arch.Convs[len(arch.Convs)-1].Tap
	path := "forward_from"
	if fast {
		path = "lesioner"
	}

	tasks := []*task{}
	modelNames, err := mdl.ClassNames()
	if err != nil {
		return fmt.Errorf("lesion: %s: %w", mIn.Stage, err)
	}
	t, err := newTask(sin, "", p.Labels, p.ClassFrom, string(p.ClassMap), nt.Classes(), modelNames)
	if err != nil {
		return err
	}
	tasks = append(tasks, t)
	if oin != nil {
		t, err := newTask(oin, "object_", p.ObjectLabels, p.ObjectClassFrom, string(p.ObjectClassMap), nt.Classes(), modelNames)
		if err != nil {
			return err
		}
		tasks = append(tasks, t)
	}

	chunk := max(p.Batch, (p.Chunk+p.Batch-1)/p.Batch*p.Batch)
	ev := &runner{nt: nt, layer: p.Layer, fast: fast, batch: p.Batch, chunk: chunk, classes: nt.Classes()}
	channels := 0
	for _, t := range tasks {
		if channels, err = ev.prepare(ctx, t); err != nil {
			return err
		}
	}
	logf("%s %s: lesioning %d kernels of %s (%s) on %s", arch.Name, mdl.Meta["init"], channels, p.Layer, path, describeTasks(tasks))

	// Intact network and every single-kernel lesion.
	sets := make([][]int, channels+1)
	for k := range channels {
		sets[k+1] = []int{k}
	}
	bar := job.Progress.Bar("lesions", "lesions", int64(len(sets)*len(tasks)))
	scores := make([][]score, len(tasks))
	for i, t := range tasks {
		if scores[i], err = ev.evaluate(ctx, t, sets, bar); err != nil {
			bar.Done()
			return err
		}
	}
	bar.Done()
	if err := writeKernels(job.Output(p.Layer+".arrow"), tasks, scores, p, arch.Name, nt.Classes(), path); err != nil {
		return err
	}
	for i, t := range tasks {
		logf("%s: intact loss %.4f, accuracy %.4f over %d images; largest loss increase %.4g", taskName(t), scores[i][0].loss, scores[i][0].acc, len(t.labels), maxIncrease(scores[i]))
	}
	if !p.Greedy {
		return nil
	}
	steps, err := ev.greedy(ctx, job.Progress, tasks, scores, channels, p.GreedySteps, p.GroupSize)
	if err != nil {
		return err
	}
	return writeGreedy(job.Output(GreedyFile), tasks, scores, steps, p, arch.Name, nt.Classes(), path)
}

func taskName(t *task) string {
	if t.prefix == "" {
		return "task"
	}
	return strings.TrimSuffix(t.prefix, "_") + " task"
}

func describeTasks(ts []*task) string {
	var s []string
	for _, t := range ts {
		s = append(s, fmt.Sprintf("%s (%d images, %s)", t.stage, len(t.labels), t.labSrc))
	}
	return strings.Join(s, " and ")
}

func maxIncrease(s []score) float64 {
	m := math.Inf(-1)
	for _, x := range s[1:] {
		m = max(m, x.loss-s[0].loss)
	}
	return m
}

// newTask reads a stimuli stage's image table and maps each image's name
// to a class index.
func newTask(in *stages.Input, prefix, labels, from, mapPath string, classes int, modelNames []string) (*task, error) {
	tab, err := stimuli.ReadImages(in.Path(stimuli.ImagesFile))
	if err != nil {
		return nil, fmt.Errorf("lesion: input %s: %w", in.Stage, err)
	}
	if tab.Len() == 0 {
		return nil, fmt.Errorf("lesion: input %s has no images", in.Stage)
	}
	names := tab.Identity
	if labels == "category" {
		names = tab.Category
	}
	idx, err := classIndices(names, from, mapPath, modelNames)
	if err != nil {
		return nil, fmt.Errorf("lesion: input %s (%s labels): %w", in.Stage, labels, err)
	}
	for i, c := range idx {
		if c >= classes {
			return nil, fmt.Errorf("lesion: input %s: image %s is class %d (%q), but the network has %d outputs", in.Stage, tab.Path[i], c, names[i], classes)
		}
	}
	return &task{prefix: prefix, stage: in.Stage, pixels: in.Path(stimuli.PixelsFile), labels: idx, labSrc: labels + " via " + from}, nil
}

// classIndices maps names to class indices (see the package doc);
// modelNames are the network's own output names, nil if it has none.
func classIndices(names []string, from, mapPath string, modelNames []string) ([]int, error) {
	out := make([]int, len(names))
	var bad []string
	badSeen := map[string]bool{}
	note := func(name string) {
		if !badSeen[name] {
			badSeen[name] = true
			bad = append(bad, strconv.Quote(name))
		}
	}
	switch from {
	case "map", "model":
		m, src := map[string]int{}, "the model's class names"
		if from == "model" {
			if modelNames == nil {
				return nil, fmt.Errorf("class_from model: the model's weights do not name their outputs (only a train stage's checkpoints do); use class_from: map")
			}
			for k, n := range modelNames {
				m[n] = k
			}
		} else {
			var err error
			if m, err = ReadClassMap(mapPath); err != nil {
				return nil, err
			}
			src = "the class map " + mapPath
		}
		for i, n := range names {
			c, ok := m[n]
			if !ok {
				note(n)
			}
			out[i] = c
		}
		if len(bad) > 0 {
			verb := "names are"
			if len(bad) == 1 {
				verb = "name is"
			}
			return nil, fmt.Errorf("%d %s not in %s: %s", len(bad), verb, src, list(bad))
		}
		// Two labels of the task on one output: the network cannot tell
		// them apart, so its accuracy and loss on them mean nothing.
		first := map[int]string{}
		for i, n := range names {
			if prev, ok := first[out[i]]; !ok {
				first[out[i]] = n
			} else if prev != n {
				return nil, fmt.Errorf("%s: %q and %q are both output %d; the network cannot tell them apart", src, prev, n, out[i])
			}
		}
	case "order":
		pos := map[string]int{}
		for i, n := range names {
			if n == "" {
				note(n)
				continue
			}
			c, ok := pos[n]
			if !ok {
				c = len(pos)
				pos[n] = c
			}
			out[i] = c
		}
		if len(bad) > 0 {
			return nil, fmt.Errorf("images without a name (use labels: category for a category set)")
		}
	case "name":
		for i, n := range names {
			c, err := strconv.Atoi(n)
			if err != nil || c < 0 {
				note(n)
			}
			out[i] = c
		}
		if len(bad) > 0 {
			return nil, fmt.Errorf("class_from name needs names that are output indices; these are not: %s", list(bad))
		}
	default:
		return nil, fmt.Errorf("unknown class_from %q", from)
	}
	return out, nil
}

func list(s []string) string {
	if len(s) > 20 {
		return strings.Join(s[:20], ", ") + fmt.Sprintf(", … (%d more)", len(s)-20)
	}
	return strings.Join(s, ", ")
}

// ranks returns 1-based ranks by value, largest first, ties by index.
func ranks(v []float64) []int64 {
	r := make([]int64, len(v))
	for pos, i := range stats.Descending(v) {
		r[i] = int64(pos + 1)
	}
	return r
}

// Loss returns the mean cross-entropy (natural log) of n × classes logits
// against labels, and the accuracy (largest logit, first on ties): float64
// arithmetic on the float32 logits.
func Loss(logits []float32, labels []int, classes int) (loss, acc float64) {
	sum, correct := stats.CrossEntropy(logits, labels, classes)
	n := float64(len(labels))
	return sum / n, float64(correct) / n
}

// evaluator gives one chunk's logits with a set of channels lesioned.
type evaluator interface {
	Logits(ctx context.Context, channels []int, dst []float32) ([]float32, error)
}

// runner computes task scores under lesions.
type runner struct {
	nt           *net.Net
	layer        string
	fast         bool
	batch, chunk int
	classes      int
}

// chunkActs streams the task's images through the network to the layer, a
// chunk at a time: fn gets the chunk's first image, its size and its
// activations (valid during the call).
func (r *runner) chunkActs(ctx context.Context, t *task, fn func(first, n int, acts []float32, c, h, w int) error) error {
	pix, err := stimuli.OpenPixels(t.pixels)
	if err != nil {
		return fmt.Errorf("lesion: input %s: %w", t.stage, err)
	}
	defer pix.Close()
	if pix.Len() != len(t.labels) {
		return fmt.Errorf("lesion: input %s: %d images in pixels.arrow, %d in images.arrow", t.stage, pix.Len(), len(t.labels))
	}
	s := pix.Size()
	var buf []float32
	per, c, h, w := 0, 0, 0, 0
	first, held := 0, 0
	flush := func() error {
		if held == 0 {
			return nil
		}
		err := fn(first, held, buf[:held*per], c, h, w)
		first += held
		held = 0
		return err
	}
	err = pix.Batches(r.batch, func(_, n int, x []float32) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return r.nt.Forward(ctx, x, n, s, s, []string{r.layer}, func(_ string, data []float32, cc, hh, ww int) error {
			if buf == nil {
				c, h, w = cc, hh, ww
				per = c * h * w
				buf = make([]float32, min(r.chunk, len(t.labels))*per)
			}
			copy(buf[held*per:], data[:n*per])
			held += n
			if held+r.batch > len(buf)/per {
				return flush()
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("lesion: input %s: %w", t.stage, err)
	}
	return flush()
}

// prepare computes the fast path's Lesioners of every chunk of the task
// (the general path computes activations per pass instead) and returns the
// layer's channel count.
func (r *runner) prepare(ctx context.Context, t *task) (int, error) {
	channels := 0
	err := r.chunkActs(ctx, t, func(first, n int, acts []float32, c, h, w int) error {
		channels = c
		if !r.fast {
			return nil
		}
		l, err := r.nt.NewLesioner(ctx, acts, n, c, h, w)
		if err != nil {
			return err
		}
		t.evals = append(t.evals, l)
		return nil
	})
	return channels, err
}

// forwardFrom is the general path's evaluator for one chunk.
type forwardFrom struct {
	nt         *net.Net
	layer      string
	acts, work []float32
	n, c, h, w int
}

func (f *forwardFrom) Logits(ctx context.Context, channels []int, dst []float32) ([]float32, error) {
	copy(f.work, f.acts)
	hw := f.h * f.w
	for _, k := range channels {
		if k < 0 || k >= f.c {
			return nil, fmt.Errorf("lesion: channel %d out of range [0, %d)", k, f.c)
		}
		for i := range f.n {
			clear(f.work[(i*f.c+k)*hw : (i*f.c+k+1)*hw])
		}
	}
	err := f.nt.ForwardFrom(ctx, f.layer, f.work, f.n, f.c, f.h, f.w, []string{"logits"}, func(_ string, data []float32, c, _, _ int) error {
		if cap(dst) < len(data) {
			dst = make([]float32, len(data))
		}
		dst = dst[:len(data)]
		copy(dst, data)
		return nil
	})
	return dst, err
}

// evaluate scores the task with each set of channels lesioned (an empty
// set: the intact network).
func (r *runner) evaluate(ctx context.Context, t *task, sets [][]int, bar stages.Bar) ([]score, error) {
	sums := make([]float64, len(sets))
	correct := make([]int, len(sets))
	var logits []float32
	run := func(first, n int, e evaluator) error {
		labels := t.labels[first : first+n]
		for s, set := range sets {
			if err := ctx.Err(); err != nil {
				return err
			}
			var err error
			if logits, err = e.Logits(ctx, set, logits); err != nil {
				return fmt.Errorf("lesion: %w", err)
			}
			ce, ok := stats.CrossEntropy(logits, labels, r.classes)
			sums[s] += ce
			correct[s] += ok
			if first+n == len(t.labels) && bar != nil {
				bar.Add(1)
			}
		}
		return nil
	}
	if r.fast {
		first := 0
		for _, e := range t.evals {
			l := e.(*net.Lesioner)
			if err := run(first, l.Images(), e); err != nil {
				return nil, err
			}
			first += l.Images()
		}
	} else {
		err := r.chunkActs(ctx, t, func(first, n int, acts []float32, c, h, w int) error {
			f := &forwardFrom{nt: r.nt, layer: r.layer, acts: acts, work: make([]float32, len(acts)), n: n, c: c, h: h, w: w}
			return run(first, n, f)
		})
		if err != nil {
			return nil, err
		}
	}
	n := float64(len(t.labels))
	out := make([]score, len(sets))
	for s := range sets {
		out[s] = score{loss: sums[s] / n, acc: float64(correct[s]) / n}
	}
	return out, nil
}

// greedyStep is one step of greedy lesioning.
type greedyStep struct {
	kernels   []int
	trialLoss []float64
	retest    []score // per task
}

// greedy runs Dobs et al.'s greedy lesioning (see the package doc).
func (r *runner) greedy(ctx context.Context, prog stages.Progress, tasks []*task, intact [][]score, channels, steps, group int) ([]greedyStep, error) {
	var current []int
	var out []greedyStep
	total := int64(0)
	for s := range steps {
		left := channels - s*group
		if left <= 0 {
			break
		}
		total += int64(left)
	}
	bar := prog.Bar("greedy lesioning", "trials", total)
	defer bar.Done()
	for range steps {
		in := make([]bool, channels)
		for _, k := range current {
			in[k] = true
		}
		var cand []int
		var sets [][]int
		for k := range channels {
			if !in[k] {
				cand = append(cand, k)
				sets = append(sets, append(slices.Clone(current), k))
			}
		}
		if len(cand) == 0 {
			break
		}
		sc, err := r.evaluate(ctx, tasks[0], sets, nil)
		if err != nil {
			return nil, err
		}
		bar.Add(int64(len(cand)))
		loss := make([]float64, len(cand))
		for i := range cand {
			loss[i] = sc[i].loss
		}
		rk := ranks(loss)
		order := make([]int, len(cand))
		for i, rnk := range rk {
			order[rnk-1] = i
		}
		st := greedyStep{}
		for _, i := range order[:min(group, len(order))] {
			st.kernels = append(st.kernels, cand[i])
			st.trialLoss = append(st.trialLoss, loss[i])
		}
		current = append(current, st.kernels...)
		for _, t := range tasks {
			res, err := r.evaluate(ctx, t, [][]int{current}, nil)
			if err != nil {
				return nil, err
			}
			st.retest = append(st.retest, res[0])
		}
		out = append(out, st)
	}
	return out, nil
}
