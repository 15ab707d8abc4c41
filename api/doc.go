// Package api owns Kuzzle's API as clients see it: the request and response
// envelopes, the controllers and their actions, Kuzzle's HTTP routes, the
// WebSocket protocol (including application pings), request limits and the
// error ids clients receive.
//
// It reaches the rest of the node only through Backend: it must not touch
// Raft, bbolt or the state machine directly, and it holds no replicated
// state.
package api
