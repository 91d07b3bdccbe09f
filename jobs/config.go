package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/celebrity-zones/cz/ann"
	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/face"
	"github.com/celebrity-zones/cz/layout"
)

// Config is what both runners need besides their date or batch. It
// travels inside the job spec (param "config") so that a job submitted
// over the API carries everything its tasks need.
type Config struct {
	Buckets layout.Config `json:"buckets"`
	// Face configures the face pipeline on the executors: models, ONNX
	// Runtime threads and execution provider, sampling rate.
	Face FaceConfig `json:"face"`
	// Filter selects the daily candidates.
	Filter Filter `json:"filter"`
	// Partitions is the number of inference tasks (default 4).
	Partitions int `json:"partitions,omitempty"`
	// Shards is the number of index shards the batch runner searches in
	// separate tasks before regrouping the hits by video (default 2).
	Shards int `json:"shards,omitempty"`
	// MaxDistance identifies a face when its nearest ground-truth face is
	// this close (default: the embedder's same-person threshold), and
	// Margin requires the nearest other zone to be this much farther
	// (see ann.ClassifyRule).
	MaxDistance float32 `json:"max_distance,omitempty"`
	Margin      float32 `json:"margin,omitempty"`
}

// FaceConfig is the serialisable part of face.Config.
type FaceConfig struct {
	ModelsDir string  `json:"models_dir,omitempty"`
	Detector  string  `json:"detector,omitempty"`
	Embedder  string  `json:"embedder,omitempty"`
	Threads   int     `json:"threads,omitempty"`
	Provider  string  `json:"provider,omitempty"` // cpu or cuda
	FPS       float64 `json:"fps,omitempty"`
}

func (c *Config) defaults() {
	if c.Partitions <= 0 {
		c.Partitions = 4
	}
	if c.Shards <= 0 {
		c.Shards = 2
	}
	if c.Filter.Tiers == nil && c.Filter.MinViews == 0 {
		c.Filter = DefaultFilter()
	}
}

// WithDefaults returns c with every unset field at its default, as the
// runners see it.
func (c Config) WithDefaults() Config {
	c.defaults()
	return c
}

// paramConfig is the job param that carries the Config.
const paramConfig = "config"

func (c Config) param() string {
	data, _ := json.Marshal(c)
	return string(data)
}

func taskConfig(t *engine.Task) (Config, error) {
	var c Config
	if err := json.Unmarshal([]byte(t.Param(paramConfig)), &c); err != nil {
		return c, engine.Fatal(fmt.Errorf("job param %q: %w", paramConfig, err))
	}
	c.defaults()
	return c, nil
}

// taskSetup reads a task's configuration and opens its buckets.
func taskSetup(ctx context.Context, t *engine.Task) (Config, *layout.Buckets, error) {
	c, err := taskConfig(t)
	if err != nil {
		return c, nil, err
	}
	b, err := openBuckets(ctx, c.Buckets)
	return c, b, err
}

// Process-wide resources: an executor opens the buckets, loads the models
// and reads an index version once, then every task reuses them.
var (
	resMu     sync.Mutex
	buckets   = map[layout.Config]*layout.Buckets{}
	pipelines = map[FaceConfig]*face.Pipeline{}
)

func openBuckets(ctx context.Context, c layout.Config) (*layout.Buckets, error) {
	resMu.Lock()
	defer resMu.Unlock()
	if b := buckets[c]; b != nil {
		return b, nil
	}
	b, err := layout.Open(ctx, c)
	if err != nil {
		return nil, engine.Fatal(err)
	}
	buckets[c] = b
	return b, nil
}

func openPipeline(c FaceConfig) (*face.Pipeline, error) {
	resMu.Lock()
	defer resMu.Unlock()
	if p := pipelines[c]; p != nil {
		return p, nil
	}
	p, err := face.NewPipeline(face.Config{
		ModelsDir: c.ModelsDir, Detector: c.Detector, Embedder: c.Embedder,
		Threads: c.Threads, Provider: c.Provider, FPS: c.FPS,
	})
	if err != nil {
		return nil, engine.Fatal(fmt.Errorf("face pipeline: %w", err))
	}
	pipelines[c] = p
	return p, nil
}

// metricOf maps an embedder's distance to the index metric.
func metricOf(p *face.Pipeline) ann.Metric {
	if p.Embedder().Distance == "cosine" {
		return ann.Cosine
	}
	return ann.Euclidean
}

// rule is the classification rule of a run.
func (c Config) rule(p *face.Pipeline) ann.ClassifyRule {
	max := c.MaxDistance
	if max == 0 {
		max = p.Threshold()
	}
	return ann.ClassifyRule{MaxDistance: max, Margin: c.Margin, K: 10, MinVotes: 1}
}
