package store

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Open opens a bucket by URL:
//
//	file:///abs/path                        a local directory
//	s3://bucket/prefix                      Amazon S3 with the default AWS configuration
//	s3://bucket/prefix?endpoint=http://127.0.0.1:7070&path_style=true&region=us-east-1
//	s3://bucket/prefix?timeout=5s&attempts=10      request timeout and attempts per request
//
// For s3 URLs, CZ_S3_ENDPOINT, CZ_S3_PATH_STYLE and CZ_S3_REGION in the
// environment fill what the URL leaves out; credentials come from the usual
// AWS sources (AWS_ACCESS_KEY_ID, profiles, instance roles).
func Open(ctx context.Context, rawURL string) (Bucket, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("store URL %q: %w", rawURL, err)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("store URL %q: file URLs take an absolute path (file:///abs/path)", rawURL)
		}
		return OpenDir(u.Path)
	case "s3":
		if u.Host == "" {
			return nil, fmt.Errorf("store URL %q: no bucket (expected s3://bucket/prefix)", rawURL)
		}
		q := u.Query()
		o := S3Options{
			Endpoint: first(q.Get("endpoint"), os.Getenv("CZ_S3_ENDPOINT")),
			Region:   first(q.Get("region"), os.Getenv("CZ_S3_REGION")),
		}
		if ps := first(q.Get("path_style"), os.Getenv("CZ_S3_PATH_STYLE")); ps != "" {
			if o.PathStyle, err = strconv.ParseBool(ps); err != nil {
				return nil, fmt.Errorf("store URL %q: path_style: expected true or false, got %q", rawURL, ps)
			}
		}
		if t := q.Get("timeout"); t != "" {
			if o.RequestTimeout, err = time.ParseDuration(t); err != nil || o.RequestTimeout <= 0 {
				return nil, fmt.Errorf("store URL %q: timeout: expected a duration such as 30s, got %q", rawURL, t)
			}
		}
		if a := q.Get("attempts"); a != "" {
			if o.MaxAttempts, err = strconv.Atoi(a); err != nil || o.MaxAttempts < 1 {
				return nil, fmt.Errorf("store URL %q: attempts: expected a whole number >= 1, got %q", rawURL, a)
			}
		}
		return OpenS3(ctx, u.Host, strings.TrimPrefix(u.Path, "/"), o)
	case "":
		return nil, fmt.Errorf("store URL %q: no scheme (expected s3://bucket/prefix or file:///abs/path)", rawURL)
	default:
		return nil, fmt.Errorf("store URL %q: unsupported scheme %q (expected s3 or file)", rawURL, u.Scheme)
	}
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
