package fsm

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/korumdb/korum/realtime"
	"github.com/korumdb/korum/storage"
	"github.com/korumdb/korum/storage/embedded"
)

type events struct {
	mu  sync.Mutex
	evs []realtime.DocumentEvent
}

func (e *events) DocumentChanged(ev realtime.DocumentEvent) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evs = append(e.evs, ev)
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newFSM(t *testing.T) (*FSM, *events, *embedded.Engine) {
	t.Helper()
	store, err := embedded.Open(filepath.Join(t.TempDir(), "docs.db"), embedded.Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ev := &events{}
	return New(store, ev, quiet()), ev, store
}

type logBuilder struct{ next uint64 }

func (b *logBuilder) entry(t *testing.T, c *Command) *raft.Log {
	t.Helper()
	data, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	b.next++
	return &raft.Log{Index: b.next, Term: 1, Type: raft.LogCommand, Data: data}
}

func writeCmd(w storage.Write) *Command {
	return &Command{Kind: KindWrite, Write: &w, Meta: &realtime.Meta{RequestID: "r", Timestamp: 1000, Node: "n1"}}
}

func doc(id string, body map[string]any) []storage.DocWrite {
	return []storage.DocWrite{{ID: id, Body: body}}
}

// setupEntries returns the entries of setup(), the index and collection
// most tests write into.
func (b *logBuilder) setupEntries(t *testing.T) []*raft.Log {
	t.Helper()
	var logs []*raft.Log
	for _, c := range setup() {
		logs = append(logs, b.entry(t, c))
	}
	return logs
}

func setup() []*Command {
	return []*Command{
		writeCmd(storage.Write{Op: storage.OpIndexCreate, Index: "i", Now: 1}),
		writeCmd(storage.Write{Op: storage.OpCollectionCreate, Index: "i", Collection: "c", Now: 1, Mappings: json.RawMessage(`{}`)}),
	}
}

func responses(t *testing.T, out []any) []*Response {
	t.Helper()
	rs := make([]*Response, len(out))
	for i, o := range out {
		b, ok := o.([]byte)
		if !ok {
			t.Fatalf("entry %d returned %T (%v), want []byte", i, o, o)
		}
		r, err := DecodeResponse(b)
		if err != nil {
			t.Fatal(err)
		}
		rs[i] = r
	}
	return rs
}

func TestWritesNotifyInLogOrder(t *testing.T) {
	f, ev, _ := newFSM(t)
	var lb logBuilder
	logs := lb.setupEntries(t)
	logs = append(logs,
		lb.entry(t, writeCmd(storage.Write{Op: storage.OpDocCreate, Index: "i", Collection: "c", Now: 5, Author: "-1", Docs: doc("a", map[string]any{"x": 1.0})})),
		lb.entry(t, writeCmd(storage.Write{Op: storage.OpDocUpdate, Index: "i", Collection: "c", Now: 6, Author: "-1", Docs: doc("a", map[string]any{"x": 2.0})})),
		lb.entry(t, &Command{Kind: KindPublish, Meta: &realtime.Meta{RequestID: "p"}, Publish: &Publish{Index: "i", Collection: "c", Body: map[string]any{"m": 1.0}}}),
		lb.entry(t, writeCmd(storage.Write{Op: storage.OpDocDelete, Index: "i", Collection: "c", Now: 7, Docs: []storage.DocWrite{{ID: "a"}}})),
		lb.entry(t, &Command{Kind: KindWrite, Silent: true, Write: &storage.Write{Op: storage.OpDocCreate, Index: "i", Collection: "c", Now: 8, Docs: doc("b", map[string]any{})}}),
		lb.entry(t, writeCmd(storage.Write{Op: storage.OpDocCreate, Index: "i", Collection: "c", Now: 9, Docs: doc("b", map[string]any{})})),
	)
	rs := responses(t, f.ApplyBatch(logs))
	if rs[2].Write == nil || len(rs[2].Write.Items) != 1 || rs[2].Write.Items[0].After.Version != 1 {
		t.Fatalf("create result: %+v", rs[2].Write)
	}
	if rs[7].Write.Err != nil || rs[7].Write.Items[0].Err == nil || rs[7].Write.Items[0].Err.ID != "services.storage.document_already_exists" {
		t.Fatalf("duplicate create must fail as an item: %+v", rs[7].Write)
	}
	var actions []string
	for _, e := range ev.evs {
		for _, c := range e.Changes {
			actions = append(actions, c.Action+":"+c.ID)
		}
	}
	want := []string{"create:a", "update:a", "publish:", "delete:a"}
	if len(actions) != len(want) {
		t.Fatalf("notified %v, want %v (silent writes and failed items notify nobody)", actions, want)
	}
	for i := range want {
		if actions[i] != want[i] {
			t.Fatalf("notified %v, want %v", actions, want)
		}
	}
	if f.AppliedIndex() != lb.next {
		t.Fatalf("applied %d, want %d", f.AppliedIndex(), lb.next)
	}
}

func TestReplayedEntriesAreNotAppliedTwice(t *testing.T) {
	f, _, store := newFSM(t)
	var lb logBuilder
	logs := lb.setupEntries(t)
	create := lb.entry(t, writeCmd(storage.Write{Op: storage.OpDocCreate, Index: "i", Collection: "c", Now: 5, Docs: doc("a", map[string]any{})}))
	logs = append(logs, create)
	f.ApplyBatch(logs)
	// A restart without a snapshot replays the log from the start.
	again := New(store, nil, quiet())
	rs := responses(t, again.ApplyBatch(logs))
	if rs[2].Write == nil || len(rs[2].Write.Items) != 0 {
		t.Fatalf("a replayed create must be skipped, got %+v", rs[2].Write)
	}
}

func TestRoomChangesToleratesReordering(t *testing.T) {
	f, _, _ := newFSM(t)
	var lb logBuilder
	room := func(k Kind, node string, seq uint64) *raft.Log {
		return lb.entry(t, &Command{Kind: k, Room: &RoomChange{ID: "r1", Index: "i", Collection: "c",
			Canonical: json.RawMessage(`[[{"everything":true}]]`), Node: node, Seq: seq}})
	}
	f.ApplyBatch([]*raft.Log{room(KindRoomCreated, "n1", 1), room(KindRoomCreated, "n2", 1)})
	if r := f.Room("r1"); r == nil || len(r.Nodes) != 2 {
		t.Fatalf("room after two nodes: %+v", r)
	}
	// n1 left (seq 3) and came back (seq 4), but the log got them reversed,
	// with a stale "created" (seq 2) after both.
	f.ApplyBatch([]*raft.Log{room(KindRoomCreated, "n1", 4), room(KindRoomEmptied, "n1", 3), room(KindRoomCreated, "n1", 2)})
	if r := f.Room("r1"); r == nil || r.Nodes["n1"] != 4 {
		t.Fatalf("n1 must still hold the room with seq 4: %+v", r)
	}
	f.ApplyBatch([]*raft.Log{room(KindRoomEmptied, "n1", 5), room(KindRoomCreated, "n1", 2)})
	if r := f.Room("r1"); r == nil || len(r.Nodes) != 1 || r.Nodes["n2"] == 0 {
		t.Fatalf("only n2 must remain: %+v", r)
	}
	f.ApplyBatch([]*raft.Log{lb.entry(t, &Command{Kind: KindNodeHello, Node: "n2"})})
	if f.Room("r1") != nil || len(f.Rooms()) != 0 {
		t.Fatal("a reset node's rooms must go, and a room with no node with them")
	}
}

func TestSnapshotRestore(t *testing.T) {
	f, _, _ := newFSM(t)
	var lb logBuilder
	logs := lb.setupEntries(t)
	logs = append(logs,
		lb.entry(t, writeCmd(storage.Write{Op: storage.OpDocCreate, Index: "i", Collection: "c", Now: 5, Docs: doc("a", map[string]any{"k": "v"})})),
		lb.entry(t, &Command{Kind: KindRoomCreated, Room: &RoomChange{ID: "r1", Index: "i", Collection: "c", Canonical: json.RawMessage(`[]`), Node: "n1", Seq: 1}}))
	f.ApplyBatch(logs)
	snapshot := persist(t, f)
	g, _, store := newFSM(t)
	if err := g.Restore(io.NopCloser(bytes.NewReader(snapshot))); err != nil {
		t.Fatal(err)
	}
	if g.AppliedIndex() != lb.next {
		t.Fatalf("restored applied index %d, want %d", g.AppliedIndex(), lb.next)
	}
	if r := g.Room("r1"); r == nil || r.Nodes["n1"] != 1 {
		t.Fatalf("room lost in snapshot: %+v", r)
	}
	d, err := store.Get(t.Context(), "i", "c", "a")
	if err != nil || d.Source["k"] != "v" {
		t.Fatalf("document lost in snapshot: %v %+v", err, d)
	}
	if err := g.Restore(io.NopCloser(bytes.NewReader([]byte("garbage")))); err == nil {
		t.Fatal("a corrupt snapshot must be refused")
	}
}

func TestGarbageEntriesFailAlone(t *testing.T) {
	f, _, _ := newFSM(t)
	out := f.ApplyBatch([]*raft.Log{{Index: 1, Type: raft.LogCommand, Data: []byte("{nope")},
		{Index: 2, Type: raft.LogCommand, Data: []byte(`{"k":"mystery"}`)}})
	for i, o := range out {
		if _, ok := o.(error); !ok {
			t.Fatalf("entry %d: got %T, want an error", i, o)
		}
	}
}

type memSink struct{ bytes.Buffer }

// restoredCopy snapshots f and restores the snapshot into a new FSM.
func restoredCopy(t *testing.T, f *FSM) *FSM {
	t.Helper()
	g, _, _ := newFSM(t)
	if err := g.Restore(io.NopCloser(bytes.NewReader(persist(t, f)))); err != nil {
		t.Fatal(err)
	}
	return g
}

func (m *memSink) ID() string    { return "mem" }
func (m *memSink) Cancel() error { return nil }
func (m *memSink) Close() error  { return nil }

func TestTopologyAndActivity(t *testing.T) {
	f, _, _ := newFSM(t)
	var lb logBuilder
	hello := func(id string, date int64) *raft.Log {
		return lb.entry(t, &Command{Kind: KindNodeHello, Node: id, Member: &MemberInfo{ClusterAddr: "10.0.0." + id + ":7511", Date: date, Depth: 3}})
	}
	evict := func(id string) *raft.Log {
		return lb.entry(t, &Command{Kind: KindNodeEvicted, Node: id, Member: &MemberInfo{Date: 9, Reason: "dead", Depth: 3}})
	}
	f.ApplyBatch([]*raft.Log{hello("1", 1), hello("2", 2), hello("1", 5), evict("2"), evict("2")})
	ms, act := f.Members()
	if len(ms) != 1 || ms[0].ID != "1" || ms[0].Birthdate != 5 {
		t.Fatalf("members: %+v", ms)
	}
	if len(act) != 3 || act[2].Event != "evicted" || act[2].Reason != "dead" || act[2].Address != "10.0.0.2" {
		t.Fatalf("activity (depth 3, one eviction): %+v", act)
	}
	if act[0].ID != "2" || act[0].Event != "joined" {
		t.Fatalf("the oldest entry must have been trimmed: %+v", act)
	}
}

// An eviction decided against one incarnation of a node must not remove a
// newer one that restarted and said hello before the eviction committed.
func TestEvictionOfAnEarlierIncarnationIsIgnored(t *testing.T) {
	f, _, _ := newFSM(t)
	var lb logBuilder
	room := lb.entry(t, &Command{Kind: KindRoomCreated, Room: &RoomChange{ID: "r1", Index: "i", Collection: "c",
		Canonical: json.RawMessage(`[[{"everything":true}]]`), Node: "n1", Seq: 1}})
	f.ApplyBatch([]*raft.Log{
		lb.entry(t, &Command{Kind: KindNodeHello, Node: "n1", Member: &MemberInfo{Date: 100}}),
		lb.entry(t, &Command{Kind: KindNodeHello, Node: "n1", Member: &MemberInfo{Date: 200}}), // restarted
		room,
		lb.entry(t, &Command{Kind: KindNodeEvicted, Node: "n1", Member: &MemberInfo{Date: 300, Incarnation: 100, Reason: "dead"}}),
	})
	if ms, _ := f.Members(); len(ms) != 1 || ms[0].Birthdate != 200 {
		t.Fatalf("the new incarnation must stay: %+v", ms)
	}
	if f.Room("r1") == nil {
		t.Fatal("the new incarnation's room must stay")
	}
	f.ApplyBatch([]*raft.Log{lb.entry(t, &Command{Kind: KindNodeEvicted, Node: "n1", Member: &MemberInfo{Date: 400, Incarnation: 200, Reason: "dead"}})})
	if ms, _ := f.Members(); len(ms) != 0 || f.Room("r1") != nil {
		t.Fatalf("evicting the current incarnation must remove it and its rooms: %+v", ms)
	}
}

func TestKeyedCommandsApplyOnce(t *testing.T) {
	f, ev, _ := newFSM(t)
	var lb logBuilder
	logs := lb.setupEntries(t)
	create := writeCmd(storage.Write{Op: storage.OpDocCreate, Index: "i", Collection: "c", Now: 5, Docs: doc("a", map[string]any{})})
	create.Key = "n1-7"
	// The same proposal twice in a batch (a retry racing the original),
	// then once more later: one application, three identical results.
	logs = append(logs, lb.entry(t, create), lb.entry(t, create))
	rs := responses(t, f.ApplyBatch(logs))
	later := responses(t, f.ApplyBatch([]*raft.Log{lb.entry(t, create)}))
	for _, r := range []*Response{rs[2], rs[3], later[0]} {
		if r.Write == nil || len(r.Write.Items) != 1 || r.Write.Items[0].Err != nil || !r.Write.Items[0].Created && r.Write.Items[0].After == nil {
			t.Fatalf("a retried create must return the first result, got %+v", r.Write)
		}
	}
	if len(ev.evs) != 1 {
		t.Fatalf("a deduplicated command must notify once, got %d events", len(ev.evs))
	}
}
