package contracts

import (
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // ground-truth formats
	_ "image/png"
	"io"
	"slices"
	"sort"
	"strings"

	_ "golang.org/x/image/webp"
)

// GroundTruthFile is one object under a batch's ground-truth folder,
// ground-truth-images/{yyyy-mm-dd@batch}/.
type GroundTruthFile struct {
	// Key is the object's full key, used in problems.
	Key string
	// Rel is the key relative to the batch folder: {zone-id}/{image}.
	Rel string
	// Size is the object's size in bytes.
	Size int64
	// Open reads the object.
	Open func() (io.ReadCloser, error)
}

// ImageLimits bounds the ground-truth images of one batch.
type ImageLimits struct {
	Formats          []string // formats as image.Decode names them
	MaxBytes         int64    // largest file
	MaxPixels        int      // largest width*height, checked before decoding
	MinWidth         int      // smallest width and height: smaller faces embed badly
	MinHeight        int
	MinImagesPerZone int
}

// DefaultImageLimits are the limits ValidateGroundTruth applies: JPEG,
// PNG or WebP, at most 20 MiB and 50 megapixels, at least 64x64 pixels,
// and at least one image per zone.
var DefaultImageLimits = ImageLimits{
	Formats:          []string{"jpeg", "png", "webp"},
	MaxBytes:         20 << 20,
	MaxPixels:        50_000_000,
	MinWidth:         64,
	MinHeight:        64,
	MinImagesPerZone: 1,
}

// ValidateGroundTruth checks a batch's ground-truth images against its zone
// list with DefaultImageLimits.
func ValidateGroundTruth(zones []Zone, files []GroundTruthFile) Problems {
	return DefaultImageLimits.ValidateGroundTruth(zones, files)
}

// ValidateGroundTruth checks that every file sits in a {zone-id}/ folder of
// a zone in the list, that every file is a decodable image within the
// limits, and that every zone has at least MinImagesPerZone good images.
// It decodes each image fully (a truncated JPEG passes DecodeConfig), but
// only after its size and pixel count passed, so an oversized image costs
// no memory.
func (l ImageLimits) ValidateGroundTruth(zones []Zone, files []GroundTruthFile) Problems {
	var all Problems
	known := map[string]bool{}
	for _, z := range zones {
		known[z.ID] = true
	}
	good := map[string]int{}
	strayDirs := map[string]bool{}
	prefix := "" // the batch folder, for naming zone folders in problems
	for _, f := range files {
		prefix = strings.TrimSuffix(f.Key, f.Rel)
		ps := &problemSet{file: f.Key}
		zone, name, nested := strings.Cut(f.Rel, "/")
		switch {
		case !nested:
			ps.add(0, "", "stray file at the top of the batch folder; expected images in {zone-id}/ folders")
		case !known[zone]:
			if !strayDirs[zone] {
				strayDirs[zone] = true
				all = append(all, Problem{File: strings.TrimSuffix(f.Key, name), Msg: fmt.Sprintf("folder %q is not a zone of the zone list; expected one folder per listed zone ID", clip(zone))})
			}
			continue
		case strings.Contains(name, "/"):
			ps.add(0, "", "nested folder; expected images directly in the zone's folder ({zone-id}/{image})")
		default:
			l.checkImage(ps, f)
			if ps.empty() {
				good[zone]++
			}
		}
		all = append(all, ps.problems()...)
	}
	for _, z := range zones {
		if n := good[z.ID]; n < l.MinImagesPerZone {
			all = append(all, Problem{File: prefix + z.ID + "/", Msg: fmt.Sprintf("zone %q has %d usable images; expected at least %d", z.Name, n, l.MinImagesPerZone)})
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].File < all[j].File })
	return all
}

func (l ImageLimits) checkImage(ps *problemSet, f GroundTruthFile) {
	switch {
	case f.Size == 0:
		ps.add(0, "", "empty file; expected an image")
		return
	case f.Size > l.MaxBytes:
		ps.add(0, "", "is %d bytes; expected at most %d", f.Size, l.MaxBytes)
		return
	}
	cfg, format, err := decodeWith(f.Open, image.DecodeConfig)
	var re readError
	if errors.As(err, &re) {
		ps.add(0, "", "cannot read: %v", re.err)
		return
	}
	if err != nil {
		ps.add(0, "", "not an image this system reads (%v); expected %s", err, strings.Join(l.Formats, ", "))
		return
	}
	if !slices.Contains(l.Formats, format) {
		ps.add(0, "", "is a %s image; expected %s", format, strings.Join(l.Formats, ", "))
		return
	}
	if cfg.Width < l.MinWidth || cfg.Height < l.MinHeight {
		ps.add(0, "", "is %dx%d pixels; expected at least %dx%d", cfg.Width, cfg.Height, l.MinWidth, l.MinHeight)
		return
	}
	if cfg.Width*cfg.Height > l.MaxPixels {
		ps.add(0, "", "is %dx%d pixels; expected at most %d pixels", cfg.Width, cfg.Height, l.MaxPixels)
		return
	}
	if _, _, err := decodeWith(f.Open, image.Decode); err != nil {
		ps.add(0, "", "%s image does not decode: %v", format, err)
	}
}

func decodeWith[T any](open func() (io.ReadCloser, error), decode func(io.Reader) (T, string, error)) (T, string, error) {
	var zero T
	rc, err := open()
	if err != nil {
		return zero, "", readError{err}
	}
	defer rc.Close()
	return decode(rc)
}

type readError struct{ err error }

func (e readError) Error() string { return e.err.Error() }
