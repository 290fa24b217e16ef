package synth

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"math"
	"slices"
	"strings"
	"testing"
)

func mustCat(t testing.TB, cat string, i, size int, seed int64) *image.Gray {
	t.Helper()
	g, err := Category(cat, i, size, seed)
	if err != nil {
		t.Fatal(err)
	}
	if g.Rect.Dx() != size || g.Rect.Dy() != size || len(g.Pix) != size*size {
		t.Fatalf("%s %d: bad image %v", cat, i, g.Rect)
	}
	return g
}

// all is every category synth draws.
var all = append(slices.Clone(Categories), Extra...)

func TestDeterministic(t *testing.T) {
	for _, cat := range all {
		a := mustCat(t, cat, 3, 72, 7)
		b := mustCat(t, cat, 3, 72, 7)
		if !bytes.Equal(a.Pix, b.Pix) {
			t.Errorf("%s: two calls differ", cat)
		}
		if c := mustCat(t, cat, 3, 72, 8); bytes.Equal(a.Pix, c.Pix) {
			t.Errorf("%s: seed does not matter", cat)
		}
		if c := mustCat(t, cat, 4, 72, 7); bytes.Equal(a.Pix, c.Pix) {
			t.Errorf("%s: index does not matter", cat)
		}
	}
	if !bytes.Equal(Face(2, 1, 64, 5).Pix, Face(2, 1, 64, 5).Pix) {
		t.Error("Face differs between calls")
	}
}

// TestGolden pins the exact bytes. The drawing uses integer arithmetic
// only, so this hash must be the same on every architecture and Go
// version; if a deliberate change to the drawing alters it, update it
// (and say so: it changes the default experiment's stimuli).
func TestGolden(t *testing.T) {
	h := sha256.New()
	for _, cat := range all {
		for i := 0; i < 3; i++ {
			h.Write(mustCat(t, cat, i, 48, 1).Pix)
		}
	}
	h.Write(Face(7, 3, 96, 11).Pix)
	h.Write(ChildFace(7, 3, 96, 11).Pix)
	got := hex.EncodeToString(h.Sum(nil))
	const want = "2a0342371de6246e01c405654d65b4354b1dd217309e2b7547c229e214535772"
	if got != want {
		t.Errorf("stimuli hash %s, want %s", got, want)
	}
}

func stats(g *image.Gray) (mean, sd float64, lo, hi uint8) {
	lo, hi = 255, 0
	var s, s2 float64
	for _, v := range g.Pix {
		f := float64(v)
		s += f
		s2 += f * f
		lo, hi = min(lo, v), max(hi, v)
	}
	n := float64(len(g.Pix))
	mean = s / n
	return mean, math.Sqrt(s2/n - mean*mean), lo, hi
}

func TestNotBlankAndFLOCLike(t *testing.T) {
	for _, cat := range all {
		for i := 0; i < 6; i++ {
			g := mustCat(t, cat, i, 96, 3)
			mean, sd, lo, hi := stats(g)
			if sd < 8 || int(hi)-int(lo) < 60 {
				t.Errorf("%s %d: nearly blank (sd %.1f, range %d..%d)", cat, i, sd, lo, hi)
			}
			if mean < 70 || mean > 200 {
				t.Errorf("%s %d: mean luminance %.0f far from fLOC's mid-gray", cat, i, mean)
			}
			// Corners are background (mid-gray texture) except for corridors.
			if cat != "corridor" && cat != "scrambled" && cat != "house" {
				c := int(g.Pix[0]) + int(g.Pix[95]) + int(g.Pix[95*96]) + int(g.Pix[96*96-1])
				if c/4 < 80 || c/4 > 180 {
					t.Errorf("%s %d: corner mean %d is not mid-gray background", cat, i, c/4)
				}
			}
		}
	}
}

func TestAnySize(t *testing.T) {
	for _, size := range []int{MinSize, 33, 224, 257} {
		for _, cat := range all {
			mustCat(t, cat, 1, size, 1)
		}
	}
}

func TestErrors(t *testing.T) {
	if _, err := Category("faces", 0, 64, 1); err == nil || !strings.Contains(err.Error(), "adult") || !strings.Contains(err.Error(), "lamp") {
		t.Errorf("unknown category: %v", err)
	}
	if _, err := Category("adult", 0, 8, 1); err == nil {
		t.Error("size 8 accepted")
	}
	if _, err := Category("adult", -1, 64, 1); err == nil {
		t.Error("negative index accepted")
	}
}

func TestScrambledKeepsPixels(t *testing.T) {
	// At a size divisible by the 10×10 grid the cells are a permutation.
	for i := 0; i < 10; i++ {
		s := mustCat(t, "scrambled", i, 100, 4)
		others := Categories[:len(Categories)-1]
		src := mustCat(t, others[i%len(others)], i/len(others), 100, 4)
		a, b := slices.Clone(s.Pix), slices.Clone(src.Pix)
		slices.Sort(a)
		slices.Sort(b)
		if !bytes.Equal(a, b) {
			t.Errorf("scrambled %d is not a rearrangement of its source", i)
		}
		if bytes.Equal(s.Pix, src.Pix) {
			t.Errorf("scrambled %d equals its source", i)
		}
	}
}

// features downsamples to 16×16 and standardises (zero mean, unit norm).
func features(g *image.Gray) []float64 {
	const n = 16
	size := g.Rect.Dx()
	f := make([]float64, n*n)
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			f[(y*n/size)*n+x*n/size] += float64(g.Pix[y*size+x])
		}
	}
	var m float64
	for _, v := range f {
		m += v
	}
	m /= float64(len(f))
	var ss float64
	for i := range f {
		f[i] -= m
		ss += f[i] * f[i]
	}
	for i := range f {
		f[i] /= math.Sqrt(ss)
	}
	return f
}

// edgeFeatures is features of the gradient magnitude: outline shape
// independent of whether hair, skin or clothes are lighter or darker than
// the background.
func edgeFeatures(g *image.Gray) []float64 {
	size := g.Rect.Dx()
	e := image.NewGray(g.Rect)
	for y := 0; y < size-1; y++ {
		for x := 0; x < size-1; x++ {
			v := int(g.Pix[y*size+x])
			dx, dy := int(g.Pix[y*size+x+1])-v, int(g.Pix[(y+1)*size+x])-v
			e.Pix[y*size+x] = uint8(min(255, max(dx, -dx)+max(dy, -dy)))
		}
	}
	return features(e)
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// TestFacesCohere: pixel correlation between faces exceeds that between
// faces and images of other categories.
func TestFacesCohere(t *testing.T) {
	const n = 12
	feats := map[string][][]float64{}
	for _, cat := range Categories[:10] {
		for i := 0; i < n; i++ {
			feats[cat] = append(feats[cat], features(mustCat(t, cat, i, 64, 9)))
		}
	}
	mean := func(a, b [][]float64, same bool) float64 {
		var s float64
		var k int
		for i := range a {
			for j := range b {
				if same && j <= i {
					continue
				}
				s += dot(a[i], b[j])
				k++
			}
		}
		return s / float64(k)
	}
	for _, face := range []string{"adult", "child"} {
		within := mean(feats[face], feats[face], true)
		for _, other := range Categories[:10] {
			if other == "adult" || other == "child" {
				continue
			}
			across := mean(feats[face], feats[other], false)
			t.Logf("%s: within r = %.3f, vs %s r = %.3f", face, within, other, across)
			if within <= across {
				t.Errorf("%s within-category correlation %.3f ≤ correlation with %s %.3f", face, within, other, across)
			}
		}
	}
}

// TestIdentityDecodable: identities are learnable from some images and
// recognised in others, but the images vary: a nearest-centroid classifier
// on 16×16 pixels, trained on images 0–5 of 30 identities and tested on
// images 6–7, is far above chance (1/30) and far from perfect. (100
// identities × 20 images, 15 to train: 0.33 adult, 0.24 child; LinearSVC
// 0.40, 0.32; chance 0.01.)
func TestIdentityDecodable(t *testing.T) {
	const ids, imgs, train = 30, 8, 6
	for _, kind := range []FaceKind{Adult, Child} {
		var X [ids][imgs][]float64
		cen := make([][]float64, ids)
		for id := range ids {
			for k := range imgs {
				X[id][k] = features(KindFace(kind, id, k, 64, 21))
			}
			cen[id] = make([]float64, len(X[id][0]))
			for k := range train {
				for i, v := range X[id][k] {
					cen[id][i] += v / train
				}
			}
		}
		correct := 0
		for id := range ids {
			for k := train; k < imgs; k++ {
				best, bestD := -1, math.Inf(1)
				for c := range cen {
					var d float64
					for i := range cen[c] {
						e := cen[c][i] - X[id][k][i]
						d += e * e
					}
					if d < bestD {
						best, bestD = c, d
					}
				}
				if best == id {
					correct++
				}
			}
		}
		acc := float64(correct) / (ids * (imgs - train))
		t.Logf("%s identities: held-out-image nearest-centroid accuracy %.2f (chance %.3f)", kind, acc, 1.0/ids)
		if acc < 0.25 || acc > 0.9 {
			t.Errorf("%s identity accuracy %.2f, want in [0.25, 0.9]: identities too alike or images too alike", kind, acc)
		}
	}
}

// TestAccessories: beards are adults' only and fixed per identity; glasses
// and hats are worn always or in some images only, so both states occur.
func TestAccessories(t *testing.T) {
	const n = 400
	var beards, always, sometimes, hats int
	for id := range n {
		if c := newIdentity(Child, id, 3); c.beard != 0 {
			t.Fatalf("child %d has beard %d", id, c.beard)
		}
		p := newIdentity(Adult, id, 3)
		if p.beard != 0 {
			beards++
		}
		if p.glasses > 0 && p.glassesWear == 1000 {
			always++
		}
		if p.hat > 0 {
			hats++
		}
		if p.glasses == 0 || p.glassesWear == 1000 {
			continue
		}
		sometimes++
		on := 0
		for img := range 40 {
			if p.newLook(newRNG(3, "face-look", int64(Adult), int64(id), int64(img))).glasses {
				on++
			}
		}
		if on == 0 || on == 40 {
			t.Errorf("adult %d (wears glasses in %d‰ of images): on in %d of 40", id, p.glassesWear, on)
		}
	}
	t.Logf("of %d adults: %d bearded, %d always in glasses, %d sometimes, %d with a hat", n, beards, always, sometimes, hats)
	for what, v := range map[string]int{"beards": beards, "glasses always": always, "glasses sometimes": sometimes, "hats": hats} {
		if v < n/20 || v > n/2 {
			t.Errorf("%s: %d of %d adults", what, v, n)
		}
	}
}

// TestChildDiffersFromAdult: children have rounder faces and relatively
// larger, lower eyes, drawn from disjoint ranges.
func TestChildDiffersFromAdult(t *testing.T) {
	for id := 0; id < 50; id++ {
		a, c := newIdentity(Adult, id, 1), newIdentity(Child, id, 1)
		if a.fh*100/a.fw < 123 || c.fh*100/c.fw > 119 {
			t.Fatalf("aspect: adult %d/%d child %d/%d", a.fh, a.fw, c.fh, c.fw)
		}
		if c.eyeW*100/c.fw < 20 || a.eyeW*100/a.fw > 21 {
			t.Fatalf("eye size: adult %d/%d child %d/%d", a.eyeW, a.fw, c.eyeW, c.fw)
		}
		if c.eyeY <= a.eyeY {
			t.Fatalf("child eyes not lower: %d vs %d", c.eyeY, a.eyeY)
		}
	}
	// And the images differ: leave-one-out nearest centroid on a 16×16
	// map of edge strength (shape, whatever the tones of hair, skin and
	// clothing) tells adult from child faces well above chance (50%).
	const n = 50
	var A, C [][]float64
	for i := 0; i < n; i++ {
		A = append(A, edgeFeatures(Face(i, i%5, 64, 2)))
		C = append(C, edgeFeatures(ChildFace(i, i%5, 64, 2)))
	}
	centroid := func(set [][]float64, skip int) []float64 {
		cen := make([]float64, len(set[0]))
		for j, x := range set {
			if j == skip {
				continue
			}
			for k, v := range x {
				cen[k] += v
			}
		}
		return cen
	}
	dist := func(a, cen []float64, m float64) float64 {
		var d float64
		for k := range a {
			e := a[k] - cen[k]/m
			d += e * e
		}
		return d
	}
	correct := 0
	for i := 0; i < n; i++ {
		if dist(A[i], centroid(A, i), n-1) < dist(A[i], centroid(C, -1), n) {
			correct++
		}
		if dist(C[i], centroid(C, i), n-1) < dist(C[i], centroid(A, -1), n) {
			correct++
		}
	}
	acc := float64(correct) / (2 * n)
	t.Logf("adult vs child, leave-one-out nearest centroid: %.2f correct", acc)
	if acc < 0.75 {
		t.Errorf("adult vs child accuracy %.2f, want ≥ 0.75", acc)
	}
}

func TestTextHasGlyphs(t *testing.T) {
	for _, cat := range []string{"word", "number"} {
		for i := 0; i < 5; i++ {
			g := mustCat(t, cat, i, 128, 1)
			dark := 0
			for _, v := range g.Pix {
				if v < 70 {
					dark++
				}
			}
			if frac := float64(dark) / float64(len(g.Pix)); frac < 0.01 || frac > 0.35 {
				t.Errorf("%s %d: %.3f of pixels are ink", cat, i, frac)
			}
		}
	}
}

func TestContactSheet(t *testing.T) {
	s, err := ContactSheet(Categories, 2, 32, 1)
	if err != nil {
		t.Fatal(err)
	}
	if s.Rect.Dx() != 2*36+4 || s.Rect.Dy() != len(Categories)*36+4 {
		t.Errorf("sheet size %v", s.Rect)
	}
}

func BenchmarkCategory224(b *testing.B) {
	for _, cat := range all {
		b.Run(cat, func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, err := Category(cat, i, 224, 1); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

func BenchmarkFace(b *testing.B) {
	for _, size := range []int{64, 256} {
		for _, kind := range []FaceKind{Adult, Child} {
			b.Run(fmt.Sprintf("%s/%d", kind, size), func(b *testing.B) {
				i := 0
				for b.Loop() {
					KindFace(kind, i%100, i/100, size, 1)
					i++
				}
			})
		}
	}
}
