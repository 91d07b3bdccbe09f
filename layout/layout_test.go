package layout

import (
	"testing"
	"time"

	"github.com/celebrity-zones/cz/contracts"
	"github.com/celebrity-zones/cz/store"
)

func TestKeysFollowTheSeed(t *testing.T) {
	b, err := contracts.ParseBatchID("2022-09-08@1")
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2022, 9, 7, 0, 0, 0, 0, time.UTC)
	zone := "3f1c7a52-8f0b-4c1e-9d51-0c3b2f6a9e10"
	uuid := "0d6a1c3e-5b7f-4e2a-9c8d-1f2e3d4c5b6a"
	for _, c := range []struct{ got, want string }{
		{GroundTruthImages(b) + zone + "/img.png", "ground-truth-images/2022-09-08@1/" + zone + "/img.png"},
		{ZoneList(b), "zone-list/2022-09-08@1.csv"},
		{PredictedDaily(day), "predicted-data/daily-runner/2022-09-07.csv"},
		{PredictedBatch(b), "predicted-data/new-batch-runner/2022-09-08@1.csv"},
		{ValidatedPrefix(DailyRunner) + "2022-09-07.csv", "validated-data/daily-runner/2022-09-07.csv"},
		{GroundTruthFace(zone, 1), "ground-truth-faces/" + zone + "/face-01.jpg"},
		{GroundTruthEmbedding(zone, 12), "ground-truth-faces/" + zone + "/face-12.npy"},
		{CandidateFace(uuid, contracts.FaceID(1)), "candidates/faces/" + uuid + "/face-01.jpg"},
		{CandidateEmbedding("dlib-resnet128", Complete, uuid, "face-01"), "candidates/embeddings/dlib-resnet128/complete/" + uuid + "/face-01.npy"},
		{CandidateEmbedding("dlib-resnet128", Unidentified, uuid, "face-02"), "candidates/embeddings/dlib-resnet128/unidentified/" + uuid + "/face-02.npy"},
		{CandidateMetadata("dlib-resnet128", uuid), "candidates/metadata/dlib-resnet128/" + uuid + ".json"},
		{IntermediateDaily(day), "intermediate-data/daily-runner/2022/09/07/"},
		{IntermediateBatch(b), "intermediate-data/new-batch-runner/2022/09/08/1/"},
		{Index("dlib-resnet128") + "/latest", "intermediate-data/scann/dlib-resnet128/latest"},
		{ContentPartition(day), "content-metadata/dt=2022-09-07/"},
	} {
		if c.got != c.want {
			t.Errorf("key = %q, want %q", c.got, c.want)
		}
		if err := store.CheckKey(trimSlash(c.got)); err != nil {
			t.Errorf("key %q is not storable: %v", c.got, err)
		}
	}
}

func trimSlash(s string) string {
	if s != "" && s[len(s)-1] == '/' {
		return s[:len(s)-1]
	}
	return s
}
