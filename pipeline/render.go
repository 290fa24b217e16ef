package pipeline

import (
	"fmt"
	"io"
	"strings"
)

// Render writes the experiment's stage graph in format "text" (each stage
// with its kind and inputs), "dot" (Graphviz) or "mermaid".
func Render(w io.Writer, exp *Experiment, format string) error {
	g := exp.Graph()
	order, err := g.Sort()
	if err != nil {
		return err
	}
	switch format {
	case "text":
		for _, name := range order {
			st := exp.Stage(name)
			fmt.Fprintf(w, "%s (%s)\n", name, st.Kind.Name())
			for _, in := range st.Inputs {
				fmt.Fprintf(w, "  %s ← %s\n", in.Slot, strings.Join(in.Stages, ", "))
			}
		}
	case "dot":
		fmt.Fprintf(w, "digraph %q {\n  rankdir=LR;\n  node [shape=box];\n", exp.Name)
		for _, name := range order {
			fmt.Fprintf(w, "  %q [label=%q];\n", name, name+"\n"+exp.Stage(name).Kind.Name())
		}
		for _, name := range order {
			for _, in := range exp.Stage(name).Inputs {
				for _, up := range in.Stages {
					fmt.Fprintf(w, "  %q -> %q [label=%q];\n", up, name, in.Slot)
				}
			}
		}
		fmt.Fprintln(w, "}")
	case "mermaid":
		id := map[string]string{}
		fmt.Fprintln(w, "flowchart LR")
		for i, name := range order {
			id[name] = fmt.Sprintf("s%d", i)
			fmt.Fprintf(w, "  %s[\"%s<br/><i>%s</i>\"]\n", id[name], name, exp.Stage(name).Kind.Name())
		}
		for _, name := range order {
			for _, in := range exp.Stage(name).Inputs {
				for _, up := range in.Stages {
					fmt.Fprintf(w, "  %s -->|%s| %s\n", id[up], in.Slot, id[name])
				}
			}
		}
	default:
		return fmt.Errorf("--format %s: want text, dot or mermaid", format)
	}
	return nil
}
