package face

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

//go:embed models/*.json
var builtinDescriptors embed.FS

// Descriptor describes one ONNX model so the pipeline can feed it and read
// its outputs without model-specific code. It is read from a JSON file;
// field names below are the JSON keys.
type Descriptor struct {
	Name string `json:"name"`
	// Kind is "detector" or "embedder".
	Kind string `json:"kind"`
	// Model is the ONNX file, relative to the descriptor's folder, or, for
	// built-in descriptors, to the models folder.
	Model string `json:"model"`
	Input Input  `json:"input"`
	// Outputs names the model's outputs in the order the decoder expects.
	Outputs []string `json:"outputs"`

	// Detector fields.
	// Decode is "blazeface" (MediaPipe SSD anchors: scores [N,A,1] and
	// regressors [N,A,4+2K] per anchor layer) or "boxes-scores" (already
	// decoded corner boxes [N,A,4] in 0..1, class scores [N,A,C] and
	// optionally keypoints [N,A,2K] in 0..1; UltraFace style).
	Decode string `json:"decode,omitempty"`
	// Anchors lists the anchor layers for "blazeface": grid cells per side
	// and anchors per cell, in output order.
	Anchors        []AnchorLayer `json:"anchors,omitempty"`
	ScoreThreshold float32       `json:"score_threshold,omitempty"`
	NMSThreshold   float32       `json:"nms_threshold,omitempty"`
	// Keypoints names the detector's keypoints in output order. Names are
	// shared with embedder templates: left_eye and right_eye are the eyes on
	// the image's left and right, then nose, mouth, left_ear, right_ear,
	// left_mouth, right_mouth.
	Keypoints []string `json:"keypoints,omitempty"`

	// Embedder fields.
	Dim int `json:"dim,omitempty"`
	// Template gives each keypoint's position in the embedder's input, in
	// pixels. Faces are aligned with a similarity warp from the detector's
	// keypoints onto the template points they share (at least two), or
	// from the detector's box onto TemplateBox when they share none.
	Template    map[string][2]float32 `json:"template,omitempty"`
	TemplateBox [4]float32            `json:"template_box,omitempty"`
	// Distance is "euclidean" or "cosine" (1 - cosine similarity).
	Distance string `json:"distance,omitempty"`
	// Threshold: two faces closer than this are the same person.
	Threshold float32 `json:"threshold,omitempty"`
	// Normalize L2-normalises embeddings.
	Normalize bool `json:"normalize,omitempty"`

	dir string // where Model is looked up
}

// Input describes a model's one image input.
type Input struct {
	Name   string `json:"name"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	// Layout is "NCHW" or "NHWC".
	Layout string `json:"layout"`
	// Channels is "RGB" or "BGR".
	Channels string `json:"channels"`
	// Pixel values v (0..255) are fed as (v - Mean[c]) / Std[c].
	Mean [3]float32 `json:"mean"`
	Std  [3]float32 `json:"std"`
	// MaxBatch is the largest batch the model takes (0: any).
	MaxBatch int `json:"max_batch,omitempty"`
	// Letterbox keeps the aspect ratio when resizing to the detector input
	// (padding the rest); otherwise the frame is stretched.
	Letterbox bool `json:"letterbox,omitempty"`
}

// AnchorLayer is one SSD anchor layer: a Grid x Grid map with PerCell
// anchors per cell.
type AnchorLayer struct {
	Grid    int `json:"grid"`
	PerCell int `json:"per_cell"`
}

// ModelPath is the ONNX file the descriptor points at.
func (d *Descriptor) ModelPath() string {
	if filepath.IsAbs(d.Model) {
		return d.Model
	}
	return filepath.Join(d.dir, d.Model)
}

// LoadDescriptor reads a descriptor. nameOrPath is a path to a JSON file, or
// a name looked up as modelsDir/NAME.json and then among the built-in
// descriptors (whose model files live in modelsDir).
func LoadDescriptor(nameOrPath, modelsDir string) (*Descriptor, error) {
	var data []byte
	var dir, src string
	switch {
	case strings.HasSuffix(nameOrPath, ".json") || strings.ContainsRune(nameOrPath, os.PathSeparator):
		b, err := os.ReadFile(nameOrPath)
		if err != nil {
			return nil, fmt.Errorf("face model descriptor: %w", err)
		}
		data, dir, src = b, filepath.Dir(nameOrPath), nameOrPath
	default:
		p := filepath.Join(modelsDir, nameOrPath+".json")
		if b, err := os.ReadFile(p); err == nil {
			data, dir, src = b, modelsDir, p
		} else if b, err2 := fs.ReadFile(builtinDescriptors, "models/"+nameOrPath+".json"); err2 == nil {
			data, dir, src = b, modelsDir, "built-in "+nameOrPath+".json"
		} else if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("face model descriptor %q: not built in and no %s", nameOrPath, p)
		} else {
			return nil, fmt.Errorf("face model descriptor: %w", err)
		}
	}
	return ParseDescriptor(data, src, dir)
}

// ParseDescriptor decodes and checks a descriptor; src names it in errors
// and dir is where its model file is looked up.
func ParseDescriptor(data []byte, src, dir string) (*Descriptor, error) {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	var d Descriptor
	if err := dec.Decode(&d); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line := 1 + strings.Count(string(data[:se.Offset]), "\n")
			return nil, fmt.Errorf("%s:%d: %w", src, line, err)
		}
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	d.dir = dir
	if err := d.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	return &d, nil
}

func (d *Descriptor) check() error {
	if d.Name == "" {
		return errors.New(`field "name" is empty`)
	}
	if d.Model == "" {
		return errors.New(`field "model" is empty`)
	}
	in := d.Input
	if in.Width <= 0 || in.Height <= 0 {
		return fmt.Errorf(`field "input": width and height must be positive, got %dx%d`, in.Width, in.Height)
	}
	if in.Layout != "NCHW" && in.Layout != "NHWC" {
		return fmt.Errorf(`field "input.layout": %q, want NCHW or NHWC`, in.Layout)
	}
	if in.Channels != "RGB" && in.Channels != "BGR" {
		return fmt.Errorf(`field "input.channels": %q, want RGB or BGR`, in.Channels)
	}
	for c, s := range in.Std {
		if s == 0 {
			return fmt.Errorf(`field "input.std[%d]" is zero`, c)
		}
	}
	if in.Name == "" {
		return errors.New(`field "input.name" is empty`)
	}
	if len(d.Outputs) == 0 {
		return errors.New(`field "outputs" is empty`)
	}
	switch d.Kind {
	case "detector":
		switch d.Decode {
		case "blazeface":
			if len(d.Outputs) != 2*len(d.Anchors) || len(d.Anchors) == 0 {
				return fmt.Errorf(`decode "blazeface" needs one score and one regressor output per anchor layer: %d outputs, %d layers`, len(d.Outputs), len(d.Anchors))
			}
		case "boxes-scores":
			if len(d.Outputs) != 2 && len(d.Outputs) != 3 {
				return fmt.Errorf(`decode "boxes-scores" needs 2 outputs (boxes, scores) or 3 (and keypoints), got %d`, len(d.Outputs))
			}
			if len(d.Outputs) == 3 && len(d.Keypoints) == 0 {
				return errors.New(`decode "boxes-scores" with a keypoint output needs "keypoints" names`)
			}
		default:
			return fmt.Errorf(`field "decode": %q, want blazeface or boxes-scores`, d.Decode)
		}
		if d.ScoreThreshold <= 0 || d.ScoreThreshold >= 1 {
			return fmt.Errorf(`field "score_threshold": %v, want in (0,1)`, d.ScoreThreshold)
		}
		if d.NMSThreshold <= 0 || d.NMSThreshold >= 1 {
			return fmt.Errorf(`field "nms_threshold": %v, want in (0,1)`, d.NMSThreshold)
		}
	case "embedder":
		if d.Dim <= 0 {
			return fmt.Errorf(`field "dim": %d, want > 0`, d.Dim)
		}
		if d.Distance != "euclidean" && d.Distance != "cosine" {
			return fmt.Errorf(`field "distance": %q, want euclidean or cosine`, d.Distance)
		}
		if d.Threshold <= 0 {
			return fmt.Errorf(`field "threshold": %v, want > 0`, d.Threshold)
		}
		if len(d.Template) < 2 {
			return errors.New(`field "template" needs at least 2 keypoints`)
		}
		b := d.TemplateBox
		if b[2] <= b[0] || b[3] <= b[1] {
			return fmt.Errorf(`field "template_box": %v, want [x0,y0,x1,y1] with x1>x0, y1>y0`, b)
		}
	default:
		return fmt.Errorf(`field "kind": %q, want detector or embedder`, d.Kind)
	}
	return nil
}

// Dist is the descriptor's distance between two embeddings.
func (d *Descriptor) Dist(a, b []float32) float32 {
	if d.Distance == "cosine" {
		return CosineDistance(a, b)
	}
	return EuclideanDistance(a, b)
}
