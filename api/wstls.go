package api

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"syscall"
)

// A WebSocket over TLS is written like a plain one: its owner seals what it
// framed into TLS records held in memory (a tlsSink under the tls.Conn),
// then writes those records to the socket without blocking, and leaves what
// the socket did not take to a slow writer. Without this, a tls.Conn can
// only be written with blocking writes, so every response or notification
// took a goroutine of its own, a deadline and a syscall from it (issue 14).
//
// The sink is installed under the tls.Conn once the WebSocket handshake is
// written: from then on every byte the tls.Conn writes (records of the
// owner, and the rare alert or key update its reading side sends) lands in
// the sink in the order the tls.Conn produced it, and reaches the socket
// with the owner's next write.

// tlsSinkIdleMax bounds what the reading side may leave in the sink between
// two writes of the owner: a client asking for key update after key update
// must not grow it for ever.
const tlsSinkIdleMax = 64 << 10

var errTLSSinkFull = errors.New("api: TLS records piling up with no writer")

// tlsSink collects the records a tls.Conn writes.
type tlsSink struct {
	mu      sync.Mutex
	buf     []byte
	sealing bool // an owner is writing through the tls.Conn
}

func (s *tlsSink) write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.sealing && len(s.buf)+len(p) > tlsSinkIdleMax {
		return 0, errTLSSinkFull
	}
	s.buf = append(s.buf, p...)
	return len(p), nil
}

// wsTLS is a WebSocket connection's TLS layer when its records go through a
// sink.
type wsTLS struct {
	tc   *tls.Conn
	sink *tlsSink
}

// sealWS sets up c's writes over TLS: when nc is a tls.Conn over one of
// the server's limitedConns, it returns the TLS layer, the socket under it
// and that socket's descriptor. Otherwise (a tls.Conn over something else)
// it returns nil: every write then goes through the tls.Conn, blocking, on
// a slow writer.
func sealWS(nc net.Conn) (*wsTLS, net.Conn, syscall.RawConn) {
	tc, ok := nc.(*tls.Conn)
	if !ok {
		return nil, nil, nil
	}
	lc, ok := tc.NetConn().(*limitedConn)
	if !ok {
		return nil, nil, nil
	}
	sc, ok := lc.Conn.(syscall.Conn)
	if !ok {
		return nil, nil, nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, nil, nil
	}
	t := &wsTLS{tc: tc, sink: &tlsSink{}}
	lc.sink.Store(t.sink)
	return t, lc.Conn, raw
}

// seal turns plaintext into the TLS records to write, preceded by any the
// reading side left. The result is a pooled buffer: give it back with
// putBuf.
func (t *wsTLS) seal(b []byte) (*[]byte, error) {
	return t.through(func() error {
		_, err := t.tc.Write(b)
		return err
	})
}

// sealClose seals a close frame and then TLS's close_notify: closing the
// tls.Conn later would have nowhere to write the alert.
func (t *wsTLS) sealClose(frame []byte) (*[]byte, error) {
	return t.through(func() error {
		if _, err := t.tc.Write(frame); err != nil {
			return err
		}
		return t.tc.CloseWrite()
	})
}

// through runs write, which writes to the tls.Conn, and returns what
// reached the sink.
func (t *wsTLS) through(write func() error) (*[]byte, error) {
	bp := wsBufs.Get().(*[]byte)
	t.sink.mu.Lock()
	if len(t.sink.buf) == 0 {
		t.sink.buf = (*bp)[:0]
	}
	t.sink.sealing = true
	t.sink.mu.Unlock()
	err := write()
	t.sink.mu.Lock()
	*bp = t.sink.buf
	t.sink.buf = nil
	t.sink.sealing = false
	t.sink.mu.Unlock()
	return bp, err
}

// putBuf gives a pooled buffer back (none: nil), unless a big message
// grew it.
func putBuf(bp *[]byte) {
	if bp == nil || cap(*bp) > 2*wsChunk {
		return
	}
	*bp = (*bp)[:0]
	wsBufs.Put(bp)
}
