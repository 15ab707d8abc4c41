package embedded

import (
	"encoding/json"
	"testing"

	"github.com/korumdb/korum/storage"
)

func TestParseSettingsForms(t *testing.T) {
	for raw, want := range map[string][2]bool{
		`{"index":{"blocks":{"write":true}}}`: {true, true},
		`{"blocks":{"write":"true"}}`:         {true, true},
		`{"index.blocks.write":false}`:        {false, true},
		`{"index":{"blocks.write":"false"}}`:  {false, true},
		`{"analysis":{"analyzer":{}}}`:        {false, false},
		``:                                    {false, false},
	} {
		v, set, err := parseSettings(json.RawMessage(raw))
		if err != nil || v != want[0] || set != want[1] {
			t.Errorf("%s: %v %v %v, want %v", raw, v, set, err, want)
		}
	}
	for _, raw := range []string{`{"blocks":{"write":"maybe"}}`, `[1]`, `{"index":{"blocks":{"write":1}}}`} {
		if _, _, err := parseSettings(json.RawMessage(raw)); err == nil {
			t.Errorf("%s accepted", raw)
		}
	}
}

// A write-blocked collection refuses every document write, whole, and
// still takes mapping and settings changes; a bad setting creates nothing.
func TestWriteBlockedCollection(t *testing.T) {
	h := newHarness(t, Options{})
	h.setup()
	h.one(docW(storage.OpDocCreate, 1, storage.DocWrite{ID: "a", Body: obj(`{"n":1}`)}))
	block := func(v string) storage.Write {
		return storage.Write{Op: storage.OpCollectionUpdate, Index: "idx", Collection: "col", Settings: json.RawMessage(`{"index":{"blocks":{"write":` + v + `}}}`)}
	}
	h.one(block("true"))
	if s, err := h.e.GetSettings(t.Context(), "idx", "col"); err != nil || js(s) != `{"blocks":{"write":"true"}}` {
		t.Fatalf("settings: %v %s", err, js(s))
	}
	for _, w := range []storage.Write{
		docW(storage.OpDocCreate, 2, storage.DocWrite{ID: "b", Body: obj(`{}`)}),
		docW(storage.OpDocDelete, 2, storage.DocWrite{ID: "a"}),
		{Op: storage.OpDocDeleteByQuery, Index: "idx", Collection: "col", Query: json.RawMessage(`{"match_all":{}}`)},
		{Op: storage.OpCollectionTruncate, Index: "idx", Collection: "col"},
	} {
		wantErr(t, h.apply(w)[0].Err, "services.storage.write_blocked")
	}
	if n, _ := h.e.Count(t.Context(), "idx", "col", nil); n != 1 {
		t.Fatalf("%d documents after refused writes", n)
	}
	h.one(storage.Write{Op: storage.OpCollectionUpdate, Index: "idx", Collection: "col", Mappings: json.RawMessage(`{"properties":{"k":{"type":"keyword"}}}`)})
	h.one(block("false"))
	h.one(docW(storage.OpDocCreate, 3, storage.DocWrite{ID: "b", Body: obj(`{}`)}))

	bad := storage.Write{Op: storage.OpCollectionCreate, Index: "idx", Collection: "new", Settings: json.RawMessage(`{"blocks":{"write":"maybe"}}`)}
	wantErr(t, h.apply(bad)[0].Err, "services.storage.invalid_argument")
	if ok, _ := h.e.CollectionExists(t.Context(), "idx", "new"); ok {
		t.Fatal("a refused create created the collection")
	}
	created := storage.Write{Op: storage.OpCollectionCreate, Index: "idx", Collection: "ro", Settings: json.RawMessage(`{"index.blocks.write":true}`)}
	h.one(created)
	ro := docW(storage.OpDocCreate, 4, storage.DocWrite{ID: "x", Body: obj(`{}`)})
	ro.Collection = "ro"
	wantErr(t, h.apply(ro)[0].Err, "services.storage.write_blocked")
}
