// Package raftnet wires hashicorp/raft into a Korum node: the Raft instance
// and its on-disk state (DataDir/raft: the log and stable store, file
// snapshots), the authenticated cluster port, and forwarding to the leader.
//
// The log store is hashicorp/raft-wal in DataDir/raft/wal (one fdatasync per
// append, into preallocated segments) for data dirs created by this
// release; a data dir an earlier release wrote keeps its raft-boltdb file
// DataDir/raft/raft.db (two fdatasyncs per append) and works as before. See
// logstore.go.
//
// What it owns:
//   - One TCP port per node. Every connection first proves knowledge of the
//     shared cluster secret (mutual HMAC challenge-response, see auth.go),
//     inside mutual TLS 1.3 when Config.TLS is set (a cluster CA, see
//     tls.go); its authenticated first byte then selects Raft's transport or the
//     node-to-node RPC service (rpc.go), on which other packages register
//     handlers with Node.Handle and call peers with Node.Call.
//   - Apply from any node: the leader appends; a follower forwards the
//     opaque command to the leader and gets back the FSM's result bytes.
//   - Linearizable reads from any node (read-index: leader commit index,
//     quorum check, wait for the local FSM to reach it).
//   - Membership mechanics: join (with stale-entry removal), remove,
//     promote, forwarded to the leader from any member.
//   - Seeds (seed.go): restored state planted in a data dir, which the
//     node's first start installs as its first snapshot, founding a new
//     one-voter cluster at the node's own address.
//
// What it must not do:
//   - Know what a command means. Commands and results are []byte; documents,
//     rooms and subscriptions belong to fsm/ and realtime/.
//   - Decide membership policy: who becomes a voter and when, when a silent
//     node is removed, whether a node leaves on shutdown. That is
//     membership/'s job; raftnet only provides the operations.
//
// Failure semantics callers must design for: ErrUnknownOutcome (which
// includes ErrLeadershipLost) means a command may or may not commit, so
// commands must be idempotent or deduplicated by the FSM. Only errors that
// prove the command was never submitted are retried internally.
//
// Defaults (Config): HeartbeatTimeout and ElectionTimeout 250ms,
// LeaderLeaseTimeout 250ms, CommitTimeout 10ms, SnapshotThreshold 8192,
// SnapshotInterval 30s, TrailingLogs 10240, ApplyTimeout 10s, LeaderWait 5s,
// HandshakeTimeout 5s; BatchApplyCh on; MaxAppendEntries 1024 (raft's
// ceiling: a joining node catches up in 16x fewer round trips); ShutdownOnRemove left at raft's
// default (true).
package raftnet
