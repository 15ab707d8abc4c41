package embedded

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/storage"
)

var ctx = context.Background()

type harness struct {
	t    *testing.T
	e    *Engine
	path string
	next uint64
}

func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	path := filepath.Join(t.TempDir(), "korum.db")
	e, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, e: e, path: path, next: 1}
	t.Cleanup(func() { h.e.Close() })
	return h
}

// apply applies writes as the next Raft entry.
func (h *harness) apply(ws ...storage.Write) []storage.WriteResult {
	h.t.Helper()
	r, err := h.e.Apply(h.next, ws)
	if err != nil {
		h.t.Fatalf("apply at %d: %v", h.next, err)
	}
	h.next++
	return r
}

// one applies a single write and fails the test on a command error.
func (h *harness) one(w storage.Write) storage.WriteResult {
	h.t.Helper()
	r := h.apply(w)[0]
	if r.Err != nil {
		h.t.Fatalf("%s: %v", w.Op, r.Err)
	}
	return r
}

func (h *harness) setup() {
	h.one(storage.Write{Op: storage.OpIndexCreate, Index: "idx"})
	h.one(storage.Write{Op: storage.OpCollectionCreate, Index: "idx", Collection: "col"})
}

func obj(s string) map[string]any {
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		panic(err)
	}
	return m
}

func docW(op storage.Op, now int64, docs ...storage.DocWrite) storage.Write {
	return storage.Write{Op: op, Index: "idx", Collection: "col", Now: now, Author: "kuid", Docs: docs}
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func wantErr(t *testing.T, err error, id string) {
	t.Helper()
	if !kerror.Is(err, id) {
		t.Fatalf("got error %v, want %s", err, id)
	}
}

func TestIndexAndCollectionLifecycle(t *testing.T) {
	h := newHarness(t, Options{})
	h.setup()
	r := h.apply(storage.Write{Op: storage.OpIndexCreate, Index: "idx"})[0]
	wantErr(t, r.Err, "services.storage.index_already_exists")
	if r.Err.Message != `A public index named "idx" already exists` {
		t.Errorf("message: %q", r.Err.Message)
	}
	for _, bad := range []string{"", "Upper", "a.b", "a b", "_x", "a#", "a%", "a&", strings.Repeat("a", 127), "a,b", "a:b", `a"b`} {
		r := h.apply(storage.Write{Op: storage.OpIndexCreate, Index: bad})[0]
		wantErr(t, r.Err, "services.storage.invalid_index_name")
		r = h.apply(storage.Write{Op: storage.OpCollectionCreate, Index: "idx", Collection: bad})[0]
		wantErr(t, r.Err, "services.storage.invalid_collection_name")
	}
	// collection:create creates its index, as Kuzzle does.
	h.one(storage.Write{Op: storage.OpCollectionCreate, Index: "auto", Collection: "c2"})
	idx, _ := h.e.ListIndexes(ctx)
	if js(idx) != `["auto","idx"]` {
		t.Errorf("indexes: %v", idx)
	}
	cols, _ := h.e.ListCollections(ctx, "auto")
	if js(cols) != `["c2"]` {
		t.Errorf("collections: %v", cols)
	}
	if ok, _ := h.e.CollectionExists(ctx, "idx", "col"); !ok {
		t.Error("idx/col should exist")
	}
	if ok, _ := h.e.CollectionExists(ctx, "nope", "col"); ok {
		t.Error("nope/col should not exist")
	}
	if ok, _ := h.e.IndexExists(ctx, "auto"); !ok {
		t.Error("auto should exist")
	}
	_, err := h.e.ListCollections(ctx, "nope")
	wantErr(t, err, "services.storage.unknown_index")

	// Truncate keeps the collection and its mapping.
	h.one(docW(storage.OpDocCreate, 1, storage.DocWrite{ID: "a", Body: obj(`{"x":1}`)}))
	h.one(storage.Write{Op: storage.OpCollectionTruncate, Index: "idx", Collection: "col"})
	if n, _ := h.e.Count(ctx, "idx", "col", nil); n != 0 {
		t.Errorf("count after truncate: %d", n)
	}

	// mDelete refuses the whole command when one index is missing.
	r = h.apply(storage.Write{Op: storage.OpIndexDelete, Indexes: []string{"idx", "missing"}})[0]
	wantErr(t, r.Err, "services.storage.unknown_index")
	if ok, _ := h.e.IndexExists(ctx, "idx"); !ok {
		t.Fatal("a refused mDelete must delete nothing")
	}
	r = h.one(storage.Write{Op: storage.OpIndexDelete, Indexes: []string{"idx", "auto", "idx"}})
	if js(r.Items) != `[{"_id":"idx"},{"_id":"auto"}]` {
		t.Errorf("index delete items: %s", js(r.Items))
	}
	idx, _ = h.e.ListIndexes(ctx)
	if len(idx) != 0 {
		t.Errorf("indexes left: %v", idx)
	}

	h.setup()
	h.one(storage.Write{Op: storage.OpCollectionDelete, Index: "idx", Collection: "col"})
	r = h.apply(storage.Write{Op: storage.OpCollectionDelete, Index: "idx", Collection: "col"})[0]
	wantErr(t, r.Err, "services.storage.unknown_collection")
	r = h.apply(docW(storage.OpDocCreate, 1, storage.DocWrite{ID: "a"}))[0]
	wantErr(t, r.Err, "services.storage.unknown_collection")
	r = h.apply(storage.Write{Op: storage.OpDocCreate, Index: "zz", Collection: "col", Docs: []storage.DocWrite{{ID: "a"}}})[0]
	wantErr(t, r.Err, "services.storage.unknown_index")
}

func TestMappings(t *testing.T) {
	h := newHarness(t, Options{})
	h.one(storage.Write{Op: storage.OpCollectionCreate, Index: "idx", Collection: "col",
		Mappings: json.RawMessage(`{"dynamic":false,"_meta":{"v":1},"properties":{"name":{"type":"keyword"},"addr":{"properties":{"city":{"type":"text"}}}}}`)})
	m, err := h.e.GetMapping(ctx, "idx", "col")
	if err != nil {
		t.Fatal(err)
	}
	if js(m) != `{"_meta":{"v":1},"dynamic":"false","properties":{"addr":{"properties":{"city":{"type":"text"}}},"name":{"type":"keyword"}}}` {
		t.Errorf("mapping: %s", js(m))
	}
	// Re-creating updates (merges) the mapping, keeping dynamic and _meta.
	h.one(storage.Write{Op: storage.OpCollectionCreate, Index: "idx", Collection: "col",
		Mappings: json.RawMessage(`{"properties":{"age":{"type":"integer"},"addr":{"properties":{"zip":{"type":"keyword"}}}}}`)})
	h.one(storage.Write{Op: storage.OpCollectionUpdate, Index: "idx", Collection: "col",
		Mappings: json.RawMessage(`{"dynamic":"strict"}`)})
	m, _ = h.e.GetMapping(ctx, "idx", "col")
	if js(m) != `{"_meta":{"v":1},"dynamic":"strict","properties":{"addr":{"properties":{"city":{"type":"text"},"zip":{"type":"keyword"}}},"age":{"type":"integer"},"name":{"type":"keyword"}}}` {
		t.Errorf("merged mapping: %s", js(m))
	}
	bad := map[string]string{
		`{"properties":{"a":{"type":"strnig"}}}`:                             "services.storage.invalid_mapping_type",
		`{"propertis":{}}`:                                                   "services.storage.invalid_mapping",
		`{"dynamic":"sometimes"}`:                                            "services.storage.invalid_mapping",
		`{"dynamic":3}`:                                                      "services.storage.invalid_mapping",
		`{"properties":{"a":{"properties":{},"analyzer":"x"}}}`:              "services.storage.invalid_mapping",
		`{"properties":{"name":{"type":"integer"}}}`:                         "services.storage.cannot_change_mapping",
		`{"properties":{"addr":{"properties":{"city":{"type":"keyword"}}}}}`: "services.storage.cannot_change_mapping",
		`[1]`: "services.storage.invalid_argument",
	}
	for mp, id := range bad {
		r := h.apply(storage.Write{Op: storage.OpCollectionUpdate, Index: "idx", Collection: "col", Mappings: json.RawMessage(mp)})[0]
		if !kerror.Is(r.Err, id) {
			t.Errorf("%s: got %v, want %s", mp, r.Err, id)
		}
	}
	_, err = h.e.GetMapping(ctx, "idx", "nope")
	wantErr(t, err, "services.storage.unknown_collection")

	// Default dynamic policy.
	h.one(storage.Write{Op: storage.OpCollectionCreate, Index: "idx", Collection: "plain"})
	m, _ = h.e.GetMapping(ctx, "idx", "plain")
	if js(m) != `{"dynamic":"true","properties":{}}` {
		t.Errorf("default mapping: %s", js(m))
	}

	// Strict mapping rejects undeclared fields, at any declared depth.
	r := h.apply(docW(storage.OpDocCreate, 1,
		storage.DocWrite{ID: "ok", Body: obj(`{"name":"a","addr":{"city":"x"}}`)},
		storage.DocWrite{ID: "bad", Body: obj(`{"name":"a","other":1}`)},
		storage.DocWrite{ID: "deep", Body: obj(`{"addr":[{"city":"x"},{"street":"y"}]}`)},
	))[0]
	if r.Err != nil || r.Items[0].Err != nil {
		t.Fatalf("strict ok doc: %s", js(r))
	}
	wantErr(t, r.Items[1].Err, "services.storage.strict_mapping_rejection")
	if r.Items[1].Err.Message != `Cannot create document. Field "other" is not present in collection "idx:col" strict mapping` {
		t.Errorf("message: %s", r.Items[1].Err.Message)
	}
	wantErr(t, r.Items[2].Err, "services.storage.strict_mapping_rejection")
	if r.Items[2].Err.Props[0] != "addr.street" {
		t.Errorf("strict path: %v", r.Items[2].Err.Props)
	}
	r = h.apply(docW(storage.OpDocUpdate, 2, storage.DocWrite{ID: "ok", Body: obj(`{"nope":1}`)}))[0]
	wantErr(t, r.Items[0].Err, "services.storage.strict_mapping_rejection")
}

func TestDocumentWrites(t *testing.T) {
	h := newHarness(t, Options{})
	h.setup()

	r := h.one(docW(storage.OpDocCreate, 100, storage.DocWrite{ID: "a", Body: obj(`{"name":"x","n":{"a":1,"b":[1,2]},"_kuzzle_info":{"author":"forged"}}`)}))
	it := r.Items[0]
	if it.Err != nil || !it.Created || it.Before != nil || it.After.Version != 1 {
		t.Fatalf("create: %s", js(it))
	}
	if js(it.After.Source) != `{"_kuzzle_info":{"author":"kuid","createdAt":100,"updatedAt":null,"updater":null},"n":{"a":1,"b":[1,2]},"name":"x"}` {
		t.Errorf("create source: %s", js(it.After.Source))
	}
	got, err := h.e.Get(ctx, "idx", "col", "a")
	if err != nil || js(got) != js(it.After) {
		t.Errorf("get after create: %s %v", js(got), err)
	}

	r = h.one(docW(storage.OpDocCreate, 101, storage.DocWrite{ID: "a", Body: obj(`{}`)}, storage.DocWrite{ID: "", Body: obj(`{}`)},
		storage.DocWrite{ID: strings.Repeat("x", 513)}))
	wantErr(t, r.Items[0].Err, "services.storage.document_already_exists")
	wantErr(t, r.Items[1].Err, "services.storage.missing_argument")
	wantErr(t, r.Items[2].Err, "services.storage.invalid_argument")

	// update: deep merge, arrays replaced, _kuzzle_info merged.
	r = h.one(docW(storage.OpDocUpdate, 200, storage.DocWrite{ID: "a", Body: obj(`{"n":{"b":[3],"c":true},"z":null}`)}))
	it = r.Items[0]
	if it.After.Version != 2 || it.Before.Version != 1 {
		t.Fatalf("update versions: %s", js(it))
	}
	if js(it.After.Source) != `{"_kuzzle_info":{"author":"kuid","createdAt":100,"updatedAt":200,"updater":"kuid"},"n":{"a":1,"b":[3],"c":true},"name":"x","z":null}` {
		t.Errorf("update source: %s", js(it.After.Source))
	}
	if js(it.UpdatedFields) != `["n.b","n.c","z"]` {
		t.Errorf("updated fields: %v", it.UpdatedFields)
	}

	// replace / createOrReplace.
	r = h.one(docW(storage.OpDocReplace, 300, storage.DocWrite{ID: "a", Body: obj(`{"only":1}`)}, storage.DocWrite{ID: "missing", Body: obj(`{}`)}))
	if r.Items[0].After.Version != 3 || js(r.Items[0].After.Source) != `{"_kuzzle_info":{"author":"kuid","createdAt":300,"updatedAt":300,"updater":"kuid"},"only":1}` {
		t.Errorf("replace: %s", js(r.Items[0]))
	}
	wantErr(t, r.Items[1].Err, "services.storage.not_found")
	if r.Items[1].Err.Message != `Document "missing" not found in "idx":"col".` {
		t.Errorf("not found message: %s", r.Items[1].Err.Message)
	}
	r = h.one(docW(storage.OpDocCreateOrReplace, 400, storage.DocWrite{ID: "a", Body: obj(`{"v":1}`)}, storage.DocWrite{ID: "b", Body: obj(`{"v":2}`)}))
	if r.Items[0].Created || r.Items[0].After.Version != 4 || !r.Items[1].Created || r.Items[1].After.Version != 1 {
		t.Errorf("createOrReplace: %s", js(r.Items))
	}

	// upsert: defaults only on creation.
	r = h.one(docW(storage.OpDocUpsert, 500,
		storage.DocWrite{ID: "c", Body: obj(`{"v":3}`), Default: obj(`{"v":0,"d":true}`)},
		storage.DocWrite{ID: "b", Body: obj(`{"w":1}`), Default: obj(`{"d":true}`)}))
	if !r.Items[0].Created || js(r.Items[0].After.Source) != `{"_kuzzle_info":{"author":"kuid","createdAt":500},"d":true,"v":3}` {
		t.Errorf("upsert create: %s", js(r.Items[0]))
	}
	if r.Items[1].Created || r.Items[1].After.Version != 2 || js(r.Items[1].After.Source) != `{"_kuzzle_info":{"author":"kuid","createdAt":400,"updatedAt":500,"updater":"kuid"},"v":2,"w":1}` {
		t.Errorf("upsert update: %s", js(r.Items[1]))
	}

	// deleteFields.
	h.one(docW(storage.OpDocCreate, 600, storage.DocWrite{ID: "f", Body: obj(`{"a":{"b":1,"c":2},"d":[1,2],"e":3}`)}))
	r = h.one(docW(storage.OpDocDeleteFields, 601, storage.DocWrite{ID: "f", Fields: []string{"a.b", "d.0", "nope", "e"}}))
	if js(r.Items[0].After.Source) != `{"_kuzzle_info":{"author":"kuid","createdAt":600,"updatedAt":601,"updater":"kuid"},"a":{"c":2},"d":[null,2]}` {
		t.Errorf("deleteFields: %s", js(r.Items[0].After.Source))
	}
	if js(r.Items[0].UpdatedFields) != `["a.b","d.0","e"]` || r.Items[0].After.Version != 2 {
		t.Errorf("deleteFields item: %s", js(r.Items[0]))
	}

	// delete, with partial failure.
	r = h.one(docW(storage.OpDocDelete, 700, storage.DocWrite{ID: "f"}, storage.DocWrite{ID: "f"}))
	if r.Items[0].Err != nil || r.Items[0].Before == nil || r.Items[0].After != nil {
		t.Errorf("delete: %s", js(r.Items[0]))
	}
	wantErr(t, r.Items[1].Err, "services.storage.not_found")
	_, err = h.e.Get(ctx, "idx", "col", "f")
	wantErr(t, err, "services.storage.not_found")

	// Anonymous author is null.
	r = h.one(storage.Write{Op: storage.OpDocCreate, Index: "idx", Collection: "col", Now: 1, Docs: []storage.DocWrite{{ID: "anon", Body: obj(`{}`)}}})
	if js(r.Items[0].After.Source["_kuzzle_info"]) != `{"author":null,"createdAt":1,"updatedAt":null,"updater":null}` {
		t.Errorf("anonymous: %s", js(r.Items[0].After.Source))
	}

	// Unserialisable body fails the item, not the batch.
	r = h.one(docW(storage.OpDocCreate, 1, storage.DocWrite{ID: "nan", Body: map[string]any{"x": func() {}}}, storage.DocWrite{ID: "fine", Body: obj(`{}`)}))
	wantErr(t, r.Items[0].Err, "services.storage.invalid_argument")
	if r.Items[1].Err != nil {
		t.Errorf("fine: %v", r.Items[1].Err)
	}

	docs, missing, err := h.e.MGet(ctx, "idx", "col", []string{"a", "zz", "b", "a"})
	if err != nil || len(docs) != 3 || docs[0].ID != "a" || docs[1].ID != "b" || js(missing) != `["zz"]` {
		t.Errorf("mget: %s %v %v", js(docs), missing, err)
	}
}

func TestBigNumbersSurvive(t *testing.T) {
	h := newHarness(t, Options{})
	h.setup()
	h.one(docW(storage.OpDocCreate, 1, storage.DocWrite{ID: "a", Body: map[string]any{"big": json.Number("9007199254740993"), "f": 1.5}}))
	d, _ := h.e.Get(ctx, "idx", "col", "a")
	if js(d.Source["big"]) != "9007199254740993" || js(d.Source["f"]) != "1.5" {
		t.Errorf("numbers: %s", js(d.Source))
	}
}

func TestByQuery(t *testing.T) {
	h := newHarness(t, Options{})
	h.setup()
	var docs []storage.DocWrite
	for i := 0; i < 10; i++ {
		docs = append(docs, storage.DocWrite{ID: fmt.Sprintf("d%d", i), Body: obj(fmt.Sprintf(`{"n":%d,"even":%v}`, i, i%2 == 0))})
	}
	h.one(docW(storage.OpDocCreate, 1, docs...))

	w := docW(storage.OpDocUpdateByQuery, 2)
	w.Query = json.RawMessage(`{"term":{"even":true}}`)
	w.Changes = obj(`{"tag":"e"}`)
	w.Limit = 4
	r := h.apply(w)[0]
	wantErr(t, r.Err, "services.storage.write_limit_exceeded")
	if n, _ := h.e.Count(ctx, "idx", "col", json.RawMessage(`{"exists":{"field":"tag"}}`)); n != 0 {
		t.Fatal("a refused updateByQuery must change nothing")
	}
	w.Limit = 5
	r = h.one(w)
	if len(r.Items) != 5 || r.Items[0].ID != "d0" || r.Items[0].After.Source["tag"] != "e" || js(r.Items[0].UpdatedFields) != `["tag"]` {
		t.Errorf("updateByQuery: %s", js(r.Items[0]))
	}

	w = docW(storage.OpDocDeleteByQuery, 3)
	w.Query = json.RawMessage(`{"range":{"n":{"gte":7}}}`)
	r = h.one(w)
	if js(ids(r.Items)) != `["d7","d8","d9"]` || r.Items[0].Before == nil {
		t.Errorf("deleteByQuery: %s", js(r.Items))
	}
	if n, _ := h.e.Count(ctx, "idx", "col", nil); n != 7 {
		t.Errorf("count: %d", n)
	}
	w.Query = json.RawMessage(`{"nested":{}}`)
	wantErr(t, h.apply(w)[0].Err, "services.storage.unsupported_query")
}

func ids(items []storage.ItemResult) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, it.ID)
	}
	return out
}

func TestApplyIdempotentAndBatch(t *testing.T) {
	h := newHarness(t, Options{})
	h.setup()
	w := docW(storage.OpDocCreate, 1, storage.DocWrite{ID: "a", Body: obj(`{}`)})
	first := mustApply(t, h.e, 10, []storage.Write{w, docW(storage.OpDocUpdate, 2, storage.DocWrite{ID: "a", Body: obj(`{"x":1}`)})})
	if first[0].Err != nil || first[1].Items[0].After.Version != 2 {
		t.Fatalf("batch: %s", js(first))
	}
	if h.e.AppliedIndex() != 10 {
		t.Fatalf("applied index %d", h.e.AppliedIndex())
	}
	again := mustApply(t, h.e, 10, []storage.Write{w})
	if again[0].Err != nil || again[0].Items != nil {
		t.Errorf("replayed entry must be skipped: %s", js(again))
	}
	older := mustApply(t, h.e, 3, []storage.Write{docW(storage.OpDocDelete, 1, storage.DocWrite{ID: "a"})})
	if older[0].Items != nil {
		t.Error("older entry must be skipped")
	}
	if _, err := h.e.Get(ctx, "idx", "col", "a"); err != nil {
		t.Error("skipped delete must not apply")
	}
	if r := mustApply(t, h.e, 11, nil); len(r) != 0 || h.e.AppliedIndex() != 11 {
		t.Error("an empty entry still advances the applied index")
	}
}

func TestRestartPersistence(t *testing.T) {
	h := newHarness(t, Options{})
	h.setup()
	h.one(docW(storage.OpDocCreate, 1, storage.DocWrite{ID: "a", Body: obj(`{"x":1}`)}))
	applied := h.e.AppliedIndex()
	if err := h.e.Close(); err != nil {
		t.Fatal(err)
	}
	e, err := Open(h.path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	h.e = e
	if e.AppliedIndex() != applied {
		t.Errorf("applied index after reopen: %d, want %d", e.AppliedIndex(), applied)
	}
	d, err := e.Get(ctx, "idx", "col", "a")
	if err != nil || d.Version != 1 {
		t.Errorf("doc after reopen: %v %v", d, err)
	}
	// Replaying the last entry after restart is a no-op.
	r := mustApply(t, e, applied, []storage.Write{docW(storage.OpDocCreate, 1, storage.DocWrite{ID: "a", Body: obj(`{}`)})})
	if r[0].Items != nil {
		t.Error("replay after restart must be skipped")
	}
}

// workload is a deterministic mix of every write kind, used to compare
// engines.
func workload() [][]storage.Write {
	mk := func(op storage.Op, now int64, docs ...storage.DocWrite) storage.Write { return docW(op, now, docs...) }
	var batches [][]storage.Write
	batches = append(batches, []storage.Write{
		{Op: storage.OpIndexCreate, Index: "idx"},
		{Op: storage.OpCollectionCreate, Index: "idx", Collection: "col", Mappings: json.RawMessage(`{"properties":{"n":{"type":"integer"}}}`)},
		{Op: storage.OpCollectionCreate, Index: "other", Collection: "c"},
	})
	for i := 0; i < 20; i++ {
		var docs []storage.DocWrite
		for j := 0; j < 5; j++ {
			docs = append(docs, storage.DocWrite{ID: fmt.Sprintf("k%02d", (i*7+j*3)%40), Body: map[string]any{"n": i*5 + j, "nested": map[string]any{"i": i, "tags": []any{"t", j}}}})
		}
		batches = append(batches, []storage.Write{
			mk(storage.OpDocCreateOrReplace, int64(i), docs...),
			mk(storage.OpDocUpdate, int64(i), storage.DocWrite{ID: docs[0].ID, Body: map[string]any{"u": i}}),
			mk(storage.OpDocCreate, int64(i), docs[1]),
		})
	}
	dq := docW(storage.OpDocDeleteByQuery, 99)
	dq.Query = json.RawMessage(`{"range":{"n":{"lt":10}}}`)
	uq := docW(storage.OpDocUpdateByQuery, 99)
	uq.Query = json.RawMessage(`{"bool":{"must":{"term":{"nested.tags":2}}}}`)
	uq.Changes = map[string]any{"touched": true}
	batches = append(batches, []storage.Write{dq, uq, mk(storage.OpDocDeleteFields, 100, storage.DocWrite{ID: "k05", Fields: []string{"nested.i"}})})
	return batches
}

func dump(t *testing.T, e *Engine) string {
	t.Helper()
	var b strings.Builder
	idx, _ := e.ListIndexes(ctx)
	for _, i := range idx {
		cols, _ := e.ListCollections(ctx, i)
		for _, c := range cols {
			m, _ := e.GetMapping(ctx, i, c)
			res, err := e.Search(ctx, i, c, storage.SearchRequest{Sort: json.RawMessage(`"_id"`), Size: 10000})
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s/%s %s %s\n", i, c, js(m), js(res))
		}
	}
	fmt.Fprintf(&b, "applied=%d", e.AppliedIndex())
	return b.String()
}

func TestDeterminismAndSnapshot(t *testing.T) {
	a := newHarness(t, Options{})
	b := newHarness(t, Options{})
	for _, batch := range workload() {
		ra, rb := a.apply(batch...), b.apply(batch...)
		if !reflect.DeepEqual(js(ra), js(rb)) {
			t.Fatalf("results differ:\n%s\n%s", js(ra), js(rb))
		}
	}
	da, db := dump(t, a.e), dump(t, b.e)
	if da != db {
		t.Fatalf("state differs:\n%s\n%s", da, db)
	}
	var snap bytes.Buffer
	if err := a.e.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	c := newHarness(t, Options{})
	c.setup() // state to be discarded
	if err := c.e.Restore(bytes.NewReader(snap.Bytes())); err != nil {
		t.Fatal(err)
	}
	if dc := dump(t, c.e); dc != da {
		t.Fatalf("restored state differs:\n%s\n%s", dc, da)
	}
	// The restored engine keeps working and survives a restart.
	if r := mustApply(t, c.e, c.e.AppliedIndex()+1, []storage.Write{docW(storage.OpDocCreate, 1, storage.DocWrite{ID: "new", Body: obj(`{}`)})}); r[0].Items[0].Err != nil {
		t.Fatal(r[0].Items[0].Err)
	}
	c.e.Close()
	e, err := Open(c.path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c.e = e
	if _, err := e.Get(ctx, "idx", "col", "new"); err != nil {
		t.Fatal(err)
	}
	// A corrupt snapshot is refused and leaves the state alone.
	if err := e.Restore(strings.NewReader("garbage")); err == nil {
		t.Fatal("garbage snapshot accepted")
	}
	if _, err := e.Get(ctx, "idx", "col", "new"); err != nil {
		t.Fatal("state lost after a refused restore")
	}
}

func TestSnapshotConcurrentWithApply(t *testing.T) {
	h := newHarness(t, Options{})
	h.setup()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 50; i++ {
			if _, err := h.e.Apply(uint64(100+i), []storage.Write{docW(storage.OpDocCreateOrReplace, 1, storage.DocWrite{ID: fmt.Sprint(i), Body: obj(`{}`)})}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := 0; i < 5; i++ {
		var buf bytes.Buffer
		if err := h.e.Snapshot(&buf); err != nil {
			t.Fatal(err)
		}
		if _, err := h.e.Search(ctx, "idx", "col", storage.SearchRequest{Size: 10}); err != nil {
			t.Fatal(err)
		}
	}
	<-done
}

func TestSearch(t *testing.T) {
	h := newHarness(t, Options{DocumentsFetchCount: 100})
	h.setup()
	var docs []storage.DocWrite
	for i := 0; i < 30; i++ {
		docs = append(docs, storage.DocWrite{ID: fmt.Sprintf("d%02d", i), Body: map[string]any{"n": i, "name": fmt.Sprintf("doc %d", i%3), "grp": i % 3}})
	}
	h.one(docW(storage.OpDocCreate, 1, docs...))

	res, err := h.e.Search(ctx, "idx", "col", storage.SearchRequest{
		Query: json.RawMessage(`{"bool":{"filter":{"term":{"grp":1}}}}`),
		Sort:  json.RawMessage(`[{"n":"desc"}]`), From: 2, Size: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 10 || js(hitIDs(res)) != `["d22","d19","d16"]` || res.Hits[0].Version != 1 {
		t.Errorf("search: total=%d %v", res.Total, hitIDs(res))
	}
	// Score ordering with _id tie-break.
	res, _ = h.e.Search(ctx, "idx", "col", storage.SearchRequest{Query: json.RawMessage(`{"match":{"name":"doc 2"}}`), Size: 3})
	if res.Total != 30 || js(hitIDs(res)) != `["d02","d05","d08"]` {
		t.Errorf("scored search: %d %v", res.Total, hitIDs(res))
	}
	_, err = h.e.Search(ctx, "idx", "col", storage.SearchRequest{From: 95, Size: 10})
	wantErr(t, err, "services.storage.get_limit_exceeded")
	_, err = h.e.Search(ctx, "idx", "col", storage.SearchRequest{Query: json.RawMessage(`{"and":[]}`), Size: 1})
	wantErr(t, err, "services.storage.unknown_query_keyword")
	_, err = h.e.Search(ctx, "nope", "col", storage.SearchRequest{Size: 1})
	wantErr(t, err, "services.storage.unknown_index")
	if n, _ := h.e.Count(ctx, "idx", "col", json.RawMessage(`{"range":{"n":{"gte":25}}}`)); n != 5 {
		t.Errorf("count: %d", n)
	}
	_, err = h.e.Count(ctx, "idx", "col", json.RawMessage(`{"fuzzy":{}}`))
	wantErr(t, err, "services.storage.unsupported_query")
}

func hitIDs(r *storage.SearchResult) []string {
	out := []string{}
	for _, h := range r.Hits {
		out = append(out, h.ID)
	}
	return out
}

func TestScroll(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	h := newHarness(t, Options{Now: clock, ScrollKey: []byte("k1")})
	h.setup()
	var docs []storage.DocWrite
	for i := 0; i < 10; i++ {
		docs = append(docs, storage.DocWrite{ID: fmt.Sprintf("d%d", i), Body: map[string]any{"n": i}})
	}
	h.one(docW(storage.OpDocCreate, 1, docs...))
	res, err := h.e.Search(ctx, "idx", "col", storage.SearchRequest{Sort: json.RawMessage(`{"n":"desc"}`), Size: 4, Scroll: "30s"})
	if err != nil || res.ScrollID == "" || js(hitIDs(res)) != `["d9","d8","d7","d6"]` {
		t.Fatalf("first page: %v %v", hitIDs(res), err)
	}
	// A write between pages neither shifts nor duplicates hits.
	h.one(docW(storage.OpDocCreate, 2, storage.DocWrite{ID: "top", Body: map[string]any{"n": 100}}))
	h.one(docW(storage.OpDocDelete, 2, storage.DocWrite{ID: "d9"}))

	// Another node (same key, its own engine instance) continues the scroll.
	other := &Engine{}
	*other = Engine{path: h.e.path, opts: h.e.opts, log: h.e.log, db: h.e.db}
	ts, err := other.ScrollTargets(ctx, res.ScrollID)
	if err != nil || js(ts) != `[{"index":"idx","collections":["col"]}]` {
		t.Fatalf("scroll targets: %s %v", js(ts), err)
	}
	res, err = other.Scroll(ctx, res.ScrollID, "")
	if err != nil || js(hitIDs(res)) != `["d5","d4","d3","d2"]` || res.Total != 10 {
		t.Fatalf("second page: %v total=%d %v", hitIDs(res), res.Total, err)
	}
	res, err = h.e.Scroll(ctx, res.ScrollID, "1m")
	if err != nil || js(hitIDs(res)) != `["d1","d0"]` {
		t.Fatalf("third page: %v %v", hitIDs(res), err)
	}
	last, err := h.e.Scroll(ctx, res.ScrollID, "")
	if err != nil || len(last.Hits) != 0 {
		t.Fatalf("exhausted scroll: %v %v", hitIDs(last), err)
	}
	again, err := h.e.Scroll(ctx, last.ScrollID, "")
	if err != nil || len(again.Hits) != 0 {
		t.Fatalf("scroll past the end: %v %v", hitIDs(again), err)
	}

	// Expiry, forgery, garbage, too long a ttl.
	now = now.Add(61 * time.Second)
	_, err = h.e.Scroll(ctx, res.ScrollID, "")
	wantErr(t, err, "services.storage.unknown_scroll_id")
	res, _ = h.e.Search(ctx, "idx", "col", storage.SearchRequest{Size: 2, Scroll: "10s"})
	payload, _, _ := strings.Cut(res.ScrollID, ".")
	for _, bad := range []string{"", "garbage", payload + ".AAAA", "a.b.c", res.ScrollID + "x"} {
		_, err = h.e.Scroll(ctx, bad, "")
		wantErr(t, err, "services.storage.unknown_scroll_id")
	}
	otherKey := newHarness(t, Options{Now: clock, ScrollKey: []byte("k2")})
	_, err = otherKey.e.Scroll(ctx, res.ScrollID, "")
	wantErr(t, err, "services.storage.unknown_scroll_id")
	_, err = h.e.Scroll(ctx, res.ScrollID, "2m")
	wantErr(t, err, "services.storage.scroll_duration_too_great")
	_, err = h.e.Search(ctx, "idx", "col", storage.SearchRequest{Size: 2, Scroll: "1h"})
	wantErr(t, err, "services.storage.scroll_duration_too_great")
	_, err = h.e.Search(ctx, "idx", "col", storage.SearchRequest{Size: 2, Scroll: "soon"})
	wantErr(t, err, "services.storage.invalid_argument")
}

func TestClosedEngine(t *testing.T) {
	h := newHarness(t, Options{})
	h.setup()
	h.e.Close()
	if _, err := h.e.Apply(100, []storage.Write{{Op: storage.OpIndexCreate, Index: "x"}}); err == nil {
		t.Error("apply on a closed engine must fail")
	}
	if h.e.AppliedIndex() == 100 {
		t.Error("a failed apply must not move the applied index")
	}
	if _, err := h.e.Get(ctx, "idx", "col", "a"); !kerror.Is(err, "services.storage.unexpected_error") {
		t.Errorf("get on closed engine: %v", err)
	}
}

func TestDynamicMapping(t *testing.T) {
	h := newHarness(t, Options{})
	h.one(storage.Write{Op: storage.OpCollectionCreate, Index: "idx", Collection: "col",
		Mappings: json.RawMessage(`{"properties":{"name":{"type":"keyword"},"fixed":{"dynamic":"false","properties":{}}}}`)})
	h.one(docW(storage.OpDocCreate, 1, storage.DocWrite{ID: "a", Body: obj(
		`{"name":"x","n":1,"f":1.5,"b":true,"d":"2020-01-01T10:00:00Z","s":"hello","o":{"k":[{"x":1},{"y":"z"}]},"nil":null,"fixed":{"ignored":1}}`)}))
	m, _ := h.e.GetMapping(ctx, "idx", "col")
	want := `{"dynamic":"true","properties":{"b":{"type":"boolean"},"d":{"type":"date"},"f":{"type":"float"},"fixed":{"dynamic":"false","properties":{}},` +
		`"n":{"type":"long"},"name":{"type":"keyword"},"o":{"properties":{"k":{"properties":{"x":{"type":"long"},"y":{"fields":{"keyword":{"ignore_above":256,"type":"keyword"}},"type":"text"}}}}},` +
		`"s":{"fields":{"keyword":{"ignore_above":256,"type":"keyword"}},"type":"text"}}}`
	if js(m) != want {
		t.Errorf("dynamic mapping:\n%s\nwant\n%s", js(m), want)
	}
}

// TestConcurrentReadsApplyRestore exercises the locking between readers,
// Apply, Snapshot and Restore (meaningful under -race).
func TestConcurrentReadsApplyRestore(t *testing.T) {
	h := newHarness(t, Options{})
	h.setup()
	h.one(docW(storage.OpDocCreate, 1, storage.DocWrite{ID: "a", Body: obj(`{"n":1}`)}))
	var snap bytes.Buffer
	if err := h.e.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	readers := make(chan error, 2)
	for r := 0; r < 2; r++ {
		go func() {
			for {
				select {
				case <-stop:
					readers <- nil
					return
				default:
				}
				if _, err := h.e.Get(ctx, "idx", "col", "a"); err != nil && !kerror.Is(err, "services.storage.not_found") {
					readers <- err
					return
				}
				if _, err := h.e.Search(ctx, "idx", "col", storage.SearchRequest{Size: 5}); err != nil {
					readers <- err
					return
				}
			}
		}()
	}
	for i := 0; i < 20; i++ {
		h.apply(docW(storage.OpDocCreateOrReplace, int64(i), storage.DocWrite{ID: fmt.Sprint("b", i), Body: obj(`{}`)}))
		if i%5 == 0 {
			if err := h.e.Restore(bytes.NewReader(snap.Bytes())); err != nil {
				t.Fatal(err)
			}
			h.next = h.e.AppliedIndex() + 1
		}
	}
	close(stop)
	for r := 0; r < 2; r++ {
		if err := <-readers; err != nil {
			t.Fatal(err)
		}
	}
}

func TestMappingAwareQueries(t *testing.T) {
	h := newHarness(t, Options{})
	h.one(storage.Write{Op: storage.OpCollectionCreate, Index: "idx", Collection: "col",
		Mappings: json.RawMessage(`{"properties":{"status":{"type":"keyword"},"title":{"type":"text"}}}`)})
	h.one(docW(storage.OpDocCreate, 1,
		storage.DocWrite{ID: "a", Body: obj(`{"status":"in progress","title":"Hello World","name":"John Smith"}`)},
		storage.DocWrite{ID: "b", Body: obj(`{"status":"done","title":"in the world","name":"Jane"}`)}))
	cases := map[string]int{
		`{"term":{"title":"Hello"}}`:               0, // text fields hold lowercase tokens
		`{"term":{"title":"hello"}}`:               1,
		`{"match":{"status":"in progress"}}`:       1, // keyword: whole value
		`{"match":{"status":"in"}}`:                0,
		`{"match":{"title":"in progress"}}`:        1,
		`{"term":{"name.keyword":"John Smith"}}`:   1, // dynamic text field with keyword sub-field
		`{"term":{"name":"John Smith"}}`:           0,
		`{"match_phrase":{"name":"john smith"}}`:   1,
		`{"bool":{"filter":{"term":{"_id":"b"}}}}`: 1,
	}
	for q, want := range cases {
		n, err := h.e.Count(ctx, "idx", "col", json.RawMessage(q))
		if err != nil || n != want {
			t.Errorf("%s: count %d (%v), want %d", q, n, err, want)
		}
	}
}

func TestSearchAfter(t *testing.T) {
	h := newHarness(t, Options{})
	h.setup()
	var docs []storage.DocWrite
	for i := 0; i < 6; i++ {
		docs = append(docs, storage.DocWrite{ID: fmt.Sprintf("d%d", i), Body: map[string]any{"n": i / 2}})
	}
	h.one(docW(storage.OpDocCreate, 1, docs...))
	sort := json.RawMessage(`[{"n":"asc"},"_id"]`)
	res, err := h.e.Search(ctx, "idx", "col", storage.SearchRequest{Sort: sort, Size: 3, SearchAfter: json.RawMessage(`[0,"d1"]`)})
	if err != nil || js(hitIDs(res)) != `["d2","d3","d4"]` {
		t.Fatalf("after (0, d1): %v %v", hitIDs(res), err)
	}
	// Strictly after: equal sort values are excluded, as in ES.
	res, err = h.e.Search(ctx, "idx", "col", storage.SearchRequest{Sort: json.RawMessage(`{"n":"desc"}`), Size: 10, SearchAfter: json.RawMessage(`[1]`)})
	if err != nil || js(hitIDs(res)) != `["d0","d1"]` {
		t.Fatalf("after n=1 desc: %v %v", hitIDs(res), err)
	}
	for _, bad := range []string{`[1,2,3]`, `{"a":1}`, `[{"x":1}]`} {
		if _, err := h.e.Search(ctx, "idx", "col", storage.SearchRequest{Sort: json.RawMessage(`{"n":"desc"}`), Size: 1, SearchAfter: json.RawMessage(bad)}); err == nil {
			t.Errorf("search_after %s accepted", bad)
		}
	}
}

// mustApply applies writes at index and fails the test if the store could
// not commit them.
func mustApply(t testing.TB, e *Engine, index uint64, ws []storage.Write) []storage.WriteResult {
	t.Helper()
	r, err := e.Apply(index, ws)
	if err != nil {
		t.Fatalf("apply at %d: %v", index, err)
	}
	return r
}

// With dynamic "false", a document keeps its unmapped fields but ES does
// not index them: no query finds them (a range on an unmapped age returns
// nothing). An object's own dynamic setting wins over the collection's,
// both ways. With "strict", the write itself is refused, as in Kuzzle.
func TestUnmappedFieldsOfNonDynamicCollections(t *testing.T) {
	h := newHarness(t, Options{})
	h.one(storage.Write{Op: storage.OpCollectionCreate, Index: "idx", Collection: "col",
		Mappings: json.RawMessage(`{"dynamic":"false","properties":{"name":{"type":"keyword"},` +
			`"open":{"dynamic":"true","properties":{}},"closed":{"properties":{"k":{"type":"keyword"}}}}}`)})
	h.one(docW(storage.OpDocCreate, 1,
		storage.DocWrite{ID: "a", Body: obj(`{"name":"x","age":42,"open":{"n":1},"closed":{"k":"v","n":1}}`)},
		storage.DocWrite{ID: "b", Body: obj(`{"name":"y","age":17}`)}))
	d, err := h.e.Get(ctx, "idx", "col", "a")
	if err != nil || js(d.Source["age"]) != "42" {
		t.Fatalf("the unmapped field is kept in the document: %v %v", d, err)
	}
	for q, want := range map[string]int{
		`{"range":{"age":{"gte":0}}}`:                      0,
		`{"term":{"age":42}}`:                              0,
		`{"exists":{"field":"age"}}`:                       0,
		`{"bool":{"must_not":{"exists":{"field":"age"}}}}`: 2,
		`{"term":{"name":"x"}}`:                            1,
		`{"term":{"open.n":1}}`:                            1, // the object is dynamic: its fields are mapped on write
		`{"term":{"closed.n":1}}`:                          0, // inherits "false"
		`{"term":{"closed.k":"v"}}`:                        1,
		`{"range":{"_kuzzle_info.createdAt":{"gte":0}}}`:   2, // Kuzzle's metadata is always mapped
	} {
		n, err := h.e.Count(ctx, "idx", "col", json.RawMessage(q))
		if err != nil || n != want {
			t.Errorf("dynamic false: %s: count %d (%v), want %d", q, n, err, want)
		}
	}
	res, err := h.e.Search(ctx, "idx", "col", storage.SearchRequest{Query: json.RawMessage(`{"match":{"age":"42"}}`), Size: 10})
	if err != nil || len(res.Hits) != 0 {
		t.Errorf("dynamic false: search on an unmapped field: %v %v", hitIDs(res), err)
	}

	// A dynamic "false" object inside a dynamic collection.
	h.one(storage.Write{Op: storage.OpCollectionCreate, Index: "idx", Collection: "mixed",
		Mappings: json.RawMessage(`{"properties":{"fixed":{"dynamic":"false","properties":{}}}}`)})
	h.one(storage.Write{Op: storage.OpDocCreate, Index: "idx", Collection: "mixed", Now: 1, Author: "kuid",
		Docs: []storage.DocWrite{{ID: "a", Body: obj(`{"n":1,"fixed":{"n":1}}`)}}})
	for q, want := range map[string]int{`{"term":{"n":1}}`: 1, `{"term":{"fixed.n":1}}`: 0} {
		n, err := h.e.Count(ctx, "idx", "mixed", json.RawMessage(q))
		if err != nil || n != want {
			t.Errorf("dynamic object: %s: count %d (%v), want %d", q, n, err, want)
		}
	}

	// Strict, at the root and in an object.
	h.one(storage.Write{Op: storage.OpCollectionCreate, Index: "idx", Collection: "strict",
		Mappings: json.RawMessage(`{"dynamic":"strict","properties":{"name":{"type":"keyword"},"o":{"dynamic":"true","properties":{}}}}`)})
	w := storage.Write{Op: storage.OpDocCreate, Index: "idx", Collection: "strict", Now: 1, Author: "kuid",
		Docs: []storage.DocWrite{{ID: "a", Body: obj(`{"name":"x","age":42}`)}}}
	if r := h.apply(w)[0]; r.Err != nil {
		wantErr(t, r.Err, "services.storage.strict_mapping_rejection")
	} else {
		wantErr(t, r.Items[0].Err, "services.storage.strict_mapping_rejection")
	}
	w.Docs = []storage.DocWrite{{ID: "b", Body: obj(`{"name":"x","o":{"free":1}}`)}}
	h.one(w)
	for q, want := range map[string]int{`{"term":{"age":42}}`: 0, `{"term":{"o.free":1}}`: 1, `{"term":{"name":"x"}}`: 1} {
		n, err := h.e.Count(ctx, "idx", "strict", json.RawMessage(q))
		if err != nil || n != want {
			t.Errorf("strict: %s: count %d (%v), want %d", q, n, err, want)
		}
	}
}
