package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/korumdb/korum/kerror"
)

type route struct {
	method     string
	segments   []string // ":name" segments capture an argument
	literals   int
	controller string
	action     string
}

// httpRoutes are Kuzzle 2's routes for the actions Korum serves.
var httpRoutes = []struct{ method, path, controller, action string }{
	{"GET", "/", "server", "info"},
	{"GET", "/_serverInfo", "server", "info"},
	{"GET", "/_now", "server", "now"},
	{"GET", "/_healthCheck", "server", "healthCheck"},
	{"GET", "/_publicApi", "server", "publicApi"},

	{"GET", "/_me", "auth", "getCurrentUser"},
	{"GET", "/_me/_rights", "auth", "getMyRights"},
	{"POST", "/_checkToken", "auth", "checkToken"},
	{"POST", "/_logout", "auth", "logout"},

	{"GET", "/cluster/_status", "cluster", "status"},
	{"GET", "/_plugin/cluster/status", "cluster", "status"},
	{"GET", "/_/status", "cluster", "status"},
	{"GET", "/_plugin/cluster/health", "cluster", "health"},
	{"GET", "/_/health", "cluster", "health"},
	{"POST", "/_plugin/cluster/reset", "cluster", "reset"},
	{"POST", "/_/reset", "cluster", "reset"},

	{"POST", "/:index/_create", "index", "create"},
	{"DELETE", "/:index", "index", "delete"},
	{"GET", "/:index/_exists", "index", "exists"},
	{"GET", "/_list", "index", "list"},
	{"DELETE", "/_mDelete", "index", "mDelete"},

	{"PUT", "/:index/:collection", "collection", "create"},
	{"POST", "/:index/:collection", "collection", "update"},
	{"PUT", "/:index/:collection/_mapping", "collection", "update"},
	{"DELETE", "/:index/:collection", "collection", "delete"},
	{"GET", "/:index/_list", "collection", "list"},
	{"GET", "/:index/:collection/_exists", "collection", "exists"},
	{"DELETE", "/:index/:collection/_truncate", "collection", "truncate"},
	{"POST", "/:index/:collection/_refresh", "collection", "refresh"},
	{"GET", "/:index/:collection/_mapping", "collection", "getMapping"},

	{"POST", "/:index/:collection/_create", "document", "create"},
	{"POST", "/:index/:collection/:_id/_create", "document", "create"},
	{"PUT", "/:index/:collection/:_id", "document", "createOrReplace"},
	{"PUT", "/:index/:collection/:_id/_replace", "document", "replace"},
	{"PATCH", "/:index/:collection/:_id/_update", "document", "update"},
	{"PUT", "/:index/:collection/:_id/_update", "document", "update"},
	{"POST", "/:index/:collection/:_id/_upsert", "document", "upsert"},
	{"GET", "/:index/:collection/:_id", "document", "get"},
	{"GET", "/:index/:collection/:_id/_exists", "document", "exists"},
	{"DELETE", "/:index/:collection/:_id", "document", "delete"},
	{"DELETE", "/:index/:collection/:_id/_fields", "document", "deleteFields"},
	{"POST", "/:index/:collection/_search", "document", "search"},
	{"GET", "/:index/:collection/_search", "document", "search"},
	{"GET", "/_scroll/:scrollId", "document", "scroll"},
	{"POST", "/:index/:collection/_count", "document", "count"},
	{"GET", "/:index/:collection/_count", "document", "count"},
	{"POST", "/:index/:collection/_mGet", "document", "mGet"},
	{"GET", "/:index/:collection/_mGet", "document", "mGet"},
	{"POST", "/:index/:collection/_mExists", "document", "mExists"},
	{"POST", "/:index/:collection/_mCreate", "document", "mCreate"},
	{"PUT", "/:index/:collection/_mCreateOrReplace", "document", "mCreateOrReplace"},
	{"PUT", "/:index/:collection/_mReplace", "document", "mReplace"},
	{"PATCH", "/:index/:collection/_mUpdate", "document", "mUpdate"},
	{"PUT", "/:index/:collection/_mUpdate", "document", "mUpdate"},
	{"POST", "/:index/:collection/_mUpsert", "document", "mUpsert"},
	{"DELETE", "/:index/:collection/_mDelete", "document", "mDelete"},
	{"DELETE", "/:index/:collection/_query", "document", "deleteByQuery"},
	{"PUT", "/:index/:collection/_query", "document", "updateByQuery"},
	{"POST", "/:index/:collection/_validate", "document", "validate"},

	{"POST", "/:index/:collection/_publish", "realtime", "publish"},
	{"GET", "/_listSubscriptions", "realtime", "list"},
}

func compileRoutes() []route {
	out := make([]route, 0, len(httpRoutes))
	for _, r := range httpRoutes {
		segs := splitPath(r.path)
		lit := 0
		for _, s := range segs {
			if !strings.HasPrefix(s, ":") {
				lit++
			}
		}
		out = append(out, route{method: r.method, segments: segs, literals: lit, controller: r.controller, action: r.action})
	}
	return out
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// match finds the route with the most literal segments, so /_list wins
// over /:index and document ids can never shadow an action.
func match(routes []route, method string, segs []string) (*route, map[string]string) {
	var best *route
	var bestArgs map[string]string
	for i := range routes {
		r := &routes[i]
		if r.method != method || len(r.segments) != len(segs) || (best != nil && r.literals <= best.literals) {
			continue
		}
		args := map[string]string{}
		ok := true
		for j, s := range r.segments {
			if strings.HasPrefix(s, ":") {
				args[s[1:]] = segs[j]
			} else if s != segs[j] {
				ok = false
				break
			}
		}
		if ok {
			best, bestArgs = r, args
		}
	}
	return best, bestArgs
}

// Server serves the API over HTTP and WebSocket on one listener.
type Server struct {
	router   *Router
	b        Backend
	log      *slog.Logger
	limits   Limits
	routes   []route
	upgrader websocket.Upgrader

	connSeq  atomic.Uint64
	conns    sync.Map // id → *wsConn
	slowDrop atomic.Uint64
	closing  atomic.Bool
	flushers []*flusher

	// Connection timeouts (transport.go).
	transport Transport
	idleDrop  atomic.Uint64
	sweepMu   sync.Mutex
	sweeping  bool // an idle sweeper runs
}

// NewServer builds the API server.
func NewServer(b Backend, limits Limits, log *slog.Logger) *Server {
	if limits.MaxRequestSize <= 0 {
		limits.MaxRequestSize = 1 << 20
	}
	s := &Server{router: NewRouter(b, limits, log), b: b, log: log, limits: limits, routes: compileRoutes(),
		// Flushers stay busy for as long as a fan-out lasts: one
		// processor is left to requests, the log and the network poller,
		// which Go consults when a processor runs out of goroutines.
		flushers: newFlushers(runtime.GOMAXPROCS(0) - 1)}
	s.upgrader = websocket.Upgrader{
		// Gorilla reads a message's header through this buffer and its
		// payload straight into the caller's: a small one costs little
		// speed, and every idle connection holds one.
		ReadBufferSize: wsReadBuffer,
		// Connections write their own frames (ws.go), never through
		// gorilla's writers: a pool that is never drawn from keeps gorilla
		// from giving each connection a write buffer.
		WriteBufferPool: unusedPool{},
		// Kuzzle accepts browser clients from any origin; access control
		// belongs to authentication, not to the Origin header.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	return s
}

// unusedPool is gorilla's write buffer pool for connections that never use
// gorilla's message writers.
type unusedPool struct{}

func (unusedPool) Get() any { return nil }
func (unusedPool) Put(any)  {}

// Router exposes the dispatcher (used by tests and benchmarks).
func (s *Server) Router() *Router { return s.router }

// SlowConsumersDropped counts connections closed for a full queue.
func (s *Server) SlowConsumersDropped() uint64 { return s.slowDrop.Load() }

// IdleDropped counts WebSocket connections closed for their idle timeout.
func (s *Server) IdleDropped() uint64 { return s.idleDrop.Load() }

// SetClosing makes new requests fail with api.process.shutting_down.
func (s *Server) SetClosing() { s.closing.Store(true) }

// ServeHTTP routes WebSocket upgrades, health probes and Kuzzle's routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reserve := onReserve(r.Context())
	if websocket.IsWebSocketUpgrade(r) && !reserve {
		s.serveWS(w, r)
		return
	}
	h := w.Header()
	if reserve {
		// A connection over limits.maxConnections: one probe, then closed.
		h.Set("Connection", "close")
	}
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type,Access-Control-Allow-Headers,Authorization,X-Requested-With,Content-Length,Content-Encoding,X-Kuzzle-Volatile,X-Kuzzle-Request-Id")
	h.Set("Access-Control-Expose-Headers", "X-Kuzzle-Request-Id,X-Kuzzle-Node")
	s.setWriteDeadline(w)
	switch {
	case r.Method == http.MethodOptions:
		w.WriteHeader(http.StatusOK)
		return
	case r.URL.Path == "/_healthcheck":
		// Liveness: the process answers.
		w.WriteHeader(http.StatusOK)
		return
	case r.URL.Path == "/_ready":
		if s.closing.Load() || s.b.Ready() != nil || s.router.Overloaded() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	var resp *Response
	if reserve {
		resp = errorResponse(r.Header.Get("X-Kuzzle-Request-Id"), s.b.NodeID(), kerror.New("api.process.overloaded"))
	} else if req, err := s.httpRequest(w, r); err != nil {
		resp = errorResponse(r.Header.Get("X-Kuzzle-Request-Id"), s.b.NodeID(), err)
	} else {
		resp = s.dispatch(r.Context(), req)
	}
	body := resp.encode()
	if _, pretty := r.URL.Query()["pretty"]; pretty {
		var v any
		if json.Unmarshal(body, &v) == nil {
			body, _ = json.MarshalIndent(v, "", "  ")
		}
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Kuzzle-Request-Id", resp.RequestID)
	h.Set("X-Kuzzle-Node", s.b.NodeID())
	// From now: the request took what it took, the client's reading is
	// what the deadline bounds.
	s.setWriteDeadline(w)
	w.WriteHeader(resp.Status)
	_, _ = w.Write(body)
}

func (s *Server) dispatch(ctx context.Context, req *Request) *Response {
	if s.closing.Load() {
		if req.RequestID == "" {
			req.RequestID = newUUID()
		}
		resp := newResponse(req, s.b.NodeID())
		resp.setError(kerror.New("api.process.shutting_down"))
		return resp
	}
	return s.router.Dispatch(ctx, req)
}

func (s *Server) httpRequest(w http.ResponseWriter, r *http.Request) (*Request, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.limits.MaxRequestSize)))
	if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
		return nil, kerror.New("network.http.request_too_large")
	}
	if err != nil {
		// The body did not arrive in server.protocols.http.readTimeout
		// (or the client went away): nobody is left to answer.
		panic(http.ErrAbortHandler)
	}
	// The read deadline has done its job. Left in place, it would cancel
	// the request's context once it passed (net/http's background read
	// fails), and a request may legitimately outlast it.
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	if r.Method == http.MethodPost && r.URL.Path == "/_query" {
		req, err := DecodeRequest(data)
		if err != nil {
			return nil, err
		}
		s.applyHeaders(req, r)
		return req, nil
	}
	rt, args := match(s.routes, r.Method, splitPath(r.URL.EscapedPath()))
	if rt == nil {
		return nil, kerror.New("network.http.url_not_found", r.URL.Path)
	}
	req := &Request{Controller: rt.controller, Action: rt.action, Args: map[string]any{}, Protocol: "http"}
	for k, vs := range r.URL.Query() {
		if len(vs) > 0 {
			req.Args[k] = vs[len(vs)-1]
		}
	}
	for k, v := range args {
		if u, err := url.PathUnescape(v); err == nil {
			v = u
		}
		req.Args[k] = v
	}
	if len(strings.TrimSpace(string(data))) > 0 {
		if ct := r.Header.Get("Content-Type"); strings.HasPrefix(ct, "multipart/") {
			return nil, kerror.New("network.http.unsupported_content", ct)
		}
		var body any
		if err := json.Unmarshal(data, &body); err != nil {
			return nil, kerror.New("network.http.body_parse_failed", err.Error())
		}
		req.setBody(body)
	} else if sb, ok := req.Args["searchBody"].(string); ok && r.Method == http.MethodGet {
		// GET _search takes its body in the query string.
		var body any
		if err := json.Unmarshal([]byte(sb), &body); err != nil {
			return nil, kerror.New("network.http.body_parse_failed", err.Error())
		}
		req.setBody(body)
		delete(req.Args, "searchBody")
	}
	if rt.action == "mGet" && r.Method == http.MethodGet && req.Body == nil {
		if ids, ok := req.Args["ids"].(string); ok {
			list := []any{}
			for _, id := range strings.Split(ids, ",") {
				list = append(list, id)
			}
			req.Body = map[string]any{"ids": list}
		}
	}
	s.applyHeaders(req, r)
	req.Protocol = "http"
	return req, nil
}

func (s *Server) applyHeaders(req *Request, r *http.Request) {
	if id := r.Header.Get("X-Kuzzle-Request-Id"); id != "" && req.RequestID == "" {
		req.RequestID = id
	}
	if auth := r.Header.Get("Authorization"); strings.HasPrefix(auth, "Bearer ") && req.JWT == "" {
		req.JWT = strings.TrimPrefix(auth, "Bearer ")
	}
	if v := r.Header.Get("X-Kuzzle-Volatile"); v != "" && req.Volatile == nil {
		var vol map[string]any
		if json.Unmarshal([]byte(v), &vol) == nil {
			req.Volatile = vol
		}
	}
	if req.Protocol == "" {
		req.Protocol = "http"
	}
}
