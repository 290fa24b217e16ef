package report

import (
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"selectivity/stages"
	"selectivity/stages/internal/data"
)

// curve is the training curve of one train stage.
type curve struct {
	stage                    string
	epoch, lr                []float64
	trainLoss, faceLoss      []float64
	objectLoss               []float64
	trainAcc, faceAcc        []float64
	objectAcc                []float64
	faceChance, objectChance float64 // NaN: not given
	identities, objects      string
}

// readCurve reads the training input's curve.arrow.
func readCurve(in stages.Input) (*curve, error) {
	t, err := readTable(slotTraining, in, data.CurveFile, "a train stage")
	if err != nil {
		return nil, err
	}
	cols := []string{data.CurveEpoch, data.CurveLR, data.CurveTrainLoss, data.CurveTrainAcc, data.CurveFaceAcc, data.CurveObjectAcc, data.CurveFaceLoss, data.CurveObjectLoss}
	if err := t.need(nil, cols); err != nil {
		return nil, err
	}
	if t.rows == 0 {
		return nil, fmt.Errorf("%s: no rows", t.where)
	}
	c := &curve{stage: in.Stage, epoch: t.floats(data.CurveEpoch), lr: t.floats(data.CurveLR),
		trainLoss: t.floats(data.CurveTrainLoss), faceLoss: t.floats(data.CurveFaceLoss), objectLoss: t.floats(data.CurveObjectLoss),
		trainAcc: t.floats(data.CurveTrainAcc), faceAcc: t.floats(data.CurveFaceAcc), objectAcc: t.floats(data.CurveObjectAcc),
		identities: t.meta[data.CurveIdentities], objects: t.meta[data.CurveObjects]}
	for i := 1; i < t.rows; i++ {
		if !(c.epoch[i] > c.epoch[i-1]) {
			return nil, fmt.Errorf("%s: column %q: epochs must increase (row %d: %g after %g)", t.where, data.CurveEpoch, i, c.epoch[i], c.epoch[i-1])
		}
	}
	for _, acc := range []struct {
		name string
		v    []float64
	}{{data.CurveTrainAcc, c.trainAcc}, {data.CurveFaceAcc, c.faceAcc}, {data.CurveObjectAcc, c.objectAcc}} {
		for i, v := range acc.v {
			if v < 0 || v > 1 {
				return nil, fmt.Errorf("%s: column %q, epoch %g: accuracy %g is not a fraction in [0, 1]", t.where, acc.name, c.epoch[i], v)
			}
		}
	}
	for _, ch := range []struct {
		key string
		dst *float64
	}{{data.CurveFaceChance, &c.faceChance}, {data.CurveObjectChance, &c.objectChance}} {
		*ch.dst = math.NaN()
		s, ok := t.meta[ch.key]
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v < 0 || v > 1 {
			return nil, fmt.Errorf("%s: metadata %s = %q is not a fraction in [0, 1]", t.where, ch.key, s)
		}
		*ch.dst = v
	}
	return c, nil
}

// xyLine is a line through the finite points, without markers.
func xyLine(p *plot.Plot, xs, ys []float64, col color.Color, dashed bool) *plotter.Line {
	var pts plotter.XYs
	for i := range xs {
		if !math.IsNaN(ys[i]) && !math.IsInf(ys[i], 0) {
			pts = append(pts, plotter.XY{X: xs[i], Y: ys[i]})
		}
	}
	l, err := plotter.NewLine(pts)
	if err != nil || len(pts) == 0 {
		l, _ = plotter.NewLine(plotter.XYs{{}})
	} else {
		p.Add(l)
	}
	l.Color, l.Width = col, 1.5
	if dashed {
		l.Dashes = []vg.Length{4, 3}
		l.Width = 1
	}
	return l
}

// epochTicks labels whole epochs, at most about ten of them.
func epochTicks(last float64) []plot.Tick {
	step := math.Max(1, math.Ceil(last/10))
	return ticks(0, step*math.Ceil(last/step), step, "%.0f")
}

func trainingSection(c *curve, ext string) section {
	title := "Training curve"
	first, last := c.epoch[0], c.epoch[len(c.epoch)-1]
	// Train: solid; held-out faces and objects: their own colours, loss and
	// accuracy alike; chance: dashed, in the colour of its task.
	trainC, faceC, objC := color.Color(rgb(0, 0, 0)), colorAt(0), colorAt(1)
	loss := newPlot("Loss (cross-entropy)", "Epoch", "Loss")
	legend := newLegend()
	legend.Add("train", xyLine(loss, c.epoch, c.trainLoss, trainC, false))
	legend.Add("held-out faces (trained identities)", xyLine(loss, c.epoch, c.faceLoss, faceC, false))
	legend.Add("held-out objects", xyLine(loss, c.epoch, c.objectLoss, objC, false))
	acc := newPlot("Accuracy", "Epoch", "Accuracy (%)")
	pctOf := func(v []float64) []float64 {
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = 100 * x
		}
		return out
	}
	xyLine(acc, c.epoch, pctOf(c.trainAcc), trainC, false)
	xyLine(acc, c.epoch, pctOf(c.faceAcc), faceC, false)
	xyLine(acc, c.epoch, pctOf(c.objectAcc), objC, false)
	for _, ch := range []struct {
		v    float64
		col  color.Color
		name string
	}{{c.faceChance, faceC, "face chance"}, {c.objectChance, objC, "object chance"}} {
		if !math.IsNaN(ch.v) {
			legend.Add(fmt.Sprintf("%s (%.3g %%)", ch.name, 100*ch.v), xyLine(acc, []float64{first, last}, []float64{100 * ch.v, 100 * ch.v}, ch.col, true))
		}
	}
	for _, p := range []*plot.Plot{loss, acc} {
		p.X.Min, p.X.Max = first, last
		if last == first {
			p.X.Max = first + 1
		}
		p.X.Tick.Marker = plot.ConstantTicks(epochTicks(p.X.Max))
	}
	acc.Y.Min, acc.Y.Max = 0, 100
	acc.Y.Tick.Marker = plot.ConstantTicks(ticks(0, 100, 20, "%.0f"))
	loss.Y.Min = 0

	caption := "Loss and accuracy per epoch (epoch 0: before training) on the training images and on held-out images: new images of the trained face identities, and new exemplars of the object classes; dashed: chance."
	if c.identities != "" || c.objects != "" {
		caption += fmt.Sprintf(" Classes: %s face identities, %s object classes.", orQ(c.identities), orQ(c.objects))
	}
	s := section{heading: title, file: fileName(ext, "fig_training"), caption: caption,
		fig: &figure{title: title, panels: []*plot.Plot{loss, acc}, cols: 2, panelW: 4 * vg.Inch, panelH: 3.2 * vg.Inch, legend: legend}}
	tab := mdTable{header: []string{"epoch", "lr", "train loss", "train acc %", "face loss", "face acc %", "object loss", "object acc %"}}
	for i, e := range c.epoch {
		tab.rows = append(tab.rows, []string{fmt.Sprintf("%.0f", e), fmt.Sprintf("%.4g", c.lr[i]), num3(c.trainLoss[i]), pct1(c.trainAcc[i]),
			num3(c.faceLoss[i]), pct1(c.faceAcc[i]), num3(c.objectLoss[i]), pct1(c.objectAcc[i])})
	}
	if !math.IsNaN(c.faceChance) || !math.IsNaN(c.objectChance) {
		tab.rows = append(tab.rows, []string{"chance", "", "", "", "", pct1(c.faceChance), "", pct1(c.objectChance)})
	}
	s.tables = []mdTable{tab}
	return s
}

func pct1(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", 100*v)
}

func orQ(s string) string {
	if s == "" {
		return "?"
	}
	return s
}
