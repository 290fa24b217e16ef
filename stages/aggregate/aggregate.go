// Package aggregate is the `aggregate` stage kind: kernel-level activations
// from unit-level ones. For every layer of an extract stage, image and
// channel it reduces the channel's H×W map to one number (analyses.md,
// Items): its mean, its l2 norm (the square root of the sum of squares) or
// its maximum.
//
// The default method is l2: it is the kernel-level feature of the study's
// decoding analysis (analyses.md, Decoding face identity), so the kernel
// level that the metrics rank and the one decoding reads are the same
// unless asked otherwise; mean and max are variants.
//
// Arithmetic: the spatial map is converted to float64 and summed exactly
// as numpy.sum does (stats.Sum), so the result equals numpy's
// x.astype(float64).mean / sqrt(sum(x*x)) / max over each map; the output
// is rounded once to float32, the storage type of every activation matrix.
//
// Memory: the input (e.g. conv2 at 224 px, 3.2 M units × 1440 images,
// 18.5 GB) is memory-mapped and streamed by parallel workers, each taking
// a record batch (an image, as extract writes them) at a time, each row's
// pages released once reduced (data.Pager); a compressed input is decompressed
// one batch per worker at a time. Only the output, images × channels float32 (1/(H·W) of the
// input), is held.
package aggregate

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"

	"selectivity/cache/arrowfile"
	"selectivity/stages"
	"selectivity/stages/internal/data"
	"selectivity/stages/internal/stats"
)

func init() { stages.Register(kind{}) }

// Params are the aggregate kind's parameters.
type Params struct {
	Method string   `yaml:"method" oneof:"mean l2 max" doc:"spatial reduction per channel and image: mean, l2 (sqrt of the sum of squares) or max"`
	Layers []string `yaml:"layers" doc:"layers to aggregate (default: every unit-level layer of the input)"`
}

// Validate checks what the tags cannot.
func (p *Params) Validate() []stages.FieldError {
	var errs []stages.FieldError
	for i, l := range p.Layers {
		if slices.Contains(p.Layers[:i], l) {
			errs = append(errs, stages.FieldError{Field: fmt.Sprintf("layers[%d]", i), Msg: fmt.Sprintf("layer %q is listed twice", l)})
		}
	}
	return errs
}

type kind struct{}

func (kind) Name() string    { return "aggregate" }
func (kind) Version() string { return "1" }
func (kind) Doc() string {
	return "kernel-level activations: each channel's spatial map reduced per image by mean, l2 or max"
}
func (kind) NewParams() any   { return &Params{Method: "l2"} }
func (kind) Produces() string { return stages.KernelActivations }
func (kind) Inputs() []stages.Slot {
	return []stages.Slot{{Name: "acts", Required: true, Accepts: []string{stages.UnitActivations}, Doc: "an extract stage (unit-level layers and images.arrow)"}}
}

// Run writes, for each selected layer, <layer>.arrow: a matrix of images ×
// channels (float32) with metadata shape "C", layer, level "kernel",
// aggregation (the method) and unit_shape "C,H,W", plus the input file's
// other metadata; and a copy of images.arrow.
func (kind) Run(ctx context.Context, job *stages.Job) error {
	p := job.Params.(*Params)
	ins := job.Inputs["acts"]
	if len(ins) != 1 {
		return fmt.Errorf("aggregate: want one acts input, got %d", len(ins))
	}
	in := ins[0]
	if !slices.Contains(in.Files, data.ImagesFile) {
		return fmt.Errorf("aggregate: input %s has no %s", in.Stage, data.ImagesFile)
	}
	all, err := data.Layers(in, data.LevelUnit)
	if err != nil {
		return fmt.Errorf("aggregate: %w", err)
	}
	layers, err := data.Select(all, p.Layers, in.Stage)
	if err != nil {
		return fmt.Errorf("aggregate: %w", err)
	}
	if err := data.CopyFile(job.Output(data.ImagesFile), in.Path(data.ImagesFile)); err != nil {
		return fmt.Errorf("aggregate: %w", err)
	}
	for _, l := range layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := aggregateLayer(ctx, job, l, p.Method); err != nil {
			return fmt.Errorf("aggregate: layer %s: %w", l.Name, err)
		}
	}
	return nil
}

// aggregateLayer reduces one layer file into job's output folder.
func aggregateLayer(ctx context.Context, job *stages.Job, l data.Layer, method string) error {
	r, err := arrowfile.Open(l.Path)
	if err != nil {
		return err
	}
	defer r.Close()
	shape, err := arrowfile.MetaInts(r.Schema(), arrowfile.ShapeKey)
	if err != nil {
		return fmt.Errorf("%s: %w", l.Path, err)
	}
	cols, err := arrowfile.MatrixCols(r)
	if err != nil {
		return err
	}
	if len(shape) != 3 || shape[0] < 1 || shape[1] < 1 || shape[2] < 1 || shape[0]*shape[1]*shape[2] != cols {
		return fmt.Errorf("%s: shape %v is not C,H,W of the %d columns", l.Path, shape, cols)
	}
	C, hw := shape[0], shape[1]*shape[2]
	n := int(r.NumRows())
	out := make([]float32, n*C)
	bar := job.Progress.Bar("aggregate "+l.Name, "images", int64(n))
	defer bar.Done()
	var pager data.Pager
	var once sync.Once
	err = arrowfile.ReadMatrixBatches(r, runtime.GOMAXPROCS(0), func(first int, rows [][]float32) error {
		if len(rows) == 0 {
			return nil
		}
		once.Do(func() { pager = data.NewPager(rows[0]) })
		buf := make([]float64, hw)
		for i, row := range rows {
			if err := ctx.Err(); err != nil {
				return err
			}
			reduceRow(out[(first+i)*C:(first+i+1)*C], row, buf, method)
			pager.Release(row)
			bar.Add(1)
		}
		return nil
	})
	if err != nil {
		return err
	}

	md := r.Schema().Metadata()
	in := make(map[string]string, md.Len())
	for i, k := range md.Keys() {
		in[k] = md.Values()[i]
	}
	in["unit_shape"] = arrowfile.FormatInts(shape...)
	meta := data.Layer{Name: l.Name, Level: data.LevelKernel, Aggregation: method}.Meta([]int{C}, in)
	return arrowfile.WriteMatrix(job.Output(l.Name+".arrow"), n, C, meta, func(row int, dst []float32) {
		copy(dst, out[row*C:(row+1)*C])
	})
}

// reduceRow reduces one image's C×H×W activations (CHW order) to dst[c]
// per channel; buf (len H·W) is scratch.
func reduceRow(dst, src []float32, buf []float64, method string) {
	hw := len(buf)
	for c := range dst {
		m := src[c*hw : (c+1)*hw]
		var v float64
		switch method {
		case "mean":
			for k, x := range m {
				buf[k] = float64(x)
			}
			v = stats.Sum(buf) / float64(hw)
		case "l2":
			for k, x := range m {
				buf[k] = float64(x) * float64(x)
			}
			v = math.Sqrt(stats.Sum(buf))
		case "max":
			v = math.Inf(-1)
			for _, x := range m {
				if f := float64(x); f > v || f != f {
					v = f
					if f != f {
						break
					}
				}
			}
		default:
			panic("aggregate: unknown method " + method) // params are validated
		}
		dst[c] = float32(v)
	}
}
