package notify

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/internal/testenv"
)

func TestNotifyReachesChatAndMail(t *testing.T) {
	chat := testenv.StartWebhookSink(t)
	mail := testenv.StartSMTPSink(t)
	n := New(Config{GChatWebhook: chat.URL, SMTPAddr: mail.Addr, From: "cz@example.com", To: []string{"team@example.com", "oncall@example.com"}})
	e := Event{Job: "j-42", Name: "daily-runner 2026-11-01", State: "failed", Link: "http://127.0.0.1:8080/jobs/j-42", Summary: "stage inference: 2 tasks failed"}
	if err := n.Notify(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	msgs := chat.Messages()
	if len(msgs) != 1 {
		t.Fatalf("chat got %d messages, want 1", len(msgs))
	}
	text, _ := msgs[0]["text"].(string)
	for _, want := range []string{"daily-runner 2026-11-01 failed", "j-42", "http://127.0.0.1:8080/jobs/j-42", "2 tasks failed"} {
		if !strings.Contains(text, want) {
			t.Errorf("chat text %q lacks %q", text, want)
		}
	}
	mails := mail.Mails()
	if len(mails) != 1 || len(mails[0].To) != 2 || mails[0].From != "cz@example.com" {
		t.Fatalf("mails = %+v, want one to two recipients from cz@example.com", mails)
	}
	for _, want := range []string{"Subject: [cz] daily-runner 2026-11-01 failed", "http://127.0.0.1:8080/jobs/j-42"} {
		if !strings.Contains(mails[0].Data, want) {
			t.Errorf("mail lacks %q:\n%s", want, mails[0].Data)
		}
	}
}

func TestNotifyReportsADeadChannel(t *testing.T) {
	n := New(Config{GChatWebhook: "http://127.0.0.1:1/hook"})
	if err := n.Notify(context.Background(), Event{Job: "j", State: "started"}); err == nil || !strings.Contains(err.Error(), "google chat") {
		t.Fatalf("err = %v, want a google chat delivery error", err)
	}
	if err := New(Config{}).Notify(context.Background(), Event{Job: "j"}); err != nil {
		t.Fatalf("no channels configured: err = %v, want nil", err)
	}
}

// TestJobEvents: the events the embedded runner and the cluster's leader
// send are built in one place: a success says how long the job took, a
// failure gives its error, both dated when the job ended and linked to
// its page.
func TestJobEvents(t *testing.T) {
	sub := time.Date(2026, 11, 1, 3, 0, 0, 0, time.UTC)
	ok := &engine.Job{ID: "j-1", Spec: engine.JobSpec{Name: "daily-runner 2026-10-31"}, State: engine.JobSucceeded,
		Submitted: sub, Finished: sub.Add(90*time.Second + 1234*time.Microsecond)}
	e := JobEnded(ok, "http://127.0.0.1:8080/")
	want := Event{Job: "j-1", Name: "daily-runner 2026-10-31", State: "succeeded", Link: "http://127.0.0.1:8080/jobs/j-1",
		Summary: "took 1m30.001s", Time: ok.Finished}
	if e != want {
		t.Errorf("success event = %+v, want %+v", e, want)
	}
	bad := &engine.Job{ID: "j-2", Spec: engine.JobSpec{Name: "batch"}, State: engine.JobCancelled, Error: "cancelled by ops",
		Submitted: sub, Finished: sub.Add(time.Minute)}
	if e := JobEnded(bad, ""); e.State != "cancelled" || e.Summary != "cancelled by ops" || e.Link != "" || !e.Time.Equal(bad.Finished) {
		t.Errorf("cancellation event = %+v, want state cancelled, the job's error, no link", e)
	}
	if e := JobStarted("j-3", "batch", "http://s"); e.State != "started" || e.Link != "http://s/jobs/j-3" || e.Name != "batch" {
		t.Errorf("start event = %+v", e)
	}
}
