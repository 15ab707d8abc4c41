package integration

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// formRedis starts n nodes sharing one Redis URL and waits until every one
// sees all of them.
func formRedis(t *testing.T, r *redisServer, n int, extra ...string) []*member {
	t.Helper()
	ms := make([]*member, n)
	for i := range ms {
		ms[i] = clusterNode(t, i+1, "", false, append([]string{"--redis", r.url()}, extra...)...)
	}
	for _, m := range ms {
		m.waitReady(t)
	}
	waitMembers(t, ms, n)
	return ms
}

func waitMembers(t *testing.T, ms []*member, n int) {
	t.Helper()
	for _, m := range ms {
		eventually(t, 30*time.Second, fmt.Sprintf("%s to see %d nodes", m.api, n), func() bool {
			st, err := m.status(t)
			return err == nil && st.ActiveNodes == n && st.Leader != ""
		})
	}
}

func leaderOf(t *testing.T, ms []*member) (*member, string) {
	t.Helper()
	var id string
	for _, m := range ms {
		if !m.alive() {
			continue
		}
		st, err := m.status(t)
		if err == nil && st.Leader != "" {
			id = st.Leader
			break
		}
	}
	for _, m := range ms {
		if m.alive() && m.nodeID(t) == id {
			return m, id
		}
	}
	t.Fatalf("no leader among %d nodes", len(ms))
	return nil, ""
}

func mustOK(t *testing.T, p *proc, method, path, body string) envelope {
	t.Helper()
	_, env := p.do(t, method, path, body)
	if env.Error != nil {
		t.Fatalf("%s %s on %s: %+v", method, path, p.api, env.Error)
	}
	return env
}

func TestClusterFormsThroughRedisAndAnswersFromAnyNode(t *testing.T) {
	r := startRedis(t)
	ms := formRedis(t, r, 3)
	var leaders []string
	for _, m := range ms {
		st, _ := m.status(t)
		leaders = append(leaders, st.Leader)
		voters := 0
		for _, n := range st.Nodes {
			if n.Role == "voter" {
				voters++
			}
		}
		if voters != 3 {
			t.Fatalf("%s reports %d voters: %+v", m.api, voters, st.Nodes)
		}
	}
	if leaders[0] != leaders[1] || leaders[1] != leaders[2] {
		t.Fatalf("every node must answer with the leader's view: %v", leaders)
	}

	// Writes through any node (forwarded to the leader), reads from any node.
	mustOK(t, ms[1].proc, "POST", "/c/_create", "")
	mustOK(t, ms[2].proc, "PUT", "/c/docs", "{}")
	for i, m := range ms {
		mustOK(t, m.proc, "POST", fmt.Sprintf("/c/docs/d%d/_create", i), `{"from":`+strconv.Itoa(i)+`}`)
	}
	for _, m := range ms {
		for i := range ms {
			mustOK(t, m.proc, "GET", fmt.Sprintf("/c/docs/d%d", i), "")
		}
	}
}

func TestClusterFormsThroughJoinWithoutRedis(t *testing.T) {
	a := clusterNode(t, 4, "", true)
	b := clusterNode(t, 5, "", true, "--join", a.cluster)
	c := clusterNode(t, 6, "", true, "--join", b.cluster+","+a.cluster)
	waitMembers(t, []*member{a, b, c}, 3)
}

func TestCrossNodeNotifications(t *testing.T) {
	r := startRedis(t)
	ms := formRedis(t, r, 3)
	mustOK(t, ms[0].proc, "POST", "/rt/_create", "")
	mustOK(t, ms[0].proc, "PUT", "/rt/c", "{}")
	subA := &wsClient{t, dial(t, ms[0].proc)}
	subC := &wsClient{t, dial(t, ms[2].proc)}
	filter := map[string]any{"equals": map[string]any{"team": "blue"}}
	subA.call(map[string]any{"controller": "realtime", "action": "subscribe", "index": "rt", "collection": "c", "body": filter})
	res := subC.call(map[string]any{"controller": "realtime", "action": "subscribe", "index": "rt", "collection": "c", "body": filter, "users": "all"})
	room := res["result"].(map[string]any)["roomId"].(string)

	// A write on node 2 notifies subscribers on nodes 1 and 3; a write on
	// node 1 notifies node 3's subscriber.
	mustOK(t, ms[1].proc, "POST", "/rt/c/x/_create", `{"team":"blue"}`)
	for _, s := range []*wsClient{subA, subC} {
		n := s.next(func(m map[string]any) bool { return m["type"] == "document" })
		if n["action"] != "create" || n["result"].(map[string]any)["_id"] != "x" {
			t.Fatalf("cross-node notification: %v", n)
		}
	}
	mustOK(t, ms[0].proc, "PUT", "/rt/c/x", `{"team":"red"}`)
	if n := subC.next(func(m map[string]any) bool { return m["type"] == "document" }); n["scope"] != "out" {
		t.Fatalf("out notification across nodes: %v", n)
	}
	// Counts and user notifications span the cluster.
	_, env := ms[1].do(t, "POST", "/_query", `{"controller":"realtime","action":"count","body":{"roomId":"`+room+`"}}`)
	if env.Error != nil || !strings.Contains(string(env.Result), `"count":2`) {
		t.Fatalf("count from a node without subscribers: %+v %s", env.Error, env.Result)
	}
	subB := &wsClient{t, dial(t, ms[1].proc)}
	subB.call(map[string]any{"controller": "realtime", "action": "subscribe", "index": "rt", "collection": "c", "body": filter})
	if n := subC.next(func(m map[string]any) bool { return m["type"] == "user" }); n["user"] != "in" {
		t.Fatalf("user notification across nodes: %v", n)
	}
}

func TestLeaderKillLosesNoAcknowledgedWrite(t *testing.T) {
	r := startRedis(t)
	ms := formRedis(t, r, 3)
	mustOK(t, ms[0].proc, "POST", "/k/_create", "")
	mustOK(t, ms[0].proc, "PUT", "/k/c", "{}")
	leader, leaderID := leaderOf(t, ms)
	var follower *member
	for _, m := range ms {
		if m != leader {
			follower = m
		}
	}
	acked := 0
	for i := range 50 {
		if _, env := follower.do(t, "POST", fmt.Sprintf("/k/c/d%d/_create", i), `{"i":1}`); env.Error == nil {
			acked++
		}
	}
	leader.kill()
	eventually(t, 20*time.Second, "a new leader", func() bool {
		st, err := follower.status(t)
		return err == nil && st.Leader != "" && st.Leader != leaderID
	})
	_, env := follower.do(t, "POST", "/k/c/after/_create", `{}`)
	if env.Error != nil {
		t.Fatalf("the survivors must accept writes: %+v", env.Error)
	}
	_, env = follower.do(t, "POST", "/k/c/_count", `{}`)
	if !strings.Contains(string(env.Result), fmt.Sprintf(`"count":%d`, acked+1)) {
		t.Fatalf("acknowledged writes lost: %d acked + 1, count %s", acked, env.Result)
	}
}
