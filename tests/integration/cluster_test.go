package integration

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// formRedis starts n nodes sharing one Redis URL and waits until every one
// sees all of them.
func formRedis(t *testing.T, r *redisServer, n int, extra ...string) []*member {
	t.Helper()
	ms := startTogether(t, r, n, extra...)
	waitMembers(t, ms, n)
	return ms
}

// waitMembers waits until every member reports n nodes, min(n, 3) of them
// voters (non-voters are promoted once caught up).
func waitMembers(t *testing.T, ms []*member, n int) {
	t.Helper()
	for _, m := range ms {
		eventually(t, 30*time.Second, fmt.Sprintf("%s to see %d nodes", m.api, n), func() bool {
			st, err := m.status(t)
			return err == nil && st.ActiveNodes == n && st.Leader != "" && voters(st) == min(n, 3)
		})
	}
}

func voters(st clusterStatus) int {
	v := 0
	for _, n := range st.Nodes {
		if n.Role == "voter" {
			v++
		}
	}
	return v
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

func TestIsolatedNodeTerminatesAndRejoins(t *testing.T) {
	fw := newFirewall(t)
	r := startRedis(t)
	ms := formRedis(t, r, 3)
	mustOK(t, ms[0].proc, "POST", "/iso/_create", "")
	mustOK(t, ms[0].proc, "PUT", "/iso/c", "{}")
	_, leaderID := leaderOf(t, ms)
	var victim *member
	var others []*member
	for _, m := range ms {
		if victim == nil && m.nodeID(t) != leaderID {
			victim = m
		} else {
			others = append(others, m)
		}
	}
	victimID := victim.nodeID(t)
	fw.isolate(victim.ip, others[0].ip, others[1].ip)
	// quorum-contact-timeout is 3s: the node must exit on its own, with
	// the quorum-lost code, while the majority keeps accepting writes.
	writes := 0
	deadline := time.Now().Add(15 * time.Second)
	for victim.alive() && time.Now().Before(deadline) {
		mustOK(t, others[writes%2].proc, "POST", fmt.Sprintf("/iso/c/w%d/_create", writes), `{}`)
		writes++
	}
	if code := victim.exitCode(t, 10*time.Second); code != 10 {
		t.Fatalf("isolated node exit code %d, want 10 (quorum lost)", code)
	}
	fw.heal()
	// Its supervisor restarts it on its data dir: it rejoins as itself and
	// catches up with the writes it missed.
	back := &member{ip: victim.ip, cluster: victim.cluster, args: victim.args}
	back.proc = launch(t, victim.dataDir, victim.api, victim.args...)
	back.waitReady(t)
	if id := back.nodeID(t); id != victimID {
		t.Fatalf("restarted node came back as %s, want %s", id, victimID)
	}
	eventually(t, 20*time.Second, "the restarted node to catch up", func() bool {
		_, env := back.do(t, "POST", "/iso/c/_count", `{}`)
		return env.Error == nil && strings.Contains(string(env.Result), fmt.Sprintf(`"count":%d`, writes))
	})
	waitMembers(t, []*member{others[0], others[1], back}, 3)
}

// A node that keeps up with the network but not with applying the log
// (a slow disk, a starved CPU: here a failpoint delays each applied entry)
// trails the leader's commit index by more than cluster.maxLag for longer
// than the quorum contact timeout: it exits with the lagging code while the
// others keep serving, and catches up once restarted healthy.
func TestLaggingNodeTerminatesAndRejoins(t *testing.T) {
	slowBin := failpointBin(t)
	r := startRedis(t)
	lag := []string{"--redis", r.url(), "--max-lag", "100"}
	ms := formRedis(t, r, 2, lag[2:]...)
	mustOK(t, ms[0].proc, "POST", "/lag/_create", "")
	mustOK(t, ms[0].proc, "PUT", "/lag/c", "{}")
	slow := clusterNodeWith(t, slowBin, []string{"KORUM_FAILPOINT_APPLY_DELAY=50ms"}, 3, "", true, lag...)
	waitMembers(t, append(ms, slow), 3)
	if !strings.Contains(slow.Logs(), "failpoint: delaying every applied log entry") {
		t.Fatal("the slow node did not enable the failpoint")
	}
	// It applies at most 20 entries/s; four writers commit far more.
	var writes atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				url := fmt.Sprintf("http://%s/lag/c/w%d-%d/_create", ms[w%2].api, w, i)
				resp, err := httpClient().Post(url, "application/json", strings.NewReader(`{}`))
				if err != nil {
					t.Errorf("write on a healthy node: %v", err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("write on a healthy node: status %d", resp.StatusCode)
					return
				}
				writes.Add(1)
			}
		}()
	}
	code := slow.exitCode(t, 30*time.Second)
	close(stop)
	wg.Wait()
	if code != 11 {
		t.Fatalf("lagging node exit code %d, want 11\n%s", code, tail(slow.Logs(), 20))
	}
	if !strings.Contains(slow.Logs(), "cluster.maxLag") {
		t.Errorf("the lagging node did not say why it exited:\n%s", tail(slow.Logs(), 20))
	}
	n := writes.Load()
	// Restarted healthy on its data dir, it rejoins as itself and catches up.
	back := clusterNode(t, 3, slow.dataDir, true, lag...)
	eventually(t, 30*time.Second, "the restarted node to catch up", func() bool {
		_, env := back.do(t, "POST", "/lag/c/_count", `{}`)
		return env.Error == nil && strings.Contains(string(env.Result), fmt.Sprintf(`"count":%d`, n))
	})
	waitMembers(t, append(ms, back), 3)
}

func TestGracefulLeave(t *testing.T) {
	r := startRedis(t)
	ms := formRedis(t, r, 3)
	leader, leaderID := leaderOf(t, ms)
	if code := leader.stop(); code != 0 {
		t.Fatalf("graceful leave exit code %d", code)
	}
	var rest []*member
	for _, m := range ms {
		if m != leader {
			rest = append(rest, m)
		}
	}
	eventually(t, 20*time.Second, "two nodes and a new leader", func() bool {
		st, err := rest[0].status(t)
		return err == nil && st.ActiveNodes == 2 && st.Leader != "" && st.Leader != leaderID
	})
	st, _ := rest[1].status(t)
	found := false
	for _, a := range st.Activity {
		found = found || (a.ID == leaderID && a.Event == "evicted" && strings.Contains(a.Reason, "left"))
	}
	if !found {
		t.Fatalf("the departure must be in the activity log: %+v", st.Activity)
	}
	mustOK(t, rest[0].proc, "POST", "/after-leave/_create", "")
}

func TestTwoNodeClusterSurvivesGracefulLeave(t *testing.T) {
	a := clusterNode(t, 7, "", true)
	b := clusterNode(t, 8, "", true, "--join", a.cluster)
	waitMembers(t, []*member{a, b}, 2)
	mustOK(t, a.proc, "POST", "/two/_create", "")
	if code := a.stop(); code != 0 {
		t.Fatalf("graceful leave exit code %d", code)
	}
	eventually(t, 20*time.Second, "the survivor to lead alone", func() bool {
		st, err := b.status(t)
		return err == nil && st.ActiveNodes == 1 && st.Leader != ""
	})
	mustOK(t, b.proc, "GET", "/two/_exists", "")
	mustOK(t, b.proc, "POST", "/two2/_create", "")
}

func TestSameIPIsRefusedButAFastRestartIsNot(t *testing.T) {
	r := startRedis(t)
	a := clusterNode(t, 9, "", true, "--redis", r.url())
	// Another node on the same IP (another port) is refused at start.
	twin := launch(t, t.TempDir(), a.ip+":18099", "--cluster-addr", a.ip+":17099", "--cluster-secret", testSecret,
		"--redis", r.url())
	if code := twin.exitCode(t, 20*time.Second); code != 3 || !strings.Contains(twin.Logs(), "same IP") && !strings.Contains(twin.Logs(), "shares this node's IP") {
		t.Fatalf("a second node on %s must refuse to start (code 3, a clear message), got %d:\n%s", a.ip, code, tail(twin.Logs(), 10))
	}
	// The same node killed and restarted at once keeps its id: its own
	// card is not another node.
	a.kill()
	again := launch(t, a.dataDir, a.api, a.args...)
	again.waitReady(t)
}

func TestRedisDownDoesNotStopARunningCluster(t *testing.T) {
	r := startRedis(t)
	ms := formRedis(t, r, 3)
	r.stop()
	leader, _ := leaderOf(t, ms)
	leader.kill()
	var rest []*member
	for _, m := range ms {
		if m != leader {
			rest = append(rest, m)
		}
	}
	eventually(t, 20*time.Second, "a new leader without Redis", func() bool {
		_, env := rest[0].do(t, "POST", "/noredis/_create", "")
		return env.Error == nil || env.Error.ID == "services.storage.index_already_exists"
	})
	// A new node joins with --join while Redis is down.
	d := clusterNode(t, 4, "", true, "--join", rest[0].cluster)
	mustOK(t, d.proc, "GET", "/noredis/_exists", "")
}

func TestFollowerRestartCatchesUp(t *testing.T) {
	r := startRedis(t)
	ms := formRedis(t, r, 3)
	_, leaderID := leaderOf(t, ms)
	var f *member
	for _, m := range ms {
		if m.nodeID(t) != leaderID {
			f = m
			break
		}
	}
	mustOK(t, ms[0].proc, "POST", "/fr/_create", "")
	mustOK(t, ms[0].proc, "PUT", "/fr/c", "{}")
	f.kill()
	var live *member
	for _, m := range ms {
		if m != f {
			live = m
		}
	}
	for i := range 20 {
		mustOK(t, live.proc, "POST", fmt.Sprintf("/fr/c/d%d/_create", i), `{}`)
	}
	back := launch(t, f.dataDir, f.api, f.args...)
	back.waitReady(t)
	_, env := back.do(t, "POST", "/fr/c/_count", `{}`)
	if env.Error != nil || !strings.Contains(string(env.Result), `"count":20`) {
		t.Fatalf("restarted follower must serve every acknowledged write (linearizable reads): %+v %s", env.Error, env.Result)
	}
}
