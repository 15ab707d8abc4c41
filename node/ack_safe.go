//go:build !jepsen_broken_ack

package node

// ackBeforeCommit is false in every real build: a write is acknowledged
// only once committed and applied. See ack_broken.go.
const ackBeforeCommit = false
