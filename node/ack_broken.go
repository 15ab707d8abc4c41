//go:build jepsen_broken_ack

package node

// ackBeforeCommit is true only in the deliberately broken build the
// partition tests use to prove their checkers bite (make jepsen-broken):
// writes are acknowledged as soon as they are handed to the log, before any
// commit. Never ship it.
const ackBeforeCommit = true
