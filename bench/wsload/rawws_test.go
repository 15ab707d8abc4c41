package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

type decoded struct {
	msgs  []string
	pings []string
}

func newDecoder(out *decoded) *frameDecoder {
	return &frameDecoder{
		onMessage: func(op byte, p []byte) { out.msgs = append(out.msgs, fmt.Sprintf("%d:%s", op, p)) },
		onPing:    func(p []byte) { out.pings = append(out.pings, string(p)) },
	}
}

// The decoder reads what gorilla's server writes: every length class,
// fragmented messages (gorilla fragments past its write buffer) with a
// ping between fragments, binary messages and the close, however the
// reads cut the stream.
func TestFrameDecoderReadsGorilla(t *testing.T) {
	var want []string
	sizes := []int{0, 1, 125, 126, 127, 300, 65535, 65536, 70000}
	for i, n := range sizes {
		want = append(want, fmt.Sprintf("%d:%s", websocket.TextMessage, strings.Repeat(string(rune('a'+i)), n)))
	}
	want = append(want, fmt.Sprintf("%d:%s", websocket.BinaryMessage, "\x00\x01\x02"))
	up := websocket.Upgrader{WriteBufferSize: 256}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for i, n := range sizes {
			wr, err := ws.NextWriter(websocket.TextMessage)
			if err != nil {
				return
			}
			msg := []byte(strings.Repeat(string(rune('a'+i)), n))
			_, _ = wr.Write(msg[:n/2])
			if n == 300 {
				// Between the fragments of a message.
				_ = ws.WriteControl(websocket.PingMessage, []byte("mid"), time.Now().Add(time.Second))
			}
			_, _ = wr.Write(msg[n/2:])
			_ = wr.Close()
		}
		_ = ws.WriteMessage(websocket.BinaryMessage, []byte{0, 1, 2})
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
	}))
	defer srv.Close()
	for _, piece := range []int{5, 4096, 1 << 20} {
		conn, rest, err := dialRaw(strings.TrimPrefix(srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		var out decoded
		d := newDecoder(&out)
		err = d.feed(rest)
		buf := make([]byte, piece)
		for err == nil {
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			var n int
			if n, err = conn.Read(buf); err == nil {
				err = d.feed(buf[:n])
			}
		}
		conn.Close()
		if !errors.Is(err, errClosed) {
			t.Fatalf("reads of %d: ended with %v", piece, err)
		}
		if len(out.msgs) != len(want) {
			t.Fatalf("reads of %d: %d messages, want %d", piece, len(out.msgs), len(want))
		}
		for i := range want {
			if out.msgs[i] != want[i] {
				t.Fatalf("reads of %d: message %d is %.40q, want %.40q", piece, i, out.msgs[i], want[i])
			}
		}
		if len(out.pings) != 1 || out.pings[0] != "mid" {
			t.Fatalf("reads of %d: pings %q", piece, out.pings)
		}
	}
}

func TestFrameDecoderRejectsProtocolErrors(t *testing.T) {
	for name, in := range map[string][]byte{
		"masked":                {0x81, 0x81, 1, 2, 3, 4, 'x'},
		"reserved bits":         {0xc1, 0},
		"fragmented control":    {0x09, 0},
		"long control":          append([]byte{0x89, 126, 0, 126}, make([]byte, 126)...),
		"lone continuation":     {0x80, 0},
		"message in a fragment": {0x01, 1, 'a', 0x81, 1, 'b'},
		"unknown opcode":        {0x83, 0},
		"too big":               {0x81, 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	} {
		var out decoded
		if err := newDecoder(&out).feed(in); err == nil || errors.Is(err, errClosed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestClientFramesAreMasked(t *testing.T) {
	p := []byte(strings.Repeat("payload", 40))
	f := appendClientFrame(nil, opText, p)
	if f[0] != 0x81 || f[1] != 0x80|126 || int(f[2])<<8|int(f[3]) != len(p) {
		t.Fatalf("header % x", f[:4])
	}
	mask, body := f[4:8], f[8:]
	for i := range body {
		body[i] ^= mask[i&3]
	}
	if !bytes.Equal(body, p) {
		t.Fatal("payload does not unmask")
	}
}

// FuzzFrameDecoder feeds a stream whole and cut into pieces: the decoder
// must not panic and must decode the same messages either way.
func FuzzFrameDecoder(f *testing.F) {
	f.Add([]byte{0x81, 2, 'h', 'i', 0x01, 1, 'a', 0x89, 0, 0x80, 1, 'b', 0x88, 0}, uint16(3))
	f.Add(append([]byte{0x82, 126, 0, 200}, make([]byte, 200)...), uint16(1))
	f.Add([]byte{0x81, 127, 0, 0, 0, 0, 0, 0, 0, 1, 'x'}, uint16(5))
	f.Fuzz(func(t *testing.T, stream []byte, cut uint16) {
		var whole decoded
		errWhole := newDecoder(&whole).feed(stream)
		var pieces decoded
		d := newDecoder(&pieces)
		var errPieces error
		step := int(cut%64) + 1
		for i := 0; i < len(stream) && errPieces == nil; i += step {
			errPieces = d.feed(stream[i:min(i+step, len(stream))])
		}
		if (errWhole == nil) != (errPieces == nil) {
			t.Fatalf("whole: %v, in pieces of %d: %v", errWhole, step, errPieces)
		}
		if fmt.Sprint(whole) != fmt.Sprint(pieces) {
			t.Fatalf("whole: %q, in pieces of %d: %q", whole, step, pieces)
		}
	})
}
