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
	viaLeaderAndFollower(b, func(n *testNode) error {
		_, err := n.Apply(context.Background(), cmd)
		return err
	})
}

// viaLeaderAndFollower runs op b.N times on a 3-node cluster, through the
// leader and through a follower, with 1 and with 64 concurrent callers,
// and reports operations per second.
func viaLeaderAndFollower(b *testing.B, op func(*testNode) error) {
	nodes := cluster3With(b, func() *testFSM { return &testFSM{disk: &testDisk{}, countOnly: true} })
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
	a := startNode(b, testConfig(b, "a", false), newTestFSM(false))
	c := startNode(b, testConfig(b, "c", false), newTestFSM(false))
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
	viaLeaderAndFollower(b, func(n *testNode) error { return n.LinearizableRead(context.Background()) })
}
