package contracts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"
)

// CandidateSchemaVersion is the version of CandidateMetadata this package
// writes and reads.
const CandidateSchemaVersion = 1

// CandidateMetadata is what cz knows about one candidate video's faces
// (candidates/metadata/{model}/{content-uuid}.json): the seed's schema plus
// the content, model, timestamps and a schema version. The counts, the
// unique zones and is_completely_classified are derived from the two maps;
// build it with NewCandidateMetadata or Merge so they agree, and Validate
// checks that they do.
type CandidateMetadata struct {
	SchemaVersion      int       `json:"schema_version"`
	ContentUUID        string    `json:"content_uuid"`
	EmbeddingModelName string    `json:"embedding_model_name"`
	UploadTS           time.Time `json:"upload_ts"`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at"`

	NumDetectedFaces   int `json:"num_detected_faces"`
	NumIdentifiedFaces int `json:"num_identified_faces"`
	// UniqueZonesIdentified is the sorted set of zones of the identified faces.
	UniqueZonesIdentified []string `json:"unique_zones_identified"`
	// UniqueZonesValidated is the sorted set of zones the QC team confirmed.
	UniqueZonesValidated []string `json:"unique_zones_validated"`
	// IdentifiedFaceZoneDistanceMap holds each identified face's zone and
	// its distance to that zone's nearest ground-truth face.
	IdentifiedFaceZoneDistanceMap map[string]ZoneDistance `json:"identified_face_zone_distance_map"`
	// DetectedFaceZoneMetadataMap holds, for every detected face, the
	// distance to the nearest ground-truth face of any zone when the face
	// was last classified (identified or not).
	DetectedFaceZoneMetadataMap map[string]float64 `json:"detected_face_zone_metadata_map"`
	// IsCompletelyClassified is true when every detected face is identified.
	IsCompletelyClassified bool `json:"is_completely_classified"`
}

// ZoneDistance is one identification, spelled as in the seed.
type ZoneDistance struct {
	ZoneID   string  `json:"zone-id"`
	Distance float64 `json:"distance"`
}

// FaceResult is the classification of one detected face.
type FaceResult struct {
	FaceID string
	// NearestDistance is the distance to the nearest ground-truth face.
	NearestDistance float64
	// ZoneID is the identified zone, or "" when the face is unidentified;
	// Distance is the distance to that zone.
	ZoneID   string
	Distance float64
}

// NewCandidateMetadata builds the metadata of one video from its faces,
// deriving the counts, unique zones and is_completely_classified. A video
// without faces is completely classified: there is nothing left to
// identify. It validates the result.
func NewCandidateMetadata(contentUUID, model string, uploadTS time.Time, faces []FaceResult, now time.Time) (CandidateMetadata, error) {
	m := CandidateMetadata{
		SchemaVersion:                 CandidateSchemaVersion,
		ContentUUID:                   contentUUID,
		EmbeddingModelName:            model,
		UploadTS:                      uploadTS.UTC(),
		CreatedAt:                     now.UTC(),
		UpdatedAt:                     now.UTC(),
		IdentifiedFaceZoneDistanceMap: map[string]ZoneDistance{},
		DetectedFaceZoneMetadataMap:   map[string]float64{},
		UniqueZonesValidated:          []string{},
	}
	ps := &problemSet{file: contentUUID}
	for _, f := range faces {
		if _, dup := m.DetectedFaceZoneMetadataMap[f.FaceID]; dup {
			ps.add(0, "faces", "face %s appears twice", f.FaceID)
		}
		m.DetectedFaceZoneMetadataMap[f.FaceID] = f.NearestDistance
		if f.ZoneID != "" {
			m.IdentifiedFaceZoneDistanceMap[f.FaceID] = ZoneDistance{ZoneID: f.ZoneID, Distance: f.Distance}
		}
	}
	if !ps.empty() {
		return CandidateMetadata{}, ps.err()
	}
	m.derive()
	return m, m.Validate()
}

// derive recomputes the fields that follow from the maps.
func (m *CandidateMetadata) derive() {
	m.NumDetectedFaces = len(m.DetectedFaceZoneMetadataMap)
	m.NumIdentifiedFaces = len(m.IdentifiedFaceZoneDistanceMap)
	m.UniqueZonesIdentified = uniqueZones(m.IdentifiedFaceZoneDistanceMap)
	m.UniqueZonesValidated = sortedSet(m.UniqueZonesValidated)
	m.IsCompletelyClassified = m.NumDetectedFaces == m.NumIdentifiedFaces
}

func uniqueZones(ids map[string]ZoneDistance) []string {
	zones := make([]string, 0, len(ids))
	for _, zd := range ids {
		zones = append(zones, zd.ZoneID)
	}
	return sortedSet(zones)
}

func sortedSet(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return append([]string{}, slices.Compact(s)...)
}

// MarkValidated records zones that the QC team confirmed for this video.
func (m *CandidateMetadata) MarkValidated(zoneIDs ...string) {
	m.UniqueZonesValidated = sortedSet(append(m.UniqueZonesValidated, zoneIDs...))
}

// Merge combines the metadata stored for a video (old) with a newer
// classification of it (newer), as the new-zone batch runner does after it
// reclassified the video's unidentified faces. It never loses an earlier
// identification: a face identified in old keeps old's zone, and newer adds
// identifications only for faces old left unidentified. Nearest distances
// come from newer where it has them. Validated zones are united; created_at
// and upload_ts stay old's, updated_at is the later of the two.
func Merge(old, newer CandidateMetadata) (CandidateMetadata, error) {
	if old.ContentUUID != newer.ContentUUID || old.EmbeddingModelName != newer.EmbeddingModelName {
		return CandidateMetadata{}, fmt.Errorf("cannot merge metadata of %s (%s) with %s (%s): expected the same content and embedding model",
			old.ContentUUID, old.EmbeddingModelName, newer.ContentUUID, newer.EmbeddingModelName)
	}
	m := old
	m.SchemaVersion = CandidateSchemaVersion
	m.DetectedFaceZoneMetadataMap = maps.Clone(old.DetectedFaceZoneMetadataMap)
	if m.DetectedFaceZoneMetadataMap == nil {
		m.DetectedFaceZoneMetadataMap = map[string]float64{}
	}
	maps.Copy(m.DetectedFaceZoneMetadataMap, newer.DetectedFaceZoneMetadataMap)
	m.IdentifiedFaceZoneDistanceMap = maps.Clone(old.IdentifiedFaceZoneDistanceMap)
	if m.IdentifiedFaceZoneDistanceMap == nil {
		m.IdentifiedFaceZoneDistanceMap = map[string]ZoneDistance{}
	}
	for face, zd := range newer.IdentifiedFaceZoneDistanceMap {
		if _, known := m.IdentifiedFaceZoneDistanceMap[face]; !known {
			m.IdentifiedFaceZoneDistanceMap[face] = zd
		}
	}
	m.UniqueZonesValidated = append(slices.Clone(old.UniqueZonesValidated), newer.UniqueZonesValidated...)
	if m.UploadTS.IsZero() {
		m.UploadTS = newer.UploadTS
	}
	if newer.UpdatedAt.After(m.UpdatedAt) {
		m.UpdatedAt = newer.UpdatedAt
	}
	m.derive()
	return m, m.Validate()
}

// Validate checks every field and that the derived fields agree with the
// maps. Problems name the content's UUID as the file.
func (m CandidateMetadata) Validate() error {
	return m.validate(m.ContentUUID + ".json").err()
}

func (m CandidateMetadata) validate(file string) *problemSet {
	ps := &problemSet{file: file}
	if m.SchemaVersion != CandidateSchemaVersion {
		ps.add(0, "schema_version", "is %d; expected %d", m.SchemaVersion, CandidateSchemaVersion)
	}
	if msg := checkUUID(m.ContentUUID); msg != "" {
		ps.add(0, "content_uuid", "%s", msg)
	}
	if msg := checkText(m.EmbeddingModelName, true); msg != "" {
		ps.add(0, "embedding_model_name", "%s", msg)
	}
	for _, f := range []struct {
		name string
		t    time.Time
	}{{"upload_ts", m.UploadTS}, {"created_at", m.CreatedAt}, {"updated_at", m.UpdatedAt}} {
		if f.t.IsZero() {
			ps.add(0, f.name, "is not set; expected an RFC 3339 time")
		}
	}
	if m.UpdatedAt.Before(m.CreatedAt) {
		ps.add(0, "updated_at", "%s is before created_at %s", m.UpdatedAt.Format(time.RFC3339), m.CreatedAt.Format(time.RFC3339))
	}
	for _, face := range slices.Sorted(maps.Keys(m.DetectedFaceZoneMetadataMap)) {
		field := "detected_face_zone_metadata_map." + face
		if msg := checkFaceID(face); msg != "" {
			ps.add(0, field, "%s", msg)
		}
		if msg := checkDistance(m.DetectedFaceZoneMetadataMap[face]); msg != "" {
			ps.add(0, field, "%s", msg)
		}
	}
	for _, face := range slices.Sorted(maps.Keys(m.IdentifiedFaceZoneDistanceMap)) {
		field := "identified_face_zone_distance_map." + face
		zd := m.IdentifiedFaceZoneDistanceMap[face]
		if _, detected := m.DetectedFaceZoneMetadataMap[face]; !detected {
			ps.add(0, field, "face %q is identified but not detected; expected it in detected_face_zone_metadata_map too", clip(face))
		}
		if msg := checkUUID(zd.ZoneID); msg != "" {
			ps.add(0, field+".zone-id", "%s", msg)
		}
		if msg := checkDistance(zd.Distance); msg != "" {
			ps.add(0, field+".distance", "%s", msg)
		}
	}
	for i, z := range m.UniqueZonesValidated {
		if msg := checkUUID(z); msg != "" {
			ps.add(0, fmt.Sprintf("unique_zones_validated[%d]", i), "%s", msg)
		}
	}
	if !sort.StringsAreSorted(m.UniqueZonesValidated) || len(sortedSet(m.UniqueZonesValidated)) != len(m.UniqueZonesValidated) {
		ps.add(0, "unique_zones_validated", "expected sorted zone IDs without repeats")
	}
	want := m
	want.derive()
	if m.NumDetectedFaces != want.NumDetectedFaces {
		ps.add(0, "num_detected_faces", "is %d; expected %d, the faces in detected_face_zone_metadata_map", m.NumDetectedFaces, want.NumDetectedFaces)
	}
	if m.NumIdentifiedFaces != want.NumIdentifiedFaces {
		ps.add(0, "num_identified_faces", "is %d; expected %d, the faces in identified_face_zone_distance_map", m.NumIdentifiedFaces, want.NumIdentifiedFaces)
	}
	if !slices.Equal(m.UniqueZonesIdentified, want.UniqueZonesIdentified) {
		ps.add(0, "unique_zones_identified", "is %v; expected %v, the sorted zones of identified_face_zone_distance_map", m.UniqueZonesIdentified, want.UniqueZonesIdentified)
	}
	if m.IsCompletelyClassified != want.IsCompletelyClassified {
		ps.add(0, "is_completely_classified", "is %v; expected %v (num_detected_faces == num_identified_faces)", m.IsCompletelyClassified, want.IsCompletelyClassified)
	}
	return ps
}

// MarshalCandidateMetadata validates m and encodes it as indented JSON.
func MarshalCandidateMetadata(m CandidateMetadata) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return json.MarshalIndent(m, "", "  ")
}

// ParseCandidateMetadata decodes and validates one candidate-metadata file.
// Unknown fields are problems: a newer schema must change schema_version.
func ParseCandidateMetadata(name string, data []byte) (CandidateMetadata, error) {
	var m CandidateMetadata
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		ps := &problemSet{file: name}
		ps.add(0, "", "not candidate metadata JSON: %v", err)
		return CandidateMetadata{}, ps.err()
	}
	if dec.More() {
		ps := &problemSet{file: name}
		ps.add(0, "", "has data after the JSON object; expected one object")
		return CandidateMetadata{}, ps.err()
	}
	if m.DetectedFaceZoneMetadataMap == nil {
		m.DetectedFaceZoneMetadataMap = map[string]float64{}
	}
	if m.IdentifiedFaceZoneDistanceMap == nil {
		m.IdentifiedFaceZoneDistanceMap = map[string]ZoneDistance{}
	}
	if err := m.validate(name).err(); err != nil {
		return CandidateMetadata{}, err
	}
	return m, nil
}
