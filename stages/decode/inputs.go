package decode

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"selectivity/cache/arrowfile"
	"selectivity/stages"
	"selectivity/stages/internal/data"
)

// inputs are what a decode run reads: the features, their design and each
// requested metric's ranking of the kernels.
type inputs struct {
	feat    *features
	design  *design
	metrics []string
	ranks   map[string]*ranking
}

// readInputs reads the features and the metric tables, and warns where
// their aggregations differ from analyses.md's.
func readInputs(job *stages.Job, p *Params, logf func(string, ...any)) (*inputs, error) {
	fin, err := job.Single("features")
	if err != nil || fin == nil {
		return nil, fmt.Errorf("decode: slot features takes one stage, got %d", len(job.Inputs["features"]))
	}
	feat, err := readFeatures(*fin, p.Layer)
	if err != nil {
		return nil, err
	}
	if feat.agg != "l2" {
		logf("features are %s-aggregated; analyses.md decodes l2", feat.agg)
	}
	design, err := newDesign(feat.identity, fin.Stage)
	if err != nil {
		return nil, err
	}
	metrics := orderedMetrics(p.Metrics)
	ranks, err := readMetrics(job.Inputs["metrics"], p.Layer, metrics, feat.cols)
	if err != nil {
		return nil, err
	}
	for _, m := range metrics {
		if r := ranks[m]; r.agg != feat.agg {
			logf("metric %s (%s) ranks %s-aggregated kernels; the features are %s", m, r.stage, r.agg, feat.agg)
		}
	}
	return &inputs{feat: feat, design: design, metrics: metrics, ranks: ranks}, nil
}

// topN is N, the number of kernels of each metric's feature set, and the
// rule that gave it: top_n, or the smallest number any metric selects.
func (in *inputs) topN(p *Params) (int, string, error) {
	n, rule := p.TopN, "parameter"
	if n == 0 {
		rule = "smallest selected count"
		n = in.feat.cols
		for _, m := range in.metrics {
			n = min(n, in.ranks[m].nSelected)
		}
		if n == 0 {
			var counts []string
			for _, m := range in.metrics {
				counts = append(counts, fmt.Sprintf("%s %d", m, in.ranks[m].nSelected))
			}
			return 0, "", fmt.Errorf("decode: top_n 0 takes N from the metrics' selections, but one selects no kernel of %s (%s): set top_n", p.Layer, strings.Join(counts, ", "))
		}
	}
	if n > in.feat.cols {
		return 0, "", fmt.Errorf("decode: top_n %d exceeds the %d kernels of %s", n, in.feat.cols, p.Layer)
	}
	return n, rule, nil
}

// featureSets are the kernels decoded from: each metric's top n, the
// random draws of n, and all kernels.
func (in *inputs) featureSets(p *Params, n int) []featureSet {
	var sets []featureSet
	for _, m := range in.metrics {
		k := TopN(in.ranks[m].values, n)
		v := make([]float64, len(k))
		for i, j := range k {
			v[i] = in.ranks[m].values[j]
		}
		sets = append(sets, featureSet{name: m, kernels: k, values: v})
	}
	rng := rand.New(rand.NewPCG(uint64(p.Seed), 0xdec0de))
	for d := range p.RandomDraws {
		k := randomKernels(rng, in.feat.cols, n)
		v := make([]float64, len(k))
		for i := range v {
			v[i] = math.NaN()
		}
		sets = append(sets, featureSet{name: "random", draw: d, kernels: k, values: v})
	}
	all := make([]int, in.feat.cols)
	for i := range all {
		all[i] = i
	}
	return append(sets, featureSet{name: "all", kernels: all})
}

// features is the layer's kernel-level matrix and its images' identities.
type features struct {
	x        []float64 // rows × cols
	rows     int
	cols     int
	agg      string
	identity []string
}

// readFeatures reads the kernel-level matrix of layer and the image table
// from an aggregate stage.
func readFeatures(in stages.Input, layer string) (*features, error) {
	all, err := data.Layers(in, "kernel")
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("decode: input %s (features) has no kernel-level layer: give an aggregate stage", in.Stage)
	}
	sel, err := data.Select(all, []string{layer}, in.Stage)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	r, err := arrowfile.Open(sel[0].Path)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	defer r.Close()
	cols, err := arrowfile.MatrixCols(r)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	f := &features{rows: int(r.NumRows()), cols: cols, agg: sel[0].Aggregation}
	f.x = make([]float64, 0, f.rows*cols)
	err = arrowfile.ReadMatrixRows(r, func(_ int, vals []float32) error {
		for _, v := range vals {
			f.x = append(f.x, float64(v))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	for i, v := range f.x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("decode: %s: image %d, kernel %d is %v", sel[0].Path, i/cols, i%cols, v)
		}
	}
	tab, err := data.ReadImages(in.Path(data.ImagesFile))
	if err != nil {
		return nil, fmt.Errorf("decode: input %s: %w", in.Stage, err)
	}
	if tab.Len() != f.rows {
		return nil, fmt.Errorf("decode: input %s: %d images in %s, %d rows in %s", in.Stage, tab.Len(), data.ImagesFile, f.rows, sel[0].Path)
	}
	f.identity = tab.Identity
	return f, nil
}

// design is the leave-one-image-out layout: image k of identity i is row
// rows[i][k]; identity i is class i.
type design struct {
	ids, m int
	names  []string
	rows   [][]int
}

func newDesign(identity []string, stage string) (*design, error) {
	d := &design{}
	pos := map[string]int{}
	var missing int
	for r, id := range identity {
		if id == "" {
			missing++
			continue
		}
		i, ok := pos[id]
		if !ok {
			i = len(d.names)
			pos[id] = i
			d.names = append(d.names, id)
			d.rows = append(d.rows, nil)
		}
		d.rows[i] = append(d.rows[i], r)
	}
	if missing > 0 {
		return nil, fmt.Errorf("decode: input %s: %d of %d images have no identity: the features must come from an identity set (stimuli layout identities)", stage, missing, len(identity))
	}
	d.ids = len(d.names)
	if d.ids < 2 {
		return nil, fmt.Errorf("decode: input %s: %d identities; decoding needs at least 2", stage, d.ids)
	}
	d.m = len(d.rows[0])
	var uneven []string
	for i, r := range d.rows {
		if len(r) != d.m {
			uneven = append(uneven, fmt.Sprintf("%s %d", d.names[i], len(r)))
		}
	}
	if len(uneven) > 0 {
		if len(uneven) > 10 {
			uneven = append(uneven[:10], "…")
		}
		return nil, fmt.Errorf("decode: input %s: leave-one-image-out needs the same number of images per identity; %s has %d, but %s", stage, d.names[0], d.m, strings.Join(uneven, ", "))
	}
	if d.m < 2 {
		return nil, fmt.Errorf("decode: input %s: %d image per identity; leave-one-image-out needs at least 2", stage, d.m)
	}
	return d, nil
}

// ranking is one metric's per-kernel values.
type ranking struct {
	stage     string
	agg       string
	values    []float64
	nSelected int
}

// readMetrics finds each metric's table for layer among the metric stages.
func readMetrics(ins []stages.Input, layer string, metrics []string, kernels int) (map[string]*ranking, error) {
	out := map[string]*ranking{}
	for _, in := range ins {
		all, err := data.Layers(in, "kernel", "unit")
		if err != nil {
			return nil, fmt.Errorf("decode: %w", err)
		}
		var lay *data.Layer
		for i := range all {
			if all[i].Name == layer {
				lay = &all[i]
			}
		}
		if lay == nil {
			continue
		}
		r, err := arrowfile.Open(lay.Path)
		if err != nil {
			return nil, fmt.Errorf("decode: %w", err)
		}
		err = func() error {
			defer r.Close()
			for _, m := range metrics {
				col := ValueColumn[m]
				if len(r.Schema().FieldIndices(col)) == 0 {
					continue
				}
				if prev, dup := out[m]; dup {
					return fmt.Errorf("decode: metric %s of %s is in both %s and %s: give one", m, layer, prev.stage, in.Stage)
				}
				if lay.Level != "kernel" {
					return fmt.Errorf("decode: input %s: %s's metrics are at %s level; decoding ranks kernels (run metric on an aggregate stage)", in.Stage, layer, lay.Level)
				}
				if err := checkItems(r, kernels); err != nil {
					return fmt.Errorf("decode: input %s: %w", in.Stage, err)
				}
				vals, err := arrowfile.Float64Column(r, col)
				if err != nil {
					return fmt.Errorf("decode: %w", err)
				}
				sel, err := arrowfile.BoolColumn(r, data.SelectedColumn(m))
				if err != nil {
					return fmt.Errorf("decode: %w", err)
				}
				k := 0
				for _, s := range sel {
					if s {
						k++
					}
				}
				out[m] = &ranking{stage: in.Stage, agg: lay.Aggregation, values: vals, nSelected: k}
			}
			return nil
		}()
		if err != nil {
			return nil, err
		}
	}
	var missing []string
	for _, m := range metrics {
		if out[m] == nil {
			missing = append(missing, m)
		}
	}
	if len(missing) > 0 {
		var names []string
		for _, in := range ins {
			names = append(names, in.Stage)
		}
		return nil, fmt.Errorf("decode: no metric stage (%s) holds %s of layer %s", strings.Join(names, ", "), strings.Join(missing, ", "), layer)
	}
	return out, nil
}

// checkItems checks that the table has one row per kernel, item = row.
func checkItems(r *arrowfile.Reader, kernels int) error {
	if int(r.NumRows()) != kernels {
		return fmt.Errorf("%s: %d rows, but the features have %d kernels", r.Path(), r.NumRows(), kernels)
	}
	items, err := arrowfile.Float64Column(r, "item")
	if err != nil {
		return err
	}
	for i, v := range items {
		if v != float64(i) {
			return fmt.Errorf("%s: row %d is item %v; want kernels in order", r.Path(), i, v)
		}
	}
	return nil
}
