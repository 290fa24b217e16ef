package pipeline

import (
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// DescribeParams lists a kind's parameters as YAML with their defaults,
// each followed by its `doc` tag and its constraints as a comment; the
// fields of ",inline" structs are listed in place.
func DescribeParams(params any) (string, error) {
	v := reflect.Indirect(reflect.ValueOf(params))
	if v.Kind() != reflect.Struct {
		return "", fmt.Errorf("params of type %T are not a struct", params)
	}
	var b strings.Builder
	for _, pf := range fieldsOf(v.Type()) {
		f := pf.sf
		name := yamlName(f)
		if name == "" {
			continue
		}
		var node yaml.Node
		if err := node.Encode(v.FieldByIndex(pf.index).Interface()); err != nil {
			return "", err
		}
		flow(&node)
		val, err := yaml.Marshal(&node)
		if err != nil {
			return "", err
		}
		line := fmt.Sprintf("  %s: %s", name, strings.TrimSpace(string(val)))
		var notes []string
		if d := f.Tag.Get("doc"); d != "" {
			notes = append(notes, d)
		}
		for _, tag := range []string{"min", "max", "oneof"} {
			if x := f.Tag.Get(tag); x != "" {
				notes = append(notes, tag+" "+x)
			}
		}
		if f.Tag.Get("required") == "true" {
			notes = append(notes, "required")
		}
		if f.Tag.Get("key") == "-" {
			notes = append(notes, "does not change results, not in the cache key")
		}
		if len(notes) > 0 {
			line += "  # " + strings.Join(notes, "; ")
		}
		b.WriteString(line + "\n")
	}
	return b.String(), nil
}

// flow sets n and everything below it to YAML's one-line flow style.
func flow(n *yaml.Node) {
	n.Style |= yaml.FlowStyle
	for _, c := range n.Content {
		flow(c)
	}
}
