package security

import (
	"encoding/json"
	"testing"

	"github.com/korumdb/korum/kerror"
)

// FuzzParseToken: no input crashes the decoder, and nothing but a token
// signed with the secret is ever accepted.
func FuzzParseToken(f *testing.F) {
	secret := []byte("fuzz-secret")
	good, _ := Sign(secret, Claims{UserID: "u", ExpMs: 2000, ID: "t"})
	f.Add(good)
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.eyJfaWQiOiJ1In0.")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := Parse(secret, tok, 1000)
		if err != nil {
			if !kerror.Is(err, "security.token.invalid") && !kerror.Is(err, "security.token.expired") {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		// Accepted: it must be what signing its claims gives back.
		again, err := Sign(secret, *c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(secret, again, 1000); err != nil {
			t.Fatalf("re-signed claims refused: %v", err)
		}
	})
}

// FuzzCredentialsBodies: the decoders of credentials, roles and profiles
// never panic, and what they accept is well-formed.
func FuzzCredentialsBodies(f *testing.F) {
	f.Add(`{"username":"a","password":"b"}`)
	f.Add(`{"controllers":{"*":{"actions":{"*":true}}}}`)
	f.Add(`{"policies":[{"roleId":"r","restrictedTo":[{"index":"i","collections":["b","a"]}]}]}`)
	f.Add(`{"username":1}`)
	f.Fuzz(func(t *testing.T, body string) {
		var m map[string]any
		if json.Unmarshal([]byte(body), &m) != nil {
			return
		}
		// Only the username form: hashing with bcrypt in a fuzz loop is
		// too slow, and the password path is the same validation.
		if _, hasPw := m["password"]; !hasPw {
			if l, err := ParseLocal(m, false); err == nil && l.Username == "" {
				t.Fatal("accepted an empty username")
			}
		}
		if r, err := ParseRole("r", m); err == nil && len(r.Controllers) == 0 {
			t.Fatal("accepted a role without controllers")
		}
		if p, err := ParseProfile("p", m); err == nil {
			for _, pol := range p.Policies {
				if pol.RoleID == "" {
					t.Fatal("accepted a policy without a role")
				}
			}
		}
		if _, err := ParseUserContent(m, true); err == nil {
			if _, ok := m["profileIds"]; !ok {
				t.Fatal("accepted a user without profiles")
			}
		}
	})
}

// FuzzApply: any command that decodes applies without panicking (a panic
// in Apply would stop every replica at once), and two replicas applying
// it reach the same state and result.
func FuzzApply(f *testing.F) {
	for _, seed := range []string{
		`{"op":"load","roles":{"r":null}}`,
		`{"op":"load","roles":{"r":{"controllers":{"*":{"actions":{"*":true}}}}},"profiles":{"p":{"policies":[{"roleId":"r"}]}},"users":{"u":{"profileIds":["p"],"local":{"username":"u","hash":"h"}}}}`,
		`{"op":"user","id":"u","mode":"create","user":{"profileIds":["default"]}}`,
		`{"op":"firstAdmin","id":"a","reset":true,"user":{}}`,
		`{"op":"revoke","tokenId":"t","expires":5,"now":1}`,
		`{"op":"apiKey","keyId":"k","apiKey":{"userId":"u"}}`,
		`{"op":"local","id":"u","mode":"replace","local":null}`,
		`{"op":"role-","id":"admin"}`,
		`{"op":"resetSecurity"}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, cmd string) {
		var c Command
		if json.Unmarshal([]byte(cmd), &c) != nil {
			return
		}
		a, b := NewState(), NewState()
		for _, s := range []*State{a, b} {
			s.Apply(&Command{Op: OpPutUser, ID: "u", Mode: ModeCreate, User: &User{ProfileIDs: []string{Default}, Local: &Local{Username: "u", Hash: "h"}}})
		}
		ra, rb := a.Apply(&c), b.Apply(&c)
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if string(ja) != string(jb) || string(ra.Encode()) != string(rb.Encode()) {
			t.Fatalf("two replicas diverged on %s", cmd)
		}
	})
}
