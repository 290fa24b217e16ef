// Package report is the `report` stage kind: the study's four findings
// checked on this run's numbers, the study's Figure 1 panels drawn from the
// tables of upstream stages (PNG or SVG, with gonum.org/v1/plot) and the
// training curve, and an index, report.md (and report.html), opening with
// the findings and listing each figure with a caption and a table of the
// numbers it plots.
//
// # Networks
//
// The findings compare the trained network with its untrained twin. An
// input's network is told by the word "trained" or "untrained" (whole
// words, any case) in, most specific first: a consistency row's matrix
// values and metric stage, a lesion row's metric stage (x_stage), the
// input's matrix values and stage name, a decode stage's metric stages
// (metadata metric_stage_*). So units@trained,
// kernel-metrics@untrained-l2, consistency@untrained and a decode stage
// ranking kernel-metrics@trained-l2 all name theirs. When no input of a
// finding names a network, the inputs are taken as the trained network's
// if they are of one network, and the finding says so.
//
// # Findings (findings.go states each rule in full; report.md repeats them)
//
//   - F1: in the trained network FSI's % selected rises with depth at every
//     level (Spearman ρ vs layer position ≥ 0.7 and last − first ≥ 5
//     percentage points) while every other metric's stays flat (|last −
//     first| < 5 pp).
//   - F2: FSI has the largest Spearman ρ of metric value vs lesion loss
//     increase at conv13 (p by scipy.stats.spearmanr's t approximation).
//   - F3: the metrics' identity-decoding 95% CIs all overlap.
//   - F4: unit-level consistency of the trained network exceeds the
//     untrained one's at every layer from conv7 on, and rises with depth
//     (ρ ≥ 0.7, last − first ≥ 0.05) only in the trained network.
//
// A finding whose inputs are missing is "not tested" and says what it
// needs.
//
// # Inputs (all optional; each figure is drawn only when its inputs are given)
//
//   - training: a train stage (its curve.arrow; data.CurveFile and the Curve*
//     column names). fig_training.<format>: loss and accuracy per epoch on
//     the training images and the held-out faces and objects, with dashed
//     chance lines from the schema metadata.
//   - summary: metric stages (their summary.arrow). Fig. 1b/1c: the
//     percentage of items each metric selects, per layer (layers in network
//     order: conv2 < conv10, compared by number), one line per metric, y from
//     0 to 100 %. One figure per level and aggregation,
//     fig_selected_<level>[_<aggregation>].<format>, with one panel per input
//     stage (the trained network first), titled by the stage's matrix values
//     ("trained"; values equal to the aggregation are left out) or else its
//     name.
//   - consistency: correlate stages in mode metrics (their
//     consistency.arrow). Fig. 1f, fig_consistency.<format>: mean
//     inter-metric ρ per layer with SEM error bars, one panel per level
//     (units, kernels of each aggregation) on one y scale, and in each one
//     line per network (named by the table's matrix columns, else the
//     correlate stage's matrix values or name; trained vermillion,
//     untrained blue, as the paper's red and blue).
//   - lesion: correlate stages in mode values, a metric's value column
//     against a lesion stage's measure (their spearman.arrow). Fig. 1d,
//     fig_lesion.<format>: ρ per metric as bars; whatever else differs
//     between rows of one metric (layer, lesion measure, stages) makes
//     grouped bars.
//   - decoding: decode stages (their decoding.arrow). Fig. 1e,
//     fig_decoding.<format>: mean accuracy per feature set with its 95% CI
//     and a dashed chance line; several stages make grouped bars.
//
// Beyond the paper (beyond.go and dissociation.go specify them): null
// (permutation stages) and bootstrap (bootstrap stages) draw intervals on
// the figures above; reliability, variants, and dissociation_lesion with
// dissociation_metrics draw panels of their own.
//
// An input that lacks the expected file or columns is an error naming the
// slot, the stage and the file.
//
// # Output
//
// The figures, beside each the numbers it plots as CSV (<figure>.csv, or
// <figure>_<k>.csv for its k-th table when it has several; a first
// column "table" names the table when it has a title), findings.arrow
// (one row per finding: id, statement, rule, measured, value_names,
// values, holds, why; see writeFindings),
// report.md and report.html. report.html is self-contained: its figures
// are inlined as data: URIs, so it can be mailed or archived alone.
// Figures have fixed sizes in inches (PNG pixels = inches × dpi); the
// output is deterministic: the same inputs and parameters give
// byte-identical files, except that under the runner (Job.Run set)
// report.md and report.html end with a provenance section — the
// experiment file and its SHA-256, the run and its overrides, every stage
// the report depends on with its kind, code version, key and parameters,
// and the Go version, platform (CPU, kernel path) and date of the run that
// computed the entry.
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
	// DissociationTop is N of the double dissociation (dissociation.go).
	DissociationTop int `yaml:"dissociation_top" min:"0" max:"1000000" doc:"double dissociation: each metric's top N kernels (0: the smallest number any metric selects)"`
}

// DefaultParams returns the defaults.
func DefaultParams() *Params { return &Params{Title: "Face selectivity", Format: "png", DPI: 150} }

// Kind is the report stage kind.
type Kind struct{}

func init() { stages.Register(Kind{}) }

func (Kind) Name() string    { return "report" }
func (Kind) Version() string { return "5" }
func (Kind) Doc() string {
	return "the study's four findings checked on this run, its Figure 1 panels (% selected, consistency, lesion agreement, decoding), the training curve and the panels beyond it (permutation null, bootstrap intervals, reliability, variant sensitivity, double dissociation) as PNG/SVG with a Markdown/HTML index"
}
func (Kind) NewParams() any { return DefaultParams() }

// VolatileOutputs are the files with the provenance section (its date and
// machine): stages.Volatile.
func (Kind) VolatileOutputs() []string { return []string{IndexFile, HTMLFile} }

func (Kind) Inputs() []stages.Slot {
	return append([]stages.Slot{
		{Name: slotTraining, Accepts: []string{stages.TrainedNetwork}, Doc: "a train stage: loss and accuracy per epoch (its curve.arrow)"},
		{Name: slotSummary, Many: true, Accepts: []string{stages.Selectivity}, Doc: "metric stages: % selected per layer (Fig. 1b/1c)"},
		{Name: slotConsistency, Many: true, Accepts: []string{stages.Correlations}, Doc: "correlate stages, mode metrics: inter-metric consistency (Fig. 1f)"},
		{Name: slotLesion, Many: true, Accepts: []string{stages.Correlations}, Doc: "correlate stages, mode values, metric value vs lesion measure (Fig. 1d)"},
		{Name: slotDecoding, Many: true, Accepts: []string{stages.Decoding}, Doc: "decode stages: identity decoding accuracy (Fig. 1e)"},
	}, beyondSlots()...)
}

// Run draws the figures; see the package doc.
func (Kind) Run(ctx context.Context, job *stages.Job) error {
	p := job.Params.(*Params)
	d, err := readInputs(job.Inputs, p.DissociationTop)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	fs := findings(d)
	secs := append([]section{findingsSection(fs)}, figureSections(d, p.Format)...)
	bar := job.Progress.Bar("figures", "figures", int64(len(secs)-1))
	defer bar.Done()
	for _, s := range secs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if s.fig == nil {
			continue
		}
		if err := s.fig.write(job.Output(s.file), p.Format, p.DPI); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		if err := writeCSVs(job.OutDir, s); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		bar.Add(1)
	}
	if err := writeFindings(job.Output(FindingsFile), fs); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if job.Run != nil {
		secs = append(secs, provenanceSection(job.Run))
	}
	uris, err := dataURIs(job.OutDir, secs)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	intro := introText(job)
	if err := os.WriteFile(job.Output(IndexFile), []byte(markdown(p.Title, intro, secs)), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := os.WriteFile(job.Output(HTMLFile), []byte(htmlPage(p.Title, intro, secs, uris)), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// readInputs reads every input.
func readInputs(inputs map[string][]stages.Input, topN int) (*reportData, error) {
	d := &reportData{}
	any := false
	var err error
	if ins := inputs[slotTraining]; len(ins) > 0 {
		any = true
		if d.training, err = readCurve(ins[0]); err != nil {
			return nil, err
		}
	}
	if ins := inputs[slotSummary]; len(ins) > 0 {
		any = true
		if d.summaries, err = readSummaries(ins); err != nil {
			return nil, err
		}
	}
	if ins := inputs[slotLesion]; len(ins) > 0 {
		any = true
		if d.lesion, err = readLesion(ins); err != nil {
			return nil, err
		}
	}
	if ins := inputs[slotDecoding]; len(ins) > 0 {
		any = true
		if d.decoding, err = readDecoding(ins); err != nil {
			return nil, err
		}
	}
	if ins := inputs[slotConsistency]; len(ins) > 0 {
		any = true
		if d.consistency, err = readConsistency(ins); err != nil {
			return nil, err
		}
		if len(d.consistency) == 0 {
			return nil, fmt.Errorf("consistency inputs %s: no rows", stageNames(ins))
		}
	}
	beyond, err := readBeyond(inputs, d, topN)
	if err != nil {
		return nil, err
	}
	if !any && !beyond {
		return nil, fmt.Errorf("no inputs: give stages in at least one of training, summary, consistency, lesion, decoding, reliability, variants, dissociation_lesion")
	}
	return d, nil
}

// figureSections lays out the figures: the training curve, then the
// paper's order.
func figureSections(d *reportData, ext string) []section {
	var secs []section
	if d.training != nil {
		secs = append(secs, trainingSection(d.training, ext))
	}
	for _, f := range d.summaries {
		secs = append(secs, selectedSection(f, ext))
	}
	if d.lesion != nil {
		secs = append(secs, lesionSection(d.lesion, ext))
	}
	if len(d.decoding) > 0 {
		secs = append(secs, decodingSection(d.decoding, ext))
	}
	if len(d.consistency) > 0 {
		secs = append(secs, consistencySection(d.consistency, ext))
	}
	return append(secs, beyondSections(d, ext)...)
}

// introText names the stages the report was drawn from.
func introText(job *stages.Job) string {
	var parts []string
	for _, slot := range []string{slotTraining, slotSummary, slotLesion, slotDecoding, slotConsistency,
		slotNull, slotBootstrap, slotReliability, slotVariants, slotDissLesion, slotDissMetrics} {
		if ins := job.Inputs[slot]; len(ins) > 0 {
			parts = append(parts, slot+": "+stageNames(ins))
		}
	}
	return fmt.Sprintf("The study's findings checked on this run, and the figures of its Figure 1, drawn by stage %s from %s. Each figure is followed by the numbers it plots.",
		job.Stage, strings.Join(parts, "; "))
}
