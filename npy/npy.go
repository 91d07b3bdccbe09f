// Package npy reads and writes embeddings as NumPy .npy files (format
// version 1.0, little-endian float32, one or two dimensions), the format
// the seed stores face embeddings in, so that data scientists can
// np.load them directly.
package npy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

var magic = []byte("\x93NUMPY")

// Encode writes a vector (shape (n,)) as .npy.
func Encode(v []float32) []byte { return encode([]int{len(v)}, v) }

// EncodeMatrix writes rows of equal length (shape (rows, dim)).
func EncodeMatrix(rows [][]float32) ([]byte, error) {
	if len(rows) == 0 {
		return encode([]int{0, 0}, nil), nil
	}
	dim := len(rows[0])
	flat := make([]float32, 0, len(rows)*dim)
	for i, r := range rows {
		if len(r) != dim {
			return nil, fmt.Errorf("npy: row %d has %d values, row 0 has %d", i, len(r), dim)
		}
		flat = append(flat, r...)
	}
	return encode([]int{len(rows), dim}, flat), nil
}

func encode(shape []int, v []float32) []byte {
	dims := make([]string, len(shape))
	for i, s := range shape {
		dims[i] = strconv.Itoa(s)
	}
	sh := strings.Join(dims, ", ")
	if len(shape) == 1 {
		sh += ","
	}
	header := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", sh)
	// Pad so that the data starts on a 64-byte boundary, ending in '\n'.
	total := len(magic) + 2 + 2 + len(header) + 1
	header += strings.Repeat(" ", (64-total%64)%64) + "\n"
	var buf bytes.Buffer
	buf.Grow(len(magic) + 4 + len(header) + 4*len(v))
	buf.Write(magic)
	buf.Write([]byte{1, 0})
	binary.Write(&buf, binary.LittleEndian, uint16(len(header)))
	buf.WriteString(header)
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	buf.Write(b)
	return buf.Bytes()
}

var (
	descrRE = regexp.MustCompile(`'descr':\s*'([^']*)'`)
	orderRE = regexp.MustCompile(`'fortran_order':\s*(True|False)`)
	shapeRE = regexp.MustCompile(`'shape':\s*\(([^)]*)\)`)
)

// Decode reads a float32 .npy file and returns its shape and values.
func Decode(data []byte) (shape []int, values []float32, err error) {
	if len(data) < 10 || !bytes.Equal(data[:6], magic) {
		return nil, nil, errors.New("npy: not a .npy file (bad magic)")
	}
	var hlen, off int
	switch data[6] {
	case 1:
		hlen, off = int(binary.LittleEndian.Uint16(data[8:10])), 10
	case 2, 3:
		if len(data) < 12 {
			return nil, nil, errors.New("npy: truncated header")
		}
		hlen, off = int(binary.LittleEndian.Uint32(data[8:12])), 12
	default:
		return nil, nil, fmt.Errorf("npy: unsupported format version %d", data[6])
	}
	if len(data) < off+hlen {
		return nil, nil, errors.New("npy: truncated header")
	}
	h := string(data[off : off+hlen])
	d := descrRE.FindStringSubmatch(h)
	if d == nil || (d[1] != "<f4" && d[1] != "=f4") {
		return nil, nil, fmt.Errorf("npy: dtype %v, expected little-endian float32 ('<f4')", d)
	}
	if o := orderRE.FindStringSubmatch(h); o == nil || o[1] != "False" {
		return nil, nil, errors.New("npy: fortran_order arrays are not supported")
	}
	s := shapeRE.FindStringSubmatch(h)
	if s == nil {
		return nil, nil, errors.New("npy: header has no shape")
	}
	n := 1
	for _, f := range strings.Split(s[1], ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		k, err := strconv.Atoi(f)
		if err != nil || k < 0 {
			return nil, nil, fmt.Errorf("npy: bad shape %q", s[1])
		}
		shape = append(shape, k)
		n *= k
	}
	body := data[off+hlen:]
	if len(body) != 4*n {
		return nil, nil, fmt.Errorf("npy: shape %v needs %d bytes of data, file has %d", shape, 4*n, len(body))
	}
	values = make([]float32, n)
	for i := range values {
		values[i] = math.Float32frombits(binary.LittleEndian.Uint32(body[4*i:]))
	}
	return shape, values, nil
}

// DecodeVector reads a one-dimensional float32 .npy file.
func DecodeVector(data []byte) ([]float32, error) {
	shape, v, err := Decode(data)
	if err != nil {
		return nil, err
	}
	if len(shape) != 1 {
		return nil, fmt.Errorf("npy: shape %v, expected a vector", shape)
	}
	return v, nil
}
