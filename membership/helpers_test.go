package membership

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/redis/go-redis/v9"

	"github.com/korumdb/korum/raftnet"
)

// countFSM is the smallest FSM raftnet accepts: it only counts.
type countFSM struct{ applied atomic.Uint64 }

func (f *countFSM) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }
func (f *countFSM) ApplyBatch(logs []*raft.Log) []any {
	for _, l := range logs {
		f.applied.Store(l.Index)
	}
	return make([]any, len(logs))
}
func (f *countFSM) AppliedIndex() uint64 { return f.applied.Load() }
func (f *countFSM) Snapshot() (raft.FSMSnapshot, error) {
	return snap(f.applied.Load()), nil
}
func (f *countFSM) Restore(r io.ReadCloser) error {
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	n, err := strconv.ParseUint(string(b), 10, 64)
	f.applied.Store(n)
	return err
}

type snap uint64

func (s snap) Persist(sink raft.SnapshotSink) error {
	if _, err := fmt.Fprint(sink, uint64(s)); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}
func (snap) Release() {}

// testLogger logs Warn and above to the test log (everything with
// KORUM_TEST_LOG set), and stays quiet after the test ended.
func testLogger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("KORUM_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	w := &tlog{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type tlog struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *tlog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(string(p[:len(p)-1]))
	}
	return len(p), nil
}

// freeAddr returns ip:port with a port that was free a moment ago.
func freeAddr(t testing.TB, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatalf("listen on %s: %v", ip, err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// testRedis is a real redis-server on a loopback port.
type testRedis struct {
	t    testing.TB
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

const redisBin = "/usr/bin/redis-server"

func startRedis(t testing.TB) *testRedis {
	t.Helper()
	if _, err := os.Stat(redisBin); err != nil {
		t.Skipf("skipping: %s not found (install redis-server to run the Redis discovery tests)", redisBin)
	}
	r := &testRedis{t: t, addr: freeAddr(t, "127.0.0.1")}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *testRedis) url() string { return "redis://" + r.addr }

func (r *testRedis) start() {
	r.t.Helper()
	_, port, _ := net.SplitHostPort(r.addr)
	r.cmd = exec.Command(redisBin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis: %v", err)
	}
	r.done = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { c.Wait(); close(done) }(r.cmd, r.done)
	cli := redis.NewClient(&redis.Options{Addr: r.addr, DisableIdentity: true})
	defer cli.Close()
	waitFor(r.t, 10*time.Second, "redis answers", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		return cli.Ping(ctx).Err() == nil
	})
}

func (r *testRedis) stop() {
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tnode is one in-process node: raftnet plus membership.
type tnode struct {
	t       testing.TB
	cfg     Config
	plan    *Plan
	rn      *raftnet.Node
	m       *Manager
	evicted chan string
	stopped bool
}

// testConfig gives node i its own IP (127.0.0.<10+i>) and fast timings.
func testConfig(t testing.TB, i int, redisURL string) Config {
	ip := fmt.Sprintf("127.0.0.%d", 10+i)
	return Config{
		NodeID: fmt.Sprintf("n%d", i), DataDir: t.TempDir(), ClusterAddr: freeAddr(t, ip), APIAddr: ip + ":7512",
		RedisURL: redisURL, Heartbeat: 200 * time.Millisecond, JoinTimeout: 15 * time.Second,
		QuorumContactTimeout: 3 * time.Second, DeadNodeTimeout: time.Minute, Stabilization: 300 * time.Millisecond,
		Logger: testLogger(t),
	}
}

func startNode(t testing.TB, cfg Config) (*tnode, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	plan, err := Prepare(ctx, cfg)
	if err != nil {
		return nil, err
	}
	rn, err := raftnet.Open(ctx, raftnet.Config{NodeID: cfg.NodeID, DataDir: cfg.DataDir, BindAddr: cfg.ClusterAddr,
		Bootstrap: plan.Bootstrap, BootstrapServers: plan.BootstrapServers, Logger: cfg.Logger}, &countFSM{})
	if err != nil {
		plan.Done()
		return nil, err
	}
	n := &tnode{t: t, cfg: cfg, plan: plan, rn: rn, evicted: make(chan string, 16)}
	n.m, err = Start(ctx, cfg, plan, rn, Hooks{Evicted: func(_ context.Context, id, reason string) {
		n.evicted <- id
	}})
	if err != nil {
		rn.Shutdown()
		return nil, err
	}
	t.Cleanup(n.crash)
	return n, nil
}

func mustStart(t testing.TB, cfg Config) *tnode {
	t.Helper()
	n, err := startNode(t, cfg)
	if err != nil {
		t.Fatalf("start %s: %v", cfg.NodeID, err)
	}
	return n
}

// crash stops the node without leaving: its ID card stays until its TTL.
func (n *tnode) crash() {
	if n.stopped {
		return
	}
	n.stopped = true
	n.m.Close()
	n.rn.Shutdown()
}

func (n *tnode) servers() map[string]raftnet.Suffrage {
	out := map[string]raftnet.Suffrage{}
	ss, err := n.rn.Servers()
	if err != nil {
		return nil
	}
	for _, s := range ss {
		out[s.ID] = s.Suffrage
	}
	return out
}

func voters(s map[string]raftnet.Suffrage) int {
	v := 0
	for _, x := range s {
		if x == raftnet.Voter {
			v++
		}
	}
	return v
}

// leaderOf returns the node among ns that leads, once all live ones agree.
func leaderOf(t testing.TB, ns ...*tnode) *tnode {
	t.Helper()
	var l *tnode
	waitFor(t, 15*time.Second, "a leader all live nodes agree on", func() bool {
		l = nil
		id := ""
		for _, n := range ns {
			if n.stopped {
				continue
			}
			lid, _ := n.rn.Leader()
			if lid == "" || (id != "" && lid != id) {
				return false
			}
			id = lid
		}
		for _, n := range ns {
			if n.cfg.NodeID == id && !n.stopped {
				l = n
			}
		}
		return l != nil
	})
	return l
}

func noFatal(t testing.TB, ns ...*tnode) {
	t.Helper()
	for _, n := range ns {
		select {
		case e := <-n.m.Fatal():
			t.Fatalf("%s: unexpected exit verdict: %+v", n.cfg.NodeID, e)
		default:
		}
	}
}

func expectExit(t testing.TB, n *tnode, code int, within time.Duration) *Exit {
	t.Helper()
	select {
	case e := <-n.m.Fatal():
		if e.Code != code {
			t.Fatalf("%s: exit code %d (%s), want %d", n.cfg.NodeID, e.Code, e.Reason, code)
		}
		return e
	case <-time.After(within):
		t.Fatalf("%s: no exit verdict within %s (want code %d)", n.cfg.NodeID, within, code)
	}
	return nil
}
