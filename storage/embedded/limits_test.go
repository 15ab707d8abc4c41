package embedded

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/storage"
)

// nested returns a document with depth objects on its only path, the root
// included: nested(1) is {"a":1}.
func nested(depth int) map[string]any {
	s := strings.Repeat(`{"a":`, depth) + `1` + strings.Repeat(`}`, depth)
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(&m); err != nil {
		panic(err)
	}
	return m
}

func wantKerr(t *testing.T, err *kerror.Error, id, contains string) {
	t.Helper()
	if err == nil || err.ID != id || !strings.Contains(err.Message, contains) {
		t.Fatalf("got %v, want %s containing %q", err, id, contains)
	}
}

func TestValidateDepth(t *testing.T) {
	h := newHarness(t, Options{})
	h.setup()
	w := docW(storage.OpDocCreate, 1, storage.DocWrite{ID: "ok", Body: nested(20)},
		storage.DocWrite{ID: "deep", Body: nested(21)}, storage.DocWrite{ID: "huge", Body: nested(5000)})
	werr, items := h.e.Validate(&w, WriteLimits{})
	if werr != nil || len(items) != 3 || items[0] != nil {
		t.Fatalf("Validate = %v, %v", werr, items)
	}
	wantKerr(t, items[1], "services.storage.unexpected_bad_request", "Limit of mapping depth [20]")
	wantKerr(t, items[2], "services.storage.unexpected_bad_request", "Limit of mapping depth [20]")
	// The path named stops at the object past the limit.
	if !strings.Contains(items[2].Message, "["+strings.TrimSuffix(strings.Repeat("a.", 20), ".")+"]") {
		t.Fatalf("message %q", items[2].Message)
	}

	// A configured limit is honoured, capped at MaxMappingDepth; arrays
	// of arrays count towards the nesting bound though not the depth.
	w = docW(storage.OpDocCreate, 1, storage.DocWrite{ID: "x", Body: nested(30)})
	if werr, items := h.e.Validate(&w, WriteLimits{MappingDepth: 30}); werr != nil || items != nil {
		t.Fatalf("depth 30 under a limit of 30: %v %v", werr, items)
	}
	var arr any = 1.0
	for range MaxMappingDepth + 1 {
		arr = []any{arr}
	}
	w = docW(storage.OpDocCreate, 1, storage.DocWrite{ID: "x", Body: map[string]any{"a": arr}})
	_, items = h.e.Validate(&w, WriteLimits{MappingDepth: 1 << 20})
	wantKerr(t, items[0], "services.storage.unexpected_bad_request", "deeper than 1000 levels")

	// An update's changes and an upsert's defaults are documents too.
	for _, w := range []storage.Write{
		docW(storage.OpDocUpdate, 1, storage.DocWrite{ID: "x", Body: nested(21)}),
		docW(storage.OpDocUpsert, 1, storage.DocWrite{ID: "x", Body: nested(2), Default: nested(21)}),
	} {
		_, items := h.e.Validate(&w, WriteLimits{})
		wantKerr(t, items[0], "services.storage.unexpected_bad_request", "mapping depth")
	}
	w = storage.Write{Op: storage.OpDocUpdateByQuery, Index: "idx", Collection: "col", Changes: nested(21)}
	werr, _ = h.e.Validate(&w, WriteLimits{})
	wantKerr(t, werr, "services.storage.unexpected_bad_request", "mapping depth")
}

func TestValidateFieldNameLength(t *testing.T) {
	h := newHarness(t, Options{})
	h.setup()
	long := strings.Repeat("é", 257) // 257 characters, 514 bytes
	w := docW(storage.OpDocCreate, 1, storage.DocWrite{ID: "a", Body: map[string]any{strings.Repeat("é", 256): 1}},
		storage.DocWrite{ID: "b", Body: map[string]any{"o": map[string]any{long: 1}}})
	_, items := h.e.Validate(&w, WriteLimits{})
	if items[0] != nil {
		t.Fatalf("256 characters refused: %v", items[0])
	}
	wantKerr(t, items[1], "services.storage.unexpected_bad_request", "limit is set to [256] characters but was [257]")
	w = storage.Write{Op: storage.OpCollectionUpdate, Index: "idx", Collection: "col",
		Mappings: []byte(`{"properties":{"` + long + `":{"type":"keyword"}}}`)}
	werr, _ := h.e.Validate(&w, WriteLimits{})
	wantKerr(t, werr, "services.storage.unexpected_bad_request", "is too long")
}

func TestValidateTotalFields(t *testing.T) {
	h := newHarness(t, Options{})
	h.setup()
	fields := func(prefix string, n int) map[string]any {
		m := map[string]any{}
		for i := range n {
			m[fmt.Sprintf("%s%d", prefix, i)] = 1.0 // a long: one field each
		}
		return m
	}
	lim := WriteLimits{MappingTotalFields: 10}
	// Two documents of one write: the second is refused because of the
	// first's fields, and a document of known fields still passes.
	w := docW(storage.OpDocCreate, 1, storage.DocWrite{ID: "a", Body: fields("f", 6)},
		storage.DocWrite{ID: "b", Body: fields("g", 6)}, storage.DocWrite{ID: "c", Body: fields("f", 6)},
		storage.DocWrite{ID: "d", Body: fields("h", 4)})
	_, items := h.e.Validate(&w, lim)
	if items == nil || items[0] != nil || items[2] != nil || items[3] != nil {
		t.Fatalf("items = %v", items)
	}
	wantKerr(t, items[1], "services.storage.unexpected_bad_request", "Limit of total fields [10]")

	// Against the stored mapping: a text field counts twice (its keyword).
	h.one(docW(storage.OpDocCreate, 1, storage.DocWrite{ID: "a", Body: fields("f", 8)}))
	w = docW(storage.OpDocCreate, 2, storage.DocWrite{ID: "b", Body: map[string]any{"s": "text"}},
		storage.DocWrite{ID: "c", Body: map[string]any{"n": 1.0}})
	_, items = h.e.Validate(&w, WriteLimits{MappingTotalFields: 9})
	if items == nil || items[1] != nil {
		t.Fatalf("items = %v", items)
	}
	wantKerr(t, items[0], "services.storage.unexpected_bad_request", "total fields")

	// Mapping updates are counted merged with the stored mapping.
	w = storage.Write{Op: storage.OpCollectionUpdate, Index: "idx", Collection: "col",
		Mappings: []byte(`{"properties":{"f0":{"type":"long"},"x":{"type":"long"},"y":{"type":"long"},"z":{"type":"long"}}}`)}
	werr, _ := h.e.Validate(&w, lim)
	wantKerr(t, werr, "services.storage.unexpected_bad_request", "total fields")
	w.Mappings = []byte(`{"properties":{"f0":{"type":"long"},"x":{"type":"long"},"y":{"type":"long"}}}`)
	if werr, _ := h.e.Validate(&w, lim); werr != nil {
		t.Fatalf("10 fields refused: %v", werr)
	}

	// A strict or non-dynamic collection adds no fields: nothing to count.
	h.one(storage.Write{Op: storage.OpCollectionUpdate, Index: "idx", Collection: "col", Mappings: []byte(`{"dynamic":"false"}`)})
	w = docW(storage.OpDocCreate, 3, storage.DocWrite{ID: "z", Body: fields("z", 50)})
	if _, items := h.e.Validate(&w, lim); items != nil {
		t.Fatalf("dynamic false: %v", items)
	}
}

func TestValidateMappingShape(t *testing.T) {
	h := newHarness(t, Options{})
	deep := `{"type":"long"}`
	for range 21 {
		deep = `{"properties":{"a":` + deep + `}}`
	}
	// 21 levels of properties: the root's, then 20 objects, so the leaf
	// has depth 21.
	w := storage.Write{Op: storage.OpCollectionCreate, Index: "idx", Collection: "col", Mappings: []byte(deep)}
	werr, _ := h.e.Validate(&w, WriteLimits{})
	wantKerr(t, werr, "services.storage.unexpected_bad_request", "mapping depth [20]")
	w.Mappings = []byte(strings.TrimSuffix(strings.TrimPrefix(deep, `{"properties":{"a":`), `}}`))
	if werr, _ := h.e.Validate(&w, WriteLimits{}); werr != nil {
		t.Fatalf("20 levels refused: %v", werr)
	}
	for _, bad := range []storage.Write{
		{Op: storage.OpCollectionCreate, Index: "Bad", Collection: "col"},
		{Op: storage.OpCollectionCreate, Index: "idx", Collection: "_x"},
		{Op: storage.OpIndexCreate, Index: "a/b"},
		{Op: storage.OpCollectionCreate, Index: "idx", Collection: "col", Mappings: []byte(`{"properties":{"a":{"type":"nope"}}}`)},
		{Op: storage.OpCollectionCreate, Index: "idx", Collection: "col",
			Mappings: []byte(`{"_meta":` + strings.Repeat(`[`, 1001) + strings.Repeat(`]`, 1001) + `}`)},
	} {
		if werr, _ := h.e.Validate(&bad, WriteLimits{}); werr == nil || werr.Status != 400 {
			t.Errorf("%s %s:%s %s: %v", bad.Op, bad.Index, bad.Collection, bad.Mappings, werr)
		}
	}
}

func TestValidateID(t *testing.T) {
	h := newHarness(t, Options{})
	h.setup()
	w := docW(storage.OpDocCreate, 1, storage.DocWrite{ID: strings.Repeat("i", 512), Body: obj(`{}`)},
		storage.DocWrite{ID: strings.Repeat("i", 513), Body: obj(`{}`)})
	_, items := h.e.Validate(&w, WriteLimits{})
	if items == nil || items[0] != nil {
		t.Fatalf("items = %v", items)
	}
	wantKerr(t, items[1], "services.storage.invalid_argument", "at most 512 bytes")
}

func TestValidateQuery(t *testing.T) {
	h := newHarness(t, Options{})
	h.setup()
	w := storage.Write{Op: storage.OpDocDeleteByQuery, Index: "idx", Collection: "col", Query: []byte(`{"nope":{}}`)}
	if werr, _ := h.e.Validate(&w, WriteLimits{}); werr == nil || werr.Status != 400 {
		t.Fatalf("bad query: %v", werr)
	}
	w.Query = []byte(`{"match_all":{}}`)
	if werr, _ := h.e.Validate(&w, WriteLimits{}); werr != nil {
		t.Fatalf("good query: %v", werr)
	}
}

// TestApplyStoresWhatValidationCannotSee: Apply never depends on the
// limits. A document as deep as a Raft entry can carry (written before
// the limits, or accepted by a node configured otherwise) is stored, and
// its collection stays readable and writable.
func TestApplyStoresWhatValidationCannotSee(t *testing.T) {
	h := newHarness(t, Options{})
	h.setup()
	r := h.one(docW(storage.OpDocCreate, 1, storage.DocWrite{ID: "deep", Body: nested(9990)}))
	if r.Items[0].Err != nil {
		t.Fatal(r.Items[0].Err)
	}
	h.one(docW(storage.OpDocUpdate, 2, storage.DocWrite{ID: "deep", Body: obj(`{"b":1}`)}))
	h.one(docW(storage.OpDocCreate, 3, storage.DocWrite{ID: "next", Body: obj(`{"c":1}`)}))
	if n, err := h.e.Count(ctx, "idx", "col", []byte(`{"exists":{"field":"c"}}`)); err != nil || n != 1 {
		t.Fatalf("count = %d, %v", n, err)
	}
	if _, err := h.e.GetMapping(ctx, "idx", "col"); err != nil {
		t.Fatal(err)
	}
}

// TestValidateCollectionNames: a new collection's names are checked in
// Kuzzle's order (elasticsearch.ts createCollection): the index name, the
// collection name, then the reserved _kuzzle_keep, which Kuzzle reports as
// collection_reserved although Korum's rules refuse its leading underscore.
func TestValidateCollectionNames(t *testing.T) {
	h := newHarness(t, Options{})
	for _, c := range []struct{ index, collection, id string }{
		{"idx", "_kuzzle_keep", "services.storage.collection_reserved"},
		{"Bad", "_kuzzle_keep", "services.storage.invalid_index_name"},
		{"idx", "Bad", "services.storage.invalid_collection_name"},
		{"Bad", "Bad", "services.storage.invalid_index_name"},
		{"idx", "_other", "services.storage.invalid_collection_name"},
	} {
		w := storage.Write{Op: storage.OpCollectionCreate, Index: c.index, Collection: c.collection}
		werr, _ := h.e.Validate(&w, WriteLimits{})
		if werr == nil || werr.ID != c.id {
			t.Errorf("create %s:%s: %v, want %s", c.index, c.collection, werr, c.id)
		}
	}
	w := storage.Write{Op: storage.OpCollectionCreate, Index: "idx", Collection: "_kuzzle_keep"}
	werr, _ := h.e.Validate(&w, WriteLimits{})
	if werr.Status != 400 || werr.Message != `Invalid collection name. "_kuzzle_keep" is reserved for internal usage.` {
		t.Fatalf("collection_reserved: %d %q", werr.Status, werr.Message)
	}
}
