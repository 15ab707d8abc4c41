package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// doAs is proc.do with a bearer token.
func (p *proc) doAs(t *testing.T, token, method, path, body string) envelope {
	t.Helper()
	_, env := p.doToken(t, token, method, path, body)
	return env
}

func okAs(t *testing.T, p *proc, token, method, path, body string) envelope {
	t.Helper()
	env := p.doAs(t, token, method, path, body)
	if env.Error != nil {
		t.Fatalf("%s %s on %s: %+v", method, path, p.api, env.Error)
	}
	return env
}

func login(t *testing.T, p *proc, user, password string) string {
	t.Helper()
	env := okAs(t, p, "", "POST", "/_login/local", `{"username":"`+user+`","password":"`+password+`"}`)
	var res struct {
		JWT string `json:"jwt"`
	}
	if err := json.Unmarshal(env.Result, &res); err != nil || res.JWT == "" {
		t.Fatalf("login: %s %v", env.Result, err)
	}
	return res.JWT
}

func refusedWith(t *testing.T, env envelope, id string) {
	t.Helper()
	if env.Error == nil || env.Error.ID != id {
		t.Fatalf("got %+v (result %s), want %s", env.Error, env.Result, id)
	}
}

// Security changes are enforced by every node as soon as the request that
// made them returns: a token revoked on A is refused on B and C with no
// wait, and a role changed on A applies on C to the next request.
func TestSecurityChangesApplyOnEveryNodeAtOnce(t *testing.T) {
	a := clusterNode(t, 21, "", true)
	b := clusterNode(t, 22, "", true, "--join", a.cluster)
	c := clusterNode(t, 23, "", true, "--join", a.cluster+","+b.cluster)
	ms := []*member{a, b, c}
	waitMembers(t, ms, 3)
	// A follower (cluster:status needs no token before the lock-down).
	_, leaderID := leaderOf(t, ms)
	var f *member
	for _, m := range ms {
		if m.nodeID(t) != leaderID {
			f = m
			break
		}
	}

	okAs(t, a.proc, "", "POST", "/_createFirstAdmin/admin?reset=true",
		`{"credentials":{"local":{"username":"admin","password":"adminpw"}}}`)
	refusedWith(t, c.doAs(t, "", "POST", "/i/_create", ""), "security.rights.unauthorized")

	admin := login(t, b.proc, "admin", "adminpw")
	for _, m := range ms {
		okAs(t, m.proc, admin, "GET", "/_me", "")
	}

	// A change made through a follower holds on that follower too when it
	// returns (the follower acknowledges once the leader applied it).
	for i := 0; i < 10; i++ {
		name := fmt.Sprintf("f%d", i)
		okAs(t, f.proc, admin, "POST", "/users/"+name+"/_create",
			`{"content":{"profileIds":["default"]},"credentials":{"local":{"username":"`+name+`","password":"pw"}}}`)
		login(t, f.proc, name, "pw")
	}

	// Logout on A: B and C refuse the token right away.
	other := login(t, a.proc, "admin", "adminpw")
	okAs(t, a.proc, other, "GET", "/_me", "")
	okAs(t, a.proc, other, "POST", "/_logout", "")
	refusedWith(t, b.doAs(t, other, "GET", "/_me", ""), "security.token.invalid")
	refusedWith(t, c.doAs(t, other, "GET", "/_me", ""), "security.token.invalid")

	// A role changed on A applies on C to the next request.
	okAs(t, a.proc, admin, "POST", "/roles/clock/_create", `{"controllers":{"server":{"actions":{"now":true}}}}`)
	okAs(t, a.proc, admin, "POST", "/profiles/clock/_create", `{"policies":[{"roleId":"clock"}]}`)
	okAs(t, a.proc, admin, "POST", "/users/u/_create",
		`{"content":{"profileIds":["clock"]},"credentials":{"local":{"username":"u","password":"upw"}}}`)
	u := login(t, c.proc, "u", "upw")
	okAs(t, c.proc, u, "GET", "/_now", "")
	okAs(t, a.proc, admin, "PUT", "/roles/clock", `{"controllers":{"server":{"actions":{"info":true}}}}`)
	refusedWith(t, c.doAs(t, u, "GET", "/_now", ""), "security.rights.forbidden")

	// The security state survives restarts from the log and snapshots:
	// B restarted still knows the admin and refuses the revoked token.
	b.stop()
	b2 := clusterNode(t, 22, b.dataDir, true, "--join", a.cluster)
	okAs(t, b2.proc, admin, "GET", "/_me", "")
	refusedWith(t, b2.doAs(t, other, "GET", "/_me", ""), "security.token.invalid")
}

// A node given --first-admin-file is locked down before it reports ready,
// and refuses every request until then: no request ever runs with a fresh
// node's open anonymous role. Restarted
// with the same file, it keeps its admin and does not fail.
func TestFirstAdminFileLocksDownFromTheStart(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "admin.json")
	if err := os.WriteFile(file, []byte(`{"kuid":"boss","username":"boss","password":"bosspw"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	p := start(t, data, "--first-admin-file", file)
	refusedWith(t, p.doAs(t, "", "POST", "/i/_create", ""), "security.rights.unauthorized")
	tok := login(t, p, "boss", "bosspw")
	okAs(t, p, tok, "POST", "/i/_create", "")
	if code := p.stop(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	p = start(t, data, "--first-admin-file", file)
	okAs(t, p, tok, "GET", "/i/_exists", "")
	refusedWith(t, p.doAs(t, "", "GET", "/i/_exists", ""), "security.rights.unauthorized")
}

// A token revoked while a node was cut off or down is never served by that
// node: once cut off it refuses tokens (within a second of silence from its
// leader, before a revocation stops waiting for it), and restarted it
// refuses until it caught up with the log.
func TestRevokedTokensAreNotServedByStaleNodes(t *testing.T) {
	a := clusterNode(t, 31, "", true)
	b := clusterNode(t, 32, "", true, "--join", a.cluster)
	c := clusterNode(t, 33, "", true, "--join", a.cluster+","+b.cluster)
	ms := []*member{a, b, c}
	waitMembers(t, ms, 3)
	okAs(t, a.proc, "", "POST", "/_createFirstAdmin/admin?reset=true",
		`{"credentials":{"local":{"username":"admin","password":"adminpw"}}}`)
	admin := login(t, a.proc, "admin", "adminpw")

	// Restarted: C is down while a token is revoked, and must refuse it
	// from its very first request once back.
	tok := login(t, c.proc, "admin", "adminpw")
	okAs(t, c.proc, tok, "GET", "/_me", "")
	cDir := c.dataDir
	c.stop()
	okAs(t, a.proc, tok, "POST", "/_logout", "")
	c2 := clusterNode(t, 33, cDir, true, "--join", a.cluster+","+b.cluster)
	eventually(t, 20*time.Second, "C answers", func() bool {
		env := c2.doAs(t, tok, "GET", "/_me", "")
		if env.Error == nil {
			t.Fatalf("C served a token revoked while it was down: %s", env.Result)
		}
		return env.Error.ID == "security.token.invalid"
	})
	okAs(t, c2.proc, admin, "GET", "/_me", "")

	// Cut off: A and B die; C refuses every token (503) long before its
	// watchdog makes it exit.
	a.proc.kill()
	b.proc.kill()
	eventually(t, 10*time.Second, "C refuses tokens without a leader", func() bool {
		env := c2.doAs(t, admin, "GET", "/_me", "")
		return env.Error != nil && env.Error.ID == "api.process.not_enough_nodes"
	})
}
