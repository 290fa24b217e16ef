//go:build quickstart

package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"selectivity/pipeline"
	"selectivity/pipeline/pipelinetest"
	_ "selectivity/stages/correlate"
	_ "selectivity/stages/decode"
	_ "selectivity/stages/extract"
	_ "selectivity/stages/lesion"
	_ "selectivity/stages/metric"
	_ "selectivity/stages/model"
	_ "selectivity/stages/stimuli"
)

// TestQuickstart renders the report of the quickstart experiment into
// $REPORT_QUICKSTART (its cache in a subfolder, kept between runs). It runs
// a VGG-16, so it builds only with -tags quickstart and runs only when
// that variable is set:
//
//	REPORT_QUICKSTART=/tmp/qs go test -tags quickstart -run TestQuickstart ./stages/report
func TestQuickstart(t *testing.T) {
	root := os.Getenv("REPORT_QUICKSTART")
	if root == "" {
		t.Skip("set REPORT_QUICKSTART to a folder to render the quickstart's report")
	}
	root, _ = filepath.Abs(root)
	base, err := os.ReadFile("../../configs/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The quickstart has its own report stage; only the folders move.
	text := strings.Replace(string(base), "name: quickstart", "name: quickstart-report\ncache: "+filepath.Join(root, "cache")+"\nresults: "+filepath.Join(root, "results"), 1)
	file := pipelinetest.Write(t, root, "quickstart-report.yaml", text)
	if _, err := pipeline.Load(file, pipeline.LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	p := runExperiment(t, file)
	out := filepath.Join(p.Exp.ResultsDir, "report")
	for _, f := range []string{"fig_selected_unit.png", "fig_selected_kernel_mean.png", "fig_selected_kernel_l2.png",
		"fig_selected_kernel_max.png", "fig_consistency.png", "fig_lesion.png", "fig_decoding.png",
		"fig_dissociation_kernel-metrics-trained-l2.png", FindingsFile, IndexFile} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	f := readRows(t, filepath.Join(out, FindingsFile))
	if f.rows != 4 {
		t.Errorf("%d findings", f.rows)
	}
	for i := range f.rows {
		t.Logf("%s: holds %s: %s; %s", f.str["id"][i], f.str["holds"][i], f.str["measured"][i], f.str["why"][i])
	}
	t.Logf("report: %s", out)
}
