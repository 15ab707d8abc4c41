package fsm

import (
	"bytes"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/korumdb/korum/realtime"
	"github.com/korumdb/korum/storage"
)

func changedCmd(key, id string, before, after map[string]any, silent bool) *Command {
	it := storage.ItemResult{ID: id, Created: before == nil}
	if before != nil {
		it.Before = &storage.Document{ID: id, Version: 1, Source: before}
	}
	if after != nil {
		it.After = &storage.Document{ID: id, Version: 2, Source: after}
	}
	op := storage.OpDocCreateOrReplace
	if after == nil {
		op = storage.OpDocDelete
	}
	return &Command{Kind: KindChanged, Key: key, Silent: silent, Write: &storage.Write{Op: op, Index: "i", Collection: "c"},
		Meta: &realtime.Meta{RequestID: "r", Timestamp: 5}, Changed: &storage.WriteResult{Items: []storage.ItemResult{it}}}
}

// A "changed" entry notifies its carried before/after states, stores
// nothing, and a retry under the same key notifies once.
func TestChangedEntryNotifiesOnceAndStoresNothing(t *testing.T) {
	ev := &events{}
	f := New(NullStore{}, ev, quiet())
	var b logBuilder
	c := changedCmd("k1", "d", map[string]any{"a": 1.0}, map[string]any{"a": 2.0}, false)
	logs := []*raft.Log{b.entry(t, c), b.entry(t, c), b.entry(t, changedCmd("k2", "d", map[string]any{"a": 2.0}, nil, false)),
		b.entry(t, changedCmd("k3", "d", nil, map[string]any{"a": 3.0}, true))}
	for i, r := range f.ApplyBatch(logs) {
		if err, ok := r.(error); ok {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
	if len(ev.evs) != 2 {
		t.Fatalf("%d events, want 2 (the retry and the silent write notify nothing): %+v", len(ev.evs), ev.evs)
	}
	first, second := ev.evs[0].Changes[0], ev.evs[1].Changes[0]
	if first.Action != "replace" || first.Before["a"] != 1.0 || first.After["a"] != 2.0 || first.Version != 2 {
		t.Fatalf("first event: %+v", first)
	}
	if second.Action != "delete" || second.Before["a"] != 2.0 || second.After != nil {
		t.Fatalf("second event: %+v", second)
	}
	snapshot := persist(t, f)
	if bytes.Contains(snapshot, []byte(`"a"`)) {
		t.Fatalf("a snapshot in elasticsearch mode holds document data: %s", snapshot)
	}
}

func TestChangedCommandRoundTrips(t *testing.T) {
	c := changedCmd("k", "d", map[string]any{"x": "y"}, map[string]any{"x": "z"}, true)
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeCommand(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Kind != KindChanged || !got.Silent || got.Changed == nil || got.Changed.Items[0].After.Source["x"] != "z" ||
		got.Changed.Items[0].Before.Version != 1 || got.Write.Op != storage.OpDocCreateOrReplace {
		t.Fatalf("round trip: %+v", got)
	}
}

func seqItem(id string, prev, cur int64) storage.ItemResult {
	it := storage.ItemResult{ID: id, After: &storage.Document{ID: id, Version: cur + 1, Source: map[string]any{"v": float64(cur)}},
		Seq: &storage.SeqNo{Term: 1, Seq: cur}}
	if prev >= 0 {
		it.Before = &storage.Document{ID: id, Version: prev + 1, Source: map[string]any{"v": float64(prev)}}
		it.PrevSeq = &storage.SeqNo{Term: 1, Seq: prev}
	}
	return it
}

// Two nodes' entries for one document committed in the opposite order of
// Elasticsearch's: the older one is dropped (its proposer is told), so the
// last notification is Elasticsearch's final state; deleting the
// collection forgets the records, so a new collection's writes go through.
func TestChangedEntriesKeepElasticsearchOrder(t *testing.T) {
	ev := &events{}
	f := New(NullStore{}, ev, quiet())
	var b logBuilder
	entry := func(key string, op storage.Op, items ...storage.ItemResult) *raft.Log {
		return b.entry(t, &Command{Kind: KindChanged, Key: key, Write: &storage.Write{Op: op, Index: "i", Collection: "c"},
			Meta: &realtime.Meta{}, Changed: &storage.WriteResult{Items: items}})
	}
	out := f.ApplyBatch([]*raft.Log{
		entry("a", storage.OpDocCreate, seqItem("d", -1, 0)),
		entry("c", storage.OpDocUpdate, seqItem("d", 1, 2)), // committed before the write it builds on
		entry("b", storage.OpDocUpdate, seqItem("d", 0, 1)), // stale now
		entry("x", storage.OpCollectionDelete),
		entry("e", storage.OpDocCreate, seqItem("d", -1, 0)), // a new collection restarts the numbers
	})
	dropped := func(i int) []string {
		r, err := DecodeResponse(out[i].([]byte))
		if err != nil {
			t.Fatal(err)
		}
		return r.Dropped
	}
	if d := dropped(2); len(d) != 1 || d[0] != "d" {
		t.Fatalf("the stale entry was not dropped: %v", d)
	}
	if len(dropped(1)) != 0 || len(dropped(4)) != 0 {
		t.Fatal("an entry in order was dropped")
	}
	var vs []any
	for _, e := range ev.evs {
		vs = append(vs, e.Changes[0].After["v"])
	}
	if len(vs) != 3 || vs[0] != 0.0 || vs[1] != 2.0 || vs[2] != 0.0 {
		t.Fatalf("notified states %v, want [0 2 0]", vs)
	}
	if s, ok := f.DocSeq("i", "c", "d"); !ok || s.Seq != 0 {
		t.Fatalf("recorded %v %v", s, ok)
	}
}
