package scaling

import (
	"context"
	"log/slog"
	"time"
)

// Capacity is the size of an executor group: what was asked for and what
// runs.
type Capacity struct {
	Desired int
	Running int
}

// Autoscaler is a group of executors whose size can be set.
type Autoscaler interface {
	// Capacity returns the group's size now.
	Capacity(ctx context.Context) (Capacity, error)
	// SetDesired asks for n executors.
	SetDesired(ctx context.Context, n int) error
}

// Scaler applies a Policy to an Autoscaler: the coordinators' leader runs
// one.
type Scaler struct {
	Policy Policy
	Group  Autoscaler
	Load   func() Load
	Log    *slog.Logger

	idleSince time.Time
}

// Step measures the load at now, decides, and resizes the group if the
// decision changed. It returns the count asked for.
func (s *Scaler) Step(ctx context.Context, now time.Time) (int, error) {
	c, err := s.Group.Capacity(ctx)
	if err != nil {
		return 0, err
	}
	l := s.Load()
	var idle time.Duration
	if !l.Idle() {
		s.idleSince = time.Time{}
	} else {
		if s.idleSince.IsZero() {
			s.idleSince = now
		}
		idle = now.Sub(s.idleSince)
	}
	want := s.Policy.Desired(c.Desired, l, idle)
	if want == c.Desired {
		return want, nil
	}
	if s.Log != nil {
		s.Log.Info("scaling executors", "from", c.Desired, "to", want, "running", c.Running, "need", l.Need.String(), "jobs", l.Jobs, "idle", idle)
	}
	if err := s.Group.SetDesired(ctx, want); err != nil {
		return c.Desired, err
	}
	return want, nil
}

// Run steps every interval until ctx ends. Errors are logged and retried
// at the next step.
func (s *Scaler) Run(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if _, err := s.Step(ctx, time.Now()); err != nil && s.Log != nil {
			s.Log.Warn("scaling step failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
