package raftnet

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkApply measures committed-and-applied commands per second on a
// 3-node loopback cluster with fsync'd raft-boltdb logs, with 64-byte
// commands, from the leader and forwarded from a follower.
//
//	go test -run '^$' -bench BenchmarkApply -benchtime 3s ./raftnet/
//
// Reference (same host, raw hashicorp/raft, default config): 274 ops/s with
// 1 caller, 7,802 ops/s with 64.
func BenchmarkApply(b *testing.B) {
	cmd := make([]byte, 64)
	viaLeaderAndFollower(b, nil, func(n *testNode) error {
		_, err := n.Apply(context.Background(), cmd)
		return err
	})
}

// BenchmarkApplyTLS is BenchmarkApply with mutual TLS on the cluster port.
func BenchmarkApplyTLS(b *testing.B) {
	cmd := make([]byte, 64)
	viaLeaderAndFollower(b, tlsBenchConfig(b), func(n *testNode) error {
		_, err := n.Apply(context.Background(), cmd)
		return err
	})
}

// tlsBenchConfig gives every node a node certificate of one test CA.
func tlsBenchConfig(b *testing.B) func(id string, bootstrap bool) Config {
	certs := newTestCerts(b)
	return func(id string, bootstrap bool) Config {
		cfg, _ := certs.config(id, bootstrap, testSecret)
		return cfg
	}
}

// viaLeaderAndFollower runs op b.N times on a 3-node cluster (each node's
// configuration from cfg, nil: testConfig), through the leader and through
// a follower, with 1 and with 64 concurrent callers, and reports
// operations per second.
func viaLeaderAndFollower(b *testing.B, cfg func(id string, bootstrap bool) Config, op func(*testNode) error) {
	if cfg == nil {
		cfg = func(id string, bootstrap bool) Config { return testConfig(b, id, bootstrap) }
	}
	nodes := cluster3Configs(b, cfg, func() *testFSM { return &testFSM{disk: &testDisk{}, countOnly: true} })
	leader := waitLeaderAmong(b, nodes...)
	follower := followerOf(nodes)
	for _, via := range []struct {
		name string
		n    *testNode
	}{{"leader", leader}, {"follower", follower}} {
		for _, callers := range []int{1, 64} {
			b.Run(fmt.Sprintf("via=%s/callers=%d", via.name, callers), func(b *testing.B) {
				var next atomic.Int64
				var wg sync.WaitGroup
				errs := make(chan error, callers)
				b.ResetTimer()
				for range callers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for next.Add(1) <= int64(b.N) {
							if err := op(via.n); err != nil {
								errs <- err
								return
							}
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				close(errs)
				for err := range errs {
					b.Fatal(err)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
			})
		}
	}
}

// BenchmarkCall measures one node-to-node RPC round trip on loopback.
func BenchmarkCall(b *testing.B) {
	benchCall(b, testConfig(b, "a", false), testConfig(b, "c", false))
}

// BenchmarkCallTLS is BenchmarkCall with mutual TLS on the cluster port.
func BenchmarkCallTLS(b *testing.B) {
	cfg := tlsBenchConfig(b)
	benchCall(b, cfg("a", false), cfg("c", false))
}

func benchCall(b *testing.B, ca, cc Config) {
	a := startNode(b, ca, newTestFSM(false))
	c := startNode(b, cc, newTestFSM(false))
	c.Handle("echo", func(_ context.Context, req []byte) ([]byte, error) { return req, nil })
	req := make([]byte, 64)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := a.Call(ctx, c.Addr(), "echo", req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLinearizableRead measures read barriers per second (no data read:
// the cost is the read-index round trip and the quorum check).
func BenchmarkLinearizableRead(b *testing.B) {
	viaLeaderAndFollower(b, nil, func(n *testNode) error { return n.LinearizableRead(context.Background()) })
}

// BenchmarkLinearizableReadTLS is BenchmarkLinearizableRead with mutual TLS.
func BenchmarkLinearizableReadTLS(b *testing.B) {
	viaLeaderAndFollower(b, tlsBenchConfig(b), func(n *testNode) error { return n.LinearizableRead(context.Background()) })
}
