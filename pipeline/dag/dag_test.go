package dag

import (
	"context"
	"errors"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func graph(edges ...[2]string) *Graph {
	g := New()
	for _, e := range edges {
		g.Connect(e[0], e[1])
	}
	return g
}

func TestCyclesReportsEveryCycle(t *testing.T) {
	g := graph(
		[2]string{"a", "b"}, [2]string{"b", "c"}, [2]string{"c", "a"}, // a → b → c → a
		[2]string{"c", "d"},                      // d hangs off the cycle
		[2]string{"x", "y"}, [2]string{"y", "x"}, // second cycle
		[2]string{"s", "s"}, // self-loop
		[2]string{"p", "q"}, // acyclic part
	)
	got := g.Cycles()
	want := [][]string{{"a", "b", "c", "a"}, {"x", "y", "x"}, {"s", "s"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Cycles() = %v, want %v", got, want)
	}
	if _, err := g.Sort(); err == nil {
		t.Error("Sort of a cyclic graph succeeded")
	}
	if c := graph([2]string{"a", "b"}, [2]string{"a", "c"}, [2]string{"b", "d"}, [2]string{"c", "d"}).Cycles(); c != nil {
		t.Errorf("diamond has cycles %v", c)
	}
}

func TestCyclesFindsShortestCycleInBigComponent(t *testing.T) {
	// One component with two cycles through a; the shorter one is named.
	g := graph([2]string{"a", "b"}, [2]string{"b", "c"}, [2]string{"c", "d"}, [2]string{"d", "a"}, [2]string{"b", "a"})
	if got := g.Cycles(); !reflect.DeepEqual(got, [][]string{{"a", "b", "a"}}) {
		t.Errorf("Cycles() = %v", got)
	}
}

func TestSortKeepsInsertionOrder(t *testing.T) {
	g := New()
	for _, v := range []string{"z", "y", "x", "w"} {
		g.Add(v)
	}
	g.Connect("x", "z") // z needs x
	got, err := g.Sort()
	want := []string{"y", "x", "z", "w"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Sort() = %v, %v; want %v", got, err, want)
	}
}

func TestWalkOrderParallelismAndFailures(t *testing.T) {
	// a → b → d, a → c, e alone; c fails so only its dependent f is skipped.
	g := graph([2]string{"a", "b"}, [2]string{"b", "d"}, [2]string{"a", "c"}, [2]string{"c", "f"}, [2]string{"d", "f"})
	g.Add("e")
	var mu sync.Mutex
	done := map[string]bool{}
	var running, peak atomic.Int32
	var skipped []string
	g.Walk(context.Background(), 2, func(ctx context.Context, v string) error {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		mu.Lock()
		for _, dep := range g.Dependencies(v) {
			if !done[dep] {
				t.Errorf("%s started before its dependency %s finished", v, dep)
			}
		}
		mu.Unlock()
		time.Sleep(10 * time.Millisecond)
		mu.Lock()
		done[v] = true
		mu.Unlock()
		if v == "c" {
			return errors.New("boom")
		}
		return nil
	}, func(v, cause string) {
		mu.Lock()
		skipped = append(skipped, v+"<"+cause)
		mu.Unlock()
	})
	if p := peak.Load(); p > 2 || p < 2 {
		t.Errorf("peak parallelism %d, want 2", p)
	}
	sort.Strings(skipped)
	if !reflect.DeepEqual(skipped, []string{"f<c"}) {
		t.Errorf("skipped %v", skipped)
	}
	for _, v := range []string{"a", "b", "c", "d", "e"} {
		if !done[v] {
			t.Errorf("%s did not run", v)
		}
	}
}

func TestWalkSkipsTransitively(t *testing.T) {
	g := graph([2]string{"a", "b"}, [2]string{"b", "c"})
	var skipped []string
	g.Walk(context.Background(), 1, func(ctx context.Context, v string) error {
		if v == "a" {
			return errors.New("no")
		}
		t.Errorf("%s ran after its dependency failed", v)
		return nil
	}, func(v, cause string) { skipped = append(skipped, v+"<"+cause) })
	if !reflect.DeepEqual(skipped, []string{"b<a", "c<a"}) {
		t.Errorf("skipped %v", skipped)
	}
}

func TestWalkGoesDepthFirst(t *testing.T) {
	// Two branches, as two networks' activations and what reads them: on
	// one worker, each branch is finished before the next starts.
	g := graph([2]string{"acts1", "units1"}, [2]string{"acts1", "kernels1"}, [2]string{"kernels1", "km1"},
		[2]string{"acts2", "units2"}, [2]string{"acts2", "kernels2"}, [2]string{"kernels2", "km2"},
		[2]string{"km1", "all"}, [2]string{"km2", "all"}, [2]string{"units1", "all"}, [2]string{"units2", "all"})
	var order []string
	g.Walk(context.Background(), 1, func(ctx context.Context, v string) error {
		order = append(order, v)
		return nil
	}, func(v, cause string) { t.Errorf("%s skipped", v) })
	want := []string{"acts1", "units1", "kernels1", "km1", "acts2", "units2", "kernels2", "km2", "all"}
	if !reflect.DeepEqual(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}
}
