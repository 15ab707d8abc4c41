package api

import (
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// A profile's rateLimit caps its users' requests per second on a node, by
// Kuzzle's rule (the highest limit of the user's profiles, none if one of
// them has none); logout is never limited; a new second starts afresh.
func TestProfileRateLimit(t *testing.T) {
	m := newMemSecurity()
	var clock atomic.Int64
	clock.Store(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC).UnixNano())
	rt := NewRouter(&secBackend{memSecurity: m, now: func() time.Time { return time.Unix(0, clock.Load()) }},
		Limits{}, slog.New(slog.NewTextHandler(io.Discard, nil)))

	// Before an administrator exists the node is open and not throttled.
	for i := 0; i < 300; i++ {
		mustOK(t, call(t, rt, "", map[string]any{"controller": "server", "action": "now"}))
	}
	admin := lockDown(t, rt)
	tok := roleUser(t, rt, m, admin, "limited", map[string]any{"server": map[string]any{"actions": map[string]any{"now": true}}})
	mustOK(t, call(t, rt, admin, map[string]any{"controller": "security", "action": "updateProfile", "_id": "limited",
		"body": map[string]any{"policies": []any{map[string]any{"roleId": "limited"}}, "rateLimit": 3}}))

	now := map[string]any{"controller": "server", "action": "now"}
	for i := 0; i < 3; i++ {
		mustOK(t, call(t, rt, tok, now))
	}
	if id := errID(call(t, rt, tok, now)); id != "api.process.too_many_requests" {
		t.Fatalf("4th request in one second: %q, want api.process.too_many_requests", id)
	}
	if resp := call(t, rt, tok, now); resp.Status != 429 {
		t.Fatalf("status %d, want 429", resp.Status)
	}
	// Logout is never limited for an authenticated user.
	if id := errID(call(t, rt, tok, map[string]any{"controller": "auth", "action": "logout"})); id == "api.process.too_many_requests" {
		t.Fatal("logout was rate limited")
	}
	// The admin profile has no limit.
	for i := 0; i < 20; i++ {
		mustOK(t, call(t, rt, admin, now))
	}
	// A second profile without a limit lifts it.
	tok2 := roleUser(t, rt, m, admin, "limited2", map[string]any{"server": map[string]any{"actions": map[string]any{"now": true}}})
	mustOK(t, call(t, rt, admin, map[string]any{"controller": "security", "action": "updateProfile", "_id": "limited2",
		"body": map[string]any{"policies": []any{map[string]any{"roleId": "limited2"}}, "rateLimit": 2}}))
	mustOK(t, call(t, rt, tok2, now))
	mustOK(t, call(t, rt, tok2, now))
	if id := errID(call(t, rt, tok2, now)); id != "api.process.too_many_requests" {
		t.Fatalf("limited2: %q", id)
	}
	mustOK(t, call(t, rt, admin, map[string]any{"controller": "security", "action": "updateUser", "_id": "limited2",
		"body": map[string]any{"profileIds": []any{"limited2", "admin"}}}))
	for i := 0; i < 10; i++ {
		mustOK(t, call(t, rt, tok2, now))
	}
	// The next second starts a new frame.
	clock.Add(int64(time.Second))
	mustOK(t, call(t, rt, tok, now))
}
