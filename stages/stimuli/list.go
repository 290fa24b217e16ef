package stimuli

import (
	"cmp"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // headers for channel prediction
	_ "image/png"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"selectivity/stages/internal/imaging"
	"selectivity/stages/stimuli/synth"
)

// item is one image of a stimulus set, labelled, before it is read.
type item struct {
	path     string // relative to the dataset root, slash-separated
	category string
	domain   string
	identity string
	image    int    // 1-based number within category or identity
	file     string // absolute file; "" for synthetic images
	draw     func() (*image.Gray, error)
}

// load decodes or draws the image, a decoded one within budget b; call
// release when done with the image.
func (it *item) load(b *imaging.Budget) (img *imaging.Image, release func(), err error) {
	if it.draw != nil {
		g, err := it.draw()
		if err != nil {
			return nil, func() {}, fmt.Errorf("stimuli: drawing %s: %w", it.path, err)
		}
		return imaging.FromImage(g), func() {}, nil
	}
	return imaging.DecodeFileWithin(it.file, b)
}

// set is a listed stimulus set.
type set struct {
	source, layout string
	items          []item
	gray           bool // every image is known or predicted to be grayscale
}

// logfFunc writes a line to the user.
type logfFunc func(format string, args ...any)

// collect lists the stimulus set p describes, in stimulus order.
func collect(p *Params, logf logfFunc) (*set, error) {
	if p.Source == "synthetic" {
		return synthetic(p), nil
	}
	return folder(p, logf)
}

// synthName names synthetic identity i (0-based): the same name in every
// set, whatever its first_identity.
func synthName(i int) string { return fmt.Sprintf("id%03d", i+1) }

// capped applies p.Limit to a count.
func (p *Params) capped(n int) int {
	if p.Limit > 0 {
		return min(n, p.Limit)
	}
	return n
}

// synthetic lists a synthetic set: images are drawn when loaded.
func synthetic(p *Params) *set {
	s := &set{source: "synthetic", layout: "floc", gray: true}
	size, seed := p.ImageSize, p.Seed
	if p.Identities > 0 {
		s.layout = "identities"
		for id := p.FirstIdentity; id < p.FirstIdentity+p.Identities; id++ {
			name := synthName(id)
			for j := p.FirstImage; j < p.FirstImage+p.capped(p.ImagesPerIdentity); j++ {
				s.items = append(s.items, item{
					path: "synthetic/" + name + "/" + strconv.Itoa(j+1) + ".png", category: IdentityCategory,
					domain: IdentityDomain, identity: name, image: j + 1,
					draw: func() (*image.Gray, error) { return synth.Face(id, j, size, seed), nil },
				})
			}
		}
		return s
	}
	dom := domainIndex(p.Domains)
	for _, c := range p.Categories {
		for k := p.FirstImage; k < p.FirstImage+p.capped(p.PerCategory); k++ {
			s.items = append(s.items, item{
				path:     fmt.Sprintf("synthetic/%s/%s-%d.png", c, c, k+1),
				category: c, domain: dom[c], image: k + 1,
				draw: func() (*image.Gray, error) { return synth.Category(c, k, size, seed) },
			})
		}
	}
	return s
}

// domainIndex inverts a domain → categories map.
func domainIndex(domains map[string][]string) map[string]string {
	m := map[string]string{}
	for d, cs := range domains {
		for _, c := range cs {
			m[c] = d
		}
	}
	return m
}

// isImage reports whether name has a JPEG or PNG extension.
func isImage(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jpg", ".jpeg", ".png":
		return true
	}
	return false
}

// maxDepth bounds folder recursion.
const maxDepth = 32

// maxEntries bounds the files and folders one walk visits, counting each
// once for every path to it, so that a maze of symlinks sharing their
// targets (no cycle, 2²⁴ paths to one image) fails at once instead of
// walking for hours. A variable for tests.
var maxEntries = 1_000_000

// scan holds what a folder walk found.
type scan struct {
	root      string
	others    int // files that are not JPEG or PNG
	visited   int
	ancestors map[[2]uint64]bool // (device, inode) of the folders being walked
}

func newScan(root string) *scan { return &scan{root: root, ancestors: map[[2]uint64]bool{}} }

// readDir lists dir's visible image files and subfolders (symlinks
// followed), sorted naturally.
func (sc *scan) readDir(dir string) (files, dirs []string, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("stimuli: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		if sc.visited++; sc.visited > maxEntries {
			return nil, nil, fmt.Errorf("stimuli: %s: more than %d files and folders (counting each path through symlinks); is there a symlink maze?", sc.root, maxEntries)
		}
		mode := e.Type()
		if mode&os.ModeSymlink != 0 {
			fi, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				return nil, nil, fmt.Errorf("stimuli: %w", err)
			}
			mode = fi.Mode().Type()
		}
		switch {
		case mode.IsDir():
			dirs = append(dirs, name)
		case mode.IsRegular() && isImage(name):
			files = append(files, name)
		default:
			sc.others++
		}
	}
	slices.SortFunc(files, naturalCompare)
	slices.SortFunc(dirs, naturalCompare)
	return files, dirs, nil
}

// walk lists the image files under dir (rel is its slash path relative
// to the root) recursively, as slash paths relative to the root, in
// natural order folder by folder.
func (sc *scan) walk(dir, rel string, depth int) ([]string, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("stimuli: %s: folders nested deeper than %d", dir, maxDepth)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("stimuli: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if ok {
		id := [2]uint64{uint64(st.Dev), uint64(st.Ino)}
		if sc.ancestors[id] {
			return nil, fmt.Errorf("stimuli: %s: symlink cycle (leads back to a folder that contains it)", dir)
		}
		sc.ancestors[id] = true
		defer delete(sc.ancestors, id)
	}
	files, dirs, err := sc.readDir(dir)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(files))
	for _, f := range files {
		out = append(out, path.Join(rel, f))
	}
	for _, d := range dirs {
		sub, err := sc.walk(filepath.Join(dir, d), path.Join(rel, d), depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, sub...)
	}
	return out, nil
}

var (
	flatName = regexp.MustCompile(`^(.+)[-_]([0-9]+)$`)
	flocNum  = regexp.MustCompile(`^-([0-9]+)$`)
)

// stem is a file name without its extension.
func stem(name string) string { return strings.TrimSuffix(name, path.Ext(name)) }

// flocNumber returns n if the slash path rel is <class>/<class>-<n>.<ext>.
func flocNumber(class, rel string) (int, bool) {
	dir, name := path.Split(rel)
	if dir != class+"/" || !strings.HasPrefix(name, class) {
		return 0, false
	}
	m := flocNum.FindStringSubmatch(stem(name)[len(class):])
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil
}

// group is one class folder's (or flat category's) images.
type group struct {
	name  string
	files []string // slash paths relative to the root, stimulus order
	nums  []int    // image numbers
}

// folder lists a folder source.
func folder(p *Params, logf logfFunc) (*set, error) {
	root, err := filepath.EvalSymlinks(string(p.Path))
	if err != nil {
		return nil, fmt.Errorf("stimuli: dataset folder: %w", err)
	}
	if fi, err := os.Stat(root); err != nil {
		return nil, fmt.Errorf("stimuli: dataset folder: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("stimuli: dataset path %s is not a folder", p.Path)
	}
	sc := newScan(string(p.Path))
	rootFiles, rootDirs, err := sc.readDir(root)
	if err != nil {
		return nil, err
	}
	layout := p.Layout
	var classes []group // class folders with images, natural order
	if layout != "flat" {
		for _, d := range rootDirs {
			files, err := sc.walk(filepath.Join(root, d), d, 1)
			if err != nil {
				return nil, err
			}
			if len(files) > 0 {
				classes = append(classes, group{name: d, files: files})
			}
		}
	}
	if layout == "auto" {
		switch {
		case len(rootFiles) > 0 && len(classes) > 0:
			return nil, fmt.Errorf("stimuli: %s holds images both directly (%s, …) and in subfolders (%s/, …): cannot tell its layout; set layout to flat, imagefolder or floc", p.Path, rootFiles[0], classes[0].name)
		case len(rootFiles) > 0:
			layout = "flat"
		case len(classes) > 0:
			layout = "floc"
			for _, g := range classes {
				for _, f := range g.files {
					if _, ok := flocNumber(g.name, f); !ok {
						layout = "imagefolder"
					}
				}
			}
		default:
			return nil, fmt.Errorf("stimuli: no JPEG or PNG images in %s or its subfolders", p.Path)
		}
	}
	if layout != "flat" && len(rootFiles) > 0 {
		return nil, fmt.Errorf("stimuli: layout %s wants every image in a subfolder, but %s holds %d directly (%s, …)", layout, p.Path, len(rootFiles), rootFiles[0])
	}
	if layout == "floc" {
		for i := range classes {
			g := &classes[i]
			for _, f := range g.files {
				n, ok := flocNumber(g.name, f)
				if !ok {
					return nil, fmt.Errorf("stimuli: %s: not named as fLOC names images (%s/%s-<n>.jpg); use layout imagefolder", filepath.Join(root, filepath.FromSlash(f)), g.name, g.name)
				}
				g.nums = append(g.nums, n)
			}
			// Natural order of <class>-<n> is the order of n; sort to be sure
			// (adult-01 and adult-1 would be the same n: refused below).
			idx := make([]int, len(g.files))
			for k := range idx {
				idx[k] = k
			}
			sort.SliceStable(idx, func(a, b int) bool { return g.nums[idx[a]] < g.nums[idx[b]] })
			files, nums := make([]string, len(idx)), make([]int, len(idx))
			for k, j := range idx {
				files[k], nums[k] = g.files[j], g.nums[j]
				if k > 0 && nums[k] == nums[k-1] {
					return nil, fmt.Errorf("stimuli: %s and %s are both image %d of %s", files[k-1], files[k], nums[k], g.name)
				}
			}
			g.files, g.nums = files, nums
		}
	}
	if layout == "flat" {
		byCat := map[string]*group{}
		for _, f := range rootFiles {
			m := flatName.FindStringSubmatch(stem(f))
			if m == nil {
				return nil, fmt.Errorf("stimuli: %s: flat layout names images <category>-<n> or <category>_<n>, and this name has no category", filepath.Join(root, f))
			}
			g := byCat[m[1]]
			if g == nil {
				g = &group{name: m[1]}
				byCat[m[1]] = g
			}
			g.files = append(g.files, f) // rootFiles are in natural order
		}
		for _, g := range byCat {
			classes = append(classes, *g)
		}
		slices.SortFunc(classes, func(a, b group) int { return naturalCompare(a.name, b.name) })
		if len(rootDirs) > 0 {
			logf("flat layout: ignored %d subfolders of %s", len(rootDirs), p.Path)
		}
	}
	for i := range classes {
		if classes[i].nums == nil {
			classes[i].nums = make([]int, len(classes[i].files))
			for k := range classes[i].nums {
				classes[i].nums[k] = k + 1
			}
		}
	}
	if sc.others > 0 {
		logf("ignored %d files that are not JPEG or PNG images", sc.others)
	}
	if len(classes) == 0 {
		return nil, fmt.Errorf("stimuli: no JPEG or PNG images in %s (layout %s)", p.Path, layout)
	}
	s := &set{source: "folder", layout: layout}
	add := func(g group, category, domain, identity string) {
		for k, f := range g.files[:p.capped(len(g.files))] {
			s.items = append(s.items, item{
				path: f, category: category, domain: domain, identity: identity, image: g.nums[k],
				file: filepath.Join(root, filepath.FromSlash(f)),
			})
		}
	}
	if layout == "identities" {
		for _, g := range classes {
			add(g, IdentityCategory, IdentityDomain, g.name)
		}
		logf("%d images of %d identities (identities layout)", len(s.items), len(classes))
	} else {
		byName := map[string]group{}
		for _, g := range classes {
			byName[g.name] = g
		}
		dom := domainIndex(p.Domains)
		var missing []string
		for _, c := range p.Categories {
			g, ok := byName[c]
			if !ok {
				missing = append(missing, c)
				continue
			}
			add(g, c, dom[c], "")
			delete(byName, c)
		}
		if len(missing) > 0 {
			var found []string
			for _, g := range classes {
				found = append(found, g.name)
			}
			return nil, fmt.Errorf("stimuli: %s (layout %s) has no images of the included categories %s; it has %s", p.Path, layout, strings.Join(missing, ", "), strings.Join(found, ", "))
		}
		msg := fmt.Sprintf("%d images of %d categories (%s layout)", len(s.items), len(p.Categories), layout)
		if len(byName) > 0 {
			var names []string
			n := 0
			for _, g := range classes {
				if _, ok := byName[g.name]; ok {
					names = append(names, fmt.Sprintf("%s: %d", g.name, len(g.files)))
					n += len(g.files)
				}
			}
			msg += fmt.Sprintf("; ignored %d images of categories not included (%s)", n, strings.Join(names, ", "))
		}
		logf("%s", msg)
	}
	s.gray = predictGray(s.items)
	return s, nil
}

// predictGray reads the headers of the files until one announces colour:
// it tells whether every image will decode to one channel. A wrong guess
// costs time, not correctness (see writePixels); an unreadable header
// counts as gray and fails properly later.
func predictGray(items []item) bool {
	for _, it := range items {
		f, err := os.Open(it.file)
		if err != nil {
			continue
		}
		cfg, _, err := image.DecodeConfig(f)
		f.Close()
		if err != nil {
			continue
		}
		if !grayModel(cfg) {
			return false
		}
	}
	return true
}

// grayModel reports whether an image of cfg decodes to gray.
func grayModel(cfg image.Config) bool {
	switch m := cfg.ColorModel.(type) {
	case color.Palette:
		for _, c := range m {
			r, g, b, _ := c.RGBA()
			if r != g || g != b {
				return false
			}
		}
		return true
	}
	return cfg.ColorModel == color.GrayModel || cfg.ColorModel == color.Gray16Model
}

// naturalCompare orders strings with digit runs compared by value:
// "adult-2" < "adult-10". Equal values with different zero padding are
// ordered by the plain string order, so the order is total.
func naturalCompare(a, b string) int {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if isDigit(a[i]) && isDigit(b[j]) {
			si, sj := i, j
			for i < len(a) && isDigit(a[i]) {
				i++
			}
			for j < len(b) && isDigit(b[j]) {
				j++
			}
			na, nb := strings.TrimLeft(a[si:i], "0"), strings.TrimLeft(b[sj:j], "0")
			if c := cmp.Compare(len(na), len(nb)); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			continue
		}
		if a[i] != b[j] {
			return cmp.Compare(a[i], b[j])
		}
		i++
		j++
	}
	if c := cmp.Compare(len(a)-i, len(b)-j); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
