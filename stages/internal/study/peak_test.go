package study

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"selectivity/cache/arrowfile"
	"selectivity/pipeline/pipelinetest"
	"selectivity/stages"
	_ "selectivity/stages/aggregate"
)

// Peak memory of the metric kind on a study-sized layer.
//
//	SELECTIVITY_PEAK_RSS=400000 go test -run TestPeakRSS -v ./stages/internal/study/
//
// writes a synthetic unit-level layer of 1440 images (10 fLOC categories ×
// 144: faces 288 against 1152) × the given number of units (400000: 2.3
// GB, float32) to a temporary folder (or $SELECTIVITY_PEAK_RSS_DIR), then
// runs in child processes (a clean VmHWM each) the metric kind with its
// defaults (all four metrics, default chunk: column blocks read with
// pread), the same reading through the memory mapping instead, and the
// aggregate kind (l2); it reports each child's peak resident set (VmHWM)
// and the sampled peaks of its anonymous and file-backed parts. Skipped
// unless the variable is set: it needs the disk and a few minutes.
func TestPeakRSS(t *testing.T) {
	units, _ := strconv.Atoi(os.Getenv("SELECTIVITY_PEAK_RSS"))
	if units <= 0 {
		t.Skip("set SELECTIVITY_PEAK_RSS to a number of units to measure peak memory")
	}
	dir := os.Getenv("SELECTIVITY_PEAK_RSS_DIR")
	if dir == "" {
		dir = t.TempDir()
	} else {
		var err error
		if dir, err = os.MkdirTemp(dir, "peak"); err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
	}
	start := time.Now()
	writeSynthetic(t, dir, 1440, units)
	t.Logf("wrote 1440 × %d float32 (%.2f GB) in %v", units, float64(1440*units*4)/1e9, time.Since(start).Round(time.Second))
	for _, mode := range []string{"metric", "metric-mapped", "aggregate"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestPeakRSSChild$", "-test.v")
		cmd.Env = append(os.Environ(), "SELECTIVITY_PEAK_CHILD="+dir, "SELECTIVITY_PEAK_MODE="+mode)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "peak:") {
				t.Log(strings.TrimSpace(line))
			}
		}
	}
}

// TestPeakRSSChild is TestPeakRSS's child process.
func TestPeakRSSChild(t *testing.T) {
	dir := os.Getenv("SELECTIVITY_PEAK_CHILD")
	if dir == "" {
		t.Skip("run by TestPeakRSS")
	}
	mode := os.Getenv("SELECTIVITY_PEAK_MODE")
	readThroughMapping = mode == "metric-mapped"
	in := stages.Input{Stage: "extract", Dir: dir, Files: []string{"images.arrow", "conv.arrow"}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var maxAnon, maxFile int
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			st := procStatus()
			maxAnon, maxFile = max(maxAnon, st["RssAnon"]), max(maxFile, st["RssFile"])
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	start := time.Now()
	var params any = Defaults()
	run := Run
	if mode == "aggregate" {
		k, _ := stages.Lookup("aggregate")
		params, run = k.NewParams(), k.Run
	}
	job := &stages.Job{Stage: mode, Params: params, OutDir: t.TempDir(),
		Inputs: map[string][]stages.Input{"acts": {in}}, Progress: pipelinetest.Progress{}, Logf: t.Logf}
	err := run(context.Background(), job)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	st := procStatus()
	t.Logf("peak: %s: VmHWM %d MiB, sampled peak RssAnon %d MiB, RssFile %d MiB; %v on %d cores",
		mode, st["VmHWM"]>>10, maxAnon>>10, maxFile>>10, time.Since(start).Round(time.Second), runtime.GOMAXPROCS(0))
}

// procStatus returns the kB fields of /proc/self/status.
func procStatus() map[string]int {
	out := map[string]int{}
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 2 && fields[1] == "kB" {
			out[k], _ = strconv.Atoi(fields[0])
		}
	}
	return out
}

// writeSynthetic writes images.arrow (10 fLOC categories × 144) and
// conv.arrow (images × units of post-ReLU noise, faces a little higher in
// every 10th unit; shape units/400 × 20 × 20 where that divides) into dir.
func writeSynthetic(t testing.TB, dir string, nImages, units int) {
	cats := [][2]string{{"adult", "faces"}, {"child", "faces"}, {"body", "bodies"}, {"limb", "bodies"},
		{"word", "characters"}, {"number", "characters"}, {"car", "objects"}, {"instrument", "objects"},
		{"house", "places"}, {"corridor", "places"}}
	var im fxImages
	for i := range nImages {
		c := cats[i*len(cats)/nImages]
		im.Path = append(im.Path, fmt.Sprintf("stimuli/%s/%s-%d.jpg", c[0], c[0], i))
		im.Category, im.Domain, im.Identity, im.Image = append(im.Category, c[0]), append(im.Domain, c[1]), append(im.Identity, ""), append(im.Image, int32(i))
	}
	writeImages(t, filepath.Join(dir, "images.arrow"), im)
	shape := []int{units, 1, 1}
	if units%400 == 0 {
		shape = []int{units / 400, 20, 20}
	}
	meta := map[string]string{"layer": "conv", "level": "unit", "shape": arrowfile.FormatInts(shape...)}
	if err := arrowfile.WriteMatrix(filepath.Join(dir, "conv.arrow"), nImages, units, meta, func(r int, dst []float32) {
		s := uint64(r)*0x9E3779B97F4A7C15 + 1
		face := im.Domain[r] == "faces"
		for i := range dst {
			s ^= s << 13
			s ^= s >> 7
			s ^= s << 17
			v := float32(s>>40)/float32(1<<24)*2 - 1.2 // uniform in [-1.2, 0.8)
			if face && i%10 == 0 {
				v += 0.5
			}
			if v > 0 {
				dst[i] = v
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
}
