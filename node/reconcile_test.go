package node

import (
	"maps"
	"testing"

	"github.com/korumdb/korum/fsm"
	"github.com/korumdb/korum/raftnet"
)

func TestOrphansAreMembersOutsideTheConfiguration(t *testing.T) {
	members := []fsm.Member{{ID: "a", Birthdate: 1}, {ID: "b", Birthdate: 2}, {ID: "c", Birthdate: 3}}
	servers := []raftnet.Server{{ID: "a"}, {ID: "c"}, {ID: "d"}} // d joined, not said hello yet
	got := orphans(members, servers)
	if want := map[string]int64{"b": 2}; !maps.Equal(got, want) {
		t.Fatalf("orphans = %v, want %v", got, want)
	}
	if got := orphans(members, append(servers, raftnet.Server{ID: "b"})); len(got) != 0 {
		t.Fatalf("no orphan expected, got %v", got)
	}
}
