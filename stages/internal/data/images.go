package data

import (
	"fmt"
	"maps"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"selectivity/cache/arrowfile"
	"selectivity/stages/internal/imaging"
)

// The stimuli kind's tables: images.arrow (which extract and aggregate
// pass on beside their layer files, one row per image in the order of
// the layer matrices' rows), pixels.arrow and skipped.arrow.
const (
	ImagesFile  = "images.arrow"
	PixelsFile  = "pixels.arrow"
	SkippedFile = "skipped.arrow"
)

// PixelsColumn is the column of pixels.arrow.
const PixelsColumn = "pixels"

// Skip is an image left out under on_error: skip.
type Skip struct {
	Path  string // as images.arrow would have named it
	Error string
}

// Table is images.arrow as Go slices, one element per image in stimulus
// order (row i is image index i).
type Table struct {
	// Source is "synthetic" or "folder"; Layout "floc", "imagefolder",
	// "flat" or "identities".
	Source, Layout string
	Path           []string
	Category       []string
	Domain         []string
	Identity       []string // "" where the set has no identities
	Image          []int
}

// Len is the number of images.
func (t *Table) Len() int { return len(t.Path) }

// Categories lists the categories in order of first appearance.
func (t *Table) Categories() []string { return firstSeen(t.Category) }

// Domains lists the domains in order of first appearance.
func (t *Table) Domains() []string { return firstSeen(t.Domain) }

// Identities lists the identities in order of first appearance, none for
// sets without identities.
func (t *Table) Identities() []string {
	var out []string
	for _, id := range firstSeen(t.Identity) {
		if id != "" {
			out = append(out, id)
		}
	}
	return out
}

func firstSeen(vals []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range vals {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// column returns rec's column name, checked to be of type T.
func column[T arrow.Array](r *arrowfile.Reader, rec arrow.RecordBatch, name string) (T, error) {
	var zero T
	idx := rec.Schema().FieldIndices(name)
	if len(idx) != 1 {
		return zero, fmt.Errorf("stimuli: %s: no column %q", r.Path(), name)
	}
	col, ok := rec.Column(idx[0]).(T)
	if !ok {
		return zero, fmt.Errorf("stimuli: %s: column %q is %s, want %T", r.Path(), name, rec.Column(idx[0]).DataType(), zero)
	}
	if col.NullN() > 0 {
		return zero, fmt.Errorf("stimuli: %s: column %q holds nulls", r.Path(), name)
	}
	return col, nil
}

// eachRecord calls fn for every record batch of the Arrow file path.
func eachRecord(path string, fn func(r *arrowfile.Reader, rec arrow.RecordBatch) error) (*arrowfile.Reader, error) {
	r, err := arrowfile.Open(path)
	if err != nil {
		return nil, err
	}
	for i := range r.NumRecords() {
		rec, err := r.Record(i)
		if err != nil {
			r.Close()
			return nil, err
		}
		err = fn(r, rec)
		rec.Release()
		if err != nil {
			r.Close()
			return nil, err
		}
	}
	return r, nil
}

// ReadImages reads a stimuli stage's images.arrow.
func ReadImages(path string) (*Table, error) {
	t := &Table{}
	r, err := eachRecord(path, func(r *arrowfile.Reader, rec arrow.RecordBatch) error {
		index, err := column[*array.Int32](r, rec, "index")
		if err != nil {
			return err
		}
		image, err := column[*array.Int32](r, rec, "image")
		if err != nil {
			return err
		}
		var strs [4]*array.String
		for k, name := range []string{"path", "category", "domain", "identity"} {
			if strs[k], err = column[*array.String](r, rec, name); err != nil {
				return err
			}
		}
		for i := range int(rec.NumRows()) {
			if got := int(index.Value(i)); got != t.Len() {
				return fmt.Errorf("stimuli: %s: row %d has index %d", r.Path(), t.Len(), got)
			}
			// Clone: the strings point into the mapping, gone at Close.
			t.Path = append(t.Path, strings.Clone(strs[0].Value(i)))
			t.Category = append(t.Category, strings.Clone(strs[1].Value(i)))
			t.Domain = append(t.Domain, strings.Clone(strs[2].Value(i)))
			t.Identity = append(t.Identity, strings.Clone(strs[3].Value(i)))
			t.Image = append(t.Image, int(image.Value(i)))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	t.Source, _ = arrowfile.Meta(r.Schema(), "source")
	t.Layout, _ = arrowfile.Meta(r.Schema(), "layout")
	return t, nil
}

// ReadSkipped reads a stimuli stage's skipped.arrow.
func ReadSkipped(path string) ([]Skip, error) {
	var out []Skip
	r, err := eachRecord(path, func(r *arrowfile.Reader, rec arrow.RecordBatch) error {
		paths, err := column[*array.String](r, rec, "path")
		if err != nil {
			return err
		}
		errs, err := column[*array.String](r, rec, "error")
		if err != nil {
			return err
		}
		for i := range int(rec.NumRows()) {
			out = append(out, Skip{Path: strings.Clone(paths.Value(i)), Error: strings.Clone(errs.Value(i))})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, r.Close()
}

// Pixels is an open pixels.arrow: C×S×S 8-bit images, memory-mapped.
// Its methods must not run concurrently with Close.
type Pixels struct {
	r         *arrowfile.Reader
	n, c, s   int
	normalize string
	norm      imaging.Norm
	lut       [3][256]float32
}

// OpenPixels opens a stimuli stage's pixels.arrow and checks its schema.
func OpenPixels(path string) (*Pixels, error) {
	r, err := arrowfile.Open(path)
	if err != nil {
		return nil, err
	}
	p, err := newPixels(r)
	if err != nil {
		r.Close()
		return nil, err
	}
	return p, nil
}

func newPixels(r *arrowfile.Reader) (*Pixels, error) {
	schema := r.Schema()
	shape, err := arrowfile.MetaInts(schema, arrowfile.ShapeKey)
	if err != nil {
		return nil, fmt.Errorf("stimuli: %s: %w", r.Path(), err)
	}
	if len(shape) != 3 || shape[0] != 1 && shape[0] != 3 || shape[1] < 1 || shape[1] != shape[2] {
		return nil, fmt.Errorf("stimuli: %s: shape %v is not C,S,S with C = 1 or 3", r.Path(), shape)
	}
	p := &Pixels{r: r, n: int(r.NumRows()), c: shape[0], s: shape[1]}
	if schema.NumFields() != 1 || schema.Field(0).Name != PixelsColumn {
		return nil, fmt.Errorf("stimuli: %s: want the single column %q", r.Path(), PixelsColumn)
	}
	typ, ok := schema.Field(0).Type.(*arrow.FixedSizeListType)
	if !ok || typ.Elem().ID() != arrow.UINT8 || int(typ.Len()) != p.c*p.s*p.s {
		return nil, fmt.Errorf("stimuli: %s: column %q is %s, want fixed_size_list<uint8>[%d]", r.Path(), PixelsColumn, schema.Field(0).Type, p.c*p.s*p.s)
	}
	p.normalize, _ = arrowfile.Meta(schema, "normalize")
	for k, dst := range []*[3]float32{&p.norm.Mean, &p.norm.Std} {
		key := []string{"mean", "std"}[k]
		v, _ := arrowfile.Meta(schema, key)
		parts := strings.Split(v, ",")
		if len(parts) != 3 {
			return nil, fmt.Errorf("stimuli: %s: metadata %s = %q is not three numbers", r.Path(), key, v)
		}
		for i, s := range parts {
			x, err := strconv.ParseFloat(strings.TrimSpace(s), 32)
			if err != nil {
				return nil, fmt.Errorf("stimuli: %s: metadata %s = %q: %w", r.Path(), key, v, err)
			}
			dst[i] = float32(x)
		}
	}
	if err := p.norm.Validate(); err != nil {
		return nil, fmt.Errorf("stimuli: %s: %w", r.Path(), err)
	}
	// Tabulate through imaging.ToTensor itself, so that the values are
	// those of the one implementation of torchvision's arithmetic.
	ramp := imaging.NewImage(256, 1, 3)
	for v := range 256 {
		ramp.Pix[3*v], ramp.Pix[3*v+1], ramp.Pix[3*v+2] = uint8(v), uint8(v), uint8(v)
	}
	t := imaging.ToTensor(ramp, p.norm, nil)
	for c := range 3 {
		copy(p.lut[c][:], t[c*256:(c+1)*256])
	}
	return p, nil
}

// Close unmaps the file.
func (p *Pixels) Close() error { return p.r.Close() }

// Len is the number of images.
func (p *Pixels) Len() int { return p.n }

// Channels is the number of stored channels C: 1 (all gray) or 3.
func (p *Pixels) Channels() int { return p.c }

// Size is the side S of the stored (cropped) images.
func (p *Pixels) Size() int { return p.s }

// Normalize is the normalisation's name ("half", "imagenet", "none").
func (p *Pixels) Normalize() string { return p.normalize }

// Norm is the normalisation Batches applies.
func (p *Pixels) Norm() imaging.Norm { return p.norm }

// Level is the normalised value of stored byte v in channel c (0, 1, 2;
// gray images use the same byte for all three): exactly what Batches puts
// in x for it.
func (p *Pixels) Level(c int, v uint8) float32 { return p.lut[c][v] }

// Rows calls fn with each image's stored bytes (C×S×S, CHW) in order. pix
// points into the mapped file: valid until Close, never to be written to.
func (p *Pixels) Rows(fn func(i int, pix []uint8) error) error {
	rowLen := p.c * p.s * p.s
	row := 0
	for k := range p.r.NumRecords() {
		rec, err := p.r.Record(k)
		if err != nil {
			return err
		}
		err = func() error {
			col, ok := rec.Column(0).(*array.FixedSizeList)
			if !ok {
				return fmt.Errorf("stimuli: %s: record %d: column is %T", p.r.Path(), k, rec.Column(0))
			}
			vals, ok := col.ListValues().(*array.Uint8)
			if !ok {
				return fmt.Errorf("stimuli: %s: record %d: values are %T", p.r.Path(), k, col.ListValues())
			}
			if col.NullN() > 0 || vals.NullN() > 0 {
				return fmt.Errorf("stimuli: %s: record %d holds nulls", p.r.Path(), k)
			}
			b := vals.Uint8Values()
			off, n := col.Data().Offset(), col.Len()
			if len(b)/rowLen < off+n {
				return fmt.Errorf("stimuli: %s: record %d: %d bytes for %d rows of %d", p.r.Path(), k, len(b), off+n, rowLen)
			}
			for j := range n {
				s := (off + j) * rowLen
				if err := fn(row, b[s:s+rowLen:s+rowLen]); err != nil {
					return err
				}
				row++
			}
			return nil
		}()
		rec.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// Batches streams the images as normalised float32 tensors, batch images
// at a time (the last batch may be smaller): x holds n images of 3×S×S in
// CHW order, gray images replicated into three channels, each value
// exactly what imaging.ToTensor (torchvision's ToTensor + Normalize) gives
// for the stored bytes. first is the index of the batch's first image. x
// is one buffer reused for every batch: fn must not keep it.
func (p *Pixels) Batches(batch int, fn func(first, n int, x []float32) error) error {
	if batch < 1 {
		return fmt.Errorf("stimuli: batch size %d must be positive", batch)
	}
	batch = min(batch, max(p.n, 1))
	plane := p.s * p.s
	img := 3 * plane
	x := make([]float32, batch*img)
	first, n := 0, 0
	err := p.Rows(func(i int, pix []uint8) error {
		dst := x[n*img : (n+1)*img]
		for c := range 3 {
			src := pix[:plane]
			if p.c == 3 {
				src = pix[c*plane : (c+1)*plane]
			}
			lut := &p.lut[c]
			out := dst[c*plane : (c+1)*plane]
			for k, v := range src {
				out[k] = lut[v]
			}
		}
		n++
		if n < batch {
			return nil
		}
		err := fn(first, n, x[:n*img])
		first, n = first+n, 0
		return err
	})
	if err == nil && n > 0 {
		err = fn(first, n, x[:n*img])
	}
	return err
}

// formatFloats formats float32 values so that parsing them back gives the
// same bits.
func formatFloats(v [3]float32) string {
	s := make([]string, 3)
	for i, x := range v {
		s[i] = strconv.FormatFloat(float64(x), 'g', -1, 32)
	}
	return strings.Join(s, ",")
}

// PixelsSchema is pixels.arrow's schema for c channels of s×s pixels.
func PixelsSchema(c, s int, name string, n imaging.Norm) *arrow.Schema {
	typ := arrow.FixedSizeListOfNonNullable(int32(c*s*s), arrow.PrimitiveTypes.Uint8)
	return arrowfile.NewSchema([]arrow.Field{{Name: PixelsColumn, Type: typ}}, map[string]string{
		arrowfile.ShapeKey: arrowfile.FormatInts(c, s, s),
		"normalize":        name,
		"mean":             formatFloats(n.Mean),
		"std":              formatFloats(n.Std),
	})
}

// WriteImages writes t as an image table, images.arrow, which ReadImages
// reads back: columns index (the row), path, category, domain, identity
// and image; t.Source and t.Layout, and the entries of meta, as metadata.
func WriteImages(path string, t *Table, meta map[string]string) error {
	index, image := make([]int32, len(t.Image)), make([]int32, len(t.Image))
	for i, im := range t.Image {
		index[i], image[i] = int32(i), int32(im)
	}
	var tab arrowfile.Table
	tab.Int32s("index", index)
	tab.Strings("path", t.Path)
	tab.Strings("category", t.Category)
	tab.Strings("domain", t.Domain)
	tab.Strings("identity", t.Identity)
	tab.Int32s("image", image)
	md := map[string]string{"source": t.Source, "layout": t.Layout}
	maps.Copy(md, meta)
	return tab.Write(path, md)
}
