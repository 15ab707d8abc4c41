package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"sync/atomic"
)

// subscriber is one fan-out subscription on a raw WebSocket connection.
type subscriber struct {
	conn net.Conn
	// fd, once detached, is the socket's descriptor, taken from conn
	// (reactor_linux.go).
	fd       int
	detached bool
	dec      frameDecoder
	// room is the subscription's channel as a JSON string, nil until the
	// subscribe response arrived; subErr is what went wrong with it.
	room   []byte
	subErr error
	// notes counts the deliveries; onNote and onOther are told of each
	// message once the subscription is made.
	notes   atomic.Int64
	onNote  func(n int64)
	onOther func(msg []byte)
	onEnd   func(err error)
}

// subscribe opens a connection and subscribes it with filter, reading the
// response synchronously.
func subscribe(addr, index, coll string, filter any, onNote func(int64), onOther func([]byte), onEnd func(error)) (*subscriber, error) {
	conn, rest, err := dialRaw(addr)
	if err != nil {
		return nil, err
	}
	s := &subscriber{conn: conn, onNote: onNote, onOther: onOther, onEnd: onEnd}
	s.dec.onMessage = s.message
	s.dec.onPing = s.ping
	req, _ := json.Marshal(map[string]any{"controller": "realtime", "action": "subscribe", "index": index,
		"collection": coll, "body": filter, "requestId": "sub"})
	if _, err := conn.Write(appendClientFrame(nil, opText, req)); err != nil {
		conn.Close()
		return nil, err
	}
	buf := make([]byte, 4096)
	for data := rest; s.room == nil && s.subErr == nil; {
		if err := s.dec.feed(data); err != nil {
			conn.Close()
			return nil, err
		}
		if s.room != nil || s.subErr != nil {
			break
		}
		n, err := conn.Read(buf)
		if err != nil {
			conn.Close()
			return nil, err
		}
		data = buf[:n]
	}
	if s.subErr != nil {
		conn.Close()
		return nil, s.subErr
	}
	return s, nil
}

func (s *subscriber) message(_ byte, msg []byte) {
	if s.room == nil {
		var resp struct {
			Result struct {
				Channel string `json:"channel"`
			} `json:"result"`
		}
		if json.Unmarshal(msg, &resp) != nil || resp.Result.Channel == "" {
			s.subErr = fmt.Errorf("subscribe: %s", msg)
			return
		}
		s.room = []byte(`"` + resp.Result.Channel + `"`)
		return
	}
	// A delivery is a complete message whose top-level type is document
	// and room this subscription's channel. No JSON decoding: the load
	// generator shares the node's cores.
	if typ, room, ok := typeAndRoom(msg); ok && string(typ) == `"document"` && bytes.Equal(room, s.room) {
		s.onNote(s.notes.Add(1))
	} else {
		s.onOther(msg)
	}
}

func (s *subscriber) ping(payload []byte) {
	s.write(appendClientFrame(nil, opPong, payload))
}

// end is told that the connection is over (a close frame, an error, the
// end of the stream); its reader has stopped.
func (s *subscriber) end(err error) {
	s.onEnd(err)
}

// readEach reads each subscriber from a goroutine of its own: where there
// is no epoll, or over TLS, whose records a reader of raw descriptors
// could not decrypt.
func readEach(subs []*subscriber) {
	for _, s := range subs {
		go func() {
			buf := make([]byte, 64<<10)
			for {
				n, err := s.conn.Read(buf)
				if err == nil {
					err = s.dec.feed(buf[:n])
				}
				if err != nil {
					s.end(err)
					return
				}
			}
		}()
	}
}
