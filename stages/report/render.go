package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// The Okabe–Ito palette: distinguishable with the common colour-vision
// deficiencies and in greyscale print (yellow, the palest, comes last).
var palette = []color.Color{
	rgb(0xD5, 0x5E, 0x00), // vermillion
	rgb(0x00, 0x72, 0xB2), // blue
	rgb(0x00, 0x9E, 0x73), // bluish green
	rgb(0xCC, 0x79, 0xA7), // reddish purple
	rgb(0xE6, 0x9F, 0x00), // orange
	rgb(0x56, 0xB4, 0xE9), // sky blue
	rgb(0x00, 0x00, 0x00), // black
	rgb(0xF0, 0xE4, 0x42), // yellow
}

func rgb(r, g, b uint8) color.Color { return color.NRGBA{R: r, G: g, B: b, A: 0xFF} }

var (
	grey      = rgb(0x80, 0x80, 0x80)
	lightGrey = rgb(0xE0, 0xE0, 0xE0)
)

// colorAt is the i-th colour of the palette, cycling.
func colorAt(i int) color.Color { return palette[i%len(palette)] }

// glyphAt is the i-th marker shape, cycling.
func glyphAt(i int) draw.GlyphDrawer {
	shapes := []draw.GlyphDrawer{draw.CircleGlyph{}, draw.BoxGlyph{}, draw.TriangleGlyph{},
		draw.PyramidGlyph{}, draw.RingGlyph{}, draw.SquareGlyph{}, draw.CrossGlyph{}, draw.PlusGlyph{}}
	return shapes[i%len(shapes)]
}

func textStyle(size vg.Length) text.Style {
	return text.Style{Color: color.Black, Font: font.From(plot.DefaultFont, size), Handler: plot.DefaultTextHandler}
}

// newPlot is a plot in the report's style: readable fonts, light
// horizontal grid lines under the data, no legend (figures draw theirs
// beside the panels, where it covers nothing).
func newPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = 12
	p.Title.Padding = 6
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		ax.Label.TextStyle.Font.Size = 11
		ax.Tick.Label.Font.Size = 10
		ax.Label.Padding = 4
	}
	g := plotter.NewGrid()
	g.Vertical.Color = nil
	g.Horizontal.Color = lightGrey
	g.Horizontal.Width = 0.5
	p.Add(g)
	return p
}

// nominalX labels positions 0, 1, ... with names (layers, metrics) and
// leaves half a slot of room on each side.
func nominalX(p *plot.Plot, names []string) {
	p.NominalX(names...)
	p.Y.Padding = 0
	p.X.Tick.Length = 3
	p.X.Min, p.X.Max = -0.5, float64(len(names))-0.5
}

// hline is a horizontal reference line across the nominal x range.
func hline(n int, y float64, col color.Color, dashed bool) *plotter.Line {
	l, _ := plotter.NewLine(plotter.XYs{{X: -0.5, Y: y}, {X: float64(n) - 0.5, Y: y}})
	l.Color = col
	l.Width = 1
	if dashed {
		l.Dashes = []vg.Length{4, 3}
	}
	return l
}

// bars is a bar series in data units (plotter.BarChart sizes bars in
// points, which makes grouped bars and their error bars hard to align).
type bars struct {
	xs, ys []float64
	width  float64 // in x data units
	color  color.Color
}

func (b *bars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	line := draw.LineStyle{Color: color.Black, Width: 0.5}
	for i, x := range b.xs {
		y := b.ys[i]
		if math.IsNaN(y) {
			continue
		}
		x0, x1 := trX(x-b.width/2), trX(x+b.width/2)
		y0, y1 := trY(0), trY(y)
		pts := []vg.Point{{X: x0, Y: y0}, {X: x0, Y: y1}, {X: x1, Y: y1}, {X: x1, Y: y0}}
		c.FillPolygon(b.color, c.ClipPolygonXY(pts))
		c.StrokeLines(line, c.ClipLinesXY(append(pts, pts[0]))...)
	}
}

func (b *bars) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax, ymin, ymax = math.Inf(1), math.Inf(-1), 0, 0
	for i, x := range b.xs {
		xmin, xmax = math.Min(xmin, x-b.width/2), math.Max(xmax, x+b.width/2)
		if !math.IsNaN(b.ys[i]) {
			ymin, ymax = math.Min(ymin, b.ys[i]), math.Max(ymax, b.ys[i])
		}
	}
	return
}

func (b *bars) Thumbnail(c *draw.Canvas) {
	r := c.Rectangle
	pts := []vg.Point{r.Min, {X: r.Min.X, Y: r.Max.Y}, r.Max, {X: r.Max.X, Y: r.Min.Y}}
	c.FillPolygon(b.color, pts)
	c.StrokeLines(draw.LineStyle{Color: color.Black, Width: 0.5}, append(pts, pts[0]))
}

// errorBars draws asymmetric vertical error bars from lo to hi at xs,
// skipping NaNs.
func errorBars(xs, lo, hi []float64, col color.Color) (*plotter.YErrorBars, bool) {
	var pts plotter.XYs
	var errs plotter.YErrors
	for i, x := range xs {
		if math.IsNaN(lo[i]) || math.IsNaN(hi[i]) || math.IsInf(lo[i], 0) || math.IsInf(hi[i], 0) {
			continue
		}
		mid := (lo[i] + hi[i]) / 2
		pts = append(pts, plotter.XY{X: x, Y: mid})
		errs = append(errs, struct{ Low, High float64 }{mid - lo[i], hi[i] - mid})
	}
	if len(pts) == 0 {
		return nil, false
	}
	e, err := plotter.NewYErrorBars(struct {
		plotter.XYs
		plotter.YErrors
	}{pts, errs})
	if err != nil {
		return nil, false
	}
	e.Color = col
	e.Width = 1
	e.CapWidth = 6
	return e, true
}

// valueLabels writes each value's text above its bar (below a negative one).
func valueLabels(p *plot.Plot, xs, ys, tops []float64, texts []string) {
	for _, up := range []bool{true, false} {
		var d plotter.XYLabels
		for i, x := range xs {
			if math.IsNaN(ys[i]) || (ys[i] >= 0) != up {
				continue
			}
			d.XYs = append(d.XYs, plotter.XY{X: x, Y: tops[i]})
			d.Labels = append(d.Labels, texts[i])
		}
		if len(d.XYs) == 0 {
			continue
		}
		l, err := plotter.NewLabels(d)
		if err != nil {
			continue
		}
		for i := range l.TextStyle {
			l.TextStyle[i] = textStyle(8)
			l.TextStyle[i].XAlign = text.XCenter
			if up {
				l.TextStyle[i].YAlign = text.YBottom
			} else {
				l.TextStyle[i].YAlign = text.YTop
			}
		}
		if up {
			l.Offset = vg.Point{Y: 2}
		} else {
			l.Offset = vg.Point{Y: -2}
		}
		p.Add(l)
	}
}

// figure is one image: a title over a grid of panels, and the legend in a
// column of its own to their right.
type figure struct {
	title          string
	panels         []*plot.Plot
	cols           int
	panelW, panelH vg.Length
	legend         *plot.Legend // nil: none
}

const (
	titleH    = 0.5 * vg.Inch
	legendPad = 0.15 * vg.Inch
)

// legendWidth is the width of the legend column: the longest entry plus
// its thumbnail and padding, rounded up to a tenth of an inch.
func legendWidth(l *plot.Legend) vg.Length {
	if l == nil {
		return 0
	}
	var c draw.Canvas
	c.Rectangle = vg.Rectangle{Max: vg.Point{X: 100 * vg.Inch, Y: 100 * vg.Inch}}
	w := l.Rectangle(c).Size().X + 2*legendPad
	tenth := vg.Inch / 10
	return vg.Length(math.Ceil(float64(w/tenth))) * tenth
}

func newLegend() *plot.Legend {
	l := plot.NewLegend()
	l.TextStyle = textStyle(10)
	l.Top, l.Left = true, true
	l.ThumbnailWidth = 0.35 * vg.Inch
	l.Padding = 3
	return &l
}

// size is the figure's width and height.
func (f *figure) size() (w, h vg.Length) {
	rows := (len(f.panels) + f.cols - 1) / f.cols
	w = vg.Length(f.cols)*f.panelW + legendWidth(f.legend)
	h = vg.Length(rows) * f.panelH
	if f.title != "" {
		h += titleH
	}
	return w, h
}

// render draws the figure as png (at dpi) or svg.
func (f *figure) render(format string, dpi int) ([]byte, error) {
	w, h := f.size()
	var c vg.CanvasWriterTo
	switch format {
	case "png":
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(dpi))}
	case "svg":
		c = vgsvg.New(w, h)
	default:
		return nil, fmt.Errorf("unknown format %q", format)
	}
	dc := draw.New(c)
	// An opaque page, also in SVG (viewers with dark backgrounds).
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	top := vg.Length(0)
	if f.title != "" {
		st := textStyle(14)
		st.XAlign, st.YAlign = text.XCenter, text.YCenter
		dc.FillText(st, vg.Point{X: w / 2, Y: h - titleH/2}, f.title)
		top = titleH
	}
	legW := legendWidth(f.legend)
	rows := (len(f.panels) + f.cols - 1) / f.cols
	grid := make([][]*plot.Plot, rows)
	for r := range grid {
		grid[r] = make([]*plot.Plot, f.cols)
		for col := range f.cols {
			if i := r*f.cols + col; i < len(f.panels) {
				grid[r][col] = f.panels[i]
			}
		}
	}
	area := draw.Crop(dc, 0, -legW, 0, -top)
	tiles := draw.Tiles{Rows: rows, Cols: f.cols, PadTop: 4, PadBottom: 6, PadLeft: 6, PadRight: 10, PadX: 18, PadY: 12}
	canvases := plot.Align(grid, tiles, area)
	for r := range grid {
		for col, p := range grid[r] {
			if p != nil {
				p.Draw(canvases[r][col])
			}
		}
	}
	if f.legend != nil {
		lc := draw.Crop(dc, w-legW+legendPad, -legendPad, 0, -top-legendPad)
		f.legend.Draw(lc)
	}
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// write renders the figure into path.
func (f *figure) write(path, format string, dpi int) error {
	b, err := f.render(format, dpi)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, b, 0o644)
}
