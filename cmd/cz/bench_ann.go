package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/celebrity-zones/cz/ann"
	"github.com/celebrity-zones/cz/ann/annbench"
)

func init() {
	var (
		data      string
		n, dim, q int
		timeQ     int
		settings  string
		fmDir     string
		peers     []string
		peerDir   string
		subDims   int
	)
	cmd := &cobra.Command{
		Use:   "ann",
		Short: "Benchmark the ann index: recall and queries/s against exact search",
		Long: `Measures recall@1, recall@10, identity-recall@10 and queries/s on 1 and 2
threads, plus build time and memory, for exact search and the partitioned
index, on a synthetic face-like set ("faces") and Debian's Fashion-MNIST
("fashion-mnist", from the dataset-fashion-mnist package).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var sets []annbench.Setting
			for _, s := range strings.Split(settings, ",") {
				p, r, ok := strings.Cut(strings.TrimSpace(s), "/")
				pi, err1 := strconv.Atoi(p)
				ri, err2 := strconv.Atoi(r)
				if !ok || err1 != nil || err2 != nil {
					return fmt.Errorf("--settings %q: want probe/rerank pairs like 0/100,200/100 (0: all partitions)", s)
				}
				sets = append(sets, annbench.Setting{Probe: pi, Rerank: ri})
			}
			opts := annbench.Options{TimeQueries: timeQ, Settings: sets, Threads: []int{1, 2}}
			if subDims > 0 {
				opts.Index = append(opts.Index, ann.WithSubspaceDims(subDims))
			}
			for _, p := range peers {
				name, command, ok := strings.Cut(p, "=")
				if !ok || command == "" {
					return fmt.Errorf("--peer %q: want NAME=COMMAND [ARGS]", p)
				}
				opts.Peers = append(opts.Peers, annbench.Peer{Name: name, Command: strings.Fields(command)})
			}
			if len(opts.Peers) > 0 {
				dir := peerDir
				if dir == "" {
					d, err := os.MkdirTemp("", "cz-bench-ann-")
					if err != nil {
						return err
					}
					defer os.RemoveAll(d)
					dir = d
				}
				opts.PeerDir = dir
			}
			for _, d := range strings.Split(data, ",") {
				var res *annbench.Result
				var err error
				switch d {
				case "faces":
					cfg := annbench.DefaultFaces()
					cfg.N, cfg.Dim, cfg.Queries = n, dim, q
					fs, gerr := annbench.Faces(cfg)
					if gerr != nil {
						return gerr
					}
					name := fmt.Sprintf("synthetic faces (%d identities seen, %.0f%% unseen queries)", fs.Identity[len(fs.Identity)-1]+1, 100*cfg.Unseen)
					res, err = annbench.Run(name, ann.Cosine, fs.Items, fs.Queries,
						func(id uint64) int { return fs.Identity[id] }, fs.QueryIdentity, opts, os.Stderr)
				case "fashion-mnist":
					base, qs, ferr := annbench.FashionMNIST(fmDir)
					if ferr != nil {
						return ferr
					}
					items := make([]ann.Item, len(base))
					for i, v := range base {
						items[i] = ann.Item{ID: uint64(i), Vector: v}
					}
					res, err = annbench.Run("Fashion-MNIST (train as base, test as queries, L2-normalised)", ann.Cosine, items, qs[:min(q, len(qs))], nil, nil, opts, os.Stderr)
				default:
					return fmt.Errorf("--data %q: want faces or fashion-mnist", d)
				}
				if err != nil {
					return err
				}
				res.Markdown(cmd.OutOrStdout(), opts.Threads)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&data, "data", "faces,fashion-mnist", "data sets: faces, fashion-mnist")
	f.IntVar(&n, "n", 200000, "synthetic base vectors")
	f.IntVar(&dim, "dim", 512, "synthetic dimension")
	f.IntVar(&q, "queries", 10000, "queries for recall")
	f.IntVar(&timeQ, "time-queries", 2000, "queries timed per setting and thread count")
	f.StringVar(&settings, "settings", "0/30,0/50,0/100,16/50,32/50", "partitioned settings: probe/rerank pairs (probe 0: all partitions)")
	f.IntVar(&subDims, "subspace-dims", 0, "dimensions per 4-bit code of the partitioned index (0: the index default)")
	f.StringVar(&fmDir, "fashion-mnist", annbench.FashionMNISTDir, "Fashion-MNIST directory")
	f.StringArrayVar(&peers, "peer", nil, "external index run on the same files: NAME=COMMAND [ARGS] (see annbench.Peer); repeatable")
	f.StringVar(&peerDir, "peer-dir", "", "directory for the files given to peers (default: a temporary one)")
	bench.AddCommand(cmd)
}
