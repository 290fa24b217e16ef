package slurm

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"selectivity/stages"
)

// Options are an experiment file's executor.slurm: mapping.
type Options struct {
	// Partition is where every job goes ("": the cluster's default).
	Partition string `yaml:"partition" doc:"partition of every job (default: the cluster's default partition)"`
	// Sbatch are extra sbatch flags for every job ("--account=lab").
	Sbatch []string `yaml:"sbatch" doc:"extra sbatch flags for every job, e.g. [--account=lab, --qos=normal]"`
	// Poll is how often the driver asks squeue.
	Poll time.Duration `yaml:"poll" doc:"how often the driver asks Slurm for its jobs' states"`
	// Kinds override the default requests of a stage kind's jobs.
	Kinds map[string]Resources `yaml:"kinds" doc:"requests by stage kind, over the defaults: {extract: {cpus: 16, mem: 32G}}"`
}

// NewOptions returns the defaults.
func NewOptions() *Options { return &Options{Poll: 5 * time.Second} }

// Resources are one job's requests; zero values take the defaults.
type Resources struct {
	CPUs      int      `yaml:"cpus" min:"0" doc:"cores (--cpus-per-task; 0: the default); the stage uses that many threads"`
	Mem       string   `yaml:"mem" doc:"memory (--mem), in Slurm's units: 8G, 500M"`
	Time      string   `yaml:"time" doc:"time limit (--time), in Slurm's formats: 4:00:00, 1-00:00:00, 90"`
	Partition string   `yaml:"partition" doc:"partition, over executor.slurm.partition"`
	Sbatch    []string `yaml:"sbatch" doc:"extra sbatch flags, after executor.slurm.sbatch"`
}

// Defaults are the requests of each kind's jobs where the experiment file
// sets none: network passes (extract, lesion, train) get most cores and
// memory, the statistics fewer, the small stages one core. A default
// asks at most for the largest node of the partition (Fit).
var Defaults = map[string]Resources{
	"train":       {CPUs: 16, Mem: "16G", Time: "24:00:00"},
	"extract":     {CPUs: 16, Mem: "16G", Time: "8:00:00"},
	"lesion":      {CPUs: 16, Mem: "16G", Time: "8:00:00"},
	"metric":      {CPUs: 8, Mem: "8G", Time: "4:00:00"},
	"aggregate":   {CPUs: 4, Mem: "4G", Time: "4:00:00"},
	"reliability": {CPUs: 8, Mem: "8G", Time: "4:00:00"},
	"permutation": {CPUs: 8, Mem: "8G", Time: "4:00:00"},
	"bootstrap":   {CPUs: 8, Mem: "8G", Time: "4:00:00"},
	"variants":    {CPUs: 8, Mem: "8G", Time: "4:00:00"},
	"decode":      {CPUs: 4, Mem: "4G", Time: "2:00:00"},
}

// fallback is the request of the kinds Defaults does not name (stimuli,
// model, correlate, report, …).
var fallback = Resources{CPUs: 1, Mem: "2G", Time: "1:00:00"}

// For returns the requests of a kind's jobs: the file's over the defaults,
// the defaults cut to a node of cpus cores and memMB MB (0: no cut). What
// the file asks for is passed as written: Slurm refuses what no node has.
func (o *Options) For(kind string, cpus, memMB int) Resources {
	r, ok := Defaults[kind]
	if !ok {
		r = fallback
	}
	if cpus > 0 {
		r.CPUs = min(r.CPUs, cpus)
	}
	if mb, ok := megabytes(r.Mem); ok && memMB > 0 && mb > memMB {
		r.Mem = strconv.Itoa(memMB) + "M"
	}
	r.Partition = o.Partition
	r.Sbatch = slices.Clone(o.Sbatch)
	if w, ok := o.Kinds[kind]; ok {
		if w.CPUs > 0 {
			r.CPUs = w.CPUs
		}
		if w.Mem != "" {
			r.Mem = w.Mem
		}
		if w.Time != "" {
			r.Time = w.Time
		}
		if w.Partition != "" {
			r.Partition = w.Partition
		}
		r.Sbatch = append(r.Sbatch, w.Sbatch...)
	}
	return r
}

func (r Resources) flags() []string {
	var f []string
	if r.CPUs > 0 {
		f = append(f, fmt.Sprintf("--cpus-per-task=%d", r.CPUs))
	}
	if r.Mem != "" {
		f = append(f, "--mem="+r.Mem)
	}
	if r.Time != "" {
		f = append(f, "--time="+r.Time)
	}
	if r.Partition != "" {
		f = append(f, "--partition="+r.Partition)
	}
	return append(f, r.Sbatch...)
}

// key identifies equal requests, so that only jobs asking alike share an array.
func (r Resources) key() string { return strings.Join(r.flags(), "\x00") }

// Same reports whether a and b ask for the same.
func Same(a, b Resources) bool { return a.key() == b.key() }

var (
	memRE  = regexp.MustCompile(`^([0-9]+)([KMGT]?)$`)
	timeRE = regexp.MustCompile(`^([0-9]+-)?[0-9]+(:[0-9]{1,2}){0,2}$`)
)

// megabytes reads a --mem value.
func megabytes(s string) (int, bool) {
	m := memRE.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return 0, false
	}
	switch m[2] {
	case "K":
		return n / 1024, true
	case "G":
		return n * 1024, true
	case "T":
		return n * 1024 * 1024, true
	}
	return n, true
}

// Validate checks the kinds named, memory sizes, time limits and flags.
func (o *Options) Validate() []stages.FieldError {
	var errs []stages.FieldError
	for _, k := range slices.Sorted(maps.Keys(o.Kinds)) {
		if _, ok := stages.Lookup(k); !ok {
			errs = append(errs, stages.FieldError{Field: "kinds." + k, Msg: fmt.Sprintf("unknown kind %q; known kinds: %s", k, strings.Join(stages.Names(), ", "))})
			continue
		}
		r := o.Kinds[k]
		if _, ok := megabytes(r.Mem); r.Mem != "" && !ok {
			errs = append(errs, stages.FieldError{Field: "kinds." + k + ".mem", Msg: fmt.Sprintf("%q is not a memory size: want a number of MB, or one ending in K, M, G or T (8G)", r.Mem)})
		}
		if r.Time != "" && !timeRE.MatchString(r.Time) {
			errs = append(errs, stages.FieldError{Field: "kinds." + k + ".time", Msg: fmt.Sprintf("%q is not a Slurm time limit: want minutes, M:S, H:M:S or D-H[:M[:S]] (4:00:00)", r.Time)})
		}
		errs = append(errs, checkFlags("kinds."+k+".sbatch", r.Sbatch)...)
	}
	if o.Poll <= 0 {
		errs = append(errs, stages.FieldError{Field: "poll", Msg: fmt.Sprintf("%v: want a positive duration (5s)", o.Poll)})
	}
	return append(errs, checkFlags("sbatch", o.Sbatch)...)
}

// owned are the sbatch flags the driver sets itself.
var owned = []string{"--array", "--dependency", "--output", "--error", "--job-name", "--parsable", "--chdir", "--wrap", "--open-mode"}

func checkFlags(field string, flags []string) []stages.FieldError {
	var errs []stages.FieldError
	for i, f := range flags {
		name, _, _ := strings.Cut(f, "=")
		switch {
		case !strings.HasPrefix(f, "--"):
			errs = append(errs, stages.FieldError{Field: fmt.Sprintf("%s[%d]", field, i), Msg: fmt.Sprintf("%q: want a long sbatch flag with its value, --name=value", f)})
		case slices.Contains(owned, name):
			errs = append(errs, stages.FieldError{Field: fmt.Sprintf("%s[%d]", field, i), Msg: fmt.Sprintf("%s is set by the driver for every job", name)})
		}
	}
	return errs
}
