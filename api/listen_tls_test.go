package api

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
)

// Over HTTPS, http.Server hands ConnContext the TLS connection: the
// reserve mark of the limited connection under it must still be found.
func TestReserveMarkSeenThroughTLS(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	for _, reserve := range []bool{true, false} {
		tc := tls.Server(&limitedConn{Conn: a, reserve: reserve}, &tls.Config{})
		if got := onReserve(connContext(context.Background(), tc)); got != reserve {
			t.Fatalf("reserve %v: onReserve says %v", reserve, got)
		}
	}
}
