package security

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/korumdb/korum/kerror"
)

func mustApply(t *testing.T, s *State, c *Command) {
	t.Helper()
	if r := s.Apply(c); r.Err != nil {
		t.Fatalf("%s %s: %v", c.Op, c.ID, r.Err)
	}
}

func role(t *testing.T, body string) *Role {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	r, err := ParseRole("r", m)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func profile(t *testing.T, body string) *Profile {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	p, err := ParseProfile("p", m)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFreshStateAllowsAnonymousEverything(t *testing.T) {
	s := NewState()
	if !s.Allowed(AnonymousID, "index", "delete", "x", "") {
		t.Fatal("a fresh node must behave like a fresh Kuzzle: anonymous may do everything")
	}
}

func TestRoleWildcards(t *testing.T) {
	r := role(t, `{"controllers":{
		"document":{"actions":{"get":true,"delete":false}},
		"*":{"actions":{"*":true}},
		"index":{"actions":{"*":true,"delete":false}}}}`)
	cases := []struct {
		c, a string
		want bool
	}{
		{"document", "get", true},
		{"document", "delete", false},
		// An explicit controller entry hides "*": Kuzzle does not fall back.
		{"document", "search", false},
		{"collection", "create", true},
		{"index", "create", true},
		{"index", "delete", false},
	}
	for _, c := range cases {
		if got := r.allows(c.c, c.a); got != c.want {
			t.Errorf("%s:%s = %v, want %v", c.c, c.a, got, c.want)
		}
	}
}

func TestRestrictedTo(t *testing.T) {
	s := NewState()
	mustApply(t, s, &Command{Op: OpPutRole, ID: "docs", Mode: ModeCreate, Role: role(t, `{"controllers":{"document":{"actions":{"*":true}},"realtime":{"actions":{"subscribe":true}},"server":{"actions":{"now":true}}}}`)})
	mustApply(t, s, &Command{Op: OpPutProfile, ID: "p", Mode: ModeCreate, Profile: profile(t, `{"policies":[{"roleId":"docs","restrictedTo":[{"index":"i1","collections":["c2","c1"]},{"index":"i2"}]}]}`)})
	mustApply(t, s, &Command{Op: OpPutUser, ID: "u", Mode: ModeCreate, User: &User{ProfileIDs: []string{"p"}}})
	cases := []struct {
		c, a, i, col string
		want         bool
	}{
		{"document", "get", "i1", "c1", true},
		{"document", "get", "i1", "c2", true},
		{"document", "get", "i1", "c3", false},
		{"document", "search", "i2", "anything", true},
		{"document", "get", "i3", "c1", false},
		{"realtime", "subscribe", "i1", "c1", true},
		{"realtime", "subscribe", "other", "c1", false},
		// Actions without an index ignore restrictions, as Kuzzle's.
		{"server", "now", "", "", true},
		{"index", "create", "i1", "", false},
	}
	for _, c := range cases {
		if got := s.Allowed("u", c.c, c.a, c.i, c.col); got != c.want {
			t.Errorf("%s:%s on %s/%s = %v, want %v", c.c, c.a, c.i, c.col, got, c.want)
		}
	}
	if err := s.Check(&Identity{UserID: "u"}, "index", "create", "i1", ""); !kerror.Is(err, "security.rights.forbidden") {
		t.Errorf("a denied user gets %v, want forbidden", err)
	}
}

func TestFirstAdminResetRestrictsAnonymous(t *testing.T) {
	s := NewState()
	mustApply(t, s, &Command{Op: OpFirstAdmin, ID: "admin", Reset: true, User: &User{Local: &Local{Username: "admin", Hash: "h"}}})
	if s.Allowed(AnonymousID, "document", "create", "i", "c") {
		t.Fatal("after createFirstAdmin with reset, anonymous may not write documents")
	}
	if !s.Allowed(AnonymousID, "auth", "login", "", "") {
		t.Fatal("anonymous must still be allowed to log in")
	}
	if err := s.Check(&Identity{UserID: AnonymousID}, "document", "create", "i", "c"); !kerror.Is(err, "security.rights.unauthorized") {
		t.Errorf("anonymous denied gets %v, want unauthorized", err)
	}
	if !s.Allowed("admin", "security", "createUser", "", "") {
		t.Fatal("the first admin may do everything")
	}
	if r := s.Apply(&Command{Op: OpFirstAdmin, ID: "other", User: &User{}}); !kerror.Is(r.Err, "api.process.admin_exists") {
		t.Fatalf("a second first admin: %v", r.Err)
	}
}

func TestProtectedAndInUse(t *testing.T) {
	s := NewState()
	if r := s.Apply(&Command{Op: OpDeleteRole, ID: Admin}); !kerror.Is(r.Err, "security.role.cannot_delete") {
		t.Fatalf("deleting admin: %v", r.Err)
	}
	mustApply(t, s, &Command{Op: OpPutRole, ID: "r", Mode: ModeCreate, Role: allowAll()})
	mustApply(t, s, &Command{Op: OpPutProfile, ID: "p", Mode: ModeCreate, Profile: &Profile{Policies: []Policy{{RoleID: "r"}}}})
	if r := s.Apply(&Command{Op: OpDeleteRole, ID: "r"}); !kerror.Is(r.Err, "security.role.in_use") {
		t.Fatalf("deleting a used role: %v", r.Err)
	}
	if r := s.Apply(&Command{Op: OpPutProfile, ID: "q", Mode: ModeCreate, Profile: &Profile{Policies: []Policy{{RoleID: "nope"}}}}); !kerror.Is(r.Err, "security.role.not_found") {
		t.Fatalf("a profile with an unknown role: %v", r.Err)
	}
}

func TestTokens(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	s := NewState()
	mustApply(t, s, &Command{Op: OpPutUser, ID: "u", Mode: ModeCreate, User: &User{ProfileIDs: []string{Default}}})
	now := int64(1_000_000)
	tok, err := Sign(secret, Claims{UserID: "u", Iat: now / 1000, ExpMs: now + 60_000, ID: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.Authenticate(secret, tok, now)
	if err != nil || id.UserID != "u" {
		t.Fatalf("a good token: %v %v", id, err)
	}
	// Expired.
	if _, err := s.Authenticate(secret, tok, now+60_000); !kerror.Is(err, "security.token.expired") {
		t.Fatalf("expired: %v", err)
	}
	// Forged: another secret.
	forged, _ := Sign([]byte("another secret"), Claims{UserID: "u", ExpMs: now + 60_000, ID: "t2"})
	if _, err := s.Authenticate(secret, forged, now); !kerror.Is(err, "security.token.invalid") {
		t.Fatalf("forged: %v", err)
	}
	// Tampered: payload changed, signature kept.
	parts := strings.Split(tok, ".")
	admin, _ := json.Marshal(Claims{UserID: "admin", ExpMs: now + 60_000, ID: "t1"})
	tampered := parts[0] + "." + b64.EncodeToString(admin) + "." + parts[2]
	if _, err := s.Authenticate(secret, tampered, now); !kerror.Is(err, "security.token.invalid") {
		t.Fatalf("tampered: %v", err)
	}
	// alg none.
	none := b64.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + "."
	if _, err := s.Authenticate(secret, none, now); !kerror.Is(err, "security.token.invalid") {
		t.Fatalf("alg none: %v", err)
	}
	for _, junk := range []string{"x", "a.b.c", "..", strings.Repeat("a", 5000)} {
		if _, err := s.Authenticate(secret, junk, now); !kerror.Is(err, "security.token.invalid") {
			t.Fatalf("junk %q: %v", junk, err)
		}
	}
	// Revoked by id.
	mustApply(t, s, &Command{Op: OpRevoke, TokenID: "t1", Expires: now + 60_000, Now: now})
	if _, err := s.Authenticate(secret, tok, now); !kerror.Is(err, "security.token.invalid") {
		t.Fatalf("revoked: %v", err)
	}
	// ... on a node whose clock runs behind the proposer's too.
	if _, err := s.Authenticate(secret, tok, now-5_000); !kerror.Is(err, "security.token.invalid") {
		t.Fatalf("revoked, read by a node 5 s behind: %v", err)
	}
	// ... and after a restore from a snapshot.
	b, _ := json.Marshal(s)
	restored := NewState()
	if err := json.Unmarshal(b, restored); err != nil {
		t.Fatal(err)
	}
	if _, err := restored.Authenticate(secret, tok, now-5_000); !kerror.Is(err, "security.token.invalid") {
		t.Fatalf("revoked, restored, read by a node 5 s behind: %v", err)
	}
	// Global revocation.
	tok2, _ := Sign(secret, Claims{UserID: "u", ExpMs: now + 60_000, ID: "t3"})
	mustApply(t, s, &Command{Op: OpRevokeAll, ID: "u", Now: now})
	if _, err := s.Authenticate(secret, tok2, now); !kerror.Is(err, "security.token.invalid") {
		t.Fatalf("globally revoked: %v", err)
	}
	// A deleted then recreated user does not revive its old tokens.
	tok3, _ := Sign(secret, Claims{UserID: "u", ExpMs: now + 60_000, ID: "t4", Gen: s.Gen("u")})
	mustApply(t, s, &Command{Op: OpDeleteUser, ID: "u"})
	mustApply(t, s, &Command{Op: OpPutUser, ID: "u", Mode: ModeCreate, User: &User{ProfileIDs: []string{Default}}})
	if _, err := s.Authenticate(secret, tok3, now); !kerror.Is(err, "security.token.invalid") {
		t.Fatalf("token of a recreated user: %v", err)
	}
	// Revocations are forgotten once expired, by the proposer's clock.
	mustApply(t, s, &Command{Op: OpInit, Now: now + 120_000})
	if n := len(s.d.Revoked); n != 0 {
		t.Fatalf("%d expired revocations kept", n)
	}
}

func TestAPIKeyDeletionRevokes(t *testing.T) {
	secret := []byte("s3cr3t-s3cr3t-s3cr3t")
	s := NewState()
	mustApply(t, s, &Command{Op: OpPutUser, ID: "u", Mode: ModeCreate, User: &User{ProfileIDs: []string{Default}}})
	mustApply(t, s, &Command{Op: OpPutAPIKey, KeyID: "k", APIKey: &APIKey{UserID: "u", ExpiresAt: -1, TTL: -1}})
	tok, _ := Sign(secret, Claims{UserID: "u", ID: "k", Key: "k"})
	if _, err := s.Authenticate(secret, tok, 5); err != nil {
		t.Fatal(err)
	}
	if r := s.Apply(&Command{Op: OpDeleteAPIKey, ID: "someone else", KeyID: "k"}); r.Err == nil {
		t.Fatal("a user deleted another user's API key")
	}
	mustApply(t, s, &Command{Op: OpDeleteAPIKey, ID: "u", KeyID: "k"})
	if _, err := s.Authenticate(secret, tok, 5); !kerror.Is(err, "security.token.invalid") {
		t.Fatalf("deleted API key: %v", err)
	}
}

func TestLogin(t *testing.T) {
	s := NewState()
	// A "-" is not in bcrypt's alphabet: a random hash can never contain
	// this password (a two-letter one did, by chance, once in ~80 runs).
	l, err := ParseLocal(map[string]any{"username": "jo", "password": "pw-1"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if l.Hash == "" || strings.Contains(l.Hash, "pw-1") {
		t.Fatal("the password must be stored hashed")
	}
	mustApply(t, s, &Command{Op: OpPutUser, ID: "u", Mode: ModeCreate, User: &User{ProfileIDs: []string{Default}, Local: l}})
	if id, err := s.Login("jo", "pw-1"); err != nil || id != "u" {
		t.Fatalf("login: %q %v", id, err)
	}
	for _, bad := range [][2]string{{"jo", "nope"}, {"nobody", "pw-1"}, {"", ""}} {
		if _, err := s.Login(bad[0], bad[1]); !kerror.Is(err, "security.credentials.rejected") {
			t.Fatalf("login %v: %v", bad, err)
		}
	}
	// Another user may not take the same username.
	l2, _ := ParseLocal(map[string]any{"username": "jo", "password": "x"}, true)
	if r := s.Apply(&Command{Op: OpPutUser, ID: "v", Mode: ModeCreate, User: &User{ProfileIDs: []string{Default}, Local: l2}}); r.Err == nil {
		t.Fatal("two users with one username")
	}
}

// Every replica applying the same commands writes the same snapshot bytes.
func TestSnapshotDeterministic(t *testing.T) {
	build := func() []byte {
		s := NewState()
		mustApply(t, s, &Command{Op: OpInit, Secret: "sec"})
		mustApply(t, s, &Command{Op: OpPutRole, ID: "r", Mode: ModeCreate, Role: role(t, `{"controllers":{"a":{"actions":{"x":true,"y":false}},"b":{"actions":{"*":true}}}}`), Now: 7})
		mustApply(t, s, &Command{Op: OpPutProfile, ID: "p", Mode: ModeCreate, Profile: &Profile{Policies: []Policy{{RoleID: "r"}}}, Now: 8})
		for _, u := range []string{"u3", "u1", "u2"} {
			mustApply(t, s, &Command{Op: OpPutUser, ID: u, Mode: ModeCreate, User: &User{ProfileIDs: []string{"p"}, Content: map[string]any{"n": u}}, Now: 9})
		}
		mustApply(t, s, &Command{Op: OpRevoke, TokenID: "t", Expires: 100, Now: 10})
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b := build(), build()
	if !bytes.Equal(a, b) {
		t.Fatal("two replicas wrote different snapshots")
	}
	r := new(State)
	if err := json.Unmarshal(a, r); err != nil {
		t.Fatal(err)
	}
	c, _ := json.Marshal(r)
	if !bytes.Equal(a, c) {
		t.Fatal("a restored state does not encode as it was")
	}
	if r.Secret() != "sec" || !r.Allowed("u1", "a", "x", "", "") || r.Allowed("u1", "a", "y", "", "") {
		t.Fatal("the restored state lost data")
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[any]int64{"1h": 3600_000, "30s": 30_000, "2 days": 172_800_000, "500": 500, 1500.0: 1500, -1.0: -1} {
		if got, ok := ParseDuration(in); !ok || got != want {
			t.Errorf("%v: %d %v, want %d", in, got, ok, want)
		}
	}
	for _, in := range []any{"soon", "-5h", true, 1.5, "1 fortnight"} {
		if _, ok := ParseDuration(in); ok {
			t.Errorf("%v accepted", in)
		}
	}
}

// admin:loadSecurities is all or nothing: a dangling reference or an
// existing user (onExistingUsers fail) loads nothing.
func TestLoadAllOrNothing(t *testing.T) {
	s := NewState()
	mustApply(t, s, &Command{Op: OpPutUser, ID: "old", Mode: ModeCreate, User: &User{ProfileIDs: []string{Default}}})
	load := func(onExisting string, users map[string]*User) *Result {
		return s.Apply(&Command{Op: OpLoad, OnExisting: onExisting,
			Roles:    map[string]*Role{"r": allowAll()},
			Profiles: map[string]*Profile{"p": {Policies: []Policy{{RoleID: "r"}}}},
			Users:    users})
	}
	if r := load("fail", map[string]*User{"new": {ProfileIDs: []string{"p"}}, "old": {ProfileIDs: []string{"p"}}}); !kerror.Is(r.Err, "security.user.already_exists") {
		t.Fatalf("an existing user with fail: %v", r.Err)
	}
	if s.Role("r") != nil || s.User("new") != nil {
		t.Fatal("a failed load changed the state")
	}
	if r := load("fail", map[string]*User{"new": {ProfileIDs: []string{"nope"}}}); !kerror.Is(r.Err, "security.profile.not_found") {
		t.Fatalf("a dangling profile: %v", r.Err)
	}
	mustApply(t, s, &Command{Op: OpLoad, OnExisting: "skip", Roles: map[string]*Role{"r": allowAll()},
		Profiles: map[string]*Profile{"p": {Policies: []Policy{{RoleID: "r"}}}},
		Users:    map[string]*User{"new": {ProfileIDs: []string{"p"}}, "old": {ProfileIDs: []string{"p"}}}})
	if !s.Allowed("new", "x", "y", "", "") || s.User("old").ProfileIDs[0] != Default {
		t.Fatal("skip must load new users and leave existing ones")
	}
	mustApply(t, s, &Command{Op: OpReset})
	if s.User("new") != nil || s.Role("r") != nil || !s.Allowed(AnonymousID, "x", "y", "", "") {
		t.Fatal("resetSecurity must bring back a fresh install")
	}
}

// BenchmarkLogin is one local login: a bcrypt comparison at bcryptCost.
func BenchmarkLogin(b *testing.B) {
	s := NewState()
	l, err := ParseLocal(map[string]any{"username": "u", "password": "a password"}, true)
	if err != nil {
		b.Fatal(err)
	}
	s.Apply(&Command{Op: OpPutUser, ID: "u", Mode: ModeCreate, User: &User{ProfileIDs: []string{Default}, Local: l}})
	for b.Loop() {
		if _, err := s.Login("u", "a password"); err != nil {
			b.Fatal(err)
		}
	}
}

// A mapping update is stored only at the revision it was merged into;
// a stale one changes nothing; resetSecurity keeps the mappings, as
// Kuzzle's empties the collections without recreating them; names other
// than users, profiles and roles are refused the same way everywhere.
func TestUpdateMapping(t *testing.T) {
	s := NewState()
	def, rev := s.Mapping("users")
	if rev != 0 || def["dynamic"] != "false" {
		t.Fatalf("default users mapping %v at %d", def, rev)
	}
	def["dynamic"] = "true" // a copy: the state must not change
	if m, _ := s.Mapping("users"); m["dynamic"] != "false" {
		t.Fatal("Mapping must return a copy")
	}
	m1 := map[string]any{"dynamic": "false", "properties": map[string]any{"name": map[string]any{"type": "text"}}}
	mustApply(t, s, &Command{Op: OpUpdateMapping, ID: "users", Mapping: m1})
	m1["dynamic"] = "strict" // nor keep the command's maps
	if r := s.Apply(&Command{Op: OpUpdateMapping, ID: "users", Mapping: map[string]any{}}); r.Err != nil || !r.Stale {
		t.Fatalf("stale update: %+v", r)
	}
	got, rev := s.Mapping("users")
	if rev != 1 || got["dynamic"] != "false" || got["properties"].(map[string]any)["name"] == nil {
		t.Fatalf("users mapping %v at %d", got, rev)
	}
	mustApply(t, s, &Command{Op: OpReset})
	if _, rev := s.Mapping("users"); rev != 1 {
		t.Fatal("resetSecurity dropped the users mapping")
	}
	if r := s.Apply(&Command{Op: OpUpdateMapping, ID: "apiKeys", Mapping: map[string]any{}}); !kerror.Is(r.Err, "api.assert.invalid_argument") {
		t.Fatalf("unknown collection: %+v", r)
	}
	if r := s.Apply(&Command{Op: OpUpdateMapping, ID: "roles"}); !kerror.Is(r.Err, "api.assert.body_required") {
		t.Fatalf("no mapping: %+v", r)
	}
	b, _ := json.Marshal(s)
	var back State
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if m, rev := back.Mapping("users"); rev != 1 || m["properties"].(map[string]any)["name"] == nil {
		t.Fatalf("decoded mapping %v at %d", m, rev)
	}
}
