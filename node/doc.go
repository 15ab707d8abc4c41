// Package node assembles one Korum node from a Config: the storage engine,
// the state machine, the Raft wiring, the realtime hub and the API server.
// It implements api.Backend, turning API calls into log commands and reads.
// Commands go through a per-node group commit (batcher.go): proposals made
// while the node's previous batch is in flight leave together as one entry.
//
// It owns startup order, readiness, graceful shutdown and the node's
// identity (its id, kept in the data dir). It must not hold protocol logic
// (api), replicated-state logic (fsm) or Raft logic (raftnet).
package node
