//go:build unix

package api

import (
	"testing"
	"time"
)

// A connection through the limiting listener still exposes its socket, so
// that its queue is written without blocking rather than by a goroutine
// per write.
func TestLimitedConnWritesWithoutBlocking(t *testing.T) {
	s, _, addr := serveTransport(t, Transport{WSIdleTimeout: time.Minute}, ConnLimits{Max: 10, PerIP: 10})
	_, c := dialWS(t, s, "ws://"+addr+"/")
	if c.nb.raw == nil {
		t.Fatal("no raw socket behind the limited connection")
	}
}
