//go:build !unix

package node

// fdLimit is unknown here: no automatic connection cap.
func fdLimit() int { return 0 }
