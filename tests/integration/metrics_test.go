package integration

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scrapeMetrics reads GET /metrics: series (name with labels) → value.
func scrapeMetrics(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := httpClient().Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /metrics: Content-Type %q, want Prometheus' text format", ct)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("GET /metrics: line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// metricNames are the names of the series of a scrape.
func metricNames(s map[string]float64) map[string]bool {
	names := map[string]bool{}
	for series := range s {
		if i := strings.IndexByte(series, '{'); i >= 0 {
			series = series[:i]
		}
		names[series] = true
	}
	return names
}

// Counters move with the requests a client makes; gauges follow a
// subscription up and down; server:metrics reports the same figures in
// Kuzzle's shape; the Grafana dashboard uses only metrics the node exports.
func TestMetrics(t *testing.T) {
	p := start(t, "")
	const gets = `korum_requests_total{action="get",controller="document"}`
	const notFound = `korum_request_errors_total{id="services.storage.not_found"}`
	p.do(t, "POST", "/m/_create", "")
	p.do(t, "PUT", "/m/c", "")
	p.do(t, "POST", "/m/c/d1/_create?refresh=wait_for", `{"n":1}`)
	before := scrapeMetrics(t, p.api)
	for range 3 {
		if resp, env := p.do(t, "GET", "/m/c/d1", ""); resp.StatusCode != 200 {
			t.Fatalf("document:get: %d %+v", resp.StatusCode, env.Error)
		}
	}
	if resp, _ := p.do(t, "GET", "/m/c/nope", ""); resp.StatusCode != 404 {
		t.Fatalf("document:get of a missing document: %d", resp.StatusCode)
	}
	after := scrapeMetrics(t, p.api)
	if d := after[gets] - before[gets]; d != 4 {
		t.Errorf("%s moved by %v after 4 document:get, want 4", gets, d)
	}
	if d := after[notFound] - before[notFound]; d != 1 {
		t.Errorf("%s moved by %v after one missing document, want 1", notFound, d)
	}
	if after[`korum_request_duration_seconds_count{action="get",controller="document"}`] != after[gets] {
		t.Errorf("latency histogram and request count disagree: %v", after)
	}
	for _, name := range []string{"korum_raft_commit_index", "korum_raft_applied_index", "korum_raft_leader"} {
		if after[name] < 1 {
			t.Errorf("%s = %v on a lone leader that has committed writes", name, after[name])
		}
	}
	if after["korum_raft_leader_changes_total"] != 1 {
		t.Errorf("korum_raft_leader_changes_total = %v on a lone node, want 1 (itself)", after["korum_raft_leader_changes_total"])
	}
	if after["korum_batch_commands_count"] < 1 || after["korum_proposal_duration_seconds_count"] < 1 {
		t.Errorf("writes were proposed but batches %v, proposals %v", after["korum_batch_commands_count"], after["korum_proposal_duration_seconds_count"])
	}

	// A subscription: the gauges go up, a matching write is notified and
	// timed, and they come down once it is gone.
	ws := &wsClient{t, dial(t, p)}
	sub := ws.call(map[string]any{"controller": "realtime", "action": "subscribe", "index": "m", "collection": "c",
		"body": map[string]any{"equals": map[string]any{"n": 2}}})
	roomID := sub["result"].(map[string]any)["roomId"].(string)
	var s map[string]float64
	eventually(t, 10*time.Second, "the subscription in /metrics", func() bool {
		s = scrapeMetrics(t, p.api)
		return s["korum_realtime_subscriptions"] == 1 && s["korum_realtime_rooms"] == 1 && s[`korum_connections{protocol="websocket"}`] == 1
	})
	_, env := p.do(t, "GET", "/_metrics", "")
	var km struct {
		API      map[string]int                       `json:"api"`
		Network  struct{ Connections map[string]int } `json:"network"`
		Realtime struct{ Rooms, Subscriptions int }   `json:"realtime"`
	}
	if err := json.Unmarshal(env.Result, &km); err != nil {
		t.Fatal(err)
	}
	if _, ok := km.API["pendingRequests"]; !ok || km.API["concurrentRequests"] < 1 || km.Network.Connections["websocket"] != 1 ||
		km.Realtime.Rooms != 1 || km.Realtime.Subscriptions != 1 {
		t.Errorf("server:metrics: %s", env.Result)
	}
	p.do(t, "POST", "/m/c/d2/_create", `{"n":2}`)
	ws.next(func(m map[string]any) bool { return m["type"] == "document" })
	eventually(t, 10*time.Second, "the notification in /metrics", func() bool {
		a := scrapeMetrics(t, p.api)
		return a["korum_notifications_sent_total"] > s["korum_notifications_sent_total"] &&
			a["korum_realtime_fanout_duration_seconds_count"] > s["korum_realtime_fanout_duration_seconds_count"]
	})
	ws.call(map[string]any{"controller": "realtime", "action": "unsubscribe", "body": map[string]any{"roomId": roomID}})
	eventually(t, 10*time.Second, "the subscription gone from /metrics", func() bool {
		s = scrapeMetrics(t, p.api)
		return s["korum_realtime_subscriptions"] == 0 && s["korum_realtime_rooms"] == 0
	})

	// Every korum_ metric the dashboard queries is exported.
	data, err := os.ReadFile("../../deploy/grafana/korum.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("deploy/grafana/korum.json is not JSON: %v", err)
	}
	names := metricNames(s)
	used := regexp.MustCompile(`korum_[a-z0-9_]+`)
	checked := 0
	for _, panel := range dash.Panels {
		for _, target := range panel.Targets {
			for _, name := range used.FindAllString(target.Expr, -1) {
				checked++
				if !names[name] {
					t.Errorf("dashboard panel %q queries %s, which /metrics does not export", panel.Title, name)
				}
			}
		}
	}
	if checked < 20 {
		t.Errorf("the dashboard queries only %d korum_ metrics", checked)
	}
}

// With server.metrics off, /metrics is an unknown route; server:metrics
// still answers.
func TestMetricsOff(t *testing.T) {
	p := start(t, "", "--metrics", "false")
	if resp, env := p.do(t, "GET", "/metrics", ""); resp.StatusCode != 404 || env.Error == nil {
		t.Fatalf("GET /metrics with metrics off: %d %+v", resp.StatusCode, env.Error)
	}
	if resp, env := p.do(t, "GET", "/_metrics", ""); resp.StatusCode != 200 || !strings.Contains(string(env.Result), `"rooms"`) {
		t.Fatalf("server:metrics with metrics off: %d %s", resp.StatusCode, env.Result)
	}
}

// --metrics-addr serves /metrics there too, guarded the same way.
func TestMetricsAddr(t *testing.T) {
	addr := freeAddr(t)
	start(t, "", "--metrics-addr", addr)
	var s map[string]float64
	eventually(t, 10*time.Second, "/metrics on --metrics-addr", func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	s = scrapeMetrics(t, addr)
	if s["korum_raft_leader"] != 1 {
		t.Fatalf("korum_raft_leader on --metrics-addr: %v", s["korum_raft_leader"])
	}
}

// Once security is configured, /metrics needs a user whose rights allow
// server:metrics, on the API port and on --metrics-addr alike.
func TestMetricsNeedTheRight(t *testing.T) {
	addr := freeAddr(t)
	p := start(t, "", "--metrics-addr", addr)
	okAs(t, p, "", "POST", "/_createFirstAdmin/admin?reset=true", `{"credentials":{"local":{"username":"admin","password":"adminpw"}}}`)
	admin := login(t, p, "admin", "adminpw")
	for _, u := range []struct{ name, role string }{
		{"scraper", `{"controllers":{"server":{"actions":{"metrics":true}}}}`},
		{"clock", `{"controllers":{"server":{"actions":{"now":true}}}}`},
	} {
		okAs(t, p, admin, "POST", "/roles/"+u.name+"/_create", u.role)
		okAs(t, p, admin, "POST", "/profiles/"+u.name+"/_create", `{"policies":[{"roleId":"`+u.name+`"}]}`)
		okAs(t, p, admin, "POST", "/users/"+u.name+"/_create",
			`{"content":{"profileIds":["`+u.name+`"]},"credentials":{"local":{"username":"`+u.name+`","password":"pw"}}}`)
	}
	scraper, clock := login(t, p, "scraper", "pw"), login(t, p, "clock", "pw")
	for _, host := range []string{p.api, addr} {
		for _, c := range []struct {
			who, token string
			status     int
		}{{"anonymous", "", 401}, {"a user without server:metrics", clock, 403}, {"a user with it", scraper, 200}} {
			req, _ := http.NewRequest("GET", "http://"+host+"/metrics", nil)
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			resp, err := httpClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Errorf("GET %s/metrics as %s: %d, want %d", host, c.who, resp.StatusCode, c.status)
			}
		}
	}
}

// The README's metrics commands run as written against a node.
func TestREADMEMetricsCommands(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)### Metrics\n.*?```sh\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no sh block under ### Metrics")
	}
	p := start(t, "")
	p.do(t, "GET", "/_now", "")
	// What each line prints; the API key is a made-up one, refused.
	want := []string{"korum_requests_total", "security.token.invalid", `"subscriptions"`}
	lines := strings.Split(strings.TrimSpace(string(m[1])), "\n")
	if len(lines) != len(want) {
		t.Fatalf("the README's metrics block has %d commands, this test knows %d", len(lines), len(want))
	}
	for i, line := range lines {
		cmd, _, _ := strings.Cut(line, "#")
		cmd = strings.ReplaceAll(cmd, "localhost:7512", p.api)
		out, err := exec.Command("sh", "-c", "API_KEY=made-up; "+cmd).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
		if !strings.Contains(string(out), want[i]) {
			t.Errorf("%s printed %s, want %s in it", cmd, out, want[i])
		}
	}
}

// In a cluster: followers report the log they apply, and the survivors of
// a leader's death count the new leader.
func TestMetricsInACluster(t *testing.T) {
	a := clusterNode(t, 4, "", true)
	b := clusterNode(t, 5, "", true, "--join", a.cluster)
	c := clusterNode(t, 6, "", true, "--join", a.cluster+","+b.cluster)
	ms := []*member{a, b, c}
	waitMembers(t, ms, 3)
	a.do(t, "POST", "/mc/_create", "")
	leader, _ := leaderOf(t, ms)
	var followers []*member
	for _, m := range ms {
		if m != leader {
			followers = append(followers, m)
		}
	}
	commit := scrapeMetrics(t, leader.api)["korum_raft_commit_index"]
	before := map[*member]float64{}
	for _, f := range followers {
		eventually(t, 10*time.Second, f.api+" applying the leader's commit index", func() bool {
			s := scrapeMetrics(t, f.api)
			before[f] = s["korum_raft_leader_changes_total"]
			return s["korum_raft_applied_index"] >= commit && s["korum_raft_leader"] == 0 && before[f] >= 1
		})
	}
	if s := scrapeMetrics(t, leader.api); s["korum_raft_leader"] != 1 || s["korum_raft_replicated_entries_total"] < 1 {
		t.Fatalf("the leader: korum_raft_leader %v, replicated entries %v", s["korum_raft_leader"], s["korum_raft_replicated_entries_total"])
	}
	leader.kill()
	for _, f := range followers {
		eventually(t, 20*time.Second, f.api+" counting the new leader", func() bool {
			return scrapeMetrics(t, f.api)["korum_raft_leader_changes_total"] > before[f]
		})
	}
}

// A snapshot shows in its size and phases, and in the snapshots' bytes on
// disk.
func TestMetricsOfSnapshots(t *testing.T) {
	p := start(t, "", "--raft-snapshot-threshold", "16", "--raft-snapshot-interval", "200ms", "--raft-trailing-logs", "4")
	p.do(t, "POST", "/snap/_create", "")
	p.do(t, "PUT", "/snap/c", "")
	for i := range 40 {
		if resp, env := p.do(t, "POST", "/snap/c/d"+strconv.Itoa(i)+"/_create", `{"n":1}`); resp.StatusCode != 200 {
			t.Fatalf("create: %d %+v", resp.StatusCode, env.Error)
		}
	}
	eventually(t, 20*time.Second, "a snapshot in /metrics", func() bool {
		s := scrapeMetrics(t, p.api)
		return s["korum_snapshot_last_bytes"] > 0 && s[`korum_storage_bytes{store="snapshots"}`] >= s["korum_snapshot_last_bytes"] &&
			s[`korum_raft_snapshot_duration_seconds_count{phase="total"}`] >= 1 &&
			s[`korum_raft_snapshot_duration_seconds_count{phase="persist"}`] >= 1
	})
}
