package pipeline

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/hashicorp/go-multierror"
	"gopkg.in/yaml.v3"

	"selectivity/stages"
)

// Error is one problem with an experiment file, at the place it was found.
// Problems with --set flags have no position; their message names the flag.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string {
	if e.Pos == (Pos{}) {
		return e.Msg
	}
	return e.Pos.String() + ": " + e.Msg
}

// LoadOptions are the command line's say in loading an experiment file.
type LoadOptions struct {
	// Set holds --set overrides applied before interpolation:
	// "params.seed=3" (an experiment parameter, nested keys allowed) or
	// "stages.metric.params.threshold=0.4" (a stage parameter, for every
	// expansion of the stage). Values are parsed as YAML ("params.layers=[a, b]").
	Set []string
	// Env looks up ${env:NAME}; nil means os.LookupEnv.
	Env func(string) (string, bool)
	// CacheDir, when not empty, replaces the file's cache: (absolute, or
	// relative to the working directory).
	CacheDir string
	// SkipFileChecks accepts file and folder parameters that do not exist,
	// for commands that only show an experiment's structure (dag).
	SkipFileChecks bool
	// Name names the run (--name); see Runs in runname.go.
	Name string
}

// Load reads, expands and validates an experiment file (see the package's
// testdata/load for examples). It never writes anything. On failure it
// returns a *multierror.Error holding every problem found, each an *Error,
// sorted by position.
//
// Decisions beyond the schema:
//   - cache: and results: may also be absolute; they must not overlap.
//   - Experiment params may refer to other params; cycles are errors.
//     ${env:NAME} as a whole value is typed like a plain YAML scalar, so
//     "3" is a number; ${env:NAME:-default} takes the default when NAME is
//     unset or empty. A `}` ends a reference: defaults cannot hold one.
//   - YAML anchors, aliases and merge keys (<<) work; aliases may copy at
//     most 100000 nodes.
//   - A written list or map parameter replaces the default; a written
//     struct is merged into it field by field. Null sets the zero value,
//     except for numbers and booleans, where it is an error.
//   - required:"true" on a field of a nested struct applies when that
//     struct is written in the file.
//   - A stage named twice in one slot (e.g. by two overlapping globs) is
//     read once. A matrix expansion may read its siblings, never itself.
//   - Names are checked case-insensitively against each other, so stage
//     folders cannot clash on case-insensitive file systems.
//   - Problems that show only in some expansions of a matrix stage name
//     those expansions: "... (in metric@a-x, metric@b-x)".
func Load(file string, opt LoadOptions) (*Experiment, error) {
	l := &loader{file: file, opt: opt, env: opt.Env, orig: map[*yaml.Node]string{}, fromSet: map[*yaml.Node]int{}}
	if l.env == nil {
		l.env = os.LookupEnv
	}
	l.sink = &l.errs
	e := l.load()
	if len(l.errs) > 0 {
		return nil, l.result()
	}
	return e, nil
}

var (
	stageNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)
	valueRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.+-]*$`)
	envNameRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

const (
	maxNameLen     = 64    // stage names, matrix keys and values, experiment name
	maxFullNameLen = 200   // a stage's full name, expansion suffix included
	maxExpansions  = 10000 // combinations of one matrix
)

var (
	topKeys   = []string{"name", "description", "cache", "results", "executor", "params", "stages"}
	stageKeys = []string{"kind", "label", "temp", "matrix", "inputs", "params"}
)

// loader holds the state of one Load.
type loader struct {
	file string
	dir  string
	opt  LoadOptions
	env  func(string) (string, bool)

	errs []*Error
	sink *[]*Error // where errorf reports: errs, or one expansion's list

	orig    map[*yaml.Node]string // interpolated scalar → its text as written
	fromSet map[*yaml.Node]int    // interpolated value → 1 + the index of the --set it came from

	params *yaml.Node            // the experiment's params mapping, after --set
	pnodes map[*yaml.Node]string // nodes of params → their path ("params.a.b")
	pmemo  map[*yaml.Node]*yaml.Node
	pstack []*yaml.Node

	defs   []*stageDef
	byBase map[string]*stageDef
	full   map[string]*expansion
	folded map[string]string // lower-cased name → name, for case clashes
}

// stageDef is one stage as the file writes it.
type stageDef struct {
	name      string
	key       *yaml.Node
	kind      stages.Kind
	matrix    *yaml.Node // value of matrix:, or nil
	matrixKey *yaml.Node
	inputs    *yaml.Node
	inputsKey *yaml.Node
	params    *yaml.Node
	paramsKey *yaml.Node
	label     *yaml.Node // value of label:, or nil
	temp      *yaml.Node // value of temp:, or nil
	broken    bool       // references to it are not checked
	exps      []*expansion
}

// expansion is one stage of the experiment: a matrix combination of a
// stageDef, or the stageDef itself.
type expansion struct {
	def    *stageDef
	stage  *Stage
	matrix map[string]*yaml.Node
	slots  []slotRefs
	errs   []*Error
}

// slotRefs is one written input slot, interpolated but not yet resolved.
type slotRefs struct {
	name     string
	key, val *yaml.Node
	refs     []*yaml.Node
}

// errorf reports a problem at n (nil: the top of the file).
func (l *loader) errorf(n *yaml.Node, format string, args ...any) {
	e := &Error{Msg: fmt.Sprintf(format, args...)}
	switch {
	case n != nil && n.Line < 0:
		e.Msg = "--set " + l.opt.Set[-n.Line-1] + ": " + e.Msg
	case n != nil && n.Line > 0 && l.fromSet[n] > 0:
		i := l.fromSet[n] - 1 // a --set value the file refers to
		e.Msg = "--set " + l.opt.Set[i] + ": " + e.Msg + " (used at " + Pos{File: l.file, Line: n.Line, Col: n.Column}.String() + ")"
	case n != nil && n.Line > 0:
		e.Pos = Pos{File: l.file, Line: n.Line, Col: n.Column}
	default:
		e.Pos = Pos{File: l.file, Line: 1, Col: 1}
	}
	l.report(e)
}

func (l *loader) report(e *Error) { *l.sink = append(*l.sink, e) }

// result returns the problems found, without repeats, in position order.
func (l *loader) result() error {
	seen := map[Error]bool{}
	var list []*Error
	for _, e := range l.errs {
		if !seen[*e] {
			seen[*e] = true
			list = append(list, e)
		}
	}
	slices.SortStableFunc(list, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
	})
	m := &multierror.Error{ErrorFormat: func(es []error) string {
		s := make([]string, len(es))
		for i, e := range es {
			s[i] = e.Error()
		}
		return strings.Join(s, "\n")
	}}
	for _, e := range list {
		m.Errors = append(m.Errors, e)
	}
	return m
}

type keyField struct{ key, val *yaml.Node }

// fields checks mapping n's keys against valid, reporting unknown and
// repeated keys, and returns the known ones. what names n in messages.
func (l *loader) fields(n *yaml.Node, what string, valid []string) map[string]keyField {
	m := map[string]keyField{}
	pairs(n, func(k, v *yaml.Node) {
		switch {
		case k.Kind != yaml.ScalarNode:
			l.errorf(k, "want a %skey name, got %s", what, describeNode(k))
		case !slices.Contains(valid, k.Value):
			l.errorf(k, "unknown %skey %q%s; valid keys: %s", what, k.Value, suggest(k.Value, valid), strings.Join(sortedCopy(valid), ", "))
		case m[k.Value].key != nil:
			l.errorf(k, "duplicate key %q (first at line %d)", k.Value, m[k.Value].key.Line)
		default:
			m[k.Value] = keyField{k, v}
		}
	})
	return m
}

func (l *loader) load() *Experiment {
	e := &Experiment{File: l.file}
	data, err := readExperimentFile(l.file)
	if err != nil {
		l.report(&Error{Pos: Pos{File: l.file, Line: 1, Col: 1}, Msg: "cannot read experiment file: " + err.Error()})
		return nil
	}
	if l.dir, err = filepath.Abs(filepath.Dir(l.file)); err != nil {
		l.errorf(nil, "%v", err)
		return nil
	}
	e.Dir = l.dir
	sum := sha256.Sum256(data)
	e.SHA256 = hex.EncodeToString(sum[:])
	stem := strings.TrimSuffix(filepath.Base(l.file), filepath.Ext(l.file))
	e.LockFile = filepath.Join(l.dir, stem+".lock")
	if filepath.Base(l.file) == filepath.Base(e.LockFile) {
		l.errorf(nil, "the lock file of %s would be the experiment file itself, which run would overwrite; give the file another extension (.yaml)", filepath.Base(l.file))
		return nil
	}

	root := l.parse(data)
	if root == nil || isBad(root) {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		l.errorf(root, "want a mapping with stages: at the top of the file, got %s", describeNode(root))
		return nil
	}
	top := l.fields(root, "", topKeys)

	e.Name = stem
	if f, ok := top["name"]; ok {
		if f.val.Kind != yaml.ScalarNode || isNull(f.val) {
			l.errorf(f.val, "name: want a name, got %s", describeNode(f.val))
		} else if e.Name = f.val.Value; !safeName(e.Name) {
			l.errorf(f.val, "name: %q is not a safe name: want letters, digits, '_', '.', '+' and '-', starting with a letter or digit, at most %d characters", e.Name, maxNameLen)
		}
	} else if !safeName(e.Name) {
		l.errorf(root, "the file name gives the experiment name %q, which is not a safe name; set name:", e.Name)
	}
	if f, ok := top["description"]; ok && f.val.Kind != yaml.ScalarNode {
		l.errorf(f.val, "description: want text, got %s", describeNode(f.val))
	}

	l.params = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: root.Line, Column: root.Column}
	if f, ok := top["params"]; ok && !isNull(f.val) {
		if f.val.Kind == yaml.MappingNode {
			l.params = f.val
		} else {
			l.errorf(f.val, "params: want a mapping, got %s", describeNode(f.val))
		}
	}

	l.byBase = map[string]*stageDef{}
	l.folded = map[string]string{}
	if f, ok := top["stages"]; !ok {
		l.errorf(root, "missing stages:")
	} else if f.val.Kind != yaml.MappingNode {
		l.errorf(f.val, "stages: want a mapping of stage names to stages, got %s", describeNode(f.val))
	} else if len(f.val.Content) == 0 {
		l.errorf(f.val, "stages: no stages")
	} else {
		pairs(f.val, l.defineStage)
	}

	l.applySets()
	l.resolveParams()
	e.Params, _ = l.toGo(l.resolved(l.params)).(map[string]any)
	e.Executor = l.decodeExecutor(top["executor"].val, top["executor"].key)

	e.CacheDir = l.folder(top["cache"], ".cache", l.opt.CacheDir)
	e.ResultsDir = l.folder(top["results"], filepath.Join("results", e.Name), "")
	for _, f := range []struct {
		field keyField
		name  string
		dir   string
		flag  bool
	}{{top["cache"], "cache", e.CacheDir, l.opt.CacheDir != ""}, {top["results"], "results", e.ResultsDir, false}} {
		if fi, err := os.Stat(f.dir); err == nil && !fi.IsDir() {
			switch {
			case f.flag:
				l.report(&Error{Msg: fmt.Sprintf("--cache %s: is a file, not a folder", f.dir)})
			case f.field.val != nil:
				l.errorf(f.field.val, "%s: %s is a file, not a folder", f.name, f.dir)
			default:
				l.errorf(nil, "the default %s folder %s is a file; set %s: to a folder", f.name, f.dir, f.name)
			}
		}
	}
	l.applyRun(e)
	if foldersOverlap(e.CacheDir, e.ResultsDir) {
		at := top["results"].key
		if at == nil {
			at = top["cache"].key
		}
		l.errorf(at, "the cache folder %s and the results folder %s overlap", e.CacheDir, e.ResultsDir)
	}

	l.full = map[string]*expansion{}
	for _, d := range l.defs {
		l.expand(d)
	}
	for _, d := range l.defs {
		for _, x := range d.exps {
			l.sink = &x.errs
			l.prepare(x)
			l.sink = &l.errs
		}
	}
	for _, d := range l.defs {
		for _, x := range d.exps {
			l.sink = &x.errs
			l.connect(x)
			l.sink = &l.errs
			e.Stages = append(e.Stages, x.stage)
		}
		l.mergeErrors(d)
	}
	for _, c := range e.Graph().Cycles() {
		l.errorf(l.full[c[0]].def.key, "cycle: %s", strings.Join(c, " → "))
	}
	return e
}

// maxFileSize bounds an experiment file: hand-written ones are a few KB.
const maxFileSize = 16 << 20

// readExperimentFile reads a regular file of at most maxFileSize bytes,
// checking both before reading (a FIFO would block, a huge file would fill
// memory).
func readExperimentFile(p string) ([]byte, error) {
	unwrap := func(err error) error {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return pe.Err
		}
		return err
	}
	fi, err := os.Stat(p)
	switch {
	case err != nil:
		return nil, unwrap(err)
	case fi.IsDir():
		return nil, errors.New("is a folder")
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("not a regular file (%s)", fileType(fi.Mode()))
	case fi.Size() > maxFileSize:
		return nil, fmt.Errorf("%d bytes; experiment files may hold at most %d MiB", fi.Size(), maxFileSize>>20)
	}
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0) // never blocks, even if swapped for a FIFO
	if err != nil {
		return nil, unwrap(err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, unwrap(err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("more than %d MiB; experiment files may hold at most %d MiB", maxFileSize>>20, maxFileSize>>20)
	}
	return data, nil
}

// fileType names a file mode's type for messages.
func fileType(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a folder"
	}
	return m.Type().String()
}

func safeName(s string) bool { return len(s) <= maxNameLen && valueRE.MatchString(s) }

// overlap tells whether folder a contains b or b contains a.
func foldersOverlap(a, b string) bool {
	inside := func(x, y string) bool {
		r, err := filepath.Rel(x, y)
		return err == nil && r != ".." && !strings.HasPrefix(r, ".."+string(filepath.Separator))
	}
	return inside(a, b) || inside(b, a)
}

// folder resolves the cache: or results: field f, relative to the
// experiment's folder; override (relative to the working directory) wins.
func (l *loader) folder(f keyField, def, override string) string {
	if override != "" {
		abs, err := filepath.Abs(override)
		if err != nil {
			l.errorf(nil, "%v", err)
		}
		return abs
	}
	p := def
	if f.val != nil {
		v := l.interp(f.val, &interpScope{noMatrix: "only a matrix stage's params and inputs can use it"})
		switch {
		case isBad(v):
		case v.Kind != yaml.ScalarNode || isNull(v) || v.Value == "":
			l.errorf(f.val, "%s: want a folder, got %s", f.key.Value, describeNode(v))
		default:
			p = v.Value
		}
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(l.dir, p)
	}
	return filepath.Clean(p)
}

// claimName records a stage's full name, reporting a clash with an
// earlier one that differs at most in case.
func (l *loader) claimName(name string, at *yaml.Node) bool {
	low := strings.ToLower(name)
	if prev, ok := l.folded[low]; ok {
		if prev == name {
			l.errorf(at, "stage name %s is given twice", name)
		} else {
			l.errorf(at, "stage names %s and %s differ only in case", prev, name)
		}
		return false
	}
	l.folded[low] = name
	return true
}

// defineStage reads one entry of stages:.
func (l *loader) defineStage(k, v *yaml.Node) {
	if k.Kind != yaml.ScalarNode || isNull(k) {
		l.errorf(k, "want a stage name, got %s", describeNode(k))
		return
	}
	d := &stageDef{name: k.Value, key: k}
	if prev := l.byBase[d.name]; prev != nil {
		l.errorf(k, "duplicate stage %q (first at line %d)", d.name, prev.key.Line)
		return
	}
	if !stageNameRE.MatchString(d.name) || len(d.name) > maxNameLen {
		l.errorf(k, "invalid stage name %q: want letters, digits, '_' and '-', starting with a letter, at most %d characters", d.name, maxNameLen)
	} else if !l.claimName(d.name, k) {
		return
	}
	l.byBase[d.name] = d
	l.defs = append(l.defs, d)
	if isNull(v) {
		l.errorf(k, "stage %s: missing kind:", d.name)
		return
	}
	if v.Kind != yaml.MappingNode {
		l.errorf(v, "stage %s: want a mapping with kind:, got %s", d.name, describeNode(v))
		return
	}
	f := l.fields(v, "stage ", stageKeys)
	d.matrix, d.matrixKey = f["matrix"].val, f["matrix"].key
	d.inputs, d.inputsKey = f["inputs"].val, f["inputs"].key
	d.params, d.paramsKey = f["params"].val, f["params"].key
	d.label = f["label"].val
	d.temp = f["temp"].val
	kf, ok := f["kind"]
	switch {
	case !ok:
		l.errorf(k, "stage %s: missing kind:", d.name)
	case kf.val.Kind != yaml.ScalarNode || isNull(kf.val):
		l.errorf(kf.val, "kind: want a kind name, got %s", describeNode(kf.val))
	default:
		if d.kind, ok = stages.Lookup(kf.val.Value); !ok {
			l.errorf(kf.val, "unknown kind %q%s; known kinds: %s", kf.val.Value, suggest(kf.val.Value, stages.Names()), strings.Join(stages.Names(), ", "))
		}
	}
}

// expand makes d's expansions: one per matrix combination, or just one.
func (l *loader) expand(d *stageDef) {
	if d.matrix == nil {
		l.addExpansion(d, d.name, nil, nil)
		return
	}
	keys, values, combos := l.matrixCombos(d)
	if combos == nil {
		d.broken = true
		return
	}
	for _, c := range combos {
		mv := make([]MatrixValue, len(keys))
		nodes := map[string]*yaml.Node{}
		suffix := make([]string, len(keys))
		for i, key := range keys {
			n := values[i][c[i]]
			mv[i] = MatrixValue{Key: key, Value: n.Value}
			nodes[key] = n
			suffix[i] = n.Value
		}
		name := d.name + "@" + strings.Join(suffix, "-")
		if len(name) > maxFullNameLen {
			l.errorf(d.matrixKey, "expansion name %s is longer than %d characters", name, maxFullNameLen)
			continue
		}
		l.addExpansion(d, name, mv, nodes)
	}
	if len(d.exps) == 0 {
		d.broken = true
	}
}

func (l *loader) addExpansion(d *stageDef, name string, mv []MatrixValue, nodes map[string]*yaml.Node) {
	if d.matrix != nil && !l.claimName(name, d.matrixKey) {
		return
	}
	x := &expansion{def: d, matrix: nodes, stage: &Stage{
		Name: name, Base: d.name, Matrix: mv, Kind: d.kind,
		Pos: Pos{File: l.file, Line: d.key.Line, Col: d.key.Column},
	}}
	d.exps = append(d.exps, x)
	l.full[name] = x
}

// matrixCombos reads d's matrix: its keys, their values (interpolated
// scalars), and the combinations left after exclude (indexes into values,
// row-major), or nil combos after reporting why there are none.
func (l *loader) matrixCombos(d *stageDef) (keys []string, values [][]*yaml.Node, combos [][]int) {
	m := d.matrix
	if m.Kind != yaml.MappingNode {
		l.errorf(m, "matrix: want a mapping of keys to lists of values, got %s", describeNode(m))
		return nil, nil, nil
	}
	sc := &interpScope{noMatrix: "matrix values cannot use it"}
	ok := true
	var exclude *yaml.Node
	seen := map[string]*yaml.Node{}
	pairs(m, func(k, v *yaml.Node) {
		if k.Kind != yaml.ScalarNode {
			l.errorf(k, "want a matrix key, got %s", describeNode(k))
			ok = false
			return
		}
		if first := seen[k.Value]; first != nil {
			l.errorf(k, "duplicate key %q (first at line %d)", k.Value, first.Line)
			ok = false
			return
		}
		seen[k.Value] = k
		if k.Value == "exclude" {
			exclude = v
			return
		}
		if editDistance(strings.ToLower(k.Value), "exclude") <= 2 || k.Value == "include" {
			l.errorf(k, "matrix key %q: did you mean exclude? (include is not supported; any other key is a sweep dimension)", k.Value)
			ok = false
			return
		}
		if !stageNameRE.MatchString(k.Value) || len(k.Value) > maxNameLen {
			l.errorf(k, "invalid matrix key %q: want letters, digits, '_' and '-', starting with a letter, at most %d characters", k.Value, maxNameLen)
			ok = false
		}
		vals, good := l.matrixValues(k, v, sc)
		ok = ok && good
		keys = append(keys, k.Value)
		values = append(values, vals)
	})
	if len(keys) == 0 {
		l.errorf(m, "matrix: want at least one key with a list of values")
		return nil, nil, nil
	}
	total := 1
	for _, v := range values {
		total *= max(len(v), 1)
		if total > maxExpansions {
			l.errorf(d.matrixKey, "matrix: more than %d combinations", maxExpansions)
			return nil, nil, nil
		}
	}
	excl, good := l.excludes(exclude, keys, values, sc)
	if !ok || !good {
		return nil, nil, nil
	}
	idx := make([]int, len(keys))
	for range total {
		if !slices.ContainsFunc(excl, func(e map[int]int) bool {
			for k, v := range e {
				if idx[k] != v {
					return false
				}
			}
			return true
		}) {
			combos = append(combos, slices.Clone(idx))
		}
		for i := len(idx) - 1; i >= 0; i-- {
			if idx[i]++; idx[i] < len(values[i]) {
				break
			}
			idx[i] = 0
		}
	}
	if combos == nil {
		l.errorf(d.matrixKey, "matrix: exclude removes every combination")
	}
	return keys, values, combos
}

// matrixValues reads one matrix key's list of values.
func (l *loader) matrixValues(k, v *yaml.Node, sc *interpScope) ([]*yaml.Node, bool) {
	list := l.interp(v, sc)
	if isBad(list) {
		return nil, false
	}
	if list.Kind != yaml.SequenceNode || len(list.Content) == 0 {
		l.errorf(v, "matrix.%s: want a non-empty list of values, got %s", k.Value, describeNode(list))
		return nil, false
	}
	ok := true
	seen := map[string]bool{}
	for _, e := range list.Content {
		switch {
		case isBad(e):
			ok = false
		case e.Kind != yaml.ScalarNode || isNull(e):
			l.errorf(e, "matrix.%s: want a scalar value, got %s", k.Value, describeNode(e))
			ok = false
		case !safeName(e.Value):
			l.errorf(e, "matrix.%s: value %q is not safe in a stage name: want letters, digits, '_', '.', '+' and '-', starting with a letter or digit, at most %d characters", k.Value, e.Value, maxNameLen)
			ok = false
		case seen[e.Value]:
			l.errorf(e, "matrix.%s: value %q is listed twice", k.Value, e.Value)
			ok = false
		default:
			seen[e.Value] = true
		}
	}
	return list.Content, ok
}

// excludes reads matrix.exclude: each entry maps key indexes to value
// indexes.
func (l *loader) excludes(n *yaml.Node, keys []string, values [][]*yaml.Node, sc *interpScope) ([]map[int]int, bool) {
	if n == nil {
		return nil, true
	}
	n = l.interp(n, sc)
	if isBad(n) {
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		l.errorf(n, "matrix.exclude: want a list of mappings, got %s", describeNode(n))
		return nil, false
	}
	ok := true
	var out []map[int]int
	for _, e := range n.Content {
		if e.Kind != yaml.MappingNode || len(e.Content) == 0 {
			if !isBad(e) {
				l.errorf(e, "matrix.exclude: want a mapping of matrix keys to values, got %s", describeNode(e))
			}
			ok = false
			continue
		}
		m := map[int]int{}
		pairs(e, func(k, v *yaml.Node) {
			ki := slices.Index(keys, k.Value)
			if k.Kind != yaml.ScalarNode || ki < 0 {
				l.errorf(k, "matrix.exclude: unknown matrix key %q%s; keys: %s", k.Value, suggest(k.Value, keys), strings.Join(keys, ", "))
				ok = false
				return
			}
			if _, dup := m[ki]; dup {
				l.errorf(k, "duplicate key %q", k.Value)
				ok = false
				return
			}
			vi := slices.IndexFunc(values[ki], func(x *yaml.Node) bool { return x.Value == v.Value })
			if isBad(v) {
				ok = false
			} else if v.Kind != yaml.ScalarNode || vi < 0 {
				vals := make([]string, len(values[ki]))
				for i, x := range values[ki] {
					vals[i] = x.Value
				}
				l.errorf(v, "matrix.exclude: %s is not a value of %s (values: %s)", describeNode(v), k.Value, strings.Join(vals, ", "))
				ok = false
			}
			m[ki] = vi
		})
		out = append(out, m)
	}
	return out, ok
}

// prepare decodes x's params and interpolates its inputs.
func (l *loader) prepare(x *expansion) {
	d := x.def
	sc := &interpScope{matrix: x.matrix, noMatrix: "stage " + d.name + " has no matrix"}
	if d.matrix != nil {
		sc.keys = make([]string, len(x.stage.Matrix))
		for i, m := range x.stage.Matrix {
			sc.keys[i] = m.Key
		}
	}
	var params *yaml.Node
	if d.params != nil {
		params = l.interp(d.params, sc)
	}
	if d.label != nil {
		if v := l.interp(d.label, sc); v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
			l.errorf(d.label, "label: want text, got %s", describeNode(v))
		} else {
			x.stage.Label = v.Value
		}
	}
	if d.temp != nil {
		if v := l.interp(d.temp, sc); v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
			l.errorf(d.temp, "temp: want true or false, got %s", describeNode(v))
		} else {
			x.stage.Temp = v.Value == "true" || v.Value == "True" || v.Value == "TRUE"
		}
	}
	if d.kind != nil {
		at := d.paramsKey
		if at == nil {
			at = d.key
		}
		x.stage.Params, x.stage.PathPos = l.decodeParams(d.kind, params, at)
	}

	if d.inputs == nil || isNull(d.inputs) {
		return
	}
	if d.inputs.Kind != yaml.MappingNode {
		l.errorf(d.inputs, "inputs: want a mapping of slots to stages, got %s", describeNode(d.inputs))
		return
	}
	var slots []string
	if d.kind != nil {
		for _, s := range d.kind.Inputs() {
			slots = append(slots, s.Name)
		}
	}
	seen := map[string]*yaml.Node{}
	pairs(d.inputs, func(k, v *yaml.Node) {
		switch {
		case k.Kind != yaml.ScalarNode:
			l.errorf(k, "want an input slot name, got %s", describeNode(k))
			return
		case seen[k.Value] != nil:
			l.errorf(k, "duplicate key %q (first at line %d)", k.Value, seen[k.Value].Line)
			return
		case d.kind != nil && len(slots) == 0:
			l.errorf(k, "kind %s takes no inputs", d.kind.Name())
			return
		case d.kind != nil && !slices.Contains(slots, k.Value):
			l.errorf(k, "unknown input slot %q for kind %s%s; slots: %s", k.Value, d.kind.Name(), suggest(k.Value, slots), strings.Join(slots, ", "))
			return
		}
		seen[k.Value] = k
		s := slotRefs{name: k.Value, key: k, val: v}
		r := l.interp(v, sc)
		switch {
		case isBad(r):
		case r.Kind == yaml.SequenceNode && len(r.Content) > 0:
			s.refs = r.Content
		case r.Kind == yaml.ScalarNode && !isNull(r):
			s.refs = []*yaml.Node{r}
		default:
			l.errorf(v, "inputs.%s: want a stage name or a list of them, got %s", k.Value, describeNode(r))
		}
		x.slots = append(x.slots, s)
	})
}

// connect resolves x's input references and checks its slots.
func (l *loader) connect(x *expansion) {
	d := x.def
	written := map[string]bool{}
	for _, s := range x.slots {
		written[s.name] = true
		var slot stages.Slot
		if d.kind != nil {
			slot = d.kind.Inputs()[slices.IndexFunc(d.kind.Inputs(), func(sl stages.Slot) bool { return sl.Name == s.name })]
		}
		var names []string
		for _, r := range s.refs {
			for _, n := range l.resolveRef(r) {
				if n == x.stage.Name {
					l.errorf(r, "inputs.%s: %q includes the stage itself (%s)", s.name, r.Value, n)
				} else if !slices.Contains(names, n) {
					names = append(names, n)
					l.checkAccepts(d, slot, l.full[n].def, r)
					l.checkInput(x, s.name, l.full[n].stage, r)
				}
			}
		}
		if d.kind != nil && !slot.Many && len(names) > 1 {
			l.errorf(s.val, "inputs.%s: slot takes one stage, got %d: %s", s.name, len(names), abbrev(names))
		}
		if len(names) > 0 {
			x.stage.Inputs = append(x.stage.Inputs, Input{Slot: s.name, Stages: names, Pos: Pos{File: l.file, Line: s.key.Line, Col: s.key.Column}})
		}
	}
	if d.kind == nil {
		return
	}
	order := d.kind.Inputs()
	slices.SortStableFunc(x.stage.Inputs, func(a, b Input) int {
		return cmp.Compare(slices.IndexFunc(order, func(s stages.Slot) bool { return s.Name == a.Slot }),
			slices.IndexFunc(order, func(s stages.Slot) bool { return s.Name == b.Slot }))
	})
	for _, s := range order {
		if s.Required && !written[s.Name] {
			at := d.inputsKey
			if at == nil {
				at = d.key
			}
			l.errorf(at, "stage %s: missing required input %q (kind %s)", d.name, s.Name, d.kind.Name())
		}
	}
}

// checkAccepts reports, at ref, an upstream stage up whose kind produces
// something slot does not read (see stages.Slot.Accepts).
func (l *loader) checkAccepts(d *stageDef, slot stages.Slot, up *stageDef, ref *yaml.Node) {
	p, ok := up.kind.(stages.Producer)
	if !ok || len(slot.Accepts) == 0 || slices.Contains(slot.Accepts, p.Produces()) {
		return
	}
	var makers []string
	for _, name := range stages.Names() {
		k, _ := stages.Lookup(name)
		if kp, ok := k.(stages.Producer); ok && slices.Contains(slot.Accepts, kp.Produces()) {
			makers = append(makers, name)
		}
	}
	l.errorf(ref, "inputs.%s: stage %s is a %s stage, which makes %s; slot %s of kind %s reads %s (from %s stages)",
		slot.Name, up.name, up.kind.Name(), p.Produces(), slot.Name, d.kind.Name(), strings.Join(slot.Accepts, " or "), strings.Join(makers, " or "))
}

// checkInput reports, at ref, what x's parameters find wrong with those of
// the stage up filling slot (see stages.InputChecker).
func (l *loader) checkInput(x *expansion, slot string, up *Stage, ref *yaml.Node) {
	c, ok := x.stage.Params.(stages.InputChecker)
	if !ok || up.Params == nil {
		return
	}
	for _, fe := range c.CheckInput(slot, up.Params) {
		l.errorf(ref, "%s: %s (inputs.%s: %s)", paramLabel(fe.Field), fe.Msg, slot, up.Name)
	}
}

// resolveRef turns one input reference into full stage names: "stage"
// (every expansion of a matrix stage), "stage@v1-v2", or a glob over the
// expansion suffixes "stage@v1-*".
func (l *loader) resolveRef(r *yaml.Node) []string {
	if isBad(r) {
		return nil
	}
	if r.Kind != yaml.ScalarNode || isNull(r) || r.Value == "" {
		l.errorf(r, "want a stage name, got %s", describeNode(r))
		return nil
	}
	base, suffix, hasAt := strings.Cut(r.Value, "@")
	d := l.byBase[base]
	if d == nil {
		names := make([]string, len(l.defs))
		for i, d := range l.defs {
			names[i] = d.name
		}
		l.errorf(r, "no stage %q%s", base, suggest(base, names))
		return nil
	}
	if d.broken {
		return nil
	}
	var all, suffixes []string
	for _, x := range d.exps {
		all = append(all, x.stage.Name)
		if d.matrix != nil {
			suffixes = append(suffixes, strings.TrimPrefix(x.stage.Name, d.name+"@"))
		}
	}
	switch {
	case !hasAt:
		return all
	case d.matrix == nil:
		l.errorf(r, "stage %s has no matrix; refer to it as %s", base, base)
		return nil
	case strings.ContainsAny(suffix, `*?[\`):
		var got []string
		for i, s := range suffixes {
			ok, err := path.Match(suffix, s)
			if err != nil {
				l.errorf(r, "bad pattern %q: %v", r.Value, err)
				return nil
			}
			if ok {
				got = append(got, all[i])
			}
		}
		if got == nil {
			l.errorf(r, "%q matches no expansion of %s; expansions: %s", r.Value, base, abbrev(all))
		}
		return got
	case l.full[r.Value] == nil:
		l.errorf(r, "no expansion %q%s; expansions: %s", r.Value, suggest(r.Value, all), abbrev(all))
		return nil
	}
	return []string{r.Value}
}

// mergeErrors moves the problems of d's expansions to the result. One
// found in only some expansions names them.
func (l *loader) mergeErrors(d *stageDef) {
	var order []Error
	in := map[Error][]string{}
	for _, x := range d.exps {
		for _, e := range x.errs {
			if names := in[*e]; len(names) == 0 || names[len(names)-1] != x.stage.Name {
				if len(names) == 0 {
					order = append(order, *e)
				}
				in[*e] = append(names, x.stage.Name)
			}
		}
	}
	for _, e := range order {
		if names := in[e]; len(names) < len(d.exps) {
			e.Msg += " (in " + abbrev(names) + ")"
		}
		l.report(&e)
	}
}

// abbrev lists names, eliding the middle of long lists.
func abbrev(names []string) string {
	if len(names) > 8 {
		return strings.Join(names[:6], ", ") + ", … (" + strconv.Itoa(len(names)-7) + " more), " + names[len(names)-1]
	}
	return strings.Join(names, ", ")
}

func sortedCopy(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// suggest returns ` (did you mean "x"?)` for the candidate closest to s,
// or "" if none is close.
func suggest(s string, candidates []string) string {
	if len(s) > 100 {
		return ""
	}
	best, bestD := "", 0
	for _, c := range candidates {
		d := editDistance(strings.ToLower(s), strings.ToLower(c))
		if d <= 2 && d < max(len(s), len(c)) && (best == "" || d < bestD) {
			best, bestD = c, d
		}
	}
	if best == "" || best == s {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
