package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3Options configure the S3 client. Zero values take the AWS defaults
// (environment, shared config, instance role).
type S3Options struct {
	// Endpoint of an S3-compatible server, e.g. http://127.0.0.1:7070.
	Endpoint string
	// Region, when empty, comes from AWS_REGION or the shared config (as
	// on Lambda and EC2), else us-east-1.
	Region string
	// PathStyle addresses buckets as endpoint/bucket (S3-compatible servers).
	PathStyle bool
	// AccessKey and SecretKey, when set, replace the default credentials.
	AccessKey, SecretKey string
	// MaxAttempts per request, retries included (default 8).
	MaxAttempts int
	// PartSize for multipart uploads (default 16 MiB); bodies larger than
	// one part go up in parts.
	PartSize int64
	// RequestTimeout bounds the wait for a response's headers, so a hung
	// server is retried instead of waited on forever (default 30 s).
	RequestTimeout time.Duration
}

// S3 is a Bucket on Amazon S3 or an S3-compatible server.
type S3 struct {
	client   *s3.Client
	uploader *manager.Uploader
	bucket   string
	prefix   string // "" or ends with "/"
}

// OpenS3 opens s3://bucket/prefix.
func OpenS3(ctx context.Context, bucket, prefix string, o S3Options) (*S3, error) {
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 8
	}
	if o.PartSize == 0 {
		o.PartSize = 16 << 20
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = 30 * time.Second
	}
	httpClient := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = 10 * time.Second }).
		WithTransportOptions(func(tr *http.Transport) {
			tr.MaxIdleConnsPerHost = 64
			tr.ResponseHeaderTimeout = o.RequestTimeout
		})
	loadOpts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(httpClient),
		// Standard retries: exponential backoff with full jitter on 5xx,
		// throttling (SlowDown) and transient network errors and timeouts.
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(r *retry.StandardOptions) {
				r.MaxAttempts = o.MaxAttempts
				r.MaxBackoff = 20 * time.Second
			})
		}),
	}
	if o.AccessKey != "" {
		loadOpts = append(loadOpts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(o.AccessKey, o.SecretKey, "")))
	}
	if o.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(o.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("s3 config: %w", err)
	}
	if cfg.Region == "" {
		// Neither the options nor AWS_REGION / the profile name one:
		// S3-compatible servers accept any region.
		cfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(cfg, func(so *s3.Options) {
		so.UsePathStyle = o.PathStyle
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		// Checksums only where the API requires them: S3-compatible
		// servers differ on the newer default ones.
		so.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return &S3{
		client: client,
		uploader: manager.NewUploader(client, func(u *manager.Uploader) {
			u.PartSize = o.PartSize
			u.Concurrency = 4
		}),
		bucket: bucket,
		prefix: prefix,
	}, nil
}

// Client exposes the SDK client for the few tools that need more than a
// Bucket (creating buckets in tests and set-up).
func (b *S3) Client() *s3.Client { return b.client }

func (b *S3) URL() string { return "s3://" + b.bucket + "/" + strings.TrimSuffix(b.prefix, "/") }

func (b *S3) key(key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", err
	}
	return b.prefix + key, nil
}

func (b *S3) url(key string) string { return "s3://" + b.bucket + "/" + b.prefix + key }

func (b *S3) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	return b.GetRange(ctx, key, 0, -1)
}

func (b *S3) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	k, err := b.key(key)
	if err != nil {
		return nil, err
	}
	in := &s3.GetObjectInput{Bucket: &b.bucket, Key: &k}
	switch {
	case length == 0:
		return io.NopCloser(bytes.NewReader(nil)), nil
	case length > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", offset, offset+length-1))
	case offset > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	out, err := b.client.GetObject(ctx, in)
	if err != nil {
		return nil, b.mapErr(key, err)
	}
	return out.Body, nil
}

func (b *S3) Stat(ctx context.Context, key string) (Object, error) {
	k, err := b.key(key)
	if err != nil {
		return Object{}, err
	}
	out, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.bucket, Key: &k})
	if err != nil {
		return Object{}, b.mapErr(key, err)
	}
	return Object{Key: key, Size: aws.ToInt64(out.ContentLength), ETag: unquote(aws.ToString(out.ETag)), ModTime: aws.ToTime(out.LastModified)}, nil
}

func (b *S3) Put(ctx context.Context, key string, body io.Reader) error {
	k, err := b.key(key)
	if err != nil {
		return err
	}
	// The uploader sends one PutObject for small bodies and a multipart
	// upload (aborted on failure) for large ones; either is atomic.
	if _, err := b.uploader.Upload(ctx, &s3.PutObjectInput{Bucket: &b.bucket, Key: &k, Body: body}); err != nil {
		return b.mapErr(key, err)
	}
	return nil
}

// PutIfAbsent sends If-None-Match: *. Conditional writes are for small
// objects (locks, commit records, manifests): the body is buffered so that
// a retried request can resend it.
func (b *S3) PutIfAbsent(ctx context.Context, key string, body io.Reader) error {
	return b.putConditional(ctx, key, body, func(in *s3.PutObjectInput) { in.IfNoneMatch = aws.String("*") }, ErrExists)
}

func (b *S3) PutIfMatch(ctx context.Context, key, etag string, body io.Reader) error {
	return b.putConditional(ctx, key, body, func(in *s3.PutObjectInput) { in.IfMatch = aws.String(`"` + unquote(etag) + `"`) }, ErrPrecondition)
}

func (b *S3) putConditional(ctx context.Context, key string, body io.Reader, cond func(*s3.PutObjectInput), failed error) error {
	k, err := b.key(key)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return fmt.Errorf("put %s: %w", b.url(key), err)
	}
	in := &s3.PutObjectInput{Bucket: &b.bucket, Key: &k, Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data)))}
	cond(in)
	_, err = b.client.PutObject(ctx, in)
	if err == nil {
		return nil
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "PreconditionFailed", "ConditionalRequestConflict":
			return fmt.Errorf("%s: %w", b.url(key), failed)
		}
	}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) && (re.HTTPStatusCode() == http.StatusPreconditionFailed || re.HTTPStatusCode() == http.StatusConflict) {
		return fmt.Errorf("%s: %w", b.url(key), failed)
	}
	return b.mapErr(key, err)
}

func (b *S3) Delete(ctx context.Context, key string) error {
	k, err := b.key(key)
	if err != nil {
		return err
	}
	if _, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: &k}); err != nil {
		if errors.Is(b.mapErr(key, err), ErrNotExist) {
			return nil
		}
		return b.mapErr(key, err)
	}
	return nil
}

func (b *S3) List(ctx context.Context, prefix, delimiter string) (ListResult, error) {
	in := &s3.ListObjectsV2Input{Bucket: &b.bucket, Prefix: aws.String(b.prefix + prefix)}
	if delimiter != "" {
		in.Delimiter = aws.String(delimiter)
	}
	var res ListResult
	pages := s3.NewListObjectsV2Paginator(b.client, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return ListResult{}, b.mapErr(prefix, err)
		}
		for _, o := range page.Contents {
			res.Objects = append(res.Objects, Object{
				Key:     strings.TrimPrefix(aws.ToString(o.Key), b.prefix),
				Size:    aws.ToInt64(o.Size),
				ETag:    unquote(aws.ToString(o.ETag)),
				ModTime: aws.ToTime(o.LastModified),
			})
		}
		for _, p := range page.CommonPrefixes {
			res.Prefixes = append(res.Prefixes, strings.TrimPrefix(aws.ToString(p.Prefix), b.prefix))
		}
	}
	return res, nil
}

func (b *S3) ListUploads(ctx context.Context, prefix string) ([]Upload, error) {
	in := &s3.ListMultipartUploadsInput{Bucket: &b.bucket, Prefix: aws.String(b.prefix + prefix)}
	var ups []Upload
	for {
		out, err := b.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return nil, b.mapErr(prefix, err)
		}
		for _, u := range out.Uploads {
			ups = append(ups, Upload{Key: strings.TrimPrefix(aws.ToString(u.Key), b.prefix), ID: aws.ToString(u.UploadId), Initiated: aws.ToTime(u.Initiated)})
		}
		if !aws.ToBool(out.IsTruncated) {
			return ups, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

func (b *S3) AbortUpload(ctx context.Context, u Upload) error {
	k, err := b.key(u.Key)
	if err != nil {
		return err
	}
	_, err = b.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &b.bucket, Key: &k, UploadId: &u.ID})
	if err != nil && !errors.Is(b.mapErr(u.Key, err), ErrNotExist) {
		return b.mapErr(u.Key, err)
	}
	return nil
}

func (b *S3) mapErr(key string, err error) error {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var nsu *types.NoSuchUpload
	if errors.As(err, &nsk) || errors.As(err, &nf) || errors.As(err, &nsu) {
		return fmt.Errorf("%s: %w", b.url(key), ErrNotExist)
	}
	var api smithy.APIError
	if errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound") {
		return fmt.Errorf("%s: %w", b.url(key), ErrNotExist)
	}
	return fmt.Errorf("%s: %w", b.url(key), err)
}

func unquote(etag string) string { return strings.Trim(etag, `"`) }
