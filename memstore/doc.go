// Package memstore owns Korum's memory storage (Kuzzle's ms controller): a
// Redis-like key-value store of strings, hashes, lists, sets and sorted sets
// (geo indexes included) with expirations, kept in the replicated state.
//
// Commands are Redis argument vectors (["set", "k", "v", "EX", "10"]).
// Writes reach the store only through Apply, with a Command that went
// through the Raft log: every replica applies the same commands in the same
// order and gets the same keys and the same replies. Reads (Read) run on a
// replica's own copy.
//
// Determinism is this package's contract: Apply must not read a clock,
// random numbers or any per-node setting. Time comes from the command (the
// proposer's stamp; the store never goes back in time), randomness (spop)
// from a seed in the command, and every limit (key, value and collection
// sizes, total size) is a constant of this package so that all replicas
// enforce the same ones. A command that would break a limit, or fails
// half-way, leaves the store as it was: its changes are undone and its
// reply is the error. Replies never depend on Go's map iteration order.
//
// The undo is a copy of each value a command touches, taken before its
// first change, and the value is measured again after it: a write to a
// collection costs O(its size), which MaxElements bounds (about 1 ms for a
// full set, BenchmarkApplySaddFullSet). A journal of element changes would
// make it O(change) if that ever matters.
//
// Reads compare expirations with the reader's clock, so an expired key reads
// as absent everywhere at once; the node's leader proposes the removal of
// expired keys (Sweep) to bound memory.
//
// It must not know about the API, Raft or the network.
package memstore
