package study

import (
	"context"
	"slices"
	"testing"

	"selectivity/pipeline/pipelinetest"
	"selectivity/stages"
	"selectivity/stages/internal/data"
)

// TestStudyViews: the identity permutation and the subset of every
// position reproduce the metric kind's own results; a subset is the design
// of its images (computing the same subset by a smaller image table gives
// the same values); bad permutations and subsets are errors.
func TestStudyViews(t *testing.T) {
	fx := loadFixtures(t)
	in := writeInput(t, fx, "unit")
	p := params(t, nil)
	st, err := Open(in, p)
	if err != nil {
		t.Fatal(err)
	}
	m := st.Included()
	all := make([]int, m)
	for j := range all {
		all[j] = j
	}
	perm, err := st.Permuted(all)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := st.Subset(all)
	if err != nil {
		t.Fatal(err)
	}
	// Every other position, and the same images alone in a table.
	var half []int
	for j := 0; j < m; j += 2 {
		half = append(half, j)
	}
	hv, err := st.Subset(half)
	if err != nil {
		t.Fatal(err)
	}
	job := &stages.Job{Progress: pipelinetest.Progress{}}
	l := st.Layers[0]
	var res []*Result
	if err := st.Compute(context.Background(), job, l, []*View{st.Identity(), perm, sub, hv}, func(_ int, r *Result) error {
		res = append(res, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, name := range data.Metrics {
		for v := 1; v < 3; v++ {
			if !slices.Equal(res[v].Values(name), res[0].Values(name)) || !slices.Equal(res[v].Selected(name), res[0].Selected(name)) {
				t.Errorf("view %d: %s differs from the identity", v, name)
			}
		}
	}
	im := fx.Images
	var small fxImages
	rows := make([]int, len(half))
	for k, j := range half {
		r := st.Row(j)
		rows[k] = r
		small.Path, small.Category, small.Domain = append(small.Path, im.Path[r]), append(small.Category, im.Category[r]), append(small.Domain, im.Domain[r])
		small.Identity, small.Image = append(small.Identity, im.Identity[r]), append(small.Image, im.Image[r])
	}
	smallFx := *fx
	smallFx.Images = small
	smallFx.Layers = nil
	for _, fl := range fx.Layers {
		acts := make([][]F, len(rows))
		for k, r := range rows {
			acts[k] = fl.Acts[r]
		}
		fl.Acts = acts
		smallFx.Layers = append(smallFx.Layers, fl)
	}
	sst, err := Open(writeInput(t, &smallFx, "unit"), p)
	if err != nil {
		t.Fatal(err)
	}
	if err := sst.Compute(context.Background(), job, sst.Layers[0], []*View{sst.Identity()}, func(_ int, r *Result) error {
		for _, name := range data.Metrics {
			if !slices.Equal(r.Values(name), res[3].Values(name)) || !slices.Equal(r.Selected(name), res[3].Selected(name)) {
				t.Errorf("subset: %s differs from the same images in their own table", name)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Permuted(all[1:]); err == nil {
		t.Error("short permutation accepted")
	}
	if _, err := st.Permuted(append([]int{1}, all[1:]...)); err == nil {
		t.Error("repeated position accepted")
	}
	if _, err := st.Subset([]int{3, 2}); err == nil {
		t.Error("decreasing subset accepted")
	}
	if _, err := st.Subset(all[:st.Preferred()]); err == nil {
		t.Error("subset without non-preferred images accepted")
	}
}
