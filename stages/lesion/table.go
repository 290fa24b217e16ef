package lesion

import (
	"strconv"

	"selectivity/cache/arrowfile"
	"selectivity/stages/internal/stats"
)

func fmtFloat(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// meta is the metadata both tables carry.
func meta(tasks []*task, scores [][]score, p *Params, arch string, classes int, path string) map[string]string {
	m := map[string]string{
		"layer":   p.Layer,
		"table":   "lesion",
		"path":    path,
		"arch":    arch,
		"classes": strconv.Itoa(classes),
	}
	for i, t := range tasks {
		m[t.prefix+"images"] = strconv.Itoa(len(t.labels))
		m[t.prefix+"intact_loss"] = fmtFloat(scores[i][0].loss)
		m[t.prefix+"intact_accuracy"] = fmtFloat(scores[i][0].acc)
		m[t.prefix+"labels"] = t.labSrc
		m[t.prefix+"stimuli_stage"] = t.stage
	}
	return m
}

// writeKernels writes <layer>.arrow: one row per kernel (scores[i][k+1]).
func writeKernels(path string, tasks []*task, scores [][]score, p *Params, arch string, classes int, lpath string) error {
	var t arrowfile.Table
	n := len(scores[0]) - 1
	item := make([]int64, n)
	for k := range item {
		item[k] = int64(k)
	}
	t.Int64s("item", item)
	for i, tk := range tasks {
		s := scores[i]
		loss, inc, acc, drop := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
		for k := range n {
			loss[k] = s[k+1].loss
			inc[k] = s[k+1].loss - s[0].loss
			acc[k] = s[k+1].acc
			drop[k] = s[0].acc - s[k+1].acc
		}
		t.Float64s(tk.prefix+"loss", loss)
		t.Float64s(tk.prefix+"loss_increase", inc)
		t.Float64s(tk.prefix+"accuracy", acc)
		t.Float64s(tk.prefix+"acc_drop", drop)
		t.Int64s(tk.prefix+"rank", ranks(inc))
	}
	return t.Write(path, meta(tasks, scores, p, arch, classes, lpath))
}

// writeGreedy writes greedy.arrow: one row per kernel added.
func writeGreedy(path string, tasks []*task, scores [][]score, steps []greedyStep, p *Params, arch string, classes int, lpath string) error {
	var (
		t                 arrowfile.Table
		order, step, item []int64
		trial             []float64
	)
	type cols struct{ loss, inc, acc, drop []float64 }
	per := make([]cols, len(tasks))
	for s, st := range steps {
		for j, k := range st.kernels {
			order = append(order, int64(len(order)+1))
			step = append(step, int64(s+1))
			item = append(item, int64(k))
			trial = append(trial, st.trialLoss[j])
			for i := range tasks {
				r, in := st.retest[i], scores[i][0]
				per[i].loss = append(per[i].loss, r.loss)
				per[i].inc = append(per[i].inc, r.loss-in.loss)
				per[i].acc = append(per[i].acc, r.acc)
				per[i].drop = append(per[i].drop, in.acc-r.acc)
			}
		}
	}
	t.Int64s("order", order)
	t.Int64s("step", step)
	t.Int64s("item", item)
	t.Float64s("trial_loss", trial)
	for i, tk := range tasks {
		t.Float64s(tk.prefix+"loss", per[i].loss)
		t.Float64s(tk.prefix+"loss_increase", per[i].inc)
		t.Float64s(tk.prefix+"accuracy", per[i].acc)
		t.Float64s(tk.prefix+"acc_drop", per[i].drop)
	}
	m := meta(tasks, scores, p, arch, classes, lpath)
	m["table"] = "greedy lesion"
	m["greedy_steps"] = strconv.Itoa(p.GreedySteps)
	m["group_size"] = strconv.Itoa(p.GroupSize)
	return t.Write(path, m)
}

// ranks returns 1-based ranks by value, largest first, ties by index.
func ranks(v []float64) []int64 {
	r := make([]int64, len(v))
	for pos, i := range stats.Descending(v) {
		r[i] = int64(pos + 1)
	}
	return r
}
