package executor

import (
	"context"
	"io"
	"net/http"
	"strings"
	"time"
)

// DefaultSpotNoticeURL is where EC2's instance metadata service announces
// a spot interruption (404 until one is scheduled, two minutes ahead).
const DefaultSpotNoticeURL = "http://169.254.169.254/latest/meta-data/spot/instance-action"

// watchSpotNotice polls url every interval and starts a drain once it
// answers 200. It asks for an IMDSv2 session token first and goes on
// without one where the service does not give it.
func (x *Executor) watchSpotNotice(ctx context.Context, url string, interval time.Duration) {
	client := &http.Client{Timeout: 2 * time.Second}
	const path = "/meta-data/spot/instance-action"
	tokenURL := ""
	if strings.HasSuffix(url, path) {
		tokenURL = strings.TrimSuffix(url, path) + "/api/token"
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if tokenURL != "" {
			if tr, err := http.NewRequestWithContext(ctx, http.MethodPut, tokenURL, nil); err == nil {
				tr.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", "60")
				if resp, err := client.Do(tr); err == nil {
					tok, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						req.Header.Set("X-aws-ec2-metadata-token", string(tok))
					}
				}
			}
		}
		if resp, err := client.Do(req); err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				x.logger.Warn("spot interruption notice: draining", "notice", string(body))
				x.Drain()
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-x.drainCh:
			return
		case <-t.C:
		}
	}
}
