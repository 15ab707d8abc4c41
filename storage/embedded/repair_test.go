package embedded

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/korumdb/korum/storage"
)

// openBroken opens a copy of testdata/broken-deep-mapping.db.gz: a file
// written by the engine before the write limits existed, where a document
// nested 5000 levels ("deep", beside "flat") gave collection idx:col a
// mapping nested past encoding/json's 10000 levels. Every later write, read
// and mapping call on that collection then failed, and the write after it
// rolled its whole batch back.
func openBroken(t *testing.T) *harness {
	t.Helper()
	f, err := os.Open("testdata/broken-deep-mapping.db.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "korum.db")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, zr); err != nil {
		t.Fatal(err)
	}
	out.Close()
	e, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, e: e, path: path, next: e.AppliedIndex() + 1}
	t.Cleanup(func() { h.e.Close() })
	return h
}

// TestBrokenCollectionReadsAgain: the stored mapping decoder reads every
// mapping the writer could produce, so such a collection works again as it
// is, documents kept, without any manual step.
func TestBrokenCollectionReadsAgain(t *testing.T) {
	h := openBroken(t)
	if n, err := h.e.Count(ctx, "idx", "col", nil); err != nil || n != 2 {
		t.Fatalf("count = %d, %v; want 2 documents", n, err)
	}
	if _, err := h.e.GetMapping(ctx, "idx", "col"); err != nil {
		t.Fatalf("getMapping: %v", err)
	}
	res, err := h.e.Search(ctx, "idx", "col", storage.SearchRequest{Query: []byte(`{"term":{"name":"kept"}}`), Size: 10})
	if err != nil || res.Total != 1 || res.Hits[0].ID != "flat" {
		t.Fatalf("search = %+v, %v", res, err)
	}
	h.one(docW(storage.OpDocCreate, 10, storage.DocWrite{ID: "after", Body: obj(`{"x":1}`)}))
	if _, err := h.e.Get(ctx, "idx", "col", "deep"); err != nil {
		t.Fatalf("get deep: %v", err)
	}
	if r := h.one(docW(storage.OpDocDelete, 11, storage.DocWrite{ID: "deep"})); r.Items[0].Err != nil {
		t.Fatalf("delete deep: %v", r.Items[0].Err)
	}
	if n, err := h.e.Count(ctx, "idx", "col", nil); err != nil || n != 2 {
		t.Fatalf("count = %d, %v; want flat and after", n, err)
	}
}

// TestUnreadableMappingIsRepairable: a mapping damaged beyond reading fails
// the writes and reads of its collection with a client error (never the
// whole batch), and collection:update replaces it, documents kept.
func TestUnreadableMappingIsRepairable(t *testing.T) {
	h := newHarness(t, Options{})
	h.setup()
	h.one(docW(storage.OpDocCreate, 1, storage.DocWrite{ID: "a", Body: obj(`{"n":1}`)}))
	h.one(storage.Write{Op: storage.OpCollectionCreate, Index: "idx", Collection: "other"})
	err := h.e.db.Update(func(tx *bolt.Tx) error {
		cb, err := collectionBucket(tx, "idx", "col")
		if err != nil {
			return err
		}
		return cb.Put(keyMapping, []byte(`{"properties":{"n":`))
	})
	if err != nil {
		t.Fatal(err)
	}
	rs := h.apply(docW(storage.OpDocCreate, 2, storage.DocWrite{ID: "b", Body: obj(`{"n":2}`)}),
		storage.Write{Op: storage.OpDocCreate, Index: "idx", Collection: "other", Now: 2, Docs: []storage.DocWrite{{ID: "c", Body: obj(`{"n":3}`)}}})
	wantErr(t, rs[0].Err, "services.storage.unexpected_error")
	if rs[1].Err != nil || rs[1].Items[0].Err != nil {
		t.Fatalf("the other write of the batch failed too: %+v", rs[1])
	}
	if _, err := h.e.GetMapping(ctx, "idx", "col"); err == nil {
		t.Fatal("getMapping read a damaged mapping")
	}
	h.one(storage.Write{Op: storage.OpCollectionUpdate, Index: "idx", Collection: "col", Mappings: []byte(`{"properties":{"n":{"type":"long"}}}`)})
	m, err := h.e.GetMapping(ctx, "idx", "col")
	if err != nil || js(m["properties"]) != `{"n":{"type":"long"}}` {
		t.Fatalf("mapping after repair = %v, %v", m, err)
	}
	if n, err := h.e.Count(ctx, "idx", "col", nil); err != nil || n != 1 {
		t.Fatalf("count = %d, %v; want the document kept", n, err)
	}
}
