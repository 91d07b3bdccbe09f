package store

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// tmpDir holds in-flight writes inside a Dir bucket; listings skip it.
const tmpDir = ".cz-tmp"

// Dir is a Bucket over a local directory, for the embedded default and
// tests. Writes go to a temporary file that is renamed into place, so a
// reader never sees a partial object; conditional writes hold an flock so
// that several processes sharing the directory agree.
type Dir struct {
	root string
}

// OpenDir opens (creating it if needed) a directory as a Bucket.
func OpenDir(path string) (*Dir, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(abs, tmpDir), 0o755); err != nil {
		return nil, fmt.Errorf("open store directory %s: %w", abs, err)
	}
	return &Dir{root: abs}, nil
}

func (d *Dir) URL() string { return "file://" + filepath.ToSlash(d.root) }

// Root is the directory the bucket is rooted at.
func (d *Dir) Root() string { return d.root }

func (d *Dir) path(key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", err
	}
	return filepath.Join(d.root, filepath.FromSlash(key)), nil
}

// CheckKey rejects keys that cannot be stored the same way everywhere.
func CheckKey(key string) error {
	switch {
	case key == "":
		return errors.New("empty object key")
	case strings.HasPrefix(key, "/"), strings.HasSuffix(key, "/"):
		return fmt.Errorf("object key %q: must not start or end with '/'", key)
	case strings.HasPrefix(key, tmpDir+"/") || key == tmpDir:
		return fmt.Errorf("object key %q: %s is reserved", key, tmpDir)
	}
	for _, part := range strings.Split(key, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("object key %q: empty, '.' or '..' path segment", key)
		}
	}
	return nil
}

func (d *Dir) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	return d.GetRange(ctx, key, 0, -1)
}

func (d *Dir) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, d.notExist(key, err)
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%s: %w", d.url(key), ErrNotExist)
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
	}
	if length < 0 {
		return f, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(f, length), f}, nil
}

func (d *Dir) Stat(ctx context.Context, key string) (Object, error) {
	p, err := d.path(key)
	if err != nil {
		return Object{}, err
	}
	st, err := os.Stat(p)
	if err != nil || st.IsDir() {
		if err == nil {
			err = fs.ErrNotExist
		}
		return Object{}, d.notExist(key, err)
	}
	return Object{Key: key, Size: st.Size(), ETag: etagOf(p), ModTime: st.ModTime()}, nil
}

// etagXattr holds the MD5 of a file's content, computed while it was
// written, so that ETags cost nothing to read.
const etagXattr = "user.cz.etag"

// etagOf returns the MD5 of a file's content, as S3 does for objects
// written in one part: from the extended attribute if the file system kept
// it, else by reading the file.
func etagOf(p string) string {
	buf := make([]byte, 64)
	if n, err := syscall.Getxattr(p, etagXattr, buf); err == nil && n == 32 {
		return string(buf[:n])
	}
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := md5.New()
	io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil))
}

// stage writes body to a temporary file and returns its path.
func (d *Dir) stage(body io.Reader) (string, error) {
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(d.root, tmpDir, hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", err
	}
	h := md5.New()
	if _, err := io.Copy(io.MultiWriter(f, h), body); err != nil {
		f.Close()
		os.Remove(tmp)
		return "", err
	}
	// Best effort: without the attribute etagOf reads the file instead.
	syscall.Setxattr(tmp, etagXattr, []byte(hex.EncodeToString(h.Sum(nil))), 0)
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return "", err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

func (d *Dir) Put(ctx context.Context, key string, body io.Reader) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	tmp, err := d.stage(body)
	if err != nil {
		return fmt.Errorf("put %s: %w", d.url(key), err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("put %s: %w", d.url(key), err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("put %s: %w", d.url(key), err)
	}
	return nil
}

func (d *Dir) PutIfAbsent(ctx context.Context, key string, body io.Reader) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	tmp, err := d.stage(body)
	if err != nil {
		return fmt.Errorf("put %s: %w", d.url(key), err)
	}
	defer os.Remove(tmp)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("put %s: %w", d.url(key), err)
	}
	// link(2) fails if the target exists: an atomic create-if-absent.
	if err := os.Link(tmp, p); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s: %w", d.url(key), ErrExists)
		}
		return fmt.Errorf("put %s: %w", d.url(key), err)
	}
	return nil
}

func (d *Dir) PutIfMatch(ctx context.Context, key, etag string, body io.Reader) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	tmp, err := d.stage(body)
	if err != nil {
		return fmt.Errorf("put %s: %w", d.url(key), err)
	}
	defer os.Remove(tmp)
	unlock, err := d.lock()
	if err != nil {
		return err
	}
	defer unlock()
	st, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: %w", d.url(key), ErrPrecondition)
		}
		return err
	}
	if st.IsDir() || etagOf(p) != etag {
		return fmt.Errorf("%s: %w", d.url(key), ErrPrecondition)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("put %s: %w", d.url(key), err)
	}
	return nil
}

// lock takes the bucket-wide lock that serialises compare-and-swap writes,
// across processes too.
func (d *Dir) lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(d.root, tmpDir, "lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

func (d *Dir) Delete(ctx context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", d.url(key), err)
	}
	// Drop folders the delete left empty, as S3 has no folders to leave.
	for dir := filepath.Dir(p); dir != d.root && strings.HasPrefix(dir, d.root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break
		}
	}
	return nil
}

func (d *Dir) List(ctx context.Context, prefix, delimiter string) (ListResult, error) {
	if delimiter != "" && delimiter != "/" {
		return ListResult{}, fmt.Errorf("list %s: only the delimiter \"/\" is supported", d.URL())
	}
	// Walk only the deepest folder the prefix names.
	start := d.root
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = filepath.Join(d.root, filepath.FromSlash(prefix[:i]))
	}
	var res ListResult
	seen := map[string]bool{}
	err := filepath.WalkDir(start, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(d.root, p)
		key := filepath.ToSlash(rel)
		if e.IsDir() {
			if key == tmpDir {
				return fs.SkipDir
			}
			// Skip folders that cannot hold keys with the prefix.
			if key != "." && !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
				return fs.SkipDir
			}
			return nil
		}
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		if delimiter != "" {
			if i := strings.Index(key[len(prefix):], delimiter); i >= 0 {
				cp := key[:len(prefix)+i+1]
				if !seen[cp] {
					seen[cp] = true
					res.Prefixes = append(res.Prefixes, cp)
				}
				return nil
			}
		}
		info, err := e.Info()
		if err != nil {
			return nil // removed while listing
		}
		res.Objects = append(res.Objects, Object{Key: key, Size: info.Size(), ETag: etagOf(p), ModTime: info.ModTime()})
		return nil
	})
	if err != nil {
		return ListResult{}, fmt.Errorf("list %s: %w", d.url(prefix), err)
	}
	sort.Slice(res.Objects, func(i, j int) bool { return res.Objects[i].Key < res.Objects[j].Key })
	sort.Strings(res.Prefixes)
	return res, nil
}

// ListUploads is always empty: a Dir has no multipart uploads.
func (d *Dir) ListUploads(ctx context.Context, prefix string) ([]Upload, error) { return nil, nil }

func (d *Dir) AbortUpload(ctx context.Context, u Upload) error { return nil }

func (d *Dir) url(key string) string { return Join(d.URL(), key) }

func (d *Dir) notExist(key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("%s: %w", d.url(key), ErrNotExist)
	}
	return err
}
