// Package elasticsearch is Korum's Elasticsearch document engine: the same
// storage.Reader the API layer reads through as the embedded engine, plus
// Execute, which performs a storage.Write against Elasticsearch and returns
// its exact per-document outcome (before and after states), which the node
// then puts through the log as a "changed" entry so that notifications keep
// the log's order (see DESIGN.md).
//
// The engine uses Kuzzle 2's index layout (public indexes prefixed "&", one
// Elasticsearch index per collection with an "@" alias, the hidden
// "_kuzzle_keep" collection, _kuzzle_info in every document), so that a
// Kuzzle deployment's Elasticsearch can be served as is.
//
// It talks to Elasticsearch only through github.com/elastic/go-elasticsearch/v8.
// It must not decide cluster policy nor know about notifications: the node
// decides what goes through the log.
package elasticsearch
