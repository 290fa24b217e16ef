package pipeline

import (
	"gopkg.in/yaml.v3"

	"selectivity/pipeline/slurm"
)

// Executor is an experiment file's executor: mapping — where its stages
// run. It never enters a key: a stage's results are the same wherever it
// runs.
//
//	executor:
//	  kind: slurm                 # local (the default) or slurm; run --executor overrides it
//	  slurm:
//	    partition: cpu
//	    sbatch: [--account=lab]
//	    kinds: {extract: {cpus: 16, mem: 32G, time: "8:00:00"}}
type Executor struct {
	Kind  string        `yaml:"kind" oneof:"local slurm" doc:"where stages run: local (this process) or slurm (cluster jobs)"`
	Slurm slurm.Options `yaml:"slurm" doc:"the Slurm jobs' requests (see pipeline/slurm)"`
}

// decodeExecutor decodes the executor: mapping n (nil: not written) with
// the parameter decoder's rules and messages ("executor.slurm.kinds…").
func (l *loader) decodeExecutor(n *yaml.Node, at *yaml.Node) Executor {
	x := Executor{Kind: "local", Slurm: *slurm.NewOptions()}
	if n == nil || isNull(n) {
		return x
	}
	n = l.interp(n, &interpScope{noMatrix: "executor: has no matrix"})
	d := &paramDecoder{l: l, root: "executor", nodes: map[string]*yaml.Node{}}
	d.decodeValue(&x, n, at)
	if !d.failed {
		for _, fe := range x.Slurm.Validate() {
			f := "slurm." + fe.Field
			at := d.nodeFor(f)
			if at == nil {
				at = n
			}
			l.errorf(at, "%s: %s", d.label(f), fe.Msg)
		}
	}
	return x
}
