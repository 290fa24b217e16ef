package pipeline

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// badTag marks a node that stands in for a value whose problem has already
// been reported: consumers skip it silently. YAML tags cannot hold a NUL,
// so no file can forge it.
const badTag = "\x00invalid"

// bad returns a placeholder for a value that failed, positioned at n.
func badNode(n *yaml.Node) *yaml.Node {
	b := &yaml.Node{Kind: yaml.ScalarNode, Tag: badTag}
	if n != nil {
		b.Line, b.Column = n.Line, n.Column
	}
	return b
}

func isBad(n *yaml.Node) bool { return n != nil && n.Tag == badTag }

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names a value for "want X, got Y" messages.
func describeNode(n *yaml.Node) string {
	switch {
	case n == nil:
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	}
	switch t := n.ShortTag(); t {
	case "!!null":
		return "null"
	case "!!int", "!!float":
		return "number " + n.Value
	case "!!bool":
		return "boolean " + n.Value
	case "!!str", "!!timestamp":
		return "string " + strconv.Quote(n.Value)
	default:
		return t + " " + strconv.Quote(n.Value)
	}
}

// pairs calls fn for each key/value pair of mapping n.
func pairs(n *yaml.Node, fn func(k, v *yaml.Node)) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		fn(n.Content[i], n.Content[i+1])
	}
}

// mapGet returns the value of key in mapping n (the first one), or nil.
func mapGet(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

var yamlAnchorRE = regexp.MustCompile(`^yaml: unknown anchor '(.*)' referenced$`)

// parse decodes data as a single YAML document and returns its content
// node, or nil after reporting why not.
func (l *loader) parse(data []byte) *yaml.Node {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := decodeSafely(dec, &doc); err != nil {
		if err == io.EOF {
			l.errorf(nil, "empty experiment file; want a mapping with stages:")
		} else {
			l.yamlError(err, data)
		}
		return nil
	}
	var next yaml.Node
	switch err := decodeSafely(dec, &next); {
	case err == io.EOF:
	case err != nil:
		l.yamlError(err, data)
		return nil
	default:
		l.errorf(&next, "an experiment file holds one YAML document, this is a second one")
		return nil
	}
	if len(doc.Content) == 0 {
		l.errorf(nil, "empty experiment file; want a mapping with stages:")
		return nil
	}
	x := &aliasExpander{l: l, budget: maxAliasNodes, active: map[*yaml.Node]bool{}}
	return x.expand(doc.Content[0], false)
}

// decodeSafely turns a panic inside the YAML library into an error.
func decodeSafely(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: %v", r)
		}
	}()
	return dec.Decode(n)
}

// yamlError reports a YAML syntax error. yaml.v3's "line N" is often the
// start of the enclosing block rather than the problem, so the line is the
// first one at which the file's beginning stops parsing.
func (l *loader) yamlError(err error, data []byte) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if _, rest, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(msg, "line ") {
		msg = rest
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	line := 1 + sort.Search(len(lines), func(k int) bool {
		return !parses(bytes.Join(lines[:k+1], nil))
	})
	line, col := min(line, len(lines)), 1
	if m := yamlAnchorRE.FindStringSubmatch(err.Error()); m != nil {
		if i := bytes.Index(data, []byte("*"+m[1])); i >= 0 {
			line = 1 + bytes.Count(data[:i], []byte("\n"))
			col = 1 + i - (bytes.LastIndexByte(data[:i], '\n') + 1)
		}
	}
	line = max(line, 1)
	text := ""
	if line <= len(lines) {
		text = string(lines[line-1])
	}
	switch {
	case strings.Contains(msg, "cannot start any token") && strings.Contains(text, "\t"):
		col = 1 + strings.IndexByte(text, '\t')
		msg = "a tab character: YAML indents with spaces, never tabs (" + msg + ")"
	case strings.Contains(msg, "unexpected end of stream"):
		if q := openingQuote(text); q >= 0 {
			col = 1 + q
			msg = fmt.Sprintf("the string opened by %c here is never closed (%s)", text[q], msg)
		}
	}
	l.report(&Error{Pos: Pos{File: l.file, Line: line, Col: col}, Msg: "YAML: " + msg})
}

// openingQuote returns the index in line of the first quote that starts a
// quoted scalar (at the start, or after a space, ':', ',', '[', '{' or
// '-'), or -1.
func openingQuote(line string) int {
	for i := 0; i < len(line); i++ {
		if c := line[i]; c == '#' && (i == 0 || line[i-1] == ' ') {
			return -1
		} else if (c == '"' || c == '\'') && (i == 0 || strings.IndexByte(" \t:,[{-", line[i-1]) >= 0) {
			return i
		}
	}
	return -1
}

// parses tells whether data is a valid YAML stream.
func parses(data []byte) bool {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		switch err := decodeSafely(dec, &n); {
		case err == io.EOF:
			return true
		case err != nil:
			return false
		}
	}
}

// maxAliasNodes bounds the nodes that aliases may copy, against
// "billion laughs" files.
const maxAliasNodes = 100_000

// aliasExpander replaces every alias with a copy of its anchor's node and
// applies merge keys (<<), so that the rest of the loader sees a plain tree
// in which every node has one parent.
type aliasExpander struct {
	l      *loader
	budget int
	active map[*yaml.Node]bool // anchors being copied, for self-reference
	outer  *yaml.Node          // the outermost alias being expanded
}

// expand returns n expanded; in place unless fresh asks for a copy.
func (x *aliasExpander) expand(n *yaml.Node, fresh bool) *yaml.Node {
	if fresh {
		if x.budget <= 0 {
			return badNode(n)
		}
		if x.budget--; x.budget == 0 {
			x.l.errorf(x.outer, "aliases expand to more than %d nodes", maxAliasNodes)
			return badNode(n)
		}
	}
	switch n.Kind {
	case yaml.DocumentNode:
		x.l.errorf(n, "unexpected YAML document node")
		return badNode(n)
	case yaml.AliasNode:
		t := n.Alias
		if t == nil {
			return badNode(n)
		}
		if x.active[t] {
			x.l.errorf(n, "alias *%s is inside its own anchor", n.Value)
			return badNode(n)
		}
		if len(x.active) == 0 {
			x.outer = n
		}
		x.active[t] = true
		c := x.expand(t, true)
		delete(x.active, t)
		if !isBad(c) {
			c.Line, c.Column = n.Line, n.Column
		}
		return c
	case yaml.MappingNode, yaml.SequenceNode:
		if fresh {
			c := *n
			c.Content = slices.Clone(n.Content)
			c.Anchor = ""
			n = &c
		}
		for i, ch := range n.Content {
			n.Content[i] = x.expand(ch, fresh)
		}
		if n.Kind == yaml.MappingNode {
			x.merge(n)
		}
		return n
	default:
		if fresh {
			c := *n
			c.Anchor = ""
			return &c
		}
		return n
	}
}

// merge applies the merge keys (<<) of mapping n: the pairs of the merged
// mappings whose keys n does not have take the place of the << pair, earlier
// mappings of a list winning over later ones.
func (x *aliasExpander) merge(n *yaml.Node) {
	has := false
	explicit := map[string]bool{}
	pairs(n, func(k, _ *yaml.Node) {
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			has = true
		} else if k.Kind == yaml.ScalarNode {
			explicit[k.Value] = true
		}
	})
	if !has {
		return
	}
	var out []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!merge" {
			out = append(out, k, v)
			continue
		}
		srcs := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			srcs = v.Content
		}
		for _, s := range srcs {
			if isBad(s) {
				continue
			}
			if s.Kind != yaml.MappingNode {
				x.l.errorf(s, "<< wants a mapping or a list of mappings, got %s", describeNode(s))
				continue
			}
			pairs(s, func(mk, mv *yaml.Node) {
				if mk.Kind == yaml.ScalarNode && !explicit[mk.Value] {
					explicit[mk.Value] = true
					out = append(out, mk, mv)
				}
			})
		}
	}
	n.Content = out
}

// toGo converts an (interpolated) node to plain Go values: map[string]any,
// []any, string, int, float64, bool or nil. Problems are reported.
func (l *loader) toGo(n *yaml.Node) any {
	switch {
	case n == nil || isBad(n):
		return nil
	case n.Kind == yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		seen := map[string]*yaml.Node{}
		pairs(n, func(k, v *yaml.Node) {
			if k.Kind != yaml.ScalarNode {
				l.errorf(k, "want a scalar key, got %s", describeNode(k))
				return
			}
			if first, dup := seen[k.Value]; dup {
				l.errorf(k, "duplicate key %q (first at line %d)", k.Value, first.Line)
				return
			}
			seen[k.Value] = k
			m[k.Value] = l.toGo(v)
		})
		return m
	case n.Kind == yaml.SequenceNode:
		s := make([]any, len(n.Content))
		for i, e := range n.Content {
			s[i] = l.toGo(e)
		}
		return s
	}
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool", "!!int", "!!float":
		var v any
		if err := n.Decode(&v); err != nil {
			l.errorf(n, "invalid %s value %q", n.ShortTag(), n.Value)
			return nil
		}
		return v
	default:
		return n.Value
	}
}
