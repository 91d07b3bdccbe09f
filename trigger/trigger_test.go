package trigger

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/celebrity-zones/cz/contracts"
	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/internal/testenv"
	"github.com/celebrity-zones/cz/jobs"
	"github.com/celebrity-zones/cz/layout"
	"github.com/celebrity-zones/cz/notify"
	"github.com/celebrity-zones/cz/sample"
	"github.com/celebrity-zones/cz/store"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// invoke runs the handler the way the Lambda runtime does: JSON in,
// JSON out, through aws-lambda-go's reflection.
func invoke(t *testing.T, h *Handlers, payload []byte) ([]Result, error) {
	t.Helper()
	out, err := lambda.NewHandler(h.Invoke).Invoke(context.Background(), payload)
	if err != nil {
		return nil, err
	}
	var rs []Result
	if err := json.Unmarshal(out, &rs); err != nil {
		t.Fatalf("handler answered %s: %v", out, err)
	}
	return rs, nil
}

func jobsNamed(eng *engine.Engine, name string) []*engine.Job {
	var out []*engine.Job
	for _, j := range eng.Jobs() {
		if j.Spec.Name == name {
			out = append(out, j)
		}
	}
	return out
}

// TestUploadThenScheduleRunRealJobs drives the pipeline from events only:
// the zone-list upload of the sample's first batch starts the Batch Runner,
// the nightly schedule then starts the Daily Runner for the right day, and
// both jobs run to success on an engine in this process. Every event is
// delivered twice, and starts one job.
func TestUploadThenScheduleRunRealJobs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := jobs.LocalConfig(dir)
	cfg.Partitions = 1
	b, err := layout.Open(ctx, cfg.Buckets)
	if err != nil {
		t.Fatal(err)
	}
	photos, err := sample.LoadPhotos(testenv.Path(t, "dlib"))
	if err != nil {
		t.Fatal(err)
	}
	ans, err := sample.Generate(ctx, b, photos, sample.Options{Seed: 3, Days: 1, VideosPerDay: 2})
	if err != nil {
		t.Fatal(err)
	}
	if ans.Batches[0].Batch != "2026-10-31@1" || ans.Days[0] != "2026-11-01" {
		t.Fatalf("the fixtures name batch 2026-10-31@1 and day 2026-11-01; the sample has %s and %s", ans.Batches[0].Batch, ans.Days[0])
	}
	work, err := store.OpenDir(filepath.Join(dir, "engine"))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := jobs.StartLocal(work, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	kolkata, _ := time.LoadLocation("Asia/Kolkata")
	h := New(Config{Jobs: cfg, TimeZone: kolkata}, EngineSubmitter{eng.Engine})

	wait := func(id string) *engine.Job {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		j, err := eng.Engine.Wait(wctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != engine.JobSucceeded {
			t.Fatalf("job %s (%s) %s: %s", j.ID, j.Spec.Name, j.State, j.Error)
		}
		return j
	}

	// The zone list lands: validated, then the Batch Runner.
	up := fixture(t, "s3-zone-list-put.json")
	rs, err := invoke(t, h, up)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Action != "submitted" || rs[0].Name != "new-batch-runner-2026-10-31@1" {
		t.Fatalf("upload results = %+v, want the batch runner of 2026-10-31@1 submitted", rs)
	}
	if want := "s3/cz-external-bucket/zone-list/2026-10-31@1.csv@0066F2A1B3C4D5E6F7"; rs[0].Key != want {
		t.Errorf("idempotency key %q, want %q", rs[0].Key, want)
	}
	batchJob := rs[0].Job
	again, err := invoke(t, h, up)
	if err != nil || len(again) != 1 || again[0].Job != batchJob {
		t.Fatalf("second delivery of the upload: %+v, %v; want the same job %s", again, err, batchJob)
	}
	wait(batchJob)
	if n := len(jobsNamed(eng.Engine, "new-batch-runner-2026-10-31@1")); n != 1 {
		t.Errorf("%d batch jobs after two deliveries, want 1", n)
	}
	if _, err := b.Internal.Stat(ctx, layout.ZoneRegistry); err != nil {
		t.Errorf("the batch job ran but wrote no zone registry: %v", err)
	}

	// 20:00 UTC on 1 November is 01:30 on 2 November in Kolkata: the
	// schedule means 1 November there (31 October in UTC).
	sched := fixture(t, "eventbridge-scheduled.json")
	rs, err = invoke(t, h, sched)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Name != "daily-runner-2026-11-01" || rs[0].Key != "eventbridge/53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa" {
		t.Fatalf("schedule results = %+v, want daily-runner-2026-11-01 keyed by the event id", rs)
	}
	dailyJob := rs[0].Job
	if again, err := invoke(t, h, sched); err != nil || again[0].Job != dailyJob {
		t.Fatalf("second delivery of the schedule: %+v, %v; want the same job %s", again, err, dailyJob)
	}
	wait(dailyJob)
	day, _ := contracts.ParseDate("2026-11-01")
	if _, err := b.External.Stat(ctx, layout.PredictedDaily(day)); err != nil {
		t.Errorf("the daily job ran but wrote no predicted data: %v", err)
	}
	if n := len(eng.Engine.Jobs()); n != 2 {
		t.Errorf("%d jobs after four deliveries of two events, want 2", n)
	}
}

func TestTargetDate(t *testing.T) {
	la, _ := time.LoadLocation("America/Los_Angeles")
	at := time.Date(2026, 3, 1, 5, 0, 0, 0, time.UTC) // 28 Feb 21:00 in Los Angeles
	for _, c := range []struct {
		tz     *time.Location
		detail string
		want   string
		err    string
	}{
		{time.UTC, `{}`, "2026-02-28", ""},
		{la, `{}`, "2026-02-27", ""},
		{la, ``, "2026-02-27", ""},
		{la, `{"date":"2025-12-31"}`, "2025-12-31", ""},
		{time.UTC, `{"date":"2025-02-30"}`, "", "detail.date"},
		{time.UTC, `[1]`, "", "detail"},
	} {
		h := New(Config{TimeZone: c.tz}, nil)
		got, err := h.targetDate(events.EventBridgeEvent{ID: "x", Time: at, Detail: json.RawMessage(c.detail)})
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s %s: error %v, want one about %s", c.tz, c.detail, err, c.err)
			}
			continue
		}
		if err != nil || got.Format(contracts.DateLayout) != c.want {
			t.Errorf("%s %s: %v %v, want %s", c.tz, c.detail, got, err, c.want)
		}
	}
}

func TestExternalKey(t *testing.T) {
	for _, c := range []struct {
		url, bucket, key, want string
		ok                     bool
	}{
		{"s3://cz-ext", "cz-ext", "zone-list/2026-10-31%401.csv", "zone-list/2026-10-31@1.csv", true},
		{"s3://cz-ext/team/", "cz-ext", "team/zone-list/a+b.csv", "zone-list/a b.csv", true},
		{"s3://cz-ext/team", "cz-ext", "other/zone-list/x.csv", "", false},
		{"s3://cz-ext", "elsewhere", "zone-list/x.csv", "", false},
		{"s3://cz-ext", "cz-ext", "zone-list/%zz.csv", "", false},
		{"file:///tmp/x", "anything", "zone-list/x.csv", "zone-list/x.csv", true},
	} {
		h := New(Config{Jobs: jobs.Config{Buckets: layout.Config{External: c.url}}}, nil)
		got, ok, why := h.externalKey(c.bucket, c.key)
		if got != c.want || ok != c.ok {
			t.Errorf("%s %s %s: %q %v (%s), want %q %v", c.url, c.bucket, c.key, got, ok, why, c.want, c.ok)
		}
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{
		"CZ_TRIGGER": "upload", "CZ_EXTERNAL_URL": "s3://ext", "CZ_INTERNAL_URL": "s3://int/cz", "CZ_CONTENT_URL": "s3://content",
		"CZ_JOB_CONFIG": `{"partitions": 16, "face": {"provider": "cuda"}}`, "CZ_TIMEZONE": "Asia/Kolkata",
		"CZ_COORDINATORS": "10.0.1.10:7001, 10.0.2.10:7001,10.0.3.10:7001", "CZ_TOKEN": "t0k", "CZ_CA_FILE": "/ca.pem",
		"CZ_MAIL_TO": "a@example.com,b@example.com",
	}
	c, err := FromEnv(func(k string) string { return env[k] }, func(string) ([]byte, error) { return []byte("PEM"), nil })
	if err != nil {
		t.Fatal(err)
	}
	if c.Kind != Upload || c.Jobs.Partitions != 16 || c.Jobs.Face.Provider != "cuda" || c.Jobs.Buckets.Internal != "s3://int/cz" ||
		c.TimeZone.String() != "Asia/Kolkata" || len(c.Coordinators) != 3 || c.Coordinators[1] != "10.0.2.10:7001" ||
		string(c.CAPEM) != "PEM" || len(c.Notify.To) != 2 {
		t.Errorf("config = %+v", c)
	}
	for k, want := range map[string]string{"CZ_TRIGGER": "CZ_TRIGGER", "CZ_CONTENT_URL": "CZ_CONTENT_URL", "CZ_COORDINATORS": "CZ_COORDINATORS", "CZ_CA_FILE": "CA", "CZ_TIMEZONE": "CZ_TIMEZONE"} {
		bad := map[string]string{}
		for k2, v := range env {
			bad[k2] = v
		}
		switch k {
		case "CZ_TRIGGER":
			bad[k] = "cron"
		case "CZ_TIMEZONE":
			bad[k] = "Mars/Olympus"
		default:
			delete(bad, k)
		}
		_, err := FromEnv(func(k string) string { return bad[k] }, os.ReadFile)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("without a good %s: error %v, want one naming %s", k, err, want)
		}
	}
}

// TestInvalidUploadOnS3 runs the upload handler against a real S3 API
// (versitygw): a broken zone list gets a validation report next to it and
// one alert, however often the event is delivered, and starts nothing;
// other keys, removals and other buckets are ignored.
func TestInvalidUploadOnS3(t *testing.T) {
	ctx := context.Background()
	s3 := testenv.StartS3(t)
	ext := s3.Open(t, "cz-external-bucket", "", true)
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": s3.AccessKey, "AWS_SECRET_ACCESS_KEY": s3.SecretKey, "AWS_REGION": "us-east-1",
		"CZ_S3_ENDPOINT": s3.Endpoint, "CZ_S3_PATH_STYLE": "true"} {
		t.Setenv(k, v)
	}
	batch, _ := contracts.ParseBatchID("2026-10-31@1")
	zone := "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
	list := "Zone ID,Zone Name,Keywords\nnot-a-uuid,Someone,\n" + zone + ",Tom Cruise,actor\n"
	if err := store.PutBytes(ctx, ext, layout.ZoneList(batch), []byte(list)); err != nil {
		t.Fatal(err)
	}
	if err := store.PutBytes(ctx, ext, layout.GroundTruthImages(batch)+zone+"/Tom Cruise 1.jpg", []byte("not a jpeg")); err != nil {
		t.Fatal(err)
	}
	chat := testenv.StartWebhookSink(t)
	eng := engine.New(engine.Config{Bucket: mustDir(t)})
	cfg := jobs.Config{Buckets: layout.Config{External: "s3://cz-external-bucket", Internal: "s3://cz-internal", Content: "s3://content"}}
	h := New(Config{Jobs: cfg, Notify: notify.Config{GChatWebhook: chat.URL}, StatusURL: "http://status.example"}, EngineSubmitter{eng})

	up := fixture(t, "s3-zone-list-put.json")
	rs, err := invoke(t, h, up)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Action != "rejected" {
		t.Fatalf("results = %+v, want the upload rejected", rs)
	}
	joined := strings.Join(rs[0].Problems, "\n")
	for _, want := range []string{"zone-list/2026-10-31@1.csv:2", "Zone ID"} {
		if !strings.Contains(joined, want) {
			t.Errorf("problems %q do not mention %q", joined, want)
		}
	}
	data, err := store.ReadAll(ctx, ext, layout.ValidationReport(batch))
	if err != nil {
		t.Fatalf("no validation report next to the upload: %v", err)
	}
	var rep UploadReport
	if err := json.Unmarshal(data, &rep); err != nil || rep.Valid || rep.Batch != "2026-10-31@1" || len(rep.Problems) == 0 || rep.Upload != rs[0].Key {
		t.Errorf("report = %s (%v)", data, err)
	}
	if _, err := invoke(t, h, up); err != nil {
		t.Fatal(err)
	}
	msgs := chat.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d alerts after two deliveries, want 1: %v", len(msgs), msgs)
	}
	if text := msgs[0]["text"].(string); !strings.Contains(text, "rejected") || !strings.Contains(text, "validation-report.json") {
		t.Errorf("alert %q does not say rejected and where the report is", text)
	}

	// The zone list is fixed; the image is still broken.
	fixed := "Zone ID,Zone Name,Keywords\n" + zone + ",Tom Cruise,actor\n"
	store.PutBytes(ctx, ext, layout.ZoneList(batch), []byte(fixed))
	var ev events.S3Event
	json.Unmarshal(up, &ev)
	ev.Records[0].S3.Object.Sequencer = "0066F2A1B3C4D5FF00"
	payload, _ := json.Marshal(ev)
	rs, err = invoke(t, h, payload)
	if err != nil || len(rs) != 1 || rs[0].Action != "rejected" || !strings.Contains(strings.Join(rs[0].Problems, "\n"), "Tom Cruise 1.jpg") {
		t.Fatalf("re-upload with a bad image: %+v %v, want it rejected naming the image", rs, err)
	}
	if len(chat.Messages()) != 2 {
		t.Errorf("a new upload that fails again should alert again; %d alerts", len(chat.Messages()))
	}

	// A zone list named after no date: the team hears of it.
	ev.Records[0].S3.Object.Key = "zone-list/2026-13-01%401.csv"
	payload, _ = json.Marshal(ev)
	rs, err = invoke(t, h, payload)
	if err != nil || len(rs) != 1 || rs[0].Action != "rejected" || !strings.Contains(strings.Join(rs[0].Problems, ""), "zone-list/2026-13-01@1.csv") {
		t.Fatalf("misnamed upload: %+v %v, want it rejected naming the file", rs, err)
	}
	if n := len(chat.Messages()); n != 3 {
		t.Errorf("%d alerts after a misnamed upload, want 3", n)
	}

	rs, err = invoke(t, h, fixture(t, "s3-other-keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 4 {
		t.Fatalf("results = %+v, want 4", rs)
	}
	for i, r := range rs {
		if r.Action != "ignored" {
			t.Errorf("record %d: %+v, want ignored", i, r)
		}
	}
	if n := len(eng.Jobs()); n != 0 {
		t.Errorf("%d jobs started by invalid or unrelated uploads", n)
	}
	// A function deployed for uploads refuses schedule events.
	h.cfg.Kind = Upload
	if _, err := invoke(t, h, fixture(t, "eventbridge-scheduled.json")); err == nil || !strings.Contains(err.Error(), "upload function") {
		t.Errorf("an upload function took a schedule event: %v", err)
	}
}

func mustDir(t *testing.T) store.Bucket {
	t.Helper()
	b, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return b
}
