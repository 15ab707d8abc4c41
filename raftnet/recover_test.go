package raftnet

import (
	"net"
	"strings"
	"testing"
	"time"
)

func freeLoopback(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Every server bootstraps with the same three voters (Consul's
// bootstrap_expect): they elect a leader among them, and once one is gone
// the two others still do, with no configuration change ever made.
func TestBootstrapWithSeveralVoters(t *testing.T) {
	var servers []Server
	var cfgs []Config
	for _, id := range []string{"n1", "n2", "n3"} {
		cfg := testConfig(t, id, true)
		cfg.BindAddr = freeLoopback(t)
		cfgs = append(cfgs, cfg)
		servers = append(servers, Server{ID: id, Address: cfg.BindAddr, Suffrage: Voter})
	}
	var nodes []*testNode
	for _, cfg := range cfgs {
		cfg.BootstrapServers = servers
		nodes = append(nodes, startNode(t, cfg, newTestFSM(false)))
	}
	for _, n := range nodes {
		if s, err := n.Servers(); err != nil || len(s) != 3 || s[0].Suffrage != Voter || s[1].Suffrage != Voter || s[2].Suffrage != Voter {
			t.Fatalf("%s: first configuration %+v, %v", n.ID(), s, err)
		}
	}
	l := waitLeaderAmong(t, nodes...)
	mustApply(t, l, "a")
	l.Shutdown()
	var rest []*testNode
	for _, n := range nodes {
		if n != l {
			rest = append(rest, n)
		}
	}
	mustApply(t, waitLeaderAmong(t, rest...), "b")

	// A list without this node, or naming it at another address, is refused.
	for _, bad := range [][]Server{
		{{ID: "other", Address: "127.0.0.1:1"}},
		{{ID: "n4", Address: "127.0.0.1:1"}},
	} {
		cfg := testConfig(t, "n4", true)
		cfg.BootstrapServers = bad
		if n, err := Open(ctxFor(t, 10*time.Second), cfg, newTestFSM(false)); err == nil {
			n.Shutdown()
			t.Fatalf("bootstrap with %+v accepted", bad)
		}
	}
}

// Two of three voters lost for good: Recover on the survivor's data makes
// it a one-voter cluster again, with every command it held.
func TestRecoverSurvivorOfALostMajority(t *testing.T) {
	nodes := cluster3(t)
	for i := range 3 {
		mustApply(t, nodes[i], "x"+string(rune('0'+i)))
	}
	survivor := nodes[2]
	waitFor(t, 10*time.Second, "the survivor applied everything", func() bool { return survivor.fsm.has("x2") })
	for _, n := range nodes {
		n.Shutdown()
	}
	self := []Server{{ID: survivor.ID(), Address: survivor.cfg.BindAddr}}
	if err := Recover(survivor.cfg, newTestFSM(false), []Server{{ID: "n9", Address: "127.0.0.1:1"}}); err == nil {
		t.Fatal("a configuration without this node was accepted")
	}
	if err := Recover(testConfig(t, "n3", false), newTestFSM(false), self); err == nil {
		t.Fatal("recovering a data dir without state was accepted")
	}
	if err := Recover(survivor.cfg, newTestFSM(false), self); err != nil {
		t.Fatal(err)
	}
	back := startNode(t, survivor.cfg, newTestFSM(false))
	waitLeaderAmong(t, back)
	mustApply(t, back, "after")
	if err := back.LinearizableRead(ctxFor(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(back.fsm.cmds(), ","); got != "x0,x1,x2,after" {
		t.Fatalf("recovered node holds %s", got)
	}
	if s, _ := back.Servers(); len(s) != 1 || s[0].ID != survivor.ID() {
		t.Fatalf("configuration %+v", s)
	}
	// Its data dir is locked while it runs.
	if err := Recover(survivor.cfg, newTestFSM(false), self); err == nil {
		t.Fatal("Recover on a running node's data dir succeeded")
	}
}
