package api

import (
	"sync"
	"time"
)

// A WebSocket connection is bound to the last token it authenticated a
// request with, as Kuzzle binds it: once that token expires or is revoked
// (logout, API key or user deletion, credentials changed), the connection
// gets Kuzzle's TokenExpired notification and loses its subscriptions,
// which were made with rights it no longer proves. The socket stays open:
// the SDK logs in again on it.

// tokenSweepEvery is how often bound tokens are checked. A revoked token
// is refused by the next request at once; this only bounds how long the
// subscriptions it made outlive it.
const tokenSweepEvery = 500 * time.Millisecond

// tokenExpired is Kuzzle's server notification.
var tokenExpired = []byte(`{"status":200,"type":"TokenExpired","message":"Authentication Token Expired","info":"Authentication Token Expired"}`)

// connToken is a connection's bound token.
type connToken struct {
	mu  sync.Mutex
	jwt string
}

func (t *connToken) set(jwt string) { t.mu.Lock(); t.jwt = jwt; t.mu.Unlock() }

func (t *connToken) get() string { t.mu.Lock(); defer t.mu.Unlock(); return t.jwt }

// clear unbinds jwt unless another token was bound meanwhile.
func (t *connToken) clear(jwt string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.jwt != jwt {
		return false
	}
	t.jwt = ""
	return true
}

// bindToken records the token a successful request of c authenticated with.
func (c *wsConn) bindToken(req *Request, resp *Response) {
	if resp.Error != nil || req.User == nil || req.User.TokenID == "" {
		return
	}
	if c.tok.get() != req.JWT {
		c.tok.set(req.JWT)
	}
	if c.srv.tokSweep.CompareAndSwap(false, true) {
		go c.srv.sweepTokens()
	}
}

func (s *Server) anyToken() bool {
	found := false
	s.conns.Range(func(_, v any) bool {
		found = v.(*wsConn).tok.get() != ""
		return !found
	})
	return found
}

// sweepTokens notifies the connections whose bound token is no longer
// valid and drops their subscriptions. It runs while some connection has
// a token: one goroutine and no timer per connection.
func (s *Server) sweepTokens() {
	t := time.NewTicker(tokenSweepEvery)
	defer t.Stop()
	for range t.C {
		bound := false
		s.conns.Range(func(_, v any) bool {
			c := v.(*wsConn)
			jwt := c.tok.get()
			if jwt == "" {
				return true
			}
			if _, err := s.b.Authenticate(jwt); err != nil && c.tok.clear(jwt) {
				s.b.Hub().Disconnect(c)
				c.Send(tokenExpired)
			} else {
				bound = true
			}
			return true
		})
		if !bound {
			s.tokSweep.Store(false)
			// A token bound during the scan found the flag up and started
			// nothing: look again, and go on unless a new sweeper did.
			if !s.anyToken() || !s.tokSweep.CompareAndSwap(false, true) {
				return
			}
		}
	}
}
