package main

import (
	"fmt"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/celebrity-zones/cz/face"
)

func init() {
	var (
		cfg      face.Config
		inFlight int
		rounds   int
	)
	cmd := &cobra.Command{
		Use:   "faces VIDEO...",
		Short: "Measure the face pipeline on videos: frames/s, faces/s and the share of time inside ONNX Runtime",
		Long: `faces runs the whole video path (ffmpeg decode at --fps, detection, alignment,
embedding, grouping) on each VIDEO, --rounds times, keeping --in-flight videos
in progress at once, and prints frames/s, faces/s and efficiency: wall time
during which ONNX Runtime was running divided by total wall time.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			p, err := face.NewPipeline(cfg)
			if err != nil {
				return err
			}
			defer p.Close()
			// Warm up the sessions on the first video.
			if _, err := p.VideoFaces(ctx, args[0]); err != nil {
				return err
			}
			before := p.Stats()
			start := time.Now()
			work := make(chan string)
			errs := make(chan error, inFlight)
			var wg sync.WaitGroup
			for i := 0; i < max(inFlight, 1); i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for v := range work {
						if _, err := p.VideoFaces(ctx, v); err != nil {
							select {
							case errs <- err:
							default:
							}
						}
					}
				}()
			}
			for r := 0; r < rounds; r++ {
				for _, v := range args {
					work <- v
				}
			}
			close(work)
			wg.Wait()
			wall := time.Since(start)
			select {
			case err := <-errs:
				return err
			default:
			}
			after := p.Stats()
			s := wall.Seconds()
			fmt.Fprintf(cmd.OutOrStdout(), "videos\tin flight\twall\tframes/s\tfaces/s\tefficiency\n")
			fmt.Fprintf(cmd.OutOrStdout(), "%d\t%d\t%.2fs\t%.1f\t%.1f\t%.3f\n", rounds*len(args), inFlight, s,
				float64(after.Frames-before.Frames)/s, float64(after.Faces-before.Faces)/s, (after.ORT-before.ORT).Seconds()/s)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.ModelsDir, "models", "", "folder of the ONNX models (default $CZ_DEPS/models or .deps/models)")
	f.StringVar(&cfg.Detector, "detector", "", "detector descriptor: a name or a JSON file")
	f.StringVar(&cfg.Embedder, "embedder", "", "embedder descriptor: a name or a JSON file")
	f.IntVar(&cfg.Threads, "threads", 0, "ONNX Runtime intra-op threads (0: one per core)")
	f.StringVar(&cfg.Provider, "provider", "cpu", "execution provider: cpu or cuda")
	f.IntVar(&cfg.Batch, "batch", 0, "frames or faces per ONNX Runtime call (default 8)")
	f.Float64Var(&cfg.FPS, "fps", 1, "video frames sampled per second")
	f.IntVar(&inFlight, "in-flight", 2, "videos in progress at once")
	f.IntVar(&rounds, "rounds", 3, "times each video is processed")
	bench.AddCommand(cmd)
}
