// Package api owns Kuzzle's API as clients see it: the request and response
// envelopes, the controllers and their actions, Kuzzle's HTTP routes, the
// WebSocket protocol (including application pings), request limits and the
// error ids clients receive.
//
// Over WebSocket, gorilla/websocket does the handshake and the reading;
// the server writes its frames itself. Everything bound for a connection
// (notifications, responses, control frames) goes into that connection's
// bounded queue, and whoever owns the queue writes all that has
// accumulated with as few syscalls as it takes: a few flusher goroutines
// per server for notifications, the producing goroutine for responses, a
// goroutine of the connection's own only while its socket is full
// (wswrite.go). No write may bypass the queue, gorilla's included
// (wsframe.go): it would interleave with a coalesced write.
//
// Every connection has its timeouts (transport.go): HTTP requests must
// arrive, header and body, within a read timeout and their responses be
// written within a write timeout; keep-alive connections go when idle.
// A WebSocket connection's reader is its only goroutine: one sweeper per
// server pings the connections that have been silent for half of the idle
// timeout (through their queues) and closes those silent for all of it.
// Listener caps the connections, in total and per client address, at
// accept time (listen.go).
//
// Each Kuzzle controller lives in its own file (ctrl_<name>.go): a type
// holding only the small interfaces that file defines for what it needs
// from the node (Documents, Indexes, Collections, Realtime, ClusterView,
// ServerInfo, MemoryStorage, Admin, Bulk; writes go through Writer and are
// stamped by Clock, shared.go)
// and an actions() table. NewRouter registers each with one line. The
// response shapes are built here too: the node answers with typed facts
// (ClusterStatus) and the controller turns them into Kuzzle's JSON.
// Adding a controller is adding its file and its registration line: its
// HTTP routes are already in routes.go, which holds Kuzzle 2's whole route
// table and resolves URLs as Kuzzle's router does (a literal segment wins
// over a parameter), so routes of controllers not served yet answer
// controller_not_found instead of being taken for index names. GET routes
// read their body from the query string (queryBodyKeys).
//
// The live cluster dashboard (dashboard.go) is not a Kuzzle route: its
// page, embedded from api/dashboard, is public, and its data
// (/_dashboard/data) goes through the router's rights check as
// cluster:status and its request limits.
// Metrics are hooks its owner sets before serving (metrics.go): a
// RequestObserver asked once per served controller:action, the node's
// figures for server:metrics, and the Prometheus handler GET /metrics
// serves behind server:metrics' rights. The package imports no metrics
// library.
//
// Backend, the union of those interfaces, is what the node implements. The
// package reaches the rest of the node only through them: it must not touch
// Raft, bbolt or the state machine directly, and it holds no replicated
// state.
package api
