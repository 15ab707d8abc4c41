package fsm

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/korumdb/korum/realtime"
	"github.com/korumdb/korum/storage"
)

// batchEntry encodes cmds as one KindBatch entry, the way nodes do.
func (b *logBuilder) batchEntry(t *testing.T, cmds ...*Command) *raft.Log {
	t.Helper()
	enc := make([][]byte, len(cmds))
	for i, c := range cmds {
		data, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		enc[i] = data
	}
	b.next++
	return &raft.Log{Index: b.next, Term: 1, Type: raft.LogCommand, Data: EncodeBatch(enc)}
}

// subResults decodes a batch entry's result.
func subResults(t *testing.T, out any) []SubResult {
	t.Helper()
	b, ok := out.([]byte)
	if !ok {
		t.Fatalf("a batch returned %T (%v), want []byte", out, out)
	}
	rs, err := DecodeBatchResult(b)
	if err != nil {
		t.Fatalf("batch result %s: %v", b, err)
	}
	return rs
}

func subResponse(t *testing.T, s SubResult) *Response {
	t.Helper()
	if s.Failed {
		t.Fatalf("sub-command failed: %s", s.Err)
	}
	r, err := DecodeResponse(s.Result)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func roomCmd(id, node string, seq uint64) *Command {
	return &Command{Kind: KindRoomCreated, Room: &RoomChange{ID: id, Index: "i", Collection: "c",
		Canonical: json.RawMessage(`[[{"everything":true}]]`), Node: node, Seq: seq}}
}

func keyed(c *Command, key string) *Command { c.Key = key; return c }

func changes(evs []realtime.DocumentEvent) []string {
	var out []string
	for _, e := range evs {
		for _, c := range e.Changes {
			out = append(out, c.Action+":"+c.ID)
		}
	}
	return out
}

// A batch holding every kind of command: each sub-command gets its own
// result, a failing one fails alone, duplicates inside the batch and of an
// earlier entry apply once, and notifications follow sub-command order.
func TestBatchAppliesSubCommandsInOrder(t *testing.T) {
	f, ev, store := newFSM(t)
	var lb logBuilder
	logs := lb.setupEntries(t)
	earlier := keyed(writeCmd(storage.Write{Op: storage.OpDocCreate, Index: "i", Collection: "c", Now: 2, Docs: doc("e", map[string]any{})}), "n1-1")
	logs = append(logs, lb.entry(t, earlier))
	responses(t, f.ApplyBatch(logs))
	ev.evs = nil

	createA := keyed(writeCmd(storage.Write{Op: storage.OpDocCreate, Index: "i", Collection: "c", Now: 5, Docs: doc("a", map[string]any{"x": 1.0})}), "n2-1")
	batch := lb.batchEntry(t,
		createA,
		keyed(roomCmd("r1", "n2", 1), "n2-2"),
		keyed(&Command{Kind: KindPublish, Meta: &realtime.Meta{RequestID: "p"}, Publish: &Publish{Index: "i", Collection: "c", ID: "m", Body: map[string]any{"m": 1.0}}}, "n2-3"),
		keyed(writeCmd(storage.Write{Op: storage.OpDocUpdate, Index: "i", Collection: "c", Now: 6, Docs: doc("a", map[string]any{"x": 2.0})}), "n2-4"),
		keyed(&Command{Kind: "mystery"}, "n2-5"),
		keyed(writeCmd(storage.Write{Op: storage.OpDocCreate, Index: "i", Collection: "nope", Now: 7, Docs: doc("z", map[string]any{})}), "n2-6"),
		createA, // a retry racing its original, inside the same batch
		earlier, // a retry of a command applied in an earlier entry
		&Command{Kind: KindBatch},
		keyed(writeCmd(storage.Write{Op: storage.OpDocDelete, Index: "i", Collection: "c", Now: 8, Docs: []storage.DocWrite{{ID: "a"}}}), "n2-7"),
	)
	out := f.ApplyBatch([]*raft.Log{batch})
	rs := subResults(t, out[0])
	if len(rs) != 10 {
		t.Fatalf("%d results for 10 sub-commands", len(rs))
	}
	first := subResponse(t, rs[0])
	if first.Write == nil || len(first.Write.Items) != 1 || first.Write.Items[0].After == nil || first.Write.Items[0].After.Version != 1 {
		t.Fatalf("create result: %+v", first.Write)
	}
	if upd := subResponse(t, rs[3]); upd.Write == nil || upd.Write.Items[0].After.Version != 2 {
		t.Fatalf("update result: %+v", upd.Write)
	}
	if !rs[4].Failed || !strings.Contains(rs[4].Err, "mystery") {
		t.Fatalf("an unknown kind must fail alone: %+v", rs[4])
	}
	if w := subResponse(t, rs[5]).Write; w == nil || w.Err == nil {
		t.Fatalf("a write to a missing collection must fail as a result: %+v", w)
	}
	if string(rs[6].Result) != string(rs[0].Result) {
		t.Fatalf("a duplicate inside the batch must get the first result:\n%s\n%s", rs[6].Result, rs[0].Result)
	}
	if d := subResponse(t, rs[7]); d.Write == nil || len(d.Write.Items) != 1 || d.Write.Items[0].ID != "e" {
		t.Fatalf("a retry of an earlier entry must get that entry's result: %+v", d.Write)
	}
	if !rs[8].Failed || !strings.Contains(rs[8].Err, "batch inside") {
		t.Fatalf("a nested batch must fail alone: %+v", rs[8])
	}
	if del := subResponse(t, rs[9]); del.Write == nil || del.Write.Items[0].Err != nil {
		t.Fatalf("delete after the failures: %+v", del.Write)
	}
	want := []string{"create:a", "publish:m", "update:a", "delete:a"}
	if got := changes(ev.evs); !reflect.DeepEqual(got, want) {
		t.Fatalf("notified %v, want %v", got, want)
	}
	if r := f.Room("r1"); r == nil || r.Nodes["n2"] != 1 {
		t.Fatalf("room of the batch: %+v", r)
	}
	if _, err := store.Get(t.Context(), "i", "c", "a"); err == nil {
		t.Fatal("the batch's delete was not applied")
	}
	if f.AppliedIndex() != batch.Index {
		t.Fatalf("applied %d, want %d", f.AppliedIndex(), batch.Index)
	}
	// The whole batch replayed (a retried batch, or the log replayed from
	// an older snapshot): nothing applies twice, results are the same.
	ev.evs = nil
	again := subResults(t, f.ApplyBatch([]*raft.Log{lb.batchEntry(t, createA, keyed(roomCmd("r1", "n2", 1), "n2-2"))})[0])
	if string(again[0].Result) != string(rs[0].Result) || len(ev.evs) != 0 {
		t.Fatalf("a replayed batch must return the first results and notify nobody: %s, %d events", again[0].Result, len(ev.evs))
	}
}

// Applying commands one per entry or all in one batch gives the same
// results, notifications and state.
func TestBatchEqualsOneEntryPerCommand(t *testing.T) {
	cmds := append(setup(),
		keyed(writeCmd(storage.Write{Op: storage.OpDocCreate, Index: "i", Collection: "c", Now: 5, Docs: doc("a", map[string]any{"x": 1.0})}), "k1"),
		keyed(roomCmd("r1", "n1", 1), "k2"),
		keyed(roomCmd("r2", "n2", 1), "k3"),
		keyed(&Command{Kind: KindRoomEmptied, Room: &RoomChange{ID: "r1", Node: "n1", Seq: 2}}, "k4"),
		keyed(writeCmd(storage.Write{Op: storage.OpDocUpsert, Index: "i", Collection: "c", Now: 6, Docs: []storage.DocWrite{{ID: "a", Body: map[string]any{"y": 1.0}}}}), "k5"),
		keyed(&Command{Kind: KindNodeHello, Node: "n3", Member: &MemberInfo{ClusterAddr: "h:1", Date: 3}}, "k6"),
		keyed(writeCmd(storage.Write{Op: storage.OpDocCreate, Index: "i", Collection: "c", Now: 7, Docs: doc("a", map[string]any{})}), "k7"),
	)
	one, evOne, _ := newFSM(t)
	var lbOne logBuilder
	var single []any
	for _, c := range cmds {
		single = append(single, one.ApplyBatch([]*raft.Log{lbOne.entry(t, c)})[0])
	}
	all, evAll, _ := newFSM(t)
	var lbAll logBuilder
	batched := subResults(t, all.ApplyBatch([]*raft.Log{lbAll.batchEntry(t, cmds...)})[0])
	for i := range cmds {
		if string(single[i].([]byte)) != string(batched[i].Result) {
			t.Fatalf("command %d: alone %s, in a batch %s", i, single[i], batched[i].Result)
		}
	}
	if !reflect.DeepEqual(changes(evOne.evs), changes(evAll.evs)) {
		t.Fatalf("notifications: alone %v, in a batch %v", changes(evOne.evs), changes(evAll.evs))
	}
	stOne, stAll := replicatedState(t, one), replicatedState(t, all)
	stOne.Applied, stAll.Applied = 0, 0
	if !reflect.DeepEqual(stOne, stAll) {
		t.Fatalf("states differ:\n%+v\n%+v", stOne, stAll)
	}
}

func replicatedState(t *testing.T, f *FSM) state {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var st state
	if err := json.Unmarshal(snap.(*snapshot).state, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// Batches survive a snapshot exactly: the restored state is the same, and
// a retried sub-command is still recognised after the restore.
func TestBatchSnapshotRestoreIsExact(t *testing.T) {
	f, _, _ := newFSM(t)
	var lb logBuilder
	logs := lb.setupEntries(t)
	create := keyed(writeCmd(storage.Write{Op: storage.OpDocCreate, Index: "i", Collection: "c", Now: 5, Docs: doc("a", map[string]any{"k": "v"})}), "n1-9")
	logs = append(logs,
		lb.batchEntry(t, create, keyed(roomCmd("r1", "n1", 1), "n1-10")),
		lb.batchEntry(t, keyed(roomCmd("r2", "n2", 1), "n2-1"), keyed(&Command{Kind: KindNodeHello, Node: "n3", Member: &MemberInfo{Date: 4}}, "n3-1")))
	first := subResults(t, f.ApplyBatch(logs)[2])
	snapshot := persist(t, f)
	g, ev, _ := newFSM(t)
	if err := g.Restore(io.NopCloser(bytes.NewReader(snapshot))); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(replicatedState(t, f), replicatedState(t, g)) {
		t.Fatal("restored state differs from the snapshotted one")
	}
	var again logBuilder
	again.next = lb.next
	rs := subResults(t, g.ApplyBatch([]*raft.Log{again.batchEntry(t, create)})[0])
	if string(rs[0].Result) != string(first[0].Result) || len(ev.evs) != 0 {
		t.Fatalf("a retry after a restore must get the first result and notify nobody: %s", rs[0].Result)
	}
	// Two replicas fed the same entries end identical.
	h, _, _ := newFSM(t)
	h.ApplyBatch(logs)
	a, b := replicatedState(t, f), replicatedState(t, h)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two replicas fed the same batches differ")
	}
}

// A batch mixed with plain entries in one ApplyBatch call: each entry gets
// its own kind of result, and a garbage batch fails alone.
func TestBatchAmongPlainEntries(t *testing.T) {
	f, _, _ := newFSM(t)
	var lb logBuilder
	logs := lb.setupEntries(t)
	logs = append(logs,
		lb.batchEntry(t, keyed(roomCmd("r1", "n1", 1), "a"), keyed(roomCmd("r2", "n1", 2), "b")),
		&raft.Log{Index: lb.next + 1, Type: raft.LogCommand, Data: []byte(`{"k":"batch","b":[{"k":"room+"`)},
		&raft.Log{Index: lb.next + 2, Type: raft.LogConfiguration},
	)
	lb.next += 2
	logs = append(logs, lb.entry(t, keyed(roomCmd("r3", "n1", 3), "c")))
	out := f.ApplyBatch(logs)
	responses(t, out[:2])
	if rs := subResults(t, out[2]); len(rs) != 2 || rs[0].Failed || rs[1].Failed {
		t.Fatalf("batch results: %+v", rs)
	}
	if _, ok := out[3].(error); !ok {
		t.Fatalf("a truncated batch must fail as an entry, got %T", out[3])
	}
	if b, ok := out[4].([]byte); !ok || b != nil {
		t.Fatalf("a configuration entry returns nil bytes, got %v", out[4])
	}
	responses(t, out[5:])
	if len(f.Rooms()) != 3 {
		t.Fatalf("rooms: %+v", f.Rooms())
	}
}

// countingStore records how the state machine drives the store.
type countingStore struct {
	Store
	calls  int
	writes []int
}

func (s *countingStore) Apply(idx uint64, ws []storage.Write) ([]storage.WriteResult, error) {
	s.calls++
	s.writes = append(s.writes, len(ws))
	return s.Store.Apply(idx, ws)
}

// The writes of a batch, and of every entry handed over together, go to
// the store in one call: one transaction, one fsync.
func TestBatchWritesShareOneStoreTransaction(t *testing.T) {
	_, _, store := newFSM(t)
	cs := &countingStore{Store: store}
	f := New(cs, nil, quiet())
	var lb logBuilder
	logs := lb.setupEntries(t)
	f.ApplyBatch(logs)
	cs.calls, cs.writes = 0, nil
	mk := func(id string) *Command {
		return writeCmd(storage.Write{Op: storage.OpDocCreate, Index: "i", Collection: "c", Now: 5, Docs: doc(id, map[string]any{})})
	}
	f.ApplyBatch([]*raft.Log{
		lb.batchEntry(t, mk("a"), roomCmd("r", "n1", 1), mk("b"), mk("c")),
		lb.entry(t, mk("d")),
		lb.batchEntry(t, mk("e"), mk("f")),
	})
	if cs.calls != 1 || cs.writes[0] != 6 {
		t.Fatalf("store driven %d times with %v writes, want once with 6", cs.calls, cs.writes)
	}
	if store.AppliedIndex() != lb.next {
		t.Fatalf("store applied index %d, want %d", store.AppliedIndex(), lb.next)
	}
	// Room changes alone touch no file.
	f.ApplyBatch([]*raft.Log{lb.batchEntry(t, roomCmd("r2", "n1", 2), roomCmd("r3", "n1", 3))})
	if cs.calls != 1 {
		t.Fatalf("a batch without writes drove the store (%d calls)", cs.calls)
	}
}
