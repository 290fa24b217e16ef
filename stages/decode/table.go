package decode

import (
	"strconv"

	"selectivity/cache/arrowfile"
	"selectivity/stages"
)

// row is one line of decoding.arrow.
type row struct {
	set                     string
	kernels, draws          int
	mean, sd, ciLow, ciHigh float64
	folds                   []float64
}

// rows aggregates the results per set name: random's draws are averaged
// per fold.
func rows(sets []featureSet, res []result) []row {
	var out []row
	idx := map[string]int{}
	for i, s := range sets {
		j, ok := idx[s.name]
		if !ok {
			j = len(out)
			idx[s.name] = j
			out = append(out, row{set: s.name, kernels: len(s.kernels), folds: make([]float64, len(res[i].acc))})
		}
		out[j].draws++
		for k, a := range res[i].acc {
			out[j].folds[k] += a
		}
	}
	for j := range out {
		r := &out[j]
		if r.draws > 1 {
			for k := range r.folds {
				r.folds[k] /= float64(r.draws)
			}
		}
		r.mean, r.sd, r.ciLow, r.ciHigh = Summary(r.folds)
	}
	return out
}

func writeDecoding(path string, sets []featureSet, res []result, d *design, meta map[string]string) error {
	rs := rows(sets, res)
	var (
		t                        arrowfile.Table
		names                    []string
		kernels, draws           []int64
		mean, sd, lo, hi, chance []float64
		folds                    [][]float64
	)
	for _, r := range rs {
		names = append(names, r.set)
		kernels = append(kernels, int64(r.kernels))
		draws = append(draws, int64(r.draws))
		mean = append(mean, r.mean)
		sd = append(sd, r.sd)
		lo = append(lo, r.ciLow)
		hi = append(hi, r.ciHigh)
		chance = append(chance, 1/float64(d.ids))
		folds = append(folds, r.folds)
	}
	t.Strings("set", names)
	t.Int64s("n_kernels", kernels)
	t.Int64s("draws", draws)
	t.Float64s("mean", mean)
	t.Float64s("sd", sd)
	t.Float64s("ci_low", lo)
	t.Float64s("ci_high", hi)
	t.Float64s("chance", chance)
	t.Float64Lists("folds", folds)
	return t.Write(path, meta)
}

func writeFolds(path string, sets []featureSet, res []result, meta map[string]string) error {
	var (
		t                   arrowfile.Table
		names               []string
		draw, fold, notConv []int64
		acc                 []float64
	)
	for i, s := range sets {
		for k, a := range res[i].acc {
			names = append(names, s.name)
			draw = append(draw, int64(s.draw))
			fold = append(fold, int64(k))
			acc = append(acc, a)
			notConv = append(notConv, int64(res[i].notConv[k]))
		}
	}
	t.Strings("set", names)
	t.Int64s("draw", draw)
	t.Int64s("fold", fold)
	t.Float64s("accuracy", acc)
	t.Int64s("not_converged", notConv)
	return t.Write(path, meta)
}

func writeKernels(path string, sets []featureSet, meta map[string]string) error {
	var (
		t                  arrowfile.Table
		names              []string
		draw, rank, kernel []int64
		value              []float64
	)
	for _, s := range sets {
		if s.name == "all" {
			continue
		}
		for i, k := range s.kernels {
			names = append(names, s.name)
			draw = append(draw, int64(s.draw))
			rank = append(rank, int64(i+1))
			kernel = append(kernel, int64(k))
			value = append(value, s.values[i])
		}
	}
	t.Strings("set", names)
	t.Int64s("draw", draw)
	t.Int64s("rank", rank)
	t.Int64s("kernel", kernel)
	t.Float64s("value", value)
	return t.Write(path, meta)
}

// writeOutputs writes decoding.arrow, folds.arrow and kernels.arrow, with
// the run's settings as their metadata.
func writeOutputs(job *stages.Job, p *Params, in *inputs, n int, rule string, notConv int, sets []featureSet, res []result) error {
	meta := map[string]string{
		"layer":               p.Layer,
		"aggregation":         in.feat.agg,
		"identities":          strconv.Itoa(in.design.ids),
		"images_per_identity": strconv.Itoa(in.design.m),
		"top_n":               strconv.Itoa(n),
		"top_n_rule":          rule,
		"chance":              fmtFloat(1 / float64(in.design.ids)),
		"c":                   fmtFloat(p.C),
		"tol":                 fmtFloat(p.Tol),
		"max_iter":            strconv.Itoa(p.MaxIter),
		"seed":                strconv.FormatInt(p.Seed, 10),
		"random_draws":        strconv.Itoa(p.RandomDraws),
		"not_converged":       strconv.Itoa(notConv),
	}
	for _, m := range in.metrics {
		meta["metric_stage_"+m] = in.ranks[m].stage
	}
	if err := writeDecoding(job.Output(DecodingFile), sets, res, in.design, meta); err != nil {
		return err
	}
	if err := writeFolds(job.Output(FoldsFile), sets, res, meta); err != nil {
		return err
	}
	return writeKernels(job.Output(KernelsFile), sets, meta)
}
