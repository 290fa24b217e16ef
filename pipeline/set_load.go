package pipeline

import (
	"io"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// applySets applies the --set overrides to the experiment's params and to
// the stages' params mappings, before anything is interpolated. The nodes
// of an override carry line -(i+1) for the i-th flag, so that problems
// with them name the flag instead of a place in the file.
func (l *loader) applySets() {
	for i, s := range l.opt.Set {
		at := &yaml.Node{Kind: yaml.ScalarNode, Line: -(i + 1)}
		key, val, ok := strings.Cut(s, "=")
		if !ok {
			l.errorf(at, "want PATH=VALUE")
			continue
		}
		key = strings.TrimSpace(key)
		add := strings.HasPrefix(key, "+") // Hydra's +key=value: add a parameter
		key = strings.TrimPrefix(key, "+")
		segs := strings.Split(key, ".")
		if slices.Contains(segs, "") {
			l.errorf(at, "empty name in %q", key)
			continue
		}
		var target *yaml.Node
		switch {
		case len(segs) >= 2 && segs[0] == "params":
			target = l.params
			segs = segs[1:]
		case add:
			l.errorf(at, "+ adds experiment parameters only: +params.NAME=VALUE")
			continue
		case len(segs) >= 4 && segs[0] == "stages" && segs[2] == "params":
			d := l.byBase[segs[1]]
			if d == nil {
				var names []string
				for _, d := range l.defs {
					names = append(names, d.name)
				}
				l.errorf(at, "no stage %q%s", segs[1], suggest(segs[1], names))
				continue
			}
			if isNull(d.params) {
				d.params = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: at.Line}
			}
			if d.params.Kind != yaml.MappingNode {
				l.errorf(at, "stage %s's params: is %s, not a mapping of keys to values", d.name, describeNode(d.params))
				continue
			}
			target = d.params
			segs = segs[3:]
			add = true // the kind's decoder reports unknown stage parameters
		default:
			l.errorf(at, "want params.NAME=VALUE or stages.STAGE.params.KEY=VALUE")
			continue
		}
		if v := l.parseSetValue(val, at); v != nil {
			l.setPath(target, segs, v, at, add)
		}
	}
}

// parseSetValue parses a --set value as YAML; an empty value is "".
func (l *loader) parseSetValue(val string, at *yaml.Node) *yaml.Node {
	var doc yaml.Node
	dec := yaml.NewDecoder(strings.NewReader(val))
	if err := decodeSafely(dec, &doc); err != nil || len(doc.Content) == 0 {
		if err == nil || err == io.EOF {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Line: at.Line}
		}
		l.errorf(at, "bad value: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		return nil
	}
	var mark func(n *yaml.Node)
	mark = func(n *yaml.Node) {
		n.Line, n.Column = at.Line, 0
		for _, c := range n.Content {
			mark(c)
		}
	}
	mark(&doc)
	x := &aliasExpander{l: l, budget: maxAliasNodes, active: map[*yaml.Node]bool{}}
	return x.expand(doc.Content[0], false)
}

// setPath sets the value at keys below mapping n. With add it makes the
// keys (and mappings on the way) that are missing; without, a missing key
// is an error, so that a typo cannot pass unnoticed.
func (l *loader) setPath(n *yaml.Node, keys []string, v *yaml.Node, at *yaml.Node, add bool) {
	for i, k := range keys {
		next := mapGet(n, k)
		switch {
		case next == nil && !add:
			var have []string
			for j := 0; j+1 < len(n.Content); j += 2 {
				have = append(have, n.Content[j].Value)
			}
			l.errorf(at, "no parameter params.%s%s; write +params.%s=VALUE to add one",
				strings.Join(keys[:i+1], "."), suggest(k, have), strings.Join(keys, "."))
			return
		case i == len(keys)-1 && next != nil:
			for j := 0; j+1 < len(n.Content); j += 2 {
				if n.Content[j+1] == next {
					n.Content[j+1] = v
				}
			}
			return
		case next == nil:
			next = v
			if i < len(keys)-1 {
				next = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: at.Line}
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k, Line: at.Line}, next)
		case next.Kind != yaml.MappingNode:
			l.errorf(at, "%s is %s, not a mapping", strings.Join(keys[:i+1], "."), describeNode(next))
			return
		}
		n = next
	}
}
