package fsm

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
)

// The holders index must always say what a scan of the rooms would: the
// nodes (by cluster address) holding a room on the collection.
func TestPublishTargetsFollowRooms(t *testing.T) {
	f, _, _ := newFSM(t)
	var lb logBuilder
	hello := func(id string) *raft.Log {
		return lb.entry(t, &Command{Kind: KindNodeHello, Node: id, Member: &MemberInfo{ClusterAddr: id + ":7511", Date: 1}})
	}
	room := func(k Kind, id, coll, node string, seq uint64) *raft.Log {
		return lb.entry(t, &Command{Kind: k, Room: &RoomChange{ID: id, Index: "i", Collection: coll,
			Canonical: json.RawMessage(`[[{"everything":true}]]`), Node: node, Seq: seq}})
	}
	check := func(coll, self string, want ...string) {
		t.Helper()
		if got := f.PublishTargets("i", coll, self); !reflect.DeepEqual(got, want) {
			t.Fatalf("targets of %s from %s: %v, want %v", coll, self, got, want)
		}
	}
	f.ApplyBatch([]*raft.Log{hello("n1"), hello("n2"), hello("n3"),
		room(KindRoomCreated, "r1", "c", "n1", 1), room(KindRoomCreated, "r2", "c", "n1", 2),
		room(KindRoomCreated, "r1", "c", "n2", 1), room(KindRoomCreated, "r3", "d", "n3", 1)})
	check("c", "n3", "n1:7511", "n2:7511")
	check("c", "n1", "n2:7511")
	check("d", "n1", "n3:7511")
	check("e", "n1")

	// n1 leaves one of its two rooms: it still holds c. A repeated
	// "created" for a room a node holds counts once.
	f.ApplyBatch([]*raft.Log{room(KindRoomEmptied, "r1", "c", "n1", 3), room(KindRoomCreated, "r2", "c", "n1", 4)})
	check("c", "n3", "n1:7511", "n2:7511")
	f.ApplyBatch([]*raft.Log{room(KindRoomEmptied, "r2", "c", "n1", 5)})
	check("c", "n3", "n2:7511")
	// A stale "emptied" (older seq) and a stale "created" change nothing.
	f.ApplyBatch([]*raft.Log{room(KindRoomCreated, "r2", "c", "n1", 5), room(KindRoomEmptied, "r2", "c", "n1", 4)})
	check("c", "n3", "n2:7511")
	f.ApplyBatch([]*raft.Log{room(KindRoomCreated, "r2", "c", "n1", 6)})
	check("c", "n3", "n1:7511", "n2:7511")

	// A restarted node's rooms go.
	f.ApplyBatch([]*raft.Log{hello("n2")})
	check("c", "n3", "n1:7511")

	// A restored replica rebuilds the index.
	g := restoredCopy(t, f)
	for _, coll := range []string{"c", "d", "e"} {
		if a, b := f.PublishTargets("i", coll, ""), g.PublishTargets("i", coll, ""); !reflect.DeepEqual(a, b) {
			t.Fatalf("restored targets of %s: %v, want %v", coll, b, a)
		}
	}
}
