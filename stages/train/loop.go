package train

import (
	"context"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"

	"selectivity/stages"
	"selectivity/stages/internal/net"
	"selectivity/stages/internal/stats"
)

// run trains and writes the outputs.
func run(ctx context.Context, job *stages.Job, p *Params, d *dataset) error {
	logf := job.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	n := d.trainImages()
	steps := n / p.Batch
	if steps == 0 {
		return fmt.Errorf("train: %d training images, fewer than one batch of %d", n, p.Batch)
	}
	arch, err := net.Scaled(p.Arch, p.Width, p.Hidden, d.classes())
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	initFn := net.FanInInit
	if p.Init == "torchvision" {
		initFn = net.RandomInitArch
	}
	params, err := initFn(arch, uint64(p.Seed))
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	out := newOutputs(job, p, d, arch)
	if err := out.checkpoint(0, params); err != nil {
		return err
	}
	row, err := score(ctx, p, d, arch, params)
	if err != nil {
		return err
	}
	out.curve.add(0, math.NaN(), math.NaN(), math.NaN(), row)
	logf("epoch 0: %s", row)

	tr, err := net.NewTrainer(p.Arch, params, p.Batch, p.Size, p.Size)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	sgd := &net.SGD{Momentum: p.Momentum, WeightDecay: p.WeightDecay}
	bar := job.Progress.Bar("train", "images", int64(p.Epochs*steps*p.Batch))
	defer bar.Done()
	logf("%s ÷ %d (%d parameters), %d outputs (%d identities, %d objects), %d images in %d steps of %d per epoch",
		p.Arch, p.Width, countParams(params), d.classes(), len(d.identities), len(d.objects), n, steps, p.Batch)

	img := 3 * p.Size * p.Size
	x := make([]float32, p.Batch*img)
	labels := make([]int, p.Batch)
	for epoch := 1; epoch <= p.Epochs; epoch++ {
		rng := rand.New(rand.NewPCG(uint64(p.Seed), uint64(epoch)))
		order := d.order(rng)
		var lossSum float64
		var correct int
		var lr float64
		for s := range steps {
			if err := ctx.Err(); err != nil {
				return err
			}
			for i, smp := range order[s*p.Batch : (s+1)*p.Batch] {
				set := d.train[smp.set]
				a := draw(rng, set.px.Size(), p.Size, p.Flip, p.Grayscale)
				set.fill(x[i*img:(i+1)*img], smp.row, p.Size, a)
				labels[i] = set.labels[smp.row]
			}
			loss, c, err := tr.Step(ctx, x, labels)
			if err != nil {
				return fmt.Errorf("train: epoch %d, step %d: %w", epoch, s+1, err)
			}
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				return fmt.Errorf("train: epoch %d, step %d: the loss is %v (diverged: lower lr or raise warmup)", epoch, s+1, loss)
			}
			lr = p.rate(epoch-1, s, steps)
			if p.Clip > 0 {
				clipNorm(tr.Grads(), p.Clip)
			}
			if err := sgd.Update(lr, params, tr.Grads()); err != nil {
				return fmt.Errorf("train: %w", err)
			}
			lossSum += loss
			correct += c
			bar.Add(int64(p.Batch))
		}
		row, err := score(ctx, p, d, arch, params)
		if err != nil {
			return err
		}
		trainLoss, trainAcc := lossSum/float64(steps), float64(correct)/float64(steps*p.Batch)
		out.curve.add(epoch, lr, trainLoss, trainAcc, row)
		logf("epoch %d/%d: lr %.4g, train loss %.4f, acc %.3f; %s", epoch, p.Epochs, lr, trainLoss, trainAcc, row)
		if epoch == p.Epochs || slices.Contains(p.Save, epoch) {
			if err := out.checkpoint(epoch, params); err != nil {
				return err
			}
		}
	}
	return out.writeCurve()
}

// rate is the learning rate of step s (0-based) of epoch e (0-based), with
// steps steps per epoch (see the package doc).
func (p *Params) rate(e, s, steps int) float64 {
	if e < p.Warmup {
		return p.LR * float64(e*steps+s+1) / float64(p.Warmup*steps)
	}
	e -= p.Warmup
	switch p.Schedule {
	case "cosine":
		return p.LR * 0.5 * (1 + math.Cos(math.Pi*float64(e)/float64(p.Epochs-p.Warmup)))
	case "step":
		return p.LR * math.Pow(p.Gamma, float64(e/p.StepEpochs))
	}
	return p.LR
}

func countParams(params map[string]net.Tensor) int {
	n := 0
	for _, t := range params {
		n += len(t.Data)
	}
	return n
}

// scores are the held-out measures of one curve row (NaN without the set).
type scores struct {
	faceLoss, faceAcc, objectLoss, objectAcc float64
}

func (r scores) String() string {
	return fmt.Sprintf("held-out faces loss %.4f acc %.3f, objects loss %.4f acc %.3f", r.faceLoss, r.faceAcc, r.objectLoss, r.objectAcc)
}

// score runs the held-out sets through the inference network of the
// current weights.
func score(ctx context.Context, p *Params, d *dataset, arch *net.Arch, params map[string]net.Tensor) (scores, error) {
	r := scores{math.NaN(), math.NaN(), math.NaN(), math.NaN()}
	if d.valFaces == nil && d.valObjects == nil {
		return r, nil
	}
	nt, err := net.New(arch.Name, params)
	if err != nil {
		return r, fmt.Errorf("train: %w", err)
	}
	defer nt.ReleaseBuffers()
	classes := d.classes()
	eval := func(s *set) (float64, float64, error) {
		img := 3 * p.Size * p.Size
		x := make([]float32, p.Batch*img)
		var sum float64
		correct := 0
		for first := 0; first < len(s.rows); first += p.Batch {
			nb := min(p.Batch, len(s.rows)-first)
			a := center(s.px.Size(), p.Size)
			for i := range nb {
				s.fill(x[i*img:(i+1)*img], first+i, p.Size, a)
			}
			err := nt.Forward(ctx, x[:nb*img], nb, p.Size, p.Size, []string{"logits"}, func(_ string, logits []float32, c, _, _ int) error {
				ls, cs := stats.CrossEntropy(logits, s.labels[first:first+nb], classes)
				sum += ls
				correct += cs
				return nil
			})
			if err != nil {
				return 0, 0, fmt.Errorf("train: scoring %s: %w", s.stage, err)
			}
		}
		n := float64(len(s.rows))
		return sum / n, float64(correct) / n, nil
	}
	if d.valFaces != nil {
		if r.faceLoss, r.faceAcc, err = eval(d.valFaces); err != nil {
			return r, err
		}
	}
	if d.valObjects != nil {
		if r.objectLoss, r.objectAcc, err = eval(d.valObjects); err != nil {
			return r, err
		}
	}
	return r, nil
}

// clipNorm is torch.nn.utils.clip_grad_norm_(max_norm): the gradients are
// scaled by max/(n + 1e-6) when that is below 1, n being their joint L2
// norm (float64, parameters in name order). It returns n.
func clipNorm(grads map[string][]float32, maxNorm float64) float64 {
	names := slices.Sorted(maps.Keys(grads))
	var sq float64
	for _, name := range names {
		for _, g := range grads[name] {
			sq += float64(g) * float64(g)
		}
	}
	n := math.Sqrt(sq)
	if c := maxNorm / (n + 1e-6); c < 1 {
		c32 := float32(c)
		for _, name := range names {
			g := grads[name]
			for i := range g {
				g[i] *= c32
			}
		}
	}
	return n
}
