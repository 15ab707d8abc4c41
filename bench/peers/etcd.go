package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The etcd group: Korum's commit path against etcd's (Debian's
// etcd-server, etcd 3.4), both Raft with a write-ahead log and bbolt on the
// same disk.
const (
	rowWrites3    = "3-node writes, 256 clients"
	rowLatency    = "commit latency p50, 1 client on the leader, 3 nodes"
	rowSubscribes = "subscribes to new rooms, 256 clients, 3 nodes"
	rowWrites1    = "one node writes, 64 clients"
)

func init() {
	groups = append(groups, group{name: "etcd", run: runEtcdGroup, ratios: []ratio{
		{Name: "3-node replicated writes, 256 clients (create vs Put)", KorumRow: rowWrites3, Peer: "etcd", PeerRow: rowWrites3,
			Target: 1.0, TargetString: "≥ 1.0×"},
		{Name: "commit latency p50, 1 client, 3 nodes", KorumRow: rowLatency, Peer: "etcd", PeerRow: rowLatency,
			LowerIsBest: true, Target: 1.2, TargetString: "≤ 1.2×"},
		{Name: "one node, 64 clients (create vs Put)", KorumRow: rowWrites1, Peer: "etcd", PeerRow: rowWrites1},
		{Name: "subscribes to new rooms/s vs etcd Puts/s, 256 clients, 3 nodes", KorumRow: rowSubscribes, Peer: "etcd", PeerRow: rowWrites3},
	}})
}

func runEtcdGroup(ctx context.Context, b *bench) error {
	if _, err := exec.LookPath("etcd"); err != nil {
		return fmt.Errorf("etcd not found (apt-get install etcd-server): %w", err)
	}
	out, _ := exec.Command("etcd", "--version").Output()
	fmt.Printf("# %s\n", strings.ReplaceAll(strings.TrimSpace(string(out)), "\n", "; "))
	return b.alternate(ctx, systemRun{"korum", korumEtcdRun}, systemRun{"etcd", etcdRun})
}

// korumEtcdRun measures Korum's side of the etcd rows.
func korumEtcdRun(ctx context.Context, b *bench, run int) error {
	k, err := b.startKorum(ctx, 3, fmt.Sprintf("etcd-%d", run))
	if err != nil {
		return err
	}
	defer k.stop()
	measure := func(row, unit string, args ...string) error {
		load, err := b.quiet(ctx)
		if err != nil {
			return err
		}
		m := b.meter(k.nodes)
		line, rate, p50, err := b.wsload(ctx, append(args, "-duration", b.duration.String())...)
		if err != nil {
			return err
		}
		v := rate
		if unit == "ms" {
			v = p50
		}
		b.record(result{Row: row, System: "korum", Run: run, Value: v, Unit: unit, Load: load,
			Detail: line + " " + m.done(rate*b.duration.Seconds())})
		return nil
	}
	if err := measure(rowWrites3, "/s", "-addr", k.apis(), "-mode", "create", "-clients", "256"); err != nil {
		return err
	}
	leader, err := k.leader()
	if err != nil {
		return err
	}
	if err := measure(rowLatency, "ms", "-addr", leader, "-mode", "create", "-clients", "1"); err != nil {
		return err
	}
	if err := measure(rowSubscribes, "/s", "-addr", k.apis(), "-mode", "subscribe", "-clients", "256"); err != nil {
		return err
	}
	k.stop()

	k1, err := b.startKorum(ctx, 1, fmt.Sprintf("etcd-%d-single", run))
	if err != nil {
		return err
	}
	defer k1.stop()
	k = k1
	return measure(rowWrites1, "/s", "-addr", k1.apis(), "-mode", "create", "-clients", "64")
}

// etcdCluster is etcd on 127.0.0.<ipBase+1..n>, ports 2379 (clients) and
// 2380 (peers).
type etcdCluster struct {
	b     *bench
	dir   string
	nodes []*proc
}

func (b *bench) startEtcd(ctx context.Context, n int, tag string) (*etcdCluster, error) {
	e := &etcdCluster{b: b, dir: filepath.Join(b.work, "etcd-"+tag)}
	if err := os.MkdirAll(e.dir, 0o755); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			e.stop()
		}
	}()
	var initial []string
	for i := 1; i <= n; i++ {
		initial = append(initial, fmt.Sprintf("e%d=%s", i, e.peerURL(i)))
	}
	for i := 1; i <= n; i++ {
		if err := e.startMember(i, initial, "--initial-cluster-state", "new", "--initial-cluster-token", "bench-"+tag); err != nil {
			return nil, err
		}
	}
	for i := 1; i <= n; i++ {
		if err := waitHTTP(ctx, "http://"+e.endpoint(i)+"/health", 30*time.Second); err != nil {
			return nil, err
		}
	}
	ok = true
	return e, nil
}

// startMember starts member e<i> of the cluster initial names
// (name=peer URL, ...), with the further flags given.
func (e *etcdCluster) startMember(i int, initial []string, flags ...string) error {
	client := "http://" + e.endpoint(i)
	p, err := startProc(fmt.Sprintf("etcd%d", i), filepath.Join(e.dir, fmt.Sprintf("e%d.log", i)), append([]string{"etcd",
		"--name", fmt.Sprintf("e%d", i), "--data-dir", filepath.Join(e.dir, fmt.Sprintf("e%d", i)),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", e.peerURL(i), "--initial-advertise-peer-urls", e.peerURL(i),
		"--initial-cluster", strings.Join(initial, ","),
		"--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn"}, flags...)...)
	if err != nil {
		return err
	}
	e.nodes = append(e.nodes, p)
	return nil
}

func (e *etcdCluster) peerURL(i int) string { return "http://" + e.b.ip(i) + ":2380" }

func (e *etcdCluster) endpoint(i int) string { return e.b.ip(i) + ":2379" }

func (e *etcdCluster) endpoints() []string {
	var a []string
	for i := range e.nodes {
		a = append(a, e.endpoint(i+1))
	}
	return a
}

// leader is the client endpoint of the current leader.
func (e *etcdCluster) leader(ctx context.Context) (string, error) {
	c, err := clientv3.New(clientv3.Config{Endpoints: e.endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		return "", err
	}
	defer c.Close()
	for _, ep := range e.endpoints() {
		st, err := c.Status(ctx, ep)
		if err == nil && st.Leader == st.Header.MemberId {
			return ep, nil
		}
	}
	return "", fmt.Errorf("etcd: no leader among %v", e.endpoints())
}

func (e *etcdCluster) stop() {
	for _, p := range e.nodes {
		p.kill()
	}
	os.RemoveAll(e.dir)
}

// etcdRun measures etcd's side of the rows.
func etcdRun(ctx context.Context, b *bench, run int) error {
	e, err := b.startEtcd(ctx, 3, fmt.Sprintf("%d", run))
	if err != nil {
		return err
	}
	defer e.stop()
	measure := func(row, unit string, endpoints []string, clients int) error {
		load, err := b.quiet(ctx)
		if err != nil {
			return err
		}
		m := b.meter(e.nodes)
		st, err := putLoad(ctx, endpoints, clients, b.duration)
		if err != nil {
			return err
		}
		v := st.rate
		if unit == "ms" {
			v = st.p50
		}
		b.record(result{Row: row, System: "etcd", Run: run, Value: v, Unit: unit, Load: load,
			Detail: st.String() + " " + m.done(st.rate*b.duration.Seconds())})
		return nil
	}
	if err := measure(rowWrites3, "/s", e.endpoints(), 256); err != nil {
		return err
	}
	leader, err := e.leader(ctx)
	if err != nil {
		return err
	}
	if err := measure(rowLatency, "ms", []string{leader}, 1); err != nil {
		return err
	}
	e.stop()

	e1, err := b.startEtcd(ctx, 1, fmt.Sprintf("%d-single", run))
	if err != nil {
		return err
	}
	defer e1.stop()
	e = e1
	return measure(rowWrites1, "/s", e1.endpoints(), 64)
}

type loadStats struct {
	clients   int
	rate      float64
	p50, p99  float64 // ms
	errs      int64
	endpoints int
}

func (s loadStats) String() string {
	return fmt.Sprintf("| put | %d clients on %d nodes | %.0f req/s | p50 %.2f ms | p99 %.2f ms | %d errors |",
		s.clients, s.endpoints, s.rate, s.p50, s.p99, s.errs)
}

// putLoad runs clients goroutines, each putting ~100-byte values under keys
// of its own in a closed loop for d, spread over the endpoints: one gRPC
// connection per endpoint and per 32 goroutines, as wsload spreads its
// WebSocket clients over the nodes.
func putLoad(ctx context.Context, endpoints []string, clients int, d time.Duration) (loadStats, error) {
	nconn := max(1, clients/32) * len(endpoints)
	conns := make([]*clientv3.Client, nconn)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	for i := range conns {
		c, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoints[i%len(endpoints)]}, DialTimeout: 5 * time.Second})
		if err != nil {
			return loadStats{}, err
		}
		conns[i] = c
	}
	// The connections are ready before the clock starts.
	for _, c := range conns {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := c.Put(cctx, "warmup", "x")
		cancel()
		if err != nil {
			return loadStats{}, fmt.Errorf("etcd warm-up put: %w", err)
		}
	}
	value := strings.Repeat("v", 100)
	var mu sync.Mutex
	var lat []time.Duration
	var errs atomic.Int64
	stop := time.Now().Add(d)
	t0 := time.Now()
	var wg sync.WaitGroup
	for i := range clients {
		c := conns[i%nconn]
		wg.Go(func() {
			var mine []time.Duration
			for n := 0; time.Now().Before(stop); n++ {
				t := time.Now()
				cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				_, err := c.Put(cctx, fmt.Sprintf("bench/%d/%d", i, n), value)
				cancel()
				if err != nil {
					errs.Add(1)
					continue
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	el := time.Since(t0)
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) / 1000
	}
	return loadStats{clients: clients, endpoints: len(endpoints), rate: float64(len(lat)) / el.Seconds(),
		p50: pct(0.5), p99: pct(0.99), errs: errs.Load()}, ctx.Err()
}
