// Package deps locates the native dependencies that `make deps` installs
// (ONNX Runtime, models, labelled photos, tools) for the binary and its
// packages.
package deps

import (
	"os"
	"path/filepath"
)

// Dir is $CZ_DEPS, else .deps in the working folder, else .deps beside the
// folder of the executable (bin/cz in a checkout).
func Dir() string {
	if d := os.Getenv("CZ_DEPS"); d != "" {
		return d
	}
	if _, err := os.Stat(".deps"); err == nil {
		return ".deps"
	}
	if exe, err := os.Executable(); err == nil {
		d := filepath.Join(filepath.Dir(filepath.Dir(exe)), ".deps")
		if _, err := os.Stat(d); err == nil {
			return d
		}
	}
	return ".deps"
}

// Path is a path inside Dir.
func Path(rel string) string { return filepath.Join(Dir(), rel) }
