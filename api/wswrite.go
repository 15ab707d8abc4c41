package api

import (
	"bytes"
	"runtime"
	"sync"
	"time"
)

// How a connection's queue gets written. Whoever queues into an idle
// connection becomes its owner, the socket's only writer until it lets go:
//
//   - a notification's connection goes to its flusher, one of a few
//     goroutines per server that take connections in turn and write each
//     one's whole queue without blocking. A fan-out to 10,000 connections
//     thus wakes one goroutine instead of 10,000, keeps the run queues
//     short enough for requests and acknowledgements to go on meanwhile,
//     and by the time a connection's turn comes it may have several
//     notifications to write with one syscall;
//   - a response, a pong or a close echo is written at once by the
//     goroutine that produced it, so it never waits behind a fan-out;
//   - when a socket does not take everything, a goroutine of its own
//     (slowWrite) finishes with blocking, deadline-bound writes.
//
// Over TLS the same holds: what is framed is sealed into TLS records in
// memory, and those are what gets written (wstls.go).
//
// Frames are built here; gorilla reads, and the control frames it writes
// come through the queue too (wsframe.go).

const (
	// wsChunk is about how many bytes of frames one write gathers.
	wsChunk = 64 << 10
	// wsSpare is the most queue slots an owner keeps for the next round;
	// a burst's bigger array is let go.
	wsSpare = 256
	// wsYieldEvery is how many connections a flusher writes between
	// yields.
	wsYieldEvery = 32
)

var wsBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, 4096)
	return &b
}}

// stall is where a non-blocking writer stopped: the unwritten end of a
// framed window (a copy), that window's share of the queue bounds, and the
// items not framed yet.
type stall struct {
	rest       []byte
	msgs, size int
	items      []wsItem
}

// pump frames items into windows of about wsChunk bytes and writes each
// with write, releasing a window's share of the queue bounds once it is
// written. A write that leaves bytes unwritten without an error would
// block: pump then returns where it stopped.
func (c *wsConn) pump(buf []byte, items []wsItem, write func([]byte) ([]byte, error)) ([]byte, *stall, error) {
	for len(items) > 0 {
		buf = buf[:0]
		msgs, size := 0, 0
		for len(items) > 0 && (msgs == 0 || len(buf)+maxFrameHeader+len(items[0].data) <= wsChunk) {
			it := items[0]
			if !it.frame {
				buf = appendFrameHeader(buf, opText, len(it.data))
			}
			buf = append(buf, it.data...)
			msgs++
			size += len(it.data)
			items = items[1:]
		}
		rest, err := write(buf)
		if err != nil {
			return trim(buf), nil, err
		}
		if len(rest) > 0 {
			return trim(buf), &stall{rest: rest, msgs: msgs, size: size, items: items}, nil
		}
		c.release(msgs, size)
	}
	return trim(buf), nil, nil
}

// writeNow writes b (sealed first over TLS) without blocking and returns a
// copy of the bytes the socket did not take.
func (c *wsConn) writeNow(b []byte) ([]byte, error) {
	b, bp, err := c.sealed(b)
	defer putBuf(bp)
	if err != nil {
		return nil, err
	}
	n, err := c.nb.write(b)
	if err != nil || n == len(b) {
		return nil, err
	}
	return bytes.Clone(b[n:]), nil
}

// trim lets go of a buffer that a big message grew.
func trim(buf []byte) []byte {
	if cap(buf) > 2*wsChunk {
		return nil
	}
	return buf[:0]
}

func (c *wsConn) release(msgs, size int) {
	c.mu.Lock()
	c.pending -= msgs
	c.pendBy -= size
	c.mu.Unlock()
}

// writeRound is one turn of an owner: it writes the queue without
// blocking. Ownership then ends, or goes back to the flusher (more was
// queued meanwhile) or to a slow writer (the socket is full). buf is
// scratch space, returned for reuse.
func (c *wsConn) writeRound(buf []byte) []byte {
	c.mu.Lock()
	if c.closing {
		c.letGoLocked()
		c.mu.Unlock()
		return buf
	}
	items := c.queue
	c.queue = c.spare[:0]
	c.spare = nil
	c.mu.Unlock()
	buf, st, err := c.pump(buf, items, c.writeNow)
	if err != nil {
		c.fail()
		return buf
	}
	if st != nil {
		go c.slowWrite(st)
		return buf
	}
	clear(items)
	if cap(items) <= wsSpare {
		c.spare = items[:0]
	}
	c.mu.Lock()
	switch {
	case c.closing:
		c.letGoLocked()
		c.mu.Unlock()
	case len(c.queue) > 0:
		c.mu.Unlock()
		c.shard.push(c)
	default:
		c.owned = false
		c.mu.Unlock()
	}
	return buf
}

// slowWrite owns a connection whose socket is full; it writes with
// blocking, deadline-bound writes until the queue is empty.
func (c *wsConn) slowWrite(st *stall) {
	if err := c.writeRaw(st.rest); err != nil {
		c.fail()
		return
	}
	c.release(st.msgs, st.size)
	items := st.items
	var buf []byte
	for {
		var err error
		if buf, _, err = c.pump(buf, items, c.writeBlocking); err != nil {
			c.fail()
			return
		}
		c.mu.Lock()
		switch {
		case c.closing:
			c.letGoLocked()
			c.mu.Unlock()
			return
		case len(c.queue) == 0:
			c.owned = false
			c.mu.Unlock()
			return
		}
		items = c.queue
		c.queue = nil
		c.mu.Unlock()
	}
}

// writeBlocking writes b (sealed first over TLS) with a deadline.
func (c *wsConn) writeBlocking(b []byte) ([]byte, error) {
	b, bp, err := c.sealed(b)
	defer putBuf(bp)
	if err != nil {
		return nil, err
	}
	return nil, c.writeRaw(b)
}

// sealed returns the bytes to write for b: b itself, or over TLS its
// records, in a pooled buffer (bp) to give back with putBuf once written.
func (c *wsConn) sealed(b []byte) (wire []byte, bp *[]byte, err error) {
	if c.tls == nil {
		return b, nil, nil
	}
	bp, err = c.tls.seal(b)
	return *bp, bp, err
}

// writeRaw writes bytes ready for the wire with a deadline.
func (c *wsConn) writeRaw(b []byte) error {
	if err := c.raw.SetWriteDeadline(time.Now().Add(wsWriteWait)); err != nil {
		return err
	}
	_, err := c.raw.Write(b)
	if err == nil && c.nb.raw != nil {
		// The next owner's non-blocking writes must not meet this
		// deadline once it has passed. A connection without them (a
		// tls.Conn written directly: every write comes here and sets its
		// own) need not reset it.
		err = c.raw.SetWriteDeadline(time.Time{})
	}
	return err
}

// fail ends a connection whose socket failed under its owner. The stream
// may have stopped mid-frame, so no close frame follows.
func (c *wsConn) fail() {
	c.shutdown(nil)
	c.mu.Lock()
	c.closeMsg = nil
	c.letGoLocked()
	c.mu.Unlock()
}

// letGoLocked is an owner's exit once the connection is closing: shutdown
// may be waiting for it to write the close frame. c.mu is held.
func (c *wsConn) letGoLocked() {
	if c.ownerGone != nil {
		close(c.ownerGone)
		c.ownerGone = nil
	}
}

// flusher writes the connections handed to it in turn, without blocking.
// Its goroutine runs only while it has work.
type flusher struct {
	mu      sync.Mutex
	list    []*wsConn
	running bool
	// The running goroutine's.
	spare []*wsConn
	buf   []byte
}

func newFlushers(n int) []*flusher {
	fs := make([]*flusher, max(n, 1))
	for i := range fs {
		fs[i] = &flusher{}
	}
	return fs
}

// push hands c, which the caller owns, to the flusher.
func (f *flusher) push(c *wsConn) {
	f.mu.Lock()
	f.list = append(f.list, c)
	if f.running {
		f.mu.Unlock()
		return
	}
	f.running = true
	f.mu.Unlock()
	go f.run()
}

func (f *flusher) run() {
	for {
		f.mu.Lock()
		if len(f.list) == 0 {
			f.running = false
			f.mu.Unlock()
			return
		}
		batch := f.list
		f.list = f.spare[:0]
		f.mu.Unlock()
		for i, c := range batch {
			f.buf = c.writeRound(f.buf)
			batch[i] = nil
			if i%wsYieldEvery == wsYieldEvery-1 {
				// A long pass must not hold a processor while requests
				// and the log wait: each of their hops would otherwise
				// wait for a preemption (10 ms).
				runtime.Gosched()
			}
		}
		f.spare = batch
	}
}
