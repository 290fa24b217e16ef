package stimuli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"selectivity/cache/arrowfile"
	"selectivity/pipeline"
	"selectivity/pipeline/pipelinetest"
	"selectivity/stages"
	"selectivity/stages/internal/data"
	"selectivity/stages/internal/imaging"
	"selectivity/stages/stimuli/synth"
)

// run runs the kind on p into a temporary folder, returning the folder and
// the lines it logged.
func run(t *testing.T, ctx context.Context, p *Params) (string, []string, error) {
	t.Helper()
	var mu sync.Mutex
	var logs []string
	job := &stages.Job{
		Stage: "stimuli", Params: p, OutDir: t.TempDir(), Progress: pipelinetest.Progress{},
		Logf: func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			logs = append(logs, fmt.Sprintf(format, args...))
		},
	}
	err := Kind{}.Run(ctx, job)
	return job.OutDir, logs, err
}

func mustRun(t *testing.T, p *Params) (string, []string) {
	t.Helper()
	dir, logs, err := run(t, context.Background(), p)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return dir, logs
}

// folderParams is a small folder set: images resized to 40, cropped to 32.
func folderParams(root string, cats []string, domains map[string][]string) *Params {
	p := DefaultParams()
	p.Source, p.Path = "folder", stages.Path(root)
	p.Categories, p.Resize, p.Crop = cats, 40, 32
	if domains != nil {
		p.Domains = domains
	}
	return p
}

// grayImage is a w×h test pattern that differs with seed.
func grayImage(w, h, seed int) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			g.Pix[y*g.Stride+x] = uint8((x*7 + y*13 + seed*31) ^ (x * y / (seed + 1)))
		}
	}
	return g
}

func rgbImage(w, h, seed int) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.SetNRGBA(x, y, color.NRGBA{uint8(x*5 + seed), uint8(y*9 + seed*3), uint8(x*y + seed), 255})
		}
	}
	return m
}

func writeFile(t *testing.T, path string, img image.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	var err error
	if strings.HasSuffix(path, ".png") {
		err = png.Encode(&b, img)
	} else {
		err = jpeg.Encode(&b, img, &jpeg.Options{Quality: 90})
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readTable(t *testing.T, dir string) *data.Table {
	t.Helper()
	tab, err := data.ReadImages(filepath.Join(dir, data.ImagesFile))
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func openPixels(t *testing.T, dir string) *data.Pixels {
	t.Helper()
	px, err := data.OpenPixels(filepath.Join(dir, data.PixelsFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	return px
}

// checkPixels compares every stored image and its tensor with imaging's
// pipeline on the source file, bit for bit.
func checkPixels(t *testing.T, dir, root string, p *Params) {
	t.Helper()
	tab := readTable(t, dir)
	px := openPixels(t, dir)
	if px.Len() != tab.Len() {
		t.Fatalf("%d pixel rows for %d images", px.Len(), tab.Len())
	}
	pipe, err := p.pipeline()
	if err != nil {
		t.Fatal(err)
	}
	c, s := px.Channels(), px.Size()
	var rows [][]uint8
	if err := px.Rows(func(i int, pix []uint8) error {
		rows = append(rows, slices.Clone(pix))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := make([][]float32, tab.Len())
	for i, rel := range tab.Path {
		img, err := imaging.DecodeFile(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			t.Fatal(err)
		}
		crop, err := pipe.Pixels(img)
		if err != nil {
			t.Fatal(err)
		}
		for k := range s * s {
			for ch := range c {
				v := crop.Pix[k*crop.C]
				if crop.C == 3 {
					v = crop.Pix[k*3+ch]
				}
				if got := rows[i][ch*s*s+k]; got != v {
					t.Fatalf("%s: pixel %d channel %d = %d, want %d", rel, k, ch, got, v)
				}
			}
		}
		if want[i], err = pipe.Tensor(img, nil); err != nil {
			t.Fatal(err)
		}
	}
	checkBatches(t, px, want, 2)
}

// checkBatches streams px in batches and compares with want bit for bit.
func checkBatches(t *testing.T, px *data.Pixels, want [][]float32, batch int) {
	t.Helper()
	next := 0
	err := px.Batches(batch, func(first, n int, x []float32) error {
		if first != next || n < 1 || n > batch || len(x) != n*len(want[0]) {
			return fmt.Errorf("batch first %d n %d len %d; want first %d", first, n, len(x), next)
		}
		for j := range n {
			got := x[j*len(want[0]) : (j+1)*len(want[0])]
			for k, v := range want[first+j] {
				if math.Float32bits(got[k]) != math.Float32bits(v) {
					return fmt.Errorf("image %d value %d = %v, want %v", first+j, k, got[k], v)
				}
			}
		}
		next += n
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if next != len(want) {
		t.Fatalf("batches covered %d images of %d", next, len(want))
	}
}

func TestFLOCLayout(t *testing.T) {
	root := t.TempDir()
	for i, name := range []string{"adult/adult-10.jpg", "adult/adult-2.jpg", "adult/adult-1.jpg", "child/child-1.jpg", "child/child-3.jpg", "scrambled/scrambled-1.jpg", "scrambled/scrambled-2.jpg"} {
		writeFile(t, filepath.Join(root, name), grayImage(64, 48, i))
	}
	os.WriteFile(filepath.Join(root, "adult", "notes.txt"), []byte("x"), 0o644)
	p := folderParams(root, []string{"child", "adult"}, nil)
	dir, logs := mustRun(t, p)
	tab := readTable(t, dir)
	wantPaths := []string{"child/child-1.jpg", "child/child-3.jpg", "adult/adult-1.jpg", "adult/adult-2.jpg", "adult/adult-10.jpg"}
	if !slices.Equal(tab.Path, wantPaths) {
		t.Errorf("paths %v, want %v", tab.Path, wantPaths)
	}
	if !slices.Equal(tab.Image, []int{1, 3, 1, 2, 10}) {
		t.Errorf("image numbers %v", tab.Image)
	}
	if !slices.Equal(tab.Domain, []string{"faces", "faces", "faces", "faces", "faces"}) || tab.Category[0] != "child" || tab.Identity[0] != "" {
		t.Errorf("labels %v %v %v", tab.Category, tab.Domain, tab.Identity)
	}
	if tab.Source != "folder" || tab.Layout != "floc" {
		t.Errorf("source %q layout %q", tab.Source, tab.Layout)
	}
	all := strings.Join(logs, "\n")
	if !strings.Contains(all, "ignored 2 images of categories not included (scrambled: 2)") || !strings.Contains(all, "ignored 1 files that are not") {
		t.Errorf("logs do not report what was ignored:\n%s", all)
	}
	px := openPixels(t, dir)
	if px.Channels() != 1 || px.Size() != 32 || px.Normalize() != "half" {
		t.Errorf("pixels C=%d S=%d %s", px.Channels(), px.Size(), px.Normalize())
	}
	checkPixels(t, dir, root, p)

	// A limit keeps the first images in natural order.
	p.Limit = 2
	dir, _ = mustRun(t, p)
	if got := readTable(t, dir).Path; !slices.Equal(got, wantPaths[:4]) {
		t.Errorf("limit 2: %v", got)
	}
	// An included category with no images is an error.
	p = folderParams(root, []string{"adult", "body"}, nil)
	if _, _, err := run(t, context.Background(), p); err == nil || !strings.Contains(err.Error(), "body") {
		t.Errorf("missing category: %v", err)
	}
}

func TestImageFolderRGB(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "cat", "a.png"), rgbImage(50, 40, 1))
	writeFile(t, filepath.Join(root, "cat", "sub", "b.jpg"), grayImage(40, 60, 2))
	writeFile(t, filepath.Join(root, "dog", "x10.png"), grayImage(45, 45, 3))
	writeFile(t, filepath.Join(root, "dog", "x9.jpg"), rgbImage(41, 77, 4))
	p := folderParams(root, []string{"cat", "dog"}, map[string][]string{"felines": {"cat"}, "canines": {"dog"}})
	dir, _ := mustRun(t, p)
	tab := readTable(t, dir)
	if tab.Layout != "imagefolder" || !slices.Equal(tab.Path, []string{"cat/a.png", "cat/sub/b.jpg", "dog/x9.jpg", "dog/x10.png"}) {
		t.Errorf("layout %s paths %v", tab.Layout, tab.Path)
	}
	if !slices.Equal(tab.Image, []int{1, 2, 1, 2}) || !slices.Equal(tab.Domains(), []string{"felines", "canines"}) {
		t.Errorf("images %v domains %v", tab.Image, tab.Domains())
	}
	if c := openPixels(t, dir).Channels(); c != 3 {
		t.Errorf("C = %d with colour images, want 3", c)
	}
	checkPixels(t, dir, root, p)
}

func TestFlatLayout(t *testing.T) {
	root := t.TempDir()
	for i, name := range []string{"house-10.jpg", "house-2.jpg", "car_1.png", "car_red-3.png", "face-1.jpg"} {
		writeFile(t, filepath.Join(root, name), grayImage(36, 36, i))
	}
	p := folderParams(root, []string{"house", "car", "car_red"}, map[string][]string{"places": {"house"}, "objects": {"car", "car_red"}})
	dir, logs := mustRun(t, p)
	tab := readTable(t, dir)
	if tab.Layout != "flat" || !slices.Equal(tab.Path, []string{"house-2.jpg", "house-10.jpg", "car_1.png", "car_red-3.png"}) {
		t.Errorf("layout %s paths %v", tab.Layout, tab.Path)
	}
	if !slices.Equal(tab.Category, []string{"house", "house", "car", "car_red"}) || !slices.Equal(tab.Image, []int{1, 2, 1, 1}) {
		t.Errorf("categories %v images %v", tab.Category, tab.Image)
	}
	if !strings.Contains(strings.Join(logs, "\n"), "ignored 1 images of categories not included (face: 1)") {
		t.Errorf("logs %v", logs)
	}
	checkPixels(t, dir, root, p)
	// A name without a category is an error naming it.
	writeFile(t, filepath.Join(root, "mystery.png"), grayImage(20, 20, 9))
	if _, _, err := run(t, context.Background(), p); err == nil || !strings.Contains(err.Error(), "mystery.png") {
		t.Errorf("unnamed image: %v", err)
	}
}

func TestIdentitiesLayout(t *testing.T) {
	root := t.TempDir()
	for i, name := range []string{"p10/b.jpg", "p10/a.jpg", "p2/img-1.png", "p2/img-2.png", "p2/img-11.png"} {
		writeFile(t, filepath.Join(root, name), grayImage(40, 40, i))
	}
	p := folderParams(root, nil, nil)
	p.Layout = "identities"
	dir, _ := mustRun(t, p)
	tab := readTable(t, dir)
	if !slices.Equal(tab.Path, []string{"p2/img-1.png", "p2/img-2.png", "p2/img-11.png", "p10/a.jpg", "p10/b.jpg"}) {
		t.Errorf("paths %v", tab.Path)
	}
	if !slices.Equal(tab.Identities(), []string{"p2", "p10"}) || !slices.Equal(tab.Image, []int{1, 2, 3, 1, 2}) || tab.Layout != "identities" {
		t.Errorf("identities %v images %v layout %s", tab.Identities(), tab.Image, tab.Layout)
	}
	if !slices.Equal(tab.Categories(), []string{IdentityCategory}) || !slices.Equal(tab.Domains(), []string{IdentityDomain}) {
		t.Errorf("categories %v domains %v", tab.Categories(), tab.Domains())
	}
	checkPixels(t, dir, root, p)
}

func TestBadImage(t *testing.T) {
	root := t.TempDir()
	for i, name := range []string{"adult/adult-1.jpg", "adult/adult-3.jpg", "child/child-1.jpg"} {
		writeFile(t, filepath.Join(root, name), grayImage(40, 40, i))
	}
	bad := filepath.Join(root, "adult", "adult-2.jpg")
	os.WriteFile(bad, []byte("\xff\xd8\xff garbage"), 0o644)
	p := folderParams(root, []string{"adult", "child"}, nil)
	_, _, err := run(t, context.Background(), p)
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("on_error fail: %v, want an error naming %s", err, bad)
	}
	p.OnError = "skip"
	dir, logs := mustRun(t, p)
	tab := readTable(t, dir)
	if !slices.Equal(tab.Path, []string{"adult/adult-1.jpg", "adult/adult-3.jpg", "child/child-1.jpg"}) || !slices.Equal(tab.Image, []int{1, 3, 1}) {
		t.Errorf("paths %v images %v", tab.Path, tab.Image)
	}
	skipped, err := data.ReadSkipped(filepath.Join(dir, data.SkippedFile))
	if err != nil || len(skipped) != 1 || skipped[0].Path != "adult/adult-2.jpg" || skipped[0].Error == "" {
		t.Errorf("skipped %v, %v", skipped, err)
	}
	if !strings.Contains(strings.Join(logs, "\n"), "skipping adult/adult-2.jpg") {
		t.Errorf("no warning: %v", logs)
	}
	checkPixels(t, dir, root, p)
}

// smallSynth is a fast synthetic set.
func smallSynth() *Params {
	p := DefaultParams()
	p.PerCategory, p.ImageSize, p.Resize, p.Crop = 2, 64, 48, 40
	return p
}

func TestSyntheticDeterministic(t *testing.T) {
	p := smallSynth()
	dir1, _ := mustRun(t, p)
	dir2, _ := mustRun(t, p)
	for _, f := range []string{data.ImagesFile, data.PixelsFile, data.SkippedFile} {
		a, err1 := os.ReadFile(filepath.Join(dir1, f))
		b, err2 := os.ReadFile(filepath.Join(dir2, f))
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs between runs (%v, %v)", f, err1, err2)
		}
	}
	tab := readTable(t, dir1)
	if tab.Len() != 20 || tab.Path[3] != "synthetic/child/child-2.png" || tab.Category[3] != "child" || tab.Domain[19] != "places" || tab.Source != "synthetic" || tab.Layout != "floc" {
		t.Errorf("table: %d rows, %v, %s %s", tab.Len(), tab.Path[:4], tab.Source, tab.Layout)
	}
	p.Seed = 2
	dir3, _ := mustRun(t, p)
	a, _ := os.ReadFile(filepath.Join(dir1, data.PixelsFile))
	b, _ := os.ReadFile(filepath.Join(dir3, data.PixelsFile))
	if bytes.Equal(a, b) {
		t.Error("another seed gave the same pixels")
	}

	q := smallSynth()
	q.Identities, q.ImagesPerIdentity = 3, 2
	dir, _ := mustRun(t, q)
	tab = readTable(t, dir)
	if tab.Len() != 6 || tab.Layout != "identities" || !slices.Equal(tab.Identities(), []string{"id001", "id002", "id003"}) ||
		tab.Path[1] != "synthetic/id001/2.png" || !slices.Equal(tab.Image, []int{1, 2, 1, 2, 1, 2}) || tab.Categories()[0] != IdentityCategory {
		t.Errorf("identity set: %+v", tab)
	}
	// Identity i image j is synth.Face(i, j).
	pipe, _ := q.pipeline()
	want, _ := pipe.Tensor(imaging.FromImage(synth.Face(2, 1, q.ImageSize, q.Seed)), nil)
	var got []float32
	openPixels(t, dir).Batches(6, func(first, n int, x []float32) error {
		got = slices.Clone(x[5*len(want) : 6*len(want)])
		return nil
	})
	if !slices.Equal(got, want) {
		t.Error("identity 3 image 2 is not synth.Face(2, 1)")
	}
}

// TestSyntheticSplits: first_identity and first_image select disjoint parts
// of the same drawing, with the names and numbers of the whole.
func TestSyntheticSplits(t *testing.T) {
	q := smallSynth()
	q.Identities, q.ImagesPerIdentity, q.FirstIdentity, q.FirstImage = 2, 2, 4, 7
	dir, _ := mustRun(t, q)
	tab := readTable(t, dir)
	if !slices.Equal(tab.Identities(), []string{"id005", "id006"}) || tab.Path[1] != "synthetic/id005/9.png" || !slices.Equal(tab.Image, []int{8, 9, 8, 9}) {
		t.Errorf("held-out identity set: %v %v %v", tab.Identities(), tab.Path, tab.Image)
	}
	pipe, _ := q.pipeline()
	want, _ := pipe.Tensor(imaging.FromImage(synth.Face(5, 8, q.ImageSize, q.Seed)), nil)
	var got []float32
	openPixels(t, dir).Batches(4, func(first, n int, x []float32) error {
		got = slices.Clone(x[3*len(want) : 4*len(want)])
		return nil
	})
	if !slices.Equal(got, want) {
		t.Error("id006 image 9 is not synth.Face(5, 8)")
	}

	c := smallSynth()
	c.Categories, c.FirstImage = []string{"chair", "house"}, 3 // chair: one of synth's extra objects
	dir, _ = mustRun(t, c)
	tab = readTable(t, dir)
	if tab.Len() != 4 || tab.Path[1] != "synthetic/chair/chair-5.png" || !slices.Equal(tab.Image, []int{4, 5, 4, 5}) || tab.Domain[0] != "objects" {
		t.Errorf("held-out exemplars: %v %v %v", tab.Path, tab.Image, tab.Domain)
	}
	want, _ = pipe.Tensor(imaging.FromImage(mustCategory(t, "house", 4, c.ImageSize, c.Seed)), nil)
	openPixels(t, dir).Batches(4, func(first, n int, x []float32) error {
		got = slices.Clone(x[3*len(want) : 4*len(want)])
		return nil
	})
	if !slices.Equal(got, want) {
		t.Error("house-5 is not synth.Category(house, 4)")
	}
}

func mustCategory(t *testing.T, cat string, i, size int, seed int64) *image.Gray {
	t.Helper()
	g, err := synth.Category(cat, i, size, seed)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestBatchesAndRecordBatches(t *testing.T) {
	p := smallSynth()
	p.Normalize = "imagenet"
	old := batchBytes
	batchBytes = 3 * 40 * 40 // three gray rows per record batch
	defer func() { batchBytes = old }()
	dir, _ := mustRun(t, p)
	r, err := arrowfile.Open(filepath.Join(dir, data.PixelsFile))
	if err != nil {
		t.Fatal(err)
	}
	if r.NumRecords() != 7 || r.NumRows() != 20 {
		t.Errorf("%d record batches of %d rows, want 7 of 20", r.NumRecords(), r.NumRows())
	}
	if s, _ := arrowfile.Meta(r.Schema(), "shape"); s != "1,40,40" {
		t.Errorf("shape %q", s)
	}
	if s, _ := arrowfile.Meta(r.Schema(), "std"); s != "0.229,0.224,0.225" {
		t.Errorf("std %q", s)
	}
	r.Close()
	pipe, _ := p.pipeline()
	tab := readTable(t, dir)
	want := make([][]float32, tab.Len())
	for i := range want {
		g, err := synth.Category(tab.Category[i], tab.Image[i]-1, p.ImageSize, p.Seed)
		if err != nil {
			t.Fatal(err)
		}
		if want[i], err = pipe.Tensor(imaging.FromImage(g), nil); err != nil {
			t.Fatal(err)
		}
	}
	px := openPixels(t, dir)
	for _, batch := range []int{1, 4, 7, 100} {
		checkBatches(t, px, want, batch)
	}
}

// TestColourAfterAll: a set predicted gray that turns out colour is
// redone with three channels.
func TestColourAfterAll(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a", "a-1.png"), grayImage(40, 40, 1))
	writeFile(t, filepath.Join(root, "a", "a-2.png"), rgbImage(40, 40, 2))
	p := folderParams(root, []string{"a"}, map[string][]string{"x": {"a"}})
	s, err := collect(p, func(string, ...any) {})
	if err != nil {
		t.Fatal(err)
	}
	if s.gray {
		t.Fatal("prediction says gray")
	}
	s.gray = true // as if the headers had lied
	pipe, _ := p.pipeline()
	dir := t.TempDir()
	var logs []string
	out, err := writePixels(context.Background(), filepath.Join(dir, data.PixelsFile), s, pipe, p, pipelinetest.Progress{}, func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) })
	if err != nil || len(out.kept) != 2 {
		t.Fatal(out, err)
	}
	if err := writeImages(filepath.Join(dir, data.ImagesFile), s, out); err != nil {
		t.Fatal(err)
	}
	if c := openPixels(t, dir).Channels(); c != 3 || len(logs) != 1 {
		t.Errorf("C = %d, logs %v", c, logs)
	}
	checkPixels(t, dir, root, p)
}

func TestCancel(t *testing.T) {
	p := smallSynth()
	p.PerCategory = 500
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := run(t, ctx, p)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("cancelled run: %v after %v", err, time.Since(start))
	}
}

func fields(errs []stages.FieldError) string {
	var s []string
	for _, e := range errs {
		s = append(s, e.Error())
	}
	return strings.Join(s, "\n")
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(p *Params)
		field string
		msg   string
	}{
		{"folder without path", func(p *Params) { p.Source = "folder" }, "path", "required when source is folder"},
		{"path without folder", func(p *Params) { p.Path = "/x" }, "path", "source: folder"},
		{"crop > resize", func(p *Params) { p.Crop = 300 }, "crop", "larger than resize"},
		{"category in no domain", func(p *Params) { p.Source, p.Path = "folder", "/x"; p.Categories = append(p.Categories, "dog") }, "domains", "in no domain: dog"},
		{"category in two domains", func(p *Params) { p.Domains["places"] = append(p.Domains["places"], "car") }, "domains.places[2]", `"car" is already in domain "objects"`},
		{"unknown synthetic category", func(p *Params) { p.Categories = []string{"adult", "dog"}; p.Domains["x"] = []string{"dog"} }, "categories[1]", "no category \"dog\" (known: adult, child"},
		{"duplicate category", func(p *Params) { p.Categories = []string{"adult", "adult"} }, "categories[1]", "twice"},
		{"identity layout without identities", func(p *Params) { p.Layout = "identities" }, "identities", "needs identities > 0"},
		{"first identity of a category set", func(p *Params) { p.FirstIdentity = 3 }, "first_identity", "only for identity sets"},
		{"first identity of a folder", func(p *Params) { p.Source, p.Path, p.FirstIdentity = "folder", "/x", 3 }, "first_identity", "only for synthetic"},
		{"first image of a folder", func(p *Params) { p.Source, p.Path, p.FirstImage = "folder", "/x", 3 }, "first_image", "only for synthetic"},
	}
	for _, c := range cases {
		p := DefaultParams()
		c.edit(p)
		errs := p.Validate()
		found := false
		for _, e := range errs {
			found = found || e.Field == c.field && strings.Contains(e.Msg, c.msg)
		}
		if !found {
			t.Errorf("%s: got %q, want %s: …%s…", c.name, fields(errs), c.field, c.msg)
		}
	}
	if errs := DefaultParams().Validate(); len(errs) > 0 {
		t.Errorf("defaults: %s", fields(errs))
	}
	p := DefaultParams()
	p.FirstImage = -1
	if err := p.check(); err == nil || !strings.Contains(err.Error(), "first_image: -1 outside") {
		t.Errorf("negative first_image: %v", err)
	}
	p = DefaultParams()
	p.Source, p.Path, p.Layout = "folder", "/x", "identities"
	p.Categories = nil // not used by identity sets
	if errs := p.Validate(); len(errs) > 0 {
		t.Errorf("folder identity set: %s", fields(errs))
	}
}

func TestNaturalCompare(t *testing.T) {
	in := []string{"adult-10.jpg", "adult-2.jpg", "adult-1.jpg", "adult-02.jpg", "b", "a10b2", "a10b10", "a9", "Adult-3.jpg"}
	slices.SortFunc(in, naturalCompare)
	want := []string{"Adult-3.jpg", "a9", "a10b2", "a10b10", "adult-1.jpg", "adult-02.jpg", "adult-2.jpg", "adult-10.jpg", "b"}
	if !slices.Equal(in, want) {
		t.Errorf("got %v, want %v", in, want)
	}
}

func TestExport(t *testing.T) {
	p := smallSynth()
	p.Categories = []string{"word", "house"}
	dir := t.TempDir()
	n, err := Export(context.Background(), p, dir, ExportOptions{})
	if err != nil || n != 4 {
		t.Fatalf("export: %d, %v", n, err)
	}
	img, err := imaging.DecodeFile(filepath.Join(dir, "house", "house-2.png"))
	if err != nil {
		t.Fatal(err)
	}
	g, _ := synth.Category("house", 1, p.ImageSize, p.Seed)
	if img.C != 1 || !bytes.Equal(img.Pix, g.Pix) {
		t.Error("house-2.png is not synth's house image 1")
	}
	p.Identities, p.ImagesPerIdentity = 2, 2
	n, err = Export(context.Background(), p, dir, ExportOptions{Preprocessed: true})
	if err != nil || n != 4 {
		t.Fatalf("identity export: %d, %v", n, err)
	}
	if img, err := imaging.DecodeFile(filepath.Join(dir, "id002", "2.png")); err != nil || img.W != p.Crop {
		t.Errorf("id002/2.png: %v", err)
	}
}

// TestPipeline runs stimuli stages from an experiment file: a synthetic
// set and a folder given by a relative path, then again from the cache.
func TestPipeline(t *testing.T) {
	dir := t.TempDir()
	for i, name := range []string{"data/house/house-1.png", "data/house/house-2.png", "data/car/car-1.png"} {
		writeFile(t, filepath.Join(dir, name), grayImage(30, 30, i))
	}
	exp := filepath.Join(dir, "exp.yaml")
	os.WriteFile(exp, []byte(`
stages:
  synthetic:
    kind: stimuli
    params: {per_category: 1, image_size: 32, resize: 32, crop: 24, categories: [adult, house]}
  real:
    kind: stimuli
    params: {source: folder, path: data, categories: [car, house], domains: {things: [car], places: [house]}, resize: 30, crop: 28}
`), 0o644)
	runExp := func() map[string]string {
		return pipelinetest.MustRun(t, exp, pipelinetest.Options{Jobs: 1}).States
	}
	if got := runExp(); got["synthetic"] != "ran" || got["real"] != "ran" {
		t.Fatalf("first run: %v", got)
	}
	if got := runExp(); got["synthetic"] != "cached" || got["real"] != "cached" {
		t.Fatalf("second run: %v", got)
	}
	res := filepath.Join(dir, "results", "exp")
	if tab := readTable(t, filepath.Join(res, "real")); !slices.Equal(tab.Path, []string{"car/car-1.png", "house/house-1.png", "house/house-2.png"}) || !slices.Equal(tab.Domains(), []string{"things", "places"}) {
		t.Errorf("real: %v %v", tab.Path, tab.Domains())
	}
	if px := openPixels(t, filepath.Join(res, "synthetic")); px.Len() != 2 || px.Size() != 24 {
		t.Errorf("synthetic: %d images of %d px", px.Len(), px.Size())
	}

	// A folder source without a path is refused at load time.
	os.WriteFile(exp, []byte("stages:\n  s: {kind: stimuli, params: {source: folder}}\n"), 0o644)
	if _, err := pipeline.Load(exp, pipeline.LoadOptions{}); err == nil || !strings.Contains(err.Error(), "params.path: required when source is folder") {
		t.Errorf("load without path: %v", err)
	}
}

// TestOrderedWindow: results arrive in order, never more than window are
// under way at once (memory does not grow with n), an error stops the
// walk, and a panic becomes the item's error.
func TestOrderedWindow(t *testing.T) {
	var mu sync.Mutex
	started, consumed, most := 0, 0, 0
	work := func(i int) (*imaging.Image, error) {
		mu.Lock()
		started++
		most = max(most, started-consumed)
		mu.Unlock()
		if i%7 == 0 {
			time.Sleep(time.Millisecond)
		}
		return &imaging.Image{W: i}, nil
	}
	next := 0
	err := ordered(context.Background(), 500, 4, 6, work, func(i int, img *imaging.Image, err error) error {
		mu.Lock()
		consumed++
		mu.Unlock()
		if i != next || img.W != i || err != nil {
			return fmt.Errorf("got item %d (%v, %v), want %d", i, img, err, next)
		}
		next++
		return nil
	})
	if err != nil || next != 500 {
		t.Fatalf("walk: %v after %d items", err, next)
	}
	if most > 6 {
		t.Errorf("%d items under way at once, window 6", most)
	}
	stop := errors.New("stop")
	calls := 0
	err = ordered(context.Background(), 500, 4, 6, func(i int) (*imaging.Image, error) {
		if i == 3 {
			panic("boom")
		}
		return nil, nil
	}, func(i int, _ *imaging.Image, err error) error {
		calls++
		if err != nil {
			if !strings.Contains(err.Error(), "panic on item 3: boom") {
				t.Errorf("panic became %v", err)
			}
			return stop
		}
		return nil
	})
	if err != stop || calls != 4 {
		t.Errorf("error stop: %v after %d calls", err, calls)
	}
}
