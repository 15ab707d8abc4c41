package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The join row: a fourth node joins a 3-node cluster whose replicated state
// holds joinItems items (Korum: realtime rooms, kept open by a wsload
// process; etcd: keys of ~100 bytes), timed from its start (etcd: from the
// member add that must precede it) to its readiness (Korum's /_ready; etcd's
// /health, a linearizable read through the new member, so after it caught
// up).
const (
	rowJoin   = "a 4th node joining 3 holding 100,000 rooms (etcd: keys), start to ready"
	joinItems = 100000
)

func init() {
	groups = append(groups, group{name: "join", run: runJoinGroup, ratios: []ratio{
		{Name: "a 4th node joining, 100,000 rooms vs 100,000 etcd keys: time to ready", KorumRow: rowJoin, Peer: "etcd",
			PeerRow: rowJoin, LowerIsBest: true},
	}})
}

func runJoinGroup(ctx context.Context, b *bench) error {
	return b.alternate(ctx, systemRun{"korum", korumJoinRun}, systemRun{"etcd", etcdJoinRun})
}

func korumJoinRun(ctx context.Context, b *bench, run int) error {
	k, err := b.startKorum(ctx, 3, fmt.Sprintf("join-%d", run))
	if err != nil {
		return err
	}
	defer k.stop()
	out := filepath.Join(k.dir, "rooms.log")
	hold, err := startProc("rooms", out, filepath.Join(b.root, "bin/wsload"), "-addr", k.apis(), "-mode", "rooms",
		"-rooms", fmt.Sprint(joinItems), "-clients", "32", "-hold", "1h")
	if err != nil {
		return err
	}
	defer hold.kill()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		if data, _ := os.ReadFile(out); strings.Contains(string(data), "| rooms") {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("korum: the rooms were not all created: see %s", out)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	load, err := b.quiet(ctx)
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := k.startNode(4); err != nil {
		return err
	}
	if err := waitHTTP(ctx, "http://"+k.api(4)+"/_ready", 60*time.Second); err != nil {
		return err
	}
	took := time.Since(t0)
	b.record(result{Row: rowJoin, System: "korum", Run: run, Value: float64(took.Microseconds()) / 1000, Unit: "ms",
		Load: load, Detail: fmt.Sprintf("| join | %d rooms held | ready after %v |", joinItems, took.Round(time.Millisecond))})
	return nil
}

func etcdJoinRun(ctx context.Context, b *bench, run int) error {
	e, err := b.startEtcd(ctx, 3, fmt.Sprintf("join-%d", run))
	if err != nil {
		return err
	}
	defer e.stop()
	c, err := clientv3.New(clientv3.Config{Endpoints: e.endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := fillEtcd(ctx, c, joinItems); err != nil {
		return err
	}
	load, err := b.quiet(ctx)
	if err != nil {
		return err
	}
	t0 := time.Now()
	added, err := c.MemberAdd(ctx, []string{e.peerURL(4)})
	if err != nil {
		return fmt.Errorf("etcd member add: %w", err)
	}
	var initial []string
	for _, m := range added.Members {
		name := m.Name
		if m.ID == added.Member.ID {
			name = "e4"
		}
		for _, u := range m.PeerURLs {
			initial = append(initial, name+"="+u)
		}
	}
	if err := e.startMember(4, initial, "--initial-cluster-state", "existing"); err != nil {
		return err
	}
	if err := waitHTTPBody(ctx, "http://"+e.endpoint(4)+"/health", `"health":"true"`, 60*time.Second); err != nil {
		return err
	}
	took := time.Since(t0)
	b.record(result{Row: rowJoin, System: "etcd", Run: run, Value: float64(took.Microseconds()) / 1000, Unit: "ms",
		Load: load, Detail: fmt.Sprintf("| join | %d keys | healthy after %v |", joinItems, took.Round(time.Millisecond))})
	return nil
}

// fillEtcd puts n keys of ~100 bytes with 64 goroutines.
func fillEtcd(ctx context.Context, c *clientv3.Client, n int) error {
	value := strings.Repeat("v", 100)
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range 64 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				_, err := c.Put(cctx, fmt.Sprintf("room/%08d", i), value)
				cancel()
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("etcd fill: %w", err)
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}
