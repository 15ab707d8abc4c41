package api

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/korumdb/korum/kerror"
)

// Kuzzle's statistics (server:getStats, getLastStats, getAllStats,
// deprecated since Kuzzle 2.16 but still in the SDKs): every
// stats.statsInterval, a frame of this node's requests completed and
// failed during the interval, requests underway and open connections, per
// protocol. Kuzzle keeps the frames in Redis for stats.ttl; Korum keeps
// them in a ring of this node's memory, ttl/interval frames at most (and
// never more than maxStatsFrames), so a node's figures are its own and
// cost a fixed amount of memory.

// statsProtocols are the protocols counted, by Kuzzle's names.
var statsProtocols = [...]string{"http", "websocket"}

// maxStatsFrames bounds the ring whatever the configuration says.
const maxStatsFrames = 10000

// statsFrame is one snapshot, in Kuzzle's shape. A protocol with nothing
// to report is left out, as Kuzzle's maps do.
type statsFrame struct {
	CompletedRequests map[string]int64 `json:"completedRequests"`
	Connections       map[string]int64 `json:"connections"`
	FailedRequests    map[string]int64 `json:"failedRequests"`
	OngoingRequests   map[string]int64 `json:"ongoingRequests"`
	Timestamp         int64            `json:"timestamp"`
}

// requestStats counts the router's requests per protocol: cheap atomics on
// the request path, read by the frames.
type requestStats struct {
	ongoing           [len(statsProtocols)]atomic.Int64
	completed, failed [len(statsProtocols)]atomic.Uint64

	mu     sync.Mutex
	frames []statsFrame // a ring: next is the oldest once full
	next   int
	full   bool
	// The cumulative counts at the last frame, so that a frame holds the
	// interval's requests only.
	lastCompleted, lastFailed [len(statsProtocols)]uint64
}

func protocolIndex(p string) int {
	for i, name := range statsProtocols {
		if p == name {
			return i
		}
	}
	return -1
}

// begin counts a request underway; end, with begin's answer, counts it
// completed or failed.
func (s *requestStats) begin(protocol string) int {
	i := protocolIndex(protocol)
	if i >= 0 {
		s.ongoing[i].Add(1)
	}
	return i
}

func (s *requestStats) end(i int, failed bool) {
	if i < 0 {
		return
	}
	s.ongoing[i].Add(-1)
	if failed {
		s.failed[i].Add(1)
	} else {
		s.completed[i].Add(1)
	}
}

// current is the frame as it would be taken now; s.mu is held.
func (s *requestStats) current(now time.Time, conns map[string]int64) statsFrame {
	f := statsFrame{CompletedRequests: map[string]int64{}, Connections: map[string]int64{},
		FailedRequests: map[string]int64{}, OngoingRequests: map[string]int64{}, Timestamp: now.UnixMilli()}
	for i, p := range statsProtocols {
		if n := s.completed[i].Load() - s.lastCompleted[i]; n > 0 {
			f.CompletedRequests[p] = int64(n)
		}
		if n := s.failed[i].Load() - s.lastFailed[i]; n > 0 {
			f.FailedRequests[p] = int64(n)
		}
		if n := s.ongoing[i].Load(); n > 0 {
			f.OngoingRequests[p] = n
		}
		if n := conns[p]; n > 0 {
			f.Connections[p] = n
		}
	}
	return f
}

// snapshot records a frame in a ring of size frames.
func (s *requestStats) snapshot(now time.Time, conns map[string]int64, size int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.current(now, conns)
	for i := range statsProtocols {
		s.lastCompleted[i] += uint64(f.CompletedRequests[statsProtocols[i]])
		s.lastFailed[i] += uint64(f.FailedRequests[statsProtocols[i]])
	}
	if len(s.frames) < size {
		s.frames = append(s.frames, f)
		return
	}
	s.frames[s.next] = f
	s.next = (s.next + 1) % len(s.frames)
	s.full = true
}

// stored returns the frames, oldest first.
func (s *requestStats) stored() []statsFrame {
	out := make([]statsFrame, 0, len(s.frames))
	if s.full {
		out = append(out, s.frames[s.next:]...)
		out = append(out, s.frames[:s.next]...)
		return out
	}
	return append(out, s.frames...)
}

// connections are the open connections per protocol: WebSocket ones, and
// the rest of the API listener's (HTTP), when the node gives its figures.
func (rt *Router) connections() map[string]int64 {
	out := map[string]int64{}
	ws := 0
	if rt.hooks.wsConns != nil {
		ws = rt.hooks.wsConns()
	}
	out["websocket"] = int64(ws)
	if rt.hooks.figures != nil {
		out["http"] = int64(max(rt.hooks.figures.NodeFigures().OpenConnections-ws, 0))
	}
	return out
}

// RunStats takes a statistics frame every interval and keeps those of the
// last ttl, until done is closed. Without it, the statistics actions
// answer the current figures only.
func (s *Server) RunStats(done <-chan struct{}, interval, ttl time.Duration) {
	if interval <= 0 {
		return
	}
	size := min(max(int(ttl/interval), 1), maxStatsFrames)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			s.router.stats.snapshot(now, s.router.connections(), size)
		}
	}
}

// statsTime reads getStats' startTime/stopTime: epoch milliseconds (a
// number, or a string of one from a query string) or a date string.
func statsTime(r *Request, name string) (int64, bool, error) {
	v, ok := r.Args[name]
	if !ok || v == nil || v == "" {
		return 0, false, nil
	}
	bad := kerror.New("api.assert.invalid_argument", name, "number")
	switch t := v.(type) {
	case float64:
		return int64(t), true, nil
	case string:
		if n, err := strconv.ParseFloat(t, 64); err == nil {
			return int64(n), true, nil
		}
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
			if d, err := time.Parse(layout, t); err == nil {
				return d.UnixMilli(), true, nil
			}
		}
	}
	return 0, false, bad
}

// getStats is Kuzzle's server:getStats: the frames between startTime and
// stopTime (both optional, inclusive). Before the first frame is taken,
// the current figures stand for one.
func (rt *Router) getStats(ctx context.Context, r *Request) (any, error) {
	start, hasStart, err := statsTime(r, "startTime")
	if err != nil {
		return nil, err
	}
	stop, hasStop, err := statsTime(r, "stopTime")
	if err != nil {
		return nil, err
	}
	return rt.statsBetween(start, hasStart, stop, hasStop), nil
}

func (rt *Router) statsBetween(start int64, hasStart bool, stop int64, hasStop bool) map[string]any {
	now := rt.b.Now()
	hits := []statsFrame{}
	conns := rt.connections()
	rt.stats.mu.Lock()
	defer rt.stats.mu.Unlock()
	switch frames := rt.stats.stored(); {
	case hasStart && start >= now.UnixMilli():
	case len(frames) == 0:
		if !hasStop || stop >= now.UnixMilli() {
			hits = append(hits, rt.stats.current(now, conns))
		}
	default:
		for _, f := range frames {
			if (!hasStart || start <= f.Timestamp) && (!hasStop || stop >= f.Timestamp) {
				hits = append(hits, f)
			}
		}
	}
	return map[string]any{"hits": hits, "total": len(hits)}
}

// getAllStats is every frame kept.
func (rt *Router) getAllStats(ctx context.Context, r *Request) (any, error) {
	return rt.statsBetween(0, false, 0, false), nil
}

// getLastStats is the last frame taken (before any, the current figures).
func (rt *Router) getLastStats(ctx context.Context, r *Request) (any, error) {
	conns := rt.connections()
	rt.stats.mu.Lock()
	defer rt.stats.mu.Unlock()
	if frames := rt.stats.stored(); len(frames) > 0 {
		return frames[len(frames)-1], nil
	}
	return rt.stats.current(rt.b.Now(), conns), nil
}
