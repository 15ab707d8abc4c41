package raftnet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestSingleNodeBootstrapApply(t *testing.T) {
	n := startNode(t, testConfig(t, "solo", true), newTestFSM(false))
	waitLeaderAmong(t, n)

	mustApply(t, n, "a")
	mustApply(t, n, "b")
	if got := strings.Join(n.fsm.cmds(), ","); got != "a,b" {
		t.Fatalf("fsm holds %q, want a,b", got)
	}

	_, err := n.Apply(ctxFor(t, 5*time.Second), []byte("fail"))
	var fe *FSMError
	if !errors.As(err, &fe) || fe.Msg != "refused: fail" {
		t.Fatalf("apply of a command the FSM refuses: got %v, want *FSMError", err)
	}
	if err := n.LinearizableRead(ctxFor(t, 5*time.Second)); err != nil {
		t.Fatalf("linearizable read on leader: %v", err)
	}
	st := n.Stats()
	if st.State != "Leader" || st.LeaderID != "solo" || st.AppliedIndex < 3 || st.Term == 0 {
		t.Fatalf("unexpected stats %+v", st)
	}
	srv, err := n.Servers()
	if err != nil || len(srv) != 1 || srv[0] != (Server{ID: "solo", Address: n.Addr(), Suffrage: Voter}) {
		t.Fatalf("servers = %+v, %v", srv, err)
	}
}

func TestEmptySecretOnlyOnLoopback(t *testing.T) {
	cfg := testConfig(t, "x", true)
	cfg.Secret = ""
	cfg.BindAddr = "0.0.0.0:0"
	if _, err := Open(context.Background(), cfg, newTestFSM(false)); err == nil {
		t.Fatal("Open accepted an empty secret on a non-loopback address")
	}
	// On loopback it is a development convenience and works.
	cfg.BindAddr = "127.0.0.1:0"
	n := startNode(t, cfg, newTestFSM(false))
	waitLeaderAmong(t, n)
	mustApply(t, n, "dev")
}

func TestThreeNodesForwardedApply(t *testing.T) {
	nodes := cluster3(t)
	srv, err := nodes[0].Servers()
	if err != nil || len(srv) != 3 {
		t.Fatalf("servers = %+v, %v", srv, err)
	}
	for _, s := range srv {
		if s.Suffrage != Voter {
			t.Fatalf("%s joined as %s, want voter", s.ID, s.Suffrage)
		}
	}

	f := followerOf(nodes)
	res := mustApply(t, f, "from-follower")
	t.Logf("forwarded result: %s", res)

	// The FSM error travels back through the forward as an *FSMError too.
	_, err = f.Apply(ctxFor(t, 5*time.Second), []byte("fail"))
	var fe *FSMError
	if !errors.As(err, &fe) {
		t.Fatalf("forwarded failing command: got %v, want *FSMError", err)
	}

	for _, n := range nodes {
		waitFor(t, 10*time.Second, n.ID()+" applies the forwarded command", func() bool { return n.fsm.has("from-follower") })
	}
}

func TestConcurrentForwardedApplies(t *testing.T) {
	nodes := cluster3(t)
	f := followerOf(nodes)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := fmt.Sprintf("c%d", i)
			res, err := f.Apply(ctxFor(t, 15*time.Second), []byte(cmd))
			if err == nil && !strings.HasPrefix(string(res), "applied "+cmd+" ") {
				err = fmt.Errorf("result %q for %s", res, cmd)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := f.LinearizableRead(ctxFor(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := len(f.fsm.cmds()); got != 40 {
		t.Fatalf("follower FSM has %d commands after a linearizable read, want 40", got)
	}
}

func TestLinearizableReadOnFollower(t *testing.T) {
	nodes := cluster3(t)
	leader := waitLeaderAmong(t, nodes...)
	f := followerOf(nodes)
	for i := range 20 {
		cmd := fmt.Sprintf("w%d", i)
		mustApply(t, leader, cmd)
		// The write was acknowledged before the read began, so the read must
		// see it — without any wait of ours.
		if err := f.LinearizableRead(ctxFor(t, 5*time.Second)); err != nil {
			t.Fatalf("read %d on follower: %v", i, err)
		}
		if !f.fsm.has(cmd) {
			t.Fatalf("follower missed %s after a linearizable read (has %v)", cmd, f.fsm.cmds())
		}
	}
}

func TestLeaderShutdownFailover(t *testing.T) {
	nodes := cluster3(t)
	old := waitLeaderAmong(t, nodes...)
	mustApply(t, old, "before")
	var survivors []*testNode
	for _, n := range nodes {
		if n != old {
			survivors = append(survivors, n)
		}
	}
	if err := old.Shutdown(); err != nil {
		t.Fatalf("shutdown leader: %v", err)
	}
	newLeader := waitLeaderAmong(t, survivors...)
	t.Logf("new leader %s", newLeader.ID())
	// Each survivor remembers the change: the old leader, then the new one
	// in a later term.
	for _, n := range survivors {
		waitFor(t, 10*time.Second, n.ID()+" to log the new leader", func() bool {
			log := n.LeaderChanges()
			return len(log) > 0 && log[len(log)-1].LeaderID == newLeader.ID()
		})
		log := n.LeaderChanges()
		oldAt := -1
		for i, c := range log {
			if c.LeaderID == old.ID() {
				oldAt = i
			}
		}
		if oldAt < 0 || log[len(log)-1].Term <= log[oldAt].Term || log[len(log)-1].Time.Before(log[oldAt].Time) {
			t.Fatalf("%s's leader changes %+v: want %s, then %s in a later term", n.ID(), log, old.ID(), newLeader.ID())
		}
	}
	for i, n := range survivors {
		mustApply(t, n, fmt.Sprintf("after-%d", i))
	}
	for _, n := range survivors {
		if err := n.LinearizableRead(ctxFor(t, 10*time.Second)); err != nil {
			t.Fatalf("read on %s: %v", n.ID(), err)
		}
		for _, c := range []string{"before", "after-0", "after-1"} {
			if !n.fsm.has(c) {
				t.Fatalf("%s lacks %s after failover: %v", n.ID(), c, n.fsm.cmds())
			}
		}
	}
}

func TestApplyWithoutLeaderFailsWithErrNoLeader(t *testing.T) {
	cfg := testConfig(t, "lonely", false) // never bootstrapped: no leader ever
	cfg.LeaderWait = 300 * time.Millisecond
	n := startNode(t, cfg, newTestFSM(false))
	if _, _, err := n.WaitLeader(context.Background()); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("WaitLeader: got %v, want ErrNoLeader", err)
	}
	_, err := n.Apply(context.Background(), []byte("x"))
	if !errors.Is(err, ErrNoLeader) {
		t.Fatalf("got %v, want ErrNoLeader", err)
	}
	if err := n.LinearizableRead(ctxFor(t, 200*time.Millisecond)); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("read: got %v, want ErrNoLeader", err)
	}
}

func TestRestartRejoinsWithState(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		persistent, keepDisk bool
	}{
		{"in-memory FSM", false, false},
		{"persistent FSM", true, true},
		{"persistent FSM that lost its disk", true, false},
	} {
		persistent := tc.persistent
		t.Run(tc.name, func(t *testing.T) {
			nodes := cluster3(t)
			leader := waitLeaderAmong(t, nodes...)
			var victim *testNode
			for _, n := range nodes {
				if n != leader {
					victim = n
					break
				}
			}
			for i := range 5 {
				mustApply(t, leader, fmt.Sprintf("a%d", i))
			}
			waitFor(t, 10*time.Second, "victim catches up", func() bool { return victim.fsm.has("a4") })
			// A snapshot before the restart exercises restore-on-start (or,
			// for a persistent FSM, skipping it and replaying only the tail).
			if err := victim.Raft().Snapshot().Error(); err != nil {
				t.Fatalf("snapshot: %v", err)
			}
			mustApply(t, leader, "a5")
			waitFor(t, 10*time.Second, "victim applies a5", func() bool { return victim.fsm.has("a5") })
			if err := victim.Shutdown(); err != nil {
				t.Fatal(err)
			}
			mustApply(t, leader, "while-down")

			cfg := victim.cfg
			cfg.Bootstrap = true // must be ignored: there is state
			fsm := newTestFSM(persistent)
			if tc.keepDisk {
				fsm.disk = victim.fsm.disk // the "disk" survives the restart
			}
			cfg.FSMIsPersistent = persistent
			back := startNode(t, cfg, fsm)
			if err := back.LinearizableRead(ctxFor(t, 15*time.Second)); err != nil {
				t.Fatalf("read after restart: %v", err)
			}
			want := "a0,a1,a2,a3,a4,a5,while-down"
			if got := strings.Join(back.fsm.cmds(), ","); got != want {
				t.Fatalf("restarted node has %s, want %s", got, want)
			}
			mustApply(t, back, "after-restart")
			srv, _ := back.Servers()
			if len(srv) != 3 {
				t.Fatalf("configuration after restart: %+v", srv)
			}
		})
	}
}

func TestJoinPromoteRemove(t *testing.T) {
	n1 := startNode(t, testConfig(t, "n1", true), newTestFSM(false))
	waitLeaderAmong(t, n1)
	n2 := startNode(t, testConfig(t, "n2", false), newTestFSM(false))
	if err := n2.JoinCluster(ctxFor(t, 10*time.Second), []string{n1.Addr()}, false); err != nil {
		t.Fatal(err)
	}
	suffrage := func(id string) Suffrage {
		srv, err := n1.Servers()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range srv {
			if s.ID == id {
				return s.Suffrage
			}
		}
		return ""
	}
	if s := suffrage("n2"); s != Nonvoter {
		t.Fatalf("n2 is %q, want nonvoter", s)
	}
	mustApply(t, n2, "via-nonvoter") // forwarded from a non-voter
	if err := n2.Promote(ctxFor(t, 10*time.Second), "n2"); err != nil {
		t.Fatalf("promote (forwarded): %v", err)
	}
	if s := suffrage("n2"); s != Voter {
		t.Fatalf("n2 is %q after promote, want voter", s)
	}
	// Joining again is a no-op.
	if err := n2.JoinCluster(ctxFor(t, 10*time.Second), []string{n1.Addr()}, true); err != nil {
		t.Fatal(err)
	}

	// A new incarnation of n2 (same id, new address) replaces the stale entry.
	if err := n2.Shutdown(); err != nil {
		t.Fatal(err)
	}
	n2b := startNode(t, testConfig(t, "n2", false), newTestFSM(false))
	if err := n2b.JoinCluster(ctxFor(t, 15*time.Second), []string{n1.Addr()}, true); err != nil {
		t.Fatalf("rejoin with new address: %v", err)
	}
	srv, _ := n1.Servers()
	if len(srv) != 2 || suffrage("n2") != Voter {
		t.Fatalf("servers after rejoin: %+v", srv)
	}
	for _, s := range srv {
		if s.ID == "n2" && s.Address != n2b.Addr() {
			t.Fatalf("n2 still at stale address %s", s.Address)
		}
	}
	waitFor(t, 15*time.Second, "new n2 catches up", func() bool { return n2b.fsm.has("via-nonvoter") })

	if err := n1.Remove(ctxFor(t, 10*time.Second), "n2"); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if s := suffrage("n2"); s != "" {
		t.Fatalf("n2 still in configuration as %q", s)
	}
	mustApply(t, n1, "alone-again")
}

func TestLeadershipTransfer(t *testing.T) {
	nodes := cluster3(t)
	old := waitLeaderAmong(t, nodes...)
	if err := old.LeadershipTransfer(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "another leader", func() bool {
		for _, n := range nodes {
			if n != old && n.IsLeader() {
				return true
			}
		}
		return false
	})
	mustApply(t, old, "after-transfer") // now forwarded
}

func TestFSMResultTypeIsChecked(t *testing.T) {
	a := newFSMAdapter(badFSM{newTestFSM(false)})
	got := a.ApplyBatch([]*raft.Log{{Index: 1, Type: raft.LogCommand, Data: []byte("x")}})
	if _, ok := got[0].(error); !ok {
		t.Fatalf("non-[]byte result passed through: %#v", got[0])
	}
}

type badFSM struct{ *testFSM }

func (badFSM) ApplyBatch(logs []*raft.Log) []any { return []any{42} }

// A caller that stops waiting gets ErrUnknownOutcome, and indeed the command
// still commits: the error must not be read as "not applied".
func TestCancelledApplyIsUnknownOutcome(t *testing.T) {
	gate := make(chan struct{})
	nodes := cluster3With(t, func() *testFSM { f := newTestFSM(false); f.gate = gate; return f })
	defer func() {
		select {
		case <-gate:
		default:
			close(gate)
		}
	}()
	for _, n := range []*testNode{waitLeaderAmong(t, nodes...), followerOf(nodes)} {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err := n.Apply(ctx, []byte("slow"))
		cancel()
		if !errors.Is(err, ErrUnknownOutcome) {
			t.Fatalf("apply via %s abandoned mid-way: got %v, want ErrUnknownOutcome", n.ID(), err)
		}
	}
	close(gate)
	for _, n := range nodes {
		waitFor(t, 10*time.Second, n.ID()+" applies the abandoned commands", func() bool {
			c := 0
			for _, cmd := range n.fsm.cmds() {
				if cmd == "slow" {
					c++
				}
			}
			return c == 2
		})
	}
}

// All nodes stopped and started again on their data dirs (Bootstrap still
// set on n1) form the same cluster with the same state.
func TestFullClusterRestart(t *testing.T) {
	nodes := cluster3(t)
	for i := range 3 {
		mustApply(t, nodes[i], fmt.Sprintf("x%d", i))
	}
	for _, n := range nodes {
		if err := n.LinearizableRead(ctxFor(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		if err := n.Shutdown(); err != nil {
			t.Fatal(err)
		}
	}
	var back []*testNode
	for _, n := range nodes {
		back = append(back, startNode(t, n.cfg, newTestFSM(false)))
	}
	waitLeaderAmong(t, back...)
	mustApply(t, back[2], "after")
	for _, n := range back {
		if err := n.LinearizableRead(ctxFor(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(n.fsm.cmds(), ","); got != "x0,x1,x2,after" {
			t.Fatalf("%s has %s after a full restart", n.ID(), got)
		}
		if srv, _ := n.Servers(); len(srv) != 3 {
			t.Fatalf("%s configuration %+v", n.ID(), srv)
		}
	}
}

// A leader cut off from its quorum must not serve a linearizable read, nor
// accept a write as committed.
func TestIsolatedLeaderRefusesReadsAndWrites(t *testing.T) {
	nodes := cluster3(t)
	leader := waitLeaderAmong(t, nodes...)
	mustApply(t, leader, "before")
	for _, n := range nodes {
		if n != leader {
			if err := n.Shutdown(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := leader.LinearizableRead(ctxFor(t, 1500*time.Millisecond)); err == nil {
		t.Fatal("isolated leader served a linearizable read")
	} else if !errors.Is(err, ErrNoLeader) {
		t.Fatalf("isolated read: got %v, want ErrNoLeader", err)
	}
	_, err := leader.Apply(ctxFor(t, 1500*time.Millisecond), []byte("lost"))
	if err == nil {
		t.Fatal("isolated leader acknowledged a write")
	}
	if !errors.Is(err, ErrNoLeader) && !errors.Is(err, ErrUnknownOutcome) {
		t.Fatalf("isolated write: got %v, want ErrNoLeader or ErrUnknownOutcome", err)
	}
}
