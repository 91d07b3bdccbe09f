package sample

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/celebrity-zones/cz/contracts"
	"github.com/celebrity-zones/cz/layout"
	"github.com/celebrity-zones/cz/store"
)

// Review plays the external QC team: for every predicted-data file in the
// external bucket without a validated twin, it writes the validated file
// with a verdict per row taken from the known answer. It returns how many
// files it wrote.
func Review(ctx context.Context, external store.Bucket, ans *Answer, reviewedAt time.Time) (int, error) {
	truth := map[string][]string{}
	for _, v := range ans.Videos {
		truth[v.ContentUUID] = v.Zones
	}
	written := 0
	for _, runner := range []string{layout.DailyRunner, layout.NewBatchRunner} {
		prefix := "predicted-data/" + runner + "/"
		list, err := external.List(ctx, prefix, "")
		if err != nil {
			return written, err
		}
		for _, o := range list.Objects {
			name := strings.TrimPrefix(o.Key, prefix)
			out := layout.ValidatedPrefix(runner) + name
			if _, err := external.Stat(ctx, out); err == nil {
				continue
			}
			data, err := store.ReadAll(ctx, external, o.Key)
			if err != nil {
				return written, err
			}
			rows, err := contracts.ParsePredicted(o.Key, bytes.NewReader(data))
			if err != nil {
				return written, err
			}
			var validated []contracts.ValidatedRow
			for _, r := range rows {
				v := contracts.ValidatedRow{PredictedRow: r, Verdict: contracts.VerdictIncorrect, Reviewer: "sample-qc", ReviewedAt: reviewedAt.UTC().Truncate(time.Second)}
				if slices.Contains(truth[r.ContentUUID], r.ZoneID) {
					v.Verdict = contracts.VerdictCorrect
				}
				validated = append(validated, v)
			}
			var buf bytes.Buffer
			if err := contracts.WriteValidated(&buf, validated); err != nil {
				return written, err
			}
			if err := store.PutBytes(ctx, external, out, buf.Bytes()); err != nil {
				return written, err
			}
			written++
		}
	}
	return written, nil
}
