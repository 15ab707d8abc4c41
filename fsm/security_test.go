package fsm

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/security"
)

func secResult(t *testing.T, out any) *security.Result {
	t.Helper()
	b, ok := out.([]byte)
	if !ok {
		t.Fatalf("got %T (%v), want a response", out, out)
	}
	r, err := DecodeResponse(b)
	if err != nil {
		t.Fatal(err)
	}
	var res security.Result
	if err := json.Unmarshal(r.Security, &res); err != nil {
		t.Fatalf("security result %q: %v", r.Security, err)
	}
	return &res
}

// Security commands go through the codec, apply through package security,
// answer their result, and their state survives a snapshot. A security
// command inside a batch applies like any other.
func TestSecurityCommands(t *testing.T) {
	f, _, _ := newFSM(t)
	var lb logBuilder
	user := &Command{Kind: KindSecurity, Security: &security.Command{Op: security.OpPutUser, ID: "u", Mode: security.ModeCreate,
		User: &security.User{ProfileIDs: []string{security.Default}}, Secret: "s1", Now: 10}}
	out := f.ApplyBatch([]*raft.Log{lb.entry(t, user)})
	if r := secResult(t, out[0]); r.Err != nil || !r.Created {
		t.Fatalf("create: %+v", r)
	}
	again := &Command{Kind: KindSecurity, Security: user.Security}
	first := &Command{Kind: KindSecurity, Security: &security.Command{Op: security.OpFirstAdmin, ID: "a", Reset: true,
		User: &security.User{}, Secret: "s2", Now: 11}}
	out = f.ApplyBatch([]*raft.Log{lb.batchEntry(t, again, first)})
	subs := subResults(t, out[0])
	var dup security.Result
	if err := json.Unmarshal(subResponse(t, subs[0]).Security, &dup); err != nil || !kerror.Is(dup.Err, "security.user.already_exists") {
		t.Fatalf("a second create: %+v %v", dup, err)
	}
	if f.Security().Secret() != "s1" {
		t.Fatal("the first secret applied must stay")
	}
	if f.Security().Allowed(security.AnonymousID, "document", "create", "i", "c") {
		t.Fatal("createFirstAdmin with reset did not restrict anonymous")
	}

	snapshot := persist(t, f)
	g, _, _ := newFSM(t)
	sec := g.Security()
	if err := g.Restore(io.NopCloser(bytes.NewReader(snapshot))); err != nil {
		t.Fatal(err)
	}
	if g.Security() != sec {
		t.Fatal("a restore must keep the security state's identity: the API holds it")
	}
	if sec.User("a") == nil || sec.User("u") == nil || sec.Secret() != "s1" {
		t.Fatal("the security state was lost in the snapshot")
	}
	a, _ := json.Marshal(f.Security())
	b, _ := json.Marshal(g.Security())
	if !bytes.Equal(a, b) {
		t.Fatal("the restored security state differs")
	}
}

// A security command comes out of the binary codec as it would out of
// JSON, inside a batch or not.
func TestSecurityCommandCodec(t *testing.T) {
	upd := int64(5)
	author := "a"
	sec := &security.Command{Op: security.OpLoad, ID: "x", Mode: security.ModeUpsert, Now: 42, Author: "-1", Secret: "s",
		Roles:    map[string]*security.Role{"r": {Controllers: map[string]security.Actions{"*": {Actions: map[string]bool{"*": true, "no": false}}}}},
		Profiles: map[string]*security.Profile{"p": {Policies: []security.Policy{{RoleID: "r", RestrictedTo: []security.Restriction{{Index: "i", Collections: []string{"a", "b"}}}}}, RateLimit: 3}},
		Users: map[string]*security.User{"u": {ProfileIDs: []string{"p"}, Content: map[string]any{"n": 1.5, "o": map[string]any{"k": []any{"v"}}},
			Local: &security.Local{Username: "u", Hash: "$2a$10$h"}, Info: &security.Info{Author: "b", CreatedAt: 1, Updater: &author, UpdatedAt: &upd}}},
		OnExisting: "skip", TokenID: "t", Expires: 9, At: 8, Revoke: true, KeyID: "k",
		APIKey: &security.APIKey{UserID: "u", Description: "d", ExpiresAt: -1, TTL: -1, Token: "j", CreatedAt: 2}}
	for _, c := range []*Command{
		{Kind: KindSecurity, Key: "k1", Security: sec},
		{Kind: KindBatch, Batch: []*Command{{Kind: KindSecurity, Security: &security.Command{Op: security.OpInit}}, {Kind: KindSecurity, Key: "k2", Security: sec}}},
	} {
		b, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeCommand(b)
		if err != nil {
			t.Fatal(err)
		}
		if want := jsonRoundTrip(t, c); !reflect.DeepEqual(got, want) {
			t.Fatalf("decodes as\n%#v\nwant\n%#v", got, want)
		}
	}
}
