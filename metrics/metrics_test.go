package metrics

import (
	"bufio"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	gometrics "github.com/hashicorp/go-metrics/compat"
)

// scrape reads m's handler output: series (name with labels) → value.
func scrape(t *testing.T, m *Metrics) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func TestRequestsByActionAndErrorsByID(t *testing.T) {
	m := New(Sources{})
	get := m.ForAction("document", "get")
	other := m.ForAction("", "")
	get(2*time.Millisecond, "")
	get(3*time.Millisecond, "services.storage.not_found")
	other(time.Millisecond, "api.process.controller_not_found")
	// An id outside kerror's catalogue never becomes a label value.
	other(time.Millisecond, "made.up.by.a.client")
	s := scrape(t, m)
	for series, want := range map[string]float64{
		`korum_requests_total{action="get",controller="document"}`:                              2,
		`korum_request_duration_seconds_count{action="get",controller="document"}`:              2,
		`korum_request_duration_seconds_bucket{action="get",controller="document",le="0.0025"}`: 1,
		`korum_requests_total{action="_unserved",controller="_unserved"}`:                       2,
		`korum_request_errors_total{id="services.storage.not_found"}`:                           1,
		`korum_request_errors_total{id="api.process.controller_not_found"}`:                     1,
		`korum_request_errors_total{id="_unknown"}`:                                             1,
	} {
		if s[series] != want {
			t.Errorf("%s = %v, want %v", series, s[series], want)
		}
	}
	for series := range s {
		if strings.Contains(series, "made.up") {
			t.Errorf("a client-made id became a series: %s", series)
		}
	}
}

// The dashboard's request count is the served actions' requests, read
// from the registry.
func TestRequestsServed(t *testing.T) {
	m := New(Sources{})
	if got := m.RequestsServed(); got != 0 {
		t.Fatalf("%d before any request", got)
	}
	get, create, other := m.ForAction("document", "get"), m.ForAction("document", "create"), m.ForAction("", "")
	for range 3 {
		get(time.Millisecond, "")
	}
	create(time.Millisecond, "services.storage.document_already_exists")
	other(time.Millisecond, "api.process.controller_not_found")
	if got := m.RequestsServed(); got != 4 {
		t.Fatalf("%d requests served, want 4 (3 gets, 1 create; not the unserved one)", got)
	}
}

func TestHooksAndSources(t *testing.T) {
	m := New(Sources{
		Requests:    func() (int, int) { return 3, 1 },
		Connections: func() (int, int) { return 4, 5 },
		Realtime: func() Realtime {
			return Realtime{Rooms: 2, Subscriptions: 7, Sent: 10, Dropped: 1, SlowConsumers: 1, IdleClosed: 2,
				PublishSent: 5, PublishDropped: 3, PublishFailed: 4}
		},
		Raft: func() Raft {
			return Raft{Term: 3, LastLogIndex: 12, CommitIndex: 11, AppliedIndex: 9, Leader: true, LeaderChanges: 2, LastSnapshotBytes: 4096}
		},
		Storage: func() Storage { return Storage{Documents: 100, RaftLog: 200, Snapshots: 300} },
	})
	m.ObserveBatch(3)
	m.ObserveProposal(time.Millisecond)
	m.ObserveFanOut(time.Millisecond)
	s := scrape(t, m)
	for series, want := range map[string]float64{
		"korum_requests_running": 3, "korum_requests_waiting": 1,
		`korum_connections{protocol="http"}`: 4, `korum_connections{protocol="websocket"}`: 5,
		"korum_realtime_rooms": 2, "korum_realtime_subscriptions": 7,
		"korum_notifications_sent_total": 10, "korum_notifications_dropped_total": 1,
		"korum_slow_consumer_disconnects_total": 1, "korum_idle_disconnects_total": 2,
		`korum_publications_to_peers_total{outcome="sent"}`: 5, `korum_publications_to_peers_total{outcome="dropped"}`: 3,
		`korum_publications_to_peers_total{outcome="failed"}`: 4,
		"korum_raft_term": 3, "korum_raft_last_log_index": 12, "korum_raft_commit_index": 11,
		"korum_raft_applied_index": 9, "korum_raft_apply_lag": 2, "korum_raft_leader": 1,
		"korum_raft_leader_changes_total": 2, "korum_snapshot_last_bytes": 4096,
		`korum_storage_bytes{store="documents"}`: 100, `korum_storage_bytes{store="raft_log"}`: 200,
		`korum_storage_bytes{store="snapshots"}`: 300,
		"korum_batch_commands_sum":               3, "korum_proposal_duration_seconds_count": 1,
		"korum_realtime_fanout_duration_seconds_count": 1,
	} {
		if got, ok := s[series]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
}

// Raft's go-metrics calls reach the bridge, under korum_ names; keys that
// embed a peer id in their name are dropped.
func TestRaftBridge(t *testing.T) {
	m := New(Sources{})
	before := scrape(t, m)
	gometrics.IncrCounter([]string{"raft", "apply"}, 1)
	gometrics.IncrCounter([]string{"raft", "state", "leader"}, 1)
	gometrics.AddSample([]string{"raft", "commitTime"}, 2) // milliseconds
	gometrics.MeasureSince([]string{"raft", "snapshot", "persist"}, time.Now().Add(-5*time.Millisecond))
	gometrics.AddSample([]string{"raft", "thread", "fsm", "saturation"}, 0.5)
	gometrics.SetGauge([]string{"raft", "peers"}, 3)
	gometrics.AddSampleWithLabels([]string{"raft", "replication", "appendEntries", "rpc"}, 1,
		[]gometrics.Label{{Name: "peer_id", Value: "knode-1"}})
	gometrics.AddSample([]string{"raft", "replication", "appendEntries", "rpc", "knode-1"}, 1)
	after := scrape(t, m)
	delta := func(s string) float64 { return after[s] - before[s] }
	for series, want := range map[string]float64{
		"korum_raft_apply_total":                                      1,
		`korum_raft_state_changes_total{state="leader"}`:              1,
		"korum_raft_commit_duration_seconds_count":                    1,
		`korum_raft_commit_duration_seconds_bucket{le="0.0025"}`:      1,
		`korum_raft_snapshot_duration_seconds_count{phase="persist"}`: 1,
		// one sample: the labelled call; the legacy per-peer key is dropped
		"korum_raft_replication_append_duration_seconds_count": 1,
	} {
		if got := delta(series); got != want {
			t.Errorf("%s moved by %v, want %v", series, got, want)
		}
	}
	if after["korum_raft_commit_duration_seconds_sum"]-before["korum_raft_commit_duration_seconds_sum"] != 0.002 {
		t.Errorf("commit time: milliseconds must become seconds: %v", after["korum_raft_commit_duration_seconds_sum"])
	}
	if after[`korum_raft_thread_saturation{thread="fsm"}`] != 0.5 || after["korum_raft_peers"] != 3 {
		t.Errorf("gauges: saturation %v, peers %v", after[`korum_raft_thread_saturation{thread="fsm"}`], after["korum_raft_peers"])
	}
	for series := range after {
		if strings.Contains(series, "knode-1") {
			t.Errorf("a peer id became part of a series: %s", series)
		}
	}
	// A second node's registry gathers the same process-wide bridge.
	if other := scrape(t, New(Sources{})); other["korum_raft_apply_total"] != after["korum_raft_apply_total"] {
		t.Errorf("a second registry sees raft_apply %v, the first %v", other["korum_raft_apply_total"], after["korum_raft_apply_total"])
	}
}
