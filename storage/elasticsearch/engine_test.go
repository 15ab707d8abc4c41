package elasticsearch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/storage"
)

// esURL is the Elasticsearch the tests use (ELASTICSEARCH_URL, default the
// shared tool's 127.0.0.1:9200). Tests skip, saying so, when none answers.
func esURL() string {
	if u := os.Getenv("ELASTICSEARCH_URL"); u != "" {
		return u
	}
	return "http://127.0.0.1:9200"
}

func newEngine(t *testing.T) *Engine {
	t.Helper()
	c := http.Client{Timeout: 2 * time.Second}
	res, err := c.Get(esURL())
	if err != nil {
		t.Skipf("no Elasticsearch at %s (start ../shared/tools/search-engine/start.sh or make test-es): %v", esURL(), err)
	}
	res.Body.Close()
	e, err := New(Options{URLs: []string{esURL()}, DocumentsFetchCount: 100})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	return e
}

// testIndex returns a Kuzzle index name unique to this test, deleted at
// the end, so that tests sharing one Elasticsearch do not meet.
func testIndex(t *testing.T, e *Engine) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "t-" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		_, _ = e.Execute(context.Background(), &storage.Write{Op: storage.OpIndexDelete, Indexes: []string{name}})
	})
	return name
}

func mustWrite(t *testing.T, e *Engine, w storage.Write) *storage.WriteResult {
	t.Helper()
	res, err := e.Execute(context.Background(), &w)
	if err != nil {
		t.Fatalf("%s: %v", w.Op, err)
	}
	if res.Err != nil {
		t.Fatalf("%s: %v", w.Op, res.Err)
	}
	return res
}

func errID(err error) string {
	if ke, ok := err.(*kerror.Error); ok {
		return ke.ID
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestKuzzleLayout(t *testing.T) {
	e := newEngine(t)
	ctx := context.Background()
	idx := testIndex(t, e)
	mustWrite(t, e, storage.Write{Op: storage.OpIndexCreate, Index: idx})
	s, err := e.schema(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := s[idx][hiddenCollection]; got != "&"+idx+"._kuzzle_keep" {
		t.Fatalf("hidden collection index = %q, want &%s._kuzzle_keep", got, idx)
	}
	if ok, _ := e.IndexExists(ctx, idx); !ok {
		t.Fatal("the new index is not listed")
	}
	if cs, _ := e.ListCollections(ctx, idx); len(cs) != 0 {
		t.Fatalf("collections of an empty index = %v", cs)
	}
	res, _ := e.Execute(ctx, &storage.Write{Op: storage.OpIndexCreate, Index: idx})
	if res == nil || errID(res.Err) != "services.storage.index_already_exists" {
		t.Fatalf("second create: %+v", res)
	}

	mustWrite(t, e, storage.Write{Op: storage.OpCollectionCreate, Index: idx, Collection: "c1",
		Mappings: json.RawMessage(`{"dynamic":"strict","properties":{"name":{"type":"keyword"}}}`)})
	s, _ = e.schema(ctx)
	if s[idx]["c1"] != "&"+idx+".c1" {
		t.Fatalf("collection index = %q", s[idx]["c1"])
	}
	if _, ok := s[idx][hiddenCollection]; ok {
		t.Fatal("the hidden collection outlived the first collection")
	}
	m, err := e.GetMapping(ctx, idx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if m["dynamic"] != "strict" {
		t.Fatalf("mapping = %v", m)
	}
	props := m["properties"].(map[string]any)
	if _, ok := props["_kuzzle_info"]; ok || props["name"] == nil {
		t.Fatalf("properties = %v", props)
	}
	res, _ = e.Execute(ctx, &storage.Write{Op: storage.OpCollectionCreate, Index: idx, Collection: hiddenCollection})
	if errID(res.Err) != "services.storage.collection_reserved" {
		t.Fatalf("reserved name: %+v", res.Err)
	}
	mustWrite(t, e, storage.Write{Op: storage.OpCollectionDelete, Index: idx, Collection: "c1"})
	if ok, _ := e.IndexExists(ctx, idx); !ok {
		t.Fatal("deleting the last collection lost the index")
	}
}

func TestDocumentCRUD(t *testing.T) {
	e := newEngine(t)
	ctx := context.Background()
	idx := testIndex(t, e)
	mustWrite(t, e, storage.Write{Op: storage.OpCollectionCreate, Index: idx, Collection: "c"})
	w := func(op storage.Op, id string, body map[string]any) storage.ItemResult {
		t.Helper()
		res := mustWrite(t, e, storage.Write{Op: op, Index: idx, Collection: "c", Now: 1000, Author: "u1", Refresh: "wait_for",
			Docs: []storage.DocWrite{{ID: id, Body: body}}})
		return res.Items[0]
	}
	it := w(storage.OpDocCreate, "d1", map[string]any{"a": 1.0, "o": map[string]any{"x": 1.0}})
	if it.Err != nil || !it.Created || it.Before != nil || it.After.Version != 1 {
		t.Fatalf("create: %+v", it)
	}
	if info := it.After.Source["_kuzzle_info"].(map[string]any); info["author"] != "u1" || info["createdAt"] != 1000.0 {
		t.Fatalf("_kuzzle_info = %v", info)
	}
	if it := w(storage.OpDocCreate, "d1", map[string]any{}); errID(it.Err) != "services.storage.document_already_exists" {
		t.Fatalf("second create: %+v", it)
	}
	it = w(storage.OpDocUpdate, "d1", map[string]any{"o": map[string]any{"y": 2.0}})
	if it.Err != nil || it.Before.Version != 1 || it.After.Version != 2 {
		t.Fatalf("update: %+v", it)
	}
	o := it.After.Source["o"].(map[string]any)
	if o["x"] != 1.0 || o["y"] != 2.0 || len(it.UpdatedFields) != 1 || it.UpdatedFields[0] != "o.y" {
		t.Fatalf("update merged %v, fields %v", it.After.Source, it.UpdatedFields)
	}
	if it := w(storage.OpDocReplace, "nope", map[string]any{}); errID(it.Err) != "services.storage.not_found" {
		t.Fatalf("replace of a missing doc: %+v", it)
	}
	got, err := e.Get(ctx, idx, "c", "d1")
	if err != nil || got.Version != 2 || got.Source["o"].(map[string]any)["y"] != 2.0 {
		t.Fatalf("get: %+v %v", got, err)
	}
	found, missing, err := e.MGet(ctx, idx, "c", []string{"d1", "zz"})
	if err != nil || len(found) != 1 || len(missing) != 1 || missing[0] != "zz" {
		t.Fatalf("mget: %v %v %v", found, missing, err)
	}
	it = w(storage.OpDocDelete, "d1", nil)
	if it.Err != nil || it.Before == nil || it.Before.Version != 2 || it.After != nil {
		t.Fatalf("delete: %+v", it)
	}
	if _, err := e.Get(ctx, idx, "c", "d1"); errID(err) != "services.storage.not_found" {
		t.Fatalf("get after delete: %v", err)
	}
	if _, err := e.Get(ctx, idx, "nope", "d1"); errID(err) != "services.storage.unknown_collection" {
		t.Fatalf("get in a missing collection: %v", err)
	}
}

// Concurrent updates of one document form one chain: each write's before is
// the previous write's after, and the last after is what Elasticsearch holds.
func TestConcurrentUpdatesChain(t *testing.T) {
	e := newEngine(t)
	ctx := context.Background()
	idx := testIndex(t, e)
	mustWrite(t, e, storage.Write{Op: storage.OpCollectionCreate, Index: idx, Collection: "c"})
	mustWrite(t, e, storage.Write{Op: storage.OpDocCreate, Index: idx, Collection: "c", Docs: []storage.DocWrite{{ID: "d", Body: map[string]any{"n": 0.0}}}})
	const writers, each = 4, 5
	var mu sync.Mutex
	byBefore := map[int64]int64{} // before version → after version
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				res, err := e.Execute(ctx, &storage.Write{Op: storage.OpDocUpdate, Index: idx, Collection: "c",
					Docs: []storage.DocWrite{{ID: "d", Body: map[string]any{"w": float64(g*100 + i)}}}})
				if err != nil || res.Err != nil || res.Items[0].Err != nil {
					t.Errorf("update: %v %+v", err, res)
					return
				}
				it := res.Items[0]
				mu.Lock()
				if _, dup := byBefore[it.Before.Version]; dup {
					t.Errorf("two writes replaced version %d", it.Before.Version)
				}
				byBefore[it.Before.Version] = it.After.Version
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	v := int64(1)
	for range writers * each {
		next, ok := byBefore[v]
		if !ok || next != v+1 {
			t.Fatalf("the chain breaks at version %d: %v", v, byBefore)
		}
		v = next
	}
	got, err := e.Get(ctx, idx, "c", "d")
	if err != nil || got.Version != v {
		t.Fatalf("final version %v, chain ends at %d (%v)", got, v, err)
	}
}

func TestSearchPassThrough(t *testing.T) {
	e := newEngine(t)
	ctx := context.Background()
	idx := testIndex(t, e)
	mustWrite(t, e, storage.Write{Op: storage.OpCollectionCreate, Index: idx, Collection: "c",
		Mappings: json.RawMessage(`{"properties":{"kind":{"type":"keyword"},"text":{"type":"text"},"n":{"type":"integer"}}}`)})
	var docs []storage.DocWrite
	for i, txt := range []string{"the quick brown fox", "a lazy dog", "quick quick silver", "brown bear"} {
		kind := "odd"
		if i%2 == 0 {
			kind = "even"
		}
		docs = append(docs, storage.DocWrite{ID: string(rune('a' + i)), Body: map[string]any{"text": txt, "kind": kind, "n": float64(i)}})
	}
	mustWrite(t, e, storage.Write{Op: storage.OpDocCreate, Index: idx, Collection: "c", Refresh: "wait_for", Docs: docs})

	body := json.RawMessage(`{"query":{"match":{"text":"quick"}},"aggs":{"kinds":{"terms":{"field":"kind"}}},
		"highlight":{"fields":{"text":{}}},"_source":["text"]}`)
	res, err := e.Search(ctx, idx, "c", storage.SearchRequest{Body: body, Query: json.RawMessage(`{"match":{"text":"quick"}}`), Size: 10})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 2 || len(res.Hits) != 2 || res.Hits[0].ID != "c" {
		t.Fatalf("full-text search: %+v", res)
	}
	if _, ok := res.Hits[0].Source["kind"]; ok || res.Hits[0].Highlight == nil {
		t.Fatalf("_source filtering or highlight missing: %+v", res.Hits[0])
	}
	if res.Aggregations["kinds"] == nil {
		t.Fatalf("no aggregations: %+v", res.Aggregations)
	}
	// sort + search_after
	page, err := e.Search(ctx, idx, "c", storage.SearchRequest{Sort: json.RawMessage(`[{"n":"asc"}]`), Size: 2})
	if err != nil || len(page.Hits) != 2 || page.Hits[1].ID != "b" {
		t.Fatalf("sorted page: %+v %v", page, err)
	}
	next, err := e.Search(ctx, idx, "c", storage.SearchRequest{Sort: json.RawMessage(`[{"n":"asc"}]`), Size: 2, SearchAfter: json.RawMessage(`[1]`)})
	if err != nil || len(next.Hits) != 2 || next.Hits[0].ID != "c" {
		t.Fatalf("search_after: %+v %v", next, err)
	}
	// scroll
	first, err := e.Search(ctx, idx, "c", storage.SearchRequest{Sort: json.RawMessage(`[{"n":"asc"}]`), Size: 3, Scroll: "10s"})
	if err != nil || first.ScrollID == "" {
		t.Fatalf("scroll: %+v %v", first, err)
	}
	if ts, err := e.ScrollTargets(ctx, first.ScrollID); err != nil || len(ts) != 1 || ts[0].Index != idx ||
		len(ts[0].Collections) != 1 || ts[0].Collections[0] != "c" {
		t.Fatalf("scroll targets %+v %v", ts, err)
	}
	rest, err := e.Scroll(ctx, first.ScrollID, "10s")
	if err != nil || len(rest.Hits) != 1 || rest.Hits[0].ID != "d" {
		t.Fatalf("scroll page 2: %+v %v", rest, err)
	}
	if _, err := e.Scroll(ctx, first.ScrollID+"x", ""); errID(err) != "services.storage.unknown_scroll_id" {
		t.Fatalf("forged scroll id: %v", err)
	}
	if _, err := e.Search(ctx, idx, "c", storage.SearchRequest{Body: json.RawMessage(`{"script_fields":{}}`)}); errID(err) != "services.storage.invalid_search_query" {
		t.Fatalf("unknown key: %v", err)
	}
	if _, err := e.Search(ctx, idx, "c", storage.SearchRequest{Query: json.RawMessage(`{"script":{"script":{"source":"1"}}}`)}); errID(err) != "services.storage.invalid_query_keyword" {
		t.Fatalf("inline script: %v", err)
	}
	if _, err := e.Search(ctx, idx, "c", storage.SearchRequest{Query: json.RawMessage(`{"nope":{}}`)}); errID(err) != "services.storage.unknown_query_keyword" {
		t.Fatalf("bad query: %v", err)
	}
	n, err := e.Count(ctx, idx, "c", json.RawMessage(`{"term":{"kind":"even"}}`))
	if err != nil || n != 2 {
		t.Fatalf("count = %d, %v", n, err)
	}

	// by query: limit, then updates with exact before/after
	lim, _ := e.Execute(ctx, &storage.Write{Op: storage.OpDocUpdateByQuery, Index: idx, Collection: "c", Limit: 1,
		Query: json.RawMessage(`{"term":{"kind":"even"}}`), Changes: map[string]any{"x": 1.0}})
	if errID(lim.Err) != "services.storage.write_limit_exceeded" {
		t.Fatalf("limit: %+v", lim)
	}
	up := mustWrite(t, e, storage.Write{Op: storage.OpDocUpdateByQuery, Index: idx, Collection: "c", Refresh: "wait_for",
		Query: json.RawMessage(`{"term":{"kind":"even"}}`), Changes: map[string]any{"x": 1.0}})
	if len(up.Items) != 2 || up.Items[0].ID != "a" || up.Items[0].Before.Version != 1 || up.Items[0].After.Source["x"] != 1.0 {
		t.Fatalf("updateByQuery: %+v", up.Items)
	}
	del := mustWrite(t, e, storage.Write{Op: storage.OpDocDeleteByQuery, Index: idx, Collection: "c", Refresh: "wait_for",
		Query: json.RawMessage(`{"term":{"x":1}}`)})
	if len(del.Items) != 2 || del.Items[1].Before.Source["x"] != 1.0 {
		t.Fatalf("deleteByQuery: %+v", del.Items)
	}
	if n, _ := e.Count(ctx, idx, "c", nil); n != 2 {
		t.Fatalf("count after deleteByQuery = %d", n)
	}
}

func TestStrictMappingAndUnreachable(t *testing.T) {
	e := newEngine(t)
	ctx := context.Background()
	idx := testIndex(t, e)
	mustWrite(t, e, storage.Write{Op: storage.OpCollectionCreate, Index: idx, Collection: "c",
		Mappings: json.RawMessage(`{"dynamic":"strict","properties":{"a":{"type":"keyword"}}}`)})
	res := mustWrite(t, e, storage.Write{Op: storage.OpDocCreate, Index: idx, Collection: "c", Docs: []storage.DocWrite{{ID: "x", Body: map[string]any{"b": 1.0}}}})
	if errID(res.Items[0].Err) != "services.storage.strict_mapping_rejection" {
		t.Fatalf("strict: %+v", res.Items[0].Err)
	}
	dead, err := New(Options{URLs: []string{"http://127.0.0.1:1"}, MaxRetries: 1, RequestTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := dead.Ping(ctx); errID(err) != "services.storage.not_connected" {
		t.Fatalf("unreachable: %v", err)
	}
	if _, err := dead.Execute(ctx, &storage.Write{Op: storage.OpIndexCreate, Index: "x"}); errID(err) != "services.storage.not_connected" {
		t.Fatalf("write while unreachable: %v", err)
	}
}
