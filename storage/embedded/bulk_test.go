package embedded

import (
	"testing"

	"github.com/korumdb/korum/storage"
)

// A bulk write runs each document with its own operation, in order, each
// failing alone.
func TestBulkMixesOperations(t *testing.T) {
	h := newHarness(t, Options{})
	h.setup()
	h.one(docW(storage.OpDocCreate, 1, storage.DocWrite{ID: "a", Body: obj(`{"n":1}`)}))
	res := h.one(docW(storage.OpDocBulk, 2,
		storage.DocWrite{ID: "a", Op: storage.OpDocCreate, Body: obj(`{"n":2}`)},
		storage.DocWrite{ID: "b", Op: storage.OpDocCreateOrReplace, Body: obj(`{"n":3}`)},
		storage.DocWrite{ID: "a", Op: storage.OpDocUpdate, Body: obj(`{"m":true}`)},
		storage.DocWrite{ID: "c", Op: storage.OpDocUpsert, Body: obj(`{"n":4}`), Default: obj(`{"d":1}`)},
		storage.DocWrite{ID: "b", Op: storage.OpDocDelete},
		storage.DocWrite{ID: "zz", Op: storage.OpDocDelete},
		storage.DocWrite{ID: "x", Op: storage.OpDocDeleteByQuery},
	))
	if len(res.Items) != 7 {
		t.Fatalf("%d items", len(res.Items))
	}
	wantErr(t, res.Items[0].Err, "services.storage.document_already_exists")
	if !res.Items[1].Created || res.Items[1].Err != nil {
		t.Fatalf("index item: %+v", res.Items[1])
	}
	if got := js(res.Items[2].After.Source["m"]); got != "true" {
		t.Fatalf("update item: %s", js(res.Items[2].After.Source))
	}
	if got := js(res.Items[3].After.Source); !res.Items[3].Created || got != `{"_kuzzle_info":{"author":"kuid","createdAt":2},"d":1,"n":4}` {
		t.Fatalf("upsert item: %v %s", res.Items[3].Created, got)
	}
	if res.Items[4].Err != nil {
		t.Fatalf("delete item: %v", res.Items[4].Err)
	}
	wantErr(t, res.Items[5].Err, "services.storage.not_found")
	wantErr(t, res.Items[6].Err, "services.storage.invalid_argument")
	if d, _ := h.e.Get(t.Context(), "idx", "col", "b"); d != nil {
		t.Fatal("b was deleted later in the same bulk")
	}
}

// Verbatim writes keep the caller's _kuzzle_info, or none, as given.
func TestVerbatimKeepsKuzzleInfo(t *testing.T) {
	h := newHarness(t, Options{})
	h.setup()
	w := docW(storage.OpDocCreateOrReplace, 5,
		storage.DocWrite{ID: "given", Body: obj(`{"v":1,"_kuzzle_info":{"author":"x","createdAt":1}}`)},
		storage.DocWrite{ID: "none", Body: obj(`{"v":2}`)})
	w.Verbatim = true
	h.one(w)
	d, err := h.e.Get(t.Context(), "idx", "col", "given")
	if err != nil || js(d.Source["_kuzzle_info"]) != `{"author":"x","createdAt":1}` {
		t.Fatalf("given: %v %s", err, js(d.Source))
	}
	d, err = h.e.Get(t.Context(), "idx", "col", "none")
	if err != nil || d.Source["_kuzzle_info"] != nil {
		t.Fatalf("none: %v %s", err, js(d.Source))
	}
	// Without Verbatim, the engine writes _kuzzle_info itself.
	h.one(docW(storage.OpDocCreateOrReplace, 6, storage.DocWrite{ID: "given", Body: obj(`{"_kuzzle_info":{"author":"x"}}`)}))
	d, _ = h.e.Get(t.Context(), "idx", "col", "given")
	if info := d.Source["_kuzzle_info"].(map[string]any); info["author"] != "kuid" {
		t.Fatalf("stamped: %s", js(info))
	}
}

// Stats counts each collection's documents and sizes grow with them.
func TestStats(t *testing.T) {
	h := newHarness(t, Options{})
	h.setup()
	h.one(storage.Write{Op: storage.OpCollectionCreate, Index: "idx", Collection: "empty"})
	h.one(docW(storage.OpDocCreate, 1, storage.DocWrite{ID: "a", Body: obj(`{"n":1}`)}, storage.DocWrite{ID: "b", Body: obj(`{"n":2}`)}))
	st, err := h.e.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 || st[0].Name != "idx" || len(st[0].Collections) != 2 {
		t.Fatalf("stats: %+v", st)
	}
	col, empty := st[0].Collections[0], st[0].Collections[1]
	if col.Name != "col" || col.Documents != 2 || empty.Documents != 0 || col.Size <= empty.Size || st[0].Size != col.Size+empty.Size {
		t.Fatalf("stats: %+v", st)
	}
}
