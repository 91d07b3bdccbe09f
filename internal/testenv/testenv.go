// Package testenv finds the native dependencies that `make deps` installs
// (ONNX Runtime, models, labelled photos, versitygw) for tests. Tests that
// need one fail with a clear message when it is missing: `make test`
// installs everything first, so a missing piece is a real failure.
package testenv

import (
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Code under test finds the dependencies through CZ_DEPS, as `make`
// exports it; a plain `go test` in any folder gets the same.
func init() {
	if os.Getenv("CZ_DEPS") == "" {
		os.Setenv("CZ_DEPS", DepsDir())
	}
}

// RepoRoot is the repository's top folder.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// DepsDir is where `make deps` installs things ($CZ_DEPS or .deps).
func DepsDir() string {
	if d := os.Getenv("CZ_DEPS"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(), ".deps")
}

// Logger is a quiet logger for tests: warnings and errors only, unless
// CZ_TEST_LOG is set.
func Logger() *slog.Logger {
	lvl := slog.LevelWarn
	if os.Getenv("CZ_TEST_LOG") != "" {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

// Path returns a path inside the deps folder, failing the test if it is
// missing.
func Path(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(DepsDir(), rel)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is missing: run `make deps` first (%v)", p, err)
	}
	return p
}
