package trigger

import (
	"context"
	"fmt"
	"os"

	"github.com/celebrity-zones/cz/coordinator"
	"github.com/celebrity-zones/cz/engine"
)

// Submitter hands a job to the engine. A repeated non-empty idempotency
// key must return the first job's ID and start nothing.
type Submitter interface {
	Submit(ctx context.Context, spec engine.JobSpec, idempotencyKey string) (jobID string, err error)
}

// EngineSubmitter submits to an engine in this process (tests, the
// embedded mode).
type EngineSubmitter struct{ Engine *engine.Engine }

// Submit implements Submitter.
func (s EngineSubmitter) Submit(_ context.Context, spec engine.JobSpec, key string) (string, error) {
	return s.Engine.Submit(spec, key)
}

// The coordinators' client is the production Submitter.
var _ Submitter = (*coordinator.Client)(nil)

// DialCoordinators connects to the coordinators of c with the cluster's
// client (package coordinator): TLS against the cluster CA, the bearer
// token on every call, and the next coordinator when one does not answer.
// No traffic until the first call.
func DialCoordinators(c Config) (*coordinator.Client, error) {
	sec := coordinator.Security{Token: c.Token, Insecure: c.Insecure}
	if !c.Insecure {
		// The client reads the CA from a file, once, while dialling.
		f, err := os.CreateTemp("", "cz-ca-*.pem")
		if err != nil {
			return nil, err
		}
		defer os.Remove(f.Name())
		_, err = f.Write(c.CAPEM)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("cluster CA: %w", err)
		}
		sec.CAFile = f.Name()
	}
	cl, err := coordinator.Dial(c.Coordinators, sec)
	if err != nil {
		return nil, fmt.Errorf("coordinators %v: %w", c.Coordinators, err)
	}
	return cl, nil
}
