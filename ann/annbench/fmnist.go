package annbench

import (
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
)

// FashionMNISTDir is where Debian's dataset-fashion-mnist installs.
const FashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// FashionMNIST reads Fashion-MNIST's training images (base) and test
// images (queries) from dir as L2-normalised 784-d vectors.
func FashionMNIST(dir string) (base, queries [][]float32, err error) {
	base, err = readIDXImages(filepath.Join(dir, "train-images-idx3-ubyte.gz"))
	if err != nil {
		return nil, nil, err
	}
	queries, err = readIDXImages(filepath.Join(dir, "t10k-images-idx3-ubyte.gz"))
	return base, queries, err
}

func readIDXImages(file string) ([][]float32, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("%w (install Debian's dataset-fashion-mnist: make bench-ann-deps)", err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var hdr [4]uint32
	if err := binary.Read(z, binary.BigEndian, &hdr); err != nil {
		return nil, fmt.Errorf("%s: header: %w", file, err)
	}
	if hdr[0] != 2051 {
		return nil, fmt.Errorf("%s: magic %d, want 2051 (idx3 images)", file, hdr[0])
	}
	n, d := int(hdr[1]), int(hdr[2]*hdr[3])
	buf := make([]byte, n*d)
	if _, err := io.ReadFull(z, buf); err != nil {
		return nil, fmt.Errorf("%s: %d images of %d bytes: %w", file, n, d, err)
	}
	out := make([][]float32, n)
	for i := range out {
		v := make([]float32, d)
		var s float64
		for j, b := range buf[i*d : (i+1)*d] {
			v[j] = float32(b)
			s += float64(b) * float64(b)
		}
		if s > 0 {
			inv := float32(1 / math.Sqrt(s))
			for j := range v {
				v[j] *= inv
			}
		}
		out[i] = v
	}
	return out, nil
}
