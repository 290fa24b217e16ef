package stimuli

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"

	"selectivity/stages/internal/imaging"
)

// workFunc produces the image of item i (decoded and preprocessed, or
// whatever the caller wants made in parallel).
type workFunc func(i int) (*imaging.Image, error)

// consumeFunc receives item i's result, in order of i.
type consumeFunc func(i int, img *imaging.Image, err error) error

type result struct {
	img *imaging.Image
	err error
}

// ordered runs work(i) for i in [0, n) on workers goroutines and hands the
// results to consume in order of i, from the calling goroutine. At most
// window results are under way or waiting at any time, so memory is
// bounded by the window, not by n. It stops at the first error consume
// returns or when ctx is done, and returns only once every goroutine it
// started has stopped. A panic in work becomes that item's error.
func ordered(ctx context.Context, n, workers, window int, work workFunc, consume consumeFunc) error {
	if n <= 0 {
		return ctx.Err()
	}
	workers = max(1, min(workers, n))
	window = max(window, workers)
	inner, cancel := context.WithCancel(ctx)
	defer cancel()
	// Item i goes into slot i%window. The dispatcher takes a token before
	// handing out an item and the consumer returns it after taking the
	// item's result, so at most window items are outstanding: item
	// i-window has been consumed before item i starts, and its slot is free.
	slots := make([]chan result, window)
	for k := range slots {
		slots[k] = make(chan result, 1)
	}
	tokens := make(chan struct{}, window)
	jobs := make(chan int)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(jobs)
		for i := range n {
			select {
			case tokens <- struct{}{}:
			case <-inner.Done():
				return
			}
			select {
			case jobs <- i:
			case <-inner.Done():
				return
			}
		}
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if inner.Err() != nil {
					return
				}
				slots[i%window] <- safeWork(work, i)
			}
		}()
	}
	var err error
	for i := 0; i < n && err == nil; i++ {
		select {
		case r := <-slots[i%window]:
			<-tokens
			err = consume(i, r.img, r.err)
		case <-inner.Done():
			err = ctx.Err()
		}
	}
	cancel()
	wg.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// safeWork calls work, turning a panic into an error.
func safeWork(work workFunc, i int) (r result) {
	defer func() {
		if p := recover(); p != nil {
			r = result{err: fmt.Errorf("stimuli: panic on item %d: %v\n%s", i, p, debug.Stack())}
		}
	}()
	img, err := work(i)
	return result{img, err}
}
