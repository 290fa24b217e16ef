package stimuli

import (
	"context"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"selectivity/stages/internal/imaging"
)

// ExportOptions tunes Export.
type ExportOptions struct {
	// Preprocessed writes the resized, center-cropped pixels the network
	// sees instead of the images as drawn or decoded.
	Preprocessed bool
	// Logf receives warnings (skipped images) and a summary; nil: none.
	Logf func(format string, args ...any)
}

// exportName is where Export writes item it, relative to its folder:
// <category>/<category>-<n>.png, or <identity>/<n>.png for identity sets.
func exportName(it *item) string {
	if it.identity != "" {
		return filepath.Join(it.identity, strconv.Itoa(it.image)+".png")
	}
	return filepath.Join(it.category, fmt.Sprintf("%s-%d.png", it.category, it.image))
}

// Export writes the stimulus set p describes (synthetic or a folder) as
// PNG files under dir, so that people can look at them:
// <dir>/<category>/<category>-<n>.png for category sets and
// <dir>/<identity>/<n>.png for identity sets, n being the image number of
// images.arrow. Gray images are written as 8-bit gray PNGs. Existing files
// are overwritten. Unreadable images fail the export or, under on_error:
// skip, are left out with a warning. It returns how many images it wrote.
func Export(ctx context.Context, p *Params, dir string, opt ExportOptions) (int, error) {
	logf := logfFunc(opt.Logf)
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if err := p.check(); err != nil {
		return 0, err
	}
	pipe, err := p.pipeline()
	if err != nil {
		return 0, fmt.Errorf("stimuli: %w", err)
	}
	s, err := collect(p, logf)
	if err != nil {
		return 0, err
	}
	made := map[string]bool{}
	for i := range s.items {
		sub := filepath.Dir(filepath.Join(dir, exportName(&s.items[i])))
		if !made[sub] {
			if err := os.MkdirAll(sub, 0o755); err != nil {
				return 0, fmt.Errorf("stimuli: export: %w", err)
			}
			made[sub] = true
		}
	}
	budget := imaging.NewBudget(imaging.DefaultBudget)
	work := func(i int) (*imaging.Image, error) {
		it := &s.items[i]
		img, release, err := it.load(budget)
		defer release()
		if err != nil {
			return nil, err
		}
		if opt.Preprocessed {
			if img, err = pipe.Pixels(img); err != nil {
				return nil, fmt.Errorf("stimuli: %s: %w", it.name(), err)
			}
		}
		return nil, writePNG(filepath.Join(dir, exportName(it)), img)
	}
	n, skipped := 0, 0
	consume := func(i int, _ *imaging.Image, err error) error {
		if err == nil {
			n++
			return nil
		}
		if p.OnError != "skip" {
			return err
		}
		skipped++
		logf("warning: skipping %s: %v", s.items[i].path, err)
		return nil
	}
	workers := runtime.GOMAXPROCS(0)
	if err := ordered(ctx, len(s.items), workers, 2*workers+2, work, consume); err != nil {
		return n, err
	}
	msg := fmt.Sprintf("wrote %d images to %s", n, dir)
	if skipped > 0 {
		msg += fmt.Sprintf(" (skipped %d)", skipped)
	}
	logf("%s", msg)
	return n, nil
}

// writePNG writes img to the PNG file path.
func writePNG(path string, img *imaging.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("stimuli: export: %w", err)
	}
	if err := png.Encode(f, img.ToImage()); err != nil {
		f.Close()
		return fmt.Errorf("stimuli: export %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("stimuli: export %s: %w", path, err)
	}
	return nil
}
