package raftnet

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// A planted seed makes the node's first start found a one-voter cluster
// holding the seed's state, at its own address, whose new entries follow
// the seed's index and term; a node joining it receives that state.
func TestSeedFoundsANewCluster(t *testing.T) {
	state, _ := json.Marshal(testDisk{Applied: 500, Cmds: []string{"old1", "old2"}, Indexes: []uint64{400, 500}})
	cfg := testConfig(t, "r1", false)
	if err := PlantSeed(cfg.DataDir, 500, 7, bytes.NewReader(state)); err != nil {
		t.Fatal(err)
	}
	if has, err := HasState(cfg.DataDir); err != nil || !has {
		t.Fatalf("a planted seed is state: %v %v", has, err)
	}
	if err := PlantSeed(cfg.DataDir, 500, 7, bytes.NewReader(state)); err == nil {
		t.Fatal("planting twice succeeded")
	}
	n := startNode(t, cfg, newTestFSM(true))
	waitLeaderAmong(t, n)
	if got := strings.Join(n.fsm.cmds(), ","); got != "old1,old2" {
		t.Fatalf("restored commands %s", got)
	}
	res := mustApply(t, n, "new")
	if !strings.Contains(string(res), "at 50") || n.fsm.AppliedIndex() <= 500 {
		t.Fatalf("first new entry: %s, applied %d", res, n.fsm.AppliedIndex())
	}
	if term := n.Stats().Term; term <= 7 {
		t.Fatalf("term %d, want past the seed's 7", term)
	}
	if s, err := n.Servers(); err != nil || len(s) != 1 || s[0].ID != "r1" || s[0].Address != n.Addr() {
		t.Fatalf("configuration %+v %v, want r1 alone at %s", s, err, n.Addr())
	}
	j := startNode(t, testConfig(t, "r2", false), newTestFSM(true))
	if err := j.JoinCluster(ctxFor(t, 15*time.Second), []string{n.Addr()}, true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the joiner holds the restored state", func() bool {
		return strings.Join(j.fsm.cmds(), ",") == "old1,old2,new"
	})

	// Restarted, the node keeps its state; the seed is gone.
	n.Shutdown()
	if seed, err := readSeed(cfg.DataDir + "/raft"); err != nil || seed != nil {
		t.Fatalf("seed still there: %+v %v", seed, err)
	}
	if err := PlantSeed(cfg.DataDir, 500, 7, bytes.NewReader(state)); err == nil {
		t.Fatal("planting into a data dir with Raft state succeeded")
	}
}
