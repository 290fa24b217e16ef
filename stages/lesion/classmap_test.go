package lesion

import (
	"strings"
	"testing"
)

// A JSON class map naming one label twice is an error (decoding into a
// map would keep the last silently).
func TestClassMapDuplicateJSONKey(t *testing.T) {
	_, err := ReadClassMap(writeFile(t, "dup.json", `{"a": 1, "b": 2, "a": 3}`))
	if err == nil || !strings.Contains(err.Error(), `"a" given twice (indices 1 and 3)`) {
		t.Errorf("got %v", err)
	}
	for _, bad := range []string{`{"a": 1} {"b": 2}`, `{"a": 1`, `{"a": "x"}`} {
		if _, err := ReadClassMap(writeFile(t, "bad.json", bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// Two labels of the task on one output index are an error naming both;
// aliases the stimuli do not use are fine.
func TestClassIndicesTwoLabelsOnOneOutput(t *testing.T) {
	path := writeFile(t, "m.json", `{"ann": 3, "bob": 3, "cy": 4, "ann-alias": 4}`)
	_, err := classIndices([]string{"ann", "cy", "bob"}, "map", path, nil)
	if err == nil || !strings.Contains(err.Error(), `"ann" and "bob" are both output 3`) {
		t.Errorf("got %v", err)
	}
	if got, err := classIndices([]string{"ann", "cy", "ann"}, "map", path, nil); err != nil || got[0] != 3 || got[1] != 4 || got[2] != 3 {
		t.Errorf("aliases: %v, %v", got, err)
	}
	if _, err := classIndices([]string{"ann", "dee"}, "map", path, nil); err == nil || !strings.Contains(err.Error(), `1 name is not in the class map`) {
		t.Errorf("one missing name: %v", err)
	}
}
