// Package stages defines what a stage kind is — its parameters, its input
// slots and the code that computes its outputs — and the registry the
// pipeline looks kinds up in. The stage kinds themselves live in subpackages
// that register themselves from init.
package stages

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
)

// Kind is one kind of stage ("stimuli", "metric", ...).
//
// Parameters are a plain Go struct: NewParams returns a pointer to a fresh
// one holding the defaults, and the pipeline decodes a stage's `params:`
// mapping into it field by field (yaml tags name the keys). The pipeline checks
// these struct tags on every field it decoded or defaulted:
//
//	min:"0"  max:"1"     inclusive numeric bounds (on numbers and on each element of a list)
//	oneof:"mean l2 max"  the string (or each string of a list) must be one of these
//	required:"true"      the key must be written in the experiment file
//	key:"-"              the value cannot change the results (a batch or chunk
//	                     size), so it stays out of the cache key
//
// A field of type Path (or []Path) names a file or folder: relative to the
// experiment file, `${env:NAME}` allowed, it must exist, and it enters the
// stage's key by content, never by name. Kinds whose rules do not fit in
// tags implement Validator on the params struct.
type Kind interface {
	// Name is the kind as experiment files write it.
	Name() string
	// Version names the code's results: bump it whenever the outputs for the
	// same parameters and inputs would change, so cached results are redone.
	Version() string
	// Doc is one line saying what the kind computes.
	Doc() string
	// NewParams returns a pointer to a new parameter struct set to the defaults.
	NewParams() any
	// Inputs lists the slots a stage of this kind reads from.
	Inputs() []Slot
	// Run computes the outputs from job's inputs and parameters, writing them
	// into job.OutDir. It must return promptly with ctx.Err() once ctx is done.
	Run(ctx context.Context, job *Job) error
}

// Slot is a named input of a kind: the experiment file fills it with one or
// more upstream stages (`inputs: {acts: extract@trained}`).
type Slot struct {
	Name     string
	Doc      string
	Required bool
	// Many slots take any number of stages, e.g. every expansion of a
	// matrix stage; other slots take exactly one.
	Many bool
	// Accepts lists the outputs (see Producer) the slot reads: a stage
	// whose kind produces anything else is refused at validation. Empty:
	// any stage.
	Accepts []string
}

// What kinds produce, for Producer and Slot.Accepts.
const (
	Images            = "images"              // stimuli: pixels and labels
	Network           = "network"             // model: weights
	TrainedNetwork    = "trained network"     // train: checkpoints and training curve
	UnitActivations   = "unit activations"    // extract
	KernelActivations = "kernel activations"  // aggregate
	Selectivity       = "selectivity"         // metric: per-unit or per-kernel values and selections
	Correlations      = "correlations"        // correlate
	Decoding          = "decoding"            // decode: accuracies
	LesionEffects     = "lesion effects"      // lesion
	NullDistribution  = "null distribution"   // permutation
	Reliability       = "reliability"         // reliability: split halves
	BootstrapDraws    = "bootstrap draws"     // bootstrap
	Sensitivity       = "variant sensitivity" // variants
)

// Producer is implemented by kinds that declare what their outputs are
// ("images", "network", ...), against the Accepts of the slots they fill.
// Kinds that do not declare it fill any slot.
type Producer interface {
	Produces() string
}

// Volatile is implemented by kinds some of whose outputs record when and
// where they were made (a report's provenance: date, machine), so that a
// regeneration cannot reproduce their bytes; verification lists them
// instead of comparing them.
type Volatile interface {
	VolatileOutputs() []string
}

// Path is a file or folder named by a parameter; see Kind.
type Path string

// FieldError is a problem with one parameter, named by its key path as the
// experiment file writes it ("domains.faces", "layers[2]").
type FieldError struct {
	Field string
	Msg   string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

// Companions is implemented by parameter structs whose files read other
// files (a TensorFlow.js manifest its weight shards): Companions lists
// those, by the parameter's key, so that they enter the stage's key by
// content as the parameter's own file does.
type Companions interface {
	Companions() (map[string][]Path, error)
}

// Validator is implemented by parameter structs with rules beyond the tags.
// Validate reports every problem, not only the first.
type Validator interface {
	Validate() []FieldError
}

// InputChecker is implemented by parameter structs whose values depend on
// an upstream stage's parameters (extract's layers on the model stage's
// arch). The experiment loader calls CheckInput for every stage filling a
// slot, with that stage's decoded parameter struct, before anything runs.
type InputChecker interface {
	CheckInput(slot string, upstream any) []FieldError
}

// Job is one run of a stage: what it reads and where it writes.
type Job struct {
	// Stage is the stage's full name ("metric@trained-l2").
	Stage string
	// Params is the decoded parameter struct, of the type NewParams returns;
	// its Path fields are absolute.
	Params any
	// Inputs holds the upstream stages' outputs by slot name, in the order
	// the experiment file gives them.
	Inputs map[string][]Input
	// OutDir is an empty folder for the outputs. Files (subfolders allowed)
	// written there become the cache entry when Run succeeds; on error or
	// cancellation the folder is discarded.
	OutDir string
	// Progress reports long work; never nil.
	Progress Progress
	// Logf writes a line to the user, prefixed with the stage name.
	Logf func(format string, args ...any)
	// Run describes the run, for provenance (see RunInfo); nil when the
	// kind is run outside the runner, as tests do.
	Run *RunInfo
}

// Single is the one stage filling slot: nil when the slot is empty, an
// error naming the slot when it holds several.
func (j *Job) Single(slot string) (*Input, error) {
	switch ins := j.Inputs[slot]; len(ins) {
	case 0:
		return nil, nil
	case 1:
		return &ins[0], nil
	default:
		return nil, fmt.Errorf("slot %s takes one stage, got %d", slot, len(ins))
	}
}

// Output is the path of a file name in the job's output folder.
func (j *Job) Output(name string) string { return filepath.Join(j.OutDir, name) }

// Input is one upstream stage's cached outputs.
type Input struct {
	// Stage is the upstream stage's full name.
	Stage string
	// Label is the upstream stage's `label:` in the experiment file, the
	// name to show for it (figures, tables); "" when it has none.
	Label string
	// Matrix holds the upstream expansion's matrix values, nil if it has none.
	Matrix map[string]string
	// Dir is the read-only cache folder with the stage's files.
	Dir string
	// Files lists the stage's output files, relative to Dir.
	Files []string
}

// Path is the absolute path of one of the input's files.
func (in Input) Path(name string) string { return filepath.Join(in.Dir, name) }

// Progress hands out progress bars for long work.
type Progress interface {
	// Bar starts a bar for total units of work (total <= 0: unknown), e.g.
	// Bar("forward pass", "images", 1440).
	Bar(label, unit string, total int64) Bar
}

// Bar is one piece of long work under way.
type Bar interface {
	// Add counts n more units done.
	Add(n int64)
	// Done ends the bar.
	Done()
}

var (
	mu    sync.RWMutex
	kinds = map[string]Kind{}
)

// Register makes a kind available to experiment files. It panics on a
// duplicate name: that is a programming error caught at start-up.
func Register(k Kind) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := kinds[k.Name()]; dup {
		panic(fmt.Sprintf("stages: kind %q registered twice", k.Name()))
	}
	kinds[k.Name()] = k
}

// Lookup returns the kind registered under name.
func Lookup(name string) (Kind, bool) {
	mu.RLock()
	defer mu.RUnlock()
	k, ok := kinds[name]
	return k, ok
}

// Names lists the registered kinds, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(kinds))
	for n := range kinds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
