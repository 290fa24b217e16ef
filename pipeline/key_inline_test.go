package pipeline

import (
	"strings"
	"testing"
)

// TestKeyHoldsInlineFields: the fields of an ",inline" struct (a kind that
// embeds another kind's parameters) enter the canonical parameters, and so
// the key, under their own names.
func TestKeyHoldsInlineFields(t *testing.T) {
	a, err := canonicalParams(&metricParams{metricCommon: metricCommon{Note: "a"}}, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := canonicalParams(&metricParams{metricCommon: metricCommon{Note: "b"}}, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(a.JSON), `"note":"a"`) || string(a.JSON) == string(b.JSON) {
		t.Errorf("inline field not in the canonical parameters: %s vs %s", a.JSON, b.JSON)
	}
}

// TestDescribeListsInlineFields: `kinds KIND` shows an ",inline" struct's
// parameters in place.
func TestDescribeListsInlineFields(t *testing.T) {
	s, err := DescribeParams(&metricParams{metricCommon: metricCommon{Note: "hi"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s, "  note: hi\n") {
		t.Errorf("description does not start with the inline field:\n%s", s)
	}
}
