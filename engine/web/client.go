package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/celebrity-zones/cz/engine"
)

// FetchJobs reads the job list from a status server's JSON API.
func FetchJobs(ctx context.Context, addr string) ([]JobSummary, error) {
	var jobs []JobSummary
	return jobs, fetch(ctx, strings.TrimRight(addr, "/")+"/api/jobs", &jobs)
}

// FetchJob reads one job from a status server's JSON API.
func FetchJob(ctx context.Context, addr, id string) (*engine.Job, error) {
	var j engine.Job
	return &j, fetch(ctx, strings.TrimRight(addr, "/")+"/api/jobs/"+id, &j)
}

func fetch(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}
