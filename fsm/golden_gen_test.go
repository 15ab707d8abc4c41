package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/korumdb/korum/memstore"
	"github.com/korumdb/korum/realtime"
	"github.com/korumdb/korum/security"
	"github.com/korumdb/korum/storage"
)

// This file must compile against Korum v0.2.0's fsm package as well as
// HEAD's: it wrote testdata/v1 when copied into the v0.2.0 tree, and HEAD
// runs it again to check that it writes the same bytes (golden_test.go):
//
//	tmp=$(mktemp -d); git archive v0.2.0 | tar -x -C $tmp
//	cp fsm/golden_gen_test.go $tmp/fsm/
//	(cd $tmp && KORUM_GOLDEN_WRITE=$OLDPWD/fsm/testdata/v1 go test -run TestWriteGolden ./fsm)
//
// Keep it to what format version 1 has; a later format gets its own
// generator and directory.

// goldenCommands is one entry of every kind format version 1 has (write
// with several operations, publish, rooms, hello, eviction, batch, ms,
// security, changed), each filled the way a node fills it.
func goldenCommands() [][]*Command {
	meta := func(id string) *realtime.Meta {
		return &realtime.Meta{RequestID: id, Timestamp: 1700000000000, Controller: "document", Action: "create",
			Protocol: "websocket", Node: "n1", Volatile: map[string]any{"app": "golden", "n": 1.5}}
	}
	write := func(key string, w storage.Write) []*Command {
		return []*Command{{Kind: KindWrite, Key: key, Write: &w, Meta: meta(key)}}
	}
	one := func(c *Command) []*Command { return []*Command{c} }
	mappings := json.RawMessage(`{"dynamic":"true","properties":{"title":{"type":"keyword"},"n":{"type":"integer"}}}`)
	return [][]*Command{
		one(&Command{Kind: KindNodeHello, Key: "n1-k0", Node: "n1", Member: &MemberInfo{APIAddr: "10.0.0.1:7512",
			ClusterAddr: "10.0.0.1:7511", Date: 1700000000000, Depth: 50}}),
		one(&Command{Kind: KindNodeHello, Key: "n2-k0", Node: "n2", Member: &MemberInfo{APIAddr: "10.0.0.2:7512",
			ClusterAddr: "10.0.0.2:7511", Date: 1700000000100, Depth: 50}}),
		write("n1-k1", storage.Write{Op: storage.OpIndexCreate, Index: "app", Now: 1700000000200, Author: "-1"}),
		write("n1-k2", storage.Write{Op: storage.OpCollectionCreate, Index: "app", Collection: "docs", Now: 1700000000300,
			Author: "-1", Mappings: mappings}),
		one(&Command{Kind: KindRoomCreated, Key: "n2-k1", Room: &RoomChange{ID: "room1", Index: "app", Collection: "docs",
			Canonical: json.RawMessage(`[[{"equals":{"title":"a"}}]]`), Node: "n2", Seq: 1}}),
		write("n1-k3", storage.Write{Op: storage.OpDocCreate, Index: "app", Collection: "docs", Now: 1700000000400,
			Author: "-1", Docs: []storage.DocWrite{{ID: "d1", Body: map[string]any{"title": "a", "n": 1.0}}}}),
		write("n1-k4", storage.Write{Op: storage.OpDocUpdate, Index: "app", Collection: "docs", Now: 1700000000500,
			Author: "u1", Docs: []storage.DocWrite{{ID: "d1", Body: map[string]any{"n": 2.0}}}}),
		write("n1-k5", storage.Write{Op: storage.OpDocCreateOrReplace, Index: "app", Collection: "docs", Now: 1700000000600,
			Author: "-1", Docs: []storage.DocWrite{{ID: "d2", Body: map[string]any{"title": "b", "tags": []any{"x", "y"}}}}}),
		write("n1-k6", storage.Write{Op: storage.OpDocDelete, Index: "app", Collection: "docs", Now: 1700000000700,
			Author: "-1", Docs: []storage.DocWrite{{ID: "d2"}}}),
		// A write refused per document is still a deterministic result.
		write("n1-k7", storage.Write{Op: storage.OpDocCreate, Index: "app", Collection: "docs", Now: 1700000000800,
			Author: "-1", Docs: []storage.DocWrite{{ID: "d1", Body: map[string]any{"title": "dup"}}}}),
		one(&Command{Kind: KindPublish, Key: "n2-k2", Meta: meta("n2-k2"), Publish: &Publish{Index: "app", Collection: "docs",
			Body: map[string]any{"title": "a", "msg": "hi"}}}),
		// A batch of three, one of them silent.
		{
			{Kind: KindWrite, Key: "n2-k3", Write: &storage.Write{Op: storage.OpDocCreate, Index: "app", Collection: "docs",
				Now: 1700000000900, Author: "-1", Docs: []storage.DocWrite{{ID: "d3", Body: map[string]any{"title": "a"}}}}, Meta: meta("n2-k3")},
			{Kind: KindWrite, Key: "n2-k4", Silent: true, Write: &storage.Write{Op: storage.OpDocUpsert, Index: "app", Collection: "docs",
				Now: 1700000001000, Author: "-1", Docs: []storage.DocWrite{{ID: "d4", Body: map[string]any{"n": 4.0}, Default: map[string]any{"title": "c"}}}},
				Meta: meta("n2-k4")},
			{Kind: KindRoomCreated, Key: "n1-k8", Room: &RoomChange{ID: "room2", Index: "app", Collection: "other",
				Canonical: json.RawMessage(`[]`), Node: "n1", Seq: 1}},
		},
		one(&Command{Kind: KindMS, Key: "n1-k9", MS: &memstore.Command{Now: 1700000001100, Seed: 7,
			Cmds: [][]string{{"set", "k", "v", "EX", "100"}, {"hset", "h", "f", "1"}, {"zadd", "z", "1", "a", "2", "b"}, {"sadd", "s", "m"}, {"rpush", "l", "1", "2"}}}}),
		one(&Command{Kind: KindSecurity, Key: "n1-k10", Security: &security.Command{Op: security.OpPutRole, ID: "reader", Mode: security.ModeCreate,
			Role:   &security.Role{Controllers: map[string]security.Actions{"document": {Actions: map[string]bool{"get": true}}}},
			Secret: "golden-secret", Now: 1700000001200, Author: "-1"}}),
		one(&Command{Kind: KindSecurity, Key: "n1-k11", Security: &security.Command{Op: security.OpPutUser, ID: "u1", Mode: security.ModeCreate,
			User: &security.User{ProfileIDs: []string{security.Default}}, Now: 1700000001300, Author: "-1"}}),
		one(&Command{Kind: KindChanged, Key: "n2-k5", Write: &storage.Write{Op: storage.OpDocCreateOrReplace, Index: "es", Collection: "c"},
			Meta: meta("n2-k5"), Changed: &storage.WriteResult{Items: []storage.ItemResult{{ID: "e1", Created: true,
				After: &storage.Document{ID: "e1", Version: 1, Source: map[string]any{"title": "a"}}, Seq: &storage.SeqNo{Term: 1, Seq: 3}}}}}),
		one(&Command{Kind: KindRoomEmptied, Key: "n2-k6", Room: &RoomChange{ID: "room1", Node: "n2", Seq: 2}}),
		one(&Command{Kind: KindNodeEvicted, Key: "n1-k12", Node: "n2", Member: &MemberInfo{Date: 1700000001400, Reason: "dead",
			Incarnation: 1700000000100, Depth: 50}}),
		// A retry of an applied key answers the first result again.
		write("n1-k3", storage.Write{Op: storage.OpDocCreate, Index: "app", Collection: "docs", Now: 1700000000400,
			Author: "-1", Docs: []storage.DocWrite{{ID: "d1", Body: map[string]any{"title": "a", "n": 1.0}}}}),
	}
}

// goldenRun encodes goldenCommands, applies them one entry per call to a
// fresh state machine over a fresh embedded store, and returns the files
// testdata/v1 holds: each entry's bytes, each result, the notifications,
// and the snapshot of the final state.
func goldenRun(t *testing.T) map[string][]byte {
	t.Helper()
	f, ev, _ := newFSM(t)
	files := map[string][]byte{}
	var results []string
	for i, cmds := range goldenCommands() {
		var data []byte
		if len(cmds) == 1 {
			b, err := cmds[0].Encode()
			if err != nil {
				t.Fatal(err)
			}
			data = b
		} else {
			var subs [][]byte
			for _, c := range cmds {
				b, err := c.Encode()
				if err != nil {
					t.Fatal(err)
				}
				subs = append(subs, b)
			}
			data = EncodeBatch(subs)
		}
		files[fmt.Sprintf("entry-%02d.bin", i+1)] = data
		out := f.ApplyBatch([]*raft.Log{{Index: uint64(i + 1), Term: 1, Type: raft.LogCommand, Data: data}})
		switch r := out[0].(type) {
		case []byte:
			results = append(results, string(r))
		case error:
			results = append(results, "error: "+r.Error())
		default:
			results = append(results, fmt.Sprintf("%T", r))
		}
	}
	res, err := json.MarshalIndent(results, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	files["results.json"] = append(res, '\n')
	evs, err := json.MarshalIndent(ev.evs, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	files["events.json"] = append(evs, '\n')
	files["snapshot.bin"] = persist(t, f)
	return files
}

// persist returns a snapshot of f's state as Raft would store it.
func persist(t *testing.T, f *FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(sink.Bytes())
}

// TestWriteGolden writes goldenRun's files into $KORUM_GOLDEN_WRITE.
func TestWriteGolden(t *testing.T) {
	dir := os.Getenv("KORUM_GOLDEN_WRITE")
	if dir == "" {
		t.Skip("KORUM_GOLDEN_WRITE names the directory to write the golden files into")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range goldenRun(t) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
