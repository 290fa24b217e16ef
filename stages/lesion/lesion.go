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
//     checkpoint name them: weights.Model.ClassNames), likewise;
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
// images of a chunk and stacked over lesions (about 2048 rows of lesions ×
// images per GEMM; the results are the same bits as one lesion at a time).
// Memory: fc6's input and pre-activation of every task image
// (n × (C·P² + fc6 width) floats: 117 KB per image for VGG-16), plus one
// chunk's activations at the layer while they are computed, plus the
// stacked head (≈ 48 KB a row for VGG-16: about 100 MB).
//
// Any other tap (an earlier conv, fc6, fc7; every tap of a ResNet, where a
// zeroed channel of a block or stage leaves the residual stream for every
// later block): the general path, net.ForwardFrom
// — the layer's activations of a chunk of images are computed once per
// pass and each lesion zeroes the channel in a copy and runs the rest of the
// network from there (exact, but each lesion costs the layers after the
// tap).
//
// # Networks without a classification head
//
// A network whose last layer is an embedding (dlib_resnet29's 128-value
// face descriptor) has no output classes to lose. Its task is then the
// nearest identity centroid (centroids.go): classes are the task images'
// names in order (class_from: order, required), each identity's centroid
// is the normalised mean of the intact network's unit-length embeddings of
// its images in centroid_stimuli (held-out images; without it, the task
// images themselves), and an image's logits are centroid_scale (default 10) times
// its embedding's cosine with each centroid. The loss and accuracy below
// are those of these logits, the centroids staying the intact network's.
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

	"selectivity/stages"
)

func init() { stages.Register(Kind{}) }

// GreedyFile is the greedy lesioning table.
const GreedyFile = "greedy.arrow"

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
		{Name: "centroid_stimuli", Accepts: []string{stages.Images}, Doc: "networks without a classification head: held-out images of the task's identities whose intact embeddings give the centroids (default: the task images)"},
	}
}

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
	in, err := readInputs(job, p)
	if err != nil {
		return err
	}
	defer in.close()
	nt, tasks := in.mdl.Net, in.tasks
	chunk := max(p.Batch, (p.Chunk+p.Batch-1)/p.Batch*p.Batch)
	ev := &runner{nt: nt, layer: p.Layer, fast: in.fast, batch: p.Batch, chunk: chunk, classes: nt.Classes()}
	channels := 0
	for _, t := range tasks {
		if channels, err = ev.prepare(ctx, t); err != nil {
			return err
		}
		if in.centroids {
			if err := ev.centroidTask(ctx, t, p.CentroidScale); err != nil {
				return err
			}
		}
	}
	arch := nt.Arch().Name
	logf("%s %s: lesioning %d kernels of %s (%s) on %s", arch, in.mdl.Meta["init"], channels, p.Layer, in.path, describeTasks(tasks))

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
	if err := writeKernels(job.Output(p.Layer+".arrow"), tasks, scores, p, arch, nt.Classes(), in.path); err != nil {
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
	return writeGreedy(job.Output(GreedyFile), tasks, scores, steps, p, arch, nt.Classes(), in.path)
}
