package train

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"selectivity/stages"
	"selectivity/stages/internal/data"
	"selectivity/stages/internal/imaging"
)

// set is one input's images: their stored pixels (pointing into the mapped
// pixels.arrow, so memory does not grow with the number of images) and
// their output indices.
type set struct {
	stage  string
	px     *data.Pixels
	rows   [][]uint8
	labels []int
}

// dataset is everything a run reads: the training images (faces then objects)
// and the held-out sets, with the names of the outputs.
type dataset struct {
	train      []*set
	valFaces   *set // nil without val_identities
	valObjects *set // nil without val_objects
	identities []string
	objects    []string
}

func (d *dataset) classes() int { return len(d.identities) + len(d.objects) }
func (d *dataset) names() []string {
	return append(append([]string(nil), d.identities...), d.objects...)
}
func (d *dataset) trainImages() int {
	n := 0
	for _, s := range d.train {
		n += len(s.rows)
	}
	return n
}

func (d *dataset) close() {
	for _, s := range append(append([]*set(nil), d.train...), d.valFaces, d.valObjects) {
		if s != nil {
			s.px.Close()
		}
	}
}

// openData opens every input and labels its images.
func openData(job *stages.Job, size int) (_ *dataset, err error) {
	d := &dataset{}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	// load opens a slot's stimuli and labels each image by its identity
	// (or category): offset + its position in classes, or, with own, in
	// the set's own names in order of first appearance, which it returns.
	load := func(slot string, identities, own bool, classes []string, offset int) (s *set, names []string, err error) {
		in, err := job.Single(slot)
		if in == nil || err != nil {
			return nil, nil, err
		}
		where := slot + " " + in.Stage
		t, err := data.ReadImages(in.Path(data.ImagesFile))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", where, err)
		}
		px, err := data.OpenPixels(in.Path(data.PixelsFile))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", where, err)
		}
		defer func() {
			if err != nil {
				px.Close()
			}
		}()
		switch {
		case px.Len() != t.Len() || t.Len() == 0:
			return nil, nil, fmt.Errorf("%s: %d images in images.arrow, %d in pixels.arrow", where, t.Len(), px.Len())
		case px.Size() < size:
			return nil, nil, fmt.Errorf("%s: images are stored at %d px, smaller than size %d (raise the stimuli stage's crop)", where, px.Size(), size)
		}
		s = &set{stage: in.Stage, px: px}
		if err := px.Rows(func(_ int, pix []uint8) error { s.rows = append(s.rows, pix); return nil }); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", where, err)
		}
		col, first := t.Category, t.Categories()
		if identities {
			col, first = t.Identity, t.Identities()
		}
		if own {
			classes = first
		}
		pos := make(map[string]int, len(classes))
		for k, c := range classes {
			pos[c] = k
		}
		var missing []string
		for _, name := range col {
			k, ok := pos[name]
			if !ok && len(missing) < 5 && !slices.Contains(missing, strconv.Quote(name)) {
				missing = append(missing, strconv.Quote(name))
			}
			s.labels = append(s.labels, offset+k)
		}
		switch {
		case len(missing) > 0 && own:
			return nil, nil, fmt.Errorf("%s: images without an identity: not an identity set (give the stimuli stage identities: N or layout: identities)", where)
		case len(missing) > 0:
			return nil, nil, fmt.Errorf("%s: names not among the trained ones: %s", where, strings.Join(missing, ", "))
		}
		return s, classes, nil
	}

	faces, ids, err := load(slotIdentities, true, true, nil, 0)
	if err != nil {
		return nil, err
	}
	if faces == nil {
		return nil, fmt.Errorf("%s: a stimuli identity set is required", slotIdentities)
	}
	d.train = append(d.train, faces)
	d.identities = ids
	objs, cats, err := load(slotObjects, false, true, nil, len(ids))
	if err != nil {
		return nil, err
	}
	if objs != nil {
		d.train = append(d.train, objs)
		d.objects = cats
		if objs.px.Normalize() != faces.px.Normalize() {
			return nil, fmt.Errorf("%s %s is normalised %q, %s %s %q: train on one normalisation", slotObjects, objs.stage, objs.px.Normalize(), slotIdentities, faces.stage, faces.px.Normalize())
		}
	}
	if d.valFaces, _, err = load(slotValIdentities, true, false, d.identities, 0); err != nil {
		return nil, err
	}
	if d.valObjects, _, err = load(slotValObjects, false, false, d.objects, len(d.identities)); err != nil {
		return nil, err
	}
	return d, nil
}

// sample is one training image: which set, which row.
type sample struct{ set, row int }

// order returns the epoch's shuffled visit order of the training images.
func (d *dataset) order(rng *rand.Rand) []sample {
	var all []sample
	for si, s := range d.train {
		for r := range s.rows {
			all = append(all, sample{si, r})
		}
	}
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	return all
}

// augment is one image's random transformation.
type augment struct {
	y, x       int // crop offset
	flip, gray bool
}

// draw takes one image's augmentation from rng: RandomCrop's offsets (y,
// then x, uniform over every position), then the flip and grayscale coins.
func draw(rng *rand.Rand, stored, size int, flip bool, gray float64) augment {
	a := augment{y: rng.IntN(stored - size + 1), x: rng.IntN(stored - size + 1)}
	if flip {
		a.flip = rng.Float64() < 0.5
	}
	if gray > 0 {
		a.gray = rng.Float64() < gray
	}
	return a
}

// center is the center crop (torchvision's CenterCrop offsets).
func center(stored, size int) augment {
	o := imaging.CenterCropOffset(stored, size)
	return augment{y: o, x: o}
}

// fill writes the image's size×size crop, transformed by a, as 3×size×size
// normalised values into dst. Grayscale is PIL's convert("L") on the stored
// RGB bytes, L = (19595·R + 38470·G + 7471·B + 2¹⁵) >> 16, replicated into
// the three channels (RandomGrayscale(num_output_channels = 3)).
func (s *set) fill(dst []float32, row, size int, a augment) {
	pix, st, c := s.rows[row], s.px.Size(), s.px.Channels()
	plane := st * st
	for ch := range 3 {
		out := dst[ch*size*size : (ch+1)*size*size]
		for y := range size {
			sy := (a.y + y) * st
			for x := range size {
				sx := a.x + x
				if a.flip {
					sx = a.x + size - 1 - x
				}
				i := sy + sx
				var v uint8
				switch {
				case c == 1:
					v = pix[i]
				case a.gray:
					v = uint8((19595*uint32(pix[i]) + 38470*uint32(pix[plane+i]) + 7471*uint32(pix[2*plane+i]) + 1<<15) >> 16)
				default:
					v = pix[ch*plane+i]
				}
				out[y*size+x] = s.px.Level(ch, v)
			}
		}
	}
}
