//go:build !linux

package raftnet

// freeBytes is unknown here: only failed writes trip the disk guard.
func freeBytes(string) (uint64, bool) { return 0, false }
