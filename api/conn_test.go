package api

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/korumdb/korum/realtime"
	"github.com/korumdb/korum/realtime/filter"
)

// serveTransport serves a test server on a real loopback listener with t's
// timeouts and lim's caps.
func serveTransport(t *testing.T, tr Transport, lim ConnLimits) (*Server, *Listener, string) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b := &wsBackend{hub: realtime.NewHub("n1", filter.New(filter.Options{}), nil, realtime.Limits{}, log)}
	s := NewServer(b, Limits{MaxRequestSize: 1 << 20}, log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := LimitListener(ln, lim, log)
	hs := s.HTTPServer(tr)
	go func() { _ = hs.Serve(l) }()
	t.Cleanup(func() {
		s.CloseConnections()
		_ = hs.Close()
	})
	return s, l, ln.Addr().String()
}

// dialFrom opens a connection from a given loopback address.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedBy reports whether the server closed c before a generous deadline:
// a read ends with EOF or a reset, not with the test's own timeout, and
// returns no response.
func closedBy(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 512)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			t.Fatalf("got %q, want the connection closed", buf[:n])
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the server did not close the connection")
		}
		if err != nil {
			return
		}
	}
}

// get sends a GET on c and reads its response.
func get(t *testing.T, c net.Conn, br *bufio.Reader, path string) *http.Response {
	t.Helper()
	resp, _ := getBody(t, c, br, path)
	return resp
}

func getBody(t *testing.T, c net.Conn, br *bufio.Reader, path string) (*http.Response, string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: korum\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_ = c.SetDeadline(time.Time{})
	return resp, string(body)
}

// A POST that declares a big body and trickles it is cut off by the read
// timeout.
func TestHTTPSlowBodyIsClosed(t *testing.T) {
	_, _, addr := serveTransport(t, Transport{ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 300 * time.Millisecond}, ConnLimits{})
	c := dialFrom(t, "", addr)
	if _, err := io.WriteString(c, "POST /_query HTTP/1.1\r\nHost: korum\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if _, err := c.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	closedBy(t, c)
	close(stop)
	wg.Wait()
}

// A request whose body arrives in time still gets its answer, however long
// it then takes: the read deadline no longer applies once the body is in.
func TestHTTPBodyInTimeIsAnswered(t *testing.T) {
	_, _, addr := serveTransport(t, Transport{ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}, ConnLimits{})
	c := dialFrom(t, "", addr)
	body := `{"controller":"server","action":"nope"}`
	if _, err := io.WriteString(c, "POST /_query HTTP/1.1\r\nHost: korum\r\nContent-Type: application/json\r\nContent-Length: "+
		strconv.Itoa(len(body))+"\r\n\r\n"+body); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status %d, want 404 (unknown action)", resp.StatusCode)
	}
}

// A keep-alive connection that asks nothing more is closed after the idle
// timeout.
func TestHTTPIdleKeepAliveIsClosed(t *testing.T) {
	_, _, addr := serveTransport(t, Transport{ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second, IdleTimeout: 200 * time.Millisecond}, ConnLimits{})
	c := dialFrom(t, "", addr)
	br := bufio.NewReader(c)
	if resp := get(t, c, br, "/_healthcheck"); resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("status %d, close %v: want a kept-alive 200", resp.StatusCode, resp.Close)
	}
	closedBy(t, c)
}

// reading reads ws in the background (which answers pings) and delivers
// its messages.
func reading(ws *websocket.Conn) <-chan []byte {
	ch := make(chan []byte, 16)
	go func() {
		defer close(ch)
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			ch <- data
		}
	}()
	return ch
}

// A client that answers the server's pings stays however long it says
// nothing else; a half-open one, which answers nothing, is dropped.
func TestWSIdleHalfOpenDroppedLiveKept(t *testing.T) {
	const idle = 1500 * time.Millisecond
	s, _, addr := serveTransport(t, Transport{WSIdleTimeout: idle, WSPings: true}, ConnLimits{})
	live, liveC := dialWS(t, s, "ws://"+addr+"/")
	msgs := reading(live)
	_, deadC := dialWS(t, s, "ws://"+addr+"/") // never read: its pings go unanswered
	waitFor(t, "the half-open connection to be dropped", gone(s, deadC))
	if s.IdleDropped() == 0 {
		t.Fatal("the drop was not counted")
	}
	// The live client has now been connected longer than the idle
	// timeout with nothing but pongs to say.
	if gone(s, liveC)() {
		t.Fatal("the client answering pings was dropped")
	}
	if err := live.WriteMessage(websocket.TextMessage, []byte(appPing)); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-msgs:
		if string(m) != appPong {
			t.Fatalf("got %q, want %s", m, appPong)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no pong from the server")
	}
}

// Without server pings (sendPingsAutomatically false, Kuzzle's default), a
// client that only listens is dropped after the idle timeout, and told so.
func TestWSIdleWithoutPingsDropsSilentClient(t *testing.T) {
	s, _, addr := serveTransport(t, Transport{WSIdleTimeout: 300 * time.Millisecond}, ConnLimits{})
	ws, c := dialWS(t, s, "ws://"+addr+"/")
	if code, text := closeCode(t, ws); code != websocket.CloseGoingAway || text != "idle timeout" {
		t.Fatalf("close %d %q, want 1001 idle timeout", code, text)
	}
	waitFor(t, "the connection to go", gone(s, c))
}

// The WebSocket connection outlives the HTTP read timeout of its upgrade
// request: the hijacked socket has no deadline left.
func TestWSOutlivesHTTPReadTimeout(t *testing.T) {
	s, _, addr := serveTransport(t, Transport{ReadHeaderTimeout: 100 * time.Millisecond, ReadTimeout: 100 * time.Millisecond,
		WSIdleTimeout: time.Minute, WSPings: true}, ConnLimits{})
	ws, c := dialWS(t, s, "ws://"+addr+"/")
	msgs := reading(ws)
	// Wait past the read timeout on the server's clock: the sweeper's
	// view of the connection's silence.
	waitFor(t, "the read timeout to pass", func() bool {
		return monotonic()-time.Duration(c.gc.lastRead.Load()) > 300*time.Millisecond
	})
	if err := ws.WriteMessage(websocket.TextMessage, []byte(appPing)); err != nil {
		t.Fatal(err)
	}
	select {
	case m, ok := <-msgs:
		if !ok || string(m) != appPong {
			t.Fatalf("got %q (open %v), want %s", m, ok, appPong)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no pong from the server")
	}
}

// waitOpen waits for the listener to hold n connections.
func waitOpen(t *testing.T, l *Listener, n int) {
	t.Helper()
	waitFor(t, "the listener's count", func() bool { return l.Stats().Open == n })
}

// The total cap refuses the connection over it once the probes' reserve is
// taken; a probe from another address still gets /_ready, other requests
// on a reserve connection a 503.
func TestMaxConnections(t *testing.T) {
	if !canBind("127.0.0.2") {
		t.Skip("no 127.0.0.2 on this machine")
	}
	_, l, addr := serveTransport(t, Transport{ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second, IdleTimeout: time.Minute},
		ConnLimits{Max: 3, Reserve: 2})
	held := make([]net.Conn, 3)
	for i := range held {
		held[i] = dialFrom(t, "127.0.0.1", addr)
		waitOpen(t, l, i+1)
	}
	// Over the cap: the address's one reserve connection, then refusals.
	dialFrom(t, "127.0.0.1", addr)
	waitOpen(t, l, 4)
	refused := dialFrom(t, "127.0.0.1", addr)
	_, _ = io.WriteString(refused, "GET /_ready HTTP/1.1\r\nHost: korum\r\n\r\n")
	closedBy(t, refused)
	if st := l.Stats(); st.RefusedTotal != 1 || st.Reserved != 1 {
		t.Fatalf("stats %+v, want 1 refused and 1 reserved", st)
	}

	probe := dialFrom(t, "127.0.0.2", addr)
	br := bufio.NewReader(probe)
	resp := get(t, probe, br, "/_ready")
	if resp.StatusCode != http.StatusOK || !resp.Close {
		t.Fatalf("/_ready over the cap: status %d, close %v; want 200 and close", resp.StatusCode, resp.Close)
	}
	closedBy(t, probe)
	// The server half-closes first and closes a moment later: only then
	// is the address's reserve place free again.
	waitFor(t, "the probe's reserve place", func() bool { return l.Stats().Reserved == 1 })
	other := dialFrom(t, "127.0.0.2", addr)
	if resp, body := getBody(t, other, bufio.NewReader(other), "/_serverInfo"); resp.StatusCode != http.StatusServiceUnavailable ||
		!strings.Contains(body, `"id":"api.process.overloaded"`) {
		t.Fatalf("a request on a reserve connection: status %d %s, want 503 api.process.overloaded", resp.StatusCode, body)
	}

	// A place freed is a normal connection again.
	held[0].Close()
	waitFor(t, "the freed place", func() bool { return l.Stats().Open-l.Stats().Reserved == 2 })
	again := dialFrom(t, "127.0.0.2", addr)
	br = bufio.NewReader(again)
	if resp := get(t, again, br, "/_healthcheck"); resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("status %d, close %v: want a kept-alive 200", resp.StatusCode, resp.Close)
	}
}

// The per-address cap refuses one client's connection over it, and no one
// else's.
func TestMaxConnectionsPerIP(t *testing.T) {
	if !canBind("127.0.0.2") {
		t.Skip("no 127.0.0.2 on this machine")
	}
	_, l, addr := serveTransport(t, Transport{ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second, IdleTimeout: time.Minute},
		ConnLimits{PerIP: 2, Reserve: 2})
	dialFrom(t, "127.0.0.1", addr)
	dialFrom(t, "127.0.0.1", addr)
	waitOpen(t, l, 2)
	refused := dialFrom(t, "127.0.0.1", addr)
	closedBy(t, refused)
	if st := l.Stats(); st.RefusedPerIP != 1 || st.RefusedTotal != 0 {
		t.Fatalf("stats %+v, want 1 refused for the address", st)
	}
	probe := dialFrom(t, "127.0.0.2", addr)
	if resp := get(t, probe, bufio.NewReader(probe), "/_ready"); resp.StatusCode != http.StatusOK {
		t.Fatalf("/_ready from another address: status %d", resp.StatusCode)
	}
	// WebSocket upgrades are refused the same way.
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/", nil)
	if err == nil {
		ws.Close()
		t.Fatal("a WebSocket connection over the address's cap was accepted")
	}
}

func canBind(ip string) bool {
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// Accept errors reach http.Server unchanged, so that it backs off on the
// temporary ones.
func TestListenerPassesAcceptErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := LimitListener(ln, ConnLimits{Max: 1}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ln.Close()
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("accept on a closed listener: %v", err)
	}
}

// syncBuffer is a log destination the test reads while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// refusalLines returns the refusal lines logged and the refusals they
// account for.
func (s *syncBuffer) refusalLines() (lines, refused int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, line := range strings.Split(s.b.String(), "\n") {
		if !strings.Contains(line, "refusing connections") {
			continue
		}
		lines++
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "refusedPerIp="); ok {
				n, _ := strconv.Atoi(v)
				refused += n
			}
		}
	}
	return lines, refused
}

// Refusals are logged once per interval, however many, and those of the
// interval's rest are summed up when it ends.
func TestRefusalsAreLoggedOncePerInterval(t *testing.T) {
	for _, every := range []time.Duration{time.Hour, 50 * time.Millisecond} {
		var out syncBuffer
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		l := LimitListener(ln, ConnLimits{PerIP: 1}, slog.New(slog.NewTextHandler(&out, nil)))
		l.logEvery = every
		hs := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: time.Minute}
		go func() { _ = hs.Serve(l) }()
		dialFrom(t, "127.0.0.1", ln.Addr().String())
		waitOpen(t, l, 1)
		for range 5 {
			closedBy(t, dialFrom(t, "127.0.0.1", ln.Addr().String()))
		}
		if every == time.Hour {
			if lines, refused := out.refusalLines(); lines != 1 || refused != 1 {
				t.Fatalf("%d lines for %d refusals, want the first alone", lines, refused)
			}
		} else {
			waitFor(t, "the summary of the interval", func() bool { _, refused := out.refusalLines(); return refused == 5 })
		}
		if st := l.Stats(); st.RefusedPerIP != 5 {
			t.Fatalf("stats %+v", st)
		}
		_ = hs.Close()
	}
}
