package slurm

import (
	"slices"
	"strconv"
	"strings"
)

// Array gathers the tasks of one job array and what each waits for: task
// k waits for every job in After (afterany) and for task k of every array
// in Corr (aftercorr), so that, say, the metrics of eight seeds start each
// as soon as its own seed's extraction task is done, not once all are.
type Array struct {
	after, corr []string
	n           int
}

// NewArray starts an array whose task 0 waits for deps (jobs, or array
// tasks "123_4"). With corresponding, the arrays of which deps name task 0
// alone are corresponding ones: task k must then read their task k.
// Without, the tasks wait for every job any of them reads.
func NewArray(deps []string, corresponding bool) *Array {
	a := &Array{n: 1}
	for _, d := range deps {
		job, task, ok := splitTask(d)
		if corresponding && ok && task == 0 && !slices.ContainsFunc(deps, func(e string) bool {
			j, t, ok := splitTask(e)
			return ok && j == job && t != 0
		}) {
			a.corr = append(a.corr, job)
		} else {
			a.after = append(a.after, d)
		}
	}
	return a
}

// Add adds the next task, waiting for deps, if it fits the array: deps
// hold task k of every corresponding array and no other task of them.
// The rest of deps joins After.
func (a *Array) Add(deps []string) bool {
	k := a.n
	for _, job := range a.corr {
		if !slices.Contains(deps, job+"_"+strconv.Itoa(k)) {
			return false
		}
	}
	var rest []string
	for _, d := range deps {
		job, task, ok := splitTask(d)
		switch {
		case ok && slices.Contains(a.corr, job) && task == k:
		case ok && slices.Contains(a.corr, job):
			return false
		case !slices.Contains(a.after, d) && !slices.Contains(rest, d):
			rest = append(rest, d)
		}
	}
	a.after = append(a.after, rest...)
	a.n++
	return true
}

// Len is the number of tasks.
func (a *Array) Len() int { return a.n }

// Deps returns what the array waits for, for Job.After and Job.Corr; a
// one-task array is a plain job, which waits for task 0 of its
// corresponding arrays with afterany.
func (a *Array) Deps() (after, corr []string) {
	if a.n > 1 {
		return slices.Clone(a.after), slices.Clone(a.corr)
	}
	after = slices.Clone(a.after)
	for _, job := range a.corr {
		after = append(after, job+"_0")
	}
	return after, nil
}

// splitTask splits "123_4" into "123" and 4.
func splitTask(id string) (job string, task int, ok bool) {
	job, t, ok := strings.Cut(id, "_")
	if !ok {
		return id, 0, false
	}
	task, err := strconv.Atoi(t)
	return job, task, err == nil
}
