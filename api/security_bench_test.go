package api

import (
	"context"
	"testing"
)

// BenchmarkAuthorize is the rights check's cost per request, the whole of
// what security adds to a request's path: no token (anonymous) against a
// token of a user whose profile restricts it to one index and collection.
func BenchmarkAuthorize(b *testing.B) {
	t := &testing.T{}
	rt, m := newSecRouter(t)
	admin := lockDown(t, rt)
	mustOK(t, call(t, rt, admin, map[string]any{"controller": "security", "action": "createRole", "_id": "reader",
		"body": map[string]any{"controllers": map[string]any{"document": map[string]any{"actions": map[string]any{"get": true}}}}}))
	mustOK(t, call(t, rt, admin, map[string]any{"controller": "security", "action": "createProfile", "_id": "reader",
		"body": map[string]any{"policies": []any{map[string]any{"roleId": "reader",
			"restrictedTo": []any{map[string]any{"index": "i", "collections": []any{"c"}}}}}}}))
	mustOK(t, call(t, rt, admin, map[string]any{"controller": "security", "action": "createUser", "_id": "reader",
		"body": map[string]any{"content": map[string]any{"profileIds": []any{"reader"}}}}))
	tok, _, err := m.IssueToken(context.Background(), "reader", 3600_000, "")
	if err != nil {
		b.Fatal(err)
	}
	// A fresh node's anonymous role, for the baseline.
	anon, _ := newSecRouter(t)
	args := map[string]any{"index": "i", "collection": "c", "_id": "d"}
	for _, c := range []struct {
		name string
		rt   *Router
		jwt  string
	}{{"anonymous", anon, ""}, {"restricted-user", rt, tok}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := &Request{Controller: "document", Action: "get", JWT: c.jwt, Args: args}
				if err := c.rt.authorize(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
