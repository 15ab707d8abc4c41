package api

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ConnLimits caps the connections a node holds, so that a flood of them
// cannot use up its file descriptors and memory (limits.maxConnections,
// limits.maxConnectionsPerIp). Zero means no cap.
type ConnLimits struct {
	Max   int // connections open at once, all clients together
	PerIP int // connections open at once from one client address
	// Reserve is how many connections beyond Max are still accepted for
	// health probes, at most one per client address: they may ask for
	// /_ready and /_healthcheck only, are answered once and closed; any
	// other request gets a 503. A load balancer thus still learns the
	// node's state during a flood from other addresses.
	Reserve int
}

// refusalLogEvery bounds the log to one line per interval however many
// connections are refused.
const refusalLogEvery = 10 * time.Second

// ConnStats are a Listener's counters, for logs and metrics.
type ConnStats struct {
	Open         int    // connections open, the reserve's included
	Reserved     int    // of which reserve connections
	Accepted     uint64 // connections accepted since the start
	RefusedTotal uint64 // closed at once for Max (and a full reserve)
	RefusedPerIP uint64 // closed at once for PerIP
}

// Listener enforces ConnLimits at accept time: a connection over a cap is
// closed at once, before any byte is read from it, and counted. Accept
// errors go to the caller unchanged; http.Server backs off on temporary
// ones (EMFILE, ENFILE, ECONNABORTED) and retries.
type Listener struct {
	net.Listener
	lim      ConnLimits
	log      *slog.Logger
	logEvery time.Duration

	mu       sync.Mutex
	open     int // within Max
	reserved int
	byIP     map[netip.Addr]*ipConns

	accepted     atomic.Uint64
	refusedTotal atomic.Uint64
	refusedPerIP atomic.Uint64
	lastLog      atomic.Int64 // monotonic ns of the last refusal logged
	logPending   atomic.Bool  // a summary of suppressed refusals is due
	loggedTotal  atomic.Uint64
	loggedPerIP  atomic.Uint64
}

type ipConns struct {
	n        int // the reserve's included
	reserved int
}

// LimitListener wraps ln with lim.
func LimitListener(ln net.Listener, lim ConnLimits, log *slog.Logger) *Listener {
	return &Listener{Listener: ln, lim: lim, log: log, logEvery: refusalLogEvery, byIP: map[netip.Addr]*ipConns{}}
}

// Stats returns the listener's counters.
func (l *Listener) Stats() ConnStats {
	l.mu.Lock()
	open, reserved := l.open+l.reserved, l.reserved
	l.mu.Unlock()
	return ConnStats{Open: open, Reserved: reserved, Accepted: l.accepted.Load(),
		RefusedTotal: l.refusedTotal.Load(), RefusedPerIP: l.refusedPerIP.Load()}
}

// Accept returns the next connection within the limits.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if lc := l.admit(c); lc != nil {
			l.accepted.Add(1)
			return lc, nil
		}
		_ = c.Close()
		l.logRefusals()
	}
}

// admit counts c in, or returns nil when a cap refuses it.
func (l *Listener) admit(c net.Conn) *limitedConn {
	ip := remoteIP(c)
	l.mu.Lock()
	defer l.mu.Unlock()
	per := l.byIP[ip]
	if per == nil {
		per = &ipConns{}
	}
	if l.lim.PerIP > 0 && per.n >= l.lim.PerIP {
		l.refusedPerIP.Add(1)
		return nil
	}
	reserve := false
	if l.lim.Max > 0 && l.open >= l.lim.Max {
		// One reserve connection per address: a single flooding client
		// cannot take the probes' slots.
		if l.reserved >= l.lim.Reserve || per.reserved > 0 {
			l.refusedTotal.Add(1)
			return nil
		}
		reserve = true
		l.reserved++
		per.reserved++
	} else {
		l.open++
	}
	per.n++
	l.byIP[ip] = per
	return &limitedConn{Conn: c, l: l, ip: ip, reserve: reserve}
}

func (l *Listener) release(ip netip.Addr, reserve bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if reserve {
		l.reserved--
	} else {
		l.open--
	}
	if per := l.byIP[ip]; per != nil {
		per.n--
		if reserve {
			per.reserved--
		}
		if per.n <= 0 {
			delete(l.byIP, ip)
		}
	}
}

// logRefusals logs at most one line per refusalLogEvery, with what was
// refused since the last line; refusals it does not log yet are summed up
// once the interval is over.
func (l *Listener) logRefusals() {
	now := int64(monotonic())
	last := l.lastLog.Load()
	if last != 0 && now-last < int64(l.logEvery) {
		if l.logPending.CompareAndSwap(false, true) {
			time.AfterFunc(time.Duration(last+int64(l.logEvery)-now), func() {
				l.logPending.Store(false)
				l.logRefusals()
			})
		}
		return
	}
	if !l.lastLog.CompareAndSwap(last, now) {
		return
	}
	total, perIP := l.refusedTotal.Load(), l.refusedPerIP.Load()
	dTotal, dPerIP := total-l.loggedTotal.Swap(total), perIP-l.loggedPerIP.Swap(perIP)
	if dTotal == 0 && dPerIP == 0 {
		return
	}
	st := l.Stats()
	l.log.Warn("refusing connections over the limits", "maxConnections", l.lim.Max, "maxConnectionsPerIp", l.lim.PerIP,
		"refusedMax", dTotal, "refusedPerIp", dPerIP, "open", st.Open, "reserved", st.Reserved)
}

func remoteIP(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// limitedConn gives its place back once closed.
type limitedConn struct {
	net.Conn
	l       *Listener
	ip      netip.Addr
	reserve bool
	closed  atomic.Bool
	// sink, once set, takes every write: the TLS records of a WebSocket
	// over TLS, which its owner writes to the socket itself (wstls.go).
	sink atomic.Pointer[tlsSink]
}

func (c *limitedConn) Write(p []byte) (int, error) {
	if s := c.sink.Load(); s != nil {
		return s.write(p)
	}
	return c.Conn.Write(p)
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.l.release(c.ip, c.reserve)
	}
	return err
}

// SyscallConn exposes the socket: WebSocket connections write to it
// without blocking (wswrite_unix.go).
func (c *limitedConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}

// CloseWrite lets net/http half-close before closing, so that a client
// still gets a response it was sent (net/http looks for this method).
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

type reserveKey struct{}

// connContext marks the requests of reserve connections (http.Server's
// ConnContext). Over HTTPS, c is the TLS connection around the limited one.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = tc.NetConn()
	}
	if lc, ok := c.(*limitedConn); ok && lc.reserve {
		return context.WithValue(ctx, reserveKey{}, true)
	}
	return ctx
}

func onReserve(ctx context.Context) bool {
	return ctx.Value(reserveKey{}) != nil
}
