// Package node assembles one Korum node from a Config: the storage engine,
// the state machine, the Raft wiring, the realtime hub and the API server.
// It implements api.Backend, the union of the interfaces the API's
// controllers define, turning API calls into log commands and reads; it
// answers with facts (api.ClusterStatus) and leaves Kuzzle's response
// shapes to the api package.
// Commands go through a per-node group commit (batcher.go): proposals made
// while the node's previous batch is in flight leave together as one entry.
//
// It owns startup order, readiness, graceful shutdown, the node's identity
// (its id, kept in the data dir), the leader's reconciliation of the
// replicated topology with the Raft configuration, the leader's sweep of
// expired memory storage keys, the stamps (time, seed) memory storage
// commands carry, admin:shutdown (ShutdownRequested), admin:dump's
// diagnostic archive (dump.go) and the wiring of the metrics package's
// hooks and sources (metrics.go). It must not hold
// protocol logic (api), replicated-state logic (fsm) or Raft logic
// (raftnet).
//
// Two build tags exist for tests only and must never ship:
// jepsen_broken_ack (ack_broken.go: acknowledge before commit, to prove
// the partition checkers bite) and korum_failpoints (failpoint_on.go:
// fault injection such as a slow state machine, for the lagging-node test,
// or a store whose commits fail, for the halted-node test).
package node
