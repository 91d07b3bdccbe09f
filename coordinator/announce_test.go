package coordinator

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/engine/local"
	_ "github.com/celebrity-zones/cz/engine/testops"
	"github.com/celebrity-zones/cz/internal/testenv"
	"github.com/celebrity-zones/cz/notify"
	"github.com/celebrity-zones/cz/store"
)

// TestClusterAnnouncesJobEndOnce runs a job on 3 coordinators (real Raft
// over TCP, raft-wal) with a notifier: the leader posts one chat message
// and one mail saying the job succeeded and marks the job announced. A
// new leader after the old one is killed sends nothing more for it; but
// when the mark is missing (a leader lost between sending and marking),
// the next leader sends it again.
func TestClusterAnnouncesJobEndOnce(t *testing.T) {
	chat := testenv.StartWebhookSink(t)
	mail := testenv.StartSMTPSink(t)
	b, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	n := notify.New(notify.Config{GChatWebhook: chat.URL, SMTPAddr: mail.Addr, From: "cz@example.com", To: []string{"team@example.com"}})
	c, err := StartLocalCluster(t.TempDir(), 3, Security{Insecure: true}, b, LoopbackTiming, quiet(), func(cfg *Config) {
		cfg.Notifier, cfg.StatusURL = n, "http://status.example:8080"
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	lead, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	eng := c.Nodes[lead].Engine()
	x := local.New("x1", engine.Resources{CPU: 2, MemoryMB: 1024}, b, quiet())
	defer x.Close()
	if err := eng.AddExecutor(x); err != nil {
		t.Fatal(err)
	}
	id, err := eng.Submit(engine.JobSpec{Version: engine.SpecVersion, Name: "announce-me", Params: map[string]string{"n": "10"}, Stages: []engine.StageSpec{
		{Name: "nums", Operator: "test.numbers", Partitions: 2, Resources: engine.Resources{CPU: 1}},
		{Name: "total", Operator: "test.sum", Partitions: 1, Upstream: []string{"nums"}, Resources: engine.Resources{CPU: 1},
			Params: map[string]string{"from": "nums"}},
	}}, "")
	if err != nil {
		t.Fatal(err)
	}
	j, err := eng.Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != engine.JobSucceeded {
		t.Fatalf("job %s is %s: %s", id, j.State, j.Error)
	}

	// The mark is written after both channels took the message.
	until(t, ctx, "the job marked announced", func() bool {
		_, err := b.Stat(ctx, NotifiedKey(id))
		return err == nil
	})
	assertSent(t, chat, mail, 1)
	text, _ := chat.Messages()[0]["text"].(string)
	for _, want := range []string{"announce-me succeeded", id, "http://status.example:8080/jobs/" + id, "took "} {
		if !strings.Contains(text, want) {
			t.Errorf("chat text %q lacks %q", text, want)
		}
	}
	if m := mail.Mails()[0]; !strings.Contains(m.Data, "Subject: [cz] announce-me succeeded") || !strings.Contains(m.Data, id) {
		t.Errorf("mail does not name the job and its state:\n%s", m.Data)
	}
	data, err := store.ReadAll(ctx, b, NotifiedKey(id))
	if err != nil {
		t.Fatal(err)
	}
	var mark notifiedMark
	if err := json.Unmarshal(data, &mark); err != nil || mark.State != "succeeded" || mark.Node != c.Nodes[lead].ID() {
		t.Fatalf("mark %s (%v): want state succeeded by node %s", data, err, c.Nodes[lead].ID())
	}

	// A new leader finds the job marked: nothing more is sent.
	c.Kill(lead)
	now := newLeaderLooked(t, ctx, c)
	time.Sleep(300 * time.Millisecond) // a message on its way would land here
	assertSent(t, chat, mail, 1)

	// Without the mark the next leader announces the job again.
	if err := b.Delete(ctx, NotifiedKey(id)); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(lead); err != nil {
		t.Fatal(err)
	}
	c.Kill(now)
	newLeaderLooked(t, ctx, c)
	assertSent(t, chat, mail, 2)
	if _, err := b.Stat(ctx, NotifiedKey(id)); err != nil {
		t.Fatalf("the job is not marked again: %v", err)
	}
}

// newLeaderLooked waits for a leader and its first look at the finished
// jobs (the sends it made then included).
func newLeaderLooked(t *testing.T, ctx context.Context, c *LocalCluster) int {
	t.Helper()
	i, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l := c.Nodes[i].leader()
	if l == nil {
		t.Fatalf("node %d lost leadership at once", i)
	}
	select {
	case <-l.firstPass:
	case <-ctx.Done():
		t.Fatal("the new leader never looked at the finished jobs")
	}
	return i
}

func assertSent(t *testing.T, chat *testenv.WebhookSink, mail *testenv.SMTPSink, want int) {
	t.Helper()
	if got := len(chat.Messages()); got != want {
		t.Fatalf("chat got %d messages, want %d", got, want)
	}
	if got := len(mail.Mails()); got != want {
		t.Fatalf("mail got %d messages, want %d", got, want)
	}
}

func until(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if ctx.Err() != nil {
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
