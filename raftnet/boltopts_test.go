package raftnet

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// A log written before the freelist stopped being synced opens with
// today's options, and the other way round (a downgrade).
func TestLogStoreFreelistOptionsInterchange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	open := func(o *bbolt.Options) *raftboltdb.BoltStore {
		t.Helper()
		s, err := raftboltdb.New(raftboltdb.Options{Path: path, BoltOptions: o})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	appendAndTrim := func(s *raftboltdb.BoltStore, from, to uint64) {
		t.Helper()
		var logs []*raft.Log
		for i := from; i <= to; i++ {
			logs = append(logs, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: make([]byte, 512)})
		}
		if err := s.StoreLogs(logs); err != nil {
			t.Fatal(err)
		}
		// Truncation after a snapshot is what fills the freelist.
		if err := s.DeleteRange(from, (from+to)/2); err != nil {
			t.Fatal(err)
		}
	}
	check := func(s *raftboltdb.BoltStore, last uint64) {
		t.Helper()
		var l raft.Log
		if err := s.GetLog(last, &l); err != nil || l.Index != last {
			t.Fatalf("log %d: %v %+v", last, err, l)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	old := &bbolt.Options{Timeout: 2 * time.Second}
	s := open(old)
	appendAndTrim(s, 1, 2000)
	check(s, 2000)
	s = open(boltOptions())
	appendAndTrim(s, 2001, 4000)
	check(s, 4000)
	s = open(old)
	check(s, 4000)
}
