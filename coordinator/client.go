package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/celebrity-zones/cz/engine"
	czpb "github.com/celebrity-zones/cz/proto"
)

// Client talks to a cluster through any of its coordinators: a follower
// forwards writes to the leader; a coordinator that does not answer is
// skipped for the next one.
type Client struct {
	addrs []string
	conns []*grpc.ClientConn
}

// Dial prepares connections to the coordinators at addrs.
func Dial(addrs []string, sec Security) (*Client, error) {
	if len(addrs) == 0 {
		return nil, errors.New("no coordinator address")
	}
	opts, err := sec.DialOptions()
	if err != nil {
		return nil, err
	}
	c := &Client{addrs: addrs}
	for _, a := range addrs {
		conn, err := grpc.NewClient(a, opts...)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.conns = append(c.conns, conn)
	}
	return c, nil
}

// Close closes the connections.
func (c *Client) Close() error {
	for _, conn := range c.conns {
		conn.Close()
	}
	return nil
}

// call tries each coordinator until one answers with something other
// than "unavailable" (or a follower without a leader).
func (c *Client) call(ctx context.Context, f func(czpb.ClientClient) error) error {
	var errs []error
	for round := 0; round < 20; round++ {
		errs = errs[:0] // report the last round only
		for i, conn := range c.conns {
			err := f(czpb.NewClientClient(conn))
			if err == nil {
				return nil
			}
			switch status.Code(err) {
			case codes.Unavailable, codes.FailedPrecondition, codes.DeadlineExceeded:
				if status.Code(err) == codes.FailedPrecondition && LeaderHint(err) == "" {
					return err // a real precondition (cancel a finished job, say)
				}
				errs = append(errs, fmt.Errorf("%s: %w", c.addrs[i], err))
				continue
			}
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(append(errs, ctx.Err())...)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.Join(errs...)
}

// Submit submits a job spec; a repeated idempotency key returns the
// first job's ID.
func (c *Client) Submit(ctx context.Context, spec engine.JobSpec, key string) (string, error) {
	data, err := json.Marshal(spec)
	if err != nil {
		return "", err
	}
	var id string
	err = c.call(ctx, func(cc czpb.ClientClient) error {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		r, err := cc.SubmitJob(cctx, &czpb.SubmitJobRequest{SpecJson: data, IdempotencyKey: key})
		if err == nil {
			id = r.JobId
		}
		return err
	})
	return id, err
}

// Job reads a job.
func (c *Client) Job(ctx context.Context, id string) (*engine.Job, error) {
	var j engine.Job
	err := c.call(ctx, func(cc czpb.ClientClient) error {
		r, err := cc.GetJob(ctx, &czpb.GetJobRequest{JobId: id})
		if err != nil {
			return err
		}
		return json.Unmarshal(r.JobJson, &j)
	})
	if err != nil {
		return nil, err
	}
	return &j, nil
}

// Jobs lists the jobs.
func (c *Client) Jobs(ctx context.Context) ([]*czpb.JobSummary, error) {
	var out []*czpb.JobSummary
	err := c.call(ctx, func(cc czpb.ClientClient) error {
		r, err := cc.ListJobs(ctx, &czpb.ListJobsRequest{})
		if err == nil {
			out = r.Jobs
		}
		return err
	})
	return out, err
}

// Cancel cancels a job.
func (c *Client) Cancel(ctx context.Context, id, reason string) error {
	return c.call(ctx, func(cc czpb.ClientClient) error {
		_, err := cc.CancelJob(ctx, &czpb.CancelJobRequest{JobId: id, Reason: reason})
		return err
	})
}

// Wait follows a job (WatchJob, reconnecting through coordinator
// failures) until it ends, calling progress, when set, on each change,
// and returns the finished job.
func (c *Client) Wait(ctx context.Context, id string, progress func(*czpb.JobSummary)) (*engine.Job, error) {
	for {
		var final *engine.Job
		err := c.call(ctx, func(cc czpb.ClientClient) error {
			s, err := cc.WatchJob(ctx, &czpb.GetJobRequest{JobId: id})
			if err != nil {
				return err
			}
			for {
				r, err := s.Recv()
				if err != nil {
					return err
				}
				if progress != nil && r.Summary != nil {
					progress(r.Summary)
				}
				if len(r.JobJson) > 0 {
					var j engine.Job
					if err := json.Unmarshal(r.JobJson, &j); err != nil {
						return err
					}
					final = &j
					return nil
				}
			}
		})
		if final != nil {
			return final, nil
		}
		if err != nil && status.Code(err) != codes.Unavailable && status.Code(err) != codes.Unknown {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Cluster describes the group as the first answering member sees it.
func (c *Client) Cluster(ctx context.Context) (*czpb.ClusterResponse, error) {
	var out *czpb.ClusterResponse
	err := c.call(ctx, func(cc czpb.ClientClient) error {
		r, err := cc.Cluster(ctx, &czpb.ClusterRequest{})
		out = r
		return err
	})
	return out, err
}
