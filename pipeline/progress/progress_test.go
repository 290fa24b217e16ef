package progress

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuf is a bytes.Buffer safe for the reporter's goroutine.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestStatusLineRateAndETA(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := &bar{name: "extract: forward", unit: "images", total: 1440, n: 360, start: start}
	got := b.status(start.Add(30 * time.Second))
	want := "extract: forward [#####               ] 360/1440 images 12.0/s ETA 1m30s"
	if got != want {
		t.Errorf("status = %q, want %q", got, want)
	}
	b = &bar{name: "x", unit: "files", n: 10, start: start}
	if got := b.status(start.Add(5 * time.Second)); got != "x 10 files 2.0/s" {
		t.Errorf("unknown total: %q", got)
	}
}

func TestPlainModePrintsPeriodicLines(t *testing.T) {
	var out syncBuf
	r := New(&out, false, 20*time.Millisecond)
	bar := r.For("stage").Bar("work", "items", 10)
	bar.Add(4)
	time.Sleep(100 * time.Millisecond)
	r.Println("stage done")
	bar.Done()
	r.Close()
	s := out.String()
	if strings.Contains(s, "\r") || strings.Contains(s, "\x1b") {
		t.Errorf("plain mode wrote terminal controls: %q", s)
	}
	if !strings.Contains(s, "stage: work [########            ] 4/10 items") || !strings.Contains(s, "stage done\n") {
		t.Errorf("output %q", s)
	}
}

func TestTerminalModeRedrawsOneLine(t *testing.T) {
	var out syncBuf
	r := New(&out, true, time.Hour)
	bar := r.For("a").Bar("x", "u", 2)
	bar.Add(1)
	time.Sleep(300 * time.Millisecond)
	r.Println("a finished")
	bar.Done()
	r.Close()
	s := out.String()
	if !strings.Contains(s, "\r\x1b[Ka: x [") || !strings.Contains(s, "\r\x1b[Ka finished\n") {
		t.Errorf("output %q", s)
	}
	if strings.Count(s, "\n") != 1 {
		t.Errorf("terminal mode should print only the finished line as a line: %q", s)
	}
}
