package api

import (
	"sync"
	"time"
)

// rateLimiter counts each user's requests in the current one-second frame
// of this node, as Kuzzle's rate limiter does: a profile's rateLimit is
// per node and per second. A frame's counts are dropped when the next
// second begins, so memory is bounded by the users seen in one second.
type rateLimiter struct {
	mu     sync.Mutex
	frame  int64 // unix second the counts belong to
	counts map[string]int
}

// allow counts one request of user and reports whether it is within limit
// (limit > 0) in the second now falls in.
func (l *rateLimiter) allow(user string, limit int, now time.Time) bool {
	sec := now.Unix()
	l.mu.Lock()
	defer l.mu.Unlock()
	if sec != l.frame || l.counts == nil {
		l.frame, l.counts = sec, map[string]int{}
	}
	l.counts[user]++
	return l.counts[user] <= limit
}
