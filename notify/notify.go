// Package notify tells the CZ team about jobs: on start, success and
// failure it posts to a Google Chat space (incoming webhook) and sends
// e-mail over SMTP, each message linking to the job's status page.
// Both are optional and configured separately; a failing channel is
// logged and never fails the job.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/smtp"
	"strings"
	"time"

	"github.com/celebrity-zones/cz/engine"
)

// Event is something that happened to a job.
type Event struct {
	Job     string // job id
	Name    string // human job name, such as daily-runner 2026-11-01
	State   string // started, succeeded, failed
	Link    string // the job's status page
	Summary string // one paragraph: counts, or the error
	Time    time.Time
}

// Subject is the one-line description of an event.
func (e Event) Subject() string {
	return fmt.Sprintf("[cz] %s %s", e.Name, e.State)
}

// Text is the body of a message about an event.
func (e Event) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: job %s %s at %s\n", e.Name, e.Job, e.State, e.Time.UTC().Format(time.RFC3339))
	if e.Summary != "" {
		b.WriteString(e.Summary + "\n")
	}
	if e.Link != "" {
		fmt.Fprintf(&b, "Status page: %s\n", e.Link)
	}
	return b.String()
}

// JobLink is a job's page on the status page at statusURL ("" when there
// is no status page).
func JobLink(statusURL, job string) string {
	if statusURL == "" {
		return ""
	}
	return strings.TrimRight(statusURL, "/") + "/jobs/" + job
}

// JobStarted is the event of a submitted job.
func JobStarted(job, name, statusURL string) Event {
	return Event{Job: job, Name: name, State: "started", Link: JobLink(statusURL, job)}
}

// JobEnded is the event of a job in a terminal state, dated when it
// ended: a success says how long the job took, a failure or cancellation
// gives the job's error. The embedded runner and the cluster's leader
// both send it.
func JobEnded(j *engine.Job, statusURL string) Event {
	e := Event{Job: j.ID, Name: j.Spec.Name, State: j.State.String(), Link: JobLink(statusURL, j.ID),
		Summary: j.Error, Time: j.Finished}
	if j.State == engine.JobSucceeded {
		e.Summary = fmt.Sprintf("took %s", j.Finished.Sub(j.Submitted).Round(time.Millisecond))
	}
	return e
}

// Config selects the channels. Empty fields switch a channel off.
type Config struct {
	// GChatWebhook is a Google Chat incoming-webhook URL.
	GChatWebhook string `json:"gchat_webhook,omitempty"`
	// SMTPAddr is host:port of the mail relay; From and To the envelope.
	SMTPAddr     string   `json:"smtp_addr,omitempty"`
	SMTPUser     string   `json:"smtp_user,omitempty"`
	SMTPPassword string   `json:"-"` // from the environment, never logged
	From         string   `json:"from,omitempty"`
	To           []string `json:"to,omitempty"`
}

// Notifier sends events to every configured channel.
type Notifier struct {
	cfg  Config
	http *http.Client
}

// New returns a notifier for cfg.
func New(cfg Config) *Notifier {
	return &Notifier{cfg: cfg, http: &http.Client{Timeout: 10 * time.Second}}
}

// Notify sends e everywhere and returns the channels' errors joined. The
// caller logs them; a job never fails because a message did not go out.
func (n *Notifier) Notify(ctx context.Context, e Event) error {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	var errs []error
	if n.cfg.GChatWebhook != "" {
		if err := n.gchat(ctx, e); err != nil {
			errs = append(errs, fmt.Errorf("google chat: %w", err))
		}
	}
	if n.cfg.SMTPAddr != "" && len(n.cfg.To) > 0 {
		if err := n.mail(ctx, e); err != nil {
			errs = append(errs, fmt.Errorf("smtp %s: %w", n.cfg.SMTPAddr, err))
		}
	}
	err := errors.Join(errs...)
	if err != nil {
		slog.Warn("notification not delivered", "job", e.Job, "state", e.State, "err", err)
	}
	return err
}

func (n *Notifier) gchat(ctx context.Context, e Event) error {
	body, _ := json.Marshal(map[string]string{"text": "*" + e.Subject() + "*\n" + e.Text()})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.cfg.GChatWebhook, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json; charset=UTF-8")
	resp, err := n.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}

func (n *Notifier) mail(ctx context.Context, e Event) error {
	host, _, err := net.SplitHostPort(n.cfg.SMTPAddr)
	if err != nil {
		return err
	}
	var auth smtp.Auth
	if n.cfg.SMTPUser != "" {
		auth = smtp.PlainAuth("", n.cfg.SMTPUser, n.cfg.SMTPPassword, host)
	}
	from := n.cfg.From
	if from == "" {
		from = "cz@localhost"
	}
	var msg bytes.Buffer
	fmt.Fprintf(&msg, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n",
		from, strings.Join(n.cfg.To, ", "), e.Subject(), e.Time.UTC().Format(time.RFC1123Z))
	msg.WriteString(strings.ReplaceAll(e.Text(), "\n", "\r\n"))
	done := make(chan error, 1)
	go func() { done <- smtp.SendMail(n.cfg.SMTPAddr, auth, from, n.cfg.To, msg.Bytes()) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(30 * time.Second):
		return errors.New("timed out")
	}
}
