package study

import (
	"fmt"
	"slices"
	"strings"

	"selectivity/stages/internal/data"
)

// readImages reads the image table at path, whose images must all have a
// category and a domain.
func readImages(path string) (*data.Table, error) {
	im, err := data.ReadImages(path)
	if err != nil {
		return nil, err
	}
	for i := range im.Category {
		if im.Category[i] == "" || im.Domain[i] == "" {
			return nil, fmt.Errorf("%s: image %d (%s) has no category or no domain", path, i, im.Path[i])
		}
	}
	return im, nil
}

// group is a run of the non-preferred images in the design's order: the
// scratch positions [lo, hi) of one domain or category.
type group struct {
	name   string
	lo, hi int
}

func (g group) size() int { return g.hi - g.lo }

// design is how the images enter the metrics: which rows, in what order,
// and how they group. Per item, the scratch holds the responses to the
// images in order: first the preferred set P (in row order), then the
// non-preferred set N sorted by domain (in order of first appearance in
// the image table), then category (likewise), then row. Every domain
// and every category of N is therefore a contiguous run.
type design struct {
	order  []int   // scratch position → image row
	nP     int     // P is order[:nP]
	tgroup []group // the t-test comparisons (domains or categories of N)
	cats   []group // the categories of N (per-category rank-sum test)
	byKind string  // "domain" or "category": what preferred names
}

// scrambled is the domain (and category) excluded by default.
const scrambled = "scrambled"

// newDesign builds the design for p from the image table, checking that
// the requested metrics can be computed on it.
func newDesign(im *data.Table, p *Params) (*design, error) {
	n := len(im.Category)
	domOrder, catOrder := firstSeen(im.Domain), firstSeen(im.Category)
	catDomain := map[string]string{}
	for i, c := range im.Category {
		if d, ok := catDomain[c]; ok && d != im.Domain[i] {
			return nil, fmt.Errorf("category %q is in two domains, %q and %q (image %d, %s)", c, d, im.Domain[i], i, im.Path[i])
		}
		catDomain[c] = im.Domain[i]
	}
	d := &design{}
	var inP func(i int) bool
	switch {
	case slices.Contains(domOrder, p.Preferred):
		d.byKind = "domain"
		inP = func(i int) bool { return im.Domain[i] == p.Preferred }
	case slices.Contains(catOrder, p.Preferred):
		d.byKind = "category"
		inP = func(i int) bool { return im.Category[i] == p.Preferred }
	default:
		return nil, fmt.Errorf("preferred %q is neither a domain nor a category of the %d images; domains: %s; categories: %s",
			p.Preferred, n, strings.Join(domOrder, ", "), strings.Join(catOrder, ", "))
	}
	var nset []int
	for i := range n {
		switch {
		case inP(i):
			d.order = append(d.order, i)
		case p.IncludeScrambled || (im.Domain[i] != scrambled && im.Category[i] != scrambled):
			nset = append(nset, i)
		}
	}
	d.nP = len(d.order)
	rank := func(order []string) map[string]int {
		m := make(map[string]int, len(order))
		for i, s := range order {
			m[s] = i
		}
		return m
	}
	domRank, catRank := rank(domOrder), rank(catOrder)
	slices.SortStableFunc(nset, func(a, b int) int {
		if c := domRank[im.Domain[a]] - domRank[im.Domain[b]]; c != 0 {
			return c
		}
		return catRank[im.Category[a]] - catRank[im.Category[b]]
	})
	d.order = append(d.order, nset...)
	runs := func(key []string) []group {
		var gs []group
		for pos := d.nP; pos < len(d.order); pos++ {
			k := key[d.order[pos]]
			if len(gs) == 0 || gs[len(gs)-1].name != k {
				gs = append(gs, group{name: k, lo: pos})
			}
			gs[len(gs)-1].hi = pos + 1
		}
		return gs
	}
	if p.Compare == "categories" {
		d.tgroup = runs(im.Category)
	} else {
		d.tgroup = runs(im.Domain)
	}
	d.cats = runs(im.Category)
	return d, d.check(p)
}

// check reports designs on which a requested metric is undefined.
func (d *design) check(p *Params) error {
	nN := len(d.order) - d.nP
	if nN == 0 {
		return fmt.Errorf("preferred %q: no non-preferred images to compare with", p.Preferred)
	}
	for _, m := range p.Metrics {
		switch {
		case m == "dprime" && p.DDof == 1 && (d.nP < 2 || nN < 2):
			return fmt.Errorf("d′ with ddof 1 needs at least 2 preferred and 2 non-preferred images; have %d and %d", d.nP, nN)
		case m == "ttest" && d.nP < 2:
			return fmt.Errorf("t-test: preferred %q has %d image; at least 2 are needed", p.Preferred, d.nP)
		case m == "ttest":
			for _, g := range d.tgroup {
				if g.size() < 2 {
					return fmt.Errorf("t-test: comparison group %q has %d image; at least 2 are needed", g.name, g.size())
				}
			}
		}
	}
	return nil
}

// groupNames lists the t-test comparisons.
func (d *design) groupNames() []string {
	out := make([]string, len(d.tgroup))
	for i, g := range d.tgroup {
		out[i] = g.name
	}
	return out
}

func firstSeen(xs []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
