package lesion

import (
	"fmt"
	"slices"
	"strings"

	"selectivity/stages"
	"selectivity/stages/internal/net"
	"selectivity/stages/internal/weights"
)

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
	CentroidScale   float64     `yaml:"centroid_scale" min:"0" doc:"networks without a classification head (an embedding): the cosine-softmax scale of the nearest-centroid task"`
}

// DefaultParams returns the defaults: conv13, identity labels through a
// class map, object task by category through a class map, no greedy
// (10 steps of 1 kernel when enabled), batches of 16, chunks of 128 images,
// a cosine scale of 10 for the nearest-centroid task.
func DefaultParams() *Params {
	return &Params{Layer: "conv13", Labels: "identity", ClassFrom: "map", ObjectLabels: "category", ObjectClassFrom: "map",
		GreedySteps: 10, GroupSize: 1, Batch: 16, Chunk: 128, CentroidScale: 10}
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
	arch, layers, ok := weights.Layers(upstream)
	if slot != "model" || !ok {
		return nil
	}
	// Without a classification head (dlib_resnet29's embedding) the task is
	// the nearest identity centroid, whose classes are the names in order.
	if spec, err := net.Spec(arch); err == nil && spec.Head().Tap != "logits" {
		var errs []stages.FieldError
		for _, f := range []struct{ key, from string }{{"class_from", p.ClassFrom}, {"object_class_from", p.ObjectClassFrom}} {
			if f.from != "order" && (f.key == "class_from" || p.ObjectClassMap != "" || f.from != "map") {
				errs = append(errs, stages.FieldError{Field: f.key, Msg: fmt.Sprintf("%s has no classification head (its last layer is the %s): its task is the nearest identity centroid, whose classes are the names in order; set %s: order", arch, spec.Head().Tap, f.key)})
			}
		}
		if len(errs) > 0 {
			return errs
		}
	}
	if p.Layer == "" || slices.Contains(layers, p.Layer) {
		return nil
	}
	return []stages.FieldError{{Field: "layer", Msg: fmt.Sprintf("%s has no layer %q; its layers: %s", arch, p.Layer, strings.Join(layers, ", "))}}
}
