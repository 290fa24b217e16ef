// Package stagetest provides small stage kinds for the runner's tests:
// they read and write plain files, can be slowed down or made to fail, and
// append each execution to the file named by $SELECTIVITY_TEST_LOG so that
// tests (and concurrent test processes) can count what actually ran.
package stagetest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"selectivity/stages"
)

// SourceVersion is the code version of test-source; tests bump it to see
// that a version change reruns the stage.
var SourceVersion = "1"

var once sync.Once

// Register registers the test kinds (once per process).
func Register() {
	once.Do(func() {
		stages.Register(source{})
		stages.Register(sum{})
		stages.Register(file{})
		stages.Register(fail{})
	})
}

// logRun records that stage ran, for tests counting executions.
func logRun(stage string) error {
	path := os.Getenv("SELECTIVITY_TEST_LOG")
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintln(f, stage)
	return err
}

// Runs reads the execution log: how often each stage ran.
func Runs(path string) map[string]int {
	n := map[string]int{}
	b, _ := os.ReadFile(path)
	for _, line := range strings.Fields(string(b)) {
		n[line]++
	}
	return n
}

// SourceParams are test-source's parameters.
type SourceParams struct {
	Value float64 `yaml:"value" doc:"the value written"`
	N     int     `yaml:"n" min:"1" max:"1000" doc:"how many lines"`
	Mode  string  `yaml:"mode" oneof:"plain doubled"`
	Bytes int64   `yaml:"bytes" min:"0" doc:"size of an extra blob.bin"`
	Delay int     `yaml:"delay_ms" min:"0" doc:"pause after each MiB of blob.bin"`
	Chunk int     `yaml:"chunk" key:"-" doc:"a setting that cannot change the results"`
	// Hold keeps the stage running this long after writing (or until
	// cancelled), outside the key: a test can kill it mid-stage and
	// rerun the same key without the wait.
	Hold time.Duration `yaml:"hold" key:"-" doc:"wait this long after writing"`
}

type source struct{}

func (source) Name() string    { return "test-source" }
func (source) Version() string { return SourceVersion }
func (source) Doc() string     { return "writes n lines of a value (tests only)" }
func (source) NewParams() any  { return &SourceParams{Value: 1, N: 3, Mode: "plain"} }
func (source) Inputs() []stages.Slot {
	return nil
}

func (source) Run(ctx context.Context, job *stages.Job) error {
	p := job.Params.(*SourceParams)
	if err := logRun(job.Stage); err != nil {
		return err
	}
	v := p.Value
	if p.Mode == "doubled" {
		v *= 2
	}
	var b strings.Builder
	for range p.N {
		fmt.Fprintf(&b, "%g\n", v)
	}
	if err := os.WriteFile(job.Output("values.txt"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	if p.Hold > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(p.Hold):
		}
	}
	if p.Bytes == 0 {
		return nil
	}
	f, err := os.Create(job.Output("blob.bin"))
	if err != nil {
		return err
	}
	defer f.Close()
	bar := job.Progress.Bar("blob", "MiB", (p.Bytes+(1<<20)-1)>>20)
	defer bar.Done()
	chunk := make([]byte, 1<<20)
	for left := p.Bytes; left > 0; left -= int64(len(chunk)) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := f.Write(chunk[:min(left, int64(len(chunk)))]); err != nil {
			return err
		}
		bar.Add(1)
		time.Sleep(time.Duration(p.Delay) * time.Millisecond)
	}
	return f.Close()
}

// SumParams are test-sum's parameters.
type SumParams struct {
	Scale float64 `yaml:"scale"`
}

type sum struct{}

func (sum) Name() string    { return "test-sum" }
func (sum) Version() string { return "1" }
func (sum) Doc() string     { return "sums its inputs' values.txt into its own (tests only)" }
func (sum) NewParams() any  { return &SumParams{Scale: 1} }
func (sum) Inputs() []stages.Slot {
	return []stages.Slot{{Name: "in", Required: true, Many: true, Doc: "stages with values.txt"}}
}

func (sum) Run(ctx context.Context, job *stages.Job) error {
	if err := logRun(job.Stage); err != nil {
		return err
	}
	total := 0.0
	var names []string
	for _, in := range job.Inputs["in"] {
		if !slices.Contains(in.Files, "values.txt") {
			return fmt.Errorf("input %s lists files %v, without values.txt", in.Stage, in.Files)
		}
		f, err := os.Open(in.Path("values.txt"))
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			x, err := strconv.ParseFloat(sc.Text(), 64)
			if err != nil {
				f.Close()
				return fmt.Errorf("%s: %w", in.Path("values.txt"), err)
			}
			total += x
		}
		f.Close()
		names = append(names, in.Stage)
	}
	out := fmt.Sprintf("%g\n", total*job.Params.(*SumParams).Scale)
	if err := os.WriteFile(job.Output("values.txt"), []byte(out), 0o644); err != nil {
		return err
	}
	return os.WriteFile(job.Output("inputs.txt"), []byte(strings.Join(names, " ")+"\n"), 0o644)
}

// FileParams are test-file's parameters.
type FileParams struct {
	File stages.Path `yaml:"file" required:"true"`
}

type file struct{}

func (file) Name() string          { return "test-file" }
func (file) Version() string       { return "1" }
func (file) Doc() string           { return "copies a file or lists a folder (tests only)" }
func (file) NewParams() any        { return &FileParams{} }
func (file) Inputs() []stages.Slot { return nil }

func (file) Run(ctx context.Context, job *stages.Job) error {
	if err := logRun(job.Stage); err != nil {
		return err
	}
	path := string(job.Params.(*FileParams).File)
	b, err := os.ReadFile(path)
	if err != nil {
		ents, derr := os.ReadDir(path)
		if derr != nil {
			return err
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		b = []byte(strings.Join(names, "\n"))
	}
	return os.WriteFile(job.Output("copy.txt"), b, 0o644)
}

// FailParams are test-fail's parameters.
type FailParams struct {
	Message string `yaml:"message"`
	Panic   bool   `yaml:"panic"`
}

type fail struct{}

func (fail) Name() string    { return "test-fail" }
func (fail) Version() string { return "1" }
func (fail) Doc() string     { return "fails (tests only)" }
func (fail) NewParams() any  { return &FailParams{Message: "failed on purpose"} }
func (fail) Inputs() []stages.Slot {
	return []stages.Slot{{Name: "in", Many: true}}
}

func (fail) Run(ctx context.Context, job *stages.Job) error {
	p := job.Params.(*FailParams)
	if err := os.WriteFile(job.Output("partial.txt"), []byte("half"), 0o644); err != nil {
		return err
	}
	if p.Panic {
		panic(p.Message)
	}
	return errors.New(p.Message)
}
