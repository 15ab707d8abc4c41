// Package metrics owns a node's Prometheus metrics: their names (korum_*),
// labels, buckets and help, the registry that holds them, the /metrics
// handler's content, and the bridge that carries hashicorp/raft's
// go-metrics figures into Prometheus (raft.go).
//
// It is told about the node's work through hooks its callers wire up
// (ForAction for requests, ObserveBatch, ObserveProposal, ...) and reads
// the rest at scrape time through Sources, functions the node provides:
// counters the other packages already keep (the realtime hub's deliveries,
// the API's connections) are read, never duplicated on the hot path.
//
// What it must not do: import the packages it measures (api, node,
// realtime, raftnet), block or allocate per observation on a hot path, or
// take a label from client input. Label values come from closed sets: the
// router's served controller:action pairs, kerror's catalogue of ids,
// fixed protocol and phase names, so the series a node exports stay
// bounded whatever its clients send.
//
// Each node has its own registry (New). The one exception is the raft
// bridge: hashicorp/raft reports through go-metrics' package-level
// functions into one process-wide sink, so its collectors live in one
// process-wide registry that every node's handler also gathers (see
// raft.go for why that cannot be avoided).
package metrics
