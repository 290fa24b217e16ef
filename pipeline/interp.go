package pipeline

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Interpolation: string scalars may hold ${params.PATH}, ${matrix.KEY} and
// ${env:NAME} (or ${env:NAME:-default}); $${ is a literal ${. A scalar that
// is exactly one reference becomes the referenced value, type and all; a
// reference inside a longer string substitutes the value's text, and the
// result is typed as if that text had been written there (so a plain
// ${params.k}000 is a number, a quoted one a string). Mapping keys are
// never interpolated.
//
// Experiment params may refer to each other: they are resolved on demand,
// each once (memoized by node), and a reference back into a param being
// resolved is reported as a cycle.

// interpScope says which references a value may use.
type interpScope struct {
	matrix   map[string]*yaml.Node // ${matrix.KEY} values; nil: not allowed
	keys     []string              // the matrix keys in order, for messages
	noMatrix string                // why ${matrix.*} is not allowed
}

var paramScope = &interpScope{noMatrix: "experiment params cannot use it"}

// interp returns n with every reference in its string scalars substituted.
// n is not modified; parts that change are copied. Problems are reported
// and the failed values replaced by bad nodes.
func (l *loader) interp(n *yaml.Node, sc *interpScope) *yaml.Node {
	if _, ok := l.pnodes[n]; ok {
		return l.resolveParam(n)
	}
	return l.interpNode(n, sc)
}

// interpNode is interp without the params memo.
func (l *loader) interpNode(n *yaml.Node, sc *interpScope) *yaml.Node {
	switch n.Kind {
	case yaml.MappingNode, yaml.SequenceNode:
		var c *yaml.Node
		for i, ch := range n.Content {
			if n.Kind == yaml.MappingNode && i%2 == 0 {
				continue
			}
			if r := l.interp(ch, sc); r != ch {
				if c == nil {
					cp := *n
					cp.Content = slices.Clone(n.Content)
					c = &cp
				}
				c.Content[i] = r
			}
		}
		if c != nil {
			return c
		}
	case yaml.ScalarNode:
		if n.ShortTag() == "!!str" && strings.Contains(n.Value, "${") {
			return l.interpScalar(n, sc)
		}
	}
	return n
}

// ref is a piece of a scalar: literal text, or the inside of a ${...}.
type refPart struct {
	text  string
	isRef bool
}

// splitRefs cuts s into literal text and references.
func splitRefs(s string) ([]refPart, error) {
	var parts []refPart
	var lit strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			lit.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			j := strings.IndexByte(s[i+2:], '}')
			if j < 0 {
				return nil, fmt.Errorf("unterminated reference in %q: ${ without }", s)
			}
			if lit.Len() > 0 {
				parts = append(parts, refPart{text: lit.String()})
				lit.Reset()
			}
			parts = append(parts, refPart{text: s[i+2 : i+2+j], isRef: true})
			i += j + 3
		default:
			lit.WriteByte(s[i])
			i++
		}
	}
	if lit.Len() > 0 || len(parts) == 0 {
		parts = append(parts, refPart{text: lit.String()})
	}
	return parts, nil
}

func (l *loader) interpScalar(n *yaml.Node, sc *interpScope) *yaml.Node {
	parts, err := splitRefs(n.Value)
	if err != nil {
		l.errorf(n, "%v", err)
		return badNode(n)
	}
	if len(parts) == 1 && parts[0].isRef {
		v := l.deref(parts[0].text, n, sc)
		if v == nil {
			return badNode(n)
		}
		c := *v
		c.Line, c.Column = n.Line, n.Column
		l.orig[&c] = n.Value
		if v.Line < 0 { // a --set value: problems with it name the flag
			l.fromSet[&c] = -v.Line
		} else if i, ok := l.fromSet[v]; ok {
			l.fromSet[&c] = i
		}
		return &c
	}
	var b strings.Builder
	ok := true
	for _, p := range parts {
		if !p.isRef {
			b.WriteString(p.text)
			continue
		}
		switch v := l.deref(p.text, n, sc); {
		case v == nil:
			ok = false
		case v.Kind != yaml.ScalarNode:
			l.errorf(n, "${%s} is %s: only a value that is exactly one reference can become a list or mapping", p.text, describeNode(v))
			ok = false
		default:
			b.WriteString(v.Value)
		}
	}
	if !ok {
		return badNode(n)
	}
	// The text is typed as if written in place: plain "${params.k}000" is
	// a number, quoted "${params.k}000" a string.
	c := &yaml.Node{Kind: yaml.ScalarNode, Value: b.String(), Style: n.Style, Line: n.Line, Column: n.Column}
	if n.Style&(yaml.TaggedStyle|yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		c.Tag = "!!str"
	}
	l.orig[c] = n.Value
	return c
}

// deref returns the value of one reference written at n, or nil after
// reporting why there is none.
func (l *loader) deref(r string, n *yaml.Node, sc *interpScope) *yaml.Node {
	switch {
	case strings.HasPrefix(r, "params."):
		segs := strings.Split(strings.TrimPrefix(r, "params."), ".")
		if slices.Contains(segs, "") {
			l.errorf(n, "${%s}: empty name in parameter path", r)
			return nil
		}
		return l.lookupParam(r, segs, n)
	case strings.HasPrefix(r, "matrix."):
		key := strings.TrimPrefix(r, "matrix.")
		if sc.matrix == nil {
			l.errorf(n, "${%s}: %s", r, sc.noMatrix)
			return nil
		}
		if v := sc.matrix[key]; v != nil {
			return v
		}
		l.errorf(n, "${%s}: no matrix key %q%s; keys: %s", r, key, suggest(key, sc.keys), strings.Join(sc.keys, ", "))
		return nil
	case strings.HasPrefix(r, "env:"):
		name, def, hasDef := strings.Cut(strings.TrimPrefix(r, "env:"), ":-")
		if !envNameRE.MatchString(name) {
			l.errorf(n, "${%s}: bad environment variable name %q", r, name)
			return nil
		}
		v, ok := l.env(name)
		if !ok || hasDef && v == "" {
			if !hasDef {
				l.errorf(n, "${%s}: environment variable %s is not set", r, name)
				return nil
			}
			v = def
		}
		// No tag: typed like a plain scalar written in the file.
		return &yaml.Node{Kind: yaml.ScalarNode, Value: v, Line: n.Line, Column: n.Column}
	}
	l.errorf(n, "unknown reference ${%s}: want ${params.NAME}, ${matrix.KEY} or ${env:NAME}", r)
	return nil
}

// resolveParams indexes the experiment's params and resolves them all, so
// that their problems are reported once, here.
func (l *loader) resolveParams() {
	l.pnodes = map[*yaml.Node]string{}
	l.pmemo = map[*yaml.Node]*yaml.Node{}
	var index func(n *yaml.Node, path string)
	index = func(n *yaml.Node, path string) {
		l.pnodes[n] = path
		switch n.Kind {
		case yaml.MappingNode:
			pairs(n, func(k, v *yaml.Node) { index(v, path+"."+k.Value) })
		case yaml.SequenceNode:
			for i, e := range n.Content {
				index(e, path+"."+strconv.Itoa(i))
			}
		}
	}
	index(l.params, "params")
	l.resolveParam(l.params)
}

// resolveParam returns param node n fully interpolated.
func (l *loader) resolveParam(n *yaml.Node) *yaml.Node {
	if r, ok := l.pmemo[n]; ok {
		return r
	}
	if i := slices.Index(l.pstack, n); i >= 0 {
		var names []string
		for _, m := range append(l.pstack[i:], n) {
			names = append(names, l.pnodes[m])
		}
		l.errorf(n, "params reference cycle: %s", strings.Join(names, " → "))
		return badNode(n)
	}
	l.pstack = append(l.pstack, n)
	r := l.interpNode(n, paramScope)
	l.pstack = l.pstack[:len(l.pstack)-1]
	l.pmemo[n] = r
	return r
}

// resolved returns n interpolated if it is an unresolved param node.
func (l *loader) resolved(n *yaml.Node) *yaml.Node {
	if _, ok := l.pnodes[n]; ok {
		return l.resolveParam(n)
	}
	return n
}

// lookupParam finds ${params.a.b} (r) and returns its resolved value.
// Only the nodes on the way are resolved, so a param may refer to a
// sibling inside the same mapping.
func (l *loader) lookupParam(r string, segs []string, at *yaml.Node) *yaml.Node {
	n, cur := l.params, "params"
	for _, seg := range segs {
		if n.Kind == yaml.ScalarNode {
			n = l.resolved(n)
		}
		var next *yaml.Node
		switch {
		case isBad(n):
			return nil
		case n.Kind == yaml.MappingNode:
			if next = mapGet(n, seg); next == nil {
				var keys []string
				pairs(n, func(k, _ *yaml.Node) { keys = append(keys, k.Value) })
				l.errorf(at, "${%s}: no parameter %s.%s%s", r, cur, seg, suggest(seg, keys))
				return nil
			}
		case n.Kind == yaml.SequenceNode:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(n.Content) {
				l.errorf(at, "${%s}: %s is a list of %d; want an index from 0", r, cur, len(n.Content))
				return nil
			}
			next = n.Content[i]
		default:
			l.errorf(at, "${%s}: %s is %s, not a mapping", r, cur, describeNode(n))
			return nil
		}
		n, cur = next, cur+"."+seg
	}
	if n = l.resolved(n); isBad(n) {
		return nil
	}
	return n
}
