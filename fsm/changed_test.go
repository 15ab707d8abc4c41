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
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sink.Bytes(), []byte(`"a"`)) {
		t.Fatalf("a snapshot in elasticsearch mode holds document data: %s", sink.Bytes())
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
