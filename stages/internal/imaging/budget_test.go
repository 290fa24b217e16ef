package imaging

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// pngFile writes a blank w×h gray PNG (a few KB) and returns its path.
func pngFile(t *testing.T, w, h int) string {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "big.png")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// An image whose decoding needs more than the whole budget is refused from
// its header, before its pixels are allocated.
func TestBudgetRefusesFromTheHeader(t *testing.T) {
	p := pngFile(t, 3000, 3000)
	b := NewBudget(DecodeCost(3000, 3000) - 1)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, release, err := DecodeFileWithin(p, b)
	runtime.ReadMemStats(&after)
	release()
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), p+": 3000x3000: needs 137 MiB to decode, more than the 137 MiB allowed") {
		t.Fatalf("got %v", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
		t.Errorf("allocated %d bytes before refusing", n)
	}
	if img, release, err := DecodeFileWithin(p, NewBudget(DecodeCost(3000, 3000))); err != nil || img.W != 3000 {
		t.Errorf("within the budget: %v", err)
	} else {
		release()
	}
}

// However many goroutines decode, the images held at once stay within the
// budget.
func TestBudgetBoundsConcurrentDecodes(t *testing.T) {
	p := pngFile(t, 600, 600)
	b := NewBudget(2 * DecodeCost(600, 600))
	var held, most atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				img, release, err := DecodeFileWithin(p, b)
				if err != nil {
					t.Error(err)
					return
				}
				n := held.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				_ = img.Pix[len(img.Pix)-1]
				held.Add(-1)
				release()
			}
		}()
	}
	wg.Wait()
	if m := most.Load(); m > 2 || m < 1 {
		t.Errorf("%d images held at once, budget for 2", m)
	}
}
