// Package storage owns Korum's document storage: the engine interface the
// API layer reads through, the deterministic write commands (Write) that the
// state machine applies, the embedded on-disk engine and, later, the
// Elasticsearch engine.
//
// Writes are commands, not calls: every non-deterministic input (ids, clock,
// author) is resolved before a Write is built, so the same Write applied on
// every replica yields the same state and the same WriteResult.
//
// It must not decide cluster policy (who applies what, when), and it must not
// know about requests, connections or notifications.
package storage
