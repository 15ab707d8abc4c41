package embedded

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/korumdb/korum/storage"
)

// The mapping cache hands out shared mappings: a write that adds dynamic
// fields works on its own copy, so what validation or an earlier write
// saw is never changed behind its back, and the next write sees the new
// stored mapping.
func TestCachedMappingIsNeverModified(t *testing.T) {
	h := newHarness(t, Options{})
	h.setup()
	h.one(docW(storage.OpDocCreate, 1, storage.DocWrite{ID: "a", Body: obj(`{"x":1}`)}))
	before := h.e.currentMapping("idx", "col")
	if before == nil || before.Properties["x"] == nil {
		t.Fatalf("mapping before: %+v", before)
	}
	h.one(docW(storage.OpDocCreate, 2, storage.DocWrite{ID: "b", Body: obj(`{"y":{"z":"s"}}`)}))
	if before.Properties["y"] != nil {
		t.Fatalf("a write changed a mapping already handed out: %s", js(before.Properties))
	}
	after := h.e.currentMapping("idx", "col")
	if after.Properties["y"] == nil || after.Properties["x"] == nil {
		t.Fatalf("mapping after: %s", js(after.Properties))
	}
	// A mapping update replaces the stored bytes: the next read decodes them.
	h.one(storage.Write{Op: storage.OpCollectionUpdate, Index: "idx", Collection: "col",
		Mappings: json.RawMessage(`{"properties":{"w":{"type":"keyword"}}}`)})
	if m := h.e.currentMapping("idx", "col"); m.Properties["w"] == nil {
		t.Fatalf("mapping after update: %s", js(m.Properties))
	}
}

// Replicas group log entries into store transactions differently (each
// applies whatever entries are committed when it gets to them): with the
// mapping cache, one entry per transaction and all of them in one end in
// the same state.
func TestMappingCacheDoesNotDependOnBatching(t *testing.T) {
	var writes []storage.Write
	writes = append(writes, storage.Write{Op: storage.OpIndexCreate, Index: "idx"},
		storage.Write{Op: storage.OpCollectionCreate, Index: "idx", Collection: "col"},
		storage.Write{Op: storage.OpCollectionCreate, Index: "idx", Collection: "strict",
			Mappings: json.RawMessage(`{"dynamic":"strict","properties":{"a":{"type":"long"}}}`)})
	for i := range 12 {
		writes = append(writes, docW(storage.OpDocCreate, int64(i),
			storage.DocWrite{ID: fmt.Sprintf("d%d", i), Body: map[string]any{fmt.Sprintf("f%d", i%5): i, "o": map[string]any{fmt.Sprintf("g%d", i%3): "v"}}}))
		strict := docW(storage.OpDocCreate, int64(i), storage.DocWrite{ID: fmt.Sprintf("s%d", i), Body: map[string]any{"a": i, "b": i}})
		strict.Collection = "strict"
		writes = append(writes, strict)
		if i == 6 {
			writes = append(writes, storage.Write{Op: storage.OpCollectionUpdate, Index: "idx", Collection: "strict",
				Mappings: json.RawMessage(`{"properties":{"b":{"type":"long"}}}`)})
		}
	}
	one := newHarness(t, Options{NoSync: true})
	var perEntry []storage.WriteResult
	for _, w := range writes {
		perEntry = append(perEntry, one.apply(w)...)
	}
	all := newHarness(t, Options{NoSync: true})
	all.next = one.next - 1
	together := all.apply(writes...)
	if js(perEntry) != js(together) {
		t.Fatalf("results differ:\n%s\n%s", js(perEntry), js(together))
	}
	if a, b := dump(t, one.e), dump(t, all.e); a != b {
		t.Fatalf("state differs:\n%s\n%s", a, b)
	}
}
