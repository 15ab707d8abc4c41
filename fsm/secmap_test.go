package fsm

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/korumdb/korum/security"
)

func mappingCmd(key string, rev uint64, props map[string]any) *Command {
	return &Command{Kind: KindSecurity, Key: key, Security: &security.Command{Op: security.OpUpdateMapping, ID: "users", Rev: rev,
		Mapping: map[string]any{"dynamic": "false", "properties": props}, Now: 1700000002000, Author: "admin"}}
}

// A security mapping update is an operation newer than the security kind:
// its entry is marked with format version 2 (a v0.2.0 node stops on it
// rather than answer "unknown security command" and diverge), while the
// kind's older operations keep v0.2.0's bytes. It applies only at the
// revision it was merged into, and survives a snapshot.
func TestSecurityMappingEntries(t *testing.T) {
	upd := mappingCmd("n1-m1", 0, map[string]any{"profileIds": map[string]any{"type": "keyword"}, "name": map[string]any{"type": "text"}})
	b := mustEncode(t, upd)
	if b[1] != tagVersion || b[2] != 2 || upd.Version() != 2 {
		t.Fatalf("a mapping update is not marked as format version 2: % x", b[:4])
	}
	if old := mustEncode(t, &Command{Kind: KindSecurity, Security: &security.Command{Op: security.OpPutUser, ID: "u"}}); old[1] != tagKind {
		t.Fatalf("an older security op is marked: % x", old[:4])
	}
	back, err := DecodeCommand(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := jsonRoundTrip(t, upd); !reflect.DeepEqual(back, want) {
		t.Fatalf("decodes as %#v, want %#v", back, want)
	}

	f, _, _ := newFSM(t)
	var lb logBuilder
	stale := mappingCmd("n2-m1", 0, map[string]any{"other": map[string]any{"type": "keyword"}})
	out := f.ApplyBatch([]*raft.Log{lb.entry(t, featureCmd(2)), lb.entry(t, upd), lb.entry(t, stale)})
	if r := secResult(t, out[1]); r.Err != nil || r.Stale {
		t.Fatalf("first update: %+v", r)
	}
	if r := secResult(t, out[2]); r.Err != nil || !r.Stale {
		t.Fatalf("an update merged into revision 0 after revision 1 was stored: %+v, want stale", r)
	}
	m, rev := f.Security().Mapping("users")
	if rev != 1 || !reflect.DeepEqual(m, upd.Security.Mapping) {
		t.Fatalf("mapping %v at revision %d", m, rev)
	}

	snapshot := persist(t, f)
	g, _, _ := newFSM(t)
	if err := g.Restore(io.NopCloser(bytes.NewReader(snapshot))); err != nil {
		t.Fatal(err)
	}
	if gm, grev := g.Security().Mapping("users"); grev != 1 || !reflect.DeepEqual(gm, m) {
		t.Fatalf("restored mapping %v at revision %d", gm, grev)
	}
	if _, rev := g.Security().Mapping("roles"); rev != 0 {
		t.Fatal("a mapping never updated must stay Kuzzle's default")
	}
}

// v0.2.0's snapshot, which has no mappings, restores to Kuzzle's default
// mappings, and a state that never had an update still snapshots without
// the field (TestGoldenV1* check the bytes).
func TestV1SnapshotHasDefaultMappings(t *testing.T) {
	g, _, _ := newFSM(t)
	if err := g.Restore(io.NopCloser(bytes.NewReader(readGolden(t, goldenV1)["snapshot.bin"]))); err != nil {
		t.Fatal(err)
	}
	for _, c := range security.MappingCollections {
		m, rev := g.Security().Mapping(c)
		if rev != 0 || m["dynamic"] != "false" {
			t.Fatalf("%s: %v at revision %d", c, m, rev)
		}
	}
	if b, _ := json.Marshal(g.Security()); bytes.Contains(b, []byte(`"mappings"`)) {
		t.Fatal("a state without mapping updates must encode as format version 1 did")
	}
}

// testdata/v2-ops pins the entries of operations added to a version 1 kind
// in format version 2 (until v2 is released and gets its full golden set):
// HEAD must keep writing and applying them the same way.
const goldenV2Ops = "testdata/v2-ops"

func goldenV2OpsRun(t *testing.T) map[string][]byte {
	f, _, _ := newFSM(t)
	var lb logBuilder
	upd := mappingCmd("n1-m1", 0, map[string]any{"profileIds": map[string]any{"type": "keyword"},
		"name": map[string]any{"type": "text", "fields": map[string]any{"raw": map[string]any{"type": "keyword"}}}})
	entry := mustEncode(t, upd)
	out := f.ApplyBatch([]*raft.Log{lb.entry(t, featureCmd(2)), {Index: 2, Term: 1, Type: raft.LogCommand, Data: entry}})
	res, ok := out[1].([]byte)
	if !ok {
		t.Fatalf("result %v", out[1])
	}
	state, err := json.Marshal(f.Security())
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{"security-mapping.bin": entry, "security-mapping.result.json": res, "security-state.json": state}
}

func TestGoldenV2Ops(t *testing.T) {
	got := goldenV2OpsRun(t)
	if dir := os.Getenv("KORUM_GOLDEN_WRITE_V2OPS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for n, b := range got {
			if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := readGolden(t, goldenV2Ops)
	for n, b := range want {
		if !bytes.Equal(got[n], b) {
			t.Errorf("%s differs from the pinned one:\n%q\nwant\n%q", n, got[n], b)
		}
	}
	// The pinned entry itself decodes and re-encodes to the same bytes.
	c, err := DecodeCommand(want["security-mapping.bin"])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mustEncode(t, c), want["security-mapping.bin"]) {
		t.Error("the pinned mapping entry re-encodes differently")
	}
}
