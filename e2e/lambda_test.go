package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/celebrity-zones/cz/ann"
	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/internal/testenv"
	"github.com/celebrity-zones/cz/layout"
	"github.com/celebrity-zones/cz/sample"
	"github.com/celebrity-zones/cz/store"
	"github.com/celebrity-zones/cz/trigger"
)

// TestLambdaDeliveriesOnTheSystem drives the system as processes the way
// production does: the Lambda's handlers get the S3 notifications of two
// new-zone batches uploaded at once, each delivered twice at the same
// moment (Lambda retries and at-least-once delivery); then the real
// function binary under the Lambda runtime emulator gets the daily
// schedule, twice. Each event gives one job; the two batches run
// at once and the ground truth and index end up with every zone of both;
// the ledger holds.
func TestLambdaDeliveriesOnTheSystem(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	srv, w, ans := s3Sample(t, ctx, "lambda-", sample.Options{Seed: 61, Days: 1, VideosPerDay: 6})
	if len(ans.Batches) < 2 {
		t.Fatalf("the sample has %d batches; this scenario needs two", len(ans.Batches))
	}
	s := startOn(t, ctx, srv, w, defaultExecutors())
	ca, err := os.ReadFile(filepath.Join(s.Certs, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := trigger.Config{Jobs: w.cfg, TimeZone: time.UTC, Coordinators: s.APIs, Token: s.Token, CAPEM: ca}
	client, err := trigger.DialCoordinators(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	h := trigger.New(cfg, client)

	// deliverTwice invokes the handler with ev twice at once and returns
	// the job both deliveries name.
	deliverTwice := func(ev any) string {
		payload, _ := json.Marshal(ev)
		var got [2][]trigger.Result
		var errs [2]error
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Add(1)
			go func() { defer wg.Done(); got[i], errs[i] = h.Invoke(ctx, payload) }()
		}
		wg.Wait()
		if err := errors.Join(errs[0], errs[1]); err != nil {
			t.Fatal(err)
		}
		if len(got[0]) != 1 || len(got[1]) != 1 || got[0][0].Action != "submitted" || got[0][0].Job != got[1][0].Job {
			t.Fatalf("two deliveries of one event gave %+v and %+v; want one submitted job", got[0], got[1])
		}
		return got[0][0].Job
	}
	u, _ := url.Parse(w.cfg.Buckets.External)
	upload := func(i int) events.S3Event {
		batch := ans.Batches[i].Batch
		return events.S3Event{Records: []events.S3EventRecord{{EventName: "ObjectCreated:Put", S3: events.S3Entity{
			Bucket: events.S3Bucket{Name: u.Host},
			Object: events.S3Object{Key: url.QueryEscape(u.Path[1:] + "/zone-list/" + batch + ".csv"), Sequencer: "0066F2A1B3C4D5E6F" + string(rune('0'+i))},
		}}}}
	}

	var batchJobs [2]string
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); batchJobs[i] = deliverTwice(upload(i)) }()
	}
	wg.Wait()
	if batchJobs[0] == batchJobs[1] {
		t.Fatalf("two batches gave one job %s", batchJobs[0])
	}
	var finished []*engine.Job
	wait := func(id string) {
		j := s.Wait(t, ctx, id)
		if j.State != engine.JobSucceeded {
			t.Fatalf("job %s (%s) %s: %s", j.ID, j.Spec.Name, j.State, j.Error)
		}
		finished = append(finished, j)
	}
	wait(batchJobs[0])
	wait(batchJobs[1])
	if a, b := finished[0], finished[1]; !a.Submitted.Before(b.Finished) || !b.Submitted.Before(a.Finished) {
		t.Fatalf("the two batches did not overlap: %s–%s and %s–%s", a.Submitted, a.Finished, b.Submitted, b.Finished)
	}

	// The schedule goes to the real function (cmd/czlambda under the
	// Lambda runtime emulator, configured by its environment as in
	// production), twice, one after the other as the emulator allows.
	jobConfig, _ := json.Marshal(w.cfg)
	fn := testenv.StartLambda(t, testenv.BuildLambda(t), []string{"CZ_TRIGGER=schedule", "CZ_TIMEZONE=UTC",
		"CZ_JOB_CONFIG=" + string(jobConfig), "CZ_COORDINATORS=" + strings.Join(s.APIs, ","),
		"CZ_TOKEN=" + s.Token, "CZ_CA_FILE=" + filepath.Join(s.Certs, "ca.pem")})
	detail, _ := json.Marshal(trigger.ScheduleDetail{Date: ans.Days[0]})
	sched, _ := json.Marshal(events.EventBridgeEvent{ID: "5b0e7c1a-0000-4000-8000-000000000001", DetailType: "Scheduled Event",
		Source: "aws.events", Time: time.Now(), Detail: detail})
	first, again := fn.Invoke(t, sched), fn.Invoke(t, sched)
	daily, _ := first["job"].(string)
	if first["action"] != "submitted" || daily == "" || again["job"] != daily {
		t.Fatalf("the schedule delivered twice to the function: %v then %v; want one submitted job", first, again)
	}
	wait(daily)

	all, err := s.Client.Jobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Fatalf("%d jobs after six deliveries of three events, want 3", len(all))
	}
	x, version, err := ann.LoadLatest(ctx, w.b.Internal, layout.Index(model))
	if err != nil {
		t.Fatal(err)
	}
	zones := map[string]bool{}
	for _, it := range x.Items() {
		zones[it.Label] = true
	}
	if len(zones) != len(ans.ZonesByID()) {
		t.Errorf("latest index %s has %d zones, want all %d of both batches", version, len(zones), len(ans.ZonesByID()))
	}
	if _, err := w.b.Internal.Stat(ctx, layout.Lock("ground-truth")); !errors.Is(err, store.ErrNotExist) {
		t.Errorf("the ground-truth lock is still held after both batches: %v", err)
	}
	s.CheckLedger(t, ctx, w.work, finished)
	problems, _ := Check(ctx, w.b, w.work, finished, ans, w.cfg, model, nil)
	for _, p := range problems {
		t.Error(p)
	}
}
