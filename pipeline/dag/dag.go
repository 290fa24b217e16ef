// Package dag is a directed acyclic graph of named vertices: cycle reporting
// for validation, a stable topological order, and a walker that runs each
// vertex once all of its dependencies have finished.
package dag

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// Graph holds vertices in insertion order and edges from a dependency to
// its dependents. The zero value is not usable; call New.
type Graph struct {
	order []string
	index map[string]int
	out   [][]int // dependents
	in    [][]int // dependencies
}

// New returns an empty graph.
func New() *Graph { return &Graph{index: map[string]int{}} }

// Add adds vertex v; adding it again does nothing.
func (g *Graph) Add(v string) {
	if _, ok := g.index[v]; ok {
		return
	}
	g.index[v] = len(g.order)
	g.order = append(g.order, v)
	g.out = append(g.out, nil)
	g.in = append(g.in, nil)
}

// Connect records that to depends on from: from must finish before to
// starts. Both are added if missing; a repeated edge is kept once.
func (g *Graph) Connect(from, to string) {
	g.Add(from)
	g.Add(to)
	f, t := g.index[from], g.index[to]
	if slices.Contains(g.out[f], t) {
		return
	}
	g.out[f] = append(g.out[f], t)
	g.in[t] = append(g.in[t], f)
}

// Vertices lists the vertices in insertion order.
func (g *Graph) Vertices() []string { return slices.Clone(g.order) }

// Dependencies lists v's direct dependencies in the order they were connected.
func (g *Graph) Dependencies(v string) []string { return g.names(g.in[g.index[v]]) }

// Dependents lists the vertices that depend directly on v.
func (g *Graph) Dependents(v string) []string { return g.names(g.out[g.index[v]]) }

func (g *Graph) names(ix []int) []string {
	s := make([]string, len(ix))
	for i, x := range ix {
		s[i] = g.order[x]
	}
	return s
}

// Cycles reports every cycle problem of the graph: one cycle through each
// strongly connected component that has one (a self-loop included), as a
// closed path whose first vertex is repeated at the end ("a b c a"). It
// returns nil for an acyclic graph. Components come in the order of their
// first vertex.
func (g *Graph) Cycles() [][]string {
	n := len(g.order)
	comp := g.components()
	var cycles [][]string
	seen := make([]bool, n)
	for v := 0; v < n; v++ {
		c := comp[v]
		if seen[c] {
			continue
		}
		seen[c] = true
		if cyc := g.cycleFrom(v, comp); cyc != nil {
			cycles = append(cycles, cyc)
		}
	}
	return cycles
}

// components labels each vertex with its strongly connected component
// (Tarjan's algorithm, iterative so deep chains cannot overflow the stack).
func (g *Graph) components() []int {
	n := len(g.order)
	index := make([]int, n)
	low := make([]int, n)
	onStack := make([]bool, n)
	comp := make([]int, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	next, ncomp := 0, 0
	type frame struct{ v, edge int }
	for root := 0; root < n; root++ {
		if index[root] >= 0 {
			continue
		}
		call := []frame{{root, 0}}
		index[root], low[root] = next, next
		next++
		stack = append(stack, root)
		onStack[root] = true
		for len(call) > 0 {
			f := &call[len(call)-1]
			if f.edge < len(g.out[f.v]) {
				w := g.out[f.v][f.edge]
				f.edge++
				if index[w] < 0 {
					index[w], low[w] = next, next
					next++
					stack = append(stack, w)
					onStack[w] = true
					call = append(call, frame{w, 0})
				} else if onStack[w] {
					low[f.v] = min(low[f.v], index[w])
				}
				continue
			}
			v := f.v
			call = call[:len(call)-1]
			if len(call) > 0 {
				p := call[len(call)-1].v
				low[p] = min(low[p], low[v])
			}
			if low[v] == index[v] {
				for {
					w := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					onStack[w] = false
					comp[w] = ncomp
					if w == v {
						break
					}
				}
				ncomp++
			}
		}
	}
	return comp
}

// cycleFrom returns a shortest closed path from start back to itself within
// start's component, or nil if there is none.
func (g *Graph) cycleFrom(start int, comp []int) []string {
	prev := map[int]int{}
	queue := []int{start}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, w := range g.out[v] {
			if comp[w] != comp[start] {
				continue
			}
			if w == start {
				path := []string{g.order[start]}
				for x := v; x != start; x = prev[x] {
					path = append(path, g.order[x])
				}
				slices.Reverse(path[1:])
				return append(path, g.order[start])
			}
			if _, ok := prev[w]; !ok {
				prev[w] = v
				queue = append(queue, w)
			}
		}
	}
	return nil
}

// Sort returns the vertices in a topological order that keeps insertion
// order wherever dependencies allow, or an error if the graph has a cycle.
func (g *Graph) Sort() ([]string, error) {
	n := len(g.order)
	indeg := make([]int, n)
	for v := range n {
		indeg[v] = len(g.in[v])
	}
	done := make([]bool, n)
	sorted := make([]string, 0, n)
	for len(sorted) < n {
		progress := false
		for v := range n {
			if done[v] || indeg[v] > 0 {
				continue
			}
			done[v] = true
			progress = true
			sorted = append(sorted, g.order[v])
			for _, w := range g.out[v] {
				indeg[w]--
			}
			break // restart from the first vertex to keep insertion order
		}
		if !progress {
			return nil, fmt.Errorf("dag: graph has a cycle: %v", g.Cycles())
		}
	}
	return sorted, nil
}

// Walk calls fn for every vertex, at most parallel at a time, each as soon
// as all of its dependencies have finished. Of the vertices ready to
// start, the one readied last starts first (depth first; among the
// vertices readied together, insertion order): what a vertex feeds is
// done before its siblings start, so the intermediates of one branch are
// read, and can be released, before the next branch makes its own. A
// vertex whose dependency failed or was skipped is not called; skip is
// told about it instead (with the first such dependency) so that failures
// stop only their dependents. Walk returns when every vertex is done or
// skipped. Cancellation is fn's business: it sees ctx and should fail
// fast once ctx is done. The graph must be acyclic.
func (g *Graph) Walk(ctx context.Context, parallel int, fn func(ctx context.Context, v string) error, skip func(v, cause string)) {
	if parallel < 1 {
		parallel = 1
	}
	n := len(g.order)
	var mu sync.Mutex
	waiting := make([]int, n) // unfinished dependencies
	failed := make([]string, n)
	for v := range n {
		waiting[v] = len(g.in[v])
	}
	var ready []int // a stack: the last readied starts first
	running := 0
	var wg sync.WaitGroup
	// push readies vs, the first of them to start first.
	push := func(vs []int) {
		for i := len(vs) - 1; i >= 0; i-- {
			ready = append(ready, vs[i])
		}
	}
	// finish is called with mu held when v is done (ok or not); it
	// returns the vertices it readied.
	var finish func(v int, bad string) []int
	finish = func(v int, bad string) []int {
		var now []int
		for _, w := range g.out[v] {
			if bad != "" && failed[w] == "" {
				failed[w] = bad
			}
			waiting[w]--
			if waiting[w] > 0 {
				continue
			}
			if failed[w] != "" {
				skip(g.order[w], failed[w])
				now = append(now, finish(w, failed[w])...)
				continue
			}
			now = append(now, w)
		}
		return now
	}
	// dispatch starts ready vertices while slots are free; mu held.
	var dispatch func()
	dispatch = func() {
		for running < parallel && len(ready) > 0 {
			v := ready[len(ready)-1]
			ready = ready[:len(ready)-1]
			running++
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := fn(ctx, g.order[v])
				mu.Lock()
				defer mu.Unlock()
				running--
				bad := ""
				if err != nil {
					bad = g.order[v]
				}
				push(finish(v, bad))
				dispatch()
			}()
		}
	}
	mu.Lock()
	var roots []int
	for v := range n {
		if waiting[v] == 0 {
			roots = append(roots, v)
		}
	}
	push(roots)
	dispatch()
	mu.Unlock()
	wg.Wait()
}
