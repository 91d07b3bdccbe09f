package contracts

import (
	"fmt"
	"io"
	"math"
	"time"
)

// ContentMetadata is one uploaded video, a row of the content-metadata
// table. The table is partitioned by upload date: every row of a partition
// was uploaded on that date (UTC).
type ContentMetadata struct {
	ContentUUID string `parquet:"content_uuid"`
	// VideoLocation is where the video is: a key in the content bucket or
	// a URL (s3://, file://).
	VideoLocation string    `parquet:"video_location"`
	UploadTS      time.Time `parquet:"upload_ts,timestamp(microsecond)"`
	Views         int64     `parquet:"views"`
	Likes         int64     `parquet:"likes"`
	Shares        int64     `parquet:"shares"`
	// The fields below are optional columns; zero means unknown.
	DurationSeconds float64  `parquet:"duration_seconds"` // balances tasks
	SizeBytes       int64    `parquet:"size_bytes"`       // balances tasks
	Width           int32    `parquet:"width"`
	Height          int32    `parquet:"height"`
	Language        string   `parquet:"language"`   // BCP 47 tag, like en or pt-BR
	CreatorID       string   `parquet:"creator_id"` // uploader, for metadata filters
	Tags            []string `parquet:"tags,list"`
}

// ContentRequiredColumns are the columns every content-metadata file has.
var ContentRequiredColumns = []string{"content_uuid", "video_location", "upload_ts", "views", "likes", "shares"}

// ReadContentMetadata reads one Parquet file of the content-metadata
// partition for date (midnight UTC), checking its columns and every row.
func ReadContentMetadata(name string, r io.ReaderAt, size int64, date time.Time) ([]ContentMetadata, error) {
	seen := map[string]int{}
	return readParquet(name, r, size, ContentRequiredColumns, func(ps *problemSet, row int, c *ContentMetadata) {
		c.UploadTS = c.UploadTS.UTC()
		if len(c.Tags) == 0 {
			c.Tags = nil
		}
		c.checkRow(ps, row, date)
		if first, dup := seen[c.ContentUUID]; dup {
			ps.add(row, "content_uuid", "duplicate content %s; expected each video once (first in row %d)", c.ContentUUID, first)
		} else {
			seen[c.ContentUUID] = row
		}
	})
}

// WriteContentMetadata writes rows as a Parquet file of the partition for
// date, refusing rows that ReadContentMetadata would reject.
func WriteContentMetadata(w io.Writer, rows []ContentMetadata, date time.Time) error {
	ps := &problemSet{file: "content metadata being written"}
	seen := map[string]bool{}
	for i := range rows {
		rows[i].checkRow(ps, i+1, date)
		if seen[rows[i].ContentUUID] {
			ps.add(i+1, "content_uuid", "duplicate content %s", rows[i].ContentUUID)
		}
		seen[rows[i].ContentUUID] = true
	}
	if !ps.empty() {
		return ps.err()
	}
	return writeParquet(w, rows)
}

func (c *ContentMetadata) checkRow(ps *problemSet, row int, date time.Time) {
	if msg := checkUUID(c.ContentUUID); msg != "" {
		ps.add(row, "content_uuid", "%s", msg)
	}
	if msg := checkText(c.VideoLocation, true); msg != "" {
		ps.add(row, "video_location", "%s", msg)
	}
	day := date.UTC().Truncate(24 * time.Hour)
	if ts := c.UploadTS.UTC(); ts.Before(day) || !ts.Before(day.Add(24*time.Hour)) {
		ps.add(row, "upload_ts", "%s is outside the partition; expected a time on %s (UTC)", ts.Format(time.RFC3339), day.Format(DateLayout))
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"views", c.Views}, {"likes", c.Likes}, {"shares", c.Shares}, {"size_bytes", c.SizeBytes}, {"width", int64(c.Width)}, {"height", int64(c.Height)}} {
		if f.v < 0 {
			ps.add(row, f.name, "is %d; expected a count >= 0", f.v)
		}
	}
	if d := c.DurationSeconds; math.IsNaN(d) || math.IsInf(d, 0) || d < 0 {
		ps.add(row, "duration_seconds", "is %v; expected a finite number of seconds >= 0", d)
	}
	for _, f := range []struct{ name, v string }{{"language", c.Language}, {"creator_id", c.CreatorID}} {
		if msg := checkText(f.v, false); msg != "" {
			ps.add(row, f.name, "%s", msg)
		}
	}
	for i, tag := range c.Tags {
		if msg := checkText(tag, true); msg != "" {
			ps.add(row, fmt.Sprintf("tags[%d]", i), "%s", msg)
		}
	}
}
