package api

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/korumdb/korum/kerror"
)

const (
	// wsQueue bounds the messages waiting for one connection; a client that
	// lets it fill is disconnected instead of slowing anyone else.
	wsQueue      = 4096
	wsQueueBytes = 32 << 20 // and bytes: big messages must not pile up either
	wsWriteWait  = 10 * time.Second
	wsOversizeX  = 16 // frames beyond this multiple of the limit close the socket
	appPing      = `{"p":1}`
	appPong      = `{"p":2}`
	closeTimeout = time.Second
)

type wsConn struct {
	id     string
	srv    *Server
	ws     *websocket.Conn
	out    chan []byte
	done   chan struct{}
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	queued atomic.Int64 // bytes waiting in out
}

func (c *wsConn) ID() string { return c.id }

// Send enqueues without blocking; a full queue disconnects the client.
func (c *wsConn) Send(msg []byte) bool {
	select {
	case <-c.done:
		return false
	default:
	}
	if c.queued.Add(int64(len(msg))) > wsQueueBytes {
		c.queued.Add(-int64(len(msg)))
		c.dropSlow()
		return false
	}
	select {
	case c.out <- msg:
		return true
	default:
		c.queued.Add(-int64(len(msg)))
		c.dropSlow()
		return false
	}
}

func (c *wsConn) dropSlow() {
	{
		c.srv.slowDrop.Add(1)
		c.srv.log.Warn("disconnecting a slow WebSocket consumer", "conn", c.id, "queue", wsQueue)
		c.close(websocket.ClosePolicyViolation, "slow consumer: send queue full")
	}
}

func (c *wsConn) close(code int, reason string) {
	c.once.Do(func() {
		close(c.done)
		c.cancel()
		c.srv.conns.Delete(c.id)
		// Off the caller's goroutine: close may be called from a
		// notification dispatch that holds the hub's lock, and the close
		// frame may take up to closeTimeout to write.
		go func() {
			_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(closeTimeout))
			_ = c.ws.Close()
			c.srv.b.Hub().Disconnect(c)
		}()
	})
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader already answered
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &wsConn{id: "ws-" + strconv.FormatUint(s.connSeq.Add(1), 10), srv: s, ws: ws,
		out: make(chan []byte, wsQueue), done: make(chan struct{}), ctx: ctx, cancel: cancel}
	s.conns.Store(c.id, c)
	ws.SetReadLimit(int64(s.limits.MaxRequestSize) * wsOversizeX)
	go c.writeLoop()
	c.readLoop()
}

func (c *wsConn) writeLoop() {
	for {
		select {
		case <-c.done:
			return
		case msg := <-c.out:
			c.queued.Add(-int64(len(msg)))
			_ = c.ws.SetWriteDeadline(time.Now().Add(wsWriteWait))
			if err := c.ws.WriteMessage(websocket.TextMessage, msg); err != nil {
				c.close(websocket.CloseAbnormalClosure, "write failed")
				return
			}
		}
	}
}

func (c *wsConn) readLoop() {
	defer c.close(websocket.CloseNormalClosure, "")
	limit := c.srv.limits.MaxRequestSize
	buf := new(bytes.Buffer)
	for {
		_, rd, err := c.ws.NextReader()
		if err != nil {
			return
		}
		buf.Reset()
		n, err := io.Copy(buf, io.LimitReader(rd, int64(limit)+1))
		if err != nil {
			return
		}
		if n > int64(limit) {
			// Drain the rest so the socket stays usable, then answer.
			if _, err := io.Copy(io.Discard, rd); err != nil {
				return
			}
			c.reply(errorResponse("", c.srv.b.NodeID(), kerror.New("network.websocket.request_too_large")))
			continue
		}
		data := bytes.TrimSpace(buf.Bytes())
		if string(data) == appPing {
			c.Send([]byte(appPong))
			continue
		}
		req, err := DecodeRequest(data)
		if err != nil {
			c.reply(errorResponse("", c.srv.b.NodeID(), err))
			continue
		}
		req.Protocol = "websocket"
		req.Conn = c
		go func() {
			resp := c.srv.dispatch(c.ctx, req)
			c.reply(resp)
		}()
	}
}

func (c *wsConn) reply(resp *Response) {
	resp.Room = resp.RequestID
	c.Send(resp.encode())
}

// CloseConnections closes every WebSocket connection cleanly (graceful
// shutdown).
func (s *Server) CloseConnections() {
	s.conns.Range(func(_, v any) bool {
		v.(*wsConn).close(websocket.CloseGoingAway, "server shutting down")
		return true
	})
}
