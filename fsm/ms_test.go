package fsm

import (
	"bytes"
	"io"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/korumdb/korum/memstore"
)

func msCmd(now int64, cmds ...[]string) *Command {
	return &Command{Kind: KindMS, MS: &memstore.Command{Now: now, Cmds: cmds}}
}

// Memory storage commands apply in log order, alone or in a batch, reply
// to their proposer, and survive a snapshot with their expirations.
func TestMemoryStorageEntries(t *testing.T) {
	f, _, _ := newFSM(t)
	var lb logBuilder
	out := f.ApplyBatch([]*raft.Log{
		lb.entry(t, msCmd(1000, []string{"set", "k", "v", "EX", "10"}, []string{"incr", "n"})),
		lb.batchEntry(t, msCmd(2000, []string{"incr", "n"}), msCmd(2000, []string{"get", "k"})),
		lb.entry(t, msCmd(2000, []string{"incr", "k"})),
	})
	rs := responses(t, out[:1])
	if got := rs[0].MS; len(got) != 2 || got[0].Value != "OK" || got[1].Value != float64(1) {
		t.Fatalf("first entry replied %+v", got)
	}
	sub := subResults(t, out[1])
	if r := subResponse(t, sub[0]).MS; r[0].Value != float64(2) {
		t.Fatalf("batched incr replied %+v", r)
	}
	if r := subResponse(t, sub[1]).MS; r[0].Value != "v" {
		t.Fatalf("batched get replied %+v", r)
	}
	// A command that fails is a reply, not a failed entry.
	if r := responses(t, out[2:])[0].MS; r[0].Err == "" {
		t.Fatalf("incr on a non-integer replied %+v", r)
	}

	snapshot := persist(t, f)
	g, _, _ := newFSM(t)
	if err := g.Restore(io.NopCloser(bytes.NewReader(snapshot))); err != nil {
		t.Fatal(err)
	}
	ttl, err := g.MemStore().Read([]string{"pttl", "k"}, 2000, nil)
	if err != nil || ttl != int64(9000) {
		t.Fatalf("restored pttl = %v, %v", ttl, err)
	}
	if n, _ := g.MemStore().Read([]string{"get", "n"}, 2000, nil); n != "2" {
		t.Fatalf("restored n = %v", n)
	}
}
