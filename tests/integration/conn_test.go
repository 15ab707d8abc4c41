package integration

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// srcIP is a loopback address of this run's own (KORUM_TEST_IP_BASE) for
// the client side of a connection.
func srcIP(n int) string { return "127.0." + strconv.Itoa(ipBase()) + "." + strconv.Itoa(n) }

func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// serverClosed reads c until the server closes it, within a generous
// deadline, and fails on any byte.
func serverClosed(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 256)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			t.Fatalf("got %q, want the connection closed", buf[:n])
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the node did not close the connection")
		}
		if err != nil {
			return
		}
	}
}

// The node honours its connection options: the WebSocket idle timeout
// without pings, the HTTP idle timeout, and the per-address cap, with
// /_ready still served to another address.
func TestConnectionOptionsAreHonoured(t *testing.T) {
	p := start(t, "", "--websocket-idle-timeout", "1s", "--websocket-send-pings", "false",
		"--http-idle-timeout", "300ms", "--max-connections-per-ip", "2")

	// Without server pings a client that only listens is dropped.
	d := websocket.Dialer{NetDial: func(network, addr string) (net.Conn, error) {
		return (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(srcIP(1))}}).Dial(network, addr)
	}}
	ws, _, err := d.Dial("ws://"+p.api+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	var ce *websocket.CloseError
	if _, _, err := ws.ReadMessage(); !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Fatalf("got %v, want a 1001 close for the idle timeout", err)
	}

	// A kept-alive HTTP connection is closed once idle.
	c := dialFrom(t, srcIP(2), p.api)
	if _, err := io.WriteString(c, "GET /_healthcheck HTTP/1.1\r\nHost: korum\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthcheck: %v", err)
	}
	serverClosed(t, c)

	// Two connections from one address are its cap; the third is closed
	// at once, and another address is still served.
	// They say nothing: the header timeout (10 s), not the short idle
	// one, bounds them, and the node accepts in order, so both count
	// before the third.
	dialFrom(t, srcIP(3), p.api)
	dialFrom(t, srcIP(3), p.api)
	refused := dialFrom(t, srcIP(3), p.api)
	serverClosed(t, refused)
	probe := dialFrom(t, srcIP(4), p.api)
	if _, err := io.WriteString(probe, "GET /_ready HTTP/1.1\r\nHost: korum\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = probe.SetReadDeadline(time.Now().Add(10 * time.Second))
	if resp, err := http.ReadResponse(bufio.NewReader(probe), nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/_ready from another address: %v", err)
	}
}
