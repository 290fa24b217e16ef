package stimuli

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"selectivity/cache/arrowfile"
	"selectivity/stages"
	"selectivity/stages/internal/data"
	"selectivity/stages/internal/imaging"
)

// batchBytes bounds the size of one record batch of pixels.arrow (tests
// lower it).
var batchBytes = arrowfile.DefaultBatchBytes

// Kind is the `stimuli` stage kind.
type Kind struct{}

func init() { stages.Register(Kind{}) }

// Name is "stimuli".
func (Kind) Name() string { return "stimuli" }

// Version names the outputs' format and content; bump it when they change.
func (Kind) Version() string { return "2" }

// Doc says what the kind computes.
func (Kind) Doc() string {
	return "reads a folder of images or draws a synthetic set, labels each by category, domain and identity, and stores the resized, cropped pixels"
}

// NewParams returns DefaultParams.
func (Kind) NewParams() any { return DefaultParams() }

// Inputs: none; the stimuli stage is a source.
func (Kind) Inputs() []stages.Slot { return nil }
func (Kind) Produces() string      { return stages.Images }

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
	out, err := writePixels(ctx, job.Output(data.PixelsFile), s, pipe, p, job.Progress, logf)
	if err != nil {
		return err
	}
	if err := writeImages(job.Output(data.ImagesFile), s, out); err != nil {
		return err
	}
	return writeSkipped(job.Output(data.SkippedFile), out.skipped)
}

// written is what writePixels wrote.
type written struct {
	kept    []int // indexes into the set's items, in order
	skipped []data.Skip
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
	schema := data.PixelsSchema(c, S, normalize, pipe.Norm)
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
	budget := imaging.NewBudget(imaging.DefaultBudget) // whatever the number of workers
	work := func(i int) (*imaging.Image, error) {
		it := &s.items[i]
		img, release, err := it.load(budget)
		defer release()
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
			out.skipped = append(out.skipped, data.Skip{Path: it.path, Error: err.Error()})
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
	workers := runtime.GOMAXPROCS(0)
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
		logf("skipped %d of %d images (listed in %s)", len(out.skipped), len(s.items), data.SkippedFile)
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

// writeImages writes images.arrow: the kept items of s.
func writeImages(path string, s *set, out *written) error {
	t := &data.Table{Source: s.source, Layout: s.layout}
	for _, i := range out.kept {
		it := &s.items[i]
		t.Path = append(t.Path, it.path)
		t.Category = append(t.Category, it.category)
		t.Domain = append(t.Domain, it.domain)
		t.Identity = append(t.Identity, it.identity)
		t.Image = append(t.Image, it.image)
	}
	return data.WriteImages(path, t, map[string]string{"skipped": strconv.Itoa(len(out.skipped))})
}

// writeSkipped writes skipped.arrow.
func writeSkipped(path string, skipped []data.Skip) error {
	var paths, errs []string
	for _, s := range skipped {
		paths = append(paths, s.Path)
		errs = append(errs, s.Error)
	}
	var tab arrowfile.Table
	tab.Strings("path", paths)
	tab.Strings("error", errs)
	return tab.Write(path, nil)
}
