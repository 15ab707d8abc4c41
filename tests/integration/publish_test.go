package integration

import (
	"fmt"
	"reflect"
	"syscall"
	"testing"
	"time"
)

// publishHTTP sends realtime:publish through node p's HTTP API.
func publishHTTP(t *testing.T, p *proc, id string, body string) {
	t.Helper()
	mustOK(t, p, "POST", "/_query", `{"controller":"realtime","action":"publish","index":"rt","collection":"c","_id":"`+id+`","body":`+body+`}`)
}

// docIDs reads s's document notifications up to and including the one for
// last, and returns their ids in arrival order.
func docIDs(s *wsClient, last string) []string {
	var ids []string
	for {
		n := s.next(func(m map[string]any) bool { return m["type"] == "document" })
		id, _ := n["result"].(map[string]any)["_id"].(string)
		if n["action"] != "publish" {
			s.t.Fatalf("a %v notification among publications", n["action"])
		}
		ids = append(ids, id)
		if id == last {
			return ids
		}
	}
}

// A publication on node A reaches the matching subscribers on B and C once
// each, in the order published, and nobody else; a peer that stops
// answering does not hold publications to the others back.
func TestPublishReachesOtherNodesOnceAndSkipsADownPeer(t *testing.T) {
	r := startRedis(t)
	ms := formRedis(t, r, 3)
	a, b, c := ms[0], ms[1], ms[2]
	// Publications go node to node once the cluster agreed on format 2
	// (before, through the log, for members of the previous release).
	for _, m := range ms {
		eventually(t, 20*time.Second, "feature version 2", func() bool { return featureVersion(t, m.proc) >= 2 })
	}
	mustOK(t, a.proc, "POST", "/rt/_create", "")
	mustOK(t, a.proc, "PUT", "/rt/c", "{}")
	blue := map[string]any{"equals": map[string]any{"team": "blue"}}
	sub := func(m *member, f map[string]any) *wsClient {
		s := &wsClient{t, dial(t, m.proc)}
		s.call(map[string]any{"controller": "realtime", "action": "subscribe", "index": "rt", "collection": "c", "body": f})
		return s
	}
	// subscribe returns once every node routes the collection's
	// publications to the subscriber's node: no waiting here.
	subB := sub(b, blue)
	subC := sub(c, blue)
	bigC := sub(c, map[string]any{"range": map[string]any{"n": map[string]any{"gte": 5}}})

	var wantBlue, wantBig []string
	for i := range 20 {
		id, team := fmt.Sprintf("p%d", i), "red"
		if i%2 == 0 {
			team = "blue"
			wantBlue = append(wantBlue, id)
		}
		if i >= 5 {
			wantBig = append(wantBig, id)
		}
		publishHTTP(t, a.proc, id, fmt.Sprintf(`{"team":%q,"n":%d}`, team, i))
	}
	publishHTTP(t, a.proc, "end", `{"team":"blue","n":100}`)
	publishHTTP(t, a.proc, "end2", `{"team":"blue","n":101}`)
	wantBlue = append(wantBlue, "end")
	wantBig = append(wantBig, "end")
	for name, s := range map[string]*wsClient{"B": subB, "C": subC} {
		if got := docIDs(s, "end"); !reflect.DeepEqual(got, wantBlue) {
			t.Fatalf("blue subscriber on %s got %v, want %v", name, got, wantBlue)
		}
		// No duplicate trails behind: the next one is the next publication.
		if got := docIDs(s, "end2"); !reflect.DeepEqual(got, []string{"end2"}) {
			t.Fatalf("after end, %s got %v", name, got)
		}
	}
	if got := docIDs(bigC, "end"); !reflect.DeepEqual(got, wantBig) {
		t.Fatalf("range subscriber on C got %v, want %v", got, wantBig)
	}

	// C stops answering (its process is frozen: connections stay open,
	// nothing is read). Publications on A still reach B, all of them.
	if err := c.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.cmd.Process.Signal(syscall.SIGCONT) })
	var want []string
	for i := range 200 {
		id := fmt.Sprintf("q%d", i)
		want = append(want, id)
		publishHTTP(t, a.proc, id, `{"team":"blue"}`)
	}
	if got := docIDs(subB, "q199"); !reflect.DeepEqual(got, want) {
		t.Fatalf("with C frozen, B got %d publications, want the %d sent in order", len(got), len(want))
	}
}
