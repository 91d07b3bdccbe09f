package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/engine/local"
	"github.com/celebrity-zones/cz/engine/testops"
	"github.com/celebrity-zones/cz/engine/web"
	"github.com/celebrity-zones/cz/store"
)

// threeStages: numbers -> gate -> total; the gate holds the job running
// until the test opens it.
func threeStages(gate string) engine.JobSpec {
	return engine.JobSpec{Version: 1, Name: "page-test", Stages: []engine.StageSpec{
		{Name: "numbers", Operator: "test.numbers", Partitions: 4},
		{Name: "gate", Operator: "test.gate", Partitions: 2, Upstream: []string{"numbers"}, Params: map[string]string{"gate": gate}},
		{Name: "total", Operator: "test.sum", Partitions: 1, Upstream: []string{"numbers", "gate"}, Params: map[string]string{"from": "numbers"}},
	}}
}

func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is missing: run `make deps` (scripts/deps.sh apt chromium): %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	return ctx
}

func artifact(t *testing.T, name string, data []byte) {
	dir := os.Getenv("CZ_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

type pageFacts struct {
	Nodes  int               `json:"nodes"`
	Edges  int               `json:"edges"`
	States map[string]string `json:"states"`
	Done   map[string]string `json:"done"`
	Counts map[string]string `json:"counts"`
	Job    string            `json:"job"`
	Tasks  int               `json:"tasks"`
}

const factsJS = `(() => {
  const f = {nodes: 0, edges: 0, states: {}, done: {}, counts: {}, tasks: 0};
  document.querySelectorAll('svg#dag g.stage-node').forEach(g => {
    f.nodes++; f.states[g.dataset.stage] = g.dataset.state; f.done[g.dataset.stage] = g.dataset.done + '/' + g.dataset.total;
  });
  f.edges = document.querySelectorAll('svg#dag path.edge').length;
  document.querySelectorAll('[id^=count-]').forEach(e => f.counts[e.id.slice(6)] = e.textContent);
  f.job = document.getElementById('job-state').textContent;
  f.tasks = document.querySelectorAll('#tasks tr.task').length;
  return f;
})()`

func loadJobPage(t *testing.T, ctx context.Context, url, shot string) pageFacts {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("svg#dag"))); err != nil {
		t.Fatalf("loading %s: %v", url, err)
	}
	facts, err := chromedp.Run(ctx, chromedp.Evaluate[pageFacts](factsJS))
	if err != nil {
		t.Fatalf("reading %s: %v", url, err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot of %s: %v", url, err)
	}
	artifact(t, shot, png)
	return facts
}

func TestStatusPageInChromium(t *testing.T) {
	b, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	eng := engine.New(engine.Config{Bucket: b, Tick: 20 * time.Millisecond})
	x := local.New("exec-1", engine.Resources{CPU: 4}, b, nil)
	if err := eng.AddExecutor(x); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { eng.Run(ctx); close(stopped) }()
	defer func() { stop(); <-stopped; x.Close() }()

	gate := fmt.Sprintf("web-%d", time.Now().UnixNano())
	id, err := eng.Submit(threeStages(gate), "")
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		j := eng.Job(id)
		if j.Stage("numbers").State == engine.TaskCommitted && j.Stage("gate").State == engine.TaskRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job never reached the gate: %+v", j.Stages)
		}
	}
	srv := httptest.NewServer(web.Handler(web.Live(eng), eng.Metrics().Registry, nil))
	defer srv.Close()
	bctx := browser(t)

	running := loadJobPage(t, bctx, srv.URL+"/jobs/"+id, "status-running.png")
	if running.Nodes != 3 || running.Edges != 3 {
		t.Errorf("running job: DAG has %d nodes and %d edges, want 3 and 3", running.Nodes, running.Edges)
	}
	want := map[string]string{"numbers": "committed", "gate": "running", "total": "waiting"}
	for stage, state := range want {
		if running.States[stage] != state {
			t.Errorf("running job: stage %s drawn as %q, want %q", stage, running.States[stage], state)
		}
	}
	if running.Done["numbers"] != "4/4" || running.Done["gate"] != "0/2" {
		t.Errorf("running job: progress %v, want numbers 4/4 and gate 0/2", running.Done)
	}
	if running.Counts["tasks"] != "7" || running.Counts["committed"] != "4" || running.Counts["running"] != "2" || running.Job != "running" {
		t.Errorf("running job: counts %v, job %q; want 7 tasks, 4 committed, 2 running, job running", running.Counts, running.Job)
	}

	// The JSON API and the metrics answer too.
	var jobs []web.JobSummary
	getJSON(t, srv.URL+"/api/jobs", &jobs)
	if len(jobs) != 1 || jobs[0].ID != id || jobs[0].Counts["committed"] != 4 {
		t.Errorf("/api/jobs = %+v, want the one job with 4 committed", jobs)
	}
	if m := get(t, srv.URL+"/metrics"); !strings.Contains(m, `cz_engine_attempt_transitions_total{state="committed"} 4`) {
		t.Errorf("/metrics lacks 4 committed attempts:\n%s", m)
	}
	if page := get(t, srv.URL+"/executors"); !strings.Contains(page, "exec-1") {
		t.Errorf("executors page does not list exec-1")
	}

	testops.Open(gate)
	if _, err := eng.Wait(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	stop()
	<-stopped

	// The engine is gone: the history page reads the event log.
	hist := httptest.NewServer(web.Handler(web.History(b), nil, nil))
	defer hist.Close()
	done := loadJobPage(t, bctx, hist.URL+"/jobs/"+id, "status-finished.png")
	for _, stage := range []string{"numbers", "gate", "total"} {
		if done.States[stage] != "committed" {
			t.Errorf("finished job: stage %s drawn as %q, want committed", stage, done.States[stage])
		}
	}
	if done.Counts["committed"] != "7" || done.Job != "succeeded" || done.Tasks != 7 || done.Edges != 3 {
		t.Errorf("finished job: counts %v, job %q, %d task rows, %d edges; want 7 committed, succeeded, 7 rows, 3 edges",
			done.Counts, done.Job, done.Tasks, done.Edges)
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(hist.URL+"/")); err != nil {
		t.Fatal(err)
	}
	listed, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('#jobs tr.job[data-state=succeeded]').length`))
	if err != nil {
		t.Fatal(err)
	}
	if listed != 1 {
		t.Errorf("history job list shows %d succeeded jobs, want 1", listed)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, body)
	}
	return string(body)
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(get(t, url)), v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func TestUnknownJobIs404(t *testing.T) {
	b, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(web.Handler(web.History(b), nil, nil))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/jobs/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown job: %s, want 404", resp.Status)
	}
}

func TestFailedJobPageShowsErrorAndLog(t *testing.T) {
	b, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m, err := local.Start(b, nil, engine.Resources{CPU: 2})
	if err != nil {
		t.Fatal(err)
	}
	j, err := m.Run(context.Background(), engine.JobSpec{Version: 1, Name: "doomed", MaxAttempts: 2, Stages: []engine.StageSpec{
		{Name: "s", Operator: "test.flaky", Partitions: 1, Params: map[string]string{"succeed_at": "9"}},
	}})
	m.Stop()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(web.Handler(web.History(b), nil, nil))
	defer srv.Close()
	page := get(t, srv.URL+"/jobs/"+j.ID)
	for _, want := range []string{
		`id="job-state">failed<`,
		"failed 2 times, last: transient failure on attempt 2",
		`<pre class="log">`,
		`data-stage="s" data-state="failed"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("failed job page lacks %q", want)
		}
	}
}

func TestLivePageServesAForgottenJobFromTheStore(t *testing.T) {
	b, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	eng := engine.New(engine.Config{Bucket: b, Tick: 20 * time.Millisecond, Retention: engine.Retention{MaxJobs: 1, Every: -1}})
	x := local.New("exec-1", engine.Resources{CPU: 2}, b, nil)
	defer x.Close()
	if err := eng.AddExecutor(x); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { eng.Run(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()
	var ids []string
	for range 2 {
		id, err := eng.Submit(engine.JobSpec{Version: 1, Name: "forgettable", Stages: []engine.StageSpec{
			{Name: "n", Operator: "test.numbers", Partitions: 2}}}, "")
		if err != nil {
			t.Fatal(err)
		}
		wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
		_, err = eng.Wait(wctx, id)
		wcancel()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if n, err := eng.ForgetFinished(ctx); err != nil || n != 1 || eng.Job(ids[0]) != nil {
		t.Fatalf("ForgetFinished = %d, %v; want the first job forgotten", n, err)
	}
	srv := httptest.NewServer(web.Handler(web.Live(eng), eng.Metrics().Registry, nil))
	defer srv.Close()
	var j engine.Job
	getJSON(t, srv.URL+"/api/jobs/"+ids[0], &j)
	if j.ID != ids[0] || j.State != engine.JobSucceeded || j.Task("n", 1).State != engine.TaskCommitted {
		t.Fatalf("forgotten job via the live page: %s %s", j.ID, j.State)
	}
	if page := get(t, srv.URL+"/jobs/"+ids[0]); !strings.Contains(page, `id="job-state">succeeded<`) {
		t.Error("the forgotten job's page does not show it succeeded")
	}
	if metrics := get(t, srv.URL+"/metrics"); !strings.Contains(metrics, "cz_engine_jobs_held 1\n") {
		t.Error("metrics do not say one job is held")
	}
	resp, err := http.Get(srv.URL + "/api/jobs/never-was")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown job on the live page: %s, want 404", resp.Status)
	}
}
