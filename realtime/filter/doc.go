// Package filter is Korum's realtime filter engine: a Go reimplementation of
// Koncorde 4.7, the filter language of Kuzzle subscriptions.
//
// TODO: full documentation (ownership, room id derivation, differences).
package filter
