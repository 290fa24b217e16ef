package lesion

import (
	"context"
	"fmt"
	"slices"

	"selectivity/stages"
	"selectivity/stages/internal/data"
	"selectivity/stages/internal/net"
	"selectivity/stages/internal/stats"
)

// Loss returns the mean cross-entropy (natural log) of n × classes logits
// against labels, and the accuracy (largest logit, first on ties): float64
// arithmetic on the float32 logits.
func Loss(logits []float32, labels []int, classes int) (loss, acc float64) {
	sum, correct := stats.CrossEntropy(logits, labels, classes)
	n := float64(len(labels))
	return sum / n, float64(correct) / n
}

// evaluator gives one chunk's logits with each of several sets of channels
// lesioned, set s's n × classes block at [s·n·classes, (s+1)·n·classes).
type evaluator interface {
	LogitsSets(ctx context.Context, sets [][]int, dst []float32) ([]float32, error)
}

// stackRows is about the most rows (lesions × images) the fast path stacks
// into one head GEMM (net.Lesioner.LogitsSets): enough that packing fc7's
// and fc8's weights costs little beside the multiplication, while the
// stacked activations stay near 100 MB for VGG-16 (≈ 48 KB a row). The
// results do not depend on it (a variable for the tests that check so).
var stackRows = 2048

// runner computes task scores under lesions.
type runner struct {
	nt           *net.Net
	layer        string
	fast         bool
	batch, chunk int
	classes      int
}

// chunkActs streams the task's images through the network to the layer, a
// chunk at a time: fn gets the chunk's first image, its size and its
// activations (valid during the call).
func (r *runner) chunkActs(ctx context.Context, t *task, fn func(first, n int, acts []float32, c, h, w int) error) error {
	pix, err := data.OpenPixels(t.pixels)
	if err != nil {
		return fmt.Errorf("lesion: input %s: %w", t.stage, err)
	}
	defer pix.Close()
	if pix.Len() != len(t.labels) {
		return fmt.Errorf("lesion: input %s: %d images in pixels.arrow, %d in images.arrow", t.stage, pix.Len(), len(t.labels))
	}
	s := pix.Size()
	var buf []float32
	per, c, h, w := 0, 0, 0, 0
	first, held := 0, 0
	flush := func() error {
		if held == 0 {
			return nil
		}
		err := fn(first, held, buf[:held*per], c, h, w)
		first += held
		held = 0
		return err
	}
	err = pix.Batches(r.batch, func(_, n int, x []float32) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return r.nt.Forward(ctx, x, n, s, s, []string{r.layer}, func(_ string, data []float32, cc, hh, ww int) error {
			if buf == nil {
				c, h, w = cc, hh, ww
				per = c * h * w
				buf = make([]float32, min(r.chunk, len(t.labels))*per)
			}
			copy(buf[held*per:], data[:n*per])
			held += n
			if held+r.batch > len(buf)/per {
				return flush()
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("lesion: input %s: %w", t.stage, err)
	}
	return flush()
}

// prepare computes the fast path's Lesioners of every chunk of the task
// (the general path computes activations per pass instead) and returns the
// layer's channel count.
func (r *runner) prepare(ctx context.Context, t *task) (int, error) {
	channels := 0
	err := r.chunkActs(ctx, t, func(first, n int, acts []float32, c, h, w int) error {
		channels = c
		if !r.fast {
			return nil
		}
		l, err := r.nt.NewLesioner(ctx, acts, n, c, h, w)
		if err != nil {
			return err
		}
		t.evals = append(t.evals, l)
		return nil
	})
	return channels, err
}

// forwardFrom is the general path's evaluator for one chunk.
type forwardFrom struct {
	nt         *net.Net
	layer      string
	head       string // the tap of the network's output
	acts, work []float32
	n, c, h, w int
}

// LogitsSets runs the network from the layer once per set.
func (f *forwardFrom) LogitsSets(ctx context.Context, sets [][]int, dst []float32) ([]float32, error) {
	dst = dst[:0]
	hw := f.h * f.w
	for _, set := range sets {
		copy(f.work, f.acts)
		for _, k := range set {
			if k < 0 || k >= f.c {
				return nil, fmt.Errorf("lesion: channel %d out of range [0, %d)", k, f.c)
			}
			for i := range f.n {
				clear(f.work[(i*f.c+k)*hw : (i*f.c+k+1)*hw])
			}
		}
		err := f.nt.ForwardFrom(ctx, f.layer, f.work, f.n, f.c, f.h, f.w, []string{f.head}, func(_ string, data []float32, _, _, _ int) error {
			dst = append(dst, data...)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return dst, nil
}

// evaluate scores the task with each set of channels lesioned (an empty
// set: the intact network), the fast path stacking about stackRows rows of
// lesions into each evaluation.
func (r *runner) evaluate(ctx context.Context, t *task, sets [][]int, bar stages.Bar) ([]score, error) {
	sums := make([]float64, len(sets))
	correct := make([]int, len(sets))
	var logits, cos []float32
	run := func(first, n int, e evaluator) error {
		labels := t.labels[first : first+n]
		per, group := n*r.classes, 1
		if r.fast {
			group = max(1, stackRows/n)
		}
		for s0 := 0; s0 < len(sets); s0 += group {
			if err := ctx.Err(); err != nil {
				return err
			}
			batch := sets[s0:min(len(sets), s0+group)]
			var err error
			if logits, err = e.LogitsSets(ctx, batch, logits); err != nil {
				return fmt.Errorf("lesion: %w", err)
			}
			for j := range batch {
				s, lg := s0+j, logits[j*per:(j+1)*per]
				if s == 0 && t.capture != nil {
					t.capture(first, lg)
				}
				out, classes := lg, r.classes
				if t.centroids != nil {
					cos = cosineLogits(lg, r.classes, t.centroids, t.k, t.scale, cos)
					out, classes = cos, t.k
				}
				ce, ok := stats.CrossEntropy(out, labels, classes)
				sums[s] += ce
				correct[s] += ok
				if first+n == len(t.labels) && bar != nil {
					bar.Add(1)
				}
			}
		}
		return nil
	}
	if r.fast {
		first := 0
		for _, e := range t.evals {
			l := e.(*net.Lesioner)
			if err := run(first, l.Images(), e); err != nil {
				return nil, err
			}
			first += l.Images()
		}
	} else {
		err := r.chunkActs(ctx, t, func(first, n int, acts []float32, c, h, w int) error {
			f := &forwardFrom{nt: r.nt, layer: r.layer, head: r.nt.Arch().Head().Tap, acts: acts, work: make([]float32, len(acts)), n: n, c: c, h: h, w: w}
			return run(first, n, f)
		})
		if err != nil {
			return nil, err
		}
	}
	n := float64(len(t.labels))
	out := make([]score, len(sets))
	for s := range sets {
		out[s] = score{loss: sums[s] / n, acc: float64(correct[s]) / n}
	}
	return out, nil
}

// greedyStep is one step of greedy lesioning.
type greedyStep struct {
	kernels   []int
	trialLoss []float64
	retest    []score // per task
}

// greedy runs Dobs et al.'s greedy lesioning (see the package doc).
func (r *runner) greedy(ctx context.Context, prog stages.Progress, tasks []*task, intact [][]score, channels, steps, group int) ([]greedyStep, error) {
	var current []int
	var out []greedyStep
	total := int64(0)
	for s := range steps {
		left := channels - s*group
		if left <= 0 {
			break
		}
		total += int64(left)
	}
	bar := prog.Bar("greedy lesioning", "trials", total)
	defer bar.Done()
	for range steps {
		in := make([]bool, channels)
		for _, k := range current {
			in[k] = true
		}
		var cand []int
		var sets [][]int
		for k := range channels {
			if !in[k] {
				cand = append(cand, k)
				sets = append(sets, append(slices.Clone(current), k))
			}
		}
		if len(cand) == 0 {
			break
		}
		sc, err := r.evaluate(ctx, tasks[0], sets, nil)
		if err != nil {
			return nil, err
		}
		bar.Add(int64(len(cand)))
		loss := make([]float64, len(cand))
		for i := range cand {
			loss[i] = sc[i].loss
		}
		rk := ranks(loss)
		order := make([]int, len(cand))
		for i, rnk := range rk {
			order[rnk-1] = i
		}
		st := greedyStep{}
		for _, i := range order[:min(group, len(order))] {
			st.kernels = append(st.kernels, cand[i])
			st.trialLoss = append(st.trialLoss, loss[i])
		}
		current = append(current, st.kernels...)
		for _, t := range tasks {
			res, err := r.evaluate(ctx, t, [][]int{current}, nil)
			if err != nil {
				return nil, err
			}
			st.retest = append(st.retest, res[0])
		}
		out = append(out, st)
	}
	return out, nil
}
