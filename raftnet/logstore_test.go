package raftnet

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// A new data dir gets the WAL; a data dir an earlier release wrote (a
// raft-boltdb raft.db) is opened as it is, its log, term and vote intact,
// and its node keeps committing.
func TestLogStoreOfNewAndOlderDataDirs(t *testing.T) {
	cfg := testConfig(t, "n1", true)
	n := startNode(t, cfg, newTestFSM(false))
	waitLeaderAmong(t, n)
	mustApply(t, n, "new")
	if n.storeKind != "wal" {
		t.Fatalf("a new data dir's log store is %q, want wal", n.storeKind)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "raft", boltFile)); !os.IsNotExist(err) {
		t.Fatalf("a new data dir has a %s: %v", boltFile, err)
	}

	// An older release's data dir: a single-voter cluster's log (its
	// configuration entry and a command) and its term in raft.db.
	old := testConfig(t, "n2", true)
	dir := filepath.Join(old.DataDir, "raft")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	b, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, boltFile), BoltOptions: boltOptions()})
	if err != nil {
		t.Fatal(err)
	}
	ln := listenLoopback(t)
	conf := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: "n2", Address: raft.ServerAddress(ln)}}}
	if err := b.StoreLogs([]*raft.Log{
		{Index: 1, Term: 1, Type: raft.LogConfiguration, Data: raft.EncodeConfiguration(conf)},
		{Index: 2, Term: 1, Type: raft.LogCommand, Data: []byte("written-by-boltdb")},
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.SetUint64([]byte("CurrentTerm"), 1); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if has, err := HasState(old.DataDir); err != nil || !has {
		t.Fatalf("HasState of an older data dir: %v %v", has, err)
	}
	old.BindAddr = ln
	m := startNode(t, old, newTestFSM(false))
	waitLeaderAmong(t, m)
	if m.storeKind != "boltdb" {
		t.Fatalf("an older data dir's log store is %q, want boltdb", m.storeKind)
	}
	mustApply(t, m, "after")
	if got := strings.Join(m.fsm.cmds(), ","); got != "written-by-boltdb,after" {
		t.Fatalf("older data dir replayed %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, walDir)); !os.IsNotExist(err) {
		t.Fatalf("an older data dir got a WAL beside its raft.db: %v", err)
	}
}

// A data dir a running node holds is refused, after a bounded wait, not
// waited for forever (raft-wal's own bbolt file would block).
func TestWALDataDirInUseIsRefused(t *testing.T) {
	cfg := testConfig(t, "n1", true)
	n := startNode(t, cfg, newTestFSM(false))
	waitLeaderAmong(t, n)
	if _, err := HasState(cfg.DataDir); err == nil || !strings.Contains(err.Error(), "another node") {
		t.Fatalf("HasState on a held data dir: %v", err)
	}
	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if has, err := HasState(cfg.DataDir); err != nil || !has {
		t.Fatalf("HasState once released: %v %v", has, err)
	}
}

// listenLoopback is a free loopback address for a node to bind.
func listenLoopback(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
