package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"selectivity/stages/model"
)

// cmdLayers lists an architecture's taps — the names extract's layers and
// lesion's layer take — with the torchvision module each one is the output
// of (the name thingsvision's show_model gives it) and its output shape.
func cmdLayers(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("layers", "layers ARCH [--size PX] [--classes N]", `  go run . layers vgg16              # conv1…conv13, fc6, fc7, logits at 224 px
  go run . layers resnet50 --size 64 # stem, blocks, stages, avgpool, logits
`)
	size := fs.Int("size", 224, "side of the square input image in pixels")
	classes := fs.Int("classes", 1000, "outputs of the last layer (dlib_resnet29: 128 unless set)")
	pos, code, ok := parse(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "layers takes one architecture: %s\n", strings.Join(model.Archs(), ", "))
		return exitBadFile
	}
	if *classes < 1 {
		fmt.Fprintf(stderr, "layers: --classes %d: must be ≥ 1\n", *classes)
		return exitBadFile
	}
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "classes" })
	want := 0
	if explicit {
		want = *classes
	}
	taps, outputs, err := model.Describe(pos[0], *size, want)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitBadFile
	}
	fmt.Fprintf(stdout, "%s, %d×%d input, %d classes\n", pos[0], *size, *size, outputs)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LAYER\tMODULE\tSHAPE")
	for _, l := range taps {
		shape := make([]string, len(l.Shape))
		for i, d := range l.Shape {
			shape[i] = fmt.Sprint(d)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", l.Name, l.Module, strings.Join(shape, "×"))
	}
	tw.Flush()
	return exitOK
}
