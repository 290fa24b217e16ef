// Package report is the `report` stage kind: the study's Figure 1 panels
// drawn from the tables of upstream stages (PNG or SVG, with
// gonum.org/v1/plot), and an index, report.md (and report.html), listing
// each figure with a caption and a table of the numbers it plots.
//
// # Inputs (all optional; each figure is drawn only when its inputs are given)
//
//   - summary: metric stages (their summary.arrow). Fig. 1b/1c: the
//     percentage of items each metric selects, per layer (layers in network
//     order: conv2 < conv10, compared by number), one line per metric, y from
//     0 to 100 %. One figure per level and aggregation,
//     fig_selected_<level>[_<aggregation>].<format>, with one panel per input
//     stage, titled by the stage's matrix values ("trained"; values equal to
//     the aggregation are left out) or else its name.
//   - consistency: correlate stages in mode metrics (their
//     consistency.arrow). Fig. 1f, fig_consistency.<format>: mean
//     inter-metric ρ per layer with SEM error bars, one line per metric stage
//     the correlate stages compared (named by the matrix columns of the table,
//     e.g. "trained" and "untrained", with the level when they differ).
//   - lesion: correlate stages in mode values, a metric's value column
//     against a lesion stage's measure (their spearman.arrow). Fig. 1d,
//     fig_lesion.<format>: ρ per metric as bars; whatever else differs
//     between rows of one metric (layer, lesion measure, stages) makes
//     grouped bars.
//   - decoding: decode stages (their decoding.arrow). Fig. 1e,
//     fig_decoding.<format>: mean accuracy per feature set with its 95% CI
//     and a dashed chance line; several stages make grouped bars.
//
// An input that lacks the expected file or columns is an error naming the
// slot, the stage and the file.
//
// # Output
//
// The figures, report.md and report.html. Figures have fixed sizes in inches
// (PNG pixels = inches × dpi); the output is deterministic: the same inputs
// and parameters give byte-identical files.
package report

import (
	"context"
	"fmt"
	"os"
	"strings"

	"selectivity/stages"
)

// Params are the report kind's parameters.
type Params struct {
	Title  string `yaml:"title" doc:"the report's heading"`
	Format string `yaml:"format" oneof:"png svg" doc:"image format of the figures"`
	DPI    int    `yaml:"dpi" min:"36" max:"1200" doc:"PNG resolution in dots per inch (figure sizes are fixed in inches)"`
}

// DefaultParams returns the defaults.
func DefaultParams() *Params { return &Params{Title: "Face selectivity", Format: "png", DPI: 150} }

// Kind is the report stage kind.
type Kind struct{}

func init() { stages.Register(Kind{}) }

func (Kind) Name() string    { return "report" }
func (Kind) Version() string { return "1" }
func (Kind) Doc() string {
	return "the study's Figure 1 panels (% selected, consistency, lesion agreement, decoding) as PNG/SVG with a Markdown/HTML index"
}
func (Kind) NewParams() any { return DefaultParams() }

func (Kind) Inputs() []stages.Slot {
	return []stages.Slot{
		{Name: slotSummary, Many: true, Accepts: []string{stages.Selectivity}, Doc: "metric stages: % selected per layer (Fig. 1b/1c)"},
		{Name: slotConsistency, Many: true, Accepts: []string{stages.Correlations}, Doc: "correlate stages, mode metrics: inter-metric consistency (Fig. 1f)"},
		{Name: slotLesion, Many: true, Accepts: []string{stages.Correlations}, Doc: "correlate stages, mode values, metric value vs lesion measure (Fig. 1d)"},
		{Name: slotDecoding, Many: true, Accepts: []string{stages.Decoding}, Doc: "decode stages: identity decoding accuracy (Fig. 1e)"},
	}
}

// Run draws the figures; see the package doc.
func (Kind) Run(ctx context.Context, job *stages.Job) error {
	p := job.Params.(*Params)
	secs, err := sections(job.Inputs, p.Format)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if len(secs) == 0 {
		return fmt.Errorf("report: no inputs: give stages in at least one of summary, consistency, lesion, decoding")
	}
	bar := job.Progress.Bar("figures", "figures", int64(len(secs)))
	defer bar.Done()
	for _, s := range secs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.fig.write(job.Output(s.file), p.Format, p.DPI); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		bar.Add(1)
	}
	intro := introText(job)
	if err := os.WriteFile(job.Output(IndexFile), []byte(markdown(p.Title, intro, secs)), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := os.WriteFile(job.Output(HTMLFile), []byte(htmlPage(p.Title, intro, secs)), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// sections reads every input and lays out the figures in the paper's order.
func sections(inputs map[string][]stages.Input, ext string) ([]section, error) {
	var secs []section
	if ins := inputs[slotSummary]; len(ins) > 0 {
		figs, err := readSummaries(ins)
		if err != nil {
			return nil, err
		}
		for _, f := range figs {
			secs = append(secs, selectedSection(f, ext))
		}
	}
	if ins := inputs[slotLesion]; len(ins) > 0 {
		d, err := readLesion(ins)
		if err != nil {
			return nil, err
		}
		secs = append(secs, lesionSection(d, ext))
	}
	if ins := inputs[slotDecoding]; len(ins) > 0 {
		d, err := readDecoding(ins)
		if err != nil {
			return nil, err
		}
		secs = append(secs, decodingSection(d, ext))
	}
	if ins := inputs[slotConsistency]; len(ins) > 0 {
		d, err := readConsistency(ins)
		if err != nil {
			return nil, err
		}
		if len(d) == 0 {
			return nil, fmt.Errorf("consistency inputs %s: no rows", stageNames(ins))
		}
		secs = append(secs, consistencySection(d, ext))
	}
	return secs, nil
}

// introText names the stages the report was drawn from.
func introText(job *stages.Job) string {
	var parts []string
	for _, slot := range []string{slotSummary, slotLesion, slotDecoding, slotConsistency} {
		if ins := job.Inputs[slot]; len(ins) > 0 {
			parts = append(parts, slot+": "+stageNames(ins))
		}
	}
	return fmt.Sprintf("Figures of the study's Figure 1 drawn by stage %s from %s. Each figure is followed by the numbers it plots.",
		job.Stage, strings.Join(parts, "; "))
}
