package study

import (
	"context"
	"fmt"
	"slices"

	"selectivity/cache/arrowfile"
	"selectivity/stages"
	"selectivity/stages/internal/data"
)

// Study is a metric stage's input made ready for computing the metrics
// under designs other than its own: with the preferred-category labels
// permuted (the null kind) or on a subset of the images (the reliability
// kind). Every design goes through the code the metric kind itself runs.
//
// The study's images are its design's positions: 0 … Included()−1, the
// preferred set P first, then the non-preferred set N by domain, category
// and row (see design). A View says which position's responses stand at
// each position of a design.
type Study struct {
	// Stage is the input stage's name.
	Stage string
	// Layers are the layers the parameters select, in order.
	Layers []data.Layer

	p       *Params
	im      *data.Table
	d       *design
	scratch []float64
}

// View is one design over a study's positions: a permutation of the
// labels, or a subset of the images.
type View struct {
	d    *design
	pick []int // position of the design → the study's position; nil: the identity
	// role is each study position's part in the design: inP, inN or 0
	// (left out); with it the rank tests pick the design's P and N out of
	// an item's responses sorted once for every view.
	role []int8
}

// Roles of a study position in a view.
const (
	inP = 1
	inN = 2
)

// newView is the view of design d whose position j holds the study's
// position pick[j].
func newView(d *design, pick []int, m int) *View {
	role := make([]int8, m)
	for j, pos := range pick {
		role[pos] = inN
		if j < d.nP {
			role[pos] = inP
		}
	}
	return &View{d: d, pick: pick, role: role}
}

// OpenJob opens the study of job's one ActsSlot input.
func OpenJob(job *stages.Job, p *Params) (*Study, error) {
	ins := job.Inputs[ActsSlot.Name]
	if len(ins) != 1 {
		return nil, fmt.Errorf("want one %s input, got %d", ActsSlot.Name, len(ins))
	}
	return Open(ins[0], p)
}

// Open reads in's image table and layer list and builds the design of p.
func Open(in stages.Input, p *Params) (*Study, error) {
	if !slices.Contains(in.Files, data.ImagesFile) {
		return nil, fmt.Errorf("input %s has no %s", in.Stage, data.ImagesFile)
	}
	im, err := readImages(in.Path(data.ImagesFile))
	if err != nil {
		return nil, fmt.Errorf("input %s: %w", in.Stage, err)
	}
	d, err := newDesign(im, p)
	if err != nil {
		return nil, fmt.Errorf("input %s: %w", in.Stage, err)
	}
	all, err := data.Layers(in, "unit", "kernel")
	if err != nil {
		return nil, err
	}
	layers, err := data.Select(all, p.Layers, in.Stage)
	if err != nil {
		return nil, err
	}
	return &Study{Stage: in.Stage, Layers: layers, p: p, im: im, d: d}, nil
}

// Included is the number of images the metrics compare (P and N).
func (s *Study) Included() int { return len(s.d.order) }

// Preferred is the size of P: positions 0 … Preferred()−1.
func (s *Study) Preferred() int { return s.d.nP }

// Row is the image-table row of position j.
func (s *Study) Row(j int) int { return s.d.order[j] }

// Category is the category of the image at position j.
func (s *Study) Category(j int) string { return s.im.Category[s.d.order[j]] }

// Categories is Category of every position 0 … Included()−1.
func (s *Study) Categories() []string {
	cat := make([]string, s.Included())
	for j := range cat {
		cat[j] = s.Category(j)
	}
	return cat
}

// Identity is the study's own design: the metric kind's.
func (s *Study) Identity() *View { return &View{d: s.d} }

// Permuted is the design whose position j holds the responses of position
// perm[j]: the labels (P, each domain and category of N) stay where they
// are and the images move, so every group keeps its size.
func (s *Study) Permuted(perm []int) (*View, error) {
	m := len(s.d.order)
	if len(perm) != m {
		return nil, fmt.Errorf("permutation of %d positions, want %d", len(perm), m)
	}
	seen := make([]bool, m)
	for _, j := range perm {
		if j < 0 || j >= m || seen[j] {
			return nil, fmt.Errorf("not a permutation of 0…%d: position %d", m-1, j)
		}
		seen[j] = true
	}
	return newView(s.d, slices.Clone(perm), m), nil
}

// Resampled is the design whose position j holds the responses of
// position pick[j], positions repeating as a bootstrap draws them; the
// labels stay where they are, as in Permuted.
func (s *Study) Resampled(pick []int) (*View, error) {
	m := len(s.d.order)
	if len(pick) != m {
		return nil, fmt.Errorf("resampling of %d positions, want %d", len(pick), m)
	}
	for _, j := range pick {
		if j < 0 || j >= m {
			return nil, fmt.Errorf("resampled position %d outside 0…%d", j, m-1)
		}
	}
	// No roles: a position drawn twice counts twice, so the rank tests
	// cannot pick P and N from one sorted order.
	return &View{d: s.d, pick: slices.Clone(pick)}, nil
}

// Subset is the design on the images at positions pos (strictly
// increasing) with their own labels: P, the comparison groups and the
// categories of N restricted to them (a group left empty is dropped). It
// is an error when a requested metric is undefined on the subset.
func (s *Study) Subset(pos []int) (*View, error) {
	for i, j := range pos {
		if j < 0 || j >= len(s.d.order) || (i > 0 && j <= pos[i-1]) {
			return nil, fmt.Errorf("subset positions must increase within 0…%d: %d at %d", len(s.d.order)-1, j, i)
		}
	}
	d := &design{byKind: s.d.byKind}
	for _, j := range pos {
		d.order = append(d.order, s.d.order[j])
		if j < s.d.nP {
			d.nP++
		}
	}
	restrict := func(gs []group) []group {
		var out []group
		for _, g := range gs {
			lo, _ := slices.BinarySearch(pos, g.lo)
			hi, _ := slices.BinarySearch(pos, g.hi)
			if hi > lo {
				out = append(out, group{name: g.name, lo: lo, hi: hi})
			}
		}
		return out
	}
	d.tgroup, d.cats = restrict(s.d.tgroup), restrict(s.d.cats)
	if err := d.check(s.p); err != nil {
		return nil, err
	}
	return newView(d, slices.Clone(pos), len(s.d.order)), nil
}

// ResultBytes bounds the memory of the results Compute holds at once.
const ResultBytes = 256 << 20

// Compute computes the metrics of layer l under each view and hands each
// view's result to each, in order. Views are computed in batches, one pass
// over the layer's file per batch, so that at most about ResultBytes of
// results are held: each may keep the results it is handed.
func (s *Study) Compute(ctx context.Context, job *stages.Job, l data.Layer, views []*View, each func(v int, r *Result) error) error {
	per := 8 * (6 + 2*len(s.d.tgroup)) * max(1, s.layerItems(l))
	batch := max(1, ResultBytes/per)
	for v0 := 0; v0 < len(views); v0 += batch {
		v1 := min(v0+batch, len(views))
		res, err := computeViews(ctx, job, l, s.d, views[v0:v1], len(s.im.Category), s.p, &s.scratch)
		if err != nil {
			return err
		}
		for k, r := range res {
			if err := each(v0+k, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// layerItems is the number of items of l, 0 if its file cannot be read
// (computeViews then reports why).
func (s *Study) layerItems(l data.Layer) int {
	r, err := arrowfile.Open(l.Path)
	if err != nil {
		return 0
	}
	defer r.Close()
	n, err := arrowfile.MatrixCols(r)
	if err != nil {
		return 0
	}
	return n
}

// Items is the number of items of the layer.
func (r *Result) Items() int { return r.items }

// Values are metric m's values for ranking (data.ValueColumn), one per item.
func (r *Result) Values(m string) []float64 {
	switch m {
	case "fsi":
		return r.fsi
	case "dprime":
		return r.dprime
	case "wilcoxon":
		return r.wz
	case "ttest":
		return r.tmin
	}
	return nil
}

// Selected says for each item whether metric m selects it.
func (r *Result) Selected(m string) []bool {
	out := make([]bool, r.items)
	for i := range out {
		out[i] = r.selected(m, i)
	}
	return out
}

// Count is the number of items metric m selects.
func (r *Result) Count(m string) int { return r.selectedCount(m) }
