package checkpoint

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"math"
	"math/big"
	"path"
	"slices"
	"strings"

	"github.com/nlpodyssey/gopickle/types"
)

// loadZip decodes the torch.save zip format (PyTorch >= 1.6).
func loadZip(ra io.ReaderAt, size int64) (*StateDict, error) {
	zr, err := zip.NewReader(ra, size)
	if err != nil {
		return nil, fmt.Errorf("corrupt or truncated zip archive: %w", err)
	}
	entries := make(map[string]*zip.File, len(zr.File))
	var pkl *zip.File
	hasConstants := false
	for _, f := range zr.File {
		entries[f.Name] = f
		dir, base := path.Split(f.Name)
		if strings.Count(dir, "/") > 1 {
			continue
		}
		switch base {
		case "data.pkl":
			if pkl == nil {
				pkl = f
			}
		case "constants.pkl":
			hasConstants = true
		}
	}
	if pkl == nil {
		if hasConstants {
			return nil, fmt.Errorf("TorchScript archive without data.pkl is not supported")
		}
		return nil, fmt.Errorf("zip archive has no data.pkl entry: not a torch.save checkpoint")
	}
	prefix, _ := path.Split(pkl.Name)

	bigEndian := false
	if f, ok := entries[prefix+"byteorder"]; ok {
		b, err := readEntry(f, 16)
		if err != nil {
			return nil, fmt.Errorf("zip entry %s: %w", f.Name, err)
		}
		switch strings.TrimSpace(string(b)) {
		case "little":
		case "big":
			bigEndian = true
		default:
			return nil, fmt.Errorf("zip entry %s: unknown byte order %q", f.Name, shorten(string(b)))
		}
	}

	data, err := readEntry(pkl, maxPickleBytes)
	if err != nil {
		return nil, fmt.Errorf("zip entry %s: %w", pkl.Name, err)
	}
	roots := map[string]*rootData{}
	var refs []*storage
	persistent := func(pid any) (any, error) {
		t, ok := pid.(*types.Tuple)
		if !ok || t.Len() < 5 || t.Get(0) != "storage" {
			return invalidf("unsupported persistent id (%s)", typeName(pid)), nil
		}
		key, ok := t.Get(2).(string)
		if !ok {
			return invalidf("storage key is %s, not a string", typeName(t.Get(2))), nil
		}
		n, ok := toInt(t.Get(4))
		if !ok || n < 0 {
			return invalidf("storage %q has an invalid size", key), nil
		}
		st := &storage{key: key, dtype: storageDType(t.Get(1)), numel: n}
		root, ok := roots[key]
		if !ok {
			root = zipRoot(ra, entries, prefix+"data/"+key, key, size, bigEndian)
			roots[key] = root
		}
		st.root = root
		refs = append(refs, st)
		return st, nil
	}
	n, err := scanPickle(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("zip entry %s: %w", pkl.Name, err)
	}
	obj, err := unpickle(bytes.NewReader(data[:n]), persistent)
	if err != nil {
		return nil, fmt.Errorf("zip entry %s: %w", pkl.Name, err)
	}
	sd, err := extract(obj, FormatTorchZip, refs, newBudget(size))
	if err != nil && hasConstants {
		return nil, fmt.Errorf("%w (this looks like a TorchScript archive, which is not supported)", err)
	}
	return sd, err
}

// storageDType returns the element type of a pickled storage class.
func storageDType(v any) dtype {
	if c, ok := v.(storageClass); ok {
		return c.dtype
	}
	return dtUnknown
}

// zipRoot locates a storage entry. Stored entries (what torch writes) are
// read in place; compressed ones are inflated on first use, within budget.
func zipRoot(ra io.ReaderAt, entries map[string]*zip.File, name, key string, size int64, bigEndian bool) *rootData {
	root := &rootData{key: key, where: "zip entry " + name, bigEndian: bigEndian}
	f, ok := entries[name]
	if !ok {
		root.err = fmt.Errorf("zip entry %s is missing", name)
		return root
	}
	switch f.Method {
	case zip.Store:
		off, err := f.DataOffset()
		if err != nil {
			root.err = fmt.Errorf("zip entry %s: %w", name, err)
			return root
		}
		if f.CompressedSize64 != f.UncompressedSize64 || f.CompressedSize64 > uint64(size) || off+int64(f.CompressedSize64) > size {
			root.err = fmt.Errorf("zip entry %s declares %d bytes beyond the end of the file", name, f.CompressedSize64)
			return root
		}
		root.ra, root.off, root.nbytes = ra, off, int64(f.CompressedSize64)
	case zip.Deflate:
		if f.UncompressedSize64 > math.MaxInt64/16 {
			root.err = fmt.Errorf("zip entry %s declares an absurd size %d", name, f.UncompressedSize64)
			return root
		}
		root.nbytes = int64(f.UncompressedSize64)
		root.inflate = f
	default:
		root.err = fmt.Errorf("zip entry %s uses unsupported compression method %d", name, f.Method)
	}
	return root
}

// readEntry reads a whole (small) zip entry, refusing more than max bytes.
func readEntry(f *zip.File, max int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(max) {
		return nil, fmt.Errorf("declares %d bytes, more than the %d-byte limit", f.UncompressedSize64, max)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, int64(f.UncompressedSize64)))
	if err != nil {
		return nil, fmt.Errorf("corrupt data: %w", err)
	}
	if int64(len(b)) != int64(f.UncompressedSize64) {
		return nil, fmt.Errorf("truncated: %d of %d bytes", len(b), f.UncompressedSize64)
	}
	return b, nil
}

// legacyMagic is torch's legacy-format magic number.
var legacyMagic, _ = new(big.Int).SetString("1950a86a20f9469cfc6c", 16)

// loadLegacy decodes the legacy torch.save stream: magic, protocol version
// and sys_info pickles, the object pickle (storages as persistent ids), the
// pickled list of storage keys, then for each key an 8-byte element count
// and the raw elements.
func loadLegacy(ra io.ReaderAt, size int64) (*StateDict, error) {
	magic, off, err := readPickle(ra, 0, size, nil)
	if err != nil {
		return nil, fmt.Errorf("not a legacy torch checkpoint: %w", err)
	}
	if m, ok := magic.(*big.Int); !ok || m.Cmp(legacyMagic) != 0 {
		return nil, fmt.Errorf("not a checkpoint: a pickle without torch's magic number (plain pickles are not supported)")
	}
	proto, off, err := readPickle(ra, off, size, nil)
	if err != nil {
		return nil, fmt.Errorf("protocol version: %w", err)
	}
	if p, ok := proto.(int); !ok || p != 1001 {
		return nil, fmt.Errorf("unsupported legacy protocol version (%s)", typeName(proto))
	}
	sysInfo, off, err := readPickle(ra, off, size, nil)
	if err != nil {
		return nil, fmt.Errorf("sys_info: %w", err)
	}
	bigEndian := false
	if items, ok := dictItems(sysInfo); ok {
		for _, it := range items {
			if it.key == "little_endian" {
				if le, ok := it.value.(bool); ok {
					bigEndian = !le
				}
			}
		}
	}

	roots := map[string]*rootData{}
	rootType := map[string]dtype{}
	var refs []*storage
	persistent := func(pid any) (any, error) {
		t, ok := pid.(*types.Tuple)
		if !ok || t.Len() < 1 {
			return invalidf("unsupported persistent id (%s)", typeName(pid)), nil
		}
		switch t.Get(0) {
		case "module":
			return &genericObject{class: &genericClass{name: "pickled module source"}}, nil
		case "storage":
		default:
			return invalidf("unsupported persistent id"), nil
		}
		if t.Len() < 6 {
			return invalidf("storage persistent id has %d fields, want 6", t.Len()), nil
		}
		key, ok := t.Get(2).(string)
		if !ok {
			return invalidf("storage key is %s, not a string", typeName(t.Get(2))), nil
		}
		n, ok := toInt(t.Get(4))
		if !ok || n < 0 {
			return invalidf("storage %q has an invalid size", key), nil
		}
		dt := storageDType(t.Get(1))
		root, ok := roots[key]
		if !ok {
			root = &rootData{key: key, where: "legacy storage " + key, bigEndian: bigEndian}
			roots[key] = root
			rootType[key] = dt
		}
		st := &storage{key: key, dtype: dt, numel: n, root: root}
		if vm, ok := t.Get(5).(*types.Tuple); ok {
			// Storage view (torch < 1.0): (view_key, offset, view_size).
			voff, ok1 := toInt(vm.Get(1))
			vsize, ok2 := toInt(vm.Get(2))
			if vm.Len() != 3 || !ok1 || !ok2 || voff < 0 || vsize < 0 || voff > n || vsize > n-voff {
				return invalidf("storage %q has an invalid view", key), nil
			}
			st.offset, st.numel = voff, vsize
		}
		refs = append(refs, st)
		return st, nil
	}
	obj, off, err := readPickle(ra, off, size, persistent)
	if err != nil {
		return nil, err
	}
	keysObj, off, err := readPickle(ra, off, size, nil)
	if err != nil {
		return nil, fmt.Errorf("storage key list: %w", err)
	}
	keys, ok := keysObj.(*types.List)
	if !ok {
		return nil, fmt.Errorf("storage key list is %s, not a list", typeName(keysObj))
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if bigEndian {
		bo = binary.BigEndian
	}
	var truncated error
	for _, k := range *keys {
		key, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("storage key is %s, not a string", typeName(k))
		}
		root := roots[key]
		if root == nil {
			return nil, fmt.Errorf("storage %q is listed but no tensor refers to it, so its layout is unknown", key)
		}
		if root.ra != nil {
			return nil, fmt.Errorf("storage %q is listed twice", key)
		}
		if truncated != nil {
			root.err = truncated
			continue
		}
		esz := rootType[key].size()
		if esz == 0 {
			return nil, fmt.Errorf("storage %q has an unsupported type, so the storages after it cannot be located", key)
		}
		var hdr [8]byte
		if size-off < 8 {
			truncated = fmt.Errorf("file truncated: storage %q starts at byte %d of %d", key, off, size)
			root.err = truncated
			continue
		}
		if _, err := ra.ReadAt(hdr[:], off); err != nil {
			return nil, fmt.Errorf("reading storage %q: %w", key, err)
		}
		n := bo.Uint64(hdr[:])
		if n > uint64(size-off-8)/uint64(esz) {
			truncated = fmt.Errorf("file truncated: storage %q declares %d elements of %d bytes at byte %d but the file has %d bytes", key, n, esz, off+8, size)
			root.err = truncated
			continue
		}
		root.ra, root.off, root.nbytes = ra, off+8, int64(n)*esz
		off += 8 + int64(n)*esz
	}
	for key, root := range roots {
		if root.ra == nil && root.err == nil {
			root.err = fmt.Errorf("storage %q is missing from the storage key list", key)
		}
	}
	return extract(obj, FormatTorchLegacy, refs, newBudget(size))
}

// kv is one entry of a pickled dict.
type kv struct{ key, value any }

// dictItems lists the entries of a pickled dict or OrderedDict in order.
func dictItems(v any) ([]kv, bool) {
	switch d := v.(type) {
	case *types.Dict:
		out := make([]kv, len(*d))
		for i, e := range *d {
			out[i] = kv{e.Key, e.Value}
		}
		return out, true
	case *types.OrderedDict:
		out := make([]kv, 0, d.Len())
		for e := d.List.Front(); e != nil; e = e.Next() {
			if entry, ok := e.Value.(*types.OrderedDictEntry); ok {
				out = append(out, kv{entry.Key, entry.Value})
			}
		}
		return out, true
	}
	return nil, false
}

// wrapperKeys are the keys under which training scripts store the state dict,
// in order of preference.
var wrapperKeys = []string{"state_dict", "model_state_dict", "model"}

// extract finds the state dict in an unpickled checkpoint, materialises its
// floating tensors and verifies that every storage the pickle referenced is
// present in the file.
func extract(top any, format Format, refs []*storage, b *budget) (*StateDict, error) {
	items, ok := dictItems(top)
	if !ok {
		return nil, fmt.Errorf("top-level object is %s, not a dict", typeName(top))
	}
	sd := &StateDict{Format: format, Params: map[string]Tensor{}, Other: map[string]TensorInfo{}, Meta: map[string]any{}}
	entries := items
	for _, w := range wrapperKeys {
		for _, it := range items {
			if it.key != w {
				continue
			}
			if inner, ok := dictItems(it.value); ok {
				entries, sd.Wrapper = inner, w
			}
		}
		if sd.Wrapper != "" {
			break
		}
	}
	if sd.Wrapper == "" {
		// A bare state dict maps names to tensors; a wrapper that holds a
		// whole pickled module is reported as such.
		for _, w := range wrapperKeys {
			for _, it := range items {
				if it.key == w {
					if _, isTensor := it.value.(*tensorRef); !isTensor {
						return nil, fmt.Errorf("entry %q is %s, not a state dict (whole pickled modules are not supported; save model.state_dict())", w, typeName(it.value))
					}
				}
			}
		}
	} else {
		for _, it := range items {
			k, ok := it.key.(string)
			if ok && k != sd.Wrapper {
				if v, ok := metaValue(it.value, b); ok {
					sd.Meta[k] = v
				}
			}
		}
	}

	tensors := map[string]*tensorRef{}
	nTensors := 0
	for _, it := range entries {
		name, ok := it.key.(string)
		if !ok {
			return nil, fmt.Errorf("state dict key is %s, not a string", typeName(it.key))
		}
		name = strings.TrimPrefix(name, "module.")
		if _, dup := tensors[name]; dup {
			return nil, fmt.Errorf("parameter %q appears twice (with and without the DataParallel \"module.\" prefix)", name)
		}
		if _, dup := sd.Other[name]; dup {
			return nil, fmt.Errorf("parameter %q appears twice (with and without the DataParallel \"module.\" prefix)", name)
		}
		switch v := it.value.(type) {
		case *tensorRef:
			nTensors++
			if v.dtype.isFloat() {
				tensors[name] = v
			} else {
				shape := make([]int, len(v.shape))
				for i, d := range v.shape {
					shape[i] = int(d)
				}
				sd.Other[name] = TensorInfo{DType: v.dtype.String(), Shape: shape}
			}
		case *invalid:
			return nil, fmt.Errorf("parameter %q: %w", name, v.err)
		default:
			sd.Other[name] = TensorInfo{DType: "object"}
		}
	}
	if nTensors == 0 {
		var keys []string
		for _, it := range items {
			if k, ok := it.key.(string); ok && len(keys) < 20 {
				keys = append(keys, fmt.Sprintf("%q", shorten(k)))
			}
		}
		return nil, fmt.Errorf("no state dict found (top-level keys: %s)", strings.Join(keys, ", "))
	}
	for _, name := range slices.Sorted(maps.Keys(tensors)) {
		t, err := materialiseRef(tensors[name], b)
		if err != nil {
			return nil, fmt.Errorf("parameter %q: %w", name, err)
		}
		sd.Params[name] = t
	}
	// A storage that is missing or truncated means the file is damaged, even
	// if only the optimizer state uses it.
	for _, st := range refs {
		if err := checkStorage(st); err != nil {
			return nil, fmt.Errorf("storage %q (outside the state dict): %w", st.key, err)
		}
	}
	return sd, nil
}

// materialiseRef inflates compressed zip entries on demand, then reads the
// tensor.
func materialiseRef(t *tensorRef, b *budget) (Tensor, error) {
	if t.st != nil && t.st.root != nil {
		if err := t.st.root.ensure(b); err != nil {
			return Tensor{}, fmt.Errorf("storage %q: %w", t.st.key, err)
		}
	}
	return materialise(t, b)
}

// checkStorage verifies that a referenced storage's declared extent is
// present in the file, without reading it.
func checkStorage(st *storage) error {
	if st.root == nil {
		return fmt.Errorf("no data")
	}
	if st.root.err != nil {
		return st.root.err
	}
	ssz := st.dtype.size()
	if ssz == 0 {
		return nil
	}
	if st.numel > math.MaxInt64/16 || st.offset > math.MaxInt64/16 || (st.offset+st.numel)*ssz > st.root.nbytes {
		return fmt.Errorf("declares %d elements of %d bytes but %s holds only %d bytes", st.numel, ssz, st.root.where, st.root.nbytes)
	}
	return nil
}

// metaValue converts a scalar checkpoint entry (epoch, arch, best_acc1) to a
// Go value.
func metaValue(v any, b *budget) (any, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case float64, string, bool:
		return x, true
	case *numpyScalar:
		return x.value, true
	case *tensorRef:
		if n, err := numel(x.shape); err != nil || n != 1 || !x.dtype.isFloat() {
			return nil, false
		}
		t, err := materialiseRef(x, b)
		if err != nil {
			return nil, false
		}
		return float64(t.Data[0]), true
	}
	return nil, false
}

// ensure inflates a deflated zip entry into memory on first use.
func (r *rootData) ensure(b *budget) error {
	if r.inflate == nil || r.ra != nil || r.err != nil {
		return r.err
	}
	f := r.inflate
	if err := b.take(r.nbytes); err != nil {
		r.err = err
		return err
	}
	rc, err := f.Open()
	if err != nil {
		r.err = fmt.Errorf("%s: %w", r.where, err)
		return r.err
	}
	defer rc.Close()
	buf := make([]byte, r.nbytes)
	if _, err := io.ReadFull(bufio.NewReader(rc), buf); err != nil {
		r.err = fmt.Errorf("%s: corrupt compressed data: %w", r.where, err)
		return r.err
	}
	r.ra, r.off = bytes.NewReader(buf), 0
	return nil
}
