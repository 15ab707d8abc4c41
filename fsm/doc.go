// Package fsm owns Korum's replicated state machine: the commands that go
// through the Raft log, and what applying them does to the replicated state
// (documents in the embedded store, realtime rooms with the nodes that hold
// subscribers to them, the memory storage's keys through package memstore)
// plus the notifications each applied write produces on this node.
//
// Apply is deterministic and pure with respect to the state: every input
// (ids, timestamps, authors) is inside the command, so every replica reaches
// the same state and the same results. Notifications are an output: they are
// handed to a Notifier in log order and never feed back into the state.
//
// An entry is one Command, or a batch of them (KindBatch) that a node
// gathered from concurrent proposals: its sub-commands apply in order, as
// if each were an entry of its own, with their own deduplication keys and
// results.
//
// Commands travel in a compact binary form (codec.go) that is read without
// reflection, since every node decodes every command; entries of the
// earlier JSON form still decode, so a log written before it replays.
//
// The entry and snapshot formats are versioned (format.go, DESIGN.md
// "Formats and versions"): a node writes only what the cluster's agreed
// feature version allows, and stops on anything newer than it reads.
//
// It must not read clocks, random numbers, the network or any configuration
// that may differ between nodes.
package fsm
