// Package embedded is Korum's on-disk document engine: one bbolt file per
// node holding indexes, collections, mappings and documents, written only by
// Apply (the replicated state machine's entry point) and read concurrently
// through storage.Reader.
//
// Layout of the file:
//
//	meta/applied                       last applied Raft index (uint64 BE)
//	meta/format                        layout version
//	indexes/<index>/<collection>/mapping   {dynamic,_meta,properties} JSON
//	indexes/<index>/<collection>/docs/<id> uint64 BE _version + _source JSON
//
// Apply must stay a pure function of (stored state, writes): it reads no
// clock, draws no random number and never depends on map iteration order
// (documents are scanned in key order, JSON objects are encoded with sorted
// keys). Reads may use the clock, only to expire scroll cursors.
//
// Searches evaluate the query (package storage/query) against every document
// of the collection: O(n) decodes per search or count, plus O(m log m) to
// sort the m hits. That is the price of having no secondary index and is fine
// for the embedded engine's intended sizes.
//
// Validate checks a write before it is proposed: Elasticsearch's mapping
// limits (WriteLimits: depth, total fields, field name length, a per-node
// configuration Apply never reads), names, mappings and by-query queries.
// Apply stays able to store and read back whatever reaches the log: the
// decoder's nesting bound (maxNesting) exceeds anything a write can
// produce, and the failures Apply can meet from client input (too long an
// id, too large a document, an unreadable mapping) are per-write or
// per-document client errors, never a failure of the batch.
//
// Durability: by default each Apply is one synced bbolt transaction. With
// Options.NoSync (what Korum's node uses) it is not synced: the file is a
// cache of the Raft log, which its owner must rebuild at every start and
// never read after a crash, because a bbolt file written without syncs can
// be torn by a power loss (a meta page pointing at pages that never reached
// the disk). The node removes the file at start (Remove), then Raft
// restores its latest snapshot (Restore writes a synced file) or replays
// the whole log; fsm/DESIGN.md ("Durability") has the argument. A NoSync
// engine still syncs once per SyncInterval so that a failed write-back is
// seen: Apply fails from then on, which halts the node.
//
// The package must not decide cluster policy (which node applies what, when
// to snapshot) nor know about requests, users or notifications: the caller
// hands it resolved writes and turns its results into responses.
package embedded
