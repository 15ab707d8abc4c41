// Package realtime owns this node's share of Kuzzle's realtime layer: the
// local rooms and their channels (one per set of subscription options), the
// connections subscribed to them, the building of document and user
// notifications in Kuzzle's exact shape, and their non-blocking dispatch to
// local connections. The filter language itself lives in realtime/filter.
//
// Notifications are produced from the replicated log's order: the state
// machine calls Hub.DocumentChanged for every applied write, on every node,
// and each node matches it against its own rooms only. Nothing about
// documents is broadcast beside the log.
//
// It must not block a writer on a slow connection (a connection whose queue
// is full is dropped by its transport), must not touch storage or Raft, and
// replicates room existence only through the Replicator it is given.
package realtime
