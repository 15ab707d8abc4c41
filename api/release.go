package api

import (
	"runtime/debug"
	"time"
)

// A WebSocket handshake leaves about 10 KB of garbage behind (net/http's
// request, the 4 KB reader it hands over and the 4 KB writer it allocates
// on hijack, the handshake's response), a live connection about 3 KB of
// heap. At the node's GOGC (400) a storm of connections (clients coming
// back after a restart or a load balancer's failover) therefore leaves the
// heap and the resident memory several times what the connections hold,
// and the runtime returns nothing below its heap goal: 11–14 KB of RSS per
// idle connection for 7.5 KB of heap and stacks. Once a storm is over, the
// node gives that memory back, at most once per releaseEvery.
const (
	releaseAfter = 1024             // upgrades since the last release
	releaseQuiet = 2 * time.Second  // no upgrade for this long: the storm is over
	releaseEvery = 30 * time.Second // at most this often (a release is a full collection)
	releaseTick  = time.Second
)

// releaser decides when to give memory back; it is a pure function of the
// upgrade counter and the clock, so that it can be tested without one.
type releaser struct {
	seen, released       uint64
	changed, lastRelease time.Duration
}

// due reports whether to release now, given the upgrades so far.
func (r *releaser) due(upgrades uint64, now time.Duration) bool {
	if upgrades != r.seen {
		r.seen, r.changed = upgrades, now
		return false
	}
	if upgrades-r.released < releaseAfter || now-r.changed < releaseQuiet ||
		(r.released > 0 && now-r.lastRelease < releaseEvery) {
		return false
	}
	r.released, r.lastRelease = upgrades, now
	return true
}

// watchUpgrades starts the releasing goroutine once, at the first upgrade.
func (s *Server) watchUpgrades() {
	s.upgrades.Add(1)
	s.releaseOnce.Do(func() { go s.releaseAfterStorms() })
}

func (s *Server) releaseAfterStorms() {
	t := time.NewTicker(releaseTick)
	defer t.Stop()
	var r releaser
	for range t.C {
		if s.closing.Load() {
			return
		}
		if r.due(s.upgrades.Load(), monotonic()) {
			start := time.Now()
			debug.FreeOSMemory()
			s.log.Debug("gave memory back after a burst of WebSocket connections", "took", time.Since(start))
		}
	}
}
