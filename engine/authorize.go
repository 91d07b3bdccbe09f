package engine

import (
	"context"
	"errors"
	"fmt"
)

// ErrCommitDenied says the commit registry refused an attempt the right
// to perform its side effect: another attempt of the task holds the
// grant or has committed, or this attempt is already written off. The
// operator must stop without the side effect and return the error (it
// may wrap it); the attempt then ends cancelled, not failed, and counts
// no failure against MaxAttempts.
var ErrCommitDenied = errors.New("commit denied by the commit registry")

// Authorizer asks the commit registry whether attempt id may perform its
// side effect (see authorize): true when granted. An error means the
// registry could not answer (the grant may or may not have been given).
// The engine's is Engine.AuthorizeCommit; a remote executor's asks the
// leader over gRPC.
type Authorizer func(ctx context.Context, id AttemptID) (bool, error)

// CommitRegistryUser is an Executor that runs attempts in this process
// and needs the engine's commit registry for Task.Authorize: AddExecutor
// hands it one.
type CommitRegistryUser interface {
	UseCommitRegistry(Authorizer)
}

// Authorize asks the commit registry whether this attempt may perform its
// side effect outside its attempt folder (publishing a file others read,
// moving a "latest" pointer). Call it right before the side effect. It
// returns nil when granted (again for the holder: it is idempotent); an
// error wrapping ErrCommitDenied when another attempt holds the grant or
// committed, after which the operator must return that error without the
// side effect; or another error when the registry could not be asked
// (retryable). A granted attempt keeps the grant until it commits or dies.
func (t *Task) Authorize(ctx context.Context) error {
	if t.authorize == nil {
		return Fatal(fmt.Errorf("attempt %s asked for the commit grant, but it runs without a commit registry (not under an engine)", t.ID))
	}
	ok, err := t.authorize(ctx, t.ID)
	if err != nil {
		return fmt.Errorf("attempt %s: asking the commit registry: %w", t.ID, err)
	}
	if !ok {
		return fmt.Errorf("attempt %s: %w: another attempt holds the grant or committed", t.ID, ErrCommitDenied)
	}
	t.Log.Debug("commit granted")
	return nil
}

// IsCommitDenied reports whether err says the commit registry refused.
func IsCommitDenied(err error) bool { return errors.Is(err, ErrCommitDenied) }
