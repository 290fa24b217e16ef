package pipeline

import (
	"fmt"

	"selectivity/stages"
)

// Pos is a place in an experiment file, for error messages.
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Experiment is a loaded, validated experiment file: every matrix expanded,
// every `${...}` resolved, every stage's parameters decoded.
type Experiment struct {
	// File is the experiment file's path as the user gave it; Dir is its
	// folder, absolute.
	File, Dir string
	// SHA256 is the hex SHA-256 of the file's bytes.
	SHA256 string
	// Name is the `name:` field, or the file's base name without extension.
	Name string
	// CacheDir, ResultsDir and LockFile are absolute.
	CacheDir, ResultsDir, LockFile string
	// Run names this run when it is not the file as written (see Runs in
	// runname.go): --name, or a name derived from Overrides; "" for the
	// file as written. RunNamed tells that --name gave it. ResultsDir and
	// LockFile are the run's.
	Run      string
	RunNamed bool
	// Overrides are the --set flags in canonical form (CanonicalOverrides).
	Overrides []string
	// Executor is where the stages run (executor:), by default here.
	Executor Executor
	// Params are the experiment-wide parameters after --set overrides.
	Params map[string]any
	// Stages are the expanded stages in file order (expansions of one
	// matrix stage in matrix order).
	Stages []*Stage
}

// Stage is one expanded stage of an experiment.
type Stage struct {
	// Name is the full name: the stage's key in the file, plus
	// "@v1-v2" for a matrix expansion ("metric@trained-l2").
	Name string
	// Base is the stage's key in the file ("metric").
	Base string
	// Label is the stage's `label:` (references resolved), the name reports
	// show for its results instead of the stage's; "" when not given.
	Label string
	// Temp is the stage's `temp:`: its cache entry is an intermediate,
	// removed by the run that computed it once every stage reading it has
	// its result, and computed again only when one of them must run. It
	// does not enter any key.
	Temp bool
	// Matrix holds this expansion's values in the matrix's key order.
	Matrix []MatrixValue
	Kind   stages.Kind
	// Params is the decoded parameter struct (of Kind.NewParams's type),
	// defaults filled in, Path fields absolute.
	Params any
	// PathPos says where each written Path parameter is, by its key path
	// ("weights", "paths[2]"), for problems found in the files they name.
	PathPos map[string]Pos
	// Inputs are the filled slots in the kind's slot order.
	Inputs []Input
	// Pos is where the stage is defined.
	Pos Pos
}

// MatrixValue is one matrix key's value in an expansion.
type MatrixValue struct {
	Key, Value string
}

// Input is a slot filled with upstream stages (full names, expanded).
type Input struct {
	Slot   string
	Stages []string
	Pos    Pos
}

// Stage returns the stage named name, or nil.
func (e *Experiment) Stage(name string) *Stage {
	for _, s := range e.Stages {
		if s.Name == name {
			return s
		}
	}
	return nil
}
