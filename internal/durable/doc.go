// Package durable writes files that must survive a crash: the data is
// fsynced before a write returns, and a replacement is atomic (a temporary
// file renamed over the old one, then the directory fsynced).
//
// It owns only the mechanics of durable file writes. It must not decide
// what is written, where, or what a failure means to the caller: that
// stays with the packages that own the files (raftnet's seed, the embedded
// store's restore, the cluster id, the certificates of tlsgen).
package durable
