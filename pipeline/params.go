package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"selectivity/stages"
)

var (
	paramPathType     = reflect.TypeFor[stages.Path]()
	paramDurationType = reflect.TypeFor[time.Duration]()
)

// paramDecoder decodes one stage's interpolated params mapping into the
// kind's parameter struct, field by field, then checks it.
type paramDecoder struct {
	l      *loader
	root   string                // what messages call the top ("" for params)
	nodes  map[string]*yaml.Node // written values by key path ("a.b", "list[2]")
	failed bool                  // a value could not be decoded
	paths  map[string]Pos        // where each Path parameter is written, by key path
}

// decodeParams returns k's parameters with n (nil: none written) decoded
// over the defaults, tags checked, Paths made absolute and the Validator
// consulted. at is where to report problems with values not written. It
// also returns where each Path parameter is written (see Stage.PathPos).
func (l *loader) decodeParams(k stages.Kind, n, at *yaml.Node) (any, map[string]Pos) {
	p := k.NewParams()
	if p == nil {
		if n != nil && !isNull(n) && !(n.Kind == yaml.MappingNode && len(n.Content) == 0) {
			l.errorf(n, "params: kind %s takes no parameters", k.Name())
		}
		return nil, nil
	}
	v := reflect.ValueOf(p)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		l.errorf(at, "params: kind %s's NewParams returns %T, not a pointer to a struct (a bug in the kind)", k.Name(), p)
		return p, nil
	}
	d := &paramDecoder{l: l, nodes: map[string]*yaml.Node{}}
	d.decodeValue(p, n, at)
	if val, ok := p.(stages.Validator); ok && !d.failed {
		for _, fe := range val.Validate() {
			n := d.nodeFor(fe.Field)
			if n == nil {
				n = at
			}
			l.errorf(n, "%s: %s", paramLabel(fe.Field), fe.Msg)
		}
	}
	return p, d.paths
}

// decodeValue decodes n (nil: nothing written) over the struct p points
// to, then runs the checks on the result (walk).
func (d *paramDecoder) decodeValue(p any, n, at *yaml.Node) {
	v := reflect.ValueOf(p).Elem()
	if n != nil {
		d.decode(v, n, "")
	}
	d.walk(v, "", at)
}

// label names a key path in messages: "params.a.b", or under d's root.
func (d *paramDecoder) label(path string) string {
	root := d.root
	if root == "" {
		root = "params"
	}
	if path == "" {
		return root
	}
	return root + "." + path
}

// paramLabel names a key path of a stage's params in messages: "params.a.b".
func paramLabel(path string) string { return (&paramDecoder{}).label(path) }

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// nodeFor returns the written node of field path f or of its nearest
// written parent.
func (d *paramDecoder) nodeFor(f string) *yaml.Node {
	for f != "" {
		if n := d.nodes[f]; n != nil {
			return n
		}
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			break
		}
		f = f[:i]
	}
	return nil
}

func (d *paramDecoder) fail(n *yaml.Node, format string, args ...any) {
	d.failed = true
	d.l.errorf(n, format, args...)
}

func (d *paramDecoder) want(n *yaml.Node, path, what string) {
	d.fail(n, "%s: want %s, got %s", d.label(path), what, describeNode(n))
}

// paramField is a settable field of a params struct.
type paramField struct {
	name  string
	index []int
	sf    reflect.StructField
}

// fieldsOf lists t's settable fields: exported, with a yaml tag naming
// them; ",inline" structs contribute their fields.
func fieldsOf(t reflect.Type) []paramField {
	var fs []paramField
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if tag == "-" {
			continue
		}
		if slices.Contains(strings.Split(opts, ","), "inline") && sf.Type.Kind() == reflect.Struct {
			for _, f := range fieldsOf(sf.Type) {
				f.index = append([]int{i}, f.index...)
				fs = append(fs, f)
			}
			continue
		}
		if sf.IsExported() && name != "" {
			fs = append(fs, paramField{name, []int{i}, sf})
		}
	}
	return fs
}

// decode sets v from n; path names v in messages.
func (d *paramDecoder) decode(v reflect.Value, n *yaml.Node, path string) {
	if path != "" {
		d.nodes[path] = n // even if bad: it was written
	}
	if isBad(n) {
		d.failed = true
		return
	}
	t := v.Type()
	switch t {
	case paramPathType:
		if isNull(n) {
			v.SetString("")
		} else if n.Kind == yaml.ScalarNode {
			v.SetString(n.Value)
		} else {
			d.want(n, path, "a path")
		}
		return
	case paramDurationType:
		if n.Kind == yaml.ScalarNode {
			if dur, err := time.ParseDuration(n.Value); err == nil {
				v.SetInt(int64(dur))
				return
			}
		}
		d.want(n, path, `a duration such as "1m30s"`)
		return
	}
	tag := n.ShortTag()
	scalar := n.Kind == yaml.ScalarNode
	switch v.Kind() {
	case reflect.Pointer:
		if isNull(n) {
			v.SetZero()
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		d.decode(v.Elem(), n, path)
	case reflect.Interface:
		if t.NumMethod() != 0 {
			d.fail(n, "%s: unsupported parameter type %s (a bug in the kind)", d.label(path), t)
		} else if g := d.l.toGo(n); g == nil {
			v.SetZero()
		} else {
			v.Set(reflect.ValueOf(g))
		}
	case reflect.Struct:
		d.decodeStruct(v, n, path)
	case reflect.Slice:
		if isNull(n) {
			v.SetZero()
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.want(n, path, "a list")
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, e := range n.Content {
			d.decode(s.Index(i), e, fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Array:
		if n.Kind != yaml.SequenceNode || len(n.Content) != v.Len() {
			d.want(n, path, fmt.Sprintf("a list of %d", v.Len()))
			return
		}
		for i, e := range n.Content {
			d.decode(v.Index(i), e, fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		d.decodeMap(v, n, path)
	case reflect.String:
		if isNull(n) {
			v.SetString("")
		} else if scalar {
			v.SetString(n.Value)
		} else {
			d.want(n, path, "a string")
		}
	case reflect.Bool:
		var b bool
		if !scalar || tag != "!!bool" || n.Decode(&b) != nil {
			d.want(n, path, "true or false")
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if !scalar || tag != "!!int" || n.Decode(&i) != nil {
			d.want(n, path, "an integer")
		} else if v.OverflowInt(i) {
			d.fail(n, "%s: %s is out of range for %s", d.label(path), n.Value, t)
		} else {
			v.SetInt(i)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		var u uint64
		if !scalar || tag != "!!int" || strings.HasPrefix(n.Value, "-") || n.Decode(&u) != nil {
			d.want(n, path, "a non-negative integer")
		} else if v.OverflowUint(u) {
			d.fail(n, "%s: %s is out of range for %s", d.label(path), n.Value, t)
		} else {
			v.SetUint(u)
		}
	case reflect.Float32, reflect.Float64:
		var f float64
		if !scalar || tag != "!!int" && tag != "!!float" || n.Decode(&f) != nil {
			d.want(n, path, "a number")
		} else if v.OverflowFloat(f) {
			d.fail(n, "%s: %s is out of range for %s", d.label(path), n.Value, t)
		} else {
			v.SetFloat(f)
		}
	default:
		d.fail(n, "%s: unsupported parameter type %s (a bug in the kind)", d.label(path), t)
	}
}

// decodeStruct sets the fields of struct v that mapping n names, keeping
// the defaults of the others.
func (d *paramDecoder) decodeStruct(v reflect.Value, n *yaml.Node, path string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.want(n, path, "a mapping")
		return
	}
	fs := fieldsOf(v.Type())
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.name
	}
	valid := strings.Join(sortedCopy(names), ", ")
	if valid == "" {
		valid = "none"
	}
	seen := map[string]*yaml.Node{}
	pairs(n, func(k, e *yaml.Node) {
		if k.Kind != yaml.ScalarNode {
			d.fail(k, "%s: want a parameter name, got %s", d.label(path), describeNode(k))
			return
		}
		kp := joinKey(path, k.Value)
		if first := seen[k.Value]; first != nil {
			d.l.errorf(k, "%s: duplicate key (first at line %d)", d.label(kp), first.Line)
			return
		}
		seen[k.Value] = k
		i := slices.Index(names, k.Value)
		if i < 0 {
			d.l.errorf(k, "%s: unknown parameter%s; valid keys: %s", d.label(kp), suggest(k.Value, names), valid)
			return
		}
		d.decode(v.FieldByIndex(fs[i].index), e, kp)
	})
}

// decodeMap replaces map v with mapping n.
func (d *paramDecoder) decodeMap(v reflect.Value, n *yaml.Node, path string) {
	if isNull(n) {
		v.SetZero()
		return
	}
	if n.Kind != yaml.MappingNode {
		d.want(n, path, "a mapping")
		return
	}
	t := v.Type()
	m := reflect.MakeMapWithSize(t, len(n.Content)/2)
	seen := map[string]*yaml.Node{}
	pairs(n, func(k, e *yaml.Node) {
		kp := joinKey(path, k.Value)
		if first := seen[k.Value]; first != nil && k.Kind == yaml.ScalarNode {
			d.l.errorf(k, "%s: duplicate key (first at line %d)", d.label(kp), first.Line)
			return
		}
		seen[k.Value] = k
		kv := reflect.New(t.Key()).Elem()
		failed := d.failed
		d.failed = false
		d.decode(kv, k, kp)
		if d.failed {
			return
		}
		d.failed = failed
		ev := reflect.New(t.Elem()).Elem()
		d.decode(ev, e, kp)
		m.SetMapIndex(kv, ev)
	})
	v.Set(m)
}

// walk runs the checks that need the decoded values on v and everything
// inside it: tags and required keys on struct fields, and Path resolution.
// at is the nearest written node.
func (d *paramDecoder) walk(v reflect.Value, path string, at *yaml.Node) {
	if n := d.nodes[path]; n != nil && path != "" {
		at = n
	}
	switch t := v.Type(); {
	case t == paramPathType:
		d.resolvePath(v, path, at)
		return
	case t == paramDurationType:
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			d.walk(v.Elem(), path, at)
		}
	case reflect.Struct:
		written := path == "" || d.nodes[path] != nil && d.nodes[path].Kind == yaml.MappingNode
		for _, f := range fieldsOf(v.Type()) {
			fp := joinKey(path, f.name)
			fv := v.FieldByIndex(f.index)
			fat := at
			node, set := d.nodes[fp]
			if set {
				fat = node
			}
			if f.sf.Tag.Get("required") == "true" {
				if written && !set {
					d.l.errorf(at, "%s: missing required parameter", d.label(fp))
				} else if set && fv.Kind() == reflect.String && fv.String() == "" && fv.Type() == paramPathType {
					d.l.errorf(node, "%s: must not be empty", d.label(fp))
				}
			}
			d.checkTags(fv, f.sf, fp, fat)
			d.walk(fv, fp, at)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			d.walk(v.Index(i), fmt.Sprintf("%s[%d]", path, i), at)
		}
	case reflect.Map:
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
		for _, k := range keys {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			d.walk(e, joinKey(path, fmt.Sprint(k)), at)
			v.SetMapIndex(k, e)
		}
	}
}

// checkTags checks the min, max and oneof tags of field sf (value v) on
// the value or on each element of a list.
func (d *paramDecoder) checkTags(v reflect.Value, sf reflect.StructField, path string, at *yaml.Node) {
	minS, hasMin := sf.Tag.Lookup("min")
	maxS, hasMax := sf.Tag.Lookup("max")
	oneof, hasOneof := sf.Tag.Lookup("oneof")
	if !hasMin && !hasMax && !hasOneof {
		return
	}
	bug := func(format string, args ...any) {
		d.l.errorf(at, "%s: %s (a bug in the kind)", d.label(path), fmt.Sprintf(format, args...))
	}
	lo, hi := math.Inf(-1), math.Inf(1)
	var err error
	if hasMin {
		if lo, err = strconv.ParseFloat(minS, 64); err != nil {
			bug("bad min tag %q", minS)
			return
		}
	}
	if hasMax {
		if hi, err = strconv.ParseFloat(maxS, 64); err != nil {
			bug("bad max tag %q", maxS)
			return
		}
	}
	elems, paths := []reflect.Value{v}, []string{path}
	if (v.Kind() == reflect.Slice || v.Kind() == reflect.Array) && v.Type() != paramPathType {
		elems, paths = nil, nil
		for i := range v.Len() {
			elems = append(elems, v.Index(i))
			paths = append(paths, fmt.Sprintf("%s[%d]", path, i))
		}
	}
	for i, e := range elems {
		eat := at
		if n := d.nodes[paths[i]]; n != nil {
			eat = n
		}
		if e.Kind() == reflect.Pointer {
			if e.IsNil() {
				continue
			}
			e = e.Elem()
		}
		if hasMin || hasMax {
			x, text, ok := numberOf(e)
			switch {
			case !ok:
				bug("min or max tag on %s, not a number", e.Type())
				return
			case math.IsNaN(x):
				d.l.errorf(eat, "%s: must be a number, got NaN", d.label(paths[i]))
			case x < lo:
				d.l.errorf(eat, "%s: must be at least %s, got %s", d.label(paths[i]), minS, text)
			case x > hi:
				d.l.errorf(eat, "%s: must be at most %s, got %s", d.label(paths[i]), maxS, text)
			}
		}
		if hasOneof {
			if e.Kind() != reflect.String {
				bug("oneof tag on %s, not a string", e.Type())
				return
			}
			opts := strings.Fields(oneof)
			if s := e.String(); !slices.Contains(opts, s) {
				d.l.errorf(eat, "%s: must be one of %s; got %q%s", d.label(paths[i]), strings.Join(opts, ", "), s, suggest(s, opts))
			}
		}
	}
}

// number returns v as a float64 and as text, if it is a number.
func numberOf(v reflect.Value) (float64, string, bool) {
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(v.Int()), strconv.FormatInt(v.Int(), 10), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return float64(v.Uint()), strconv.FormatUint(v.Uint(), 10), true
	case reflect.Float32, reflect.Float64:
		return v.Float(), strconv.FormatFloat(v.Float(), 'g', -1, 64), true
	}
	return 0, "", false
}

// resolvePath makes Path v absolute (relative to the experiment file's
// folder) and checks that it is a regular file or a folder (symlinks
// followed): opening a named pipe or a device would block or never end. An
// empty Path stays empty.
func (d *paramDecoder) resolvePath(v reflect.Value, path string, at *yaml.Node) {
	s := v.String()
	if s == "" {
		return
	}
	p := s
	if !filepath.IsAbs(p) {
		p = filepath.Join(d.l.dir, p)
	}
	p = filepath.Clean(p)
	v.SetString(p)
	if at != nil && at.Line > 0 {
		if d.paths == nil {
			d.paths = map[string]Pos{}
		}
		d.paths[path] = Pos{File: d.l.file, Line: at.Line, Col: at.Column}
	}
	if d.l.opt.SkipFileChecks {
		return
	}
	written := s
	if o, ok := d.l.orig[d.nodes[path]]; ok {
		written = o
	}
	fi, err := os.Stat(p)
	var pe *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		d.l.errorf(at, "%s: no such file or folder: %s (resolved to %s)", d.label(path), written, p)
	case errors.As(err, &pe):
		d.l.errorf(at, "%s: %s (resolved to %s): %v", d.label(path), written, p, pe.Err)
	case err != nil:
		d.l.errorf(at, "%s: %v", d.label(path), err)
	case !fi.IsDir() && !fi.Mode().IsRegular():
		d.l.errorf(at, "%s: %s (resolved to %s) is %s, not a regular file or folder", d.label(path), written, p, fileType(fi.Mode()))
	default:
		return
	}
	d.failed = true // the kind's Validate must not open it
}
