// Package progress shows the state of long work: on a terminal one redrawn
// line of bars with rate and ETA, elsewhere (CI logs, pipes) a plain line per
// bar at a fixed interval. It also serialises the runner's own output lines
// so that they never tear a bar.
package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"selectivity/stages"
)

// Reporter draws the bars of all running stages on one writer.
type Reporter struct {
	w        io.Writer
	terminal bool
	every    time.Duration // plain mode: interval between lines
	now      func() time.Time

	mu    sync.Mutex
	bars  []*bar
	drawn bool // terminal: a bar line is on screen
	stop  chan struct{}
	done  chan struct{}
}

// New returns a reporter writing to w. On a terminal it redraws every
// 200 ms; otherwise it prints each bar's state every interval.
func New(w io.Writer, terminal bool, interval time.Duration) *Reporter {
	r := &Reporter{w: w, terminal: terminal, every: interval, now: time.Now,
		stop: make(chan struct{}), done: make(chan struct{})}
	tick := interval
	if terminal {
		tick = 200 * time.Millisecond
	}
	go r.loop(tick)
	return r
}

func (r *Reporter) loop(tick time.Duration) {
	defer close(r.done)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.mu.Lock()
			r.draw()
			r.mu.Unlock()
		}
	}
}

// Close stops drawing and clears the bar line.
func (r *Reporter) Close() {
	close(r.stop)
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clear()
}

// Println prints a line above the bars.
func (r *Reporter) Println(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clear()
	fmt.Fprintln(r.w, line)
	if r.terminal {
		r.draw()
	}
}

// For returns the stages.Progress of one stage.
func (r *Reporter) For(stage string) stages.Progress { return stageProgress{r, stage} }

type stageProgress struct {
	r     *Reporter
	stage string
}

func (p stageProgress) Bar(label, unit string, total int64) stages.Bar {
	b := &bar{r: p.r, name: p.stage + ": " + label, unit: unit, total: total, start: p.r.now()}
	p.r.mu.Lock()
	p.r.bars = append(p.r.bars, b)
	p.r.mu.Unlock()
	return b
}

type bar struct {
	r     *Reporter
	name  string
	unit  string
	total int64
	n     int64
	start time.Time
}

func (b *bar) Add(n int64) {
	b.r.mu.Lock()
	b.n += n
	b.r.mu.Unlock()
}

func (b *bar) Done() {
	r := b.r
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, x := range r.bars {
		if x == b {
			r.bars = append(r.bars[:i], r.bars[i+1:]...)
			break
		}
	}
	if r.terminal {
		r.clear()
		r.draw()
	}
}

// clear erases the terminal bar line; mu held.
func (r *Reporter) clear() {
	if r.terminal && r.drawn {
		fmt.Fprint(r.w, "\r\x1b[K")
		r.drawn = false
	}
}

// draw shows the bars; mu held.
func (r *Reporter) draw() {
	if len(r.bars) == 0 {
		return
	}
	now := r.now()
	if !r.terminal {
		for _, b := range r.bars {
			fmt.Fprintln(r.w, b.status(now))
		}
		return
	}
	parts := make([]string, len(r.bars))
	for i, b := range r.bars {
		parts[i] = b.status(now)
	}
	fmt.Fprint(r.w, "\r\x1b[K"+strings.Join(parts, " | "))
	r.drawn = true
}

// status is "stage: label [#####     ] 340/1440 images 23.4/s ETA 47s".
func (b *bar) status(now time.Time) string {
	el := now.Sub(b.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(b.n) / el
	}
	s := fmt.Sprintf("%s %d", b.name, b.n)
	if b.total > 0 {
		const width = 20
		fill := int(width * b.n / max(b.total, 1))
		fill = min(max(fill, 0), width)
		s = fmt.Sprintf("%s [%s%s] %d/%d", b.name, strings.Repeat("#", fill), strings.Repeat(" ", width-fill), b.n, b.total)
	}
	s += fmt.Sprintf(" %s %.1f/s", b.unit, rate)
	if b.total > 0 && rate > 0 && b.n < b.total {
		s += " ETA " + time.Duration(float64(b.total-b.n)/rate*float64(time.Second)).Round(time.Second).String()
	}
	return s
}
