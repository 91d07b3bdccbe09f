// Package web is the engine's status page: the job list, each job's DAG
// (stages as SVG nodes coloured by state, with progress), its tasks with
// attempts, executors, timings, errors and log tails, the executors, a
// JSON API and Prometheus metrics. It renders on the server with
// html/template; its assets are embedded. It reads a Source: a live
// engine, or the event logs in a store once the engine is gone.
package web

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// ErrNotFound is returned by a Source for an unknown job.
var ErrNotFound = errors.New("not found")

// Source is what the page shows.
type Source interface {
	Jobs(ctx context.Context) ([]*engine.Job, error)
	Job(ctx context.Context, id string) (*engine.Job, error)
	Executors(ctx context.Context) ([]*engine.ExecutorStatus, error)
}

// Live shows a running engine: the jobs its state machine holds, and
// any job by ID, a job the state machine has forgotten (engine.Retention)
// read from the store.
func Live(e *engine.Engine) Source { return live{e} }

type live struct{ e *engine.Engine }

func (l live) Jobs(context.Context) ([]*engine.Job, error) { return l.e.Jobs(), nil }
func (l live) Job(ctx context.Context, id string) (*engine.Job, error) {
	j, err := l.e.Lookup(ctx, id)
	if errors.Is(err, engine.ErrNoJob) {
		return nil, fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	return j, err
}
func (l live) Executors(context.Context) ([]*engine.ExecutorStatus, error) {
	return l.e.Executors(), nil
}

// History shows the jobs whose event logs lie in a store, like Spark's
// history server: it needs no engine.
func History(b store.Bucket) Source { return history{b} }

type history struct{ b store.Bucket }

func (h history) Jobs(ctx context.Context) ([]*engine.Job, error) {
	ids, err := engine.ListLoggedJobs(ctx, h.b)
	if err != nil {
		return nil, err
	}
	var jobs []*engine.Job
	for _, id := range ids {
		j, err := h.Job(ctx, id)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	sort.Slice(jobs, func(a, b int) bool { return jobs[a].Submitted.Before(jobs[b].Submitted) })
	return jobs, nil
}

func (h history) Job(ctx context.Context, id string) (*engine.Job, error) {
	events, err := engine.ReadEventLog(ctx, h.b, id)
	if err != nil {
		return nil, err
	}
	if len(events) == 0 {
		return nil, ErrNotFound
	}
	return engine.ReplayJob(events)
}

func (h history) Executors(context.Context) ([]*engine.ExecutorStatus, error) { return nil, nil }

// Handler serves the page, the JSON API under /api/ and, when reg is not
// nil, Prometheus metrics at /metrics. Callers may add their own routes to
// the mux it returns.
func Handler(src Source, reg *prometheus.Registry, logger *slog.Logger, pages ...Page) *http.ServeMux {
	if logger == nil {
		logger = slog.Default()
	}
	fm := template.FuncMap{"nav": func() []Page { return pages }, "notice": func() string {
		if n, ok := src.(Noticer); ok {
			return n.Notice()
		}
		return ""
	}}
	maps.Copy(fm, funcs)
	s := &server{src: src, log: logger, tmpl: template.Must(template.New("").Funcs(fm).ParseFS(templateFS, "templates/*.html"))}
	mux := http.NewServeMux()
	assets, _ := fs.Sub(assetFS, "assets")
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(assets)))
	mux.HandleFunc("GET /{$}", s.jobList)
	mux.HandleFunc("GET /jobs/{id}", s.jobPage)
	mux.HandleFunc("GET /executors", s.executorPage)
	mux.HandleFunc("GET /api/jobs", s.apiJobs)
	mux.HandleFunc("GET /api/jobs/{id}", s.apiJob)
	mux.HandleFunc("GET /api/executors", s.apiExecutors)
	if reg != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	}
	for _, p := range pages {
		mux.HandleFunc("GET "+p.Path, func(w http.ResponseWriter, r *http.Request) {
			body, err := p.Body(r)
			if err != nil {
				s.fail(w, err)
				return
			}
			s.render(w, "page.html", struct {
				Title   string
				Refresh bool
				Body    template.HTML
			}{p.Name, false, body})
		})
	}
	return mux
}

// Noticer is a Source with something every page must say at its top
// when Notice is not empty: that a coordinator has lost its leader and
// shows a replica that may be stale, say.
type Noticer interface {
	Notice() string
}

// Page is a page that code above the engine (the runners) adds to the
// status page, with a link in the header. Body renders its content, which
// must be safe HTML.
type Page struct {
	Name string
	Path string
	Body func(*http.Request) (template.HTML, error)
}

type server struct {
	src  Source
	log  *slog.Logger
	tmpl *template.Template
}

func (s *server) fail(w http.ResponseWriter, err error) {
	if errors.Is(err, ErrNotFound) || errors.Is(err, store.ErrNotExist) {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	s.log.Error("status page", "err", err)
	http.Error(w, err.Error(), http.StatusInternalServerError)
}

func (s *server) render(w http.ResponseWriter, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := s.tmpl.ExecuteTemplate(w, name, data); err != nil {
		s.log.Error("render", "page", name, "err", err)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// JobSummary is one row of the job list (and of /api/jobs).
type JobSummary struct {
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	State     string         `json:"state"`
	Submitted time.Time      `json:"submitted"`
	Finished  time.Time      `json:"finished,omitzero"`
	Tasks     int            `json:"tasks"`
	Counts    map[string]int `json:"counts"`
	Error     string         `json:"error,omitempty"`
	// Problems counts the input problems the job skipped past.
	Problems int `json:"problems,omitempty"`
}

// Summarize makes a job's summary.
func Summarize(j *engine.Job) JobSummary {
	s := JobSummary{ID: j.ID, Name: j.Spec.Name, State: j.State.String(), Submitted: j.Submitted,
		Finished: j.Finished, Counts: map[string]int{}, Error: j.Error, Problems: len(Problems(j))}
	for st, n := range j.Counts() {
		s.Counts[st.String()] = n
		s.Tasks += n
	}
	return s
}

func (s *server) jobList(w http.ResponseWriter, r *http.Request) {
	jobs, err := s.src.Jobs(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	var rows []JobSummary
	running := false
	for i := len(jobs) - 1; i >= 0; i-- {
		rows = append(rows, Summarize(jobs[i]))
		running = running || !jobs[i].State.Terminal()
	}
	s.render(w, "jobs.html", map[string]any{"Jobs": rows, "Refresh": running})
}

func (s *server) apiJobs(w http.ResponseWriter, r *http.Request) {
	jobs, err := s.src.Jobs(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	rows := []JobSummary{}
	for _, j := range jobs {
		rows = append(rows, Summarize(j))
	}
	writeJSON(w, rows)
}

func (s *server) apiJob(w http.ResponseWriter, r *http.Request) {
	j, err := s.src.Job(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, j)
}

func (s *server) apiExecutors(w http.ResponseWriter, r *http.Request) {
	ex, err := s.src.Executors(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	if ex == nil {
		ex = []*engine.ExecutorStatus{}
	}
	writeJSON(w, ex)
}

func (s *server) executorPage(w http.ResponseWriter, r *http.Request) {
	ex, err := s.src.Executors(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	s.render(w, "executors.html", map[string]any{"Executors": ex})
}

// maxTaskRows bounds the tasks table; ?stage= narrows it.
const maxTaskRows = 1000

// TaskRow is one attempt in the tasks table.
type TaskRow struct {
	Stage     string
	Partition int
	TaskState string
	Attempt   *engine.Attempt
	Committed bool
}

func (s *server) jobPage(w http.ResponseWriter, r *http.Request) {
	j, err := s.src.Job(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	only := r.URL.Query().Get("stage")
	var rows []TaskRow
	hidden := 0
	for _, st := range j.Stages {
		if only != "" && st.Name != only {
			continue
		}
		for _, t := range st.Tasks {
			atts := t.Attempts
			if len(atts) == 0 {
				atts = []*engine.Attempt{nil}
			}
			for _, a := range atts {
				if len(rows) >= maxTaskRows {
					hidden++
					continue
				}
				rows = append(rows, TaskRow{Stage: st.Name, Partition: t.Partition, TaskState: t.State.String(),
					Attempt: a, Committed: a != nil && a.Num == t.Committed})
			}
		}
	}
	sum := Summarize(j)
	states := []string{"waiting", "ready", "running", "committed", "failed", "cancelled"}
	s.render(w, "job.html", map[string]any{
		"Job": j, "Summary": sum, "States": states, "DAG": layout(j), "Stages": stageRows(j),
		"Tasks": rows, "Hidden": hidden, "Stage": only, "Refresh": !j.State.Terminal(), "Problems": Problems(j),
	})
}

// Problem is an input problem a task skipped past, as the job page lists
// it.
type Problem struct {
	Stage     string
	Partition int
	Text      string
}

// Problems lists the input problems of each task's committed attempt (or
// of its latest attempt while none has committed), stage by stage.
func Problems(j *engine.Job) []Problem {
	var out []Problem
	for _, st := range j.Stages {
		for _, t := range st.Tasks {
			if len(t.Attempts) == 0 {
				continue
			}
			a := t.Attempts[len(t.Attempts)-1]
			if t.Committed > 0 {
				a = t.Attempts[t.Committed-1]
			}
			for _, p := range a.Problems {
				out = append(out, Problem{Stage: st.Name, Partition: t.Partition, Text: p})
			}
		}
	}
	return out
}

// StageRow is one row of the stages table.
type StageRow struct {
	Name, Operator, State string
	Partitions, Done      int
	Counts                map[string]int
	Resources             engine.Resources
}

func stageRows(j *engine.Job) []StageRow {
	var rows []StageRow
	for _, st := range j.Stages {
		ss := j.Spec.Stage(st.Name)
		row := StageRow{Name: st.Name, Operator: ss.Operator, State: st.State.String(), Partitions: len(st.Tasks),
			Done: st.Done, Counts: map[string]int{}, Resources: ss.Resources}
		for _, t := range st.Tasks {
			row.Counts[t.State.String()]++
		}
		rows = append(rows, row)
	}
	return rows
}

// DAG is the laid-out stage graph drawn as SVG.
type DAG struct {
	Width, Height int
	Nodes         []Node
	Edges         []Edge
}

// Node is one stage box.
type Node struct {
	Name, State, Operator string
	X, Y, W, H            int
	Done, Total, Running  int
	ProgressW             int
}

// Edge joins an upstream stage's box to a downstream one.
type Edge struct {
	From, To string
	Path     string
}

const (
	nodeW, nodeH = 180, 64
	gapX, gapY   = 70, 24
	pad          = 16
)

// layout places stages in columns by depth (longest path from a source).
func layout(j *engine.Job) DAG {
	depth := map[string]int{}
	var depthOf func(string) int
	depthOf = func(n string) int {
		if d, ok := depth[n]; ok {
			return d
		}
		d := 0
		for _, up := range j.Spec.Stage(n).Upstream {
			d = max(d, depthOf(up)+1)
		}
		depth[n] = d
		return d
	}
	cols := map[int][]string{}
	maxCol := 0
	for _, st := range j.Spec.Stages {
		d := depthOf(st.Name)
		cols[d] = append(cols[d], st.Name)
		maxCol = max(maxCol, d)
	}
	var dag DAG
	pos := map[string]Node{}
	maxRows := 0
	for c := 0; c <= maxCol; c++ {
		maxRows = max(maxRows, len(cols[c]))
		for r, name := range cols[c] {
			st := j.Stage(name)
			n := Node{Name: name, State: st.State.String(), Operator: j.Spec.Stage(name).Operator,
				X: pad + c*(nodeW+gapX), Y: pad + r*(nodeH+gapY), W: nodeW, H: nodeH, Done: st.Done, Total: len(st.Tasks)}
			for _, t := range st.Tasks {
				if t.State == engine.TaskRunning {
					n.Running++
				}
			}
			n.ProgressW = (nodeW - 20) * n.Done / max(n.Total, 1)
			pos[name] = n
			dag.Nodes = append(dag.Nodes, n)
		}
	}
	bottom := 0
	for _, st := range j.Spec.Stages {
		to := pos[st.Name]
		for _, up := range st.Upstream {
			from := pos[up]
			x1, y1 := from.X+from.W, from.Y+from.H/2
			x2, y2 := to.X-6, to.Y+to.H/2
			mid := (x1 + x2) / 2
			path := fmt.Sprintf("M%d,%d C%d,%d %d,%d %d,%d", x1, y1, mid, y1, mid, y2, x2, y2)
			if span := depth[st.Name] - depth[up]; span > 1 {
				// Skip over the stages in between by bending below them.
				dip := (span-1)*gapY + nodeH/2 + 20
				path = fmt.Sprintf("M%d,%d C%d,%d %d,%d %d,%d", x1, y1, x1+gapX, y1+dip, x2-gapX, y2+dip, x2, y2)
				bottom = max(bottom, max(y1, y2)+dip)
			}
			dag.Edges = append(dag.Edges, Edge{From: up, To: st.Name, Path: path})
		}
	}
	dag.Width = 2*pad + (maxCol+1)*nodeW + maxCol*gapX
	dag.Height = max(2*pad+maxRows*nodeH+max(maxRows-1, 0)*gapY, bottom)
	return dag
}

var funcs = template.FuncMap{
	"since": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return time.Since(t).Round(time.Second).String() + " ago"
	},
	"clock": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("15:04:05.000")
	},
	"took": func(a, b time.Time) string {
		if a.IsZero() {
			return ""
		}
		if b.IsZero() {
			b = time.Now()
		}
		return b.Sub(a).Round(time.Millisecond).String()
	},
	"count": func(m map[string]int, k string) int { return m[k] },
	"counters": func(m map[string]int64) string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
		}
		return strings.Join(parts, " ")
	},
}
