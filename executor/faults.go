package executor

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/celebrity-zones/cz/engine"
	czpb "github.com/celebrity-zones/cz/proto"
)

// Faults are network faults this executor injects into its own calls to
// the leader, FOR TESTS ONLY: the end-to-end tests run real executor
// processes with them (cz executor reads CZ_FAULTS) to check that the
// leader takes each result exactly once whatever the network does. A
// production executor runs with the zero value, which injects nothing.
//
// ParseFaults reads them from a comma-separated list of:
//
//	report-delay=DURATION  every ReportResults call waits a random 0..DURATION before it is sent
//	report-twice           every ReportResults call is sent twice, the duplicate after another
//	                       random 0..DURATION, as by a network that retries; the caller gets
//	                       the first call's response
//	hold-commit            the first ReportResults call that carries a committed report is never
//	                       sent: it logs the WARN line "fault: holding a committed report" (with
//	                       attempt=ID) and blocks until its context ends, so that a test can kill
//	                       the process after its upload and before the leader heard of the commit
type Faults struct {
	ReportDelay time.Duration
	ReportTwice bool
	HoldCommit  bool
}

// HoldCommitMessage is the line hold-commit logs when it holds a report.
const HoldCommitMessage = "fault: holding a committed report"

// ParseFaults reads a fault list such as "report-delay=30ms,report-twice"
// ("" is no faults).
func ParseFaults(spec string) (Faults, error) {
	var f Faults
	seen := map[string]bool{}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, value, hasValue := strings.Cut(item, "=")
		if seen[name] {
			return Faults{}, fmt.Errorf("faults %q: %q given twice", spec, name)
		}
		seen[name] = true
		switch name {
		case "report-delay":
			d, err := time.ParseDuration(value)
			if err != nil || d <= 0 {
				return Faults{}, fmt.Errorf("faults %q: item %q: want report-delay=DURATION, a positive duration such as 30ms", spec, item)
			}
			f.ReportDelay = d
		case "report-twice", "hold-commit":
			if hasValue {
				return Faults{}, fmt.Errorf("faults %q: item %q: %s takes no value", spec, item, name)
			}
			if name == "report-twice" {
				f.ReportTwice = true
			} else {
				f.HoldCommit = true
			}
		default:
			return Faults{}, fmt.Errorf("faults %q: unknown item %q (want report-delay=DURATION, report-twice or hold-commit)", spec, item)
		}
	}
	return f, nil
}

// String returns the list ParseFaults reads back.
func (f Faults) String() string {
	var items []string
	if f.ReportDelay > 0 {
		items = append(items, "report-delay="+f.ReportDelay.String())
	}
	if f.ReportTwice {
		items = append(items, "report-twice")
	}
	if f.HoldCommit {
		items = append(items, "hold-commit")
	}
	return strings.Join(items, ",")
}

// Interceptor returns the gRPC unary client interceptor that injects f
// into ReportResults calls (other calls pass untouched), or nil for no
// faults. Hold-commit holds once per interceptor: an executor makes one
// for all its connections.
func (f Faults) Interceptor(logger *slog.Logger) grpc.UnaryClientInterceptor {
	if f == (Faults{}) {
		return nil
	}
	if logger == nil {
		logger = slog.Default()
	}
	var held atomic.Bool
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if method != czpb.Executor_ReportResults_FullMethodName {
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		if f.HoldCommit {
			if id, ok := committedReport(req); ok && held.CompareAndSwap(false, true) {
				logger.Warn(HoldCommitMessage, "attempt", id)
				<-ctx.Done()
				return ctx.Err()
			}
		}
		if err := sleepCtx(ctx, f.jitter()); err != nil {
			return err
		}
		err := invoker(ctx, method, req, reply, cc, opts...)
		if f.ReportTwice {
			// The duplicate outlives the caller, as a packet in flight.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			dup := new(czpb.ReportResponse)
			go func() {
				defer cancel()
				if err := sleepCtx(dctx, f.jitter()); err != nil {
					return
				}
				if err := invoker(dctx, method, req, dup, cc, opts...); err != nil {
					logger.Debug("fault: duplicate report", "err", err)
				}
			}()
		}
		return err
	}
}

// jitter is a random wait in [0, ReportDelay].
func (f Faults) jitter() time.Duration {
	if f.ReportDelay <= 0 {
		return 0
	}
	return rand.N(f.ReportDelay + 1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// committedReport returns the attempt of the first committed report a
// ReportResults request carries.
func committedReport(req any) (string, bool) {
	r, ok := req.(*czpb.ReportRequest)
	if !ok {
		return "", false
	}
	for _, data := range r.ReportsJson {
		var rep engine.Report
		if json.Unmarshal(data, &rep) == nil && rep.State == engine.AttemptCommitted {
			return rep.Attempt.String(), true
		}
	}
	return "", false
}
