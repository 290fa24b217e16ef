package checkpoint

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strings"
	"unicode/utf8"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// Limits on the pickle part of a checkpoint. gopickle allocates argument
// buffers from declared lengths before reading them and spends a few hundred
// bytes on some one-byte opcodes, so every pickle is first walked by
// scanPickle, which enforces these limits without building anything.
const (
	// maxPickleBytes caps one pickle stream. Real state-dict pickles are a few
	// KiB to a few MiB; the tensors live outside the pickle.
	maxPickleBytes = 64 << 20
	// maxLineBytes caps text arguments of protocol-0 opcodes (INT, LONG,
	// FLOAT, GET, PUT, GLOBAL, ...). Parsing an unbounded decimal LONG with
	// math/big is quadratic.
	maxLineBytes = 4096
	// maxLongBytes caps LONG1/LONG4 payloads (gopickle's decoding is
	// quadratic in their length); torch only stores a 10-byte magic number.
	maxLongBytes = 1024
	// pickleCostPerByte and pickleCostFixed bound the estimated memory the
	// unpickler will allocate: cost <= pickleCostPerByte*len + pickleCostFixed.
	pickleCostPerByte = 128
	pickleCostFixed   = 32 << 20
)

// scanPickle walks one pickle stream the way pickletools.genops does, without
// building objects, and returns its length in bytes (up to and including
// STOP). It rejects unknown or unsupported opcodes, arguments that extend past
// the avail bytes left in the input, oversized numeric arguments and streams
// whose estimated unpickling cost is far beyond their size. After it
// succeeds, gopickle can be run on exactly those bytes without any
// allocation being driven by a forged length field.
func scanPickle(r io.ByteReader, avail int64) (int64, error) {
	if avail > maxPickleBytes {
		avail = maxPickleBytes + 1
	}
	var pos, cost int64
	next := func() (byte, error) {
		if pos >= avail {
			if avail > maxPickleBytes {
				return 0, fmt.Errorf("pickle longer than the %d-byte limit", maxPickleBytes)
			}
			return 0, fmt.Errorf("pickle truncated at byte %d (no STOP opcode)", pos)
		}
		b, err := r.ReadByte()
		if err != nil {
			return 0, fmt.Errorf("pickle truncated at byte %d: %w", pos, err)
		}
		pos++
		return b, nil
	}
	fixed := func(n int64) ([]byte, error) {
		var buf [8]byte
		for i := int64(0); i < n; i++ {
			b, err := next()
			if err != nil {
				return nil, err
			}
			buf[i] = b
		}
		return buf[:n], nil
	}
	skip := func(op byte, n uint64) error {
		if n > uint64(avail-pos) {
			return fmt.Errorf("pickle opcode 0x%02x at byte %d declares a %d-byte argument but only %d bytes remain", op, pos, n, avail-pos)
		}
		cost += 2*int64(n) + 64
		for i := uint64(0); i < n; i++ {
			if _, err := next(); err != nil {
				return err
			}
		}
		return nil
	}
	line := func(op byte) error {
		for n := 0; ; n++ {
			b, err := next()
			if err != nil {
				return err
			}
			if b == '\n' {
				cost += 2*int64(n) + 64
				return nil
			}
			if n >= maxLineBytes {
				return fmt.Errorf("pickle opcode 0x%02x at byte %d has a text argument longer than %d bytes", op, pos, maxLineBytes)
			}
		}
	}
	for {
		start := pos
		op, err := next()
		if err != nil {
			return 0, err
		}
		cost += 64
		switch op {
		case '.': // STOP
			return pos, nil
		case '(': // MARK: gopickle allocates a fresh 16-slot stack
			cost += 320
		case '0', '1', '2', 'N', 'R', 'a', 'b', 'd', '}', 'e', 'l', ']', 'o', 's', 't', ')', 'u',
			0x81, 0x85, 0x86, 0x87, 0x88, 0x89, 'Q', 0x8f, 0x90, 0x91, 0x92, 0x93, 0x98:
		case 0x94: // MEMOIZE
			cost += 96
		case 'K', 'h', 'q', 0x80:
			b, err := fixed(1)
			if err != nil {
				return 0, err
			}
			if op == 0x80 && b[0] > pickle.HighestProtocol {
				return 0, fmt.Errorf("unsupported pickle protocol %d at byte %d", b[0], start)
			}
			if op == 'q' {
				cost += 96
			}
		case 'M':
			if _, err := fixed(2); err != nil {
				return 0, err
			}
		case 'J', 'j', 'r':
			if _, err := fixed(4); err != nil {
				return 0, err
			}
			if op == 'r' {
				cost += 96
			}
		case 'G':
			if _, err := fixed(8); err != nil {
				return 0, err
			}
		case 0x95: // FRAME: gopickle reads the whole frame into memory
			b, err := fixed(8)
			if err != nil {
				return 0, err
			}
			n := binary.LittleEndian.Uint64(b)
			if n > uint64(avail-pos) {
				return 0, fmt.Errorf("pickle frame at byte %d declares %d bytes but only %d remain", start, n, avail-pos)
			}
			cost += int64(n)
		case 'F', 'I', 'L', 'P', 'S', 'V', 'g', 'p':
			if err := line(op); err != nil {
				return 0, err
			}
			if op == 'p' {
				cost += 96
			}
		case 'c', 'i':
			if err := line(op); err != nil {
				return 0, err
			}
			if err := line(op); err != nil {
				return 0, err
			}
		case 'U', 'C', 0x8c, 0x8a: // 1-byte length
			b, err := fixed(1)
			if err != nil {
				return 0, err
			}
			if op == 0x8a && b[0] == 0 {
				// gopickle indexes the last byte of a LONG1 payload.
				return 0, fmt.Errorf("empty LONG1 at byte %d", start)
			}
			if err := skip(op, uint64(b[0])); err != nil {
				return 0, err
			}
		case 'T', 'X', 'B', 0x8b: // 4-byte length
			b, err := fixed(4)
			if err != nil {
				return 0, err
			}
			n := binary.LittleEndian.Uint32(b)
			if (op == 'T' || op == 0x8b) && int32(n) < 0 {
				return 0, fmt.Errorf("negative length in pickle opcode 0x%02x at byte %d", op, start)
			}
			if op == 0x8b && (n == 0 || n > maxLongBytes) {
				return 0, fmt.Errorf("LONG4 of %d bytes at byte %d not supported", n, start)
			}
			if err := skip(op, uint64(n)); err != nil {
				return 0, err
			}
		case 0x8d, 0x8e, 0x96: // 8-byte length
			b, err := fixed(8)
			if err != nil {
				return 0, err
			}
			if err := skip(op, binary.LittleEndian.Uint64(b)); err != nil {
				return 0, err
			}
		case 0x82, 0x83, 0x84:
			return 0, fmt.Errorf("pickle extension-registry opcode 0x%02x at byte %d not supported", op, start)
		case 0x97:
			return 0, fmt.Errorf("pickle out-of-band buffer at byte %d not supported", start)
		default:
			return 0, fmt.Errorf("invalid pickle opcode 0x%02x at byte %d", op, start)
		}
		if cost > pickleCostPerByte*avail+pickleCostFixed {
			return 0, fmt.Errorf("pickle would cost more than %d bytes to decode (pickle bomb?)", pickleCostPerByte*avail+pickleCostFixed)
		}
	}
}

// readPickle scans the pickle starting at off in ra (size bytes in all) and
// unpickles it with the checkpoint class resolver. It returns the object and
// the offset just past the pickle. persistent may be nil.
func readPickle(ra io.ReaderAt, off, size int64, persistent func(any) (any, error)) (any, int64, error) {
	n, err := scanPickle(bufio.NewReader(io.NewSectionReader(ra, off, size-off)), size-off)
	if err != nil {
		return nil, 0, err
	}
	obj, err := unpickle(bufio.NewReader(io.NewSectionReader(ra, off, n)), persistent)
	if err != nil {
		return nil, 0, err
	}
	return obj, off + n, nil
}

// unpickle runs gopickle on a pre-scanned stream. gopickle can panic on some
// malformed inputs (e.g. an unhashable key in an OrderedDict); those panics
// become errors.
func unpickle(r io.Reader, persistent func(any) (any, error)) (obj any, err error) {
	defer func() {
		if p := recover(); p != nil {
			obj, err = nil, fmt.Errorf("malformed pickle: %s", shorten(fmt.Sprint(p)))
		}
	}()
	u := pickle.NewUnpickler(r)
	u.FindClass = findClass
	if persistent != nil {
		u.PersistentLoad = persistent
	} else {
		u.PersistentLoad = func(any) (any, error) {
			return nil, errors.New("unexpected persistent id")
		}
	}
	obj, err = u.Load()
	var unsafe *unsafeGlobal
	if errors.As(err, &unsafe) {
		return nil, unsafe
	}
	if err != nil {
		return nil, fmt.Errorf("malformed pickle: %s", shorten(err.Error()))
	}
	return obj, nil
}

// unsafeGlobal is a pickle's reference to a function that runs code or
// touches the system (os.system, builtins.eval, subprocess.Popen, ...). The
// loader never calls what a pickle references, but a checkpoint of weights
// has no use for such a function: one that names it was made to attack
// whoever loads it with torch.load, so it is refused, by name, as
// torch.load(weights_only=True) refuses every global it does not know.
type unsafeGlobal struct{ name string }

func (e *unsafeGlobal) Error() string {
	return fmt.Sprintf("the pickle references %s, which runs code or commands: refused (nothing was run; a checkpoint of weights never needs it, and torch.load would have run it)", e.name)
}

// unsafeModules are modules all of whose functions can run code or
// commands, or reach the file system or network; unsafeBuiltins the
// builtins that can.
var (
	unsafeModules = map[string]bool{
		"os": true, "posix": true, "nt": true, "subprocess": true, "sys": true, "shutil": true,
		"socket": true, "importlib": true, "ctypes": true, "pty": true, "runpy": true, "code": true,
		"codeop": true, "marshal": true, "pickle": true, "_pickle": true, "webbrowser": true,
		"multiprocessing": true, "signal": true, "platform": true, "commands": true, "popen2": true,
		"pdb": true, "timeit": true, "urllib": true, "requests": true, "http": true, "ftplib": true,
	}
	unsafeBuiltins = map[string]bool{
		"eval": true, "exec": true, "execfile": true, "compile": true, "open": true, "input": true,
		"__import__": true, "getattr": true, "setattr": true, "delattr": true, "globals": true,
		"locals": true, "vars": true, "breakpoint": true, "apply": true, "file": true,
	}
)

// isUnsafe tells whether module.name is a global unsafeGlobal refuses.
func isUnsafe(module, name string) bool {
	root, _, _ := strings.Cut(module, ".")
	return unsafeModules[root] ||
		(module == "builtins" || module == "__builtin__") && unsafeBuiltins[name]
}

// shorten keeps error messages readable: gopickle formats whole objects with
// %#v in some of its errors.
func shorten(s string) string {
	const max = 300
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// findClass resolves the globals a checkpoint pickle references. Tensors,
// parameters and storages become lazy references (nothing is read until a
// parameter is materialised), numpy scalars are decoded, and every other
// class or function becomes a harmless genericClass so that optimizer
// states, argparse namespaces and the like never break loading — except
// functions that run code or commands, which are refused (unsafeGlobal).
func findClass(module, name string) (any, error) {
	if isUnsafe(module, name) {
		return nil, &unsafeGlobal{name: module + "." + name}
	}
	switch module + "." + name {
	case "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3":
		return rebuildTensor{v3: name == "_rebuild_tensor_v3"}, nil
	case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
		return rebuildParameter{}, nil
	case "torch._tensor._rebuild_from_type", "torch._tensor._rebuild_from_type_v2":
		return rebuildFromType{}, nil
	case "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar":
		return numpyScalarFunc{}, nil
	case "numpy.dtype":
		return numpyDtypeClass{}, nil
	case "_codecs.encode":
		return codecsEncode{}, nil
	case "builtins.bytes", "__builtin__.bytes":
		return bytesClass{}, nil
	}
	if module == "torch" || module == "torch.cuda" || module == "torch.storage" {
		if dt, ok := storageDTypes[name]; ok {
			return storageClass{name: module + "." + name, dtype: dt}, nil
		}
		if dt, ok := torchDTypes[name]; ok && module == "torch" {
			return dtypeValue{dtype: dt}, nil
		}
	}
	return &genericClass{name: module + "." + name}, nil
}

// storageDTypes maps torch storage class names to element types.
var storageDTypes = map[string]dtype{
	"FloatStorage": dtFloat32, "DoubleStorage": dtFloat64, "HalfStorage": dtFloat16,
	"BFloat16Storage": dtBFloat16, "LongStorage": dtInt64, "IntStorage": dtInt32,
	"ShortStorage": dtInt16, "CharStorage": dtInt8, "ByteStorage": dtUint8,
	"BoolStorage": dtBool, "ComplexFloatStorage": dtComplex64,
	"ComplexDoubleStorage": dtComplex128, "UntypedStorage": dtUint8,
}

// torchDTypes maps torch dtype globals (used by _rebuild_tensor_v3).
var torchDTypes = map[string]dtype{
	"float32": dtFloat32, "float": dtFloat32, "float64": dtFloat64, "double": dtFloat64,
	"float16": dtFloat16, "half": dtFloat16, "bfloat16": dtBFloat16,
	"int64": dtInt64, "long": dtInt64, "int32": dtInt32, "int": dtInt32,
	"int16": dtInt16, "short": dtInt16, "int8": dtInt8, "uint8": dtUint8, "bool": dtBool,
	"complex64": dtComplex64, "complex128": dtComplex128,
}

// genericClass stands for any class or function the loader does not need.
// Calling or instantiating it yields a genericObject, which accepts and drops
// every state, item and attribute the pickle sets on it.
type genericClass struct{ name string }

func (c *genericClass) Call(...any) (any, error)        { return &genericObject{class: c}, nil }
func (c *genericClass) PyNew(...any) (any, error)       { return &genericObject{class: c}, nil }
func (c *genericClass) PySetState(any) error            { return nil }
func (c *genericClass) PyDictSet(_, _ any) error        { return nil }
func (c *genericClass) PySetAttr(_ string, _ any) error { return nil }
func (c *genericClass) Set(_, _ any)                    {}
func (c *genericClass) Append(any)                      {}

// genericObject is an instance of a genericClass; it keeps nothing.
type genericObject struct{ class *genericClass }

func (o *genericObject) Call(...any) (any, error)        { return &genericObject{class: o.class}, nil }
func (o *genericObject) PyNew(...any) (any, error)       { return &genericObject{class: o.class}, nil }
func (o *genericObject) PySetState(any) error            { return nil }
func (o *genericObject) PyDictSet(_, _ any) error        { return nil }
func (o *genericObject) PySetAttr(_ string, _ any) error { return nil }
func (o *genericObject) Set(_, _ any)                    {}
func (o *genericObject) Append(any)                      {}
func (o *genericObject) Add(any)                         {}

var (
	_ types.Callable        = (*genericObject)(nil)
	_ types.PyNewable       = (*genericObject)(nil)
	_ types.PyStateSettable = (*genericObject)(nil)
	_ types.DictSetter      = (*genericObject)(nil)
	_ types.ListAppender    = (*genericObject)(nil)
	_ types.SetAdder        = (*genericObject)(nil)
)

// storageClass is a torch.*Storage global; it only appears inside
// persistent ids.
type storageClass struct {
	name  string
	dtype dtype
}

// dtypeValue is a torch dtype global such as torch.float32.
type dtypeValue struct{ dtype dtype }

// invalid is what a rebuild function returns for arguments it cannot make
// sense of. Loading goes on; the error is reported only if a state-dict entry
// holds it.
type invalid struct{ err error }

func invalidf(format string, args ...any) *invalid {
	return &invalid{err: fmt.Errorf(format, args...)}
}

// tensorRef is a lazily materialised tensor: a view (offset, shape, strides,
// in elements) of a storage.
type tensorRef struct {
	st     *storage
	dtype  dtype // element type of the view (differs from st's for v3 over untyped storages)
	offset int64
	shape  []int64
	stride []int64
}

// rebuildTensor implements torch._utils._rebuild_tensor{,_v2,_v3}:
// (storage, storage_offset, size, stride[, requires_grad, backward_hooks[, dtype]][, metadata]).
type rebuildTensor struct{ v3 bool }

func (rb rebuildTensor) Call(args ...any) (any, error) {
	if len(args) < 4 {
		return invalidf("_rebuild_tensor: %d arguments, want at least 4", len(args)), nil
	}
	st, ok := args[0].(*storage)
	if !ok {
		if inv, ok := args[0].(*invalid); ok {
			return inv, nil
		}
		return invalidf("_rebuild_tensor: first argument is %s, not a storage", typeName(args[0])), nil
	}
	off, ok := toInt(args[1])
	if !ok {
		return invalidf("_rebuild_tensor: storage offset is %s, not an int", typeName(args[1])), nil
	}
	shape, err := intTuple(args[2])
	if err != nil {
		return invalidf("_rebuild_tensor: size: %v", err), nil
	}
	stride, err := intTuple(args[3])
	if err != nil {
		return invalidf("_rebuild_tensor: stride: %v", err), nil
	}
	t := &tensorRef{st: st, dtype: st.dtype, offset: off, shape: shape, stride: stride}
	if rb.v3 {
		if len(args) < 7 {
			return invalidf("_rebuild_tensor_v3: %d arguments, want at least 7", len(args)), nil
		}
		dv, ok := args[6].(dtypeValue)
		if !ok {
			return invalidf("_rebuild_tensor_v3: unsupported dtype %s", typeName(args[6])), nil
		}
		t.dtype = dv.dtype
	}
	return t, nil
}

// rebuildParameter implements torch._utils._rebuild_parameter{,_with_state}:
// a Parameter is its data tensor.
type rebuildParameter struct{}

func (rebuildParameter) Call(args ...any) (any, error) {
	if len(args) == 0 {
		return invalidf("_rebuild_parameter without arguments"), nil
	}
	switch v := args[0].(type) {
	case *tensorRef, *invalid:
		return v, nil
	}
	return invalidf("_rebuild_parameter: data is %s, not a tensor", typeName(args[0])), nil
}

// rebuildFromType implements torch._tensor._rebuild_from_type{,_v2}
// (func, type, args, state): tensor subclasses are rebuilt as plain tensors.
type rebuildFromType struct{}

func (rebuildFromType) Call(args ...any) (any, error) {
	if len(args) < 3 {
		return invalidf("_rebuild_from_type: %d arguments", len(args)), nil
	}
	fn, ok := args[0].(types.Callable)
	tup, ok2 := args[2].(*types.Tuple)
	if !ok || !ok2 {
		return invalidf("_rebuild_from_type: unexpected arguments"), nil
	}
	return fn.Call(*tup...)
}

// numpyDType is a numpy.dtype instance; only what scalar decoding needs.
type numpyDType struct {
	code  string // e.g. "f8"
	order byte   // '<', '>', '|' or '='
}

type numpyDtypeClass struct{}

func (numpyDtypeClass) Call(args ...any) (any, error) {
	if len(args) == 0 {
		return &genericObject{class: &genericClass{name: "numpy.dtype"}}, nil
	}
	code, _ := args[0].(string)
	return &numpyDType{code: code, order: '<'}, nil
}

// PySetState reads numpy's dtype state tuple (version, byteorder, ...).
func (d *numpyDType) PySetState(state any) error {
	if t, ok := state.(*types.Tuple); ok && t.Len() > 1 {
		if s, ok := t.Get(1).(string); ok && len(s) == 1 {
			d.order = s[0]
		}
	}
	return nil
}

// numpyScalar is a decoded numpy scalar (e.g. best_acc1 saved as
// numpy.float64): its value as float64 or int64.
type numpyScalar struct{ value any }

type numpyScalarFunc struct{}

func (numpyScalarFunc) Call(args ...any) (any, error) {
	if len(args) != 2 {
		return &genericObject{class: &genericClass{name: "numpy.core.multiarray.scalar"}}, nil
	}
	dt, ok := args[0].(*numpyDType)
	var raw []byte
	switch b := args[1].(type) {
	case []byte:
		raw = b
	case string:
		raw = latin1(b)
	}
	if !ok || raw == nil || len(dt.code) < 2 {
		return &genericObject{class: &genericClass{name: "numpy.core.multiarray.scalar"}}, nil
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if dt.order == '>' {
		bo = binary.BigEndian
	}
	size := 0
	fmt.Sscan(dt.code[1:], &size)
	if size != len(raw) {
		return &genericObject{class: &genericClass{name: "numpy scalar " + dt.code}}, nil
	}
	var v any
	switch dt.code {
	case "f8":
		v = math.Float64frombits(bo.Uint64(raw))
	case "f4":
		v = float64(math.Float32frombits(bo.Uint32(raw)))
	case "f2":
		v = float64(halfToFloat32(bo.Uint16(raw)))
	case "i8":
		v = int64(bo.Uint64(raw))
	case "i4":
		v = int64(int32(bo.Uint32(raw)))
	case "i2":
		v = int64(int16(bo.Uint16(raw)))
	case "i1":
		v = int64(int8(raw[0]))
	case "u8":
		if x := bo.Uint64(raw); x <= math.MaxInt64 {
			v = int64(x)
		}
	case "u4":
		v = int64(bo.Uint32(raw))
	case "u2":
		v = int64(bo.Uint16(raw))
	case "u1":
		v = int64(raw[0])
	case "b1":
		v = raw[0] != 0
	}
	if v == nil {
		return &genericObject{class: &genericClass{name: "numpy scalar " + dt.code}}, nil
	}
	return &numpyScalar{value: v}, nil
}

// codecsEncode implements _codecs.encode(str, encoding), which protocol-2
// pickles written by Python 3 use for bytes objects.
type codecsEncode struct{}

func (codecsEncode) Call(args ...any) (any, error) {
	if len(args) < 1 {
		return []byte{}, nil
	}
	s, ok := args[0].(string)
	if !ok {
		return &genericObject{class: &genericClass{name: "_codecs.encode"}}, nil
	}
	enc := "latin1"
	if len(args) > 1 {
		enc, _ = args[1].(string)
	}
	switch strings.ToLower(strings.ReplaceAll(enc, "-", "")) {
	case "latin1", "iso88591":
		if b := latin1(s); b != nil {
			return b, nil
		}
	case "utf8":
		return []byte(s), nil
	}
	return &genericObject{class: &genericClass{name: "_codecs.encode"}}, nil
}

// latin1 encodes s (decoded from the pickle's UTF-8) as Latin-1, or returns
// nil if a rune does not fit a byte.
func latin1(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xFF {
			return nil
		}
		out = append(out, byte(r))
	}
	return out
}

// bytesClass implements builtins.bytes() (empty bytes in protocol 2).
type bytesClass struct{}

func (bytesClass) Call(args ...any) (any, error) {
	if len(args) == 1 {
		if b, ok := args[0].([]byte); ok {
			return b, nil
		}
	}
	return []byte{}, nil
}

// toInt converts a pickled int to int64.
func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case *big.Int:
		if x.IsInt64() {
			return x.Int64(), true
		}
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// intTuple converts a pickled tuple of ints (torch.Size or strides).
func intTuple(v any) ([]int64, error) {
	t, ok := v.(*types.Tuple)
	if !ok {
		return nil, fmt.Errorf("%s, not a tuple", typeName(v))
	}
	out := make([]int64, t.Len())
	for i := range out {
		x, ok := toInt(t.Get(i))
		if !ok {
			return nil, fmt.Errorf("element %d is %s, not an int", i, typeName(t.Get(i)))
		}
		out[i] = x
	}
	return out, nil
}

// typeName describes a pickled value without formatting its contents (which
// could be huge or cyclic).
func typeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case *genericObject:
		return "an instance of " + x.class.name
	case *genericClass:
		return x.name
	case *types.Dict, *types.OrderedDict:
		return "a dict"
	case *types.List:
		return "a list"
	case *types.Tuple:
		return "a tuple"
	case string:
		return "a string"
	case int, *big.Int:
		return "an int"
	case float64:
		return "a float"
	case *tensorRef:
		return "a tensor"
	case *storage:
		return "a storage"
	}
	return fmt.Sprintf("%T", v)
}
