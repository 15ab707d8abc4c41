package elasticsearch

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/korumdb/korum/storage"
)

func TestMultiSearch(t *testing.T) {
	e := newEngine(t)
	ctx := context.Background()
	i1, i2 := testIndex(t, e), testIndex(t, e)
	for _, ic := range [][2]string{{i1, "a"}, {i1, "b"}, {i2, "a"}} {
		mustWrite(t, e, storage.Write{Op: storage.OpCollectionCreate, Index: ic[0], Collection: ic[1]})
		w := storage.Write{Op: storage.OpDocCreate, Index: ic[0], Collection: ic[1], Now: 1, Author: "u", Refresh: "wait_for"}
		for n := 0; n < 3; n++ {
			w.Docs = append(w.Docs, storage.DocWrite{ID: fmt.Sprintf("d%d", n), Body: map[string]any{"n": n, "in": ic[0] + "/" + ic[1]}})
		}
		mustWrite(t, e, w)
	}
	targets := []storage.Target{{Index: i1, Collections: []string{"a", "b"}}, {Index: i2, Collections: []string{"a"}}}
	res, err := e.MultiSearch(ctx, targets, storage.SearchRequest{Query: json.RawMessage(`{"range":{"n":{"gte":2}}}`), Size: 10})
	if err != nil || res.Total != 3 || len(res.Hits) != 3 {
		t.Fatalf("multi search: %+v %v", res, err)
	}
	seen := map[string]bool{}
	for _, h := range res.Hits {
		// Each hit names where it was found, and its source agrees.
		where := h.Index + "/" + h.Collection
		if h.ID != "d2" || h.Source["in"] != where {
			t.Fatalf("hit %s in %s has source %v", h.ID, where, h.Source["in"])
		}
		seen[where] = true
	}
	if len(seen) != 3 {
		t.Fatalf("hits from %v", seen)
	}

	// A scroll over several targets goes through all of them.
	page, err := e.MultiSearch(ctx, targets, storage.SearchRequest{Size: 4, Scroll: "10s"})
	if err != nil || page.ScrollID == "" || page.Total != 9 || page.Remaining != 5 {
		t.Fatalf("first page: %+v %v", page, err)
	}
	if ts, err := e.ScrollTargets(ctx, page.ScrollID); err != nil || len(ts) != 2 || ts[1].Index != i2 {
		t.Fatalf("scroll targets: %+v %v", ts, err)
	}
	got := map[string]bool{}
	for n := 0; len(page.Hits) > 0; n++ {
		if n > 5 {
			t.Fatal("scroll does not end")
		}
		for _, h := range page.Hits {
			k := h.Index + "/" + h.Collection + "/" + h.ID
			if got[k] || h.Index == "" {
				t.Fatalf("hit %q twice or unnamed", k)
			}
			got[k] = true
		}
		if page, err = e.Scroll(ctx, page.ScrollID, "10s"); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 9 {
		t.Fatalf("scrolled %d hits, want 9", len(got))
	}

	if _, err := e.MultiSearch(ctx, []storage.Target{{Index: i1, Collections: []string{"nope"}}}, storage.SearchRequest{Size: 1}); errID(err) != "services.storage.unknown_collection" {
		t.Fatalf("unknown collection: %v", err)
	}
	if _, err := e.MultiSearch(ctx, []storage.Target{{Index: "nope-" + i1, Collections: []string{"a"}}}, storage.SearchRequest{Size: 1}); errID(err) != "services.storage.unknown_index" {
		t.Fatalf("unknown index: %v", err)
	}
}
