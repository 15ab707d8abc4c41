//go:build !unix

package raftnet

import "time"

// lockDir is a no-op where flock is not available.
func lockDir(string, time.Duration) (func(), error) { return func() {}, nil }
