// Package checkpoint loads trained network weights from PyTorch checkpoints
// and safetensors files into named float32 tensors, in pure Go.
//
// The study's networks (see analyses.md, "Networks") come as torch.save
// files — epoch_NN.pth.tar dicts with a DataParallel-prefixed state_dict,
// an optimizer state and numpy scalars — or as bare state dicts. Load accepts:
//
//   - the torch.save zip format (PyTorch >= 1.6: <root>/data.pkl plus one
//     <root>/data/<key> entry per storage, with an optional byteorder entry);
//   - the legacy torch.save format (_use_new_zipfile_serialization=False: magic
//     number, protocol and sys_info pickles, the object pickle, the storage-key
//     list and the raw storages);
//   - safetensors (8-byte little-endian header length, JSON header, data);
//   - TensorFlow.js weights manifests (JSON, with float32 or uint8, uint16
//     or float16 quantised binary shards in the manifest's folder: see
//     LoadTfjs).
//
// The file extension is ignored; the format is sniffed from the content.
// Pickles are decoded with github.com/nlpodyssey/gopickle/pickle and a class
// resolver that turns tensors into lazy references and every unknown class
// into an inert object, so that anything besides the state dict (optimizer
// state, argparse namespaces, numpy scalars) cannot break loading. Only the
// tensors of the state dict are read.
//
// Every declared size (pickle argument lengths, storage sizes, tensor
// shapes, strides and offsets, safetensors header length and offsets) is
// checked against the bytes actually present before memory is allocated, and
// the floats materialised are capped at a small multiple of the file size,
// so a corrupt or hostile file yields an error, never a panic or a huge
// allocation. Errors name the file and, where one is involved, the parameter.
package checkpoint

import (
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/hashicorp/go-multierror"
)

// Tensor is a dense float32 tensor in row-major (C) order.
type Tensor struct {
	Shape []int
	Data  []float32
}

// TensorInfo describes a state-dict entry that is not kept as a parameter.
type TensorInfo struct {
	// DType is the element type ("int64", "bool", ...), or "object" for an
	// entry that is not a tensor at all (e.g. a module's _extra_state).
	DType string
	// Shape is the tensor's shape (nil for objects).
	Shape []int
}

// Format names a checkpoint container format.
type Format string

// The container formats Load understands.
const (
	FormatTorchZip    Format = "torch-zip"
	FormatTorchLegacy Format = "torch-legacy"
	FormatSafetensors Format = "safetensors"
)

// StateDict is the floating-point content of a checkpoint, keyed by
// parameter name with any DataParallel "module." prefix removed.
type StateDict struct {
	// Path is the file it was loaded from.
	Path string
	// Format is the container format that was found.
	Format Format
	// Wrapper is the key the state dict was found under in a training
	// checkpoint dict ("state_dict", "model_state_dict" or "model"), or ""
	// for a bare state dict.
	Wrapper string
	// Params holds every floating tensor (parameters and floating buffers
	// such as BatchNorm running statistics); float64, float16 and bfloat16
	// are converted to float32.
	Params map[string]Tensor
	// Other lists the entries of the state dict that are not floating
	// tensors — integer buffers such as BatchNorm's num_batches_tracked, or
	// non-tensor values — without their data. They carry no weights, so
	// they are reported rather than loaded.
	Other map[string]TensorInfo
	// Meta holds the scalar entries beside the state dict in a wrapped
	// checkpoint (epoch, arch, best_acc1, ...) as int64, float64, string or
	// bool values (numpy scalars and one-element float tensors are
	// decoded), or the string metadata of a safetensors file.
	Meta map[string]any
}

// Names returns the parameter names in sorted order.
func (sd *StateDict) Names() []string {
	names := make([]string, 0, len(sd.Params))
	for name := range sd.Params {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Check compares the parameters with the expected names and shapes (e.g. the
// architecture's parameter list) and returns nil if they match exactly, or
// one *multierror.Error listing every missing, unexpected and mis-shaped
// parameter, sorted by name. Entries of Other are not compared: they carry
// no weights.
func (sd *StateDict) Check(want map[string][]int) error {
	var result *multierror.Error
	for _, name := range slices.Sorted(maps.Keys(want)) {
		got, ok := sd.Params[name]
		switch {
		case !ok:
			result = multierror.Append(result, fmt.Errorf("missing parameter %q (want shape %v)", name, want[name]))
		case !slices.Equal(got.Shape, want[name]):
			result = multierror.Append(result, fmt.Errorf("parameter %q has shape %v, want %v", name, got.Shape, want[name]))
		}
	}
	for _, name := range sd.Names() {
		if _, ok := want[name]; !ok {
			result = multierror.Append(result, fmt.Errorf("unexpected parameter %q (shape %v)", name, sd.Params[name].Shape))
		}
	}
	if result == nil {
		return nil
	}
	path := sd.Path
	result.ErrorFormat = func(errs []error) string {
		var b strings.Builder
		fmt.Fprintf(&b, "checkpoint %s does not match the expected parameters (%d problems):", path, len(errs))
		for _, err := range errs {
			b.WriteString("\n\t* ")
			b.WriteString(err.Error())
		}
		return b.String()
	}
	return result
}

// Load reads the checkpoint at path (.pt, .pth, .pth.tar, .bin, .safetensors,
// a tfjs manifest:
// the format is sniffed from the content) and returns its state dict.
func Load(path string) (*StateDict, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("checkpoint %s: not a regular file", path)
	}
	if isTfjsManifest(f, fi.Size()) {
		return LoadTfjs(path)
	}
	sd, err := load(f, fi.Size())
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	sd.Path = path
	return sd, nil
}

// load sniffs the format of the size bytes in ra and decodes them.
func load(ra io.ReaderAt, size int64) (*StateDict, error) {
	var head [512]byte
	n, _ := ra.ReadAt(head[:], 0)
	h := head[:n]
	switch {
	case n == 0:
		return nil, fmt.Errorf("empty file, not a checkpoint")
	case len(h) >= 4 && string(h[:4]) == "PK\x03\x04":
		return loadZip(ra, size)
	case len(h) >= 9 && h[8] == '{':
		// Checked before pickles: a header length such as 0x280 also
		// starts with the pickle PROTO opcode.
		return loadSafetensors(ra, size)
	case len(h) >= 2 && h[0] == 0x80 && h[1] <= 5:
		return loadLegacy(ra, size)
	case len(h) >= 262 && string(h[257:262]) == "ustar":
		return nil, fmt.Errorf("tar-based torch.save format (PyTorch < 0.4) is not supported")
	}
	return nil, fmt.Errorf("not a checkpoint: neither a torch.save zip or legacy pickle nor a safetensors file")
}
