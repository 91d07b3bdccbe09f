package face

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/celebrity-zones/cz/internal/deps"
)

// The ONNX Runtime environment is process-wide: it is initialised once, on
// the first NewPipeline, with that pipeline's library path.
var (
	ortMu      sync.Mutex
	ortLibrary string
	sessions   = map[sessionKey]*session{}
)

// DefaultLibraryPath is libonnxruntime.so as `make deps` installs it, unless
// CZ_ORT_LIB names another.
func DefaultLibraryPath() string {
	if p := os.Getenv("CZ_ORT_LIB"); p != "" {
		return p
	}
	return deps.Path("lib/libonnxruntime.so")
}

func initORT(lib string) error {
	if abs, err := filepath.Abs(lib); err == nil {
		lib = abs
	}
	if real, err := filepath.EvalSymlinks(lib); err == nil {
		lib = real
	}
	if ortLibrary != "" {
		if ortLibrary != lib {
			return fmt.Errorf("onnxruntime: already loaded from %s, cannot also load %s", ortLibrary, lib)
		}
		return nil
	}
	if _, err := os.Stat(lib); err != nil {
		return fmt.Errorf("onnxruntime library: %w (run `make deps` or set CZ_ORT_LIB)", err)
	}
	ort.SetSharedLibraryPath(lib)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return fmt.Errorf("onnxruntime %s: %w", lib, err)
	}
	ortLibrary = lib
	return nil
}

type sessionKey struct {
	model    string
	threads  int
	provider string
	device   int
}

// session is one ONNX Runtime session shared by every pipeline of the
// process that uses the same model and options. ORT sessions may be run
// from several goroutines at once.
type session struct {
	key     sessionKey
	refs    int
	s       *ort.DynamicAdvancedSession
	inName  string
	outputs []string
}

func openSession(key sessionKey, input string, outputs []string) (*session, error) {
	ortMu.Lock()
	defer ortMu.Unlock()
	if s := sessions[key]; s != nil {
		s.refs++
		return s, nil
	}
	if _, err := os.Stat(key.model); err != nil {
		return nil, fmt.Errorf("face model: %w (run `make models`)", err)
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	if key.threads > 0 {
		if err := opts.SetIntraOpNumThreads(key.threads); err != nil {
			return nil, err
		}
		if err := opts.SetInterOpNumThreads(1); err != nil {
			return nil, err
		}
	}
	// Idle ORT threads sleep instead of spinning: ffmpeg and the Go stages
	// need the cores between runs.
	if os.Getenv("CZ_ORT_SPIN") == "" {
		if err := opts.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"); err != nil {
			return nil, err
		}
	}
	switch key.provider {
	case "", "cpu":
	case "cuda":
		cuda, err := ort.NewCUDAProviderOptions()
		if err != nil {
			return nil, fmt.Errorf("onnxruntime CUDA provider: %w (needs a CUDA build of libonnxruntime)", err)
		}
		defer cuda.Destroy()
		if err := cuda.Update(map[string]string{"device_id": fmt.Sprint(key.device)}); err != nil {
			return nil, fmt.Errorf("onnxruntime CUDA provider: %w", err)
		}
		if err := opts.AppendExecutionProviderCUDA(cuda); err != nil {
			return nil, fmt.Errorf("onnxruntime CUDA provider: %w (needs a CUDA build of libonnxruntime)", err)
		}
	default:
		return nil, fmt.Errorf("face: unknown provider %q (want cpu or cuda)", key.provider)
	}
	s, err := ort.NewDynamicAdvancedSession(key.model, []string{input}, outputs, opts)
	if err != nil {
		return nil, fmt.Errorf("onnxruntime: load %s: %w", key.model, err)
	}
	ses := &session{key: key, refs: 1, s: s, inName: input, outputs: outputs}
	sessions[key] = ses
	return ses, nil
}

func (s *session) release() error {
	ortMu.Lock()
	defer ortMu.Unlock()
	s.refs--
	if s.refs > 0 {
		return nil
	}
	delete(sessions, s.key)
	return s.s.Destroy()
}

// busyClock measures the wall time during which at least one ONNX Runtime
// call is in flight (concurrent calls are not double-counted).
type busyClock struct {
	mu     sync.Mutex
	active int
	since  time.Time
	total  time.Duration
	calls  atomic.Int64
}

func (c *busyClock) enter() {
	c.calls.Add(1)
	c.mu.Lock()
	if c.active == 0 {
		c.since = time.Now()
	}
	c.active++
	c.mu.Unlock()
}

func (c *busyClock) leave() {
	c.mu.Lock()
	c.active--
	if c.active == 0 {
		c.total += time.Since(c.since)
	}
	c.mu.Unlock()
}

func (c *busyClock) busy() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.total
	if c.active > 0 {
		t += time.Since(c.since)
	}
	return t
}

// run feeds one batch (shape [n, ...]) and returns the outputs' data and
// shapes. The input slice is not kept.
func (s *session) run(clock *busyClock, shape []int64, data []float32) ([][]float32, [][]int64, error) {
	in, err := ort.NewTensor(ort.NewShape(shape...), data)
	if err != nil {
		return nil, nil, err
	}
	defer in.Destroy()
	outs := make([]ort.Value, len(s.outputs))
	clock.enter()
	err = s.s.Run([]ort.Value{in}, outs)
	clock.leave()
	defer func() {
		for _, o := range outs {
			if o != nil {
				o.Destroy()
			}
		}
	}()
	if err != nil {
		return nil, nil, fmt.Errorf("onnxruntime: %s: %w", filepath.Base(s.key.model), err)
	}
	res := make([][]float32, len(outs))
	shapes := make([][]int64, len(outs))
	for i, o := range outs {
		t, ok := o.(*ort.Tensor[float32])
		if !ok {
			return nil, nil, fmt.Errorf("onnxruntime: %s: output %s is not a float32 tensor", filepath.Base(s.key.model), s.outputs[i])
		}
		res[i] = append([]float32(nil), t.GetData()...)
		shapes[i] = t.GetShape()
	}
	return res, shapes, nil
}
