package raftnet

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Node-to-node calls share the cluster port with Raft. A connection carries
// any number of concurrent calls, matched by id, so 64 callers forwarding to
// the leader do not need 64 connections and a peer's death is noticed by the
// connection's reader at once rather than by the next caller.
//
// Frames are length-prefixed (big endian):
//
//	request:  len u32 | 0 | id u64 | timeout_ns i64 | method_len u16 | method | body
//	response: len u32 | 1 | id u64 | code u8 | body (result, or error text)
//
// The timeout travels with the request so the handler (a forwarded Apply,
// say) gives up when the caller would have.

// Handler serves one RPC method. req and the returned bytes are opaque.
// Returning one of this package's sentinel errors lets the caller match it
// with errors.Is.
type Handler func(ctx context.Context, req []byte) ([]byte, error)

const (
	frameRequest  byte = 0
	frameResponse byte = 1
	maxFrame           = 64 << 20
	// defaultCallTimeout bounds a call whose context has no deadline, so a
	// hung peer cannot keep a goroutine forever.
	defaultCallTimeout = 30 * time.Second
)

// frameWriter serializes frames onto a connection and coalesces concurrent
// ones: a writer that knows another is queued behind it leaves the flush to
// that one, so 64 concurrent calls cost a handful of write syscalls instead
// of 64. The last writer in a burst always flushes.
type frameWriter struct {
	conn   net.Conn
	queued atomic.Int32
	mu     sync.Mutex
	bw     *bufio.Writer
}

func newFrameWriter(conn net.Conn) *frameWriter {
	return &frameWriter{conn: conn, bw: bufio.NewWriterSize(conn, 64<<10)}
}

// write sends one frame. A nil error means the frame was handed to the
// kernel (possibly together with frames queued after it).
func (w *frameWriter) write(deadline time.Time, parts ...[]byte) error {
	w.queued.Add(1)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.conn.SetWriteDeadline(deadline)
	err := appendFrame(w.bw, parts...)
	if w.queued.Add(-1) == 0 || err != nil {
		if ferr := w.bw.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func appendFrame(w *bufio.Writer, parts ...[]byte) error {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if n > maxFrame {
		return fmt.Errorf("raftnet: frame of %d bytes exceeds %d", n, maxFrame)
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(n))
	w.Write(hdr[:])
	for _, p := range parts {
		w.Write(p)
	}
	// bufio keeps the first write error and returns it from every call.
	_, err := w.Write(nil)
	return err
}

func readFrame(r *bufio.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxFrame {
		return nil, fmt.Errorf("raftnet: frame of %d bytes exceeds %d", n, maxFrame)
	}
	buf := make([]byte, n)
	_, err := io.ReadFull(r, buf)
	return buf, err
}

// ---- server side ----

type rpcServer struct {
	log  *slog.Logger
	base context.Context // cancelled at Shutdown

	mu       sync.RWMutex
	handlers map[string]Handler
}

func (s *rpcServer) handle(method string, h Handler) {
	s.mu.Lock()
	s.handlers[method] = h
	s.mu.Unlock()
}

func (s *rpcServer) serveConn(conn net.Conn) {
	ctx, cancel := context.WithCancel(s.base)
	var inflight sync.WaitGroup
	defer conn.Close()
	defer inflight.Wait()
	defer cancel()
	stop := context.AfterFunc(s.base, func() { conn.Close() })
	defer stop()

	br := bufio.NewReader(conn)
	fw := newFrameWriter(conn)
	for {
		f, err := readFrame(br)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && ctx.Err() == nil {
				s.log.Debug("rpc connection ended", "remote", conn.RemoteAddr().String(), "err", err)
			}
			return
		}
		if len(f) < 19 || f[0] != frameRequest {
			s.log.Warn("rpc: malformed request frame", "remote", conn.RemoteAddr().String())
			return
		}
		id := binary.BigEndian.Uint64(f[1:9])
		timeout := time.Duration(binary.BigEndian.Uint64(f[9:17]))
		mlen := int(binary.BigEndian.Uint16(f[17:19]))
		if len(f) < 19+mlen {
			s.log.Warn("rpc: malformed request frame", "remote", conn.RemoteAddr().String())
			return
		}
		method, body := string(f[19:19+mlen]), f[19+mlen:]
		inflight.Add(1)
		go func() {
			defer inflight.Done()
			res, err := s.dispatch(ctx, timeout, method, body)
			if err == nil && len(res)+10 > maxFrame {
				err = fmt.Errorf("raftnet: %s response of %d bytes is too large", method, len(res))
			}
			var hdr [10]byte
			hdr[0] = frameResponse
			binary.BigEndian.PutUint64(hdr[1:9], id)
			if err != nil {
				hdr[9] = errCode(err)
				res = []byte(err.Error())
			}
			if werr := fw.write(time.Now().Add(defaultCallTimeout), hdr[:], res); werr != nil {
				conn.Close() // the reader loop then ends the connection
			}
		}()
	}
}

func (s *rpcServer) dispatch(ctx context.Context, timeout time.Duration, method string, body []byte) (res []byte, err error) {
	// A bug in one handler should fail that call, not the node (as net/http
	// does for HTTP handlers).
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("rpc handler panicked", "method", method, "panic", p, "stack", string(debug.Stack()))
			res, err = nil, fmt.Errorf("raftnet: %s handler panicked: %v", method, p)
		}
	}()
	if ctx.Err() != nil {
		return nil, ErrShutdown
	}
	s.mu.RLock()
	h := s.handlers[method]
	s.mu.RUnlock()
	if h == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownMethod, method)
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	return h(ctx, body)
}

// ---- client side ----

// notSentError marks a failure that happened before the request could reach
// a handler (dial, handshake, write): retrying cannot duplicate it.
type notSentError struct{ err error }

func (e *notSentError) Error() string { return e.err.Error() }
func (e *notSentError) Unwrap() error { return e.err }

func isNotSent(err error) bool {
	var ns *notSentError
	return errors.As(err, &ns)
}

type rpcClient struct {
	local            *net.TCPAddr // source address of outgoing calls, or nil
	auth             *peerAuth
	handshakeTimeout time.Duration
	log              *slog.Logger

	base context.Context // cancelled by close, to abort dials
	stop context.CancelFunc

	mu     sync.Mutex
	peers  map[string]*rpcPeer
	closed bool
}

type rpcPeer struct {
	// sem serializes dialing to this peer; a channel rather than a mutex so
	// callers queued behind a dial that hangs (a partitioned peer) can still
	// leave when their own context ends.
	sem chan struct{}
	cc  *clientConn
}

type clientConn struct {
	conn net.Conn
	addr string

	fw *frameWriter

	mu      sync.Mutex
	next    uint64
	pending map[uint64]chan []byte
	err     error
	dead    chan struct{}
}

func newRPCClient(auth *peerAuth, handshakeTimeout time.Duration, log *slog.Logger) *rpcClient {
	base, stop := context.WithCancel(context.Background())
	return &rpcClient{auth: auth, handshakeTimeout: handshakeTimeout, log: log, base: base, stop: stop, peers: make(map[string]*rpcPeer)}
}

func (c *rpcClient) conn(ctx context.Context, addr string) (*clientConn, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrShutdown
	}
	p := c.peers[addr]
	if p == nil {
		p = &rpcPeer{sem: make(chan struct{}, 1)}
		c.peers[addr] = p
	}
	c.mu.Unlock()

	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("raftnet: waiting to dial %s: %w", addr, ctx.Err())
	}
	defer func() { <-p.sem }()
	if p.cc != nil && p.cc.alive() {
		return p.cc, nil
	}
	dialCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.base, cancel)
	defer stop()
	conn, err := dial(dialCtx, addr, c.auth, serviceRPC, c.handshakeTimeout, c.local)
	if err != nil {
		return nil, err
	}
	cc := &clientConn{conn: conn, addr: addr, fw: newFrameWriter(conn), pending: make(map[uint64]chan []byte), dead: make(chan struct{})}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		conn.Close()
		return nil, ErrShutdown
	}
	p.cc = cc
	c.mu.Unlock()
	go cc.readLoop()
	return cc, nil
}

func (c *rpcClient) close() {
	c.stop() // aborts dials in progress
	c.mu.Lock()
	c.closed = true
	var conns []*clientConn
	for _, p := range c.peers {
		if p.cc != nil { // p.cc is written under c.mu too
			conns = append(conns, p.cc)
		}
	}
	c.peers = map[string]*rpcPeer{}
	c.mu.Unlock()
	for _, cc := range conns {
		cc.fail(ErrShutdown)
	}
}

func (cc *clientConn) alive() bool {
	select {
	case <-cc.dead:
		return false
	default:
		return true
	}
}

func (cc *clientConn) fail(err error) {
	cc.mu.Lock()
	if cc.err == nil {
		cc.err = err
		close(cc.dead)
	}
	cc.mu.Unlock()
	cc.conn.Close()
}

func (cc *clientConn) readLoop() {
	br := bufio.NewReader(cc.conn)
	for {
		f, err := readFrame(br)
		if err != nil {
			cc.fail(fmt.Errorf("raftnet: connection to %s: %w", cc.addr, err))
			return
		}
		if len(f) < 10 || f[0] != frameResponse {
			cc.fail(fmt.Errorf("raftnet: malformed response from %s", cc.addr))
			return
		}
		id := binary.BigEndian.Uint64(f[1:9])
		cc.mu.Lock()
		ch := cc.pending[id]
		delete(cc.pending, id)
		cc.mu.Unlock()
		if ch != nil {
			ch <- f[9:] // buffered; the caller may have left
		}
	}
}

func (c *rpcClient) call(ctx context.Context, addr, method string, req []byte) ([]byte, error) {
	if len(method) > 0xffff || 19+len(method)+len(req) > maxFrame {
		return nil, &notSentError{fmt.Errorf("raftnet: %s request of %d bytes is too large", method, len(req))}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultCallTimeout)
		defer cancel()
	}
	deadline, _ := ctx.Deadline()
	if time.Until(deadline) <= 0 {
		return nil, &notSentError{fmt.Errorf("raftnet: %s to %s: %w", method, addr, context.DeadlineExceeded)}
	}
	cc, err := c.conn(ctx, addr)
	if err != nil {
		return nil, &notSentError{err}
	}

	ch := make(chan []byte, 1)
	cc.mu.Lock()
	cc.next++
	id := cc.next
	cc.pending[id] = ch
	cc.mu.Unlock()
	unregister := func() {
		cc.mu.Lock()
		delete(cc.pending, id)
		cc.mu.Unlock()
	}

	hdr := make([]byte, 19)
	hdr[0] = frameRequest
	binary.BigEndian.PutUint64(hdr[1:9], id)
	binary.BigEndian.PutUint64(hdr[9:17], uint64(max(time.Until(deadline), time.Millisecond)))
	binary.BigEndian.PutUint16(hdr[17:19], uint16(len(method)))
	if err = cc.fw.write(deadline, hdr, []byte(method), req); err != nil {
		// A frame cut short is never dispatched by the server. (A frame
		// queued before ours and reported sent may share this fate; its
		// caller then sees the connection die: unknown outcome, the safe
		// side.)
		unregister()
		cc.fail(err)
		return nil, &notSentError{fmt.Errorf("raftnet: %s to %s: %w", method, addr, err)}
	}

	select {
	case resp := <-ch:
		return decodeResponse(addr, method, resp)
	case <-cc.dead:
		select {
		case resp := <-ch:
			return decodeResponse(addr, method, resp)
		default:
		}
		unregister()
		return nil, unknownOutcome(fmt.Errorf("raftnet: %s to %s: %w", method, addr, cc.err))
	case <-ctx.Done():
		unregister()
		return nil, unknownOutcome(fmt.Errorf("raftnet: %s to %s: %w", method, addr, ctx.Err()))
	}
}

func decodeResponse(addr, method string, resp []byte) ([]byte, error) {
	if resp[0] != codeOK {
		return nil, remoteErr(addr, method, resp[0], string(resp[1:]))
	}
	return resp[1:], nil
}
