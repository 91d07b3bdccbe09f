// Package store owns access to object storage. Every byte the system
// persists goes through a Bucket: S3 (aws-sdk-go-v2) in production and
// tests against versitygw, a local directory for the embedded default.
// Both implementations pass one conformance suite (storetest).
//
// Addresses are URLs: s3://bucket/prefix and file:///abs/path. A Bucket is
// rooted at that address; keys are slash-separated and relative to it.
package store

import (
	"context"
	"errors"
	"io"
	"time"
)

var (
	// ErrNotExist is returned when a key does not exist.
	ErrNotExist = errors.New("object does not exist")
	// ErrExists is returned by PutIfAbsent when the key already exists.
	ErrExists = errors.New("object already exists")
	// ErrPrecondition is returned by PutIfMatch when the object changed.
	ErrPrecondition = errors.New("object changed since it was read")
)

// Object describes one stored object.
type Object struct {
	Key     string
	Size    int64
	ETag    string
	ModTime time.Time
}

// ListResult is one page of a listing: objects directly under the prefix
// and, when a delimiter was given, the common prefixes ("folders").
type ListResult struct {
	Objects  []Object
	Prefixes []string
}

// Bucket is the object-store interface used by all code.
type Bucket interface {
	// URL is the address this bucket is rooted at.
	URL() string
	// Get opens an object for reading.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// GetRange reads length bytes starting at offset (length < 0: to the end).
	GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	// Stat returns an object's size and ETag.
	Stat(ctx context.Context, key string) (Object, error)
	// Put writes an object atomically: readers see the old or the new
	// content, never a part. Large bodies go up in multipart.
	Put(ctx context.Context, key string, body io.Reader) error
	// PutIfAbsent writes only if the key does not exist (If-None-Match: *),
	// returning ErrExists otherwise. It is the primitive behind locks and
	// commits.
	PutIfAbsent(ctx context.Context, key string, body io.Reader) error
	// PutIfMatch replaces an object only if its ETag is still etag,
	// returning ErrPrecondition otherwise (compare-and-swap for pointers).
	PutIfMatch(ctx context.Context, key, etag string, body io.Reader) error
	// Delete removes an object; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List returns every object under prefix. With delimiter "/" it stops
	// at the next "/" and reports those as Prefixes. Paging is internal.
	List(ctx context.Context, prefix, delimiter string) (ListResult, error)
	// ListUploads returns the keys of open multipart uploads under prefix
	// (always empty for stores without multipart), and AbortUploads aborts
	// them: the sweeper uses both.
	ListUploads(ctx context.Context, prefix string) ([]Upload, error)
	AbortUpload(ctx context.Context, u Upload) error
}

// Upload is an open multipart upload.
type Upload struct {
	Key       string
	ID        string
	Initiated time.Time
}
