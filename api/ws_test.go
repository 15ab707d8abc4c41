package api

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/korumdb/korum/realtime"
	"github.com/korumdb/korum/realtime/filter"
	"github.com/korumdb/korum/security"
)

// wsBackend is just enough of a node for the WebSocket transport: the
// calls it does not implement panic through the nil embedded interface.
type wsBackend struct {
	Backend
	hub *realtime.Hub
	sec *memSecurity
}

func (b *wsBackend) SecurityState() *security.State { return b.security().SecurityState() }
func (b *wsBackend) Authenticate(t string) (*security.Identity, error) {
	return b.security().Authenticate(t)
}

// freshSecurity is a fresh node's security, for the tests that build a
// backend without one; nothing changes it.
var freshSecurity = newMemSecurity()

func (b *wsBackend) security() *memSecurity {
	if b.sec == nil {
		return freshSecurity
	}
	return b.sec
}

func (b *wsBackend) NodeID() string       { return "n1" }
func (b *wsBackend) Hub() *realtime.Hub   { return b.hub }
func (b *wsBackend) Ready() error         { return nil }
func (b *wsBackend) Now() time.Time       { return time.Now() }
func (b *wsBackend) Version() string      { return "test" }
func (b *wsBackend) StartedAt() time.Time { return time.Now() }

// newWSBackendServer is a Server over a wsBackend, not serving yet.
func newWSBackendServer() *Server {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b := &wsBackend{hub: realtime.NewHub("n1", filter.New(filter.Options{}), nil, realtime.Limits{}, log), sec: newMemSecurity()}
	return NewServer(b, Limits{MaxRequestSize: 64 << 10}, log)
}

func newWSServer(t testing.TB) (*Server, string) {
	t.Helper()
	s := newWSBackendServer()
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return s, "ws" + strings.TrimPrefix(hs.URL, "http") + "/"
}

// newWSSServer serves WSS the way a node does: TLS over the limiting
// listener, so that TLS records are sealed in memory and written without
// blocking (wstls.go).
func newWSSServer(t testing.TB) (*Server, string) {
	t.Helper()
	s := newWSBackendServer()
	hs := httptest.NewUnstartedServer(s)
	hs.Listener = LimitListener(hs.Listener, ConnLimits{Max: 100, PerIP: 100}, s.log)
	hs.StartTLS()
	t.Cleanup(hs.Close)
	return s, "wss" + strings.TrimPrefix(hs.URL, "https") + "/"
}

// newWSSBlockingServer serves WSS over a tls.Conn that is not over the
// limiting listener: every write is a blocking one on a goroutine of its
// own, as every WSS write was before TLS records were sealed in memory.
func newWSSBlockingServer(t testing.TB) (*Server, string) {
	t.Helper()
	hs := httptest.NewTLSServer(newWSBackendServer())
	t.Cleanup(hs.Close)
	return hs.Config.Handler.(*Server), "wss" + strings.TrimPrefix(hs.URL, "https") + "/"
}

// overWSAndWSS runs a test of the WebSocket writer over plain WebSocket
// and over WSS.
func overWSAndWSS(t *testing.T, test func(*testing.T, func(testing.TB) (*Server, string))) {
	t.Run("ws", func(t *testing.T) { test(t, newWSServer) })
	t.Run("wss", func(t *testing.T) { test(t, newWSSServer) })
}

// dialWS connects a gorilla client and returns it with the server's side
// of the connection.
func dialWS(t testing.TB, s *Server, url string) (*websocket.Conn, *wsConn) {
	t.Helper()
	if strings.HasPrefix(url, "wss:") {
		// The test's own server, with httptest's certificate.
		d := *websocket.DefaultDialer
		d.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
		return dialWSWith(t, s, url, &d)
	}
	return dialWSWith(t, s, url, websocket.DefaultDialer)
}

func dialWSWith(t testing.TB, s *Server, url string, d *websocket.Dialer) (*websocket.Conn, *wsConn) {
	t.Helper()
	before := map[any]bool{}
	s.conns.Range(func(k, _ any) bool { before[k] = true; return true })
	ws, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	var c *wsConn
	waitFor(t, "the server's connection", func() bool {
		s.conns.Range(func(k, v any) bool {
			if !before[k] {
				c = v.(*wsConn)
			}
			return c == nil
		})
		return c != nil
	})
	return ws, c
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func readText(t *testing.T, ws *websocket.Conn) []byte {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	typ, data, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("reading: %v", err)
	}
	if typ != websocket.TextMessage {
		t.Fatalf("message type %d, want text", typ)
	}
	return data
}

func payload(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + (seed+byte(i))%26
	}
	return b
}

// Every length class of the frame header (7, 16 and 64 bits, and their
// edges) arrives intact and in order, whether written one by one or
// coalesced.
func TestWSFramesOfEveryLength(t *testing.T) { overWSAndWSS(t, testWSFramesOfEveryLength) }

func testWSFramesOfEveryLength(t *testing.T, newServer func(testing.TB) (*Server, string)) {
	s, url := newServer(t)
	ws, c := dialWS(t, s, url)
	sizes := []int{0, 1, 125, 126, 127, 1000, 65535, 65536, 65537, wsChunk - 1, wsChunk, 3*wsChunk + 7, 1 << 20}
	var sent [][]byte
	for i, n := range sizes {
		msg := payload(n, byte(i))
		sent = append(sent, msg)
		if !c.Send(msg) {
			t.Fatalf("send %d bytes refused", n)
		}
	}
	// The same again, read one at a time so each goes out alone.
	for i, n := range sizes {
		msg := payload(n, byte(i+7))
		if !c.Send(msg) {
			t.Fatalf("send %d bytes refused", n)
		}
		sent = append(sent, msg)
		if got := readText(t, ws); !bytes.Equal(got, sent[i]) {
			t.Fatalf("message %d: %d bytes, want %d", i, len(got), len(sent[i]))
		}
	}
	for i := len(sizes); i < len(sent); i++ {
		if got := readText(t, ws); !bytes.Equal(got, sent[i]) {
			t.Fatalf("message %d: %d bytes, want %d", i, len(got), len(sent[i]))
		}
	}
}

// A client that reads late makes the socket fill; what was queued then is
// written by blocking writes, still whole and in order.
func TestWSFullSocketKeepsOrder(t *testing.T) { overWSAndWSS(t, testWSFullSocketKeepsOrder) }

func testWSFullSocketKeepsOrder(t *testing.T, newServer func(testing.TB) (*Server, string)) {
	s, url := newServer(t)
	ws, c := dialWS(t, s, url)
	const n = 2000
	for i := range n {
		msg := fmt.Appendf(nil, "%06d:%s", i, payload(8<<10, byte(i)))
		if !c.Send(msg) {
			t.Fatalf("send %d refused", i)
		}
	}
	for i := range n {
		got := readText(t, ws)
		if want := fmt.Sprintf("%06d:", i); !bytes.HasPrefix(got, []byte(want)) || len(got) != 8<<10+7 {
			t.Fatalf("message %d: %.20q (%d bytes)", i, got, len(got))
		}
	}
	if got := s.SlowConsumersDropped(); got != 0 {
		t.Fatalf("%d slow consumers dropped", got)
	}
}

// Notifications from several goroutines, responses and pongs interleave
// without corrupting the stream; each sender's messages keep their order.
func TestWSConcurrentWriters(t *testing.T) { overWSAndWSS(t, testWSConcurrentWriters) }

func testWSConcurrentWriters(t *testing.T, newServer func(testing.TB) (*Server, string)) {
	s, url := newServer(t)
	ws, c := dialWS(t, s, url)
	const senders, each = 8, 300
	pongs := make(chan string, 100)
	ws.SetPongHandler(func(p string) error { pongs <- p; return nil })
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			for i := range each {
				c.Send(fmt.Appendf(nil, `{"g":%d,"i":%d,"pad":"%s"}`, g, i, payload(i%700, byte(g))))
			}
		})
	}
	wg.Go(func() {
		for i := range 20 {
			c.reply(&Response{RequestID: fmt.Sprintf("r%d", i), Status: 200})
		}
	})
	if err := ws.WriteControl(websocket.PingMessage, []byte("p1"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte(appPing)); err != nil {
		t.Fatal(err)
	}
	next := make([]int, senders)
	replies, appPongs := 0, 0
	for total := 0; total < senders*each+20+1; total++ {
		got := readText(t, ws)
		var g, i int
		switch {
		case string(got) == appPong:
			appPongs++
		case bytes.HasPrefix(got, []byte(`{"requestId":"r`)):
			replies++
		default:
			if _, err := fmt.Sscanf(string(got), `{"g":%d,"i":%d,`, &g, &i); err != nil {
				t.Fatalf("unexpected message %.60q", got)
			}
			if i != next[g] {
				t.Fatalf("sender %d: message %d after %d", g, i, next[g]-1)
			}
			next[g]++
		}
	}
	wg.Wait()
	if replies != 20 || appPongs != 1 {
		t.Fatalf("%d replies, %d application pongs", replies, appPongs)
	}
	select {
	case p := <-pongs:
		if p != "p1" {
			t.Fatalf("pong %q", p)
		}
	default:
		t.Fatal("no pong for the ping")
	}
}

func closeCode(t *testing.T, ws *websocket.Conn) (int, string) {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("no close frame: %v", err)
		}
		return ce.Code, ce.Text
	}
}

func gone(s *Server, c *wsConn) func() bool {
	return func() bool {
		_, ok := s.conns.Load(c.id)
		return !ok
	}
}

// A client's close is echoed with its code, after which the server drops
// the connection and refuses to queue more.
func TestWSClientClose(t *testing.T) { overWSAndWSS(t, testWSClientClose) }

func testWSClientClose(t *testing.T, newServer func(testing.TB) (*Server, string)) {
	s, url := newServer(t)
	ws, c := dialWS(t, s, url)
	if err := ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4001, "bye"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if code, _ := closeCode(t, ws); code != 4001 {
		t.Fatalf("close echo %d, want 4001", code)
	}
	waitFor(t, "the connection to go", gone(s, c))
	if c.Send([]byte("late")) {
		t.Fatal("a closed connection accepted a message")
	}
}

func TestWSServerShutdownSendsGoingAway(t *testing.T) {
	overWSAndWSS(t, testWSServerShutdownSendsGoingAway)
}

func testWSServerShutdownSendsGoingAway(t *testing.T, newServer func(testing.TB) (*Server, string)) {
	s, url := newServer(t)
	ws, c := dialWS(t, s, url)
	c.Send([]byte(`{"before":"close"}`))
	if got := readText(t, ws); string(got) != `{"before":"close"}` {
		t.Fatalf("got %q", got)
	}
	s.CloseConnections()
	if code, text := closeCode(t, ws); code != websocket.CloseGoingAway || text != "server shutting down" {
		t.Fatalf("close %d %q", code, text)
	}
	waitFor(t, "the connection to go", gone(s, c))
}

// Gorilla's own close frames (a protocol error, an oversized message) go
// through the connection's queue like everything else.
func TestWSProtocolErrorsClose(t *testing.T) { overWSAndWSS(t, testWSProtocolErrorsClose) }

func testWSProtocolErrorsClose(t *testing.T, newServer func(testing.TB) (*Server, string)) {
	s, url := newServer(t)
	for _, tc := range []struct {
		name string
		send func(*websocket.Conn) error
		code int
	}{
		{"reserved opcode", func(ws *websocket.Conn) error {
			// Masked frame, opcode 3, empty payload.
			_, err := ws.NetConn().Write([]byte{0x83, 0x80, 1, 2, 3, 4})
			return err
		}, websocket.CloseProtocolError},
		{"oversized message", func(ws *websocket.Conn) error {
			return ws.WriteMessage(websocket.TextMessage, make([]byte, 64<<10*wsOversizeX+1))
		}, websocket.CloseMessageTooBig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws, c := dialWS(t, s, url)
			if err := tc.send(ws); err != nil {
				t.Fatal(err)
			}
			if code, _ := closeCode(t, ws); code != tc.code {
				t.Fatalf("close %d, want %d", code, tc.code)
			}
			waitFor(t, "the connection to go", gone(s, c))
		})
	}
}

// A client that never reads fills its queue and is disconnected; the
// sender never blocks.
func TestWSSlowConsumerIsDropped(t *testing.T) { overWSAndWSS(t, testWSSlowConsumerIsDropped) }

func testWSSlowConsumerIsDropped(t *testing.T, newServer func(testing.TB) (*Server, string)) {
	s, url := newServer(t)
	ws, c := dialWS(t, s, url)
	slowConsumerIsDropped(t, s, ws, c)
}

// Over a tls.Conn that is not over the limiting listener, every write is a
// blocking one on a writer goroutine of its own (no socket to seal records
// for and write without blocking): the same holds.
func TestWSSSlowConsumerIsDropped(t *testing.T) {
	s, url := newWSSBlockingServer(t)
	ws, c := dialWS(t, s, url)
	if c.nb.raw != nil {
		t.Fatal("a TLS connection got a raw descriptor to write to")
	}
	slowConsumerIsDropped(t, s, ws, c)
}

// WSS through the node's listener seals TLS records in memory and writes
// them to the socket without blocking, like plain WebSocket.
func TestWSSWritesWithoutBlocking(t *testing.T) {
	s, url := newWSSServer(t)
	ws, c := dialWS(t, s, url)
	if c.tls == nil || c.nb.raw == nil {
		t.Fatal("a WSS connection through the limiting listener is not written without blocking")
	}
	c.Send([]byte(`{"a":1}`))
	if got := readText(t, ws); string(got) != `{"a":1}` {
		t.Fatalf("got %q", got)
	}
}

// What a tls.Conn writes outside an owner's turn (an alert, a key update
// its reading side answers) waits in the sink for the owner's next write,
// within a bound: a client cannot make it grow for ever. An owner's
// records are not bounded there (the queue bounds them).
func TestTLSSinkBoundsWritesBetweenOwners(t *testing.T) {
	var s tlsSink
	if _, err := s.write(make([]byte, tlsSinkIdleMax)); err != nil {
		t.Fatalf("within the bound: %v", err)
	}
	if _, err := s.write([]byte{1}); err == nil {
		t.Fatal("the sink grew past its bound with no owner writing")
	}
	s.sealing = true
	if _, err := s.write(make([]byte, 2*tlsSinkIdleMax)); err != nil {
		t.Fatalf("an owner's records: %v", err)
	}
}

func slowConsumerIsDropped(t *testing.T, s *Server, ws *websocket.Conn, c *wsConn) {
	t.Helper()
	msg := payload(64<<10, 1)
	sent := 0
	for c.Send(msg) {
		sent++
		if sent > 2*wsQueueBytes/len(msg) {
			t.Fatal("the queue never filled")
		}
	}
	if got := s.SlowConsumersDropped(); got != 1 {
		t.Fatalf("%d slow consumers dropped, want 1", got)
	}
	waitFor(t, "the connection to go", gone(s, c))
	// What the socket held arrives whole; then the connection ends,
	// whether or not the stuck writer could still send a close frame.
	for {
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, got, err := ws.ReadMessage()
		if err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the connection was never closed")
			}
			break
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("a %d-byte message arrived corrupt", len(got))
		}
	}
}

func TestAppendFrameHeader(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want []byte
	}{
		{0, []byte{0x81, 0}},
		{125, []byte{0x81, 125}},
		{126, []byte{0x81, 126, 0, 126}},
		{0xffff, []byte{0x81, 126, 0xff, 0xff}},
		{0x10000, []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
	} {
		if got := appendFrameHeader(nil, opText, tc.n); !bytes.Equal(got, tc.want) {
			t.Errorf("%d: % x, want % x", tc.n, got, tc.want)
		}
	}
	if got := closeFrame(websocket.FormatCloseMessage(1000, "")); !bytes.Equal(got, []byte{0x88, 2, 0x03, 0xe8}) {
		t.Errorf("close frame % x", got)
	}
}

// A socket that fails under its writer ends the connection, with no close
// frame after a stream that may have stopped mid-frame.
func TestWSWriteErrorEndsConnection(t *testing.T) {
	s, url := newWSServer(t)
	_, c := dialWS(t, s, url)
	// Writes fail from now on; reads go on, so only the writer notices.
	if err := c.nc.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.Send([]byte("lost"))
	waitFor(t, "the connection to go", gone(s, c))
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closing || c.closeMsg != nil {
		t.Fatalf("closing %v, close frame % x", c.closing, c.closeMsg)
	}
}
