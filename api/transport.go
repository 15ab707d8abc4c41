package api

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

// Transport is the connections' timeouts. Zero disables one.
type Transport struct {
	// HTTP (server.protocols.http): the request's header, the whole
	// request (header and body, from its first byte), writing a response,
	// and a keep-alive connection waiting for its next request.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// WebSocket (server.protocols.websocket): a connection that sends
	// nothing for WSIdleTimeout is closed. With WSPings, one silent for
	// half of it is sent a ping, which any live client answers.
	WSIdleTimeout time.Duration
	WSPings       bool
	// HTTP, when set, replaces DefaultHTTPOptions.
	HTTP *HTTPOptions
}

// epoch anchors monotonic(); it is set once and never written again.
var epoch = time.Now()

// monotonic is a clock that wall-clock jumps do not move.
func monotonic() time.Duration { return time.Since(epoch) }

// HTTPServer returns the http.Server that serves s with t's timeouts. The
// WebSocket settings apply to the connections s accepts from then on:
// call it once, before serving.
func (s *Server) HTTPServer(t Transport) *http.Server {
	s.transport = t
	if t.HTTP != nil {
		s.httpOpts = *t.HTTP
	}
	// The handshake's response is written with the same bound as any
	// other response.
	s.upgrader.HandshakeTimeout = t.WriteTimeout
	return &http.Server{
		Handler:           s,
		ReadHeaderTimeout: t.ReadHeaderTimeout,
		// Covers the body too: a client that declares a big body and
		// trickles it is cut off (httpRequest lifts the deadline once the
		// body is in, so that a long request is not cancelled by it).
		ReadTimeout: t.ReadTimeout,
		// WriteTimeout stays unset: http.Server would start it with the
		// request and bound the request's execution too. ServeHTTP sets
		// the write deadline when the response is ready.
		IdleTimeout: t.IdleTimeout,
		ConnContext: connContext,
		ErrorLog:    slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// setWriteDeadline bounds the writing of the response about to be written.
func (s *Server) setWriteDeadline(w http.ResponseWriter) {
	if d := s.transport.WriteTimeout; d > 0 {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d))
	}
}

// watchIdle makes sure the idle sweeper runs while WebSocket connections
// exist.
func (s *Server) watchIdle() {
	if s.transport.WSIdleTimeout <= 0 {
		return
	}
	s.sweepMu.Lock()
	if !s.sweeping {
		s.sweeping = true
		go s.sweepIdle()
	}
	s.sweepMu.Unlock()
}

// sweepIdle pings the connections silent for half the idle timeout and
// closes those silent for all of it: one goroutine and no timer per
// connection. It stops when no connection is left.
func (s *Server) sweepIdle() {
	idle := s.transport.WSIdleTimeout
	t := time.NewTicker(max(idle/8, time.Millisecond))
	defer t.Stop()
	for range t.C {
		now := monotonic()
		n := 0
		s.conns.Range(func(_, v any) bool {
			n++
			v.(*wsConn).checkIdle(now, idle, s.transport.WSPings)
			return true
		})
		if n > 0 {
			continue
		}
		s.sweepMu.Lock()
		empty := true
		s.conns.Range(func(_, _ any) bool { empty = false; return false })
		if empty {
			// A connection registered from now on starts a new sweeper.
			s.sweeping = false
			s.sweepMu.Unlock()
			return
		}
		s.sweepMu.Unlock()
	}
}

// pingFrame is an empty ping.
var pingFrame = []byte{finBit | opPing, 0}

// checkIdle runs on the sweeper only.
func (c *wsConn) checkIdle(now, idle time.Duration, pings bool) {
	silent := now - time.Duration(c.gc.lastRead.Load())
	switch {
	case silent >= idle:
		c.srv.idleDrop.Add(1)
		c.srv.log.Debug("closing an idle WebSocket connection", "conn", c.id, "silentFor", silent.Round(time.Millisecond))
		c.close(websocket.CloseGoingAway, "idle timeout")
	case pings && silent >= idle/2 && now-c.lastPing >= idle/2:
		c.lastPing = now
		c.enqueue(wsItem{data: pingFrame, frame: true}, false)
	}
}
