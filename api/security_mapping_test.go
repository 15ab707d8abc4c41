package api

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"sync"
	"testing"

	"github.com/korumdb/korum/security"
)

// secCaller returns a function calling security:action with args as jwt.
func secCaller(t *testing.T, rt *Router, jwt string) func(action string, args map[string]any) *Response {
	return func(action string, args map[string]any) *Response {
		req := map[string]any{"controller": "security", "action": action}
		for k, v := range args {
			req[k] = v
		}
		return call(t, rt, jwt, req)
	}
}

// update*Mapping merges the body into the collection's mapping by
// collection:update's rules and answers the mapping as updated;
// get*Mapping then answers its properties; a type change, an unknown type
// and a missing body are Kuzzle's errors and change nothing.
func TestUpdateSecurityMappings(t *testing.T) {
	rt, m := newSecRouter(t)
	admin := lockDown(t, rt)
	sec := secCaller(t, rt, admin)
	before := mustOK(t, sec("getUserMapping", nil))
	if !reflect.DeepEqual(before, map[string]any{"mapping": map[string]any{"profileIds": map[string]any{"type": "keyword"}}}) {
		t.Fatalf("default users mapping: %v", before)
	}
	got := mustOK(t, sec("updateUserMapping", map[string]any{"body": map[string]any{
		"_meta": map[string]any{"app": "x"},
		"properties": map[string]any{
			"firstName": map[string]any{"type": "text"},
			"address":   map[string]any{"properties": map[string]any{"city": map[string]any{"type": "keyword"}}}}}}))
	want := map[string]any{"dynamic": "false", "_meta": map[string]any{"app": "x"}, "properties": map[string]any{
		"profileIds": map[string]any{"type": "keyword"},
		"firstName":  map[string]any{"type": "text"},
		"address":    map[string]any{"properties": map[string]any{"city": map[string]any{"type": "keyword"}}}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("updateUserMapping answered\n%v\nwant\n%v", got, want)
	}
	// A second update merges into the first.
	mustOK(t, sec("updateUserMapping", map[string]any{"body": map[string]any{"properties": map[string]any{
		"address": map[string]any{"properties": map[string]any{"zip": map[string]any{"type": "keyword"}}}}}}))
	props := mustOK(t, sec("getUserMapping", nil))["mapping"].(map[string]any)
	addr := props["address"].(map[string]any)["properties"].(map[string]any)
	if props["firstName"] == nil || addr["city"] == nil || addr["zip"] == nil || props["profileIds"] == nil {
		t.Fatalf("getUserMapping after two updates: %v", props)
	}
	for _, c := range []struct {
		body map[string]any
		want string
	}{
		{map[string]any{"properties": map[string]any{"firstName": map[string]any{"type": "keyword"}}}, "services.storage.cannot_change_mapping"},
		{map[string]any{"properties": map[string]any{"n": map[string]any{"type": "nope"}}}, "services.storage.invalid_mapping_type"},
		{map[string]any{"propertiez": map[string]any{}}, "services.storage.invalid_mapping"},
		{map[string]any{"dynamic": "sometimes"}, "services.storage.invalid_mapping"},
		{nil, "api.assert.body_required"},
	} {
		args := map[string]any{}
		if c.body != nil {
			args["body"] = c.body
		}
		if got := errID(sec("updateUserMapping", args)); got != c.want {
			t.Fatalf("updateUserMapping %v: %q, want %q", c.body, got, c.want)
		}
	}
	if _, rev := m.st.Mapping("users"); rev != 2 {
		t.Fatalf("users mapping at revision %d after two good updates, want 2", rev)
	}
	// Profiles and roles have their own.
	mustOK(t, sec("updateProfileMapping", map[string]any{"body": map[string]any{"properties": map[string]any{"label": map[string]any{"type": "text"}}}}))
	mustOK(t, sec("updateRoleMapping", map[string]any{"body": map[string]any{"properties": map[string]any{"label": map[string]any{"type": "keyword"}}}}))
	if p := mustOK(t, sec("getProfileMapping", nil))["mapping"].(map[string]any); p["label"] == nil || p["policies"] == nil {
		t.Fatalf("getProfileMapping: %v", p)
	}
	if r := mustOK(t, sec("getRoleMapping", nil))["mapping"].(map[string]any); r["label"] == nil || r["controllers"] == nil {
		t.Fatalf("getRoleMapping: %v", r)
	}
	if p := mustOK(t, sec("getUserMapping", nil))["mapping"].(map[string]any); p["label"] != nil {
		t.Fatal("a profiles mapping update reached the users mapping")
	}
}

// searchUsers compiles its query with the users mapping, as Kuzzle's
// Elasticsearch does: once a field is mapped as text, a term query
// compares a token and a match query finds any of its words.
func TestSearchUsersHonoursTheMapping(t *testing.T) {
	rt, _ := newSecRouter(t)
	admin := lockDown(t, rt)
	sec := secCaller(t, rt, admin)
	mustOK(t, sec("createUser", map[string]any{"_id": "ada", "body": map[string]any{"content": map[string]any{
		"profileIds": []any{"default"}, "name": "Ada Lovelace"}}}))
	search := func(q map[string]any) []string {
		return hitIDs(t, mustOK(t, sec("searchUsers", map[string]any{"body": map[string]any{"query": q}})))
	}
	term := map[string]any{"term": map[string]any{"name": "lovelace"}}
	whole := map[string]any{"term": map[string]any{"name": "Ada Lovelace"}}
	if ids := search(term); len(ids) != 0 {
		t.Fatalf("unmapped, a term query compares whole values: %v", ids)
	}
	if ids := search(whole); len(ids) != 1 {
		t.Fatalf("unmapped, the whole value: %v", ids)
	}
	mustOK(t, sec("updateUserMapping", map[string]any{"body": map[string]any{"properties": map[string]any{"name": map[string]any{"type": "text"}}}}))
	if ids := search(term); len(ids) != 1 || ids[0] != "ada" {
		t.Fatalf("mapped as text, a term query on a token: %v", ids)
	}
	if ids := search(whole); len(ids) != 0 {
		t.Fatalf("mapped as text, a term query on the whole value: %v", ids)
	}
	// Scrolls compile with the same mapping.
	page := mustOK(t, sec("searchUsers", map[string]any{"scroll": "10s", "size": 1, "body": map[string]any{"query": term}}))
	if n := len(page["hits"].([]any)); n != 1 {
		t.Fatalf("scroll page: %v", page)
	}
}

// racingSecurity stores another update of the same mapping just before
// the first mapping update it is asked to propose, as a concurrent request
// on another node would.
type racingSecurity struct {
	*memSecurity
	once sync.Once
}

func (r *racingSecurity) ProposeSecurity(ctx context.Context, c *security.Command) (*security.Result, error) {
	if c.Op == security.OpUpdateMapping {
		r.once.Do(func() {
			cur, rev := r.st.Mapping(c.ID)
			cur["properties"].(map[string]any)["other"] = map[string]any{"type": "keyword"}
			if res := r.st.Apply(&security.Command{Op: security.OpUpdateMapping, ID: c.ID, Mapping: cur, Rev: rev}); res.Err != nil || res.Stale {
				panic("the concurrent update failed")
			}
		})
	}
	return r.memSecurity.ProposeSecurity(ctx, c)
}

// An update merged into a mapping that another update replaced meanwhile
// is merged again: neither loses its fields.
func TestUpdateMappingRetriesWhenStale(t *testing.T) {
	m := &racingSecurity{memSecurity: newMemSecurity()}
	rt := NewRouter(&racingBackend{secBackend: secBackend{memSecurity: m.memSecurity}, race: m}, Limits{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	got := mustOK(t, call(t, rt, "", map[string]any{"controller": "security", "action": "updateRoleMapping",
		"body": map[string]any{"properties": map[string]any{"mine": map[string]any{"type": "text"}}}}))
	props := got["properties"].(map[string]any)
	if props["mine"] == nil || props["other"] == nil {
		t.Fatalf("after a stale round: %v", props)
	}
	if _, rev := m.st.Mapping("roles"); rev != 2 {
		t.Fatalf("roles mapping at revision %d, want 2", rev)
	}
}

type racingBackend struct {
	secBackend
	race *racingSecurity
}

func (b *racingBackend) ProposeSecurity(ctx context.Context, c *security.Command) (*security.Result, error) {
	return b.race.ProposeSecurity(ctx, c)
}
