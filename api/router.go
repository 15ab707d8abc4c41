package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sort"
	"sync/atomic"
	"time"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/security"
)

// Handler runs one action.
type Handler func(ctx context.Context, r *Request) (any, error)

// Limits bound the API's resource use.
type Limits struct {
	MaxRequestSize     int // bytes, per HTTP body or WebSocket message
	ConcurrentRequests int // requests executed at once
	RequestsBuffer     int // requests allowed to wait for a slot; beyond, api.process.overloaded
	DocumentsFetch     int // documents a read may return (search from+size)
	DocumentsWrite     int // documents one m* or by-query request may write
	// RequestTimeout bounds a request from its dispatch: its context is
	// cancelled then, and a request that ends for that reason answers
	// api.process.request_timeout. 0: no bound.
	RequestTimeout time.Duration
}

// actionExists says whether controller, and action within it, are served;
// role validation reads it.
func (rt *Router) actionExists(controller, action string) (controllerOK, actionOK bool) {
	acts, ok := rt.handlers[controller]
	if !ok {
		return false, false
	}
	_, ok = acts[action]
	return true, ok
}

// controllerNames lists the controllers served.
func (rt *Router) controllerNames() []string {
	names := make([]string, 0, len(rt.handlers))
	for c := range rt.handlers {
		names = append(names, c)
	}
	sort.Strings(names)
	return names
}

// Router maps controller:action to handlers and executes requests under
// the concurrency limits.
type Router struct {
	b        Backend
	sec      Security
	log      *slog.Logger
	limits   Limits
	handlers map[string]map[string]Handler
	// httpOnly/wsOnly actions are rejected on the other protocol.
	wsOnly map[string]bool

	slots   chan struct{}
	waiting atomic.Int64
	// rate enforces the profiles' rateLimit.
	rate   rateLimiter
	served atomic.Uint64 // the dashboard's request count, without an observer
	hooks  metricsHooks  // metrics.go
	stats  requestStats  // server:getStats' figures (stats.go)
}

// NewRouter builds the router with every Kuzzle controller Korum serves.
func NewRouter(b Backend, limits Limits, log *slog.Logger) *Router {
	if limits.ConcurrentRequests <= 0 {
		limits.ConcurrentRequests = 100
	}
	if limits.RequestsBuffer < 0 {
		limits.RequestsBuffer = 0
	}
	rt := &Router{b: b, sec: b, log: log, limits: limits, handlers: map[string]map[string]Handler{},
		wsOnly: map[string]bool{}, slots: make(chan struct{}, limits.ConcurrentRequests)}
	// One line per controller (ctrl_*.go), each given only the interfaces
	// it defines. Kuzzle's HTTP routes for every controller are already in
	// routes.go: until a controller is registered, its routes answer
	// api.process.controller_not_found.
	rt.register("server", &serverController{node: b, publicAPI: rt.publicAPI, openAPI: rt.openAPI, metrics: rt.metrics,
		getStats: rt.getStats, getLastStats: rt.getLastStats, getAllStats: rt.getAllStats})
	rt.register("index", &indexController{store: b, clock: b})
	rt.register("collection", &collectionController{store: b, clock: b, specs: b, limits: limits})
	docs := &documentController{store: b, clock: b, limits: limits, mappings: b,
		specs: docChecker{specs: b, store: b, clock: b}}
	rt.register("document", docs)
	rt.register("realtime", &realtimeController{rt: b, clock: b, specs: b, validate: docs.validate})
	rt.register("auth", &authController{sec: b, clock: b})
	rt.register("security", &securityController{sec: b, clock: b, limits: limits, routes: rt})
	rt.register("admin", &adminSecurityController{sec: b, clock: b, routes: rt, specs: b})
	rt.register("cluster", &clusterController{cluster: b})
	rt.register("ms", &msController{ms: b})
	rt.register("admin", &adminController{node: b, clock: b, limits: limits})
	rt.register("bulk", &bulkController{store: b, clock: b, limits: limits})
	return rt
}

// controller is one of Kuzzle's API controllers: its actions by name.
type controller interface {
	actions() map[string]Handler
}

// register adds a controller's actions; several files may serve one
// controller (the admin controller's security actions live with security).
func (rt *Router) register(name string, c controller) {
	if rt.handlers[name] == nil {
		rt.handlers[name] = map[string]Handler{}
	}
	for a, h := range c.actions() {
		rt.handlers[name][a] = h
	}
}

// Dispatch executes a request and always returns a response.
func (rt *Router) Dispatch(ctx context.Context, r *Request) *Response {
	p := rt.stats.begin(r.Protocol)
	var start time.Time
	if rt.hooks.obs != nil {
		start = time.Now()
	}
	resp := rt.dispatch(ctx, r)
	rt.stats.end(p, resp.Error != nil)
	if rt.hooks.obs != nil {
		rt.observe(r, resp, time.Since(start))
	}
	return resp
}

func (rt *Router) dispatch(ctx context.Context, r *Request) *Response {
	if r.RequestID == "" {
		r.RequestID = newUUID()
	}
	resp := newResponse(r, rt.b.NodeID())
	if r.bodyInvalid {
		// Kuzzle's RequestInput refuses a body that is not an object as it
		// builds the request: before its controller or rights are looked at.
		resp.setError(kerror.New("api.assert.invalid_type", "body", "object"))
		return resp
	}
	if r.Controller == "" {
		resp.setError(kerror.New("api.assert.missing_argument", "controller"))
		return resp
	}
	actions, ok := rt.handlers[r.Controller]
	if !ok {
		resp.setError(kerror.New("api.process.controller_not_found", r.Controller))
		return resp
	}
	if r.Action == "" {
		resp.setError(kerror.New("api.assert.missing_argument", "action"))
		return resp
	}
	h, ok := actions[r.Action]
	if !ok {
		resp.setError(kerror.New("api.process.action_not_found", r.Controller, r.Action))
		return resp
	}
	if rt.hooks.obs == nil {
		rt.served.Add(1)
	}
	rt.run(ctx, h, r, resp)
	return resp
}

// run authorizes r as r.Controller:r.Action, then runs h under the
// request limits (timeout, concurrency slots) and puts the outcome in resp.
func (rt *Router) run(ctx context.Context, h Handler, r *Request, resp *Response) {
	if err := rt.authorize(r); err != nil {
		resp.setError(err)
		return
	}
	if rt.limits.RequestTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, rt.limits.RequestTimeout)
		defer cancel()
	}
	if err := rt.acquire(ctx); err != nil {
		resp.setError(err)
		return
	}
	defer func() { <-rt.slots }()
	result, err := rt.call(ctx, h, r)
	if err != nil {
		err = interrupted(ctx, err)
		if ke := kerror.From(err); ke.Status >= 500 {
			rt.log.Warn("request failed", "controller", r.Controller, "action", r.Action, "err", err)
		}
	}
	resp.setOutcome(result, err)
}

// Served counts the requests dispatched to an action since start, for the
// dashboard's request rate, while no RequestObserver is set: with one
// (metrics on), the observer counts them and the request path does not
// count twice.
func (rt *Router) Served() uint64 { return rt.served.Load() }

// Freshness is implemented by a backend whose security state may be stale
// (a cluster node): Fresh fails while the node cannot vouch that it knows
// every revocation acknowledged so far.
type Freshness interface {
	Fresh(ctx context.Context) error
}

// staleAllowed are the diagnostic actions a node still answers while cut
// from its cluster (with the rights it last knew): what an operator needs
// to see why.
var staleAllowed = map[string]bool{"cluster:status": true, "server:metrics": true}

// authorize establishes who sends the request and checks the rights of
// that user before anything else runs: the one place every action of
// every protocol goes through. A bad token is an error, never the
// anonymous user.
func (rt *Router) authorize(r *Request) error {
	token := r.JWT
	if r.Controller == "auth" && (r.Action == "login" || r.Action == "checkToken") {
		// Logging in, or asking whether a token is valid, must not fail
		// because the client still holds an expired token: both run as the
		// anonymous user, whose role allows them (Kuzzle's standard roles).
		token = ""
	}
	if f, ok := rt.b.(Freshness); ok && !staleAllowed[r.Controller+":"+r.Action] &&
		(token != "" || rt.sec.SecurityState().LockedDown()) {
		if err := f.Fresh(context.Background()); err != nil {
			return err
		}
	}
	id, err := rt.sec.Authenticate(token)
	if err != nil {
		return err
	}
	r.User = id
	st := rt.sec.SecurityState()
	if err := rt.rateLimit(st, r); err != nil {
		return err
	}
	r.rights = func(c, a, i, col string) bool { return st.Allowed(id.UserID, c, a, i, col) }
	index, _ := r.Args["index"].(string)
	collection, _ := r.Args["collection"].(string)
	if _, ok := r.Args["targets"]; ok {
		return checkTargets(r, index, collection, func(i, c string) error { return st.Check(id, r.Controller, r.Action, i, c) })
	}
	return st.Check(id, r.Controller, r.Action, index, collection)
}

// rateLimit applies the user's profiles' rateLimit before the rights
// check, as Kuzzle does. auth:login has its own limit
// (limits.loginsPerSecond) and an authenticated user may always log out.
func (rt *Router) rateLimit(st *security.State, r *Request) error {
	if r.Controller == "auth" && (r.Action == "login" || r.Action == "logout" && r.UserID() != security.AnonymousID) {
		return nil
	}
	limit := st.RateLimit(r.UserID())
	if limit <= 0 || rt.rate.allow(r.UserID(), limit, rt.b.Now()) {
		return nil
	}
	return kerror.New("api.process.too_many_requests")
}

// interrupted names the reason of a request whose work stopped because its
// context ended: its deadline (api.process.request_timeout) or its client
// going away. Errors the handler already made client-visible (a write
// whose outcome the deadline made unknown) are kept.
func interrupted(ctx context.Context, err error) error {
	var ke *kerror.Error
	if errors.As(err, &ke) || ctx.Err() == nil {
		return err
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return kerror.Wrap(err, "api.process.request_timeout")
	}
	return kerror.Wrap(err, "api.process.connection_dropped")
}

// call runs a handler, turning a panic into a 500 so no input can crash
// the node.
func (rt *Router) call(ctx context.Context, h Handler, r *Request) (result any, err error) {
	defer func() {
		if p := recover(); p != nil {
			rt.log.Error("handler panic", "controller", r.Controller, "action", r.Action, "panic", p)
			result, err = nil, kerror.New("core.fatal.assertion_failed", "internal error")
		}
	}()
	return h(ctx, r)
}

func (rt *Router) acquire(ctx context.Context) error {
	select {
	case rt.slots <- struct{}{}:
		return nil
	default:
	}
	if rt.waiting.Add(1) > int64(rt.limits.RequestsBuffer) {
		rt.waiting.Add(-1)
		return kerror.New("api.process.overloaded")
	}
	defer rt.waiting.Add(-1)
	select {
	case rt.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return kerror.New("api.process.overloaded")
	}
}

// Overloaded reports whether requests are waiting for a slot.
func (rt *Router) Overloaded() bool { return rt.waiting.Load() > 0 }

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
