package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/gif"
	_ "image/jpeg"
	_ "image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/celebrity-zones/cz/ann"
	"github.com/celebrity-zones/cz/face"
	"github.com/celebrity-zones/cz/layout"
	"github.com/celebrity-zones/cz/store"
)

// facesOutput is one file's result in `cz faces --json`.
type facesOutput struct {
	File  string       `json:"file"`
	Kind  string       `json:"kind"` // image or video
	Faces []faceOutput `json:"faces"`
	Error string       `json:"error,omitempty"`
}

type faceOutput struct {
	ID       string   `json:"id"`
	Box      [4]int   `json:"box"` // x0, y0, x1, y1
	Quality  float32  `json:"quality"`
	Score    float32  `json:"score"`
	Frames   int      `json:"frames"`
	FirstS   float64  `json:"first_s"`
	Zone     string   `json:"zone,omitempty"`
	Distance *float32 `json:"distance,omitempty"`
	Match    *bool    `json:"match,omitempty"` // distance below the model's threshold
	Crop     string   `json:"crop,omitempty"`
}

func init() {
	var (
		cfg         face.Config
		asJSON      bool
		indexURL    string
		indexPrefix string
		cropsDir    string
	)
	cmd := &cobra.Command{
		Use:   "faces FILE...",
		Short: "Print the faces found in images and videos (boxes, quality, nearest zone)",
		Long: `faces detects, aligns and embeds the faces of each FILE. Images (JPEG, PNG,
GIF) give one face per detection; videos are sampled with ffmpeg at --fps and
give one face per person. With --index, each face's nearest ground-truth face
in a published index gives its zone and distance; "match" says whether the
distance is below the embedding model's same-person threshold.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			p, err := face.NewPipeline(cfg)
			if err != nil {
				return err
			}
			defer p.Close()
			var idx *ann.Index
			if indexURL != "" {
				if indexPrefix == "" {
					indexPrefix = layout.Index(p.ModelName())
				}
				idx, err = loadFaceIndex(ctx, indexURL, indexPrefix, p)
				if err != nil {
					return err
				}
			}
			if cropsDir != "" {
				if err := os.MkdirAll(cropsDir, 0o755); err != nil {
					return err
				}
			}
			var results []facesOutput
			failed := 0
			for _, file := range args {
				r := facesOf(ctx, p, file)
				for i := range r.Faces {
					f := &r.Faces[i]
					if idx != nil && len(f.embedding) > 0 {
						if hits := idx.Search(f.embedding, 1); len(hits) > 0 {
							d := hits[0].Distance
							if idx.Metric() == ann.Cosine && p.Embedder().Distance == "cosine" {
								d = d * d / 2 // ann's sqrt(2-2cos) to the descriptor's 1-cos
							}
							m := d < p.Threshold()
							f.out.Zone, f.out.Distance, f.out.Match = hits[0].Label, &d, &m
						}
					}
					if cropsDir != "" && len(f.crop) > 0 {
						name := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file)) + "-" + f.out.ID + ".jpg"
						path := filepath.Join(cropsDir, name)
						if err := os.WriteFile(path, f.crop, 0o644); err != nil {
							return err
						}
						f.out.Crop = path
					}
				}
				out := facesOutput{File: file, Kind: r.kind, Faces: []faceOutput{}}
				for _, f := range r.Faces {
					out.Faces = append(out.Faces, f.out)
				}
				if r.err != nil {
					out.Error = r.err.Error()
					failed++
				}
				results = append(results, out)
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(results); err != nil {
					return err
				}
			} else {
				printFaces(cmd.OutOrStdout(), results, idx != nil)
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d files failed", failed, len(args))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.ModelsDir, "models", "", "folder of the ONNX models (default $CZ_DEPS/models or .deps/models)")
	f.StringVar(&cfg.Detector, "detector", "", `detector descriptor: a name or a JSON file (default "blazeface-back")`)
	f.StringVar(&cfg.Embedder, "embedder", "", `embedder descriptor: a name or a JSON file (default "dlib-resnet128")`)
	f.IntVar(&cfg.Threads, "threads", 0, "ONNX Runtime intra-op threads (0: one per core)")
	f.StringVar(&cfg.Provider, "provider", "cpu", "execution provider: cpu or cuda (needs a CUDA build of libonnxruntime, see CZ_ORT_LIB)")
	f.Float64Var(&cfg.FPS, "fps", 1, "video frames sampled per second")
	f.DurationVar(&cfg.VideoTimeout, "timeout", 10*time.Minute, "longest time one video may take")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.StringVar(&indexURL, "index", "", "store holding a published face index (a folder, file:// or s3:// URL): print each face's nearest zone")
	f.StringVar(&indexPrefix, "index-prefix", "", "the index's folder in that store (default "+layout.Index("MODEL")+")")
	f.StringVar(&cropsDir, "crops", "", "write each face's best crop as a JPEG into this folder")
	root.AddCommand(cmd)
}

// fileFaces is one file's faces before printing.
type fileFaces struct {
	kind  string
	Faces []foundFace
	err   error
}

type foundFace struct {
	out       faceOutput
	embedding []float32
	crop      []byte
}

// facesOf runs the pipeline on one file: as an image when Go can decode
// it, else as a video.
func facesOf(ctx context.Context, p *face.Pipeline, file string) fileFaces {
	var r fileFaces
	var faces []face.Face
	img, err := decodeImage(file)
	switch {
	case err == nil:
		r.kind = "image"
		faces, r.err = p.ImageFaces(ctx, img)
		if r.err != nil {
			r.err = fmt.Errorf("%s: %w", file, r.err)
		}
	case errors.Is(err, image.ErrFormat):
		r.kind = "video"
		faces, r.err = p.VideoFaces(ctx, file)
	default:
		r.err = err
	}
	for _, f := range faces {
		b := f.Box
		r.Faces = append(r.Faces, foundFace{
			out: faceOutput{ID: f.ID, Box: [4]int{b.Min.X, b.Min.Y, b.Max.X, b.Max.Y}, Quality: f.Quality,
				Score: f.Score, Frames: f.Frames, FirstS: f.First.Seconds()},
			embedding: f.Embedding,
			crop:      f.Crop,
		})
	}
	return r
}

func decodeImage(file string) (image.Image, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, _, err := image.DecodeConfig(f); err != nil {
		return nil, image.ErrFormat
	}
	if _, err := f.Seek(0, 0); err != nil {
		return nil, err
	}
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return img, nil
}

// loadFaceIndex opens the latest published index for the pipeline's model.
func loadFaceIndex(ctx context.Context, url, prefix string, p *face.Pipeline) (*ann.Index, error) {
	var b store.Bucket
	var err error
	if strings.Contains(url, "://") {
		b, err = store.Open(ctx, url)
	} else {
		b, err = store.OpenDir(url)
	}
	if err != nil {
		return nil, err
	}
	x, _, err := ann.LoadLatest(ctx, b, prefix, ann.ExpectModel(p.ModelName()), ann.ExpectDim(p.Embedder().Dim))
	return x, err
}

func printFaces(out io.Writer, results []facesOutput, withIndex bool) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	defer w.Flush()
	head := "FILE\tFACE\tBOX\tQUALITY\tFRAMES\tFIRST"
	if withIndex {
		head += "\tZONE\tDISTANCE\tMATCH"
	}
	fmt.Fprintln(w, head)
	for _, r := range results {
		if r.Error != "" {
			fmt.Fprintf(w, "%s\terror: %s\n", r.File, r.Error)
		}
		if len(r.Faces) == 0 && r.Error == "" {
			fmt.Fprintf(w, "%s\t(no faces)\n", r.File)
		}
		for _, f := range r.Faces {
			line := fmt.Sprintf("%s\t%s\t%d,%d-%d,%d\t%.2f\t%d\t%.0fs", r.File, f.ID, f.Box[0], f.Box[1], f.Box[2], f.Box[3], f.Quality, f.Frames, f.FirstS)
			if withIndex {
				if f.Distance != nil {
					line += fmt.Sprintf("\t%s\t%.3f\t%v", f.Zone, *f.Distance, *f.Match)
				} else {
					line += "\t-\t-\t-"
				}
			}
			fmt.Fprintln(w, line)
		}
	}
}
