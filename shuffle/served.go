package shuffle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrBlockNotFound is returned (wrapped) by a BlockServer that does not
// hold the requested map output.
var ErrBlockNotFound = errors.New("shuffle block not found")

// BlockServer serves the segments of the map outputs an executor holds.
// The executor's gRPC service implements the fetch RPC with one, streaming
// the ReadCloser's bytes; HTTPHandler serves one over HTTP.
type BlockServer interface {
	// OpenSegment streams reducer reduce's segment of map output block.
	OpenSegment(ctx context.Context, block string, reduce int) (io.ReadCloser, error)
}

// LocalBlocks keeps map outputs on an executor's local disk and serves
// them: it is the served placement's store.
type LocalBlocks struct {
	dir    string
	mu     sync.Mutex
	blocks map[string]*Index
}

// OpenLocalBlocks keeps blocks under dir (created if needed).
func OpenLocalBlocks(dir string) (*LocalBlocks, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("shuffle: local blocks: %w", err)
	}
	return &LocalBlocks{dir: dir, blocks: map[string]*Index{}}, nil
}

func (l *LocalBlocks) path(block string) string {
	return filepath.Join(l.dir, url.PathEscape(block))
}

// Write stores a map output under block: write fills it (it returns the
// index of what it wrote), and it is served once write succeeds.
func (l *LocalBlocks) Write(block string, write func(io.Writer) (*Index, error)) (*Index, error) {
	f, err := os.Create(l.path(block) + ".tmp")
	if err != nil {
		return nil, fmt.Errorf("shuffle: local block %s: %w", block, err)
	}
	idx, err := write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), l.path(block))
	}
	if err != nil {
		os.Remove(f.Name())
		return nil, fmt.Errorf("shuffle: local block %s: %w", block, err)
	}
	l.mu.Lock()
	l.blocks[block] = idx
	l.mu.Unlock()
	return idx, nil
}

// Drop deletes a map output (its job is over, or its attempt lost).
func (l *LocalBlocks) Drop(block string) {
	l.mu.Lock()
	delete(l.blocks, block)
	l.mu.Unlock()
	os.Remove(l.path(block))
}

// Blocks lists the map outputs held.
func (l *LocalBlocks) Blocks() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := make([]string, 0, len(l.blocks))
	for id := range l.blocks {
		ids = append(ids, id)
	}
	return ids
}

// OpenSegment implements BlockServer.
func (l *LocalBlocks) OpenSegment(ctx context.Context, block string, reduce int) (io.ReadCloser, error) {
	l.mu.Lock()
	idx := l.blocks[block]
	l.mu.Unlock()
	if idx == nil {
		return nil, fmt.Errorf("%s: %w", block, ErrBlockNotFound)
	}
	if reduce < 0 || reduce >= idx.Partitions() {
		return nil, fmt.Errorf("%s: reducer %d out of range [0, %d)", block, reduce, idx.Partitions())
	}
	f, err := os.Open(l.path(block))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", block, ErrBlockNotFound)
		}
		return nil, err
	}
	off, n := idx.Segment(reduce)
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return &fileSegment{LimitedReader: io.LimitedReader{R: f, N: n}, f: f}, nil
}

// fileSegment is a segment of a local file: HTTPHandler hands its
// LimitedReader to the connection, which sends it with sendfile(2).
type fileSegment struct {
	io.LimitedReader
	f *os.File
}

func (s *fileSegment) Close() error { return s.f.Close() }

// HTTPHandler serves a BlockServer at GET <prefix>/<block>?reduce=R, for
// loopback tests and benchmarks until the executors' gRPC service does.
func HTTPHandler(s BlockServer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet {
			http.Error(w, "GET only", http.StatusMethodNotAllowed)
			return
		}
		block, err := url.PathUnescape(strings.TrimPrefix(req.URL.EscapedPath(), "/"))
		reduce, rerr := strconv.Atoi(req.URL.Query().Get("reduce"))
		if err != nil || rerr != nil {
			http.Error(w, "want /<block>?reduce=<n>", http.StatusBadRequest)
			return
		}
		rc, err := s.OpenSegment(req.Context(), block, reduce)
		if err != nil {
			code := http.StatusInternalServerError
			if errors.Is(err, ErrBlockNotFound) {
				code = http.StatusNotFound
			}
			http.Error(w, err.Error(), code)
			return
		}
		defer rc.Close()
		w.Header().Set("Content-Type", "application/octet-stream")
		if fs, ok := rc.(*fileSegment); ok {
			w.Header().Set("Content-Length", strconv.FormatInt(fs.N, 10))
			io.Copy(w, &fs.LimitedReader)
			return
		}
		io.Copy(w, rc)
	})
}

// HTTPServer is a BlockServer reached over HTTP at base (http://host:port).
type HTTPServer struct {
	Base   string
	Client *http.Client
}

// OpenSegment implements BlockServer.
func (h HTTPServer) OpenSegment(ctx context.Context, block string, reduce int) (io.ReadCloser, error) {
	c := h.Client
	if c == nil {
		c = httpClient
	}
	u := strings.TrimSuffix(h.Base, "/") + "/" + url.PathEscape(block) + "?reduce=" + strconv.Itoa(reduce)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		err := fmt.Errorf("GET %s: %s: %s", u, resp.Status, strings.TrimSpace(string(msg)))
		if resp.StatusCode == http.StatusNotFound {
			err = fmt.Errorf("%w (%v)", ErrBlockNotFound, err)
		}
		return nil, err
	}
	return resp.Body, nil
}

// httpClient keeps enough idle connections for a reducer's parallel
// fetches to reuse them (net/http keeps 2 per host by default).
var httpClient = &http.Client{Transport: &http.Transport{
	Proxy:               nil,
	MaxIdleConns:        256,
	MaxIdleConnsPerHost: 64,
	IdleConnTimeout:     90 * time.Second,
}}

var (
	serversMu sync.RWMutex
	servers   = map[string]BlockServer{}
	dialers   = map[string]func(addr string) (BlockServer, error){
		"http": func(addr string) (BlockServer, error) { return HTTPServer{Base: addr}, nil },
	}
	localMu   sync.RWMutex
	local     *LocalBlocks
	localAddr string
	localSpot bool
)

// RegisterServer makes an in-process BlockServer reachable at addr (tests,
// the embedded engine). Unregister with a nil s.
func RegisterServer(addr string, s BlockServer) {
	serversMu.Lock()
	defer serversMu.Unlock()
	if s == nil {
		delete(servers, addr)
		return
	}
	servers[addr] = s
}

// RegisterDialer adds a way to reach servers whose address has the form
// scheme://...: the executor's gRPC client registers "grpc".
func RegisterDialer(scheme string, dial func(addr string) (BlockServer, error)) {
	serversMu.Lock()
	defer serversMu.Unlock()
	dialers[scheme] = dial
}

// Dial returns the BlockServer at addr: an in-process one registered under
// addr, or one reached through the dialer of addr's scheme.
func Dial(addr string) (BlockServer, error) {
	serversMu.RLock()
	defer serversMu.RUnlock()
	if s := servers[addr]; s != nil {
		return s, nil
	}
	scheme, _, ok := strings.Cut(addr, "://")
	if d := dialers[scheme]; ok && d != nil {
		return d(addr)
	}
	return nil, fmt.Errorf("no block server at %q: not registered in this process and no dialer for its scheme", addr)
}

// SetExecutorBlocks names this process's LocalBlocks and the address
// reducers reach them at; map tasks with placement Served keep their data
// there. spot says the executor may vanish at short notice: placement Auto
// then also copies the data to the store. An executor calls it at start;
// SetExecutorBlocks(nil, "", false) undoes it.
func SetExecutorBlocks(l *LocalBlocks, addr string, spot bool) {
	localMu.Lock()
	local, localAddr, localSpot = l, addr, spot
	localMu.Unlock()
}

func executorBlocks() (*LocalBlocks, string, bool) {
	localMu.RLock()
	defer localMu.RUnlock()
	return local, localAddr, localSpot
}

// DropJob deletes the map outputs of a job (its blocks are named after
// their attempts, "<job>/<stage>/p<n>/a<n>/<name>"): executors call it when
// a job ends.
func (l *LocalBlocks) DropJob(job string) int {
	var ids []string
	l.mu.Lock()
	for id := range l.blocks {
		if strings.HasPrefix(id, job+"/") {
			ids = append(ids, id)
		}
	}
	l.mu.Unlock()
	for _, id := range ids {
		l.Drop(id)
	}
	return len(ids)
}
