package contracts

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

var (
	content = uuidN(7)
	t0      = time.Date(2022, 9, 7, 10, 0, 0, 0, time.UTC)
	t1      = t0.Add(26 * time.Hour)
)

func TestNewCandidateMetadataDerivesFields(t *testing.T) {
	for _, tc := range []struct {
		name     string
		faces    []FaceResult
		detected int
		ident    int
		zones    []string
		complete bool
	}{
		{"no faces is complete", nil, 0, 0, []string{}, true},
		{"one unidentified", []FaceResult{{FaceID: "face-01", NearestDistance: 0.8}}, 1, 0, []string{}, false},
		{"two faces of one zone", []FaceResult{
			{FaceID: "face-01", NearestDistance: 0.3, ZoneID: zoneB, Distance: 0.3},
			{FaceID: "face-02", NearestDistance: 0.4, ZoneID: zoneB, Distance: 0.4},
		}, 2, 2, []string{zoneB}, true},
		{"mixed", []FaceResult{
			{FaceID: "face-01", NearestDistance: 0.3, ZoneID: zoneB, Distance: 0.3},
			{FaceID: "face-02", NearestDistance: 0.9},
			{FaceID: "face-03", NearestDistance: 0.2, ZoneID: zoneA, Distance: 0.2},
		}, 3, 2, []string{zoneA, zoneB}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewCandidateMetadata(content, "dlib-resnet29", t0, tc.faces, t1)
			if err != nil {
				t.Fatalf("NewCandidateMetadata: %v", err)
			}
			if m.NumDetectedFaces != tc.detected || m.NumIdentifiedFaces != tc.ident || !reflect.DeepEqual(m.UniqueZonesIdentified, tc.zones) || m.IsCompletelyClassified != tc.complete {
				t.Fatalf("got detected %d identified %d zones %v complete %v; expected %d %d %v %v",
					m.NumDetectedFaces, m.NumIdentifiedFaces, m.UniqueZonesIdentified, m.IsCompletelyClassified, tc.detected, tc.ident, tc.zones, tc.complete)
			}
		})
	}
}

func TestNewCandidateMetadataRejects(t *testing.T) {
	_, err := NewCandidateMetadata(content, "", time.Time{}, []FaceResult{
		{FaceID: "face-1", NearestDistance: -1},
		{FaceID: "face-02", ZoneID: "zone-b", Distance: 0.1},
		{FaceID: "face-02"},
	}, t1)
	checkProblems(t, err, content+": faces: face face-02 appears twice")

	_, err = NewCandidateMetadata(content, "", time.Time{}, []FaceResult{
		{FaceID: "face-1", NearestDistance: -1},
		{FaceID: "face-02", ZoneID: "zone-b", Distance: 0.1},
	}, t1)
	checkProblems(t, err,
		content+".json: embedding_model_name: is empty",
		content+".json: upload_ts: is not set",
		content+`.json: detected_face_zone_metadata_map.face-1: "face-1" is not a face ID`,
		content+".json: detected_face_zone_metadata_map.face-1: -1 is not a distance",
		content+`.json: identified_face_zone_distance_map.face-02.zone-id: "zone-b" is not a UUID`)
}

func TestCandidateMetadataJSON(t *testing.T) {
	m, err := NewCandidateMetadata(content, "dlib-resnet29", t0, []FaceResult{
		{FaceID: "face-01", NearestDistance: 0.25, ZoneID: zoneA, Distance: 0.25},
		{FaceID: "face-02", NearestDistance: 0.34},
	}, t1)
	if err != nil {
		t.Fatal(err)
	}
	data, err := MarshalCandidateMetadata(m)
	if err != nil {
		t.Fatal(err)
	}
	// The seed's field names and shapes.
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	for field, want := range map[string]any{
		"schema_version":                    1.0,
		"num_detected_faces":                2.0,
		"num_identified_faces":              1.0,
		"unique_zones_identified":           []any{zoneA},
		"unique_zones_validated":            []any{},
		"identified_face_zone_distance_map": map[string]any{"face-01": map[string]any{"zone-id": zoneA, "distance": 0.25}},
		"detected_face_zone_metadata_map":   map[string]any{"face-01": 0.25, "face-02": 0.34},
		"is_completely_classified":          false,
		"upload_ts":                         "2022-09-07T10:00:00Z",
	} {
		if !reflect.DeepEqual(raw[field], want) {
			t.Errorf("JSON field %s = %#v; expected %#v", field, raw[field], want)
		}
	}
	back, err := ParseCandidateMetadata("m.json", data)
	if err != nil || !reflect.DeepEqual(back, m) {
		t.Fatalf("read back %+v, %v; expected %+v", back, err, m)
	}
}

func TestParseCandidateMetadataRejects(t *testing.T) {
	good, _ := NewCandidateMetadata(content, "m", t0, []FaceResult{{FaceID: "face-01", NearestDistance: 0.2, ZoneID: zoneA, Distance: 0.2}}, t1)
	data, _ := json.Marshal(good)
	edit := func(from, to string) []byte { return []byte(strings.Replace(string(data), from, to, 1)) }
	for _, tc := range []struct {
		name string
		data []byte
		want []string
	}{
		{"not JSON", []byte("{"), []string{"m.json: not candidate metadata JSON"}},
		{"unknown field", edit(`"schema_version":1`, `"schema_version":1,"extra":2`), []string{`m.json: not candidate metadata JSON: json: unknown field "extra"`}},
		{"two objects", append(data, data...), []string{"m.json: has data after the JSON object"}},
		{"future version", edit(`"schema_version":1`, `"schema_version":2`), []string{"m.json: schema_version: is 2; expected 1"}},
		{"counts disagree with the maps", edit(`"num_detected_faces":1`, `"num_detected_faces":2`), []string{"m.json: num_detected_faces: is 2; expected 1"}},
		{"completeness disagrees", edit(`"is_completely_classified":true`, `"is_completely_classified":false`), []string{"m.json: is_completely_classified: is false; expected true"}},
		{"identified but not detected", edit(`"detected_face_zone_metadata_map":{"face-01":0.2}`, `"detected_face_zone_metadata_map":{}`), []string{
			"m.json: identified_face_zone_distance_map.face-01: face \"face-01\" is identified but not detected",
			"m.json: num_detected_faces: is 1; expected 0",
			"m.json: is_completely_classified: is true; expected false",
		}},
		{"unique zones stale", edit(`"unique_zones_identified":["`+zoneA+`"]`, `"unique_zones_identified":[]`), []string{"m.json: unique_zones_identified: is []; expected [" + zoneA + "]"}},
		{"updated before created", edit(`"updated_at":"2022-09-08T12:00:00Z"`, `"updated_at":"2022-09-01T12:00:00Z"`), []string{"m.json: updated_at: 2022-09-01T12:00:00Z is before created_at"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCandidateMetadata("m.json", tc.data)
			checkProblems(t, err, tc.want...)
		})
	}
}

func TestMergeNeverLosesIdentifications(t *testing.T) {
	old, _ := NewCandidateMetadata(content, "m", t0, []FaceResult{
		{FaceID: "face-01", NearestDistance: 0.3, ZoneID: zoneA, Distance: 0.3},
		{FaceID: "face-02", NearestDistance: 0.9},
		{FaceID: "face-03", NearestDistance: 0.8},
	}, t1)
	old.MarkValidated(zoneA)
	// The batch runner reclassified the unidentified faces against a
	// larger index; it also (wrongly) claims face-01 for another zone.
	later := t1.Add(48 * time.Hour)
	newer, _ := NewCandidateMetadata(content, "m", t0, []FaceResult{
		{FaceID: "face-01", NearestDistance: 0.1, ZoneID: zoneC, Distance: 0.1},
		{FaceID: "face-02", NearestDistance: 0.2, ZoneID: zoneB, Distance: 0.2},
		{FaceID: "face-03", NearestDistance: 0.7},
	}, later)

	m, err := Merge(old, newer)
	if err != nil {
		t.Fatalf("Merge: %v", err)
	}
	wantIdent := map[string]ZoneDistance{"face-01": {zoneA, 0.3}, "face-02": {zoneB, 0.2}}
	if !reflect.DeepEqual(m.IdentifiedFaceZoneDistanceMap, wantIdent) {
		t.Errorf("identifications %v; expected %v (face-01 keeps its earlier zone)", m.IdentifiedFaceZoneDistanceMap, wantIdent)
	}
	if want := map[string]float64{"face-01": 0.1, "face-02": 0.2, "face-03": 0.7}; !reflect.DeepEqual(m.DetectedFaceZoneMetadataMap, want) {
		t.Errorf("nearest distances %v; expected the newer ones %v", m.DetectedFaceZoneMetadataMap, want)
	}
	if m.NumDetectedFaces != 3 || m.NumIdentifiedFaces != 2 || m.IsCompletelyClassified || !reflect.DeepEqual(m.UniqueZonesIdentified, []string{zoneA, zoneB}) {
		t.Errorf("derived fields %d %d %v %v; expected 3 2 false [zoneA zoneB]", m.NumDetectedFaces, m.NumIdentifiedFaces, m.IsCompletelyClassified, m.UniqueZonesIdentified)
	}
	if !reflect.DeepEqual(m.UniqueZonesValidated, []string{zoneA}) || !m.CreatedAt.Equal(t1) || !m.UpdatedAt.Equal(later) {
		t.Errorf("validated %v created %v updated %v; expected [zoneA], old's creation and newer's update", m.UniqueZonesValidated, m.CreatedAt, m.UpdatedAt)
	}
	if old.NumIdentifiedFaces != 1 || len(old.IdentifiedFaceZoneDistanceMap) != 1 {
		t.Errorf("Merge changed old: %+v", old)
	}
	// Merging again changes nothing: the runner may retry.
	again, err := Merge(m, newer)
	if err != nil || !reflect.DeepEqual(again, m) {
		t.Errorf("second Merge = %+v, %v; expected the first result %+v", again, err, m)
	}
}

func TestMergeRefusesOtherContent(t *testing.T) {
	a, _ := NewCandidateMetadata(content, "m", t0, nil, t1)
	b, _ := NewCandidateMetadata(uuidN(8), "m", t0, nil, t1)
	c, _ := NewCandidateMetadata(content, "other-model", t0, nil, t1)
	for _, other := range []CandidateMetadata{b, c} {
		if _, err := Merge(a, other); err == nil || !strings.Contains(err.Error(), "expected the same content and embedding model") {
			t.Errorf("Merge with %s/%s: %v; expected a refusal", other.ContentUUID, other.EmbeddingModelName, err)
		}
	}
}
