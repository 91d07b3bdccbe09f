package jobs

import (
	"context"
	"fmt"
	"testing"

	"github.com/celebrity-zones/cz/internal/testenv"
	"github.com/celebrity-zones/cz/layout"
	"github.com/celebrity-zones/cz/sample"
	"github.com/celebrity-zones/cz/store"
)

// TestRunnersOnS3 runs both runners with every bucket, the engine's work
// included, on a real S3 server (versitygw): the production code path,
// videos downloaded from the content bucket, conditional writes for the
// lock and the index pointer.
func TestRunnersOnS3(t *testing.T) {
	srv := testenv.StartS3(t)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	url := func(name string) string {
		srv.Open(t, name, "", true)
		return fmt.Sprintf("s3://%s/cz?endpoint=%s&path_style=true", name, srv.Endpoint)
	}
	ctx := context.Background()
	c := Config{Buckets: layout.Config{External: url("external"), Internal: url("internal"), Content: url("content")}, Partitions: 2}
	c.defaults()
	work, err := store.Open(ctx, url("work"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := StartLocal(work, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	run, err := RunSample(ctx, testenv.Path(t, "dlib"), sample.Options{Seed: 21, Days: 1, VideosPerDay: 5}, c, l)
	if err != nil {
		t.Fatal(err)
	}
	if run.Videos == 0 || run.Score.TruePositives == 0 {
		t.Fatalf("nothing identified on S3: %+v", run.Score)
	}
	if run.Score.Precision < 0.95 {
		t.Errorf("precision %.3f on S3, want >= 0.95", run.Score.Precision)
	}
	b, _ := layout.Open(ctx, c.Buckets)
	if l, err := b.Internal.List(ctx, "candidates/metadata/", ""); err != nil || len(l.Objects) != run.Videos {
		t.Errorf("%d metadata objects on S3 (err %v), want one per candidate (%d)", len(l.Objects), err, run.Videos)
	}
	if ups, _ := work.ListUploads(ctx, ""); len(ups) != 0 {
		t.Errorf("open multipart uploads left in the work bucket: %v", ups)
	}
}
