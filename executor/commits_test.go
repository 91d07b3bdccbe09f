package executor

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"

	"github.com/celebrity-zones/cz/engine"
	czpb "github.com/celebrity-zones/cz/proto"
)

// TestCommitHistoryRecordsEveryAuthorizeCall: the recorder writes a call
// line before each AuthorizeCommit and a return line after it, with the
// answer or the error; a call whose return line never came reads back as
// not done (unknown outcome); other calls are not recorded.
func TestCommitHistoryRecordsEveryAuthorizeCall(t *testing.T) {
	path := filepath.Join(t.TempDir(), "commits.jsonl")
	r, err := openCommitRecorder(path, "x1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	id := engine.AttemptID{Job: "j", Stage: "s", Partition: 3, Attempt: 2}
	data, _ := json.Marshal(id)
	req := &czpb.AuthorizeRequest{ExecutorId: "x1", Term: 4, AttemptJson: data}
	answer := func(granted bool, err error) grpc.UnaryInvoker {
		return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, opts ...grpc.CallOption) error {
			if resp, ok := reply.(*czpb.AuthorizeResponse); ok && err == nil {
				resp.Granted = granted
			}
			return err
		}
	}
	m := czpb.Executor_AuthorizeCommit_FullMethodName
	if err := r.intercept(context.Background(), m, req, new(czpb.AuthorizeResponse), nil, answer(true, nil)); err != nil {
		t.Fatal(err)
	}
	r.intercept(context.Background(), m, req, new(czpb.AuthorizeResponse), nil, answer(false, nil))
	lost := errors.New("leader stepped down")
	if err := r.intercept(context.Background(), m, req, new(czpb.AuthorizeResponse), nil, answer(false, lost)); err != lost {
		t.Fatalf("the recorder changed the call's error to %v", err)
	}
	r.intercept(context.Background(), czpb.Executor_ReportResults_FullMethodName, &czpb.ReportRequest{}, new(czpb.ReportResponse), nil, answer(false, nil))
	// A call whose process died before it returned: only its call line.
	r.write(CommitCall{Executor: "x1", PID: r.pid, Seq: 99, Attempt: id, Call: 1})

	calls, err := ReadCommitHistory(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 4 {
		t.Fatalf("%d calls recorded, want 4: %+v", len(calls), calls)
	}
	want := []struct {
		done, granted bool
		err           string
	}{{true, true, ""}, {true, false, ""}, {true, false, lost.Error()}, {false, false, ""}}
	for i, w := range want {
		c := calls[i]
		if c.Attempt != id || c.Done != w.done || c.Granted != w.granted || c.Error != w.err {
			t.Errorf("call %d: %+v, want attempt %s done=%v granted=%v error=%q", i, c, id, w.done, w.granted, w.err)
		}
		if c.Done && c.Return < c.Call {
			t.Errorf("call %d returned (%d) before it was sent (%d)", i, c.Return, c.Call)
		}
	}
}
