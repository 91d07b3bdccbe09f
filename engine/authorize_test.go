package engine_test

import (
	"context"
	"strings"
	"testing"

	"github.com/celebrity-zones/cz/engine"
)

// TestAuthorizeDeniesTheStragglersCopy: the straggler takes the commit
// grant before its slow side effect; its speculative copy asks, is denied
// and ends cancelled without counting a failure; the straggler commits.
func TestAuthorizeDeniesTheStragglersCopy(t *testing.T) {
	r := newRig(t, engine.Resources{CPU: 4}, engine.Resources{CPU: 4})
	j := r.run(engine.JobSpec{Version: 1, Name: "authorize", Speculation: true, Stages: []engine.StageSpec{{
		Name: "s", Operator: "test.sleep", Partitions: 8,
		Params: map[string]string{"sleep": "5ms", "straggler": "5", "straggle": "700ms", "authorize": "true"},
	}}})
	if j.State != engine.JobSucceeded {
		t.Fatalf("job %s: %s", j.State, j.Error)
	}
	slow := j.Stage("s").Tasks[5]
	if len(slow.Attempts) != 2 || !slow.Attempts[1].Speculative {
		t.Fatalf("straggler has %d attempts; want the straggler and a speculative copy", len(slow.Attempts))
	}
	dup := slow.Attempts[1]
	if dup.State != engine.AttemptCancelled || !strings.Contains(dup.Error, engine.ErrCommitDenied.Error()) {
		t.Fatalf("the copy is %s (%q); want cancelled, denied the commit grant", dup.State, dup.Error)
	}
	if slow.Committed != 1 || slow.Failures != 0 {
		t.Fatalf("committed attempt %d, failures %d; want the straggler (1) and no failure", slow.Committed, slow.Failures)
	}
	// Once committed, only the committed attempt is granted.
	for n, want := range map[int]bool{1: true, 2: false} {
		ok, err := r.eng.AuthorizeCommit(engine.AttemptID{Job: j.ID, Stage: "s", Partition: 5, Attempt: n})
		if err != nil || ok != want {
			t.Fatalf("AuthorizeCommit(a%d) = %v, %v; want %v", n, ok, err, want)
		}
	}
}

// TestAuthorizeOutsideAnEngineIsFatal: an operator that asks for the grant
// where no registry runs fails at once instead of publishing unguarded.
func TestAuthorizeOutsideAnEngineIsFatal(t *testing.T) {
	rep := engine.RunAttempt(context.Background(), nil, engine.TaskSpec{Attempt: engine.AttemptID{Job: "j", Stage: "s", Attempt: 1},
		Operator: "test.sleep", Partitions: 1, Params: map[string]string{"authorize": "true"}}, nil)
	if rep.State != engine.AttemptFailed || !rep.Fatal || !strings.Contains(rep.Error, "commit registry") {
		t.Fatalf("report %s fatal=%v %q; want a fatal failure naming the commit registry", rep.State, rep.Fatal, rep.Error)
	}
}

// TestAuthorizeDeniedReportsCancelled: an operator denied the grant ends
// its attempt with a cancelled report, not a (fatal or counted) failure.
func TestAuthorizeDeniedReportsCancelled(t *testing.T) {
	denied := func(ctx context.Context, id engine.AttemptID) (bool, error) { return false, nil }
	rep := engine.RunAttemptWith(context.Background(), nil, engine.TaskSpec{Attempt: engine.AttemptID{Job: "j", Stage: "s", Attempt: 1},
		Operator: "test.sleep", Partitions: 1, Params: map[string]string{"authorize": "true"}}, nil, denied)
	if rep.State != engine.AttemptCancelled || rep.Fatal || !strings.Contains(rep.Error, engine.ErrCommitDenied.Error()) {
		t.Fatalf("report %s fatal=%v %q; want cancelled by a denied commit", rep.State, rep.Fatal, rep.Error)
	}
}
