package sample

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image"
	"image/draw"
	_ "image/jpeg"
	"io"
	"os"
	"path/filepath"
	"sort"

	xdraw "golang.org/x/image/draw"
)

// Person is one identity of the photo source with its face photos.
type Person struct {
	Name   string
	Photos []image.Image
}

// Photos are the labelled photos a sample is made from, loaded from the
// examples of Debian's dlib source package (`make testdata`).
type Photos struct {
	// Known are the identities that become zones: dlib's "johns", five
	// people with 11 aligned 150x150 face chips each.
	Known []Person
	// Strangers are faces of people who are in no zone: the boxed faces of
	// dlib's PASCAL VOC examples and a portrait.
	Strangers []image.Image
	// Scenery is a photo with no human face.
	Scenery image.Image
}

// LoadPhotos reads the photos from a dlib source tree.
func LoadPhotos(dlibDir string) (*Photos, error) {
	p := &Photos{}
	johns := filepath.Join(dlibDir, "examples", "johns")
	dirs, err := os.ReadDir(johns)
	if err != nil {
		return nil, fmt.Errorf("labelled photos: %w (run make testdata)", err)
	}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(johns, d.Name(), "*.jpg"))
		sort.Strings(files)
		person := Person{Name: d.Name()}
		for _, f := range files {
			img, err := decodeFile(f)
			if err != nil {
				return nil, err
			}
			person.Photos = append(person.Photos, img)
		}
		if len(person.Photos) < 6 {
			return nil, fmt.Errorf("labelled photos: %s has %d photos, expected at least 6", person.Name, len(person.Photos))
		}
		p.Known = append(p.Known, person)
	}
	if len(p.Known) < 5 {
		return nil, fmt.Errorf("labelled photos: %s has %d people, expected 5", johns, len(p.Known))
	}
	faces := filepath.Join(dlibDir, "examples", "faces")
	for _, name := range []string{"training.xml", "testing.xml"} {
		crops, err := boxedFaces(faces, name)
		if err != nil {
			return nil, err
		}
		p.Strangers = append(p.Strangers, crops...)
	}
	if tom, err := decodeFile(filepath.Join(faces, "Tom_Cruise_avp_2014_4.jpg")); err == nil {
		p.Strangers = append(p.Strangers, tom)
	}
	if p.Scenery, err = decodeFile(filepath.Join(faces, "dogs.jpg")); err != nil {
		return nil, err
	}
	if len(p.Strangers) < 4 {
		return nil, fmt.Errorf("labelled photos: only %d stranger faces found in %s", len(p.Strangers), faces)
	}
	return p, nil
}

type imageset struct {
	Images []struct {
		File  string `xml:"file,attr"`
		Boxes []struct {
			Top    int `xml:"top,attr"`
			Left   int `xml:"left,attr"`
			Width  int `xml:"width,attr"`
			Height int `xml:"height,attr"`
		} `xml:"box"`
	} `xml:"images>image"`
}

// minStrangerFace is the smallest boxed face worth enlarging into a frame.
const minStrangerFace = 60

// boxedFaces crops the larger boxed faces of a dlib image-set file, with a
// margin so that the crop looks like a head-and-shoulders shot.
func boxedFaces(dir, file string) ([]image.Image, error) {
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return nil, fmt.Errorf("labelled photos: %w", err)
	}
	var set imageset
	dec := xml.NewDecoder(bytes.NewReader(data))
	// The files declare ISO-8859-1 but hold only ASCII.
	dec.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	if err := dec.Decode(&set); err != nil {
		return nil, fmt.Errorf("labelled photos: %s: %w", file, err)
	}
	var out []image.Image
	for _, im := range set.Images {
		var src image.Image
		for _, b := range im.Boxes {
			if b.Width < minStrangerFace {
				continue
			}
			if src == nil {
				if src, err = decodeFile(filepath.Join(dir, im.File)); err != nil {
					return nil, err
				}
			}
			m := b.Width * 35 / 100
			r := image.Rect(b.Left-m, b.Top-m, b.Left+b.Width+m, b.Top+b.Height+m).Intersect(src.Bounds())
			crop := image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
			draw.Draw(crop, crop.Bounds(), src, r.Min, draw.Src)
			out = append(out, crop)
		}
	}
	return out, nil
}

func decodeFile(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("labelled photos: %w", err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("labelled photos: %s: %w", path, err)
	}
	return img, nil
}

// fit scales img to fit in w x h, keeping its aspect ratio.
func fit(img image.Image, w, h int) *image.RGBA {
	b := img.Bounds()
	s := min(float64(w)/float64(b.Dx()), float64(h)/float64(b.Dy()))
	dst := image.NewRGBA(image.Rect(0, 0, max(1, int(float64(b.Dx())*s)), max(1, int(float64(b.Dy())*s))))
	xdraw.CatmullRom.Scale(dst, dst.Bounds(), img, b, xdraw.Src, nil)
	return dst
}
