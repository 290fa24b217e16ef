package pipeline

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadProblems checks one kind of problem at a time: each file's
// problems, exactly, as "line:col: start of message".
func TestLoadProblems(t *testing.T) {
	src := "  s: {kind: load-source}\n"
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"syntax scanner", "stages:\n  a: \"open\n", []string{`2:6: YAML: the string opened by " here is never closed (found unexpected end of stream)`}},
		{"unclosed quote on line 1", "name: 'x\nstages:\n  a: 1\n", []string{`1:7: YAML: the string opened by ' here is never closed`}},
		{"tab", "stages:\n  a:\n\tkind: x\n", []string{`3:1: YAML: a tab character: YAML indents with spaces, never tabs`}},
		{"results is a file", "results: exp.yaml\nstages:\n" + src, []string{`1:10: results: `}},
		{"cache is a file", "cache: exp.yaml\nstages:\n" + src, []string{`1:8: cache: `}},
		{"syntax parser", "stages:\n  a:\n    - x\n   y: 2\n", []string{`4:1: YAML: did not find expected key`}},
		{"syntax first line", "a: b: c\n", []string{`1:1: YAML: mapping values are not allowed in this context`}},
		{"unknown anchor", "stages:\n  a: *nope\n", []string{`2:6: YAML: unknown anchor 'nope' referenced`}},
		{"empty", "", []string{`1:1: empty experiment file`}},
		{"comment only", "# nothing\n", []string{`1:1: empty experiment file`}},
		{"two documents", "stages: {}\n---\nx: 1\n", []string{`2:1: an experiment file holds one YAML document`}},
		{"not a mapping", "- a\n", []string{`1:1: want a mapping with stages: at the top of the file, got a list`}},
		{"no stages", "name: x\n", []string{`1:1: missing stages:`}},
		{"empty stages", "stages: {}\n", []string{`1:9: stages: no stages`}},
		{"unsafe name", "name: ../x\nstages:\n" + src, []string{`1:7: name: "../x" is not a safe name`}},
		{"missing kind", "stages:\n  a: {params: {}}\n  b:\n", []string{`2:3: stage a: missing kind:`, `3:3: stage b: missing kind:`}},
		{"stage not a mapping", "stages:\n  a: [1]\n", []string{`2:6: stage a: want a mapping with kind:, got a list`}},
		{"bad stage names", "stages:\n  a.b: {kind: load-source}\n  Ab: {kind: load-source}\n  aB: {kind: load-source}\n  " + strings.Repeat("x", 65) + ": {kind: load-source}\n",
			[]string{`2:3: invalid stage name "a.b"`, `4:3: stage names Ab and aB differ only in case`, `5:3: invalid stage name "xxx`}},
		{"case clash of expansions", "stages:\n  m:\n    kind: load-source\n    matrix: {v: [A, a]}\n", []string{`4:5: stage names m@A and m@a differ only in case`}},
		{"exclude misspelt", "stages:\n  m:\n    kind: load-source\n    matrix: {v: [a, b], excludes: [{v: a}]}\n",
			[]string{`4:25: matrix key "excludes": did you mean exclude?`}},
		{"colliding expansions", "stages:\n  m:\n    kind: load-source\n    matrix: {a: [x-y, x], b: [z, y-z]}\n", []string{`4:5: stage name m@x-y-z is given twice`}},
		{"matrix problems", `
stages:
  m:
    kind: load-source
    matrix:
      v: []
      w: a
      x: [a/b, null, {a: 1}]
      "9": [a]
`, []string{
			`6:10: matrix.v: want a non-empty list of values, got a list`,
			`7:10: matrix.w: want a non-empty list of values, got string "a"`,
			`8:11: matrix.x: value "a/b" is not safe in a stage name`,
			`8:16: matrix.x: want a scalar value, got null`,
			`8:22: matrix.x: want a scalar value, got a mapping`,
			`9:7: invalid matrix key "9"`,
		}},
		{"exclude problems", `
stages:
  m:
    kind: load-source
    matrix:
      a: [x, y]
      exclude: [{a: z}, {b: x}, 3]
`, []string{
			`7:21: matrix.exclude: string "z" is not a value of a (values: x, y)`,
			`7:26: matrix.exclude: unknown matrix key "b"; keys: a`,
			`7:33: matrix.exclude: want a mapping of matrix keys to values, got number 3`,
		}},
		{"exclude everything", "stages:\n  m:\n    kind: load-source\n    matrix: {a: [x], exclude: [{a: x}]}\n", []string{`4:5: matrix: exclude removes every combination`}},
		{"too many combinations", "stages:\n  m:\n    kind: load-source\n    matrix: {a: [1,2,3,4,5,6,7,8,9,10], b: [1,2,3,4,5,6,7,8,9,10], c: [1,2,3,4,5,6,7,8,9,10], d: [1,2,3,4,5,6,7,8,9,10], e: [1, 2]}\n",
			[]string{`4:5: matrix: more than 10000 combinations`}},
		{"matrix from params", "params: {nets: [a, b], one: c}\nstages:\n  m:\n    kind: load-source\n    matrix: {n: \"${params.nets}\", o: [\"${params.one}\", \"${matrix.n}\"]}\n  r:\n    kind: load-correlate\n    inputs: {values: m@a-x}\n    params: {key: k}\n",
			[]string{`5:56: ${matrix.n}: matrix values cannot use it`}},
		{"references", `
stages:
  s: {kind: load-source}
  m:
    kind: load-source
    matrix: {v: [a, b]}
  r:
    kind: load-correlate
    inputs:
      values: [s@x, m@c, "m@[", "", m@b]
      ref: m
    params: {key: k}
`, []string{
			`10:16: stage s has no matrix; refer to it as s`,
			`10:21: no expansion "m@c" (did you mean "m@a"?); expansions: m@a, m@b`,
			`10:26: bad pattern "m@["`,
			`10:33: want a stage name, got string ""`,
			`11:12: inputs.ref: slot takes one stage, got 2: m@a, m@b`,
		}},
		{"inputs problems", `
stages:
  s: {kind: load-source, inputs: {x: y}}
  r:
    kind: load-correlate
    inputs: {values: [], ref: {a: b}}
    params: {key: k}
  q: {kind: load-correlate, inputs: [values], params: {key: k}}
`, []string{
			`3:35: kind load-source takes no inputs`,
			`6:22: inputs.values: want a stage name or a list of them, got a list`,
			`6:31: inputs.ref: want a stage name or a list of them, got a mapping`,
			`8:29: stage q: missing required input "values" (kind load-correlate)`,
			`8:37: inputs: want a mapping of slots to stages, got a list`,
		}},
		{"interpolation problems", `
params: {a: [1, 2], m: {x: 1}, s: str}
stages:
  s:
    kind: load-source
    params:
      label: "x${params.a}"
      seed: "${params.m.y}"
      n: "${params.s.x}"
      weights: "${oops}"
  t:
    kind: load-source
    params: {label: "${params.a", seed: "${params.a.5}", n: "${env:1X}", weights: "${params..a}"}
`, []string{
			`7:14: ${params.a} is a list: only a value that is exactly one reference can become a list or mapping`,
			`8:13: ${params.m.y}: no parameter params.m.y`,
			`9:10: ${params.s.x}: params.s is string "str", not a mapping`,
			`10:16: unknown reference ${oops}: want ${params.NAME}, ${matrix.KEY} or ${env:NAME}`,
			`13:21: unterminated reference in "${params.a": ${ without }`,
			`13:41: ${params.a.5}: params.a is a list of 2; want an index from 0`,
			`13:61: ${env:1X}: bad environment variable name "1X"`,
			`13:83: ${params..a}: empty name in parameter path`,
		}},
		{"params problems", `
params:
  a: ${params.b}
  b: {c: "${params.a.c}"}
  d: ${params.dd}
  e: [1, "${params.e.0}"]
  f: {1: 2, 1: 3}
stages:
  s: {kind: load-source}
`, []string{
			`3:6: params reference cycle: params.a → params.b → params.b.c → params.a`,
			`5:6: ${params.dd}: no parameter params.dd (did you mean "d"?)`,
			`7:13: duplicate key "1" (first at line 7)`,
		}},
		{"param types", `
stages:
  m:
    kind: load-metric
    inputs: {acts: s}
    params:
      threshold: [1]
      scales: [1, -2, .nan, x]
      layers: {a: b}
      opts: 3
      groups: {a: x, b: [], a: [y]}
      timeout: 5
      any: {x: [1, 2]}
      ptr: 3
      small: 300
      extra: w
      files: {b: [x]}
  s:
    kind: load-source
    params: {seed: 1.5, n: 99999999999999999999999, label: [x]}
  n:
    kind: load-noparams
    params: {x: 1}
`, []string{
			`7:18: params.threshold: want a number, got a list`,
			`8:19: params.scales[1]: must be at least 0, got -2`,
			`8:23: params.scales[2]: must be a number, got NaN`,
			`8:29: params.scales[3]: want a number, got string "x"`,
			`9:15: params.layers: want a list, got a mapping`,
			`10:13: params.opts: want a mapping, got number 3`,
			`11:19: params.groups.a: want a list, got string "x"`,
			`11:29: params.groups.a: duplicate key (first at line 11)`,
			`12:16: params.timeout: want a duration such as "1m30s", got number 5`,
			`15:14: params.small: 300 is out of range for uint8`,
			`16:14: params.extra: want a list, got string "w"`,
			`17:18: params.files.b: want a path, got a list`,
			`20:20: params.seed: want an integer, got number 1.5`,
			`20:28: params.n: want an integer, got number 99999999999999999999999`,
			`20:60: params.label: want a string, got a list`,
			`23:13: params: kind load-noparams takes no parameters`,
		}},
		{"validator", `
stages:
  m:
    kind: load-metric
    inputs: {acts: s}
    params: {aggregation: max, threshold: 0.9, groups: {faces: [], houses: [h]}}
  n:
    kind: load-metric
    inputs: {acts: s}
    params:
      aggregation: max
  s: {kind: load-source}
`, []string{
			`6:43: params.threshold: must be at most 0.5 with aggregation max`,
			`6:64: params.groups.faces: empty group`,
		}},
		{"required", `
stages:
  r: {kind: load-correlate, inputs: {values: s}}
  q:
    kind: load-correlate
    inputs: {values: s}
    params: {method: kendall}
  m:
    kind: load-metric
    inputs: {acts: s}
    params: {opts: {depth: 0}}
  s: {kind: load-source}
`, []string{
			`3:3: params.key: missing required parameter`,
			`7:5: params.key: missing required parameter`,
			`7:22: params.method: must be one of pearson, spearman; got "kendall"`,
			`11:20: params.opts.mode: missing required parameter`,
			`11:28: params.opts.depth: must be at least 1, got 0`,
		}},
		{"aliases", "params:\n  a: &x [*x]\nstages:\n" + src, []string{`2:10: alias *x is inside its own anchor`}},
		{"billion laughs", "params:\n  a: &a [x, x, x, x, x, x, x, x, x, x]\n  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n  f: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\nstages:\n" + src,
			[]string{`6:38: aliases expand to more than 100000 nodes`}},
		{"merge keys", "params:\n  a: {<<: 3}\nstages:\n" + src, []string{`2:11: << wants a mapping or a list of mappings, got number 3`}},
		{"folders", "cache: out\nresults: out/r\nstages:\n" + src, []string{`2:1: the cache folder`}},
		{"bad folders", "cache: [a]\nresults: \"\"\nstages:\n" + src, []string{`1:8: cache: want a folder, got a list`, `2:10: results: want a folder, got string ""`}},
		{"executor problems", `
executor:
  kind: cluster
  slurm:
    poll: 0s
    partiton: x
    sbatch: [-A lab, --array=0-3]
    kinds:
      extrac: {cpus: 2}
      load-source: {cpus: -1, mem: 8GB, time: "4h", sbatch: [--qos=x]}
stages:
` + src, []string{
			`3:9: executor.kind: must be one of local, slurm`,
			`5:11: executor.slurm.poll: 0s: want a positive duration (5s)`,
			`6:5: executor.slurm.partiton: unknown parameter`,
			`7:14: executor.slurm.sbatch[0]: "-A lab": want a long sbatch flag with its value, --name=value`,
			`7:22: executor.slurm.sbatch[1]: --array is set by the driver for every job`,
			`9:15: executor.slurm.kinds.extrac: unknown kind "extrac"`,
			`10:27: executor.slurm.kinds.load-source.cpus: must be at least 0, got -1`,
			`10:36: executor.slurm.kinds.load-source.mem: "8GB" is not a memory size`,
			`10:47: executor.slurm.kinds.load-source.time: "4h" is not a Slurm time limit`,
		}},
		{"top-level types", "name: [x]\ndescription: {a: 1}\nparams: [1]\nstages:\n" + src, []string{
			`1:7: name: want a name, got a list`, `2:14: description: want text, got a mapping`, `3:9: params: want a mapping, got a list`}},
		{"duplicate keys", "stages:\n  s: {kind: load-source, kind: load-source}\nstages: {}\n", []string{
			`2:26: duplicate key "kind" (first at line 2)`, `3:1: duplicate key "stages" (first at line 1)`}},
		{"matrix errors differ by expansion", `
stages:
  m:
    kind: load-extract
    matrix: {net: [trained, other, third]}
    inputs: {stimuli: "s@${matrix.net}"}
    params: {net: "${matrix.net}"}
  s:
    kind: load-source
    matrix: {net: [trained]}
`, []string{
			`6:23: no expansion "s@other"; expansions: s@trained (in m@other)`,
			`6:23: no expansion "s@third"; expansions: s@trained (in m@third)`,
			`7:19: params.net: must be one of trained, untrained; got "other" (in m@other)`,
			`7:19: params.net: must be one of trained, untrained; got "third" (in m@third)`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err, dir := loadString(t, tc.text, LoadOptions{Env: envOf(nil)})
			checkProblems(t, err, filepath.Join(dir, "exp.yaml"), tc.want)
		})
	}
}
