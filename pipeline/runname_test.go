package pipeline

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestRunNames(t *testing.T) {
	for _, tc := range []struct {
		sets      []string
		overrides []string
		name      string // a regexp
	}{
		{[]string{"params.seed=3"}, []string{"params.seed=3"}, `^seed=3$`},
		// Sorted by key, the last value of a key kept, + dropped.
		{[]string{" stages.metric.params.fsi_threshold=0.5", "+params.seed=4", "params.seed=3"},
			[]string{"params.seed=3", "stages.metric.params.fsi_threshold=0.5"}, `^seed=3,metric\.fsi_threshold=0\.5$`},
		// No plain file name: a hash.
		{[]string{"params.layers=[conv1, fc]"}, []string{"params.layers=[conv1, fc]"}, `^set-[0-9a-f]{12}$`},
		{[]string{"params.out=../x"}, []string{"params.out=../x"}, `^set-[0-9a-f]{12}$`},
		{[]string{"params.label=" + strings.Repeat("a", 120)}, nil, `^set-[0-9a-f]{12}$`},
	} {
		o := CanonicalOverrides(tc.sets)
		if tc.overrides != nil && !slices.Equal(o, tc.overrides) {
			t.Errorf("%v: overrides %v, want %v", tc.sets, o, tc.overrides)
		}
		if n := runName(o); !regexp.MustCompile(tc.name).MatchString(n) {
			t.Errorf("%v: name %q, want %s", tc.sets, n, tc.name)
		}
	}
	if a, b := runName([]string{"params.a=[1, 2]"}), runName([]string{"params.a=[1, 3]"}); a == b {
		t.Errorf("two overrides, one name %s", a)
	}
}
