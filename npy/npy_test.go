package npy

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	v := []float32{0.25, -1.5, 3e-7, 42}
	got, err := DecodeVector(Encode(v))
	if err != nil || !reflect.DeepEqual(got, v) {
		t.Fatalf("round trip = %v, %v; want %v", got, err, v)
	}
	if (len(Encode(v))-4*len(v))%64 != 0 {
		t.Errorf("data does not start on a 64-byte boundary")
	}
	m, _ := EncodeMatrix([][]float32{{1, 2}, {3, 4}, {5, 6}})
	shape, vals, err := Decode(m)
	if err != nil || !reflect.DeepEqual(shape, []int{3, 2}) || !reflect.DeepEqual(vals, []float32{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("matrix = %v %v %v", shape, vals, err)
	}
}

func TestRejectsBadFiles(t *testing.T) {
	good := Encode([]float32{1, 2, 3})
	for name, data := range map[string][]byte{
		"empty":     nil,
		"not npy":   []byte("hello, world, this is text"),
		"truncated": good[:len(good)-2],
		"float64":   []byte(string(good[:10]) + "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }"),
	} {
		if _, _, err := Decode(data); err == nil {
			t.Errorf("%s: Decode succeeded, want an error", name)
		}
	}
}

// TestNumPyReadsIt checks the files against NumPy itself, when Debian's
// python3-numpy is installed (make deps installs it).
func TestNumPyReadsIt(t *testing.T) {
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Fatal("python3 is missing: run make deps")
	}
	p := filepath.Join(t.TempDir(), "e.npy")
	os.WriteFile(p, Encode([]float32{0.5, -2, 7}), 0o644)
	out, err := exec.Command(py, "-c", "import numpy,sys; a=numpy.load(sys.argv[1]); print(a.dtype, a.shape, a.tolist())", p).CombinedOutput()
	if err != nil {
		t.Fatalf("numpy could not load the file: %v\n%s", err, out)
	}
	if string(out) != "float32 (3,) [0.5, -2.0, 7.0]\n" {
		t.Fatalf("numpy read %q", out)
	}
}
