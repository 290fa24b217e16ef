package pipeline

import "selectivity/pipeline/dag"

// Graph returns the experiment's stages as a graph: a vertex per stage
// (full name, in e.Stages order) and an edge from each input to the stage
// that reads it.
func (e *Experiment) Graph() *dag.Graph {
	g := dag.New()
	for _, s := range e.Stages {
		g.Add(s.Name)
	}
	for _, s := range e.Stages {
		for _, in := range s.Inputs {
			for _, up := range in.Stages {
				g.Connect(up, s.Name)
			}
		}
	}
	return g
}
