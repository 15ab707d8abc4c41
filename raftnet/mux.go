package raftnet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// maxPendingHandshakes bounds connections accepted but not yet authenticated.
const maxPendingHandshakes = 128

// mux owns the cluster port: it accepts, authenticates and hands each
// connection to the service its (authenticated) first bytes selected.
type mux struct {
	ln        net.Listener
	advertise string
	auth      *peerAuth
	timeout   time.Duration // handshake bound
	log       *slog.Logger
	serveRPC  func(net.Conn) // runs until the connection dies

	raftCh       chan net.Conn
	handshakes   chan struct{} // semaphore: bounds unauthenticated connections
	closing      chan struct{}
	closeOnce    sync.Once
	wg           sync.WaitGroup
	authFailures atomic.Uint64

	mu    sync.Mutex
	conns map[net.Conn]struct{} // accepted, so Shutdown can cut them
}

func newMux(ln net.Listener, advertise string, auth *peerAuth, timeout time.Duration, log *slog.Logger) *mux {
	return &mux{
		ln:         ln,
		advertise:  advertise,
		auth:       auth,
		timeout:    timeout,
		log:        log,
		raftCh:     make(chan net.Conn),
		handshakes: make(chan struct{}, maxPendingHandshakes),
		closing:    make(chan struct{}),
		conns:      make(map[net.Conn]struct{}),
	}
}

func (m *mux) start() {
	m.wg.Add(1)
	go m.acceptLoop()
}

func (m *mux) acceptLoop() {
	defer m.wg.Done()
	var backoff time.Duration
	for {
		conn, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.closing:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Transient (EMFILE…): back off instead of spinning.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			m.log.Warn("cluster port accept failed", "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-m.closing:
				return
			}
			continue
		}
		backoff = 0
		select {
		case m.handshakes <- struct{}{}:
		default:
			// Someone is opening connections faster than they authenticate;
			// shed the excess instead of piling up goroutines.
			m.authFailures.Add(1)
			m.log.Warn("cluster port: too many pending handshakes, dropping connection", "remote", conn.RemoteAddr().String())
			conn.Close()
			continue
		}
		if !m.track(conn) {
			<-m.handshakes
			conn.Close()
			return
		}
		// One goroutine per connection: the handshake can take up to the
		// timeout and must not hold up the next accept.
		m.wg.Add(1)
		go m.handle(conn)
	}
}

func (m *mux) track(c net.Conn) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case <-m.closing:
		return false
	default:
	}
	m.conns[c] = struct{}{}
	return true
}

func (m *mux) untrack(c net.Conn) {
	m.mu.Lock()
	delete(m.conns, c)
	m.mu.Unlock()
}

func (m *mux) handle(raw net.Conn) {
	defer m.wg.Done()
	raw.SetDeadline(time.Now().Add(m.timeout))
	conn, service, err := m.authenticate(raw)
	<-m.handshakes
	if err != nil {
		select {
		case <-m.closing: // our own shutdown cut it; not the peer's fault
		default:
			m.authFailures.Add(1)
			m.log.Warn("cluster port: rejected connection", "remote", conn.RemoteAddr().String(), "err", err)
		}
		conn.Close()
		m.untrack(raw)
		return
	}
	conn.SetDeadline(time.Time{})
	tc := &trackedConn{Conn: conn, raw: raw, m: m}
	switch service {
	case serviceRaft:
		select {
		case m.raftCh <- tc:
		case <-m.closing:
			tc.Close()
		}
	case serviceRPC:
		m.serveRPC(tc)
	}
}

// close stops accepting and cuts every accepted connection, so peers notice
// at once rather than at their next timeout.
func (m *mux) close() {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		close(m.closing)
		for c := range m.conns {
			// Shutting the read side makes blocked readers (Raft's transport
			// among them) see a clean EOF instead of logging "use of closed
			// network connection" as an error; they close the conn themselves.
			if tc, ok := c.(*net.TCPConn); ok {
				tc.CloseRead()
			} else {
				c.Close()
			}
		}
		m.mu.Unlock()
		m.ln.Close()
	})
	m.wg.Wait()
	// Give Raft's connection goroutines a moment to see their EOF and close
	// their connections themselves; then cut whatever is left.
	deadline := time.Now().Add(time.Second)
	for {
		m.mu.Lock()
		left := len(m.conns)
		if left == 0 || time.Now().After(deadline) {
			for c := range m.conns {
				c.Close()
			}
			m.mu.Unlock()
			return
		}
		m.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
}

// authenticate runs the listener's side of the handshakes on raw: TLS when
// configured, then the secret's inside it. conn is what to speak over.
func (m *mux) authenticate(raw net.Conn) (conn net.Conn, service byte, err error) {
	conn = raw
	if m.auth.server != nil {
		tc := tls.Server(raw, m.auth.server)
		if err := tc.Handshake(); err != nil {
			return tc, 0, tlsAuthError(err)
		}
		conn = tc
	}
	service, err = listenHandshake(conn, m.auth.secret)
	return conn, service, err
}

// trackedConn is an accepted connection handed to a service: closing it
// (the TLS session over raw, or raw itself) forgets raw.
type trackedConn struct {
	net.Conn
	raw  net.Conn // the key in mux.conns
	m    *mux
	once sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.m.untrack(c.raw) })
	return err
}

// dial opens an authenticated connection to addr for service.
// local, when set, is the source address: peers then see a node's
// connections come from its advertised IP, which is what firewall rules
// and the cluster's same-IP checks reason about (on a multi-homed host, or
// on loopback aliases, the kernel would otherwise pick another source).
func dial(ctx context.Context, addr string, auth *peerAuth, service byte, handshakeTimeout time.Duration, local *net.TCPAddr) (net.Conn, error) {
	d := net.Dialer{}
	if local != nil {
		d.LocalAddr = local
	}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("raftnet: dial %s: %w", addr, err)
	}
	deadline := time.Now().Add(handshakeTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	conn.SetDeadline(deadline)
	// Cancellation, not only the deadline, must interrupt a peer that
	// accepted and went silent.
	raw := conn
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	if auth.client != nil {
		tc := tls.Client(raw, auth.client)
		conn = tc
		err = tlsAuthError(tc.Handshake())
	}
	if err == nil {
		// In TLS 1.3 a listener that refuses our certificate says so
		// only now, at our first read: tlsAuthError makes it ErrAuth.
		err = tlsAuthError(dialHandshake(conn, auth.secret, service))
	}
	if !stop() || err != nil {
		conn.Close()
		if err == nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("raftnet: dial %s: %w", addr, err)
	}
	conn.SetDeadline(time.Time{})
	return conn, nil
}

// streamLayer gives Raft's NetworkTransport the authenticated Raft
// connections of the mux and dials peers with the same handshake.
type streamLayer struct {
	m         *mux
	closed    chan struct{}
	closeOnce sync.Once
}

var _ raft.StreamLayer = (*streamLayer)(nil)

func (s *streamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-s.m.raftCh:
		return c, nil
	case <-s.closed:
		return nil, net.ErrClosed
	case <-s.m.closing:
		return nil, net.ErrClosed
	}
}

// Close only stops handing out connections; the listener belongs to the mux,
// which Node.Shutdown closes after Raft.
func (s *streamLayer) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	return nil
}

// Addr is what Raft advertises as this node's address.
func (s *streamLayer) Addr() net.Addr { return advertisedAddr(s.m.advertise) }

func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := dial(ctx, string(address), s.m.auth, serviceRaft, timeout, sourceAddr(s.m.advertise))
	if errors.Is(err, ErrAuth) {
		s.m.log.Warn("cluster port: peer failed authentication", "remote", string(address), "err", err)
	}
	return c, err
}

type advertisedAddr string

func (a advertisedAddr) Network() string { return "tcp" }
func (a advertisedAddr) String() string  { return string(a) }

// sourceAddr returns the address to dial from: the advertised IP when this
// host owns it (always true for 127/8 on Linux), else nil (kernel's choice).
func sourceAddr(advertise string) *net.TCPAddr {
	host, _, err := net.SplitHostPort(advertise)
	if err != nil {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.IsUnspecified() {
		return nil
	}
	if ip.IsLoopback() {
		return &net.TCPAddr{IP: ip}
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return &net.TCPAddr{IP: ip}
		}
	}
	return nil
}
