package elasticsearch

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/korumdb/korum/storage"
)

// TestStaticSettingsUpdate: collection:update (and create on an existing
// collection) with a static setting (a custom analyzer) applies it, as
// Kuzzle's updateSettings does, by closing and reopening the index; the
// mapping of the same request can use the new analyzer; the index is open
// and serves its documents afterwards. A final setting (number_of_shards)
// is refused and the index still reopened.
func TestStaticSettingsUpdate(t *testing.T) {
	e := newEngine(t)
	ctx := context.Background()
	idx := testIndex(t, e)
	mustWrite(t, e, storage.Write{Op: storage.OpCollectionCreate, Index: idx, Collection: "c"})
	mustWrite(t, e, storage.Write{Op: storage.OpDocCreate, Index: idx, Collection: "c", Refresh: "wait_for",
		Docs: []storage.DocWrite{{ID: "before", Body: map[string]any{"kept": "yes"}}}})

	// The standard tokenizer without the lowercase filter: case-sensitive
	// matching, with what the server has built in (the shared tool's
	// Elasticsearch 7.17 has no analysis-common: no keyword tokenizer).
	settings := json.RawMessage(`{"analysis":{"analyzer":{"case_sensitive":{"type":"custom","tokenizer":"standard"}}}}`)
	mappings := json.RawMessage(`{"properties":{"code":{"type":"text","analyzer":"case_sensitive"}}}`)
	mustWrite(t, e, storage.Write{Op: storage.OpCollectionUpdate, Index: idx, Collection: "c", Settings: settings, Mappings: mappings})

	got, err := e.GetSettings(ctx, idx, "c")
	if err != nil {
		t.Fatal(err)
	}
	an, _ := got["analysis"].(map[string]any)
	if an == nil || an["analyzer"].(map[string]any)["case_sensitive"] == nil {
		t.Fatalf("settings after the update: %v", got)
	}
	if doc, err := e.Get(ctx, idx, "c", "before"); err != nil || doc.Source["kept"] != "yes" {
		t.Fatalf("document after the reopen: %+v %v", doc, err)
	}
	mustWrite(t, e, storage.Write{Op: storage.OpDocCreate, Index: idx, Collection: "c", Refresh: "wait_for",
		Docs: []storage.DocWrite{{ID: "x", Body: map[string]any{"code": "AB-12 Cd"}}}})
	// Tokens keep their case: "AB" matches, "ab" does not (the default
	// standard analyzer would match both).
	for q, want := range map[string]int{"AB": 1, "Cd": 1, "ab": 0, "cd": 0} {
		body, _ := json.Marshal(map[string]any{"match": map[string]any{"code": q}})
		n, err := e.Count(ctx, idx, "c", body)
		if err != nil || n != want {
			t.Fatalf("count of match %q = %d (%v), want %d", q, n, err, want)
		}
	}

	// collection:create on the existing collection with another static
	// setting goes the same way.
	mustWrite(t, e, storage.Write{Op: storage.OpCollectionCreate, Index: idx, Collection: "c",
		Settings: json.RawMessage(`{"analysis":{"analyzer":{"second":{"type":"custom","tokenizer":"standard","filter":["lowercase"]}}}}`)})
	got, _ = e.GetSettings(ctx, idx, "c")
	if got["analysis"].(map[string]any)["analyzer"].(map[string]any)["second"] == nil {
		t.Fatalf("settings after create on an existing collection: %v", got)
	}

	// A final setting: refused (as by Kuzzle), and the index is open again.
	res, err := e.Execute(ctx, &storage.Write{Op: storage.OpCollectionUpdate, Index: idx, Collection: "c",
		Settings: json.RawMessage(`{"analysis":{"analyzer":{"third":{"type":"custom","tokenizer":"standard","filter":["lowercase"]}}},"number_of_shards":3}`)})
	if err == nil && res != nil {
		err = res.Err
	}
	if errID(err) != "services.storage.unexpected_bad_request" {
		t.Fatalf("number_of_shards update: %v, want services.storage.unexpected_bad_request", err)
	}
	if doc, err := e.Get(ctx, idx, "c", "x"); err != nil || doc.Source["code"] != "AB-12 Cd" {
		t.Fatalf("document after a refused static update: %+v %v", doc, err)
	}

	// Dynamic settings still apply on the open index.
	mustWrite(t, e, storage.Write{Op: storage.OpCollectionUpdate, Index: idx, Collection: "c",
		Settings: json.RawMessage(`{"refresh_interval":"2s"}`)})
	got, _ = e.GetSettings(ctx, idx, "c")
	if got["refresh_interval"] != "2s" {
		t.Fatalf("refresh_interval = %v", got["refresh_interval"])
	}
}
