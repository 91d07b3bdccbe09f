package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/status"

	"github.com/celebrity-zones/cz/coordinator"
	"github.com/celebrity-zones/cz/engine/web"
	"github.com/celebrity-zones/cz/scaling"
)

// securityFlags adds the cluster's security flags: the certificate files
// (mutual TLS), the bearer token and the way to turn both off.
func securityFlags(cmd *cobra.Command, s *coordinator.Security, withCert bool) {
	fl := cmd.Flags()
	fl.StringVar(&s.CAFile, "ca", os.Getenv("CZ_CA"), "cluster CA certificate (env CZ_CA; made by `cz certs`)")
	if withCert {
		fl.StringVar(&s.CertFile, "cert", os.Getenv("CZ_CERT"), "this member's certificate (env CZ_CERT)")
		fl.StringVar(&s.KeyFile, "key", os.Getenv("CZ_KEY"), "this member's private key (env CZ_KEY)")
	}
	fl.StringVar(&s.Token, "token", os.Getenv("CZ_TOKEN"), "bearer token of the Client API (env CZ_TOKEN)")
	fl.BoolVar(&s.Insecure, "insecure", false, "no TLS and no token: only for a cluster on one trusted machine")
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// parsePeers reads "id=raftaddr=apiaddr,...".
func parsePeers(s string) ([]coordinator.Peer, error) {
	var peers []coordinator.Peer
	for i, f := range splitList(s) {
		parts := strings.Split(f, "=")
		if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
			return nil, fmt.Errorf("--peers: entry %d %q: want ID=RAFT_ADDR=API_ADDR", i+1, f)
		}
		peers = append(peers, coordinator.Peer{ID: parts[0], RaftAddr: parts[1], APIAddr: parts[2]})
	}
	if n := len(peers); n > 0 && n%2 == 0 {
		return nil, fmt.Errorf("--peers: %d members; use 1, 3 or 5 (an even group tolerates no more failures than one member less)", n)
	}
	return peers, nil
}

func init() {
	var (
		cfg                                coordinator.Config
		peers, storeURL, listen, gossip    string
		seeds, httpAddr, raftBind, raftAdv string
		leaseTTL, leaseGrace               time.Duration
		autoscale, statusURL               string
		notifyF                            notifyFlags
	)
	cmd := &cobra.Command{
		Use:   "coordinator",
		Short: "Run a coordinator: a Raft member replicating the job state, leading the engine when elected",
		Long: `coordinator runs one member of a 1-, 3- or 5-node Raft group. Every member
is given the same --peers list; a member with an empty --dir bootstraps
the group with it. The leader runs the engine and the executor leases;
any member serves the Client API (followers forward writes to the
leader). With --gchat-webhook or --smtp/--mail-to the leader tells the
team when each job ends (once per job, across leader changes). Security is on by default: mutual TLS (--ca/--cert/--key, made
by 'cz certs') and a bearer token for clients (--token or CZ_TOKEN).
See docs/distributed.md.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			ps, err := parsePeers(peers)
			if err != nil {
				return err
			}
			if len(ps) == 0 {
				ps = []coordinator.Peer{{ID: cfg.ID, RaftAddr: raftBind, APIAddr: listen}}
				if raftAdv != "" {
					ps[0].RaftAddr = raftAdv
				}
			}
			if cfg.APIAddr == "" {
				for _, p := range ps {
					if p.ID == cfg.ID {
						cfg.APIAddr = p.APIAddr
					}
				}
			}
			if cfg.APIAddr == "" {
				return fmt.Errorf("--id %q is not in --peers", cfg.ID)
			}
			if cfg.Dir == "" {
				return fmt.Errorf("--dir is required (the Raft log and snapshots)")
			}
			if storeURL == "" {
				return fmt.Errorf("--store is required (attempt outputs, manifests, event logs)")
			}
			b, err := openEngineStore(ctx, storeURL)
			if err != nil {
				return err
			}
			cfg.Peers, cfg.Bucket, cfg.RaftBind, cfg.RaftAdvertise = ps, b, raftBind, raftAdv
			cfg.Timing = coordinator.DefaultTiming
			if leaseTTL > 0 {
				cfg.Timing.LeaseTTL = leaseTTL
			}
			if leaseGrace > 0 {
				cfg.Timing.LeaseGrace = leaseGrace
			}
			cfg.Logger = slog.Default()
			if cfg.Notifier, err = notifyF.notifier(); err != nil {
				return err
			}
			cfg.StatusURL = statusURL
			if cfg.StatusURL == "" && httpAddr != "" {
				cfg.StatusURL = "http://" + httpAddr
			}
			if autoscale != "" {
				if cfg.Scaling.Group, err = scaling.Open(ctx, autoscale); err != nil {
					return fmt.Errorf("--autoscale: %w", err)
				}
				if cfg.Scaling.Policy.PerExecutor.CPU <= 0 {
					return fmt.Errorf("--executor-cpus: an autoscaled executor must offer at least one CPU slot")
				}
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("--listen: %w", err)
			}
			n, err := coordinator.Start(cfg)
			if err != nil {
				ln.Close()
				return err
			}
			defer n.Close()
			processCollectors(n.View().Metrics().Registry)
			srv, err := n.GRPCServer()
			if err != nil {
				return err
			}
			go srv.Serve(ln)
			defer srv.Stop()
			if gossip != "" {
				g, err := coordinator.JoinGossip(gossip, coordinator.Meta{Role: "coordinator", ID: cfg.ID, API: cfg.APIAddr}, splitList(seeds), slog.Default())
				if err != nil {
					return err
				}
				n.AttachGossip(g)
				slog.Info("gossip", "addr", g.Addr())
			}
			if httpAddr != "" {
				hl, err := net.Listen("tcp", httpAddr)
				if err != nil {
					return fmt.Errorf("--http: %w", err)
				}
				src := memberSource{web.Live(n.View()), n}
				hs := &http.Server{Handler: web.Handler(src, n.View().Metrics().Registry, slog.Default()), ReadHeaderTimeout: 10 * time.Second}
				go hs.Serve(hl)
				defer hs.Close()
				slog.Info("status page", "url", "http://"+hl.Addr().String()+"/")
			}
			slog.Info("coordinator up", "id", cfg.ID, "api", ln.Addr().String(), "raft", raftBind, "peers", len(ps))
			<-ctx.Done()
			slog.Info("coordinator stopping")
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.ID, "id", "", "this member's ID (as in --peers)")
	fl.StringVar(&cfg.Dir, "dir", "", "directory of the Raft log (raft-wal) and snapshots")
	fl.StringVar(&raftBind, "raft", "127.0.0.1:7000", "Raft address to listen on")
	fl.StringVar(&raftAdv, "raft-advertise", "", "Raft address the others dial, when it differs from --raft")
	fl.StringVar(&listen, "listen", "127.0.0.1:9000", "gRPC API address to listen on")
	fl.StringVar(&cfg.APIAddr, "advertise", "", "gRPC address the others reach (default: this member's entry in --peers)")
	fl.StringVar(&peers, "peers", "", "the group: ID=RAFT_ADDR=API_ADDR,... (the same on every member; empty: a group of one)")
	fl.StringVar(&gossip, "gossip", "", "memberlist address to listen on (executors find the coordinators there), such as 0.0.0.0:7946")
	fl.StringVar(&seeds, "seeds", "", "gossip addresses of other members to join")
	fl.StringVar(&storeURL, "store", "", "engine store: attempt outputs, manifests, event logs (directory or s3:// URL)")
	fl.StringVar(&httpAddr, "http", "", "serve the status page here (such as 127.0.0.1:8080)")
	fl.DurationVar(&cfg.Retention.MaxAge, "keep-jobs-for", 0, "forget finished jobs this long after they ended; their records stay in the store (default 7 days; negative: never by age)")
	fl.IntVar(&cfg.Retention.MaxJobs, "keep-jobs", 0, "finished jobs the replicated state keeps at most; older ones are read from the store (default 2000; negative: no limit)")
	fl.DurationVar(&leaseTTL, "lease", 0, "executor lease (default 6s)")
	fl.DurationVar(&leaseGrace, "lease-grace", 0, "what a new leader gives executors to reconnect (default 12s)")
	fl.StringVar(&autoscale, "autoscale", "", "resize the executor group while leading: aws:SPOT_ASG[,ON_DEMAND_ASG] or local:COMMAND ARGS (empty: no autoscaling)")
	fl.IntVar(&cfg.Scaling.Policy.PerExecutor.CPU, "executor-cpus", 4, "CPU slots one autoscaled executor offers")
	fl.IntVar(&cfg.Scaling.Policy.PerExecutor.GPU, "executor-gpus", 1, "GPU slots one autoscaled executor offers")
	fl.Int64Var(&cfg.Scaling.Policy.PerExecutor.MemoryMB, "executor-memory-mb", 15000, "memory one autoscaled executor offers, in MB")
	fl.IntVar(&cfg.Scaling.Policy.Max, "max-executors", 8, "most autoscaled executors")
	fl.IntVar(&cfg.Scaling.Policy.Min, "min-executors", 0, "fewest autoscaled executors (0: none while idle)")
	fl.DurationVar(&cfg.Scaling.Policy.IdleAfter, "idle-after", 10*time.Minute, "scale to --min-executors after this long without work")
	fl.DurationVar(&cfg.Scaling.Every, "scale-every", 10*time.Second, "how often the leader measures the load")
	notifyF.add(cmd)
	fl.StringVar(&statusURL, "status-url", "", "the status page's address in job notifications, as the team reaches it (default http://HTTP_ADDR when --http is set)")
	cmd.MarkFlagRequired("id")
	securityFlags(cmd, &cfg.Security, true)
	root.AddCommand(cmd)

	var hosts, dir string
	certs := &cobra.Command{
		Use:   "certs",
		Short: "Make a cluster CA and a member certificate for mutual TLS",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := coordinator.GenerateCerts(dir, splitList(hosts), 365*24*time.Hour); err != nil {
				return err
			}
			fmt.Printf("wrote %s/{ca.pem,ca-key.pem,node.pem,node-key.pem}; keep ca-key.pem offline\n", dir)
			return nil
		},
	}
	certs.Flags().StringVar(&dir, "dir", "certs", "output directory")
	certs.Flags().StringVar(&hosts, "hosts", "127.0.0.1,localhost", "names and IPs the member certificate is valid for")
	root.AddCommand(certs)
}

// memberSource is a coordinator's status page: its replica, with a notice
// on every page while the member has lost its leader.
type memberSource struct {
	web.Source
	n *coordinator.Node
}

func (m memberSource) Notice() string {
	if err := m.n.ReplicaFresh(); err != nil {
		return "Stale: " + status.Convert(err).Message() + "."
	}
	return ""
}
