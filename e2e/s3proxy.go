package e2e

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Fault is what the proxy does to one request.
type Fault int

const (
	Pass      Fault = iota
	SlowDown        // 503 SlowDown, not forwarded
	Internal        // 500 InternalError, not forwarded
	Timeout         // held past the client's timeout, not forwarded
	LostReply       // forwarded and applied, then the reply is replaced by a 500
)

// S3Proxy stands between the S3 clients and a real S3 server and injects
// faults chosen by a rule from the request's sequence number, so that a
// scenario is repeatable in kind (which request gets which fault depends
// on the order of concurrent requests).
type S3Proxy struct {
	URL    string
	srv    *httptest.Server
	seq    atomic.Int64
	mu     sync.Mutex
	rule   func(n int64, r *http.Request) Fault
	counts map[Fault]int
	hold   time.Duration
}

// StartS3Proxy proxies to target; rule decides each request's fault
// (nil: none). A Timeout fault holds the request for hold.
func StartS3Proxy(target string, hold time.Duration, rule func(n int64, r *http.Request) Fault) (*S3Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	p := &S3Proxy{rule: rule, counts: map[Fault]int{}, hold: hold}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		rule := p.rule
		p.mu.Unlock()
		f := Pass
		if rule != nil {
			f = rule(p.seq.Add(1), r)
		}
		p.mu.Lock()
		p.counts[f]++
		p.mu.Unlock()
		switch f {
		case SlowDown:
			s3Error(w, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
		case Internal:
			s3Error(w, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
		case Timeout:
			io.Copy(io.Discard, r.Body)
			select {
			case <-time.After(p.hold):
			case <-r.Context().Done():
			}
			s3Error(w, http.StatusServiceUnavailable, "SlowDown", "held")
		case LostReply:
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r)
			s3Error(w, http.StatusInternalServerError, "InternalError", "reply lost after the write was applied")
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	p.URL = p.srv.URL
	return p, nil
}

// Counts says how many requests met each fault.
func (p *S3Proxy) Counts() map[Fault]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[Fault]int{}
	for k, v := range p.counts {
		out[k] = v
	}
	return out
}

// SetRule replaces the rule (nil: pass everything).
func (p *S3Proxy) SetRule(rule func(n int64, r *http.Request) Fault) {
	p.mu.Lock()
	p.rule = rule
	p.mu.Unlock()
}

// Close stops the proxy.
func (p *S3Proxy) Close() { p.srv.Close() }

func s3Error(w http.ResponseWriter, code int, s3code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(code)
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>` + s3code + `</Code><Message>` + msg + `</Message></Error>`)
	w.Write(b.Bytes())
}
