package data

import (
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unsafe"

	"selectivity/cache/arrowfile"
	"selectivity/stages"
)

// Aggregations lists the spatial reductions of kernel-level layers, as the
// aggregate kind's method parameter names them.
var Aggregations = []string{"mean", "l2", "max"}

// Schema metadata keys of layer files.
const (
	// LevelKey holds "unit" (one column per channel × y × x position) or
	// "kernel" (one column per channel).
	LevelKey = "level"
	// LayerKey holds the layer's name, e.g. "conv13".
	LayerKey = "layer"
	// AggregationKey holds the spatial reduction of a kernel-level file:
	// mean, l2 or max.
	AggregationKey = "aggregation"
)

// Levels of matrix files.
const (
	LevelUnit   = "unit"   // one column per channel × y × x position
	LevelKernel = "kernel" // one column per channel
	LevelLogits = "logits" // the network's outputs
)

// Meta is the schema metadata of l's file holding a matrix whose rows
// are images of the given shape (C, H, W at unit level; C at kernel
// level): the entries of extra, then the contract's keys, which win.
func (l Layer) Meta(shape []int, extra map[string]string) map[string]string {
	meta := maps.Clone(extra)
	if meta == nil {
		meta = map[string]string{}
	}
	meta[arrowfile.ShapeKey] = arrowfile.FormatInts(shape...)
	meta[LayerKey] = l.Name
	meta[LevelKey] = l.Level
	if l.Aggregation != "" {
		meta[AggregationKey] = l.Aggregation
	}
	return meta
}

// Layer is one layer file of an extract or aggregate stage: an arrowfile
// matrix whose rows are images and whose columns are items.
type Layer struct {
	// Name is the layer's name: the file's "layer" metadata, or its base
	// name without ".arrow" when that is missing.
	Name string
	// Path is the file's absolute path.
	Path string
	// Level is "unit" or "kernel".
	Level string
	// Aggregation is the kernel-level reduction ("" at unit level).
	Aggregation string
}

// Layers lists the layer files among in's outputs: the .arrow files whose
// schema metadata has level set to one of levels. Other files (the image
// table, logits, anything else) are skipped. The layers are sorted by name
// with digits compared as numbers (conv2 before conv10).
func Layers(in stages.Input, levels ...string) ([]Layer, error) {
	var out []Layer
	seen := map[string]string{}
	for _, f := range in.Files {
		if filepath.Ext(f) != ".arrow" || f == ImagesFile {
			continue
		}
		path := in.Path(f)
		r, err := arrowfile.Open(path)
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", in.Stage, err)
		}
		level, _ := arrowfile.Meta(r.Schema(), LevelKey)
		name, ok := arrowfile.Meta(r.Schema(), LayerKey)
		agg, _ := arrowfile.Meta(r.Schema(), AggregationKey)
		r.Close()
		if !slices.Contains(levels, level) {
			continue
		}
		if !ok || name == "" {
			name = strings.TrimSuffix(filepath.Base(f), ".arrow")
		}
		if err := checkName(name); err != nil {
			return nil, fmt.Errorf("input %s: file %s: %w", in.Stage, f, err)
		}
		if prev, dup := seen[name]; dup {
			return nil, fmt.Errorf("input %s: files %s and %s both hold layer %q", in.Stage, prev, f, name)
		}
		seen[name] = f
		out = append(out, Layer{Name: name, Path: path, Level: level, Aggregation: agg})
	}
	slices.SortFunc(out, func(a, b Layer) int { return NaturalCompare(a.Name, b.Name) })
	return out, nil
}

// checkName rejects layer names that cannot name an output file.
func checkName(name string) error {
	if name == "." || name == ".." || strings.ContainsAny(name, `/\`) || strings.ContainsRune(name, 0) {
		return fmt.Errorf("layer name %q cannot name a file", name)
	}
	return nil
}

// Select returns the layers named in names, in that order; no names means
// all of them. A name that is not there is an error listing what is.
func Select(all []Layer, names []string, stage string) ([]Layer, error) {
	if len(names) == 0 {
		if len(all) == 0 {
			return nil, fmt.Errorf("input %s has no layer files", stage)
		}
		return all, nil
	}
	out := make([]Layer, 0, len(names))
	for _, n := range names {
		i := slices.IndexFunc(all, func(l Layer) bool { return l.Name == n })
		if i < 0 {
			have := make([]string, len(all))
			for j, l := range all {
				have[j] = l.Name
			}
			return nil, fmt.Errorf("input %s has no layer %q; layers: %s", stage, n, strings.Join(have, ", "))
		}
		out = append(out, all[i])
	}
	return out, nil
}

// NaturalCompare orders strings with runs of digits compared by value:
// "conv2" < "conv10". Equal-valued runs with different zero padding, and
// otherwise equal strings, fall back to byte order.
func NaturalCompare(a, b string) int {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		ca, cb := a[i], b[j]
		if isDigit(ca) && isDigit(cb) {
			si, sj := i, j
			for i < len(a) && isDigit(a[i]) {
				i++
			}
			for j < len(b) && isDigit(b[j]) {
				j++
			}
			da := strings.TrimLeft(a[si:i], "0")
			db := strings.TrimLeft(b[sj:j], "0")
			if len(da) != len(db) {
				return cmpInt(len(da), len(db))
			}
			if c := strings.Compare(da, db); c != 0 {
				return c
			}
			continue
		}
		if ca != cb {
			return cmpInt(int(ca), int(cb))
		}
		i++
		j++
	}
	if c := cmpInt(len(a)-i, len(b)-j); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// CopyFile copies src to dst (created or truncated), for passing the image
// table on.
func CopyFile(dst, src string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err = io.Copy(out, in); err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return out.Sync()
}

// Bytes is the memory of v as bytes, for reading float32 values in native
// byte order (the only order arrowfile accepts) straight into v.
func Bytes(v []float32) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), len(v)*4)
}
