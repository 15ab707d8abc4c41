package api

import (
	"testing"
)

// document:search's targets: each collection of each target goes through
// the rights check before the handler runs, and malformed targets (or
// targets beside an index) get Kuzzle's errors.
func TestSearchTargetsRights(t *testing.T) {
	rt, _ := newSecRouter(t)
	admin := lockDown(t, rt)
	search := map[string]any{"document": map[string]any{"actions": map[string]any{"search": true}}}
	user := userWithRole(t, rt, admin, "restricted", search, []any{
		map[string]any{"index": "i1"}, map[string]any{"index": "i2", "collections": []any{"a"}}})
	req := func(targets any) map[string]any {
		return map[string]any{"controller": "document", "action": "search", "targets": targets}
	}
	tgt := func(index string, collections ...any) map[string]any {
		return map[string]any{"index": index, "collections": collections}
	}
	for name, c := range map[string]struct {
		req  map[string]any
		want string
	}{
		"a target outside the restrictions": {req([]any{tgt("i1", "a", "b"), tgt("i2", "a", "b")}), "security.rights.forbidden"},
		"an index outside the restrictions": {req([]any{tgt("i3", "a")}), "security.rights.forbidden"},
		"targets beside an index": {map[string]any{"controller": "document", "action": "search", "index": "i1",
			"targets": []any{tgt("i1", "a")}}, "api.assert.mutually_exclusive"},
		"a pattern for index":         {req([]any{tgt("i*", "a")}), "services.storage.invalid_target_format"},
		"_all for collection":         {req([]any{tgt("i1", "a", "_all")}), "services.storage.invalid_target_format"},
		"a comma in a collection":     {req([]any{tgt("i1", "a,b")}), "services.storage.invalid_target_format"},
		"no index":                    {req([]any{map[string]any{"collections": []any{"a"}}}), "api.assert.missing_argument"},
		"no collections":              {req([]any{map[string]any{"index": "i1"}}), "api.assert.missing_argument"},
		"empty collections":           {req([]any{map[string]any{"index": "i1", "collections": []any{}}}), "api.assert.empty_argument"},
		"a collection not a string":   {req([]any{tgt("i1", 3)}), "api.assert.invalid_type"},
		"targets not an array":        {req("i1"), "api.assert.invalid_type"},
		"a pattern without targets":   {map[string]any{"controller": "document", "action": "search", "index": "i1", "collection": "a,b"}, "services.storage.invalid_multi_index_collection_usage"},
		"neither index nor targets":   {map[string]any{"controller": "document", "action": "search"}, "api.assert.missing_argument"},
		"an empty list, no index set": {req([]any{}), "api.assert.missing_argument"},
	} {
		if got := errID(call(t, rt, user, c.req)); got != c.want {
			t.Errorf("%s: %q, want %s", name, got, c.want)
		}
	}
	// Allowed on every target: the request passes the rights check and
	// reaches the handler (whose storage this test router lacks: a 500).
	resp := call(t, rt, user, req([]any{tgt("i1", "a", "b"), tgt("i2", "a")}))
	if got := errID(resp); got == "security.rights.forbidden" || got == "" || resp.Status != 500 {
		t.Fatalf("allowed targets: %q (status %d), want the handler's 500", got, resp.Status)
	}
}
