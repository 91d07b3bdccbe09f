package store

import (
	"bytes"
	"context"
	"fmt"
	"io"
)

// ReadAll reads a whole object.
func ReadAll(ctx context.Context, b Bucket, key string) ([]byte, error) {
	r, err := b.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", Join(b.URL(), key), err)
	}
	return data, nil
}

// PutBytes writes a whole object from memory.
func PutBytes(ctx context.Context, b Bucket, key string, data []byte) error {
	return b.Put(ctx, key, bytes.NewReader(data))
}

// Join makes the URL of a key inside a bucket, for messages and manifests.
func Join(bucketURL, key string) string {
	if len(bucketURL) > 0 && bucketURL[len(bucketURL)-1] == '/' {
		return bucketURL + key
	}
	return bucketURL + "/" + key
}
