package embedded

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/korumdb/korum/storage"
)

// multiHits names each hit by index/collection/id, in result order.
func multiHits(r *storage.SearchResult) []string {
	out := []string{}
	for _, h := range r.Hits {
		out = append(out, h.Index+"/"+h.Collection+"/"+h.ID)
	}
	return out
}

func TestMultiSearch(t *testing.T) {
	now := time.Unix(1000, 0)
	h := newHarness(t, Options{Now: func() time.Time { return now }, ScrollKey: []byte("k")})
	for _, ic := range [][2]string{{"i1", "a"}, {"i1", "b"}, {"i2", "a"}} {
		h.one(storage.Write{Op: storage.OpCollectionCreate, Index: ic[0], Collection: ic[1]})
		w := storage.Write{Op: storage.OpDocCreate, Index: ic[0], Collection: ic[1], Now: 1, Author: "kuid"}
		for n := 0; n < 3; n++ {
			// The same ids in every collection: hits are told apart by
			// their index and collection.
			w.Docs = append(w.Docs, storage.DocWrite{ID: fmt.Sprintf("d%d", n), Body: map[string]any{"n": n, "in": ic[0] + ic[1]}})
		}
		h.one(w)
	}
	targets := []storage.Target{{Index: "i1", Collections: []string{"a", "b"}}, {Index: "i2", Collections: []string{"a"}}}
	res, err := h.e.MultiSearch(ctx, targets, storage.SearchRequest{
		Query: json.RawMessage(`{"range":{"n":{"gte":1}}}`), Sort: json.RawMessage(`[{"n":"desc"}]`), Size: 10})
	if err != nil {
		t.Fatal(err)
	}
	want := `["i1/a/d2","i1/b/d2","i2/a/d2","i1/a/d1","i1/b/d1","i2/a/d1"]`
	if res.Total != 6 || js(multiHits(res)) != want {
		t.Fatalf("hits %s total %d, want %s", js(multiHits(res)), res.Total, want)
	}
	if src := res.Hits[2].Source; src["in"] != "i2a" {
		t.Fatalf("hit i2/a/d2 has the source of %v", src["in"])
	}

	// A single-collection search names its hits' index and collection too.
	one, err := h.e.Search(ctx, "i2", "a", storage.SearchRequest{Size: 1})
	if err != nil || len(one.Hits) != 1 || one.Hits[0].Index != "i2" || one.Hits[0].Collection != "a" {
		t.Fatalf("single search hit: %+v %v", one, err)
	}

	// A scroll over several targets pages through all of them, ids
	// repeating across collections neither lost nor returned twice.
	page, err := h.e.MultiSearch(ctx, targets, storage.SearchRequest{Sort: json.RawMessage(`[{"n":"asc"}]`), Size: 4, Scroll: "1m"})
	if err != nil || page.ScrollID == "" || page.Remaining != 5 {
		t.Fatalf("first page: %+v %v", page, err)
	}
	got := multiHits(page)
	ts, err := h.e.ScrollTargets(ctx, page.ScrollID)
	if err != nil || js(ts) != js(targets) {
		t.Fatalf("scroll targets %s %v", js(ts), err)
	}
	for i := 0; page.ScrollID != "" && len(page.Hits) > 0; i++ {
		if i > 5 {
			t.Fatal("scroll does not end")
		}
		if page, err = h.e.Scroll(ctx, page.ScrollID, ""); err != nil {
			t.Fatal(err)
		}
		got = append(got, multiHits(page)...)
	}
	want = `["i1/a/d0","i1/b/d0","i2/a/d0","i1/a/d1","i1/b/d1","i2/a/d1","i1/a/d2","i1/b/d2","i2/a/d2"]`
	if js(got) != want {
		t.Fatalf("scrolled %s, want %s", js(got), want)
	}

	// Every collection must exist.
	_, err = h.e.MultiSearch(ctx, []storage.Target{{Index: "i1", Collections: []string{"a", "nope"}}}, storage.SearchRequest{Size: 1})
	wantErr(t, err, "services.storage.unknown_collection")
	_, err = h.e.MultiSearch(ctx, []storage.Target{{Index: "nope", Collections: []string{"a"}}}, storage.SearchRequest{Size: 1})
	wantErr(t, err, "services.storage.unknown_index")
}
