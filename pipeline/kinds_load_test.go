package pipeline

import (
	"context"
	"time"

	"selectivity/stages"
)

// Kinds for the loader's tests, named load-* so that they clash neither
// with real kinds nor with pipeline/stagetest's test-* kinds.

type testKind struct {
	name      string
	slots     []stages.Slot
	newParams func() any
}

func (k testKind) Name() string                                 { return k.name }
func (k testKind) Version() string                              { return "1" }
func (k testKind) Doc() string                                  { return "a kind for the loader's tests" }
func (k testKind) NewParams() any                               { return k.newParams() }
func (k testKind) Inputs() []stages.Slot                        { return k.slots }
func (k testKind) Run(ctx context.Context, j *stages.Job) error { return nil }

type sourceParams struct {
	Seed    int         `yaml:"seed" min:"0"`
	N       int         `yaml:"n" min:"1" max:"1000"`
	Weights stages.Path `yaml:"weights"`
	Label   string      `yaml:"label"`
	Hidden  string      // no tag: not settable
}

type extractParams struct {
	Net    string   `yaml:"net" oneof:"trained untrained"`
	Layers []string `yaml:"layers" oneof:"conv1 conv2 conv3 conv4 fc"`
	Batch  int      `yaml:"batch" min:"1"`
}

type metricOpts struct {
	Depth int    `yaml:"depth" min:"1" max:"8"`
	Mode  string `yaml:"mode" required:"true" oneof:"fast exact"`
}

type metricCommon struct {
	Note string `yaml:"note"`
}

type metricParams struct {
	metricCommon `yaml:",inline"`
	Threshold    float64                `yaml:"threshold" min:"0" max:"1"`
	Aggregation  string                 `yaml:"aggregation" oneof:"mean l2 max"`
	Layers       []string               `yaml:"layers"`
	Scales       []float64              `yaml:"scales" min:"0"`
	Weights      stages.Path            `yaml:"weights"`
	Extra        []stages.Path          `yaml:"extra"`
	Opts         metricOpts             `yaml:"opts"`
	Groups       map[string][]string    `yaml:"groups"`
	Files        map[string]stages.Path `yaml:"files"`
	Timeout      time.Duration          `yaml:"timeout"`
	Any          any                    `yaml:"any"`
	Ptr          *int                   `yaml:"ptr"`
	Small        uint8                  `yaml:"small"`
}

// Validate: max aggregation wants a low threshold; groups must not be empty.
func (p *metricParams) Validate() []stages.FieldError {
	var errs []stages.FieldError
	if p.Aggregation == "max" && p.Threshold > 0.5 {
		errs = append(errs, stages.FieldError{Field: "threshold", Msg: "must be at most 0.5 with aggregation max"})
	}
	for k, g := range p.Groups {
		if len(g) == 0 {
			errs = append(errs, stages.FieldError{Field: "groups." + k, Msg: "empty group"})
		}
	}
	return errs
}

type correlateParams struct {
	Method string `yaml:"method" oneof:"pearson spearman"`
	Key    string `yaml:"key" required:"true"`
}

func init() {
	stages.Register(testKind{name: "load-source", newParams: func() any { return &sourceParams{N: 10} }})
	stages.Register(testKind{
		name:      "load-extract",
		slots:     []stages.Slot{{Name: "stimuli", Required: true}, {Name: "model"}},
		newParams: func() any { return &extractParams{Net: "trained", Batch: 32} },
	})
	stages.Register(testKind{
		name:  "load-metric",
		slots: []stages.Slot{{Name: "acts", Required: true}},
		newParams: func() any {
			return &metricParams{Threshold: 0.5, Aggregation: "mean", Opts: metricOpts{Depth: 1, Mode: "fast"}}
		},
	})
	stages.Register(testKind{
		name:      "load-correlate",
		slots:     []stages.Slot{{Name: "values", Required: true, Many: true}, {Name: "ref"}},
		newParams: func() any { return &correlateParams{Method: "pearson"} },
	})
	stages.Register(testKind{name: "load-noparams", newParams: func() any { return nil }})
}

// producingKind declares its outputs (stages.Producer).
type producingKind struct {
	testKind
	out string
}

func (k producingKind) Produces() string { return k.out }

func init() {
	stages.Register(producingKind{testKind{name: "load-images", newParams: func() any { return nil }}, stages.Images})
	stages.Register(producingKind{testKind{name: "load-net", newParams: func() any { return nil }}, stages.Network})
	stages.Register(testKind{
		name:      "load-reader",
		slots:     []stages.Slot{{Name: "model", Required: true, Accepts: []string{stages.Network}}, {Name: "any", Many: true}},
		newParams: func() any { return nil },
	})
}
