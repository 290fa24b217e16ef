// Package extract is the `extract` stage kind: it runs a model stage's network
// over a stimuli stage's images in batches and stores the post-ReLU
// activations of the requested layers, streaming each batch to disk so that
// memory is bounded by the batch, not by the stimulus set.
//
// # Inputs and parameters
//
//	inputs:  stimuli  one stimuli stage (images.arrow, pixels.arrow)
//	         model    one model stage (weights.arrow)
//	layers   taps to store (default conv2, conv4, conv7, conv10, conv13):
//	         conv1…convN and fc6, fc7 of VGG and AlexNet; conv1, layer1…
//	         layer4, blocks (layer3.1) and avgpool of a ResNet (`go run .
//	         layers ARCH` lists them); checked against the model stage's
//	         arch when the experiment is loaded
//	logits   also store the logits (default false)
//	batch    images per forward pass (default 16)
//	compression  body compression of the layer files: zstd (default),
//	         lz4 or none (arrowfile.CreateCompressed); post-ReLU maps are
//	         mostly zeros, and readers decompress one record batch (one
//	         image) at a time
//
// # Outputs
//
// <layer>.arrow for each layer, and logits.arrow with logits: true — an
// arrowfile matrix: one row per image in the stimulus table's order, column
// `values` of FixedSizeList<float32>[C·H·W] (the activations in C, H, W
// order; C·1·1 for fc6, fc7 and the logits), one record batch per image,
// so the bytes do not depend on the forward batch size, each batch's body
// compressed as the compression parameter says. Schema metadata: shape
// "C,H,W", layer (the tap: "conv7", "logits"),
// level ("unit", or "logits"), arch, classes, input ("3,S,S").
//
// images.arrow — a copy of the stimuli stage's image table.
package extract

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"selectivity/cache/arrowfile"
	"selectivity/stages"
	"selectivity/stages/internal/data"
	"selectivity/stages/internal/net"
	"selectivity/stages/internal/weights"
)

// Files the stage reads from its stimuli input and writes.
const (
	LogitsFile = "logits.arrow"
)

// DefaultLayers are the study's taps.
var DefaultLayers = []string{"conv2", "conv4", "conv7", "conv10", "conv13"}

// Params are the extract stage's parameters.
type Params struct {
	Layers      []string `yaml:"layers" doc:"taps whose post-ReLU activations are stored: conv1…convN, fc6, fc7; a ResNet's conv1, layer1…layer4, blocks (layer3.1), avgpool"`
	Logits      bool     `yaml:"logits" doc:"also store the logits (logits.arrow)"`
	Batch       int      `yaml:"batch" min:"1" max:"100000" key:"-" doc:"images per forward pass (memory grows with it)"`
	Compression string   `yaml:"compression" oneof:"zstd lz4 none" doc:"body compression of the layer files (Arrow IPC): zstd, lz4 or none"`
}

// DefaultParams returns the defaults.
func DefaultParams() *Params {
	return &Params{Layers: slices.Clone(DefaultLayers), Batch: 16, Compression: "zstd"}
}

// LayerFile is the output file of a layer (or "logits").
func LayerFile(layer string) string { return layer + ".arrow" }

// allTaps lists, per architecture, the taps a layer may name (no logits).
func allTaps() map[string][]string {
	out := map[string][]string{}
	for _, a := range net.Archs() {
		spec, err := net.Spec(a)
		if err != nil {
			continue
		}
		out[a] = layersOf(spec.Taps())
	}
	return out
}

// resolve is arch's tap for a layer name: a tap, or the torchvision module
// path it is the output of (net.Arch.Resolve).
func resolve(arch, name string) (string, bool) {
	spec, err := net.Spec(arch)
	if err != nil {
		return "", false
	}
	return spec.Resolve(name)
}

// layersOf is an architecture's taps but the logits (dlib_resnet29's last
// tap, its embedding, is a layer).
func layersOf(taps []string) []string {
	if taps[len(taps)-1] == "logits" {
		return taps[:len(taps)-1]
	}
	return taps
}

// Validate reports unknown layer names (known to no architecture; the
// model stage's own architecture is checked by CheckInput), duplicates and
// an empty request.
func (p *Params) Validate() []stages.FieldError {
	var errs []stages.FieldError
	if len(p.Layers) == 0 && !p.Logits {
		errs = append(errs, stages.FieldError{Field: "layers", Msg: "no layers and no logits: nothing to extract"})
	}
	taps := allTaps()
	known := func(l string) bool {
		for _, a := range net.Archs() {
			if _, ok := resolve(a, l); ok {
				return true
			}
		}
		return false
	}
	seen := map[string]bool{}
	for i, l := range p.Layers {
		field := fmt.Sprintf("layers[%d]", i)
		switch {
		case l == "logits":
			errs = append(errs, stages.FieldError{Field: field, Msg: "logits is not a layer; set logits: true"})
		case !known(l):
			errs = append(errs, stages.FieldError{Field: field, Msg: fmt.Sprintf("unknown layer %q; valid: %s", l, validList(taps))})
		case seen[l]:
			errs = append(errs, stages.FieldError{Field: field, Msg: fmt.Sprintf("%s listed twice", l)})
		}
		seen[l] = true
	}
	return errs
}

// CheckInput reports layers the model stage's architecture lacks, before
// anything runs.
func (p *Params) CheckInput(slot string, upstream any) []stages.FieldError {
	arch, layers, ok := weights.Layers(upstream)
	if slot != "model" || !ok {
		return nil
	}
	var bad []string
	for _, l := range p.Layers {
		if t, ok := resolve(arch, l); l != "logits" && (!ok || !slices.Contains(layers, t)) {
			bad = append(bad, strconv.Quote(l))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return []stages.FieldError{{Field: "layers", Msg: fmt.Sprintf("%s has no layer %s; its layers: %s (`go run . layers %s` shows their shapes)", arch, strings.Join(bad, ", "), strings.Join(layers, ", "), arch)}}
}

// validList describes the taps of every architecture.
func validList(taps map[string][]string) string {
	var parts []string
	for _, a := range net.Archs() {
		parts = append(parts, a+": "+strings.Join(taps[a], ", "))
	}
	return strings.Join(parts, "; ")
}

// Kind is the `extract` stage kind.
type Kind struct{}

func init() { stages.Register(Kind{}) }

func (Kind) Name() string    { return "extract" }
func (Kind) Version() string { return "4" }
func (Kind) Doc() string {
	return "post-ReLU activations of a network's layers (and optionally logits) for every stimulus, streamed to one Arrow matrix per layer"
}
func (Kind) NewParams() any   { return DefaultParams() }
func (Kind) Produces() string { return stages.UnitActivations }
func (Kind) Inputs() []stages.Slot {
	return []stages.Slot{
		{Name: "stimuli", Required: true, Accepts: []string{stages.Images}, Doc: "a stimuli stage: the images"},
		{Name: "model", Required: true, Accepts: []string{stages.Network}, Doc: "a model stage: the network"},
	}
}

// Run runs the forward passes and writes the outputs.
func (Kind) Run(ctx context.Context, job *stages.Job) (err error) {
	p, ok := job.Params.(*Params)
	if !ok {
		return fmt.Errorf("extract: params are %T, not *extract.Params", job.Params)
	}
	if len(job.Inputs["stimuli"]) != 1 || len(job.Inputs["model"]) != 1 {
		return fmt.Errorf("extract: needs exactly one stimuli and one model input (got %d and %d)", len(job.Inputs["stimuli"]), len(job.Inputs["model"]))
	}
	stim, mod := job.Inputs["stimuli"][0], job.Inputs["model"][0]

	m, err := weights.LoadInput(mod)
	if err != nil {
		return fmt.Errorf("extract: %w", err)
	}
	defer m.Close()
	taps, err := requestedTaps(m, p)
	if err != nil {
		return err
	}

	px, err := data.OpenPixels(stim.Path(data.PixelsFile))
	if err != nil {
		return fmt.Errorf("extract: stimuli %s: %w", stim.Stage, err)
	}
	defer px.Close()
	n := px.Len()
	if table, err := data.ReadImages(stim.Path(data.ImagesFile)); err != nil {
		return fmt.Errorf("extract: stimuli %s: %w", stim.Stage, err)
	} else if table.Len() != n {
		return fmt.Errorf("extract: stimuli %s: images.arrow has %d rows, pixels.arrow %d", stim.Stage, table.Len(), n)
	}
	if n == 0 {
		return fmt.Errorf("extract: stimuli %s has no images", stim.Stage)
	}

	s := px.Size()
	meta := map[string]string{
		"arch":    m.ArchName(),
		"classes": strconv.Itoa(m.Classes()),
		"input":   arrowfile.FormatInts(3, s, s),
	}
	writers := map[string]*tapWriter{}
	defer func() {
		for _, w := range writers {
			if err != nil {
				w.abort()
			}
		}
	}()
	for _, t := range taps {
		writers[t] = &tapWriter{path: job.Output(LayerFile(t)), tap: t, meta: meta, compr: compression(p.Compression)}
	}

	bar := job.Progress.Bar("forward", "images", int64(n))
	defer bar.Done()
	err = px.Batches(p.Batch, func(first, nb int, x []float32) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := m.Forward(ctx, x, nb, s, s, taps, func(tap string, data []float32, c, h, w int) error {
			return writers[tap].write(data, nb, c, h, w)
		})
		if err != nil {
			return fmt.Errorf("extract: images %d–%d: %w", first, first+nb-1, err)
		}
		bar.Add(int64(nb))
		return nil
	})
	if err != nil {
		return err
	}
	for _, t := range taps {
		if err := writers[t].close(n); err != nil {
			return err
		}
	}
	if err := data.CopyFile(job.Output(data.ImagesFile), stim.Path(data.ImagesFile)); err != nil {
		return fmt.Errorf("extract: %w", err)
	}
	if job.Logf != nil {
		job.Logf("%d images through %s: %s", n, m.ArchName(), strings.Join(taps, ", "))
	}
	return nil
}

// requestedTaps checks p.Layers against the network's taps and returns the
// taps to compute in network order, logits last if requested.
func requestedTaps(m *weights.Model, p *Params) ([]string, error) {
	layers := layersOf(m.Taps())
	if p.Logits && len(layers) == len(m.Taps()) {
		return nil, fmt.Errorf("extract: logits: %s has no logits; its last layer, %s, is extracted by listing it in layers", m.ArchName(), layers[len(layers)-1])
	}
	var bad, want []string
	for _, l := range p.Layers {
		t, ok := resolve(m.ArchName(), l)
		if !ok || !slices.Contains(layers, t) {
			bad = append(bad, strconv.Quote(l))
		}
		want = append(want, t)
	}
	if len(bad) > 0 {
		what := "is not a layer"
		if len(bad) > 1 {
			what = "are not layers"
		}
		return nil, fmt.Errorf("extract: layers: %s %s of %s; valid: %s (logits: true for the logits)", strings.Join(bad, ", "), what, m.ArchName(), strings.Join(layers, ", "))
	}
	var taps []string
	for _, t := range layers {
		if slices.Contains(want, t) {
			taps = append(taps, t)
		}
	}
	if p.Logits {
		taps = append(taps, "logits")
	}
	return taps, nil
}

// compression is the arrowfile compression a compression parameter names.
func compression(name string) arrowfile.Compression {
	if name == "none" {
		return arrowfile.Uncompressed
	}
	return arrowfile.Compression(name)
}

// tapWriter streams one tap's activations into its matrix file, one record
// batch per forward batch, created when the first batch gives the shape.
type tapWriter struct {
	path, tap string
	meta      map[string]string
	compr     arrowfile.Compression
	w         *arrowfile.Writer
	schema    *arrow.Schema
	c, h, wd  int
	rows      int
}

func (t *tapWriter) write(vals []float32, n, c, h, w int) error {
	if t.w == nil {
		cols := c * h * w
		l := data.Layer{Name: t.tap, Level: data.LevelUnit}
		if t.tap == "logits" {
			l.Level = data.LevelLogits
		}
		meta := l.Meta([]int{c, h, w}, t.meta)
		t.schema = arrowfile.MatrixSchema(cols, meta)
		var err error
		if t.w, err = arrowfile.CreateCompressed(t.path, t.schema, t.compr); err != nil {
			return err
		}
		t.c, t.h, t.wd = c, h, w
	}
	if c != t.c || h != t.h || w != t.wd {
		return fmt.Errorf("extract: %s: batch of shape %d×%d×%d after %d×%d×%d", t.tap, c, h, w, t.c, t.h, t.wd)
	}
	cols := c * h * w
	if len(vals) != n*cols {
		return fmt.Errorf("extract: %s: %d values for %d rows of %d", t.tap, len(vals), n, cols)
	}
	// One record batch per image, so that the file's bytes do not depend
	// on the forward batch size, which stays out of the cache key.
	for i := range n {
		row := vals[i*cols : (i+1)*cols]
		child := array.NewData(arrow.PrimitiveTypes.Float32, cols,
			[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Float32Traits.CastToBytes(row))}, nil, 0, 0)
		list := array.NewData(t.schema.Field(0).Type, 1, []*memory.Buffer{nil}, []arrow.ArrayData{child}, 0, 0)
		col := array.MakeFromData(list)
		rec := array.NewRecordBatch(t.schema, []arrow.Array{col}, 1)
		err := t.w.Write(rec)
		rec.Release()
		col.Release()
		list.Release()
		child.Release()
		if err != nil {
			return err
		}
		t.rows++
	}
	return nil
}

func (t *tapWriter) close(want int) error {
	if t.w == nil || t.rows != want {
		return fmt.Errorf("extract: %s: %d rows written for %d images", t.tap, t.rows, want)
	}
	return t.w.Close()
}

func (t *tapWriter) abort() {
	if t.w != nil {
		t.w.Abort()
	}
}
