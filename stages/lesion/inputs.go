package lesion

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"selectivity/stages"
	"selectivity/stages/internal/data"
	"selectivity/stages/internal/weights"
)

// inputs are what a lesion run reads: the network, its tasks, and which
// path lesions take.
type inputs struct {
	mdl   *weights.Model
	tasks []*task
	fast  bool   // the last convolution: net.Lesioner
	path  string // "lesioner" or "forward_from"
	// centroids: the network has no classification head; the tasks are
	// nearest identity centroids (centroids.go).
	centroids bool
}

func (in *inputs) close() {
	in.mdl.Net.ReleaseBuffers()
	in.mdl.Close()
}

// readInputs checks the slots, loads the model and labels each task's
// images with the network's output indices.
func readInputs(job *stages.Job, p *Params) (_ *inputs, err error) {
	one := func(slot string) (*stages.Input, error) {
		in, err := job.Single(slot)
		if err != nil {
			return nil, fmt.Errorf("lesion: %w", err)
		}
		return in, nil
	}
	mIn, err := one("model")
	if err != nil {
		return nil, err
	}
	sin, err := one("stimuli")
	if err != nil {
		return nil, err
	}
	oin, err := one("object_stimuli")
	if err != nil {
		return nil, err
	}
	cin, err := one("centroid_stimuli")
	if err != nil {
		return nil, err
	}
	if mIn == nil || sin == nil {
		return nil, fmt.Errorf("lesion: slots model and stimuli are required")
	}
	if oin == nil && p.ObjectClassMap != "" {
		return nil, fmt.Errorf("lesion: object_class_map is given but no object_stimuli input")
	}
	if oin != nil && p.ObjectClassFrom == "map" && p.ObjectClassMap == "" {
		return nil, fmt.Errorf("lesion: object_stimuli needs object_class_map (or object_class_from: order or name)")
	}

	mdl, err := weights.LoadInput(*mIn)
	if err != nil {
		return nil, fmt.Errorf("lesion: %w", err)
	}
	in := &inputs{mdl: mdl, path: "forward_from"}
	defer func() {
		if err != nil {
			in.close()
		}
	}()
	nt := mdl.Net
	arch := nt.Arch()
	taps := nt.Taps()
	if !slices.Contains(taps[:len(taps)-1], p.Layer) {
		return nil, fmt.Errorf("lesion: %s has no layer %q to lesion (layers: %s)", arch.Name, p.Layer, strings.Join(taps[:len(taps)-1], ", "))
	}
	if in.fast = arch.Res == nil && p.Layer == arch.Convs[len(arch.Convs)-1].Tap; in.fast {
		in.path = "lesioner"
	}
	if in.centroids = arch.Head().Tap != "logits"; in.centroids {
		if p.ClassFrom != "order" || oin != nil && p.ObjectClassFrom != "order" {
			return nil, fmt.Errorf("lesion: %s has no classification head: its task is the nearest identity centroid; set class_from (and object_class_from) to order", arch.Name)
		}
		in.path += ", nearest centroid"
	}
	if cin != nil && !in.centroids {
		return nil, fmt.Errorf("lesion: centroid_stimuli is for networks without a classification head; %s has one", arch.Name)
	}
	modelNames, err := mdl.ClassNames()
	if err != nil {
		return nil, fmt.Errorf("lesion: %s: %w", mIn.Stage, err)
	}
	classes := nt.Classes()
	if in.centroids { // classes are the task's names, not outputs
		classes = math.MaxInt
	}
	t, err := newTask(sin, "", p.Labels, p.ClassFrom, string(p.ClassMap), classes, modelNames)
	if err != nil {
		return nil, err
	}
	if cin != nil {
		if t.ref, err = centroidSet(cin, p.Labels, t); err != nil {
			return nil, err
		}
	}
	in.tasks = append(in.tasks, t)
	if oin != nil {
		t, err := newTask(oin, "object_", p.ObjectLabels, p.ObjectClassFrom, string(p.ObjectClassMap), classes, modelNames)
		if err != nil {
			return nil, err
		}
		in.tasks = append(in.tasks, t)
	}
	return in, nil
}

// task is one set of task images and their classes.
type task struct {
	prefix string // "" or "object_"
	stage  string
	pixels string
	labels []int
	labSrc string // "identity via map", …
	evals  []evaluator
	// The nearest-centroid task (centroids.go): k centroids of the head's
	// width, the cosine scale; capture receives the intact outputs.
	centroids []float32
	k         int
	scale     float64
	capture   func(first int, out []float32)
	ref       *task          // the centroids' images, nil: the task's own
	index     map[string]int // class name → index
}

// score is a task's loss and accuracy under one lesion.
type score struct{ loss, acc float64 }

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
	tab, err := data.ReadImages(in.Path(data.ImagesFile))
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
	index := map[string]int{}
	for i, n := range names {
		index[n] = idx[i]
	}
	return &task{prefix: prefix, stage: in.Stage, pixels: in.Path(data.PixelsFile), labels: idx, labSrc: labels + " via " + from, index: index}, nil
}

// centroidSet reads held-out images of t's classes (centroid_stimuli),
// labelled with t's indices, whose intact embeddings give t's centroids.
func centroidSet(in *stages.Input, labels string, t *task) (*task, error) {
	tab, err := data.ReadImages(in.Path(data.ImagesFile))
	if err != nil {
		return nil, fmt.Errorf("lesion: input %s: %w", in.Stage, err)
	}
	names := tab.Identity
	if labels == "category" {
		names = tab.Category
	}
	c := &task{stage: in.Stage, pixels: in.Path(data.PixelsFile)}
	var missing []string
	seen := map[int]bool{}
	for _, n := range names {
		k, ok := t.index[n]
		if !ok {
			missing = append(missing, strconv.Quote(n))
		}
		c.labels = append(c.labels, k)
		seen[k] = true
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("lesion: centroid_stimuli %s: %s not among the task's (%s)", in.Stage, list(slices.Compact(missing)), t.stage)
	}
	if len(seen) != len(t.index) || len(names) == 0 {
		return nil, fmt.Errorf("lesion: centroid_stimuli %s has images of %d of the task's %d classes; every class needs its centroid", in.Stage, len(seen), len(t.index))
	}
	return c, nil
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
