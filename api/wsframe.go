package api

import (
	"bufio"
	"encoding/binary"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// WebSocket opcodes (RFC 6455, 5.2) of the frames the server writes itself.
const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	finBit  = 0x80
	// maxFrameHeader is the longest server frame header: no mask key, a
	// 64-bit length.
	maxFrameHeader = 10
)

// appendFrameHeader appends the header of a final, unmasked server frame
// carrying n payload bytes.
func appendFrameHeader(dst []byte, opcode byte, n int) []byte {
	switch {
	case n < 126:
		return append(dst, finBit|opcode, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, finBit|opcode, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(dst, finBit|opcode, 127), uint64(n))
	}
}

// isCloseFrame reports whether a complete server frame is a close frame.
func isCloseFrame(frame []byte) bool {
	return len(frame) > 0 && frame[0]&0x0f == opClose
}

// gorillaConn is the socket as gorilla's Conn sees it. Gorilla reads
// through it directly, but once the handshake is written its writes (pongs
// from the default ping handler, the echo of a client's close, the close
// frames of protocol errors) become queued frames of the connection's
// writer goroutine, which is then the socket's only writer: its coalesced
// writes and its deadlines are never interleaved with anyone else's.
// Gorilla writes each control frame with a single Write call, so a Write
// is a whole frame.
type gorillaConn struct {
	net.Conn
	owner atomic.Pointer[wsConn] // nil until the handshake is written
	// lastRead is when a read last returned bytes (monotonic()): the
	// idle sweeper's clock, moved by any frame, pongs included.
	lastRead atomic.Int64
}

func (g *gorillaConn) Read(p []byte) (int, error) {
	n, err := g.Conn.Read(p)
	if n > 0 {
		g.lastRead.Store(int64(monotonic()))
	}
	return n, err
}

func (g *gorillaConn) Write(p []byte) (int, error) {
	if c := g.owner.Load(); c != nil {
		return c.sendFrame(p)
	}
	return g.Conn.Write(p)
}

// SetWriteDeadline is ignored once the writer goroutine owns the socket:
// the deadlines that apply are its own.
func (g *gorillaConn) SetWriteDeadline(t time.Time) error {
	if g.owner.Load() != nil {
		return nil
	}
	return g.Conn.SetWriteDeadline(t)
}

// hijacker hands gorilla's Upgrader a gorillaConn instead of the raw
// socket.
type hijacker struct {
	http.ResponseWriter
	conn *gorillaConn
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = &gorillaConn{Conn: nc}
	return h.conn, brw, nil
}
