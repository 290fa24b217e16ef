// Package train is the `train` stage kind: it trains a network of
// torchvision's VGG-16 layout, at a reduced width and input size, on the dual
// task of Dobs et al. (2022) — one output head over face identities
// followed by object classes — and stores its initial weights (epoch 0, the
// untrained twin), its final weights (and chosen epochs) and its training
// curve. A model stage with init: train loads the weights it writes.
//
// # Inputs
//
//   - identities: a stimuli stage holding an identity set (every image has
//     an identity): the training faces. Identity k in stimulus order is
//     output k.
//   - objects (optional): a stimuli stage holding a category set: the
//     training objects. Category j in stimulus order is output
//     identities + j.
//   - val_identities, val_objects (optional): held-out images of the
//     trained identities and of the object classes, scored after every
//     epoch (and before the first). Their identity and category names must
//     be among the trained ones.
//
// Every image must be stored at least size px wide (the stimuli stage's
// crop); the training images' normalisation is applied as stored.
//
// # Network
//
// net.Scaled(arch, width, hidden, classes): every convolution of
// torchvision's VGG-16 with its channels divided by width (8: 8, 8, 16, 16,
// 32, 32, 32, 64, 64, 64, 64, 64, 64), fc6 and fc7 of hidden features, fc8
// over identities + object classes; the same state-dict names as
// torchvision; no dropout. It starts from weights drawn from seed: init he
// (the default) is He et al.'s fan-in scheme (net.FanInInit), init
// torchvision is VGG's own (net.RandomInitArch, kaiming fan-out convs and
// N(0, 0.01) linear layers). The study's network was trained from the
// latter, but without BatchNorm it shrinks the signal at every widening
// convolution and linear layer: on the synthetic dual task of
// configs/train.yaml (at a third of its images) it was still on the
// class-prior plateau after 8 epochs (train loss 4.35, held-out face
// accuracy 0 at lr 0.05), where he reached a train loss of 2.27, 16 %
// held-out face and 70 % object accuracy at lr 0.02. Epoch 0, the
// untrained twin, is whichever initialisation was used.
//
// # Training
//
// Each epoch visits the training images (faces and objects together) in an
// order shuffled from (seed, epoch), in batches of batch images; a last
// partial batch is dropped, as DataLoader(drop_last=True) does. Each image
// is augmented as torchvision's RandomCrop(size), RandomHorizontalFlip()
// (flip: true) and RandomGrayscale(grayscale) would, with draws from the
// same per-epoch stream (crop offset y, x, flip, grayscale, in that order).
// Loss: softmax cross-entropy over the full head, averaged over the batch.
// Gradient clipping (clip > 0): torch.nn.utils.clip_grad_norm_(max_norm =
// clip): with n the L2 norm of all gradients together, every gradient is
// multiplied by clip/(n + 1e-6) when that is below 1 (norm in float64 over
// the parameters in name order). Optimiser: torch.optim.SGD(lr, momentum,
// weight_decay) (net.SGD). Learning
// rate per step: warmup epochs of linear warm-up, lr·(s+1)/W for step s of
// the W warm-up steps, then per epoch e (0-based, counted after warm-up, of
// E = epochs − warmup): cosine lr·½(1 + cos(π·e/E)); step
// lr·gamma^⌊e/step_epochs⌋; constant lr.
//
// Scoring (held-out sets, training-curve rows): center crop of size px,
// mean cross-entropy and accuracy (stats.CrossEntropy) from the inference
// network (net.New) of the current weights.
//
// The same parameters and inputs give bit-identical weights on any machine
// of the same CPU kind, whatever the number of cores (the gradients are
// reduced in a fixed order; see net.Trainer).
//
// # Outputs
//
//   - epoch_00.safetensors, epoch_NN.safetensors (the last epoch and those
//     in save): the weights in torchvision's state-dict names and order,
//     float32, with safetensors metadata arch, width, hidden, input (size),
//     epoch, seed, identities, objects, normalize and class_names (a JSON
//     array of the outputs' names: identity names, then categories).
//   - curve.arrow: one row per epoch, 0 (before training) first: epoch
//     int32, lr float64 (the last step's; NaN at 0), train_loss and
//     train_acc float64 (means over the epoch's steps; NaN at 0), face_loss,
//     face_acc, object_loss, object_acc float64 (the held-out sets; NaN
//     without one). Schema metadata: face_chance and object_chance (1/number
//     of identities, 1/number of object classes), identities, objects.
package train

import (
	"context"
	"fmt"
	"slices"

	"selectivity/stages"
)

// Params are the train kind's parameters.
type Params struct {
	Arch        string  `yaml:"arch" oneof:"vgg16" doc:"architecture in torchvision's layout"`
	Width       int     `yaml:"width" min:"1" max:"64" doc:"every conv's channels are torchvision's divided by this (8: 8, 8, 16, … 64)"`
	Hidden      int     `yaml:"hidden" min:"1" max:"16384" doc:"features of fc6 and fc7"`
	Size        int     `yaml:"size" min:"32" max:"1024" doc:"input side: random crops of this size from the stored images"`
	Epochs      int     `yaml:"epochs" min:"1" max:"10000" doc:"passes over the training images"`
	Batch       int     `yaml:"batch" min:"1" max:"4096" doc:"images per SGD step (changes the result, so it is in the key)"`
	LR          float64 `yaml:"lr" min:"0" max:"10" doc:"peak learning rate"`
	Schedule    string  `yaml:"schedule" oneof:"cosine step constant" doc:"learning rate after warm-up: cosine to 0, step (× gamma every step_epochs), constant"`
	StepEpochs  int     `yaml:"step_epochs" min:"1" max:"10000" doc:"schedule step: epochs between decays"`
	Gamma       float64 `yaml:"gamma" min:"0" max:"1" doc:"schedule step: decay factor"`
	Warmup      int     `yaml:"warmup" min:"0" max:"10000" doc:"epochs of linear learning-rate warm-up"`
	Momentum    float64 `yaml:"momentum" min:"0" max:"1" doc:"SGD momentum"`
	WeightDecay float64 `yaml:"weight_decay" min:"0" max:"1" doc:"SGD weight decay (L2 added to the gradient)"`
	Clip        float64 `yaml:"clip" min:"0" doc:"largest L2 norm of the whole gradient, rescaled down to it when longer (0: no clipping)"`
	Flip        bool    `yaml:"flip" doc:"random horizontal flips"`
	Grayscale   float64 `yaml:"grayscale" min:"0" max:"1" doc:"probability of converting an image to grayscale (colour images only change)"`
	Init        string  `yaml:"init" oneof:"he torchvision" doc:"initial weights: he (He et al. 2015, fan-in; trains from scratch) or torchvision (VGG's own scheme; stays on the class-prior plateau without BatchNorm)"`
	Seed        int64   `yaml:"seed" min:"0" doc:"initial weights, shuffling and augmentation"`
	Save        []int   `yaml:"save" min:"1" doc:"epochs whose weights are kept besides epoch 0 and the last"`
}

// DefaultParams returns the defaults: VGG-16 ÷ 8 with a 256-256 classifier
// on 64 px, He initialisation, 30 epochs of batch 32, SGD lr 0.02 (momentum
// 0.9, weight decay 1e-4) with one warm-up epoch and a cosine schedule,
// gradients clipped to norm 5, flips and 10 % grayscale, seed 1.
func DefaultParams() *Params {
	return &Params{
		Arch: "vgg16", Width: 8, Hidden: 256, Size: 64, Epochs: 30, Batch: 32,
		LR: 0.02, Schedule: "cosine", StepEpochs: 10, Gamma: 0.1, Warmup: 1,
		Momentum: 0.9, WeightDecay: 1e-4, Clip: 5, Flip: true, Grayscale: 0.1, Init: "he", Seed: 1,
	}
}

// Validate checks what the tags cannot.
func (p *Params) Validate() []stages.FieldError {
	var errs []stages.FieldError
	if p.Warmup >= p.Epochs {
		errs = append(errs, stages.FieldError{Field: "warmup", Msg: fmt.Sprintf("%d warm-up epochs leave none of the %d epochs to train", p.Warmup, p.Epochs)})
	}
	for i, e := range p.Save {
		switch {
		case e > p.Epochs:
			errs = append(errs, stages.FieldError{Field: fmt.Sprintf("save[%d]", i), Msg: fmt.Sprintf("epoch %d is after the last (%d)", e, p.Epochs)})
		case slices.Contains(p.Save[:i], e):
			errs = append(errs, stages.FieldError{Field: fmt.Sprintf("save[%d]", i), Msg: fmt.Sprintf("epoch %d listed twice", e)})
		}
	}
	return errs
}

// Input slots.
const (
	slotIdentities    = "identities"
	slotObjects       = "objects"
	slotValIdentities = "val_identities"
	slotValObjects    = "val_objects"
)

// Kind is the `train` stage kind.
type Kind struct{}

func init() { stages.Register(Kind{}) }

func (Kind) Name() string    { return "train" }
func (Kind) Version() string { return "1" }
func (Kind) Doc() string {
	return "trains a reduced-width VGG-16 on face identities and object classes (Dobs et al.'s dual task) with SGD; writes epoch-0 and final weights and the training curve"
}
func (Kind) NewParams() any   { return DefaultParams() }
func (Kind) Produces() string { return stages.TrainedNetwork }
func (Kind) Inputs() []stages.Slot {
	img := []string{stages.Images}
	return []stages.Slot{
		{Name: slotIdentities, Required: true, Accepts: img, Doc: "a stimuli identity set: the training faces (identity k is output k)"},
		{Name: slotObjects, Accepts: img, Doc: "a stimuli category set: the training objects (category j is output identities + j)"},
		{Name: slotValIdentities, Accepts: img, Doc: "held-out images of the trained identities, scored every epoch"},
		{Name: slotValObjects, Accepts: img, Doc: "held-out object images, scored every epoch"},
	}
}

// Run trains the network and writes its checkpoints and curve.
func (Kind) Run(ctx context.Context, job *stages.Job) error {
	p, ok := job.Params.(*Params)
	if !ok {
		return fmt.Errorf("train: params are %T, not *train.Params", job.Params)
	}
	d, err := openData(job, p.Size)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	defer d.close()
	return run(ctx, job, p, d)
}
