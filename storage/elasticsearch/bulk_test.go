package elasticsearch

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/korumdb/korum/storage"
)

// countingEngine is an engine whose requests go through a reverse proxy
// that records their paths.
func countingEngine(t *testing.T) (*Engine, func() []string) {
	t.Helper()
	newEngine(t) // skips without Elasticsearch
	u, err := url.Parse(esURL())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var paths []string
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.Method+" "+r.URL.Path)
		mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	e, err := New(Options{URLs: []string{srv.URL}, RequestTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return e, func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := paths
		paths = nil
		return out
	}
}

func countPaths(paths []string, part string) int {
	n := 0
	for _, p := range paths {
		if strings.Contains(p, part) {
			n++
		}
	}
	return n
}

// m* writes take one _mget and one _bulk, whatever their size; items a
// batch cannot guard (a document named twice) are redone alone, in order,
// with exact before/after states.
func TestMultiWritesInOneBulk(t *testing.T) {
	e, seen := countingEngine(t)
	ctx := context.Background()
	idx := testIndex(t, e)
	mustWrite(t, e, storage.Write{Op: storage.OpCollectionCreate, Index: idx, Collection: "c"})
	seen()
	var docs []storage.DocWrite
	for i := range 20 {
		docs = append(docs, storage.DocWrite{ID: fmt.Sprintf("d%02d", i), Body: map[string]any{"n": float64(i)}})
	}
	docs = append(docs, storage.DocWrite{ID: "d00", Body: map[string]any{"again": true}})
	res := mustWrite(t, e, storage.Write{Op: storage.OpDocCreate, Index: idx, Collection: "c", Now: 1, Docs: docs})
	paths := seen()
	// Creates read nothing; the document named twice is redone alone.
	if countPaths(paths, "_bulk") != 1 || countPaths(paths, "_mget") != 0 || len(paths) != 2 {
		t.Fatalf("mCreate of 21 documents: requests %v, want one _bulk and the duplicate's own create", paths)
	}
	for i, it := range res.Items[:20] {
		if it.Err != nil || !it.Created || it.After == nil || it.After.Version != 1 || it.Seq == nil {
			t.Fatalf("item %d: %+v", i, it)
		}
	}
	if kerrID(res.Items[20].Err) != "services.storage.document_already_exists" {
		t.Fatalf("a document created twice in one mCreate: %+v", res.Items[20])
	}

	// Two updates of one document: the second builds on the first.
	res = mustWrite(t, e, storage.Write{Op: storage.OpDocUpdate, Index: idx, Collection: "c", Now: 2, Docs: []storage.DocWrite{
		{ID: "d01", Body: map[string]any{"a": 1.0}}, {ID: "d01", Body: map[string]any{"b": 2.0}}, {ID: "nope", Body: map[string]any{}}}})
	if paths := seen(); countPaths(paths, "_bulk") != 1 || countPaths(paths, "_mget") != 1 {
		t.Fatalf("mUpdate: requests %v, want one _mget and one _bulk (and the chained update alone)", paths)
	}
	a, b := res.Items[0], res.Items[1]
	if a.Err != nil || b.Err != nil || a.Before.Version != 1 || a.After.Version != 2 || b.Before.Version != 2 ||
		b.After.Version != 3 || b.After.Source["a"] != 1.0 || b.After.Source["b"] != 2.0 || !b.Seq.After(*a.Seq) {
		t.Fatalf("chained updates: %+v / %+v", a, b)
	}
	if kerrID(res.Items[2].Err) != "services.storage.not_found" {
		t.Fatalf("update of a missing document: %+v", res.Items[2])
	}

	// bulk:import: each document its own operation.
	res = mustWrite(t, e, storage.Write{Op: storage.OpDocBulk, Index: idx, Collection: "c", Now: 3, Docs: []storage.DocWrite{
		{Op: storage.OpDocCreate, ID: "x", Body: map[string]any{"x": true}}, {Op: storage.OpDocDelete, ID: "d02"},
		{Op: storage.OpDocReplace, ID: "d03", Body: map[string]any{"r": true}}, {Op: "doc.bogus", ID: "d04"}}})
	if it := res.Items; it[0].Err != nil || !it[0].Created || it[1].Err != nil || it[1].After != nil || it[1].Before == nil ||
		it[2].Err != nil || it[2].After.Source["r"] != true || it[2].After.Source["n"] != nil ||
		kerrID(it[3].Err) != "services.storage.invalid_argument" {
		t.Fatalf("bulk import items: %+v", it)
	}
	// A document created then deleted in one bulk:import: in order, as
	// Elasticsearch's _bulk does.
	res = mustWrite(t, e, storage.Write{Op: storage.OpDocBulk, Index: idx, Collection: "c", Now: 4, Docs: []storage.DocWrite{
		{Op: storage.OpDocCreateOrReplace, ID: "y", Body: map[string]any{"y": 1.0}}, {Op: storage.OpDocUpdate, ID: "d05", Body: map[string]any{"z": 1.0}},
		{Op: storage.OpDocDelete, ID: "y"}}})
	if it := res.Items; it[0].Err != nil || it[1].Err != nil || it[2].Err != nil || it[2].Before == nil || it[2].Before.Version != 1 {
		t.Fatalf("create then delete in one bulk: %+v", it)
	}
	if _, err := e.Get(ctx, idx, "c", "y"); errID(err) != "services.storage.not_found" {
		t.Fatalf("y after its bulk delete: %v", err)
	}
	if _, err := e.Get(ctx, idx, "c", "d02"); errID(err) != "services.storage.not_found" {
		t.Fatalf("d02 after its bulk delete: %v", err)
	}
}

// By-query writes page past the result window with search_after and write
// in bulk, each item with its exact before/after.
func TestByQueryPagesPastTheWindow(t *testing.T) {
	e := newEngine(t)
	e.window = 3
	idx := testIndex(t, e)
	mustWrite(t, e, storage.Write{Op: storage.OpCollectionCreate, Index: idx, Collection: "c"})
	var docs []storage.DocWrite
	for i := range 8 {
		docs = append(docs, storage.DocWrite{ID: fmt.Sprintf("q%d", i), Body: map[string]any{"k": "v"}})
	}
	mustWrite(t, e, storage.Write{Op: storage.OpDocCreate, Index: idx, Collection: "c", Refresh: "wait_for", Docs: docs})
	lim, err := e.Execute(context.Background(), &storage.Write{Op: storage.OpDocUpdateByQuery, Index: idx, Collection: "c", Limit: 7,
		Query: json.RawMessage(`{"match_all":{}}`), Changes: map[string]any{"u": 1.0}})
	if err != nil || kerrID(lim.Err) != "services.storage.write_limit_exceeded" {
		t.Fatalf("8 documents, limit 7: %v %+v", err, lim)
	}
	up := mustWrite(t, e, storage.Write{Op: storage.OpDocUpdateByQuery, Index: idx, Collection: "c", Limit: 8, Refresh: "wait_for",
		Query: json.RawMessage(`{"match_all":{}}`), Changes: map[string]any{"u": 1.0}})
	if len(up.Items) != 8 {
		t.Fatalf("updateByQuery over 8 documents, window 3: %d items", len(up.Items))
	}
	for i, it := range up.Items {
		if it.ID != fmt.Sprintf("q%d", i) || it.Err != nil || it.Before.Version != 1 || it.After.Version != 2 || it.After.Source["u"] != 1.0 {
			t.Fatalf("item %d: %+v", i, it)
		}
	}
	del := mustWrite(t, e, storage.Write{Op: storage.OpDocDeleteByQuery, Index: idx, Collection: "c", Limit: 100, Refresh: "wait_for",
		Query: json.RawMessage(`{"term":{"u":1}}`)})
	if len(del.Items) != 8 {
		t.Fatalf("deleteByQuery: %d items", len(del.Items))
	}
}

// Collection settings reach Elasticsearch (create and update), getSettings
// answers Kuzzle's settings.index, a write block answers write_blocked, and
// index:stats counts each collection's documents, refreshed first.
func TestSettingsAndStats(t *testing.T) {
	e := newEngine(t)
	e.opts.RefreshBeforeSearch = true
	ctx := context.Background()
	idx := testIndex(t, e)
	mustWrite(t, e, storage.Write{Op: storage.OpCollectionCreate, Index: idx, Collection: "a",
		Settings: json.RawMessage(`{"index":{"refresh_interval":"7s"}}`)})
	mustWrite(t, e, storage.Write{Op: storage.OpCollectionCreate, Index: idx, Collection: "b"})
	st, err := e.GetSettings(ctx, idx, "a")
	if err != nil || st["refresh_interval"] != "7s" || st["number_of_shards"] == nil {
		t.Fatalf("settings at creation: %v %v", st, err)
	}
	mustWrite(t, e, storage.Write{Op: storage.OpDocCreate, Index: idx, Collection: "a",
		Docs: []storage.DocWrite{{ID: "1", Body: map[string]any{}}, {ID: "2", Body: map[string]any{}}}})
	stats, err := e.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var mine *storage.IndexStats
	for i := range stats {
		if stats[i].Name == idx {
			mine = &stats[i]
		}
	}
	if mine == nil || len(mine.Collections) != 2 || mine.Collections[0].Name != "a" || mine.Collections[0].Documents != 2 ||
		mine.Collections[1].Documents != 0 || mine.Size != mine.Collections[0].Size+mine.Collections[1].Size || mine.Size <= 0 {
		t.Fatalf("stats of %s: %+v", idx, mine)
	}

	mustWrite(t, e, storage.Write{Op: storage.OpCollectionUpdate, Index: idx, Collection: "a",
		Settings: json.RawMessage(`{"index":{"blocks":{"write":true}}}`)})
	t.Cleanup(func() {
		_, _ = e.Execute(ctx, &storage.Write{Op: storage.OpCollectionUpdate, Index: idx, Collection: "a",
			Settings: json.RawMessage(`{"index":{"blocks":{"write":false}}}`)})
	})
	if st, err := e.GetSettings(ctx, idx, "a"); err != nil || st["blocks"].(map[string]any)["write"] != "true" {
		t.Fatalf("settings after update: %v %v", st, err)
	}
	res := mustWrite(t, e, storage.Write{Op: storage.OpDocCreate, Index: idx, Collection: "a", Docs: []storage.DocWrite{{ID: "3", Body: map[string]any{}}}})
	if kerrID(res.Items[0].Err) != "services.storage.write_blocked" {
		t.Fatalf("a write to a write-blocked collection: %+v", res.Items[0].Err)
	}
	mustWrite(t, e, storage.Write{Op: storage.OpCollectionUpdate, Index: idx, Collection: "a",
		Settings: json.RawMessage(`{"index":{"blocks":{"write":false}}}`)})
	res = mustWrite(t, e, storage.Write{Op: storage.OpDocCreate, Index: idx, Collection: "a", Docs: []storage.DocWrite{{ID: "3", Body: map[string]any{}}}})
	if res.Items[0].Err != nil {
		t.Fatalf("once lifted: %v", res.Items[0].Err)
	}
}

// Reads and document writes go to the alias without a schema lookup; when
// it is missing they still name what is missing, and a write never makes
// Elasticsearch auto-create an index in its place.
func TestMissingCollectionOrIndex(t *testing.T) {
	e := newEngine(t)
	ctx := context.Background()
	idx := testIndex(t, e)
	mustWrite(t, e, storage.Write{Op: storage.OpIndexCreate, Index: idx})
	one := []storage.DocWrite{{ID: "a", Body: map[string]any{}}}
	for _, tc := range []struct{ index, coll, want string }{
		{idx, "nope", "services.storage.unknown_collection"},
		{idx, hiddenCollection, "services.storage.unknown_collection"},
		{"nope-" + idx, "c", "services.storage.unknown_index"},
	} {
		for _, op := range []storage.Op{storage.OpDocCreate, storage.OpDocCreateOrReplace} {
			res, err := e.Execute(ctx, &storage.Write{Op: op, Index: tc.index, Collection: tc.coll, Docs: one})
			if err != nil || kerrID(res.Err) != tc.want {
				t.Fatalf("%s on %s/%s: %v %+v, want %s", op, tc.index, tc.coll, err, res, tc.want)
			}
			res, err = e.Execute(ctx, &storage.Write{Op: op, Index: tc.index, Collection: tc.coll, Docs: append(one, storage.DocWrite{ID: "b"})})
			if err != nil || kerrID(res.Err) != tc.want {
				t.Fatalf("m%s on %s/%s: %v %+v, want %s", op, tc.index, tc.coll, err, res, tc.want)
			}
		}
		if _, err := e.Get(ctx, tc.index, tc.coll, "a"); errID(err) != tc.want {
			t.Fatalf("get on %s/%s: %v, want %s", tc.index, tc.coll, err, tc.want)
		}
		for _, ids := range [][]string{{"a", "b"}, {}} {
			if _, _, err := e.MGet(ctx, tc.index, tc.coll, ids); errID(err) != tc.want {
				t.Fatalf("mGet %v on %s/%s: %v, want %s", ids, tc.index, tc.coll, err, tc.want)
			}
		}
	}
	// The create path itself refuses a missing alias (require_alias).
	w := &storage.Write{Op: storage.OpDocCreate, Index: idx, Collection: "gone"}
	if _, _, _, err := e.put(ctx, w, "x", nil, map[string]any{"a": 1.0}); errID(err) != "services.storage.unknown_collection" {
		t.Fatalf("a create on a missing alias: %v", err)
	}
	var rows []map[string]any
	if err := e.call(ctx, esapi.CatIndicesRequest{Index: []string{alias(idx, "*")}, Format: "json"}, &rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if name, _ := r["index"].(string); strings.HasPrefix(name, aliasPrefix) {
			t.Fatalf("an index named like an alias was auto-created: %s", name)
		}
	}
}
