package stimuli

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"selectivity/stages"
	"selectivity/stages/internal/imaging"
	"selectivity/stages/stimuli/synth"
)

// Params are the stimuli stage's parameters (see DefaultParams for the
// defaults).
type Params struct {
	Source     string              `yaml:"source" oneof:"synthetic folder" doc:"where the images come from: synthetic (drawn from seed) or folder (files under path)"`
	Path       stages.Path         `yaml:"path" doc:"the dataset's root folder (source: folder)"`
	Layout     string              `yaml:"layout" oneof:"auto floc imagefolder flat identities" doc:"folder layout: auto detects floc, imagefolder or flat; identities = a folder per identity"`
	Categories []string            `yaml:"categories" doc:"the categories included, in stimulus order (not used by identity sets); synthetic sets draw fLOC's and chair, bottle, cup, lamp"`
	Domains    map[string][]string `yaml:"domains" doc:"domain → its categories (replaces the default entirely: fLOC's grouping, with chair, bottle, cup, lamp in objects); every included category must be in exactly one"`

	PerCategory       int   `yaml:"per_category" min:"1" max:"100000" doc:"synthetic: images per category"`
	Identities        int   `yaml:"identities" min:"0" max:"100000" doc:"synthetic: draw an identity set of this many face identities instead (0: a category set)"`
	ImagesPerIdentity int   `yaml:"images_per_identity" min:"1" max:"100000" doc:"synthetic identity sets: images per identity"`
	FirstIdentity     int   `yaml:"first_identity" min:"0" max:"100000" doc:"synthetic identity sets: the first identity drawn (0-based; identity i is named id<i+1> in every set: id001 first), for held-out identities"`
	FirstImage        int   `yaml:"first_image" min:"0" max:"100000" doc:"synthetic: the first image drawn of each identity or category (0-based; numbers and paths count from it), for held-out images"`
	Seed              int64 `yaml:"seed" doc:"synthetic: the seed every image is drawn from"`
	ImageSize         int   `yaml:"image_size" min:"16" max:"4096" doc:"synthetic: side of the drawn images, before preprocessing"`

	Resize    int    `yaml:"resize" min:"1" max:"8192" doc:"Resize(resize): the shorter side becomes this (bilinear, antialiased)"`
	Crop      int    `yaml:"crop" min:"1" max:"8192" doc:"CenterCrop(crop), at most resize"`
	Normalize string `yaml:"normalize" oneof:"half imagenet none" doc:"normalisation later stages apply: half (mean = std = 0.5), imagenet, none"`
	OnError   string `yaml:"on_error" oneof:"fail skip" doc:"an unreadable image: fail, or skip it with a warning (listed in skipped.arrow)"`
	Limit     int    `yaml:"limit" min:"0" doc:"at most this many images per category or identity, in stimulus order (0: all)"`
}

// FLOCCategories are fLOC's categories without scrambled, the default.
var FLOCCategories = []string{"adult", "child", "body", "limb", "word", "number", "car", "instrument", "house", "corridor"}

// DefaultDomains returns the default grouping: fLOC's, with synth's extra
// object categories (synth.Extra) in objects.
func DefaultDomains() map[string][]string {
	d := FLOCDomains()
	d["objects"] = append(d["objects"], synth.Extra...)
	return d
}

// FLOCDomains returns fLOC's category → domain grouping.
func FLOCDomains() map[string][]string {
	return map[string][]string{
		"faces":      {"adult", "child"},
		"bodies":     {"body", "limb"},
		"characters": {"word", "number"},
		"objects":    {"car", "instrument"},
		"places":     {"house", "corridor"},
		"scrambled":  {"scrambled"},
	}
}

// Identity sets label every image with this category and domain.
const (
	IdentityCategory = "face"
	IdentityDomain   = "faces"
)

// DefaultParams returns the defaults: 12 synthetic images of each of fLOC's
// ten categories (scrambled excluded), seed 1, drawn at 256 px, then
// Resize(256), CenterCrop(224), normalisation "half"; domains are
// DefaultDomains.
func DefaultParams() *Params {
	return &Params{
		Source:            "synthetic",
		Layout:            "auto",
		Categories:        slices.Clone(FLOCCategories),
		Domains:           DefaultDomains(),
		PerCategory:       12,
		ImagesPerIdentity: 10,
		Seed:              1,
		ImageSize:         256,
		Resize:            256,
		Crop:              224,
		Normalize:         "half",
		OnError:           "fail",
	}
}

// identitySet reports whether p describes an identity set.
func (p *Params) identitySet() bool {
	if p.Source == "synthetic" {
		return p.Identities > 0
	}
	return p.Layout == "identities"
}

// Validate reports the rules the struct tags cannot express.
func (p *Params) Validate() []stages.FieldError {
	var errs []stages.FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, stages.FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	switch p.Source {
	case "folder":
		if p.Path == "" {
			add("path", "required when source is folder")
		} else if fi, err := os.Stat(string(p.Path)); err == nil && !fi.IsDir() {
			add("path", "%s is a file; want the dataset's folder", p.Path)
		}
		if p.Identities > 0 {
			add("identities", "only for synthetic identity sets; a folder identity set takes layout: identities")
		}
		if p.FirstIdentity != 0 {
			add("first_identity", "only for synthetic identity sets; a folder set has the identities it has")
		}
		if p.FirstImage != 0 {
			add("first_image", "only for synthetic sets; a folder set has the images it has")
		}
	case "synthetic":
		if p.Path != "" {
			add("path", "given, but source is synthetic: set source: folder to read images from it")
		}
		switch {
		case p.Layout == "identities" && p.Identities == 0:
			add("identities", "a synthetic identity set (layout: identities) needs identities > 0")
		case p.Layout == "imagefolder" || p.Layout == "flat":
			add("layout", "%s applies to folder sources; synthetic sets are floc or identities", p.Layout)
		case p.Identities > 0 && p.Layout == "floc":
			add("layout", "floc is a category set, but identities > 0 asks for an identity set")
		}
		if p.FirstIdentity != 0 && p.Identities == 0 {
			add("first_identity", "only for identity sets (identities > 0); a category set's exemplars start at first_image")
		}
	}
	if p.Crop > p.Resize {
		add("crop", "crop %d is larger than resize %d", p.Crop, p.Resize)
	}
	if !p.identitySet() {
		errs = append(errs, p.validateCategories()...)
	}
	return errs
}

// validateCategories checks categories against domains (and against what
// synth can draw).
func (p *Params) validateCategories() []stages.FieldError {
	var errs []stages.FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, stages.FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if len(p.Categories) == 0 {
		add("categories", "no categories included")
	}
	domainOf := map[string]string{}
	names := make([]string, 0, len(p.Domains))
	for d := range p.Domains {
		names = append(names, d)
	}
	sort.Strings(names)
	for _, d := range names {
		if d == "" {
			add("domains", "empty domain name")
		}
		for i, c := range p.Domains[d] {
			if prev, dup := domainOf[c]; dup {
				add(fmt.Sprintf("domains.%s[%d]", d, i), "category %q is already in domain %q", c, prev)
				continue
			}
			domainOf[c] = d
		}
	}
	seen := map[string]bool{}
	var orphans []string
	for i, c := range p.Categories {
		field := fmt.Sprintf("categories[%d]", i)
		switch {
		case c == "":
			add(field, "empty category name")
			continue
		case seen[c]:
			add(field, "category %q listed twice", c)
			continue
		}
		seen[c] = true
		if _, ok := domainOf[c]; !ok {
			orphans = append(orphans, c)
		}
		if p.Source == "synthetic" && !synth.Known(c) {
			add(field, "synthetic sets have no category %q (known: %s)", c, strings.Join(append(slices.Clone(synth.Categories), synth.Extra...), ", "))
		}
	}
	if len(orphans) > 0 {
		add("domains", "included categories in no domain: %s (domains: %s)", strings.Join(orphans, ", "), strings.Join(names, ", "))
	}
	return errs
}

// check validates p as a whole, the tag rules included, for callers that
// did not get p from the pipeline (tests, the export command).
func (p *Params) check() error {
	var msgs []string
	for _, fe := range p.Validate() {
		msgs = append(msgs, fe.Error())
	}
	bad := func(field string, v, lo, hi int) {
		if v < lo || v > hi {
			msgs = append(msgs, fmt.Sprintf("%s: %d outside [%d, %d]", field, v, lo, hi))
		}
	}
	bad("resize", p.Resize, 1, 8192)
	bad("crop", p.Crop, 1, 8192)
	bad("limit", p.Limit, 0, 1<<30)
	if p.Source == "synthetic" {
		bad("image_size", p.ImageSize, synth.MinSize, synth.MaxSize)
		bad("per_category", p.PerCategory, 1, 100000)
		bad("identities", p.Identities, 0, 100000)
		bad("first_identity", p.FirstIdentity, 0, 100000)
		bad("first_image", p.FirstImage, 0, 100000)
		if p.Identities > 0 {
			bad("images_per_identity", p.ImagesPerIdentity, 1, 100000)
		}
	} else if p.Source != "folder" {
		msgs = append(msgs, fmt.Sprintf("source: %q is neither synthetic nor folder", p.Source))
	}
	if !slices.Contains([]string{"auto", "floc", "imagefolder", "flat", "identities"}, p.Layout) {
		msgs = append(msgs, fmt.Sprintf("layout: unknown layout %q", p.Layout))
	}
	if p.OnError != "fail" && p.OnError != "skip" {
		msgs = append(msgs, fmt.Sprintf("on_error: %q is neither fail nor skip", p.OnError))
	}
	if _, err := imaging.NormByName(p.Normalize); err != nil {
		msgs = append(msgs, "normalize: "+err.Error())
	}
	if len(msgs) > 0 {
		return errors.New("stimuli: bad parameters: " + strings.Join(msgs, "; "))
	}
	return nil
}

// pipeline is the preprocessing p asks for.
func (p *Params) pipeline() (imaging.Pipeline, error) {
	n, err := imaging.NormByName(p.Normalize)
	if err != nil {
		return imaging.Pipeline{}, err
	}
	pl := imaging.Pipeline{Resize: p.Resize, Crop: p.Crop, Norm: n}
	return pl, pl.Validate()
}
