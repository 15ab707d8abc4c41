package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/korumdb/korum/kerror"
)

// dashBackend is secBackend with a cluster to show.
type dashBackend struct {
	secBackend
	statusErr error
}

func (b *dashBackend) ClusterStatus(ctx context.Context) (*ClusterStatus, error) {
	if b.statusErr != nil {
		return nil, b.statusErr
	}
	return &ClusterStatus{ClusterID: "c1", LeaderID: "n1", Term: 3, CommitIndex: 9, Voters: 1, VotersWanted: 3,
		Nodes: []ClusterNode{{ID: "n1", ClusterAddr: "127.0.0.1:7511", Role: "voter", Leader: true, Applied: 9}}}, nil
}

func (b *dashBackend) LeaderChanges() []LeaderChange {
	return []LeaderChange{{Date: time.UnixMilli(1000), LeaderID: "n2", Term: 2}, {Date: time.UnixMilli(2000), Term: 2},
		{Date: time.UnixMilli(3000), LeaderID: "n1", Term: 3}}
}

func (b *dashBackend) NodeStats(ctx context.Context) []NodeStats {
	return []NodeStats{{ID: "n1", Reachable: true, Requests: 5}, {ID: "n2", Error: "connection refused"}}
}

func newDashServer(t *testing.T) (*httptest.Server, *dashBackend) {
	t.Helper()
	b := &dashBackend{secBackend: secBackend{memSecurity: newMemSecurity()}}
	ts := httptest.NewServer(NewServer(b, Limits{}, slog.New(slog.NewTextHandler(io.Discard, nil))))
	t.Cleanup(ts.Close)
	return ts, b
}

func dashGet(t *testing.T, url, jwt string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if jwt != "" {
		req.Header.Set("Authorization", "Bearer "+jwt)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func TestDashboardServesItsEmbeddedPage(t *testing.T) {
	ts, _ := newDashServer(t)
	resp, _ := dashGet(t, ts.URL+"/_dashboard", "")
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "_dashboard/" {
		t.Fatalf("/_dashboard: %d Location %q, want a redirect to the directory", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := dashGet(t, ts.URL+"/_dashboard/", "")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(string(body), `src="dashboard.js"`) {
		t.Fatalf("/_dashboard/: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") ||
		!strings.Contains(csp, "connect-src 'self' http: https:") {
		t.Fatalf("CSP %q: the page must load nothing from elsewhere, and may fetch data from other nodes", csp)
	}
	for file, ctype := range map[string]string{"dashboard.js": "text/javascript", "dashboard.css": "text/css"} {
		resp, body := dashGet(t, ts.URL+"/_dashboard/"+file, "")
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) || len(body) == 0 {
			t.Fatalf("%s: %d %q (%d bytes)", file, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
	}
	// Nothing else is served, from the embedded files or the disk.
	for _, p := range []string{"/_dashboard/nope.js", "/_dashboard/dashboard/index.html", "/_dashboard/%2e%2e/go.mod", "/_dashboard/a//b"} {
		if resp, _ := dashGet(t, ts.URL+p, ""); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s: %d, want 404", p, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/_dashboard/data", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST data: %d, want 405", resp.StatusCode)
	}
}

// Turned off, the dashboard's paths are unknown routes: neither the page
// nor its data is served.
func TestDashboardDisabled(t *testing.T) {
	b := &dashBackend{secBackend: secBackend{memSecurity: newMemSecurity()}}
	s := NewServer(b, Limits{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.DisableDashboard()
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	for _, p := range []string{"/_dashboard", "/_dashboard/", "/_dashboard/dashboard.js", "/_dashboard/data"} {
		resp, body := dashGet(t, ts.URL+p, "")
		if resp.StatusCode != http.StatusNotFound || strings.Contains(string(body), "cluster") {
			t.Errorf("%s: %d %.200s, want a 404", p, resp.StatusCode, body)
		}
	}
}

type dashData struct {
	Status int           `json:"status"`
	Error  *kerror.Error `json:"error"`
	Result struct {
		Node         string         `json:"node"`
		Cluster      map[string]any `json:"cluster"`
		ClusterError map[string]any `json:"clusterError"`
		Nodes        []NodeStats    `json:"nodes"`
		Leaders      []struct {
			Date   string `json:"date"`
			Leader string `json:"leader"`
			Term   uint64 `json:"term"`
		} `json:"leaderChanges"`
	} `json:"result"`
}

func getData(t *testing.T, ts *httptest.Server, jwt string) (int, dashData) {
	t.Helper()
	resp, body := dashGet(t, ts.URL+"/_dashboard/data", jwt)
	var d dashData
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatalf("data: %v\n%s", err, body)
	}
	return resp.StatusCode, d
}

// The data has cluster:status's rights: anonymous while no admin exists,
// then only users whose role allows cluster:status.
func TestDashboardDataNeedsClusterStatusRights(t *testing.T) {
	ts, b := newDashServer(t)
	code, d := getData(t, ts, "")
	if code != 200 || d.Result.Cluster["leader"] != "n1" || len(d.Result.Nodes) != 2 || d.Result.Node != "n1" {
		t.Fatalf("open cluster: %d %+v", code, d)
	}
	if n := d.Result.Nodes[1]; n.ID != "n2" || n.Reachable || n.Error == "" {
		t.Fatalf("unreachable node: %+v", n)
	}
	if l := d.Result.Leaders; len(l) != 3 || l[0].Leader != "n2" || l[1].Leader != "" || l[2].Leader != "n1" ||
		l[2].Term != 3 || l[2].Date != "1970-01-01T00:00:03.000Z" {
		t.Fatalf("leader changes: %+v", l)
	}

	rt := NewRouter(b, Limits{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	admin := lockDown(t, rt)
	if code, d := getData(t, ts, ""); code != 401 || d.Error == nil || d.Error.ID != "security.rights.unauthorized" {
		t.Fatalf("anonymous after lock-down: %d %+v", code, d.Error)
	}
	if code, d := getData(t, ts, "not-a-token"); code != 401 || d.Error == nil {
		t.Fatalf("bad token: %d %+v", code, d.Error)
	}
	other := userWithRole(t, rt, admin, "reader", map[string]any{"document": map[string]any{"actions": map[string]any{"*": true}}}, nil)
	if code, d := getData(t, ts, other); code != 403 || d.Error == nil || d.Error.ID != "security.rights.forbidden" {
		t.Fatalf("user without cluster:status: %d %+v", code, d.Error)
	}
	ops := userWithRole(t, rt, admin, "ops", map[string]any{"cluster": map[string]any{"actions": map[string]any{"status": true}}}, nil)
	for _, tok := range []string{ops, admin} {
		if code, d := getData(t, ts, tok); code != 200 || d.Result.Cluster["leader"] != "n1" {
			t.Fatalf("allowed user: %d %+v", code, d.Error)
		}
	}
}

// Without a leader the page still gets every node's own figures, and the
// reason there is no cluster view.
func TestDashboardDataWithoutLeader(t *testing.T) {
	ts, b := newDashServer(t)
	b.statusErr = kerror.New("api.process.not_enough_nodes")
	code, d := getData(t, ts, "")
	if code != 200 || d.Result.Cluster != nil || d.Result.ClusterError["id"] != "api.process.not_enough_nodes" || len(d.Result.Nodes) != 2 {
		t.Fatalf("%d %+v", code, d)
	}
}
