package ann

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/celebrity-zones/cz/store"
)

// On-store layout of a published index:
//
//	{prefix}/v{N}/manifest.json   format, model, dimension, count, files and checksums
//	{prefix}/v{N}/items.bin       ids, labels, vectors (normalised for Cosine)
//	{prefix}/v{N}/model.bin       partitions, codebooks, codes (partitioned only)
//	{prefix}/latest               "v{N}", moved by compare-and-swap
const FormatVersion = 1

const (
	itemsMagic = "CZANNIT1"
	modelMagic = "CZANNIV1"
)

// Manifest describes one published version.
type Manifest struct {
	Format  int        `json:"format"`
	Model   string     `json:"model"`
	Dim     int        `json:"dim"`
	Metric  string     `json:"metric"`
	Count   int        `json:"count"`
	Kind    string     `json:"kind"` // "exact" or "partitioned"
	Files   []FileInfo `json:"files"`
	Created time.Time  `json:"created"`
	Config  Config     `json:"config"`
}

// FileInfo is one data file of a version.
type FileInfo struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// ErrSuperseded is returned by Publish when a newer version became latest
// while this one was being written; the version is stored but not latest.
var ErrSuperseded = errors.New("a newer version was published concurrently")

// Publish writes x as the next version under prefix (for example
// "scann/dlib-resnet128") and then moves prefix/latest to it atomically.
// The model name is the index's WithModel, or the last element of prefix.
func Publish(ctx context.Context, b store.Bucket, prefix string, x *Index) (string, error) {
	prefix = strings.TrimSuffix(prefix, "/")
	x.Build()
	files, m := x.encode()
	if m.Model == "" {
		m.Model = path.Base(prefix)
	}
	for _, f := range files {
		sum := sha256.Sum256(f.data)
		m.Files = append(m.Files, FileInfo{Name: f.name, Size: int64(len(f.data)), SHA256: hex.EncodeToString(sum[:])})
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return "", err
	}
	// Claim the next free version by creating its manifest.
	n, err := latestNumber(ctx, b, prefix)
	if err != nil {
		return "", err
	}
	var version string
	for try := 0; ; try++ {
		n++
		version = "v" + strconv.Itoa(n)
		err := b.PutIfAbsent(ctx, prefix+"/"+version+"/manifest.json", bytes.NewReader(mb))
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrExists) || try > 100 {
			return "", fmt.Errorf("ann: publish %s: %w", store.Join(b.URL(), prefix+"/"+version), err)
		}
	}
	for _, f := range files {
		if err := store.PutBytes(ctx, b, prefix+"/"+version+"/"+f.name, f.data); err != nil {
			return "", fmt.Errorf("ann: publish %s: %w", version, err)
		}
	}
	return version, moveLatest(ctx, b, prefix, n)
}

// latestNumber finds the highest v{N} under prefix (0 if none).
func latestNumber(ctx context.Context, b store.Bucket, prefix string) (int, error) {
	res, err := b.List(ctx, prefix+"/", "/")
	if err != nil {
		return 0, fmt.Errorf("ann: list %s: %w", store.Join(b.URL(), prefix+"/"), err)
	}
	best := 0
	for _, p := range res.Prefixes {
		name := path.Base(strings.TrimSuffix(p, "/"))
		if n, ok := versionNumber(name); ok {
			best = max(best, n)
		}
	}
	return best, nil
}

func versionNumber(v string) (int, bool) {
	if !strings.HasPrefix(v, "v") {
		return 0, false
	}
	n, err := strconv.Atoi(v[1:])
	return n, err == nil && n > 0
}

// moveLatest points prefix/latest at v{n} unless it already points later.
func moveLatest(ctx context.Context, b store.Bucket, prefix string, n int) error {
	key := prefix + "/latest"
	body := []byte("v" + strconv.Itoa(n) + "\n")
	for try := 0; try < 100; try++ {
		obj, err := b.Stat(ctx, key)
		if errors.Is(err, store.ErrNotExist) {
			err = b.PutIfAbsent(ctx, key, bytes.NewReader(body))
			if err == nil || !errors.Is(err, store.ErrExists) {
				return wrapLatest(b, key, err)
			}
			continue
		}
		if err != nil {
			return wrapLatest(b, key, err)
		}
		cur, err := store.ReadAll(ctx, b, key)
		if err != nil {
			return wrapLatest(b, key, err)
		}
		if c, ok := versionNumber(strings.TrimSpace(string(cur))); ok && c >= n {
			return fmt.Errorf("ann: %s points at v%d, not v%d: %w", store.Join(b.URL(), key), c, n, ErrSuperseded)
		}
		err = b.PutIfMatch(ctx, key, obj.ETag, bytes.NewReader(body))
		if err == nil || !errors.Is(err, store.ErrPrecondition) {
			return wrapLatest(b, key, err)
		}
	}
	return fmt.Errorf("ann: %s: too much contention", store.Join(b.URL(), key))
}

func wrapLatest(b store.Bucket, key string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("ann: move %s: %w", store.Join(b.URL(), key), err)
}

// LoadOption adds a check to Load.
type LoadOption func(*loadOpts)

type loadOpts struct {
	model string
	dim   int
}

// ExpectModel fails the load unless the manifest names this model.
func ExpectModel(name string) LoadOption { return func(o *loadOpts) { o.model = name } }

// ExpectDim fails the load unless the index has this dimension.
func ExpectDim(d int) LoadOption { return func(o *loadOpts) { o.dim = d } }

// LoadLatest loads the version prefix/latest points at.
func LoadLatest(ctx context.Context, b store.Bucket, prefix string, opts ...LoadOption) (*Index, string, error) {
	prefix = strings.TrimSuffix(prefix, "/")
	key := prefix + "/latest"
	data, err := store.ReadAll(ctx, b, key)
	if err != nil {
		return nil, "", fmt.Errorf("ann: read %s: %w", store.Join(b.URL(), key), err)
	}
	v := strings.TrimSpace(string(data))
	if _, ok := versionNumber(v); !ok {
		return nil, "", fmt.Errorf("ann: %s holds %q, not a version like v3", store.Join(b.URL(), key), v)
	}
	x, err := Load(ctx, b, prefix, v, opts...)
	return x, v, err
}

// Load reads one version, verifying the manifest, sizes and checksums.
func Load(ctx context.Context, b store.Bucket, prefix, version string, opts ...LoadOption) (*Index, error) {
	var o loadOpts
	for _, f := range opts {
		f(&o)
	}
	dir := strings.TrimSuffix(prefix, "/") + "/" + version
	mkey := dir + "/manifest.json"
	where := store.Join(b.URL(), mkey)
	raw, err := store.ReadAll(ctx, b, mkey)
	if err != nil {
		return nil, fmt.Errorf("ann: read %s: %w", where, err)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("ann: %s: bad manifest: %w", where, err)
	}
	if m.Format != FormatVersion {
		return nil, fmt.Errorf("ann: %s: field format is %d, this build reads %d", where, m.Format, FormatVersion)
	}
	metric, err := ParseMetric(m.Metric)
	if err != nil {
		return nil, fmt.Errorf("ann: %s: field metric: %w", where, err)
	}
	if m.Dim <= 0 || m.Count < 0 {
		return nil, fmt.Errorf("ann: %s: fields dim %d / count %d out of range", where, m.Dim, m.Count)
	}
	if o.model != "" && m.Model != o.model {
		return nil, fmt.Errorf("ann: %s: field model is %q, expected %q", where, m.Model, o.model)
	}
	if o.dim != 0 && m.Dim != o.dim {
		return nil, fmt.Errorf("ann: %s: field dim is %d, expected %d", where, m.Dim, o.dim)
	}
	data := map[string][]byte{}
	for _, f := range m.Files {
		key := dir + "/" + f.Name
		body, err := store.ReadAll(ctx, b, key)
		if err != nil {
			return nil, fmt.Errorf("ann: read %s: %w", store.Join(b.URL(), key), err)
		}
		if int64(len(body)) != f.Size {
			return nil, fmt.Errorf("ann: %s: %d bytes, manifest says %d (truncated?)", store.Join(b.URL(), key), len(body), f.Size)
		}
		sum := sha256.Sum256(body)
		if hex.EncodeToString(sum[:]) != f.SHA256 {
			return nil, fmt.Errorf("ann: %s: sha256 %x does not match the manifest (corrupt)", store.Join(b.URL(), key), sum)
		}
		data[f.Name] = body
	}
	items, ok := data["items.bin"]
	if !ok {
		return nil, fmt.Errorf("ann: %s: no items.bin in files", where)
	}
	cfg := m.Config
	x := New(m.Dim, metric, func(c *Config) { *c = cfg })
	x.cfg.Threads = runtime.GOMAXPROCS(0) // the writer's machine is not ours
	x.cfg.Model = m.Model
	if err := x.decode(items, data["model.bin"], m.Kind == "partitioned"); err != nil {
		return nil, fmt.Errorf("ann: %s: %w", store.Join(b.URL(), dir), err)
	}
	if x.live != m.Count {
		return nil, fmt.Errorf("ann: %s: files hold %d items, field count says %d", where, x.live, m.Count)
	}
	return x, nil
}

type namedFile struct {
	name string
	data []byte
}

// encode serialises the live items (in partition order for a partitioned
// index, so decoding rebuilds identical lists) and the trained model.
func (x *Index) encode() ([]namedFile, Manifest) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	m := Manifest{Format: FormatVersion, Model: x.cfg.Model, Dim: x.dim, Metric: x.metric.String(),
		Count: x.live, Kind: "exact", Created: time.Now().UTC(), Config: x.cfg}
	var order []int32
	var parts []uint32
	var codes [][]uint8
	if x.ivf == nil {
		for s := range int32(len(x.ids)) {
			if !x.deleted[s] {
				order = append(order, s)
			}
		}
	} else {
		m.Kind = "partitioned"
		for p := range x.ivf.lists {
			for j, s := range x.ivf.lists[p].slots {
				if x.deleted[s] {
					continue
				}
				c := make([]uint8, x.ivf.m)
				x.ivf.codeAt(p, j, c)
				order = append(order, s)
				parts = append(parts, uint32(p))
				codes = append(codes, c)
			}
		}
	}
	var w bytes.Buffer
	w.WriteString(itemsMagic)
	put32(&w, uint32(x.dim))
	put32(&w, uint32(len(order)))
	put32(&w, uint32(len(x.labelNames)))
	for _, l := range x.labelNames {
		put32(&w, uint32(len(l)))
		w.WriteString(l)
	}
	for _, s := range order {
		put64(&w, x.ids[s])
		put32(&w, x.labels[s])
	}
	for _, s := range order {
		for _, f := range x.vec(s) {
			put32(&w, math.Float32bits(f))
		}
	}
	files := []namedFile{{"items.bin", w.Bytes()}}
	if x.ivf != nil {
		v := x.ivf
		var mw bytes.Buffer
		mw.WriteString(modelMagic)
		for _, n := range []int{v.nlist, v.sub, v.m} {
			put32(&mw, uint32(n))
		}
		put32(&mw, math.Float32bits(v.eta))
		for _, f := range v.centroids {
			put32(&mw, math.Float32bits(f))
		}
		for _, f := range v.books {
			put32(&mw, math.Float32bits(f))
		}
		for i := range order {
			put32(&mw, parts[i])
			mw.Write(codes[i])
		}
		files = append(files, namedFile{"model.bin", mw.Bytes()})
	}
	return files, m
}

func (x *Index) decode(items, model []byte, partitioned bool) error {
	r := &reader{b: items, file: "items.bin"}
	if string(r.next(len(itemsMagic))) != itemsMagic {
		return r.fail("magic", "not an items file")
	}
	if d := int(r.u32()); r.err == nil && d != x.dim {
		return r.fail("dim", fmt.Sprintf("%d, manifest says %d", d, x.dim))
	}
	n := int(r.u32())
	nl := int(r.u32())
	if r.err == nil && (nl > len(items) || n > len(items)) {
		return r.fail("counts", "larger than the file")
	}
	for range nl {
		l := int(r.u32())
		x.intern(string(r.next(l)))
	}
	ids := make([]uint64, n)
	labs := make([]uint32, n)
	for i := range n {
		ids[i] = r.u64()
		labs[i] = r.u32()
		if r.err == nil && int(labs[i]) >= nl {
			return r.fail("label", fmt.Sprintf("item %d has label %d of %d", i, labs[i], nl))
		}
	}
	vec := make([]float32, x.dim)
	vecs := make([][]float32, n)
	for i := range n {
		for j := range vec {
			vec[j] = math.Float32frombits(r.u32())
		}
		vecs[i] = append([]float32(nil), vec...)
	}
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return r.fail("end", fmt.Sprintf("%d unexpected trailing bytes", len(r.b)))
	}
	if !partitioned {
		for i := range n {
			x.addSlot(ids[i], x.labelNames[labs[i]], vecs[i], false)
		}
		return nil
	}
	if model == nil {
		return fmt.Errorf("manifest kind is partitioned but model.bin is missing")
	}
	mr := &reader{b: model, file: "model.bin"}
	if string(mr.next(len(modelMagic))) != modelMagic {
		return mr.fail("magic", "not a model file")
	}
	nlist, sub, m := int(mr.u32()), int(mr.u32()), int(mr.u32())
	eta := math.Float32frombits(mr.u32())
	if mr.err == nil && (nlist < 1 || sub < 1 || m != (x.dim+sub-1)/sub || nlist*x.dim > len(model)) {
		return mr.fail("header", fmt.Sprintf("nlist %d, sub %d, m %d do not fit dim %d", nlist, sub, m, x.dim))
	}
	if mr.err != nil {
		return mr.err
	}
	v := newIVF(x.dim, nlist, sub, eta)
	for i := range v.centroids {
		v.centroids[i] = math.Float32frombits(mr.u32())
	}
	for i := range v.books {
		v.books[i] = math.Float32frombits(mr.u32())
	}
	v.updateNorms()
	x.ivf = v
	for i := range n {
		p := int(mr.u32())
		code := mr.next(m)
		if mr.err != nil {
			return mr.err
		}
		if p >= nlist {
			return mr.fail("partition", fmt.Sprintf("item %d in partition %d of %d", i, p, nlist))
		}
		x.addCoded(ids[i], x.labelNames[labs[i]], vecs[i], p, code)
	}
	if len(mr.b) != 0 {
		return mr.fail("end", fmt.Sprintf("%d unexpected trailing bytes", len(mr.b)))
	}
	x.trained = x.live
	return nil
}

type reader struct {
	b    []byte
	off  int
	file string
	err  error
}

func (r *reader) next(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = fmt.Errorf("%s: truncated at byte %d (wanted %d more, %d left)", r.file, r.off, n, len(r.b))
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	r.off += n
	return out
}

func (r *reader) u32() uint32 {
	if b := r.next(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if b := r.next(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (r *reader) fail(field, msg string) error {
	if r.err != nil {
		return r.err
	}
	r.err = fmt.Errorf("%s: field %s at byte %d: %s", r.file, field, r.off, msg)
	return r.err
}

func put32(w io.Writer, v uint32) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	w.Write(b[:])
}

func put64(w io.Writer, v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	w.Write(b[:])
}
