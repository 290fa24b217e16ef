// Package model is the `model` stage kind: it fixes the weights of a network
// — a seeded torchvision-style random initialisation (the study's untrained
// network) or a PyTorch checkpoint given by path — checks them against the
// architecture and stores them as weights.arrow, which later stages open
// with Load: memory-mapped, or for a random init regenerated from its seed.
//
// # Parameters
//
//	arch     vgg16 (default) | vgg16_bn | alexnet | resnet18 | resnet34 |
//	         resnet50 (torchvision's layout) | dlib_resnet29 (dlib's face
//	         ResNet as face-api runs it: 150 px RGB, normalize: none, a
//	         128-value embedding for logits; see net) — `go run . layers
//	         ARCH` lists the taps
//	init     random (default) | checkpoint | train
//	weights  the checkpoint file (init: checkpoint; required there): .pth,
//	         .pt, .pth.tar (zip or legacy torch.save; bare state dict or one
//	         under state_dict / model_state_dict / model; module. prefixes
//	         removed) or .safetensors; for dlib_resnet29 face-api's
//	         TensorFlow.js weights manifest, its shards beside it (see
//	         models/face-recognition). It enters the key by content (a
//	         manifest's shards do not: they are recorded in the output).
//	seed     random init: the seed (default 1)
//	classes  random init: outputs of fc8 or fc (0, the default: 1000;
//	         dlib_resnet29: 128, the embedding); checkpoint:
//	         read from the weights — 0 accepts whatever they hold, any other
//	         value must agree with them
//	widths   checkpoint: standard (default) requires torchvision's exact
//	         shapes; any accepts other channel widths and hidden sizes that
//	         are consistent with the architecture's topology
//	epoch    init: train: which of the train stage's checkpoints
//	         (epoch_NN.safetensors): -1 (default) the last, 0 the untrained
//	         initialisation, or an epoch it saved
//
// # Input
//
// train (init: train, required there; otherwise not allowed): a train
// stage, whose weights are loaded as a checkpoint with widths: any.
//
// # Output
//
// weights.arrow — one row per floating-point state-dict entry in torchvision's
// state-dict order, one record batch per row (so that neither writer nor
// reader ever holds a second copy of the weights):
//
//	name   utf8          state-dict name ("features.0.weight")
//	shape  list<int32>   the tensor's shape
//	data   list<float32> its values, row-major
//
// A random init is stored lean: weights.arrow holds the schema and its
// metadata but no rows (a few hundred bytes instead of 553 MB for VGG-16),
// and Load regenerates the weights with net.RandomInit from arch, classes
// and seed — deterministic, so the network is the same one (on the heap, not
// memory-mapped: each stage that loads it holds its own copy while it runs).
//
// Schema metadata: arch, classes, init ("random" or "checkpoint"); random:
// seed; checkpoint: source (the file's base name), source_sha256,
// source_format (torch-zip, torch-legacy, safetensors) and source_wrapper
// (state_dict, model_state_dict, model, or "" for a bare state dict), and
// epoch when the checkpoint records one; class_names when the checkpoint
// names its outputs (checkpoint.ClassNamesKey: a JSON array, output k at
// position k), as those of the train kind do; train: the same as
// checkpoint, init "train" and source the train stage's file.
package model

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"selectivity/stages"
	"selectivity/stages/internal/checkpoint"
	"selectivity/stages/internal/net"
	"selectivity/stages/internal/weights"
)

// DefaultClasses is the number of classes of a random network when the
// experiment does not say.
const DefaultClasses = 1000

// Params are the model stage's parameters.
type Params struct {
	Arch    string      `yaml:"arch" oneof:"vgg16 vgg16_bn alexnet resnet18 resnet34 resnet50 dlib_resnet29" doc:"architecture in torchvision's layout, or dlib_resnet29 (dlib's face ResNet as face-api runs it)"`
	Init    string      `yaml:"init" oneof:"random checkpoint train" doc:"random: torchvision's initialisation from seed (the untrained network); checkpoint: weights from a file; train: weights of a train stage (input train)"`
	Weights stages.Path `yaml:"weights" doc:"init: checkpoint: the PyTorch (.pth, .pt, .pth.tar) or safetensors file, or (dlib_resnet29) the tfjs weights manifest"`
	Seed    int64       `yaml:"seed" min:"0" doc:"init: random: the seed"`
	Classes int         `yaml:"classes" min:"0" max:"10000000" doc:"number of outputs; 0: 1000 for random init, the checkpoint's own for checkpoint init (another value must agree with the checkpoint)"`
	Widths  string      `yaml:"widths" oneof:"standard any" doc:"init: checkpoint: standard requires torchvision's layer widths; any accepts other widths consistent with the architecture"`
	Epoch   int         `yaml:"epoch" min:"-1" max:"100000" doc:"init: train: the epoch whose weights are loaded (-1: the last; 0: before training)"`
}

// DefaultParams returns the defaults: a random VGG-16 from seed 1 with 1000
// classes.
func DefaultParams() *Params {
	return &Params{Arch: "vgg16", Init: "random", Seed: 1, Widths: "standard", Epoch: -1}
}

// Validate reports the rules the tags cannot express.
// Architecture names p's architecture, for the kinds that check their
// layers against an upstream model stage (weights.Layers).
func (p *Params) Architecture() string { return p.Arch }

func (p *Params) Validate() []stages.FieldError {
	var errs []stages.FieldError
	switch {
	case p.Init == "checkpoint" && p.Weights == "":
		errs = append(errs, stages.FieldError{Field: "weights", Msg: "required with init: checkpoint (the checkpoint file)"})
	case p.Init != "checkpoint" && p.Weights != "":
		errs = append(errs, stages.FieldError{Field: "weights", Msg: "only read with init: checkpoint; set init: checkpoint or remove weights"})
	}
	if p.Init != "train" && p.Epoch != -1 {
		errs = append(errs, stages.FieldError{Field: "epoch", Msg: "only read with init: train (the train stage's checkpoint to load)"})
	}
	if fi, err := os.Stat(string(p.Weights)); p.Weights != "" && err == nil && fi.IsDir() {
		errs = append(errs, stages.FieldError{Field: "weights", Msg: fmt.Sprintf("%s is a folder; want the checkpoint file", p.Weights)})
	}
	return errs
}

// Companions are the files the weights file reads (a tfjs manifest's
// shards), which enter the key with it.
func (p *Params) Companions() (map[string][]stages.Path, error) {
	if p.Init != "checkpoint" || p.Weights == "" {
		return nil, nil
	}
	files, err := checkpoint.Companions(string(p.Weights))
	if err != nil || len(files) == 0 {
		return nil, err
	}
	out := make([]stages.Path, len(files))
	for i, f := range files {
		out[i] = stages.Path(f)
	}
	return map[string][]stages.Path{"weights": out}, nil
}

// Kind is the `model` stage kind.
type Kind struct{}

func init() { stages.Register(Kind{}) }

func (Kind) Name() string    { return "model" }
func (Kind) Version() string { return "2" }
func (Kind) Doc() string {
	return "a network's weights: torchvision-style random init from a seed, or a PyTorch/safetensors checkpoint, checked against the architecture"
}
func (Kind) NewParams() any   { return DefaultParams() }
func (Kind) Produces() string { return stages.Network }
func (Kind) Inputs() []stages.Slot {
	return []stages.Slot{{Name: slotTrain, Accepts: []string{stages.TrainedNetwork}, Doc: "init: train: the train stage whose weights are loaded"}}
}

// slotTrain is the input of init: train.
const slotTrain = "train"

// Run builds or loads the weights and writes weights.arrow.
func (Kind) Run(ctx context.Context, job *stages.Job) error {
	p, ok := job.Params.(*Params)
	if !ok {
		return fmt.Errorf("model: params are %T, not *model.Params", job.Params)
	}
	logf := job.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if p.Init != "train" && len(job.Inputs[slotTrain]) > 0 {
		return fmt.Errorf("model: input train is given, but init is %s: set init: train to load its weights", p.Init)
	}
	spec, err := net.Spec(p.Arch)
	if err != nil {
		return fmt.Errorf("model: %w", err)
	}
	if p.Init == "random" { // stored lean: see the package doc
		classes := p.Classes
		if classes == 0 {
			classes = defaultClasses(spec)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		meta := map[string]string{
			"arch": p.Arch, "classes": strconv.Itoa(classes), "init": "random",
			"seed": strconv.FormatInt(p.Seed, 10),
		}
		logf("random %s, seed %d, %d classes (stored as its seed)", p.Arch, p.Seed, classes)
		return weights.Write(ctx, job.Output(weights.File), nil, nil, meta)
	}

	path := string(p.Weights)
	if p.Init == "train" {
		if path, err = trainedWeights(job.Inputs[slotTrain], p.Epoch); err != nil {
			return err
		}
		cp := *p
		cp.Weights, cp.Widths = stages.Path(path), "any"
		p = &cp
	}
	sd, classes, err := loadCheckpoint(p, spec)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	sum, err := sha256File(path)
	if err != nil {
		return fmt.Errorf("model: %w", err)
	}
	meta := map[string]string{
		"arch": p.Arch, "classes": strconv.Itoa(classes), "init": p.Init,
		"source": filepath.Base(path), "source_sha256": sum,
		"source_format": string(sd.Format), "source_wrapper": sd.Wrapper,
	}
	if e, ok := sd.Meta["epoch"]; ok {
		meta["epoch"] = fmt.Sprint(e)
	}
	if v, ok := sd.Meta[checkpoint.ClassNamesKey]; ok {
		if _, err := weights.ParseClassNames(fmt.Sprint(v), classes); err != nil {
			return fmt.Errorf("model: %s: %w", path, err)
		}
		meta[checkpoint.ClassNamesKey] = fmt.Sprint(v)
	}
	var desc []string
	if sd.Wrapper != "" {
		desc = append(desc, "under "+sd.Wrapper)
	}
	if e, ok := meta["epoch"]; ok {
		desc = append(desc, "epoch "+e)
	}
	if len(sd.Other) > 0 {
		desc = append(desc, fmt.Sprintf("%d non-float entries ignored", len(sd.Other)))
	}
	logf("%s: %s %s, %d classes (%s)", filepath.Base(path), sd.Format, p.Arch, classes, strings.Join(desc, ", "))
	return weights.Write(ctx, job.Output(weights.File), spec.Params(classes), toNet(sd.Params), meta)
}

// defaultClasses is the architecture's own number of outputs (dlib_resnet29:
// 128), or DefaultClasses for a classifier, whose Spec leaves it open.
func defaultClasses(spec *net.Arch) int {
	if n := spec.Head().Out; n > 0 {
		return n
	}
	return DefaultClasses
}

// trainedWeights is the checkpoint of a train stage's epoch (-1: its last).
func trainedWeights(ins []stages.Input, epoch int) (string, error) {
	if len(ins) != 1 {
		return "", fmt.Errorf("model: init: train needs one train stage as input train, got %d", len(ins))
	}
	in := ins[0]
	best, saved := -1, []int{}
	for _, f := range in.Files {
		if e, ok := checkpoint.ParseEpochFile(f); ok {
			saved = append(saved, e)
			best = max(best, e)
		}
	}
	if best < 0 {
		return "", fmt.Errorf("model: input %s has no epoch_NN.safetensors: not a train stage", in.Stage)
	}
	if epoch == -1 {
		epoch = best
	}
	if !slices.Contains(saved, epoch) {
		slices.Sort(saved)
		return "", fmt.Errorf("model: epoch: %s saved epochs %v, not %d (list it in its save parameter)", in.Stage, saved, epoch)
	}
	return in.Path(checkpoint.EpochFile(epoch)), nil
}

// loadCheckpoint loads p.Weights and checks it against the architecture:
// its number of classes against p.Classes, every name and shape against
// torchvision's (widths: standard), and finally that net.New accepts it.
func loadCheckpoint(p *Params, spec *net.Arch) (*checkpoint.StateDict, int, error) {
	path := string(p.Weights)
	sd, err := checkpoint.Load(path)
	if err != nil {
		return nil, 0, fmt.Errorf("model: %w", err)
	}
	if sd.Format == checkpoint.FormatTfjs {
		params, err := net.FromTfjs(p.Arch, toNet(sd.Params))
		if err != nil {
			return nil, 0, fmt.Errorf("model: %s: %w", path, err)
		}
		sd.Params = make(map[string]checkpoint.Tensor, len(params))
		for k, t := range params {
			sd.Params[k] = checkpoint.Tensor(t)
		}
	}
	if len(sd.Params) == 0 {
		return nil, 0, fmt.Errorf("model: checkpoint %s holds no floating-point tensors (%s format): not a network's weights", path, sd.Format)
	}
	classes, from := checkpointClasses(sd, spec)
	if p.Classes != 0 && classes != 0 && p.Classes != classes {
		return nil, 0, fmt.Errorf("model: classes: %d set, but checkpoint %s has %d (%s); remove classes or set it to %d", p.Classes, path, classes, from, classes)
	}
	if classes == 0 {
		classes = p.Classes
		if classes == 0 {
			classes = defaultClasses(spec)
		}
	}
	if p.Widths == "standard" {
		if err := sd.Check(spec.Shapes(classes)); err != nil {
			hint := ""
			if _, nerr := net.New(p.Arch, toNet(sd.Params)); nerr == nil {
				hint = fmt.Sprintf("\n(the weights are a consistent %s with other layer widths: set widths: any to use them)", p.Arch)
			}
			return nil, 0, fmt.Errorf("model: %s with %d classes: %w%s", p.Arch, classes, err, hint)
		}
	}
	if _, err := net.New(p.Arch, toNet(sd.Params)); err != nil {
		return nil, 0, fmt.Errorf("model: checkpoint %s: %w", path, err)
	}
	return sd, classes, nil
}

// checkpointClasses reads the number of classes from the head's (fc8's or
// fc's) weight (or bias); 0 if neither says.
func checkpointClasses(sd *checkpoint.StateDict, spec *net.Arch) (int, string) {
	for _, suffix := range []string{".weight", ".bias"} {
		name := spec.Head().Prefix + suffix
		if t, ok := sd.Params[name]; ok && len(t.Shape) >= 1 && t.Shape[0] >= 1 {
			return t.Shape[0], fmt.Sprintf("%s %v", name, t.Shape)
		}
	}
	return 0, ""
}

func toNet(m map[string]checkpoint.Tensor) map[string]net.Tensor {
	out := make(map[string]net.Tensor, len(m))
	for k, t := range m {
		out[k] = net.Tensor(t)
	}
	return out
}

func sha256File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
