package jepsen

import (
	"context"
	"io"
	"os"
	"testing"
	"time"
)

// TestBrokenDeploymentIsCaught runs the real suite against a deliberately
// broken deployment (node data on a tmpfs, so a restart loses every
// acknowledged write) and requires the checkers to report it: the suite
// is known to catch lost writes end to end, not only on synthetic histories.
// It needs root, a Docker engine and the images (make jepsen-deps), so it
// runs only with KORUM_JEPSEN_DOCKER=1 (make jepsen-selftest).
func TestBrokenDeploymentIsCaught(t *testing.T) {
	if os.Getenv("KORUM_JEPSEN_DOCKER") != "1" {
		t.Skip("set KORUM_JEPSEN_DOCKER=1 (root, Docker engine, images built) to run")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := RunConfig{
		Cluster: ClusterConfig{Image: envDefault("KORUM_JEPSEN_IMAGE", "korum:latest"), RedisImage: "redis:7", Nodes: 3,
			Network: "korum-jepsen-selftest", Prefix: "10.66.1", Label: "korum-jepsen-selftest", DataTmpfs: true,
			Clustered: os.Getenv("KORUM_JEPSEN_CLUSTER") == "1", Secret: "selftest"},
		Seed: 1, Nemeses: []string{"full-restart"}, Warmup: 2 * time.Second, Fault: 2 * time.Second, Cycles: 1,
		RecoverBound: 20 * time.Second, RegisterClients: 3, Keys: 2, Subscribers: 2, Writers: 1,
		OpTimeout: 3 * time.Second, CheckTimeout: 30 * time.Second, Out: io.Discard,
	}
	if testing.Verbose() {
		cfg.Out = os.Stdout
	}
	rs := Run(ctx, cfg)
	if len(rs) != 1 || rs[0].Err != nil {
		t.Fatalf("harness failed: %+v", rs)
	}
	if !hasAnomaly(rs[0].Anomalies, "registers", "lost write") || rs[0].Linearizable != "Illegal" {
		t.Fatalf("lost writes after a restart went unnoticed: linearizable=%s anomalies=%v", rs[0].Linearizable, rs[0].Anomalies)
	}
}

func envDefault(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
