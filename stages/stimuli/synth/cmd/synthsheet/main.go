// Command synthsheet writes a contact sheet of synthetic stimuli (one row
// per category) as a PNG, for looking at what package synth draws.
//
//	go run ./stages/stimuli/synth/cmd/synthsheet -o /tmp/synth_sheet.png
package main

import (
	"flag"
	"fmt"
	"image/png"
	"os"
	"slices"
	"strings"

	"selectivity/stages/stimuli/synth"
)

func main() {
	out := flag.String("o", "/tmp/synth_sheet.png", "output PNG")
	n := flag.Int("n", 8, "images per category")
	size := flag.Int("size", 128, "image size in pixels")
	seed := flag.Int64("seed", 1, "seed")
	cats := flag.String("cats", strings.Join(append(slices.Clone(synth.Categories), synth.Extra...), ","), "comma-separated categories")
	flag.Parse()
	if err := run(*out, strings.Split(*cats, ","), *n, *size, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "synthsheet:", err)
		os.Exit(1)
	}
}

func run(path string, cats []string, n, size int, seed int64) error {
	sheet, err := synth.ContactSheet(cats, n, size, seed)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, sheet); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}
