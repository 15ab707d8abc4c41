package api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"sort"
	"testing"
	"time"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/security"
)

// memSecurity is the node's security without a log: commands apply to
// one in-memory state, as they would on every replica.
type memSecurity struct {
	st     *security.State
	secret []byte
}

func newMemSecurity() *memSecurity {
	return &memSecurity{st: security.NewState(), secret: []byte("test-secret")}
}

func (m *memSecurity) SecurityState() *security.State { return m.st }
func (m *memSecurity) Authenticate(token string) (*security.Identity, error) {
	if token == "" {
		return &security.Identity{UserID: security.AnonymousID}, nil
	}
	return m.st.Authenticate(m.secret, token, time.Now().UnixMilli())
}
func (m *memSecurity) IssueToken(ctx context.Context, kuid string, ttl int64, apiKey string) (string, int64, error) {
	now := time.Now().UnixMilli()
	c := security.Claims{UserID: kuid, Iat: now / 1000, ID: apiKey, Key: apiKey, Gen: m.st.Gen(kuid)}
	if c.ID == "" {
		c.ID = m.NewID()
	}
	var exp int64
	if ttl > 0 {
		exp = now + ttl
		c.ExpMs = exp
	}
	jwt, err := security.Sign(m.secret, c)
	return jwt, exp, err
}
func (m *memSecurity) ProposeSecurity(ctx context.Context, c *security.Command) (*security.Result, error) {
	return m.st.Apply(c), nil
}
func (m *memSecurity) SecurityOptions() SecurityOptions {
	return SecurityOptions{ExpiresIn: 3600_000, GracePeriod: 1000}
}
func (m *memSecurity) AllowLogin(string) bool { return true }
func (m *memSecurity) NewID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	b[0] &^= 0x80 // never "_" first, as node.NewID: the API refuses such ids
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// secBackend serves only security: any other call panics through the nil
// embedded Backend, which the router turns into a 500.
type secBackend struct {
	Backend
	*memSecurity
	// now, when set, is the clock (tests of per-second limits).
	now func() time.Time
}

func (b *secBackend) NodeID() string { return "n1" }
func (b *secBackend) Ready() error   { return nil }
func (b *secBackend) Now() time.Time {
	if b.now != nil {
		return b.now()
	}
	return time.Now()
}
func (b *secBackend) Version() string { return "test" }

// The ambiguous selectors between the nil Backend and memSecurity are
// resolved towards memSecurity.
func (b *secBackend) SecurityState() *security.State { return b.memSecurity.SecurityState() }
func (b *secBackend) Authenticate(t string) (*security.Identity, error) {
	return b.memSecurity.Authenticate(t)
}
func (b *secBackend) IssueToken(ctx context.Context, k string, ttl int64, key string) (string, int64, error) {
	return b.memSecurity.IssueToken(ctx, k, ttl, key)
}
func (b *secBackend) ProposeSecurity(ctx context.Context, c *security.Command) (*security.Result, error) {
	return b.memSecurity.ProposeSecurity(ctx, c)
}
func (b *secBackend) SecurityOptions() SecurityOptions { return b.memSecurity.SecurityOptions() }
func (b *secBackend) AllowLogin(u string) bool         { return b.memSecurity.AllowLogin(u) }
func (b *secBackend) NewID() string                    { return b.memSecurity.NewID() }

func newSecRouter(t *testing.T) (*Router, *memSecurity) {
	t.Helper()
	m := newMemSecurity()
	return NewRouter(&secBackend{memSecurity: m}, Limits{}, slog.New(slog.NewTextHandler(io.Discard, nil))), m
}

func call(t *testing.T, rt *Router, jwt string, req map[string]any) *Response {
	t.Helper()
	b, _ := json.Marshal(req)
	r, err := DecodeRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	r.JWT = jwt
	r.Protocol = "websocket"
	return rt.Dispatch(context.Background(), r)
}

func errID(resp *Response) string {
	if resp.Error == nil {
		return ""
	}
	return kerror.From(resp.Error).ID
}

func mustOK(t *testing.T, resp *Response) map[string]any {
	t.Helper()
	if resp.Error != nil {
		t.Fatalf("%v", resp.Error)
	}
	b, _ := json.Marshal(resp.Result)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// roleUser creates a role, a profile on it and a user without
// credentials, and returns a token signed for it (no password hashing:
// the matrix creates a user per action).
func roleUser(t *testing.T, rt *Router, m *memSecurity, admin, name string, controllers map[string]any) string {
	t.Helper()
	mustOK(t, call(t, rt, admin, map[string]any{"controller": "security", "action": "createRole", "_id": name,
		"body": map[string]any{"controllers": controllers}}))
	mustOK(t, call(t, rt, admin, map[string]any{"controller": "security", "action": "createProfile", "_id": name,
		"body": map[string]any{"policies": []any{map[string]any{"roleId": name}}}}))
	mustOK(t, call(t, rt, admin, map[string]any{"controller": "security", "action": "createUser", "_id": name,
		"body": map[string]any{"content": map[string]any{"profileIds": []any{name}}}}))
	tok, _, err := m.IssueToken(context.Background(), name, 60_000, "")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// userWithRole creates a role, a profile on it and a user with local
// credentials, and returns a token of that user.
func userWithRole(t *testing.T, rt *Router, admin, name string, controllers map[string]any, restrictedTo []any) string {
	t.Helper()
	mustOK(t, call(t, rt, admin, map[string]any{"controller": "security", "action": "createRole", "_id": name,
		"body": map[string]any{"controllers": controllers}}))
	policy := map[string]any{"roleId": name}
	if restrictedTo != nil {
		policy["restrictedTo"] = restrictedTo
	}
	mustOK(t, call(t, rt, admin, map[string]any{"controller": "security", "action": "createProfile", "_id": name,
		"body": map[string]any{"policies": []any{policy}}}))
	mustOK(t, call(t, rt, admin, map[string]any{"controller": "security", "action": "createUser", "_id": name,
		"body": map[string]any{"content": map[string]any{"profileIds": []any{name}},
			"credentials": map[string]any{"local": map[string]any{"username": name, "password": "pw-" + name}}}}))
	res := mustOK(t, call(t, rt, "", map[string]any{"controller": "auth", "action": "login", "strategy": "local",
		"body": map[string]any{"username": name, "password": "pw-" + name}}))
	return res["jwt"].(string)
}

func lockDown(t *testing.T, rt *Router) string {
	t.Helper()
	mustOK(t, call(t, rt, "", map[string]any{"controller": "security", "action": "createFirstAdmin", "_id": "admin", "reset": true,
		"body": map[string]any{"credentials": map[string]any{"local": map[string]any{"username": "admin", "password": "adminpw"}}}}))
	res := mustOK(t, call(t, rt, "", map[string]any{"controller": "auth", "action": "login", "strategy": "local",
		"body": map[string]any{"username": "admin", "password": "adminpw"}}))
	return res["jwt"].(string)
}

// The rights matrix: every controller:action the router serves is refused
// to a user whose role does not allow it, and reaches its handler for a
// user whose role allows just it. A new action is in this matrix as soon
// as it is registered: no action can be left unchecked.
func TestRightsMatrix(t *testing.T) {
	rt, m := newSecRouter(t)
	// The matrix sends every action as anonymous within a second: relock
	// lifts the anonymous profile's rate limit (200/s, Kuzzle's default).
	admin, denied := relock(t, rt, m)
	resets := func(a string) bool { return a == "admin:resetSecurity" || a == "admin:resetKuzzleData" }
	var all []string
	for c, acts := range rt.handlers {
		for a := range acts {
			all = append(all, c+":"+a)
		}
	}
	sort.Slice(all, func(i, j int) bool {
		// Last: an allowed user resetting the security would log
		// everyone out of the matrix.
		if resets(all[i]) != resets(all[j]) {
			return resets(all[j])
		}
		return all[i] < all[j]
	})
	if len(all) < 60 {
		t.Fatalf("only %d actions registered", len(all))
	}
	// Kuzzle's standard anonymous role after a reset.
	anonymousAllowed := map[string]bool{"auth:checkToken": true, "auth:getCurrentUser": true, "auth:getMyRights": true,
		"auth:login": true, "server:publicApi": true, "server:openapi": true}
	asAnonymous := map[string]bool{"auth:login": true, "auth:checkToken": true}
	for i, ca := range all {
		var c, a string
		for j := range ca {
			if ca[j] == ':' {
				c, a = ca[:j], ca[j+1:]
				break
			}
		}
		req := map[string]any{"controller": c, "action": a, "index": "i", "collection": "c", "_id": "x"}
		if asAnonymous[ca] {
			// Checked as the anonymous user's, whatever token comes with
			// them (an expired token must not prevent logging in again).
		} else if got := errID(call(t, rt, denied, req)); got != "security.rights.forbidden" {
			t.Errorf("%s by a user without the right: %q, want security.rights.forbidden", ca, got)
		}
		if got := errID(call(t, rt, "", req)); anonymousAllowed[ca] {
			if got == "security.rights.unauthorized" {
				t.Errorf("%s refused to anonymous, which Kuzzle's standard anonymous role allows", ca)
			}
		} else if got != "security.rights.unauthorized" {
			t.Errorf("%s by anonymous: %q, want security.rights.unauthorized", ca, got)
		}
		name := "only" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		allowed := roleUser(t, rt, m, admin, name, map[string]any{c: map[string]any{"actions": map[string]any{a: true}}})
		if got := errID(call(t, rt, allowed, req)); got == "security.rights.forbidden" || got == "security.rights.unauthorized" {
			t.Errorf("%s by a user whose role allows it: %s", ca, got)
		}
		if resets(ca) {
			// The reset logged everyone out: lock down again.
			admin, denied = relock(t, rt, m)
		}
	}
}

// relock locks a reset router down again, as TestRightsMatrix starts.
func relock(t *testing.T, rt *Router, m *memSecurity) (admin, denied string) {
	t.Helper()
	admin = lockDown(t, rt)
	mustOK(t, call(t, rt, admin, map[string]any{"controller": "security", "action": "updateProfile", "_id": "anonymous",
		"body": map[string]any{"policies": []any{map[string]any{"roleId": "anonymous"}}, "rateLimit": 0}}))
	return admin, roleUser(t, rt, m, admin, "nothing", map[string]any{"auth": map[string]any{"actions": map[string]any{"login": false}}})
}

func TestTokensThroughTheRouter(t *testing.T) {
	rt, _ := newSecRouter(t)
	admin := lockDown(t, rt)
	// A bad token is an error, never the anonymous user.
	for _, bad := range []string{"garbage", admin[:len(admin)-2] + "xx"} {
		if got := errID(call(t, rt, bad, map[string]any{"controller": "server", "action": "publicApi"})); got != "security.token.invalid" {
			t.Errorf("token %q: %q, want security.token.invalid", bad, got)
		}
	}
	me := mustOK(t, call(t, rt, admin, map[string]any{"controller": "auth", "action": "getCurrentUser"}))
	if me["_id"] != "admin" {
		t.Fatalf("getCurrentUser: %v", me)
	}
	ok := mustOK(t, call(t, rt, "", map[string]any{"controller": "auth", "action": "checkToken", "body": map[string]any{"token": admin}}))
	if ok["valid"] != true || ok["kuid"] != "admin" {
		t.Fatalf("checkToken: %v", ok)
	}
	// Refresh: a new token; the old one keeps its grace period.
	ref := mustOK(t, call(t, rt, admin, map[string]any{"controller": "auth", "action": "refreshToken"}))
	fresh := ref["jwt"].(string)
	mustOK(t, call(t, rt, fresh, map[string]any{"controller": "auth", "action": "logout"}))
	if got := errID(call(t, rt, fresh, map[string]any{"controller": "auth", "action": "getCurrentUser"})); got != "security.token.invalid" {
		t.Fatalf("a logged out token: %q", got)
	}
	ko := mustOK(t, call(t, rt, "", map[string]any{"controller": "auth", "action": "checkToken", "body": map[string]any{"token": fresh}}))
	if ko["valid"] != false {
		t.Fatalf("checkToken of a revoked token: %v", ko)
	}
	// A failed login, an unknown strategy.
	if got := errID(call(t, rt, "", map[string]any{"controller": "auth", "action": "login", "strategy": "local",
		"body": map[string]any{"username": "admin", "password": "nope"}})); got != "security.credentials.rejected" {
		t.Fatalf("a wrong password: %q", got)
	}
	if got := errID(call(t, rt, "", map[string]any{"controller": "auth", "action": "login", "strategy": "oauth",
		"body": map[string]any{"username": "admin", "password": "adminpw"}})); got != "security.credentials.unknown_strategy" {
		t.Fatalf("an unknown strategy: %q", got)
	}
}

func TestAPIKeysThroughTheRouter(t *testing.T) {
	rt, _ := newSecRouter(t)
	admin := lockDown(t, rt)
	res := mustOK(t, call(t, rt, admin, map[string]any{"controller": "auth", "action": "createApiKey", "body": map[string]any{"description": "ci"}}))
	src := res["_source"].(map[string]any)
	key, id := src["token"].(string), res["_id"].(string)
	if me := mustOK(t, call(t, rt, key, map[string]any{"controller": "auth", "action": "getCurrentUser"})); me["_id"] != "admin" {
		t.Fatalf("an API key authenticates as %v", me["_id"])
	}
	list := mustOK(t, call(t, rt, admin, map[string]any{"controller": "auth", "action": "searchApiKeys",
		"body": map[string]any{"query": map[string]any{"match": map[string]any{"description": "ci"}}}}))
	hits := list["hits"].([]any)
	if len(hits) != 1 || hits[0].(map[string]any)["_source"].(map[string]any)["token"] != nil {
		t.Fatalf("searchApiKeys: %v (the token must not be listed)", list)
	}
	mustOK(t, call(t, rt, admin, map[string]any{"controller": "auth", "action": "deleteApiKey", "_id": id}))
	if got := errID(call(t, rt, key, map[string]any{"controller": "auth", "action": "getCurrentUser"})); got != "security.token.invalid" {
		t.Fatalf("a deleted API key: %q", got)
	}
}

func TestRestrictedProfileThroughTheRouter(t *testing.T) {
	rt, m := newSecRouter(t)
	admin := lockDown(t, rt)
	tok := userWithRole(t, rt, admin, "reader",
		map[string]any{"document": map[string]any{"actions": map[string]any{"*": true}},
			"auth": map[string]any{"actions": map[string]any{"getMyRights": true, "getCurrentUser": true}}},
		[]any{map[string]any{"index": "i1", "collections": []any{"c1"}}})
	for _, c := range []struct {
		index, collection string
		allowed           bool
	}{{"i1", "c1", true}, {"i1", "c2", false}, {"i2", "c1", false}} {
		got := errID(call(t, rt, tok, map[string]any{"controller": "document", "action": "search", "index": c.index, "collection": c.collection}))
		if forbidden := got == "security.rights.forbidden"; forbidden == c.allowed {
			t.Errorf("document:search on %s/%s: %q", c.index, c.collection, got)
		}
	}
	rights := mustOK(t, call(t, rt, tok, map[string]any{"controller": "auth", "action": "getMyRights"}))
	if len(rights["hits"].([]any)) != 3 {
		t.Fatalf("getMyRights: %v", rights)
	}
	// Deleting the user revokes its tokens at once.
	mustOK(t, call(t, rt, admin, map[string]any{"controller": "security", "action": "deleteUser", "_id": "reader"}))
	if got := errID(call(t, rt, tok, map[string]any{"controller": "auth", "action": "getCurrentUser"})); got != "security.token.invalid" {
		t.Fatalf("the token of a deleted user: %q", got)
	}
	if m.st.User("reader") != nil {
		t.Fatal("the user is still there")
	}
}

func hitIDs(t *testing.T, res map[string]any) []string {
	t.Helper()
	var ids []string
	for _, h := range res["hits"].([]any) {
		ids = append(ids, h.(map[string]any)["_id"].(string))
	}
	sort.Strings(ids)
	return ids
}

func TestSecurityControllerCRUD(t *testing.T) {
	rt, m := newSecRouter(t)
	admin := lockDown(t, rt)
	sec := secCaller(t, rt, admin)
	ctrl := func(c string, acts ...string) map[string]any {
		a := map[string]any{}
		for _, x := range acts {
			a[x] = true
		}
		return map[string]any{c: map[string]any{"actions": a}}
	}
	mustOK(t, sec("createRole", map[string]any{"_id": "r1", "body": map[string]any{"controllers": ctrl("document", "get")}}))
	mustOK(t, sec("createRole", map[string]any{"_id": "r2", "body": map[string]any{"controllers": ctrl("index", "list")}}))
	if got := errID(sec("createRole", map[string]any{"_id": "r1", "body": map[string]any{"controllers": ctrl("document", "get")}})); got != "services.storage.document_already_exists" {
		t.Fatalf("createRole twice: %q", got)
	}
	// updateRole merges controllers.
	upd := mustOK(t, sec("updateRole", map[string]any{"_id": "r1", "body": map[string]any{"controllers": ctrl("server", "now")}}))
	if ctrls := upd["_source"].(map[string]any)["controllers"].(map[string]any); ctrls["document"] == nil || ctrls["server"] == nil {
		t.Fatalf("updateRole must merge: %v", ctrls)
	}
	if ids := hitIDs(t, mustOK(t, sec("searchRoles", map[string]any{"body": map[string]any{"controllers": []any{"index"}}}))); len(ids) != 2 || ids[1] != "r2" {
		// admin's "*" names every controller, as in Kuzzle.
		t.Fatalf("searchRoles by controller: %v", ids)
	}
	mustOK(t, sec("createProfile", map[string]any{"_id": "p1", "body": map[string]any{"policies": []any{map[string]any{"roleId": "r1"}}}}))
	mustOK(t, sec("createProfile", map[string]any{"_id": "p2", "body": map[string]any{"policies": []any{map[string]any{"roleId": "r2"}}}}))
	if ids := hitIDs(t, mustOK(t, sec("searchProfiles", map[string]any{"body": map[string]any{"roles": []any{"r2"}}}))); len(ids) != 1 || ids[0] != "p2" {
		t.Fatalf("searchProfiles by role: %v", ids)
	}
	if ids := hitIDs(t, mustOK(t, sec("mGetProfiles", map[string]any{"body": map[string]any{"ids": []any{"p1", "nope", "p2"}}}))); len(ids) != 2 {
		t.Fatalf("mGetProfiles: %v", ids)
	}
	if got := errID(sec("deleteRole", map[string]any{"_id": "r1"})); got != "security.role.in_use" {
		t.Fatalf("deleting a role in use: %q", got)
	}
	mustOK(t, sec("createUser", map[string]any{"_id": "u1", "body": map[string]any{"content": map[string]any{"profileIds": []any{"p1"}, "city": "Lyon"}}}))
	mustOK(t, sec("createUser", map[string]any{"_id": "u2", "body": map[string]any{"content": map[string]any{"profileIds": []any{"p2"}, "city": "Paris"}}}))
	if got := errID(sec("createUser", map[string]any{"_id": "u3", "body": map[string]any{"content": map[string]any{"profileIds": []any{"nope"}}}})); got != "security.profile.not_found" {
		t.Fatalf("a user with an unknown profile: %q", got)
	}
	mustOK(t, sec("updateUser", map[string]any{"_id": "u1", "body": map[string]any{"city": "Nice", "profileIds": []any{"p1", "p2"}}}))
	if u := m.st.User("u1"); u.Content["city"] != "Nice" || len(u.ProfileIDs) != 2 {
		t.Fatalf("updateUser: %+v", u)
	}
	found := mustOK(t, sec("searchUsers", map[string]any{"body": map[string]any{"query": map[string]any{"term": map[string]any{"city": "Paris"}}}}))
	if ids := hitIDs(t, found); len(ids) != 1 || ids[0] != "u2" {
		t.Fatalf("searchUsers: %v", ids)
	}
	rights := mustOK(t, sec("getUserRights", map[string]any{"_id": "u1"}))
	if n := len(rights["hits"].([]any)); n != 3 {
		t.Fatalf("getUserRights of u1 (document:get, server:now, index:list): %d", n)
	}
	// Credentials set by an administrator revoke the user's tokens.
	mustOK(t, sec("createCredentials", map[string]any{"_id": "u1", "strategy": "local", "body": map[string]any{"username": "u1", "password": "pw1"}}))
	tok := mustOK(t, call(t, rt, "", map[string]any{"controller": "auth", "action": "login", "strategy": "local",
		"body": map[string]any{"username": "u1", "password": "pw1"}}))["jwt"].(string)
	if has := sec("hasCredentials", map[string]any{"_id": "u1", "strategy": "local"}); has.Result != true {
		t.Fatalf("hasCredentials: %v", has.Result)
	}
	mustOK(t, sec("updateCredentials", map[string]any{"_id": "u1", "strategy": "local", "body": map[string]any{"password": "pw2"}}))
	if got := errID(call(t, rt, tok, map[string]any{"controller": "server", "action": "now"})); got != "security.token.invalid" {
		t.Fatalf("a token after its user's credentials changed: %q", got)
	}
	mustOK(t, call(t, rt, "", map[string]any{"controller": "auth", "action": "login", "strategy": "local",
		"body": map[string]any{"username": "u1", "password": "pw2"}}))
	// A restricted user gets the default profile and no say in it.
	mustOK(t, sec("createRestrictedUser", map[string]any{"_id": "r", "body": map[string]any{"content": map[string]any{"a": 1}}}))
	if u := m.st.User("r"); len(u.ProfileIDs) != 1 || u.ProfileIDs[0] != "default" {
		t.Fatalf("createRestrictedUser: %+v", u)
	}
	deleted := sec("mDeleteUsers", map[string]any{"body": map[string]any{"ids": []any{"u1", "nope", "u2"}}})
	if b, _ := json.Marshal(deleted.Result); string(b) != `["u1","u2"]` {
		t.Fatalf("mDeleteUsers: %s", b)
	}
}
