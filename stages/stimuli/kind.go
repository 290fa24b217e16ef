package stimuli

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"selectivity/cache/arrowfile"
	"selectivity/stages"
	"selectivity/stages/stimuli/imaging"
)

// Output file names.
const (
	ImagesFile  = "images.arrow"
	PixelsFile  = "pixels.arrow"
	SkippedFile = "skipped.arrow"
)

// PixelsColumn is the column of pixels.arrow.
const PixelsColumn = "pixels"

// batchBytes bounds the size of one record batch of pixels.arrow (tests
// lower it).
var batchBytes = arrowfile.DefaultBatchBytes

// Kind is the `stimuli` stage kind.
type Kind struct{}

func init() { stages.Register(Kind{}) }

// Name is "stimuli".
func (Kind) Name() string { return "stimuli" }

// Version names the outputs' format and content; bump it when they change.
func (Kind) Version() string { return "1" }

// Doc says what the kind computes.
func (Kind) Doc() string {
	return "reads a folder of images or draws a synthetic set, labels each by category, domain and identity, and stores the resized, cropped pixels"
}

// NewParams returns DefaultParams.
func (Kind) NewParams() any { return DefaultParams() }

// Inputs: none; the stimuli stage is a source.
func (Kind) Inputs() []stages.Slot { return nil }

// Run lists the set, preprocesses every image in parallel and writes
// images.arrow, pixels.arrow and skipped.arrow (see the package comment).
func (Kind) Run(ctx context.Context, job *stages.Job) error {
	p, ok := job.Params.(*Params)
	if !ok {
		return fmt.Errorf("stimuli: params are %T, not *stimuli.Params", job.Params)
	}
	logf := logfFunc(job.Logf)
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if err := p.check(); err != nil {
		return err
	}
	pipe, err := p.pipeline()
	if err != nil {
		return fmt.Errorf("stimuli: %w", err)
	}
	s, err := collect(p, logf)
	if err != nil {
		return err
	}
	if len(s.items) == 0 {
		return errors.New("stimuli: the stimulus set is empty")
	}
	if s.source == "synthetic" {
		logf("drawing %d synthetic images (%s, seed %d, %d px)", len(s.items), s.layout, p.Seed, p.ImageSize)
	}
	out, err := writePixels(ctx, job.Output(PixelsFile), s, pipe, p, job.Progress, logf)
	if err != nil {
		return err
	}
	if err := writeImages(job.Output(ImagesFile), s, out); err != nil {
		return err
	}
	return writeSkipped(job.Output(SkippedFile), out.skipped)
}

// Skip is an image left out under on_error: skip.
type Skip struct {
	Path  string // as images.arrow would have named it
	Error string
}

// written is what writePixels wrote.
type written struct {
	kept    []int // indexes into the set's items, in order
	skipped []Skip
}

// errColour is wrapped by writePixels when a colour image turns up in a
// file started with one channel.
var errColour = errors.New("colour image in a set predicted gray")

// name is the item's file (folder sets) or its relative path (synthetic).
func (it *item) name() string {
	if it.file != "" {
		return it.file
	}
	return it.path
}

// writePixels writes pixels.arrow for s. It stores one channel when the
// headers promised only gray images; should a colour image turn up after
// all, it starts over with three.
func writePixels(ctx context.Context, path string, s *set, pipe imaging.Pipeline, p *Params, prog stages.Progress, logf logfFunc) (*written, error) {
	c := 3
	if s.gray {
		c = 1
	}
	warned := map[int]bool{}
	for {
		out, err := writePixelsC(ctx, path, s, pipe, p.Normalize, c, p.OnError == "skip", prog, logf, warned)
		if c == 1 && errors.Is(err, errColour) {
			logf("%v: storing three channels, starting over", err)
			c = 3
			continue
		}
		return out, err
	}
}

// writePixelsC writes pixels.arrow with c channels.
func writePixelsC(ctx context.Context, path string, s *set, pipe imaging.Pipeline, normalize string, c int, skip bool, prog stages.Progress, logf logfFunc, warned map[int]bool) (*written, error) {
	S := pipe.Crop
	rowLen := c * S * S
	batchRows := min(max(1, batchBytes/rowLen), len(s.items))
	schema := PixelsSchema(c, S, normalize, pipe.Norm)
	w, err := arrowfile.Create(path, schema)
	if err != nil {
		return nil, err
	}
	listType := schema.Field(0).Type
	buf := make([]uint8, batchRows*rowLen)
	rows := 0
	flush := func() error {
		child := array.NewData(arrow.PrimitiveTypes.Uint8, rows*rowLen,
			[]*memory.Buffer{nil, memory.NewBufferBytes(buf[:rows*rowLen])}, nil, 0, 0)
		list := array.NewData(listType, rows, []*memory.Buffer{nil}, []arrow.ArrayData{child}, 0, 0)
		col := array.MakeFromData(list)
		rec := array.NewRecordBatch(schema, []arrow.Array{col}, int64(rows))
		err := w.Write(rec)
		rec.Release()
		col.Release()
		list.Release()
		child.Release()
		rows = 0
		return err
	}
	bar := prog.Bar("preprocess", "images", int64(len(s.items)))
	defer bar.Done()
	out := &written{}
	work := func(i int) (*imaging.Image, error) {
		it := &s.items[i]
		img, err := it.load()
		if err != nil {
			return nil, err
		}
		px, err := pipe.Pixels(img)
		if err != nil {
			return nil, fmt.Errorf("stimuli: %s: %w", it.name(), err)
		}
		return px, nil
	}
	consume := func(i int, px *imaging.Image, err error) error {
		bar.Add(1)
		it := &s.items[i]
		if err != nil {
			if !skip {
				return err
			}
			out.skipped = append(out.skipped, Skip{Path: it.path, Error: err.Error()})
			if !warned[i] {
				warned[i] = true
				logf("warning: skipping %s: %v", it.path, err)
			}
			return nil
		}
		if c == 1 && px.C != 1 {
			return fmt.Errorf("stimuli: %s: %w", it.name(), errColour)
		}
		putCHW(buf[rows*rowLen:(rows+1)*rowLen], px, c)
		rows++
		out.kept = append(out.kept, i)
		if rows == batchRows {
			return flush()
		}
		return nil
	}
	workers := runtime.NumCPU()
	err = ordered(ctx, len(s.items), workers, 2*workers+2, work, consume)
	if err == nil && rows > 0 {
		err = flush()
	}
	if err == nil && len(out.kept) == 0 {
		err = fmt.Errorf("stimuli: none of the %d images could be read (first: %s: %s)", len(s.items), out.skipped[0].Path, out.skipped[0].Error)
	}
	if err != nil {
		w.Abort()
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if len(out.skipped) > 0 {
		logf("skipped %d of %d images (listed in %s)", len(out.skipped), len(s.items), SkippedFile)
	}
	return out, nil
}

// putCHW writes px (C = 1 or 3, interleaved) into dst as c planes; a gray
// image is replicated when c = 3. The caller rules out px.C = 3 with c = 1.
func putCHW(dst []uint8, px *imaging.Image, c int) {
	plane := px.W * px.H
	switch {
	case px.C == c && c == 1:
		copy(dst, px.Pix[:plane])
	case px.C == 1:
		for ch := range c {
			copy(dst[ch*plane:(ch+1)*plane], px.Pix[:plane])
		}
	default:
		r, g, b := dst[:plane], dst[plane:2*plane], dst[2*plane:3*plane]
		for k := range plane {
			r[k], g[k], b[k] = px.Pix[3*k], px.Pix[3*k+1], px.Pix[3*k+2]
		}
	}
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

// imagesFields are images.arrow's columns.
var imagesFields = []arrow.Field{
	{Name: "index", Type: arrow.PrimitiveTypes.Int32},
	{Name: "path", Type: arrow.BinaryTypes.String},
	{Name: "category", Type: arrow.BinaryTypes.String},
	{Name: "domain", Type: arrow.BinaryTypes.String},
	{Name: "identity", Type: arrow.BinaryTypes.String},
	{Name: "image", Type: arrow.PrimitiveTypes.Int32},
}

// writeImages writes images.arrow: the kept items of s.
func writeImages(path string, s *set, out *written) error {
	mem := memory.DefaultAllocator
	index, img := array.NewInt32Builder(mem), array.NewInt32Builder(mem)
	strs := make([]*array.StringBuilder, 4)
	for k := range strs {
		strs[k] = array.NewStringBuilder(mem)
	}
	for row, i := range out.kept {
		it := &s.items[i]
		index.Append(int32(row))
		strs[0].Append(it.path)
		strs[1].Append(it.category)
		strs[2].Append(it.domain)
		strs[3].Append(it.identity)
		img.Append(int32(it.image))
	}
	cols := []arrow.Array{index.NewArray(), strs[0].NewArray(), strs[1].NewArray(), strs[2].NewArray(), strs[3].NewArray(), img.NewArray()}
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	schema := arrowfile.NewSchema(imagesFields, map[string]string{
		"source":  s.source,
		"layout":  s.layout,
		"skipped": strconv.Itoa(len(out.skipped)),
	})
	return arrowfile.WriteTable(path, schema, cols...)
}

// skippedFields are skipped.arrow's columns.
var skippedFields = []arrow.Field{
	{Name: "path", Type: arrow.BinaryTypes.String},
	{Name: "error", Type: arrow.BinaryTypes.String},
}

// writeSkipped writes skipped.arrow.
func writeSkipped(path string, skipped []Skip) error {
	mem := memory.DefaultAllocator
	pb, eb := array.NewStringBuilder(mem), array.NewStringBuilder(mem)
	for _, s := range skipped {
		pb.Append(s.Path)
		eb.Append(s.Error)
	}
	pa, ea := pb.NewArray(), eb.NewArray()
	defer pa.Release()
	defer ea.Release()
	return arrowfile.WriteTable(path, arrowfile.NewSchema(skippedFields, nil), pa, ea)
}
