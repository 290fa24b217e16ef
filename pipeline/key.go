package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"

	"selectivity/stages"
)

// PathDigester gives the content digest of a file or folder.
type PathDigester interface {
	Path(path string) (string, error)
}

// FileParam is a Path parameter as the key saw it: where it points and
// what it held.
type FileParam struct {
	Param  string `json:"param" yaml:"param"`
	Path   string `json:"path" yaml:"path"`
	Digest string `json:"digest" yaml:"digest"`
}

// Canonical is a stage's resolved parameters in canonical form: a JSON
// object with sorted keys, every default present, each Path replaced by its
// content digest, and fields tagged key:"-" left out, so that neither the
// file's layout, nor the place of a file on disk, nor a batch size changes it.
type Canonical struct {
	JSON  json.RawMessage
	Files []FileParam
}

// canonicalParams encodes a decoded parameter struct (see stages.Kind).
// The files a parameter's file reads (stages.Companions) enter it under
// the key "companions": parameter key → their digests in order.
func canonicalParams(params any, dir string, d PathDigester) (Canonical, error) {
	var c Canonical
	v, err := canonicalValue(reflect.ValueOf(params), "", dir, d, &c.Files)
	if err != nil {
		return c, err
	}
	if cp, ok := params.(stages.Companions); ok {
		deps, err := cp.Companions()
		if err != nil {
			return c, err
		}
		sums := map[string][]string{}
		for _, key := range slices.Sorted(maps.Keys(deps)) {
			for i, p := range deps[key] {
				name := fmt.Sprintf("%s (file %d it reads)", key, i+1)
				sum, err := d.Path(string(p))
				if err != nil {
					return c, &pathError{param: key, err: err}
				}
				c.Files = append(c.Files, FileParam{Param: name, Path: relPath(dir, string(p)), Digest: sum})
				sums[key] = append(sums[key], sum)
			}
		}
		if m, ok := v.(map[string]any); ok && len(sums) > 0 {
			m["companions"] = sums
		}
	}
	c.JSON, err = json.Marshal(v)
	return c, err
}

var pathType = reflect.TypeOf(stages.Path(""))

// pathError is a problem with the file or folder a Path parameter names.
type pathError struct {
	param string // key path, as in Stage.PathPos
	err   error
}

func (e *pathError) Error() string { return "params." + e.param + ": " + e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }

func canonicalValue(v reflect.Value, name, dir string, d PathDigester, files *[]FileParam) (any, error) {
	if v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil, nil
		}
		return canonicalValue(v.Elem(), name, dir, d, files)
	}
	if v.Type() == pathType {
		p := v.String()
		if p == "" {
			return "", nil
		}
		sum, err := d.Path(p)
		if err != nil {
			return nil, &pathError{param: name, err: err}
		}
		*files = append(*files, FileParam{Param: name, Path: relPath(dir, p), Digest: sum})
		return sum, nil
	}
	join := func(k string) string {
		if name == "" {
			return k
		}
		return name + "." + k
	}
	switch v.Kind() {
	case reflect.Struct:
		m := map[string]any{}
		for _, pf := range fieldsOf(v.Type()) { // ",inline" structs' fields in place
			f := pf.sf
			key := yamlName(f)
			if key == "" || f.Tag.Get("key") == "-" {
				continue
			}
			x, err := canonicalValue(v.FieldByIndex(pf.index), join(key), dir, d, files)
			if err != nil {
				return nil, err
			}
			m[key] = x
		}
		return m, nil
	case reflect.Map:
		m := map[string]any{}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		for _, k := range keys {
			ks := fmt.Sprint(k.Interface())
			x, err := canonicalValue(v.MapIndex(k), join(ks), dir, d, files)
			if err != nil {
				return nil, err
			}
			m[ks] = x
		}
		return m, nil
	case reflect.Slice, reflect.Array:
		s := make([]any, v.Len())
		for i := range s {
			x, err := canonicalValue(v.Index(i), fmt.Sprintf("%s[%d]", name, i), dir, d, files)
			if err != nil {
				return nil, err
			}
			s[i] = x
		}
		return s, nil
	default:
		return v.Interface(), nil
	}
}

// yamlName is the key a struct field is written under, "" if it has none.
func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

// keyInput is one upstream stage as it enters a key.
type keyInput struct {
	Slot  string `json:"slot"`
	Stage string `json:"stage"`
	Key   string `json:"key"`
	// Label is the upstream stage's label, which a stage may show like
	// its name; left out of the key when empty, so unlabelled inputs keep
	// their keys.
	Label string `json:"label,omitempty" yaml:"label,omitempty"`
}

// stageKey is the content hash that names a stage's cache entry: SHA-256
// over the kind, its code version, the canonical parameters and the inputs
// (slot, upstream name, key and label). Upstream names and labels are part
// of it because a stage may label its outputs with them.
func stageKey(kind, version string, params json.RawMessage, inputs []keyInput) string {
	b, _ := json.Marshal(struct {
		Kind    string          `json:"kind"`
		Version string          `json:"version"`
		Params  json.RawMessage `json:"params"`
		Inputs  []keyInput      `json:"inputs"`
	}{kind, version, params, inputs})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
