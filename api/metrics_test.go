package api

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// recorder is a RequestObserver that keeps what it was told.
type recorder struct {
	mu    sync.Mutex
	asked map[string]bool // controller:action the router asked for
	seen  []string        // controller:action:errID per request
}

func (r *recorder) ForAction(c, a string) func(time.Duration, string) {
	r.mu.Lock()
	r.asked[c+":"+a] = true
	r.mu.Unlock()
	return func(took time.Duration, errID string) {
		r.mu.Lock()
		r.seen = append(r.seen, c+":"+a+":"+errID)
		r.mu.Unlock()
	}
}

// Every request is reported once, under a served controller:action or
// under ("", "") when it names none: the observer never sees a name a
// client made up.
func TestRequestObserver(t *testing.T) {
	s := NewServer(&secBackend{memSecurity: newMemSecurity()}, Limits{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	rec := &recorder{asked: map[string]bool{}}
	s.ObserveRequests(rec)
	if !rec.asked["server:now"] || !rec.asked["document:get"] || !rec.asked[":"] {
		t.Fatalf("the router did not ask for every served action: %d asked", len(rec.asked))
	}
	rt := s.Router()
	mustOK(t, call(t, rt, "", map[string]any{"controller": "server", "action": "now"}))
	call(t, rt, "", map[string]any{"controller": "madeUp", "action": "now"})
	call(t, rt, "", map[string]any{"controller": "server", "action": "madeUp"})
	call(t, rt, "garbage", map[string]any{"controller": "server", "action": "now"})
	want := []string{"server:now:", "::api.process.controller_not_found", "::api.process.action_not_found",
		"server:now:security.token.invalid"}
	if len(rec.seen) != len(want) {
		t.Fatalf("observed %v, want %v", rec.seen, want)
	}
	for i := range want {
		if rec.seen[i] != want[i] {
			t.Errorf("request %d observed as %q, want %q", i, rec.seen[i], want[i])
		}
	}
}

// Without an observer the router counts the requests served for the
// dashboard; with one (metrics on) it leaves the count to the observer.
func TestServedCountsOnlyWithoutObserver(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	plain := NewServer(&secBackend{memSecurity: newMemSecurity()}, Limits{}, log)
	observed := NewServer(&secBackend{memSecurity: newMemSecurity()}, Limits{}, log)
	observed.ObserveRequests(&recorder{asked: map[string]bool{}})
	for _, s := range []*Server{plain, observed} {
		mustOK(t, call(t, s.Router(), "", map[string]any{"controller": "server", "action": "now"}))
		call(t, s.Router(), "", map[string]any{"controller": "server", "action": "madeUp"})
	}
	if got := plain.Router().Served(); got != 1 {
		t.Errorf("without an observer: %d served, want 1", got)
	}
	if got := observed.Router().Served(); got != 0 {
		t.Errorf("with an observer: %d served, want 0 (the observer counts)", got)
	}
}

// GET /metrics is guarded as server:metrics: open while security is not
// configured, then only for users whose rights allow server:metrics.
func TestMetricsGuard(t *testing.T) {
	m := newMemSecurity()
	s := NewServer(&secBackend{memSecurity: m}, Limits{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.ServeMetrics(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "korum_up 1\n") }))
	srv := httptest.NewServer(s)
	defer srv.Close()
	get := func(token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/metrics", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			var env struct{ Error struct{ ID string } }
			_ = json.Unmarshal(body, &env)
			return resp.StatusCode, env.Error.ID
		}
		return 200, string(body)
	}
	if code, body := get(""); code != 200 || body != "korum_up 1\n" {
		t.Fatalf("before security is configured: %d %q", code, body)
	}
	rt := s.Router()
	admin := lockDown(t, rt)
	reader := roleUser(t, rt, m, admin, "scraper", map[string]any{"server": map[string]any{"actions": map[string]any{"metrics": true}}})
	other := roleUser(t, rt, m, admin, "reader", map[string]any{"document": map[string]any{"actions": map[string]any{"get": true}}})
	for _, c := range []struct {
		who, token string
		code       int
		id         string
	}{
		{"anonymous", "", 401, "security.rights.unauthorized"},
		{"a user without server:metrics", other, 403, "security.rights.forbidden"},
		{"a forged token", admin[:len(admin)-2] + "xx", 401, "security.token.invalid"},
		{"a user allowed server:metrics", reader, 200, "korum_up 1\n"},
		{"the admin", admin, 200, "korum_up 1\n"},
	} {
		if code, got := get(c.token); code != c.code || got != c.id {
			t.Errorf("%s: %d %q, want %d %q", c.who, code, got, c.code, c.id)
		}
	}
	// The guard's own route: other methods are not served.
	resp, err := http.Post(srv.URL+"/metrics", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: %d", resp.StatusCode)
	}
}

// server:metrics answers in Kuzzle's shape, with the node's figures.
func TestServerMetricsShape(t *testing.T) {
	s := NewServer(&secBackend{memSecurity: newMemSecurity()}, Limits{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.SetFigures(figures{OpenConnections: 3, Rooms: 2, Subscriptions: 5, CommitIndex: 10, AppliedIndex: 7})
	res := mustOK(t, call(t, s.Router(), "", map[string]any{"controller": "server", "action": "metrics"}))
	b, _ := json.Marshal(res)
	var got struct {
		API struct {
			ConcurrentRequests *int `json:"concurrentRequests"`
			PendingRequests    *int `json:"pendingRequests"`
		} `json:"api"`
		Network struct {
			Connections map[string]int `json:"connections"`
		} `json:"network"`
		Realtime struct{ Rooms, Subscriptions int } `json:"realtime"`
		Cluster  struct{ Lag int }                  `json:"cluster"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	// The request asking is itself running, as in Kuzzle.
	if got.API.ConcurrentRequests == nil || *got.API.ConcurrentRequests != 1 || got.API.PendingRequests == nil {
		t.Errorf("api: %s", b)
	}
	if got.Network.Connections["http/1.1"] != 3 || got.Network.Connections["websocket"] != 0 {
		t.Errorf("network: %s", b)
	}
	if got.Realtime.Rooms != 2 || got.Realtime.Subscriptions != 5 || got.Cluster.Lag != 3 {
		t.Errorf("realtime and cluster: %s", b)
	}
}

type figures NodeFigures

func (f figures) NodeFigures() NodeFigures { return NodeFigures(f) }
