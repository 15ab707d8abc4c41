package api

import (
	"context"
	"net/http"
	"time"
)

// Metrics hooks. The API reports what it does through the interfaces
// below, which its owner (the node) implements with the metrics package;
// it imports no metrics library itself. Every hook is set before serving
// and read without locks afterwards.

// RequestObserver is told about every request the router answers.
type RequestObserver interface {
	// ForAction returns the function told about each request of one
	// action ("", "": a request naming no served action). The router asks
	// once per served action, so that label values can only come from
	// its table, and a request costs no lookup in the observer.
	ForAction(controller, action string) func(took time.Duration, errID string)
}

// NodeFigures are the node's own figures server:metrics reports beside
// the API's.
type NodeFigures struct {
	// OpenConnections counts every client connection of the API
	// listener, WebSocket ones included.
	OpenConnections int
	// Realtime, on this node.
	Rooms, Subscriptions                    int
	NotificationsSent, NotificationsDropped uint64
	SlowConsumerDisconnects                 uint64
	// Cluster, as this node sees it.
	Leader                                  bool
	Term, CommitIndex, AppliedIndex         uint64
	LeaderChanges                           uint64
	DocumentsBytes, RaftLogBytes, SnapBytes int64
}

// FiguresSource provides NodeFigures.
type FiguresSource interface {
	NodeFigures() NodeFigures
}

// metricsHooks are the router's part of the hooks.
type metricsHooks struct {
	obs     map[string]map[string]func(time.Duration, string)
	other   func(time.Duration, string)
	figures FiguresSource
	wsConns func() int // set by NewServer
}

// ObserveRequests makes the router report every request to o. Call it
// before serving.
func (s *Server) ObserveRequests(o RequestObserver) {
	rt := s.router
	rt.hooks.obs = make(map[string]map[string]func(time.Duration, string), len(rt.handlers))
	for c, actions := range rt.handlers {
		m := make(map[string]func(time.Duration, string), len(actions))
		for a := range actions {
			m[a] = o.ForAction(c, a)
		}
		rt.hooks.obs[c] = m
	}
	rt.hooks.other = o.ForAction("", "")
}

// SetFigures gives server:metrics the node's figures. Call it before
// serving; without it, server:metrics reports the API's own figures only.
func (s *Server) SetFigures(f FiguresSource) { s.router.hooks.figures = f }

// ServeMetrics serves h, a Prometheus handler, at GET /metrics on the API
// port, guarded as server:metrics is. Call it before serving; without it,
// /metrics is an unknown route.
func (s *Server) ServeMetrics(h http.Handler) { s.metrics = s.GuardMetrics(h) }

// GuardMetrics lets through to h only the requests whose user may run
// server:metrics (everyone, until security is configured: Kuzzle's
// default-open roles). Others get Kuzzle's error: 401 for the anonymous
// user, 403 for a user without the right, as any action would.
func (s *Server) GuardMetrics(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		req := &Request{Controller: "server", Action: "metrics", Args: map[string]any{}}
		s.applyHeaders(req, r)
		if err := s.router.authorize(req); err != nil {
			resp := errorResponse(req.RequestID, s.b.NodeID(), err)
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(resp.Status)
			_, _ = w.Write(resp.encode())
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Load is the requests executing and those waiting for a slot.
func (s *Server) Load() (running, waiting int) { return s.router.load() }

func (rt *Router) load() (running, waiting int) { return len(rt.slots), int(rt.waiting.Load()) }

// WebSocketConns counts the open WebSocket connections. It walks them:
// meant for scrapes, not for a hot path.
func (s *Server) WebSocketConns() int {
	n := 0
	s.conns.Range(func(_, _ any) bool { n++; return true })
	return n
}

// observe reports a request the router answered.
func (rt *Router) observe(r *Request, resp *Response, took time.Duration) {
	f := rt.hooks.obs[r.Controller][r.Action]
	if f == nil {
		f = rt.hooks.other
	}
	id := ""
	if resp.Error != nil {
		id = resp.Error.ID
	}
	f(took, id)
}

// metrics is server:metrics: Kuzzle's figures (api, network, realtime) in
// Kuzzle's shape, then Korum's own (realtime's deliveries, cluster,
// storage), the same figures GET /metrics exports.
func (rt *Router) metrics(ctx context.Context, r *Request) (any, error) {
	running, waiting := rt.load()
	var f NodeFigures
	if rt.hooks.figures != nil {
		f = rt.hooks.figures.NodeFigures()
	}
	ws := 0
	if rt.hooks.wsConns != nil {
		ws = rt.hooks.wsConns()
	}
	lag := uint64(0)
	if f.CommitIndex > f.AppliedIndex {
		lag = f.CommitIndex - f.AppliedIndex
	}
	return map[string]any{
		"api": map[string]any{"concurrentRequests": running, "pendingRequests": waiting},
		"network": map[string]any{"connections": map[string]any{
			"websocket": ws, "http/1.1": max(f.OpenConnections-ws, 0)}},
		"realtime": map[string]any{"rooms": f.Rooms, "subscriptions": f.Subscriptions,
			"notificationsSent": f.NotificationsSent, "notificationsDropped": f.NotificationsDropped,
			"slowConsumerDisconnects": f.SlowConsumerDisconnects},
		"cluster": map[string]any{"leader": f.Leader, "term": f.Term, "commitIndex": f.CommitIndex,
			"appliedIndex": f.AppliedIndex, "lag": lag, "leaderChanges": f.LeaderChanges},
		"storage": map[string]any{"documentsBytes": f.DocumentsBytes, "raftLogBytes": f.RaftLogBytes,
			"snapshotsBytes": f.SnapBytes},
	}, nil
}
