// Command korum-jepsen runs Korum's partition tests in Docker containers
// and exits non-zero on any anomaly or harness error. See jepsen/doc.go and
// docs/jepsen.md. Needs root (nsenter, iptables), a Docker engine and the
// images korum:latest and redis:7 (make image local-images).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/korumdb/korum/jepsen"
)

func main() { os.Exit(run()) }

func run() int {
	var all []string
	for _, n := range jepsen.Nemeses {
		all = append(all, n.Name)
	}
	cfg := jepsen.RunConfig{Out: os.Stdout}
	cl := &cfg.Cluster
	flag.StringVar(&cl.Image, "image", "korum:latest", "Korum node image")
	flag.StringVar(&cl.RedisImage, "redis-image", "redis:7", "Redis image")
	flag.IntVar(&cl.Nodes, "nodes", 5, "Korum nodes")
	flag.StringVar(&cl.Network, "network", "korum-jepsen", "Docker network (created and removed)")
	flag.StringVar(&cl.Prefix, "subnet", "10.66.0", "first three octets of the network's /24")
	cluster := flag.String("cluster", envOr("KORUM_JEPSEN_CLUSTER", "auto"), "run nodes as one cluster: 1, 0 or auto (probe the image) [KORUM_JEPSEN_CLUSTER]")
	flag.StringVar(&cl.Elasticsearch, "elasticsearch", os.Getenv("KORUM_JEPSEN_ELASTICSEARCH"), "host:port of an Elasticsearch on this host (e.g. 127.0.0.1:9200): nodes run in elasticsearch mode, reaching it through a forwarder on the network's gateway; its &jepsen.* indexes are wiped before each nemesis [KORUM_JEPSEN_ELASTICSEARCH]")
	nodeArgs := flag.String("node-args", os.Getenv("KORUM_JEPSEN_NODE_ARGS"), "extra flags for every node, space-separated [KORUM_JEPSEN_NODE_ARGS]")
	flag.Uint64Var(&cfg.Seed, "seed", uint64(time.Now().UnixNano()%1e6), "seed of every random choice (printed; rerun with it)")
	nemeses := flag.String("nemeses", strings.Join(all, ","), "comma-separated nemeses")
	flag.DurationVar(&cfg.Warmup, "warmup", 3*time.Second, "steady traffic before the first fault and after each heal")
	flag.DurationVar(&cfg.Fault, "fault", 10*time.Second, "duration of each fault")
	flag.IntVar(&cfg.Cycles, "cycles", 1, "faults per nemesis")
	flag.DurationVar(&cfg.RecoverBound, "recover-bound", 30*time.Second, "heal to converged, or an anomaly")
	flag.IntVar(&cfg.RegisterClients, "register-clients", 6, "register clients")
	flag.IntVar(&cfg.Keys, "keys", 3, "register keys per shard")
	workloads := flag.String("workloads", strings.Join(jepsen.DefaultWorkloads, ","), "comma-separated workloads, of "+strings.Join(jepsen.Workloads, ","))
	flag.IntVar(&cfg.MSClients, "ms-clients", 4, "ms register clients (workload ms-registers)")
	flag.IntVar(&cfg.SecurityClients, "security-clients", 3, "security clients (workload security)")
	flag.IntVar(&cfg.Subscribers, "subscribers", 5, "subscribers")
	flag.IntVar(&cfg.Writers, "writers", 2, "subscription writers")
	flag.DurationVar(&cfg.OpTimeout, "op-timeout", 3*time.Second, "client request timeout (then indeterminate)")
	flag.DurationVar(&cfg.QuorumContactTimeout, "quorum-contact-timeout", 0, "with clustering: a node cut from the quorum must exit within this + slack (0: only measure)")
	flag.DurationVar(&cfg.SelfTermSlack, "self-term-slack", 3*time.Second, "slack on the self-termination bound")
	flag.DurationVar(&cfg.CheckTimeout, "check-timeout", time.Minute, "porcupine time bound per nemesis")
	results := flag.String("results", "results", "results folder (a sub-folder per run)")
	flag.BoolVar(&cfg.KeepAll, "keep", false, "keep histories and logs even without anomalies")
	flag.BoolVar(&cl.DataTmpfs, "broken-tmpfs-data", false, "deliberately broken deployment: data on a tmpfs a restart empties (use with -expect-anomaly)")
	expectAnomaly := flag.Bool("expect-anomaly", false, "succeed only if an anomaly is found (for deliberately broken builds)")
	flag.DurationVar(&cl.FormBound, "form-bound", 60*time.Second, "with clustering: how long the nodes may take to form one cluster (0: do not wait, e.g. to watch the checkers on a build that cannot)")
	flag.Parse()
	cl.Label = "korum-jepsen"
	cl.Secret = "jepsen-secret"
	cl.NodeArgs = strings.Fields(*nodeArgs)
	cfg.Nemeses = strings.Split(*nemeses, ",")
	cfg.Workloads = strings.Split(*workloads, ",")
	for _, w := range cfg.Workloads {
		if !slices.Contains(jepsen.Workloads, w) {
			fmt.Fprintf(os.Stderr, "korum-jepsen: unknown workload %q (known: %s)\n", w, strings.Join(jepsen.Workloads, ","))
			return 2
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	switch *cluster {
	case "1", "true":
		cl.Clustered = true
	case "0", "false":
	default:
		probe := *cl
		probe.FormBound = 20 * time.Second
		ok, why, err := jepsen.ProbeClustering(ctx, probe, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, "korum-jepsen: probing the image:", err)
			return 2
		}
		cl.Clustered = ok
		if !ok {
			fmt.Printf("NOTE: probe with the clustering flags: %s\n", why)
		}
	}
	if !cl.Clustered {
		fmt.Println("NOTE: STANDALONE mode (the image's nodes do not form a cluster yet): every node is its own")
		fmt.Println("      cluster and keys/topics are sharded per node; partition nemeses then only exercise")
		fmt.Println("      clients and the harness. KORUM_JEPSEN_CLUSTER=1 forces cluster mode.")
	}
	if cl.Clustered && cfg.QuorumContactTimeout > 0 {
		// The bound the checker enforces is the one the nodes are given.
		cl.NodeArgs = append(cl.NodeArgs, "--quorum-contact-timeout", cfg.QuorumContactTimeout.String())
	}
	cfg.ResultsDir = fmt.Sprintf("%s/%s-seed%d", *results, time.Now().UTC().Format("20060102T150405Z"), cfg.Seed)
	storageMode := "embedded"
	if cl.Elasticsearch != "" {
		storageMode = "elasticsearch at " + cl.Elasticsearch
	}
	fmt.Printf("korum-jepsen: seed %d, %d nodes, clustered=%v, storage %s, workloads %s, nemeses %s, results %s\n", cfg.Seed, cl.Nodes, cl.Clustered, storageMode, *workloads, *nemeses, cfg.ResultsDir)

	rs := jepsen.Run(ctx, cfg)
	anomalies, errs := 0, 0
	for _, r := range rs {
		anomalies += len(r.Anomalies)
		if r.Err != nil {
			errs++
		}
	}
	fmt.Printf("\nkorum-jepsen: %d anomalies, %d harness errors (seed %d)\n", anomalies, errs, cfg.Seed)
	switch {
	case errs > 0:
		return 1
	case *expectAnomaly && anomalies == 0:
		fmt.Println("korum-jepsen: expected the checkers to find an anomaly in this build, and they found none")
		return 1
	case *expectAnomaly:
		fmt.Println("korum-jepsen: the checkers caught the broken build, as expected")
		return 0
	case anomalies > 0:
		return 1
	}
	return 0
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
