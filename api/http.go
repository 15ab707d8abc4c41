package api

import (
	"bytes"
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

// Server serves the API over HTTP and WebSocket on one listener.
type Server struct {
	router   *Router
	b        Backend
	log      *slog.Logger
	limits   Limits
	routes   routeTable
	upgrader websocket.Upgrader

	connSeq  atomic.Uint64
	conns    sync.Map // id → *wsConn
	slowDrop atomic.Uint64
	closing  atomic.Bool
	// tokSweep is set while the token sweeper runs (wsauth.go).
	tokSweep atomic.Bool
	flushers []*flusher

	// Connection timeouts (transport.go).
	transport Transport
	// httpOpts: compression, form bodies and CORS (httpbody.go).
	httpOpts HTTPOptions
	idleDrop atomic.Uint64
	sweepMu  sync.Mutex
	sweeping bool // an idle sweeper runs

	metrics http.Handler // GET /metrics, when served (metrics.go)
	// noDashboard turns /_dashboard off (server.dashboard false).
	noDashboard bool

	// WebSocket upgrades so far, and the goroutine that gives memory
	// back after a burst of them (release.go).
	upgrades    atomic.Uint64
	releaseOnce sync.Once

	// workers run WebSocket requests (workers.go).
	workers *workers
}

// NewServer builds the API server.
func NewServer(b Backend, limits Limits, log *slog.Logger) *Server {
	if limits.MaxRequestSize <= 0 {
		limits.MaxRequestSize = 1 << 20
	}
	s := &Server{router: NewRouter(b, limits, log), b: b, log: log, limits: limits, routes: newRouteTable(),
		httpOpts: DefaultHTTPOptions(), workers: newWorkers(),
		// Flushers stay busy for as long as a fan-out lasts: one
		// processor is left to requests, the log and the network poller,
		// which Go consults when a processor runs out of goroutines.
		flushers: newFlushers(runtime.GOMAXPROCS(0) - 1)}
	s.router.hooks.wsConns = s.WebSocketConns
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
	s.httpOpts.cors(h, r.Header.Get("Origin"))
	s.setWriteDeadline(w)
	switch {
	case r.Method == http.MethodOptions:
		w.WriteHeader(http.StatusOK)
		return
	case r.URL.Path == "/_healthcheck":
		s.serveHealthCheck(w, r)
		return
	case r.URL.Path == snapshotPath && !reserve:
		s.serveSnapshot(w, r)
		return
	case r.URL.Path == "/_ready":
		if s.closing.Load() || s.b.Ready() != nil || s.router.Overloaded() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	case !reserve && !s.noDashboard && (r.URL.Path == "/_dashboard" || strings.HasPrefix(r.URL.Path, "/_dashboard/")):
		s.serveDashboard(w, r)
		return
	case r.URL.Path == "/metrics" && s.metrics != nil:
		s.metrics.ServeHTTP(w, r)
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
	if st, ok := resp.Result.(*Stream); ok && resp.Error == nil {
		s.writeStream(w, r, resp, st)
		return
	}
	s.writeResponse(w, r, resp)
}

// writeResponse writes a response envelope as Kuzzle's HTTP protocol does.
func (s *Server) writeResponse(w http.ResponseWriter, r *http.Request, resp *Response) {
	h := w.Header()
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
	body = s.httpOpts.compressResponse(h, r.Header.Get("Accept-Encoding"), body)
	// From now: the request took what it took, the client's reading is
	// what the deadline bounds.
	s.setWriteDeadline(w)
	w.WriteHeader(resp.Status)
	_, _ = w.Write(body)
}

// serveHealthCheck answers GET /_healthcheck with server:healthCheck's
// response: 200 while every service is green. Probes (load balancers, a
// connection over the limits) go around the rights check, the rate limits
// and the request slots, which a busy or locked-down node would refuse
// them; the check itself is cheap and bounded.
func (s *Server) serveHealthCheck(w http.ResponseWriter, r *http.Request) {
	req := &Request{Controller: "server", Action: "healthCheck", Args: map[string]any{},
		RequestID: r.Header.Get("X-Kuzzle-Request-Id"), Protocol: "http"}
	if req.RequestID == "" {
		req.RequestID = newUUID()
	}
	if v := r.URL.Query().Get("services"); v != "" {
		req.Args["services"] = v
	}
	resp := newResponse(req, s.b.NodeID())
	result, err := s.router.call(r.Context(), s.router.handlers["server"]["healthCheck"], req)
	resp.setOutcome(result, err)
	s.writeResponse(w, r, resp)
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
	if data, err = s.httpOpts.decompress(r.Header.Get("Content-Encoding"), data, s.limits.MaxRequestSize); err != nil {
		return nil, err
	}
	if r.Method == http.MethodPost && r.URL.Path == "/_query" {
		req, err := DecodeRequest(data)
		if err != nil {
			return nil, err
		}
		s.applyHeaders(req, r)
		return req, nil
	}
	rt, args := s.routes.match(r.Method, r.URL.EscapedPath())
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
	if len(bytes.TrimSpace(data)) > 0 {
		body, err := s.httpOpts.parseBody(r.Header.Get("Content-Type"), data)
		if err != nil {
			return nil, err
		}
		req.setBody(body)
		if keepRawBody[rt.controller+":"+rt.action] && json.Valid(data) {
			req.RawBody = data
		}
	} else if r.Method == http.MethodGet {
		// A GET request carries its body in the query string.
		if err := bodyFromQuery(req, rt); err != nil {
			return nil, err
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

// writeStream writes a Stream result (document:export) as the response
// body. Every chunk gets the write deadline afresh: a client that stops
// reading is cut off, one that reads slowly is not. A failure once the
// body has started can only abort the response, which the client sees as
// a truncated transfer.
func (s *Server) writeStream(w http.ResponseWriter, r *http.Request, resp *Response, st *Stream) {
	h := w.Header()
	h.Set("Content-Type", st.ContentType)
	h.Set("Content-Disposition", `attachment; filename="`+st.Filename+`"`)
	h.Set("X-Kuzzle-Request-Id", resp.RequestID)
	h.Set("X-Kuzzle-Node", s.b.NodeID())
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if err := st.Write(r.Context(), deadlineWriter{w: w, rc: rc, s: s}); err != nil {
		if r.Context().Err() == nil {
			s.log.Warn("export stream failed", "err", err)
		}
		panic(http.ErrAbortHandler)
	}
}

// deadlineWriter renews the write deadline before each write and flushes
// after it, so that a stream reaches the client as it is produced.
type deadlineWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
	s  *Server
}

func (d deadlineWriter) Write(p []byte) (int, error) {
	d.s.setWriteDeadline(d.w)
	n, err := d.w.Write(p)
	if err == nil {
		err = d.rc.Flush()
	}
	return n, err
}
