package cache

import "testing"

func TestInEntry(t *testing.T) {
	const key = "abababababababababababababababababababababababababababababababab"
	for path, want := range map[string]bool{
		"/c/entries/ab/" + key + "/conv13.arrow":    true,
		"/c/entries/ab/" + key + "/report/fig.png":  true,
		"/other/cache/entries/ab/" + key + "/x":     true,
		"/c/entries/cd/" + key + "/x":               false, // wrong shard
		"/c/entries/ab/" + key[:63] + "/x":          false, // not a key
		"/c/tmp/ab/" + key + "/x":                   false,
		"/c/entries/ab/" + key:                      false, // the entry itself, no file in it
		"/home/me/results/quickstart/units/x.arrow": false,
	} {
		if got := InEntry(path); got != want {
			t.Errorf("InEntry(%q) = %v, want %v", path, got, want)
		}
	}
}
