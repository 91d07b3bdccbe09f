package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/celebrity-zones/cz/contracts"
	"github.com/celebrity-zones/cz/internal/deps"
	"github.com/celebrity-zones/cz/layout"
	"github.com/celebrity-zones/cz/sample"
)

func init() {
	var (
		dir, photos, first string
		opt                sample.Options
		buckets            layout.Config
	)
	cmd := &cobra.Command{
		Use:   "sample",
		Short: "Write a realistic, deterministic sample dataset (zones, photos, videos, content metadata, known answer)",
		Long: `sample writes zones and ground-truth photos made from real labelled faces,
days of content-metadata Parquet partitions with short H.264 videos in which
zone members appear next to strangers, and the known answer, into the three
buckets of the layout. With --dir they are three folders under one directory;
--external/--internal/--content take bucket URLs (s3://bucket/prefix) instead.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := bucketConfig(dir, buckets)
			if err != nil {
				return err
			}
			if first != "" {
				if opt.FirstDay, err = contracts.ParseDate(first); err != nil {
					return fmt.Errorf("--first-day: %w", err)
				}
			}
			b, err := layout.Open(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			p, err := sample.LoadPhotos(photos)
			if err != nil {
				return err
			}
			start := time.Now()
			ans, err := sample.Generate(cmd.Context(), b, p, opt)
			if err != nil {
				return err
			}
			fmt.Printf("sample (seed %d): %d zones in %d batches, %d videos over %d days, in %s\n",
				ans.Seed, len(ans.ZonesByID()), len(ans.Batches), len(ans.Videos), len(ans.Days), time.Since(start).Round(time.Millisecond))
			fmt.Printf("  external: %s\n  internal: %s\n  content:  %s\n", cfg.External, cfg.Internal, cfg.Content)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "", "local directory holding the three buckets (the embedded default)")
	addBucketFlags(cmd, &buckets)
	f.StringVar(&photos, "photos", deps.Path("dlib"), "dlib source tree with the labelled photos (make testdata)")
	f.Int64Var(&opt.Seed, "seed", 1, "random seed; the same seed gives the same dataset")
	f.StringVar(&first, "first-day", "2026-11-01", "first daily partition (yyyy-mm-dd)")
	f.IntVar(&opt.Days, "days", 3, "number of daily partitions")
	f.IntVar(&opt.VideosPerDay, "videos-per-day", 8, "videos in each daily partition")
	root.AddCommand(cmd)
}

func addBucketFlags(cmd *cobra.Command, c *layout.Config) {
	cmd.Flags().StringVar(&c.External, "external", "", "external bucket URL (zone lists, ground truth, predicted and validated data)")
	cmd.Flags().StringVar(&c.Internal, "internal", "", "internal bucket URL (faces, embeddings, metadata, index, intermediate data)")
	cmd.Flags().StringVar(&c.Content, "content", "", "content-metadata bucket URL")
}

// bucketConfig takes the buckets from --dir, or from the three URL flags.
func bucketConfig(dir string, c layout.Config) (layout.Config, error) {
	if dir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return c, err
		}
		local := layout.Local(abs)
		if c.External == "" {
			c.External = local.External
		}
		if c.Internal == "" {
			c.Internal = local.Internal
		}
		if c.Content == "" {
			c.Content = local.Content
		}
	}
	if c.External == "" || c.Internal == "" || c.Content == "" {
		return c, fmt.Errorf("give --dir, or all of --external, --internal and --content")
	}
	return c, nil
}
