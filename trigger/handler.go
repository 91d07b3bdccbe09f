package trigger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/celebrity-zones/cz/contracts"
	"github.com/celebrity-zones/cz/jobs"
	"github.com/celebrity-zones/cz/layout"
	"github.com/celebrity-zones/cz/notify"
	"github.com/celebrity-zones/cz/store"
)

// Handlers are the Lambda entry points of one function.
type Handlers struct {
	cfg    Config
	submit Submitter
	notify *notify.Notifier
	// Now is the clock, for scheduled events without a time.
	Now func() time.Time
	Log *slog.Logger
}

// New returns the handlers of a function configured by c, submitting
// through s.
func New(c Config, s Submitter) *Handlers {
	if c.TimeZone == nil {
		c.TimeZone = time.UTC
	}
	return &Handlers{cfg: c, submit: s, notify: notify.New(c.Notify), Now: time.Now, Log: slog.Default()}
}

// Result is what a handler did with one event (or one S3 record).
type Result struct {
	// Action is submitted, ignored or rejected (an invalid upload).
	Action string `json:"action"`
	// Job is the submitted (or earlier, for a repeated delivery) job's ID.
	Job string `json:"job,omitempty"`
	// Name is the job's name, such as daily-runner-2026-11-01.
	Name string `json:"name,omitempty"`
	// Key is the idempotency key the submission carried.
	Key string `json:"idempotency_key,omitempty"`
	// Reason says why an event was ignored.
	Reason string `json:"reason,omitempty"`
	// Report is the validation report of a rejected upload, and Problems
	// what it lists.
	Report   string   `json:"report,omitempty"`
	Problems []string `json:"problems,omitempty"`
}

// Invoke is the function's single entry point: it tells an EventBridge
// event from an S3 notification by its shape and refuses the kind the
// function is not configured for.
func (h *Handlers) Invoke(ctx context.Context, payload json.RawMessage) ([]Result, error) {
	var shape struct {
		Records    json.RawMessage `json:"Records"`
		DetailType string          `json:"detail-type"`
	}
	if err := json.Unmarshal(payload, &shape); err != nil {
		return nil, fmt.Errorf("event is not a JSON object: %w", err)
	}
	switch {
	case shape.Records != nil && h.cfg.Kind != Schedule:
		var ev events.S3Event
		if err := json.Unmarshal(payload, &ev); err != nil {
			return nil, fmt.Errorf("S3 event: %w", err)
		}
		return h.Uploaded(ctx, ev)
	case shape.DetailType != "" && h.cfg.Kind != Upload:
		var ev events.EventBridgeEvent
		if err := json.Unmarshal(payload, &ev); err != nil {
			return nil, fmt.Errorf("EventBridge event: %w", err)
		}
		r, err := h.Scheduled(ctx, ev)
		if err != nil {
			return nil, err
		}
		return []Result{r}, nil
	}
	kind := string(h.cfg.Kind)
	if kind == "" {
		kind = "any"
	}
	return nil, fmt.Errorf("event is neither an S3 notification (Records) nor an EventBridge event (detail-type) this %s function takes: %.200s", kind, payload)
}

// ScheduleDetail is the detail of an EventBridge event that names its
// target date, for a run by hand; the schedule's own events carry {}.
type ScheduleDetail struct {
	Date string `json:"date,omitempty"` // yyyy-mm-dd
}

// Scheduled submits the Daily Runner for the event's target date: the
// date in its detail, or else the day before the event's time in the
// configured time zone. The idempotency key is the event's id, so a
// repeated delivery finds the first job.
func (h *Handlers) Scheduled(ctx context.Context, ev events.EventBridgeEvent) (Result, error) {
	if ev.ID == "" {
		return Result{}, errors.New("EventBridge event without an id: cannot make the submission idempotent")
	}
	day, err := h.targetDate(ev)
	if err != nil {
		return Result{}, err
	}
	spec := jobs.DailySpec(day, h.cfg.Jobs)
	key := "eventbridge/" + ev.ID
	id, err := h.submit.Submit(ctx, spec, key)
	if err != nil {
		return Result{}, fmt.Errorf("daily runner for %s: %w", day.Format(contracts.DateLayout), err)
	}
	h.Log.Info("submitted", "job", id, "name", spec.Name, "key", key, "event_time", ev.Time)
	return Result{Action: "submitted", Job: id, Name: spec.Name, Key: key}, nil
}

func (h *Handlers) targetDate(ev events.EventBridgeEvent) (time.Time, error) {
	var d ScheduleDetail
	if len(bytes.TrimSpace(ev.Detail)) > 0 {
		if err := json.Unmarshal(ev.Detail, &d); err != nil {
			return time.Time{}, fmt.Errorf("EventBridge event %s: detail: %w (expected {} or {\"date\": \"yyyy-mm-dd\"})", ev.ID, err)
		}
	}
	if d.Date != "" {
		day, err := contracts.ParseDate(d.Date)
		if err != nil {
			return time.Time{}, fmt.Errorf("EventBridge event %s: detail.date: %w", ev.ID, err)
		}
		return day, nil
	}
	// The event's time, not the clock: a delivery retried after midnight
	// still means the same day.
	at := ev.Time
	if at.IsZero() {
		at = h.Now()
	}
	y, m, dd := at.In(h.cfg.TimeZone).Date()
	return time.Date(y, m, dd-1, 0, 0, 0, 0, time.UTC), nil
}

// Uploaded handles each record of an S3 notification: a zone list
// (zone-list/{yyyy-mm-dd@n}.csv) is validated with its ground-truth
// images; a valid batch is submitted to the New Zone Batch Runner, an
// invalid one gets a validation report next to the upload and an alert.
// Any other key is ignored. An error (the store or the coordinator could
// not be reached) makes Lambda deliver the event again; the idempotency
// keys make that safe.
func (h *Handlers) Uploaded(ctx context.Context, ev events.S3Event) ([]Result, error) {
	var out []Result
	var errs []error
	for i, rec := range ev.Records {
		r, err := h.uploaded(ctx, rec)
		if err != nil {
			errs = append(errs, fmt.Errorf("record %d (%s): %w", i, rec.S3.Object.Key, err))
			continue
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

var zoneListKey = regexp.MustCompile(`^zone-list/([^/]+)\.csv$`)

func (h *Handlers) uploaded(ctx context.Context, rec events.S3EventRecord) (Result, error) {
	if name := strings.TrimPrefix(rec.EventName, "s3:"); !strings.HasPrefix(name, "ObjectCreated:") {
		return Result{Action: "ignored", Reason: "event " + rec.EventName + " is not an upload"}, nil
	}
	key, ok, why := h.externalKey(rec.S3.Bucket.Name, rec.S3.Object.Key)
	if !ok {
		return Result{Action: "ignored", Reason: why}, nil
	}
	m := zoneListKey.FindStringSubmatch(key)
	if m == nil {
		return Result{Action: "ignored", Reason: key + " is not a zone list (zone-list/{yyyy-mm-dd@n}.csv)"}, nil
	}
	ext, err := store.Open(ctx, h.cfg.Jobs.Buckets.External)
	if err != nil {
		return Result{}, err
	}
	batch, err := contracts.ParseBatchID(m[1])
	if err != nil {
		// A misnamed upload: tell the team; there is no batch to report on.
		p := fmt.Sprintf("%s: %v", store.Join(ext.URL(), key), err)
		h.alert(ctx, "zone-list "+m[1], "", []string{p})
		return Result{Action: "rejected", Problems: []string{p}}, nil
	}
	// One key per upload: a re-upload of the same name is a new sequencer.
	version := rec.S3.Object.Sequencer
	if version == "" {
		version = rec.S3.Object.ETag
	}
	idem := "s3/" + rec.S3.Bucket.Name + "/" + key + "@" + version
	problems, err := ValidateUpload(ctx, ext, batch)
	if err != nil {
		return Result{}, err
	}
	if len(problems) > 0 {
		return h.reject(ctx, ext, batch, idem, problems)
	}
	spec := jobs.BatchSpec(batch, h.cfg.Jobs)
	id, err := h.submit.Submit(ctx, spec, idem)
	if err != nil {
		return Result{}, fmt.Errorf("batch runner for %s: %w", batch, err)
	}
	h.Log.Info("submitted", "job", id, "name", spec.Name, "key", idem)
	return Result{Action: "submitted", Job: id, Name: spec.Name, Key: idem}, nil
}

// externalKey maps a notification's bucket and URL-encoded key to a key
// of the external bucket, or says why the object is not one of its.
func (h *Handlers) externalKey(bucket, rawKey string) (string, bool, string) {
	// S3 encodes keys in notifications like a form value ('@' is %40,
	// a space is '+').
	key, err := url.QueryUnescape(rawKey)
	if err != nil {
		return "", false, fmt.Sprintf("key %q is not URL-encoded: %v", rawKey, err)
	}
	u, err := url.Parse(h.cfg.Jobs.Buckets.External)
	if err != nil || u.Scheme != "s3" {
		// A local external bucket (tests): keys are relative to it.
		return key, true, ""
	}
	if bucket != u.Host {
		return "", false, fmt.Sprintf("bucket %s is not the external bucket %s", bucket, u.Host)
	}
	prefix := strings.Trim(u.Path, "/")
	if prefix == "" {
		return key, true, ""
	}
	rel, ok := strings.CutPrefix(key, prefix+"/")
	if !ok {
		return "", false, fmt.Sprintf("%s is outside the external prefix %s/", key, prefix)
	}
	return rel, true, ""
}

// UploadReport is the validation report the Lambda writes next to a
// rejected upload: the runner's report plus the upload it judged.
type UploadReport struct {
	jobs.ValidationReport
	// Upload is the idempotency key of the upload event, so that a
	// repeated delivery neither rewrites the report nor alerts twice.
	Upload string `json:"upload"`
}

func (h *Handlers) reject(ctx context.Context, ext store.Bucket, batch layout.Batch, idem string, problems []string) (Result, error) {
	reportKey := layout.ValidationReport(batch)
	res := Result{Action: "rejected", Name: "zone-list " + batch.String(), Key: idem, Report: store.Join(ext.URL(), reportKey), Problems: problems}
	var old UploadReport
	if data, err := store.ReadAll(ctx, ext, reportKey); err == nil && json.Unmarshal(data, &old) == nil && old.Upload == idem {
		h.Log.Info("upload already rejected", "batch", batch.String(), "key", idem)
		return res, nil
	}
	rep := UploadReport{ValidationReport: jobs.ValidationReport{Batch: batch.String(), Valid: false, Problems: problems, Checked: h.Now().UTC()}, Upload: idem}
	data, _ := json.MarshalIndent(rep, "", "  ")
	if err := store.PutBytes(ctx, ext, reportKey, data); err != nil {
		return Result{}, fmt.Errorf("write the validation report: %w", err)
	}
	h.Log.Warn("upload rejected", "batch", batch.String(), "problems", len(problems), "report", res.Report)
	h.alert(ctx, res.Name, res.Report, problems)
	return res, nil
}

// alert tells the team about a rejected upload. Delivery problems are
// logged by the notifier and never fail the event.
func (h *Handlers) alert(ctx context.Context, name, report string, problems []string) {
	summary := fmt.Sprintf("%d problem(s); nothing was started.\n%s", len(problems), strings.Join(problems, "\n"))
	if report != "" {
		summary += "\nValidation report: " + report
	}
	h.notify.Notify(ctx, notify.Event{Name: name, State: "rejected", Summary: summary, Link: h.cfg.StatusURL})
}
