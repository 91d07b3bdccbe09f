package contracts

import (
	"errors"
	"strings"
	"testing"
)

// checkProblems asserts that err is Problems and that each want is a prefix
// of exactly one problem's text, in any order, with no other problems.
func checkProblems(t *testing.T, err error, want ...string) {
	t.Helper()
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("expected Problems %q; got error %v", want, err)
	}
	used := make([]bool, len(ps))
	for _, w := range want {
		found := false
		for i, p := range ps {
			if !used[i] && strings.HasPrefix(p.String(), w) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("expected a problem starting %q; got:\n%v", w, err)
		}
	}
	for i, p := range ps {
		if !used[i] {
			t.Errorf("unexpected problem %q", p)
		}
	}
}
