package api

import (
	"bytes"
	"context"
	"embed"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/korumdb/korum/kerror"
)

// The live cluster dashboard: a page at /_dashboard/ (plain HTML, CSS and
// JavaScript shipped in the binary, nothing fetched from elsewhere) that
// polls /_dashboard/data. The page is public; its data needs the rights
// of cluster:status, and the page asks for a login when it gets a 401 or
// 403.

//go:embed dashboard
var dashboardFiles embed.FS

// dashboardTimeout bounds one data call: the page polls every second or
// so, and a figure that is late is better shown as missing than waited for.
const dashboardTimeout = 1500 * time.Millisecond

// NodeStats is one node's own figures for the dashboard, as the node
// reports them about itself. Counters grow from the node's start; the page
// turns successive samples into rates. The JSON also travels between nodes
// (the node package's peer call).
type NodeStats struct {
	ID          string `json:"id"`
	APIAddr     string `json:"apiAddress,omitempty"`
	ClusterAddr string `json:"clusterAddress,omitempty"`
	// Reachable is false when the node did not answer in time; Error says
	// why and the figures below are zero.
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
	// Time is the node's clock when it sampled (ms since the epoch), so
	// rates use the node's own intervals; Started is its start.
	Time    int64 `json:"time,omitempty"`
	Started int64 `json:"started,omitempty"`

	Connections          int    `json:"connections"`   // open API connections, HTTP and WebSocket
	Rooms                int    `json:"rooms"`         // realtime rooms with subscribers here
	Subscriptions        int    `json:"subscriptions"` // subscriptions of this node's connections
	Requests             uint64 `json:"requests"`      // API requests dispatched to an action
	Notifications        uint64 `json:"notifications"` // realtime messages handed to connections
	NotificationsDropped uint64 `json:"notificationsDropped"`
	Goroutines           int    `json:"goroutines"`
}

// Dashboard is what the dashboard's data needs from the node besides
// cluster:status.
type Dashboard interface {
	// NodeStats returns the figures of every member of the cluster this
	// node knows of, its own included, asking the others over the cluster
	// port; a member that does not answer before ctx ends is reported
	// unreachable.
	NodeStats(ctx context.Context) []NodeStats
	// LeaderChanges returns the last changes of leader this node saw,
	// oldest first (not replicated: each node has its own).
	LeaderChanges() []LeaderChange
}

// LeaderChange is a change of leader a node saw; LeaderID "" is the loss
// of a leader.
type LeaderChange struct {
	Date     time.Time
	LeaderID string
	Term     uint64
}

// DisableDashboard stops serving /_dashboard: its paths are then unknown
// routes like any other. Call it before serving.
func (s *Server) DisableDashboard() { s.noDashboard = true }

// dashboardCSP keeps the page to its own files. Its data may come from
// any node of the cluster (the page fails over to another one when the
// node serving it stops answering), whose addresses are not known when
// the page is served: connect-src allows fetches by scheme.
const dashboardCSP = "default-src 'self'; connect-src 'self' http: https:; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// serveDashboard serves /_dashboard and everything under it.
func (s *Server) serveDashboard(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/_dashboard")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch rest {
	case "":
		// The page's links are relative (it may sit behind a proxy under
		// a prefix), so it must be served from the directory's URL; a
		// relative Location keeps the prefix, which http.Redirect's
		// absolute path would drop.
		w.Header().Set("Location", "_dashboard/")
		w.WriteHeader(http.StatusMovedPermanently)
		return
	case "/data":
		s.serveDashboardData(w, r)
		return
	}
	name := strings.TrimPrefix(rest, "/")
	if name == "" {
		name = "index.html"
	}
	if !fs.ValidPath(name) {
		http.NotFound(w, r)
		return
	}
	b, err := dashboardFiles.ReadFile("dashboard/" + name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	// A node upgraded in place must not keep serving a cached old page.
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", dashboardCSP)
	h.Set("Referrer-Policy", "no-referrer")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}

// serveDashboardData answers the page's poll in Kuzzle's response envelope,
// authorized as cluster:status: the same figures, with the same rights.
func (s *Server) serveDashboardData(w http.ResponseWriter, r *http.Request) {
	req := &Request{Controller: "cluster", Action: "status", Args: map[string]any{}, Protocol: "http"}
	s.applyHeaders(req, r)
	if req.RequestID == "" {
		req.RequestID = newUUID()
	}
	resp := newResponse(req, s.b.NodeID())
	if s.closing.Load() {
		resp.setError(kerror.New("api.process.shutting_down"))
	} else {
		s.router.run(r.Context(), s.dashboardData, req, resp)
	}
	s.writeResponse(w, r, resp)
}

// dashboardData gathers cluster:status (the leader's view) and every
// node's own figures at once, and the leader changes this node saw.
// Without a leader the status is an error the page shows, and the nodes'
// figures are still there.
func (s *Server) dashboardData(ctx context.Context, _ *Request) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, dashboardTimeout)
	defer cancel()
	var st *ClusterStatus
	var stErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		st, stErr = s.b.ClusterStatus(ctx)
	}()
	nodes := s.b.NodeStats(ctx)
	<-done
	changes := s.b.LeaderChanges()
	leaders := make([]any, 0, len(changes))
	for _, c := range changes {
		leaders = append(leaders, map[string]any{"date": isoMillis(c.Date), "leader": c.LeaderID, "term": c.Term})
	}
	out := map[string]any{"node": s.b.NodeID(), "time": time.Now().UnixMilli(), "nodes": nodes, "leaderChanges": leaders}
	if stErr != nil {
		ke := kerror.From(stErr)
		out["clusterError"] = map[string]any{"id": ke.ID, "status": ke.Status, "message": ke.Message}
	} else {
		out["cluster"] = clusterStatusView(st)
	}
	return out, nil
}
