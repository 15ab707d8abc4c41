package main

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// A minimal WebSocket client (RFC 6455) for the fan-out's subscribers: the
// handshake, masked client frames and a decoder of server frames that works
// on whatever bytes a read returned. With it, one goroutine can serve
// thousands of subscriber sockets (reactor_linux.go), so the load
// generator spends its share of the two cores on reading notifications
// rather than on scheduling a goroutine per socket.

const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xa
	// maxMessage bounds a reassembled message: a corrupt length must not
	// make the client allocate without limit.
	maxMessage = 64 << 20
)

var errClosed = errors.New("websocket: close frame received")

// rawTLS, when set (from -cacert, before any dial), makes dialRaw connect
// with WSS.
var rawTLS *tls.Config

// dialRaw opens a WebSocket connection to ws://addr/ (wss:// with rawTLS).
// rest holds any bytes the server sent after its handshake response, to be
// decoded first.
func dialRaw(addr string) (conn net.Conn, rest []byte, err error) {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if rawTLS != nil {
		conn, err = tls.DialWithDialer(d, "tcp", addr, rawTLS)
	} else {
		conn, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			conn.Close()
		}
	}()
	var key [16]byte
	_, _ = rand.Read(key[:])
	k := base64.StdEncoding.EncodeToString(key[:])
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err = fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", addr, k); err != nil {
		return nil, nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != acceptKey(k) {
		return nil, nil, fmt.Errorf("websocket handshake: %s", resp.Status)
	}
	_ = conn.SetDeadline(time.Time{})
	if n := br.Buffered(); n > 0 {
		rest, _ = br.Peek(n)
		rest = append([]byte(nil), rest...)
	}
	return conn, rest, nil
}

func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// appendClientFrame appends a final frame, masked as a client's must be.
func appendClientFrame(dst []byte, opcode byte, payload []byte) []byte {
	n := len(payload)
	switch {
	case n < 126:
		dst = append(dst, 0x80|opcode, 0x80|byte(n))
	case n <= 0xffff:
		dst = binary.BigEndian.AppendUint16(append(dst, 0x80|opcode, 0x80|126), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint64(append(dst, 0x80|opcode, 0x80|127), uint64(n))
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	dst = append(dst, mask[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	for i := range dst[start:] {
		dst[start+i] ^= mask[i&3]
	}
	return dst
}

// frameDecoder turns the bytes a server sends into messages. Fragmented
// messages are reassembled; control frames may come between fragments.
type frameDecoder struct {
	pending []byte // the start of a frame that a read cut
	msg     []byte // a fragmented message so far
	msgOp   byte
	inMsg   bool
	// onMessage gets each complete text or binary message; the slice is
	// only valid during the call.
	onMessage func(op byte, payload []byte)
	// onPing gets each ping's payload, for the caller to answer.
	onPing func(payload []byte)
}

// feed decodes p. It returns errClosed after a close frame and another
// error when the stream breaks the protocol; the connection is then done.
func (d *frameDecoder) feed(p []byte) error {
	data := p
	if len(d.pending) > 0 {
		d.pending = append(d.pending, p...)
		data = d.pending
	}
	for len(data) > 0 {
		n, err := d.frame(data)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		data = data[n:]
	}
	if len(data) == 0 {
		d.pending = d.pending[:0]
		return nil
	}
	if len(d.pending) > 0 {
		// data is a suffix of pending: move it down.
		d.pending = d.pending[:copy(d.pending, data)]
	} else {
		d.pending = append(d.pending[:0], data...)
	}
	return nil
}

// frame handles the frame at the start of b and returns its length, or 0
// when b does not hold all of it yet.
func (d *frameDecoder) frame(b []byte) (int, error) {
	if len(b) < 2 {
		return 0, nil
	}
	fin, op := b[0]&0x80 != 0, b[0]&0x0f
	if b[0]&0x70 != 0 {
		return 0, errors.New("websocket: reserved bits set")
	}
	if b[1]&0x80 != 0 {
		return 0, errors.New("websocket: masked server frame")
	}
	size, hdr := uint64(b[1]&0x7f), 2
	switch size {
	case 126:
		if len(b) < 4 {
			return 0, nil
		}
		size, hdr = uint64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return 0, nil
		}
		size, hdr = binary.BigEndian.Uint64(b[2:]), 10
	}
	if op >= opClose && (!fin || size > 125) {
		return 0, errors.New("websocket: bad control frame")
	}
	if size > maxMessage || (op == opContinuation && uint64(len(d.msg))+size > maxMessage) {
		return 0, errors.New("websocket: message too big")
	}
	if uint64(len(b)-hdr) < size {
		return 0, nil
	}
	end := hdr + int(size)
	payload := b[hdr:end]
	switch op {
	case opText, opBinary:
		if d.inMsg {
			return 0, errors.New("websocket: message inside a fragmented one")
		}
		if fin {
			d.onMessage(op, payload)
		} else {
			d.msg, d.msgOp, d.inMsg = append(d.msg[:0], payload...), op, true
		}
	case opContinuation:
		if !d.inMsg {
			return 0, errors.New("websocket: continuation without a message")
		}
		d.msg = append(d.msg, payload...)
		if fin {
			d.inMsg = false
			d.onMessage(d.msgOp, d.msg)
		}
	case opClose:
		return 0, errClosed
	case opPing:
		if d.onPing != nil {
			d.onPing(payload)
		}
	case opPong:
	default:
		return 0, fmt.Errorf("websocket: unknown opcode %d", op)
	}
	return end, nil
}
