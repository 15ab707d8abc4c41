package api

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/korumdb/korum/kerror"
)

const (
	// wsQueue bounds the messages waiting for one connection (queued or
	// being written); a client that lets it fill is disconnected instead of
	// slowing anyone else.
	wsQueue      = 4096
	wsQueueBytes = 32 << 20 // and bytes: big messages must not pile up either
	wsWriteWait  = 10 * time.Second
	wsOversizeX  = 16 // frames beyond this multiple of the limit close the socket
	appPing      = `{"p":1}`
	appPong      = `{"p":2}`
	closeTimeout = time.Second
	// wsReadBuffer is gorilla's read buffer per connection: enough for a
	// frame header and a control frame (125 bytes of payload).
	wsReadBuffer = 512
	// wsKeepBuffer is the largest message buffer kept for reuse; a
	// bigger message's is let go.
	wsKeepBuffer = 16 << 10
)

// wsItem is a queued message; frame marks a complete frame handed over by
// gorilla (a control frame) rather than a text message to frame.
type wsItem struct {
	data  []byte
	frame bool
}

// wsConn is one WebSocket client. Gorilla reads it; everything written to
// it (notifications, responses, control frames) is queued, and whoever
// owns the queue at the time frames what has accumulated and writes it
// (wswrite.go).
type wsConn struct {
	id     string
	srv    *Server
	ws     *websocket.Conn // for reading only
	nc     net.Conn        // the connection as hijacked (a tls.Conn over WSS)
	gc     *gorillaConn    // the socket as gorilla reads it
	shard  *flusher
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	queue   []wsItem
	pending int // messages queued or being written
	pendBy  int // their bytes
	// owned is set while someone is responsible for writing the queue:
	// the goroutine that queued into an idle connection, a flusher, or
	// the connection's slow writer. It is the socket's only writer.
	owned   bool
	closing bool
	// closeMsg is the close frame to end with; nil when the stream may be
	// broken or mid-frame.
	closeMsg []byte
	// ownerGone is closed when the owner at shutdown time lets go.
	ownerGone chan struct{}

	// The owner's.
	spare []wsItem
	nb    nbWrite
	// raw is where the owner writes bytes ready for the wire: nc, or the
	// socket under nc when tls seals what is written (wstls.go).
	raw net.Conn
	tls *wsTLS

	// tok is the token the connection's subscriptions live by (wsauth.go).
	tok connToken

	// The idle sweeper's (transport.go).
	lastPing time.Duration
}

func (c *wsConn) ID() string { return c.id }

// Send queues a notification without blocking and leaves its writing to a
// flusher; a full queue disconnects the client.
func (c *wsConn) Send(msg []byte) bool {
	return c.enqueue(wsItem{data: msg}, false)
}

// reply queues a response. The request's goroutine writes it itself when
// the connection is idle: it can afford a syscall, and a response then
// never waits behind a fan-out.
func (c *wsConn) reply(resp *Response) {
	resp.Room = resp.RequestID
	c.enqueue(wsItem{data: resp.encode()}, true)
}

// sendFrame queues a complete frame written by gorilla, from the reading
// goroutine. A close frame ends the connection: nothing queued after it
// may be sent.
func (c *wsConn) sendFrame(p []byte) (int, error) {
	frame := bytes.Clone(p)
	if isCloseFrame(frame) {
		c.shutdown(frame)
		return len(p), nil
	}
	if !c.enqueue(wsItem{data: frame, frame: true}, true) {
		return 0, net.ErrClosed
	}
	return len(p), nil
}

// enqueue queues it. When the connection was idle, the caller becomes its
// owner: inline, it writes at once what the socket takes; otherwise it
// hands the connection to its flusher.
func (c *wsConn) enqueue(it wsItem, inline bool) bool {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	if c.pending >= wsQueue || c.pendBy+len(it.data) > wsQueueBytes {
		c.mu.Unlock()
		c.dropSlow()
		return false
	}
	c.queue = append(c.queue, it)
	c.pending++
	c.pendBy += len(it.data)
	if c.owned {
		c.mu.Unlock()
		return true
	}
	c.owned = true
	c.mu.Unlock()
	if inline {
		bp := wsBufs.Get().(*[]byte)
		*bp = c.writeRound(*bp)
		wsBufs.Put(bp)
	} else {
		c.shard.push(c)
	}
	return true
}

func (c *wsConn) dropSlow() {
	c.srv.slowDrop.Add(1)
	c.srv.log.Warn("disconnecting a slow WebSocket consumer", "conn", c.id, "queue", wsQueue)
	c.close(websocket.ClosePolicyViolation, "slow consumer: send queue full")
}

func (c *wsConn) close(code int, reason string) {
	c.shutdown(closeFrame(websocket.FormatCloseMessage(code, reason)))
}

// closeFrame returns a whole close frame for a close payload.
func closeFrame(payload []byte) []byte {
	return append(appendFrameHeader(make([]byte, 0, maxFrameHeader+len(payload)), opClose, len(payload)), payload...)
}

// shutdown ends the connection once: queued messages are dropped, and
// frame (a close frame, none if nil) is written once the queue's owner, if
// any, has reached a frame boundary and let go. It never blocks: it may be
// called from a notification dispatch that holds the hub's lock.
func (c *wsConn) shutdown(frame []byte) {
	c.once.Do(func() {
		c.mu.Lock()
		c.closing = true
		c.closeMsg = frame
		clear(c.queue)
		c.queue = c.queue[:0]
		busy := c.owned
		if busy {
			c.ownerGone = make(chan struct{})
		}
		// Nobody takes the queue over from here on: enqueue refuses.
		c.owned = true
		gone := c.ownerGone
		c.mu.Unlock()
		c.cancel()
		c.srv.conns.Delete(c.id)
		go c.finish(gone)
	})
}

func (c *wsConn) finish(ownerGone chan struct{}) {
	clean := true
	if ownerGone != nil {
		// An owner stuck on a full socket gets closeTimeout to finish
		// its frame; closing the socket then fails its write.
		t := time.NewTimer(closeTimeout)
		select {
		case <-ownerGone:
		case <-t.C:
			clean = false
		}
		t.Stop()
	}
	c.mu.Lock()
	msg := c.closeMsg
	c.mu.Unlock()
	if clean && msg != nil {
		wire := msg
		if c.tls != nil {
			bp, err := c.tls.sealClose(msg)
			defer putBuf(bp)
			if wire = *bp; err != nil {
				wire = nil
			}
		}
		if wire != nil {
			// After sealClose: the tls.Conn's close_notify leaves an
			// expired deadline on the socket.
			_ = c.raw.SetWriteDeadline(time.Now().Add(closeTimeout))
			_, _ = c.raw.Write(wire)
		}
	}
	_ = c.ws.Close()
	c.srv.b.Hub().Disconnect(c)
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	hj := &hijacker{ResponseWriter: w}
	ws, err := s.upgrader.Upgrade(hj, r, nil)
	if err != nil {
		return // the upgrader already answered
	}
	ctx, cancel := context.WithCancel(context.Background())
	seq := s.connSeq.Add(1)
	c := &wsConn{id: "ws-" + strconv.FormatUint(seq, 10), srv: s, ws: ws, nc: hj.conn.Conn, gc: hj.conn,
		shard: s.flushers[seq%uint64(len(s.flushers))], ctx: ctx, cancel: cancel}
	hj.conn.lastRead.Store(int64(monotonic()))
	// Without a descriptor to write to without blocking, every write
	// goes to a slow writer.
	c.raw = c.nc
	var raw syscall.RawConn
	if t, sock, rc := sealWS(c.nc); t != nil {
		c.tls, c.raw, raw = t, sock, rc
	} else if sc, ok := c.nc.(syscall.Conn); ok {
		raw, _ = sc.SyscallConn()
	}
	c.nb.init(raw)
	hj.conn.owner.Store(c)
	s.conns.Store(c.id, c)
	ws.SetReadLimit(int64(s.limits.MaxRequestSize) * wsOversizeX)
	s.watchIdle()
	s.watchUpgrades()
	// A goroutine of its own, started small: the handler's, which
	// returns now, has grown a stack serving HTTP and keeps net/http's
	// buffers for the connection alive, kilobytes an idle connection
	// would hold for its whole life.
	go c.readLoop()
}

func (c *wsConn) readLoop() {
	defer c.close(websocket.CloseNormalClosure, "")
	limit := c.srv.limits.MaxRequestSize
	for {
		_, rd, err := c.ws.NextReader()
		if err != nil {
			return
		}
		// The buffer is borrowed for the message only: an idle
		// connection holds none.
		buf := msgBufs.Get().(*bytes.Buffer)
		n, err := io.Copy(buf, io.LimitReader(rd, int64(limit)+1))
		if err != nil || n > int64(limit) {
			putMsgBuf(buf)
			if err != nil {
				return
			}
			// Drain the rest so the socket stays usable, then answer.
			if _, err := io.Copy(io.Discard, rd); err != nil {
				return
			}
			c.reply(errorResponse("", c.srv.b.NodeID(), kerror.New("network.websocket.request_too_large")))
			continue
		}
		data := bytes.TrimSpace(buf.Bytes())
		if string(data) == appPing {
			putMsgBuf(buf)
			c.enqueue(wsItem{data: []byte(appPong)}, true)
			continue
		}
		// DecodeRequest copies what it keeps.
		req, err := DecodeRequest(data)
		putMsgBuf(buf)
		if err != nil {
			c.reply(errorResponse("", c.srv.b.NodeID(), err))
			continue
		}
		req.Protocol = "websocket"
		req.Conn = c
		c.srv.workers.run(func() {
			resp := c.srv.dispatch(c.ctx, req)
			c.bindToken(req, resp)
			c.reply(resp)
		})
	}
}

// msgBufs are the buffers WebSocket messages are read into.
var msgBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// putMsgBuf gives a message buffer back, unless a big message grew it.
func putMsgBuf(b *bytes.Buffer) {
	if b.Cap() <= wsKeepBuffer {
		b.Reset()
		msgBufs.Put(b)
	}
}

// CloseConnections closes every WebSocket connection cleanly (graceful
// shutdown).
func (s *Server) CloseConnections() {
	s.conns.Range(func(_, v any) bool {
		v.(*wsConn).close(websocket.CloseGoingAway, "server shutting down")
		return true
	})
}
