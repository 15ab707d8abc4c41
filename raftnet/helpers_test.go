package raftnet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// testFSM is an append-only list of commands. Its state lives in a testDisk
// so a "persistent" FSM can survive a node restart the way a bbolt FSM would.
type testFSM struct {
	disk       *testDisk
	persistent bool
	countOnly  bool          // benchmarks: keep snapshots cheap by not storing commands
	gate       chan struct{} // if set, the command "slow" waits for it to close
}

type testDisk struct {
	mu      sync.Mutex
	Applied uint64
	Cmds    []string
	Indexes []uint64 // log index of each command, to detect double applies
}

func newTestFSM(persistent bool) *testFSM {
	return &testFSM{disk: &testDisk{}, persistent: persistent}
}

func (f *testFSM) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

func (f *testFSM) ApplyBatch(logs []*raft.Log) []any {
	d := f.disk
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]any, len(logs))
	for i, l := range logs {
		if l.Index <= d.Applied {
			continue // replayed after a restart: already in our state
		}
		d.Applied = l.Index
		if l.Type != raft.LogCommand {
			continue
		}
		cmd := string(l.Data)
		if cmd == "slow" && f.gate != nil {
			<-f.gate
		}
		if cmd == "fail" {
			out[i] = errors.New("refused: fail")
			continue
		}
		if !f.countOnly {
			d.Cmds = append(d.Cmds, cmd)
			d.Indexes = append(d.Indexes, l.Index)
		}
		out[i] = []byte(fmt.Sprintf("applied %s at %d", cmd, l.Index))
	}
	return out
}

func (f *testFSM) AppliedIndex() uint64 {
	f.disk.mu.Lock()
	defer f.disk.mu.Unlock()
	return f.disk.Applied
}

func (f *testFSM) cmds() []string {
	f.disk.mu.Lock()
	defer f.disk.mu.Unlock()
	return append([]string(nil), f.disk.Cmds...)
}

func (f *testFSM) has(cmd string) bool {
	for _, c := range f.cmds() {
		if c == cmd {
			return true
		}
	}
	return false
}

func (f *testFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.disk.mu.Lock()
	defer f.disk.mu.Unlock()
	b, err := json.Marshal(f.disk)
	return snapBytes(b), err
}

func (f *testFSM) Restore(r io.ReadCloser) error {
	defer r.Close()
	var d testDisk
	if err := json.NewDecoder(r).Decode(&d); err != nil {
		return err
	}
	f.disk.mu.Lock()
	defer f.disk.mu.Unlock()
	f.disk.Applied, f.disk.Cmds, f.disk.Indexes = d.Applied, d.Cmds, d.Indexes
	return nil
}

type snapBytes []byte

func (s snapBytes) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}
func (snapBytes) Release() {}

// testLogger writes to the test log (Warn and above unless KORUM_TEST_LOG is
// set), and stays quiet once the test is over so late Raft goroutines cannot
// panic the test binary.
func testLogger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("KORUM_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	w := &tlogWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type tlogWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *tlogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

const testSecret = "correct horse battery staple"

type testNode struct {
	*Node
	fsm *testFSM
	cfg Config
}

func testConfig(t testing.TB, id string, bootstrap bool) Config {
	return Config{
		NodeID:    id,
		DataDir:   t.TempDir(),
		BindAddr:  "127.0.0.1:0",
		Secret:    testSecret,
		Bootstrap: bootstrap,
		Logger:    testLogger(t),
	}
}

func startNode(t testing.TB, cfg Config, fsm *testFSM) *testNode {
	t.Helper()
	n, err := Open(context.Background(), cfg, fsm)
	if err != nil {
		t.Fatalf("open %s: %v", cfg.NodeID, err)
	}
	t.Cleanup(func() { n.Shutdown() })
	// Pin the OS-chosen port so a restart comes back on the same address.
	cfg.BindAddr = n.Addr()
	return &testNode{Node: n, fsm: fsm, cfg: cfg}
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitLeaderAmong(t testing.TB, nodes ...*testNode) *testNode {
	t.Helper()
	var leader *testNode
	waitFor(t, 15*time.Second, "a leader", func() bool {
		for _, n := range nodes {
			if n.IsLeader() {
				leader = n
				return true
			}
		}
		return false
	})
	return leader
}

// cluster3 bootstraps n1 and joins n2 through n1 and n3 through n2 (a
// follower, so the join is forwarded).
func cluster3(t testing.TB) []*testNode {
	t.Helper()
	return cluster3With(t, func() *testFSM { return newTestFSM(false) })
}

func cluster3With(t testing.TB, newFSM func() *testFSM) []*testNode {
	t.Helper()
	return cluster3Configs(t, func(id string, bootstrap bool) Config { return testConfig(t, id, bootstrap) }, newFSM)
}

// cluster3Configs is cluster3With with each node's configuration from cfg.
func cluster3Configs(t testing.TB, cfg func(id string, bootstrap bool) Config, newFSM func() *testFSM) []*testNode {
	t.Helper()
	n1 := startNode(t, cfg("n1", true), newFSM())
	waitLeaderAmong(t, n1)
	n2 := startNode(t, cfg("n2", false), newFSM())
	if err := n2.JoinCluster(ctxFor(t, 15*time.Second), []string{n1.Addr()}, true); err != nil {
		t.Fatalf("join n2: %v", err)
	}
	n3 := startNode(t, cfg("n3", false), newFSM())
	if err := JoinCluster(ctxFor(t, 15*time.Second), n3.cfg, []string{n2.Addr()}, true); err != nil {
		t.Fatalf("join n3 via follower n2: %v", err)
	}
	nodes := []*testNode{n1, n2, n3}
	for _, n := range nodes {
		waitFor(t, 10*time.Second, n.ID()+" knows the leader", func() bool { id, _ := n.Leader(); return id != "" })
	}
	return nodes
}

func followerOf(nodes []*testNode) *testNode {
	for _, n := range nodes {
		if !n.IsLeader() {
			return n
		}
	}
	return nil
}

func mustApply(t testing.TB, n *testNode, cmd string) []byte {
	t.Helper()
	res, err := n.Apply(ctxFor(t, 10*time.Second), []byte(cmd))
	if err != nil {
		t.Fatalf("apply %q on %s: %v", cmd, n.ID(), err)
	}
	if !bytes.HasPrefix(res, []byte("applied "+cmd+" at ")) {
		t.Fatalf("apply %q on %s: result %q", cmd, n.ID(), res)
	}
	return res
}

// rawDial opens a TCP connection to addr without any handshake.
func rawDial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// checkUndisturbed asserts that rejected intruders left the cluster as it
// was: same leader and term, the same members, still writable, and the
// rejections counted.
func checkUndisturbed(t testing.TB, nodes []*testNode, leader *testNode, termBefore uint64) {
	t.Helper()
	if !leader.IsLeader() || leader.Stats().Term != termBefore {
		t.Fatalf("cluster disturbed: leader=%v term %d→%d", leader.IsLeader(), termBefore, leader.Stats().Term)
	}
	srv, _ := leader.Servers()
	if len(srv) != len(nodes) {
		t.Fatalf("configuration changed: %+v", srv)
	}
	mustApply(t, leader, "after")
	var rejected uint64
	for _, n := range nodes {
		rejected += n.Stats().AuthFailures
	}
	if rejected == 0 {
		t.Fatal("no rejected handshake was counted")
	}
}
