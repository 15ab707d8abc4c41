package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// tlsInit runs `korum tls init` and returns the directory.
func tlsInit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command(korumBin, append([]string{"tls", "init", "--dir", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("korum tls init: %v\n%s", err, out)
	}
	return dir
}

// clusterTLSArgs are a node's cluster TLS options with name's certificate.
func clusterTLSArgs(dir, name string) []string {
	return []string{"--cluster-tls-ca", filepath.Join(dir, "ca.pem"),
		"--cluster-tls-cert", filepath.Join(dir, name+".pem"), "--cluster-tls-key", filepath.Join(dir, name+"-key.pem")}
}

func caPool(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		t.Fatal("ca.pem holds no certificate")
	}
	return p
}

func fileSerial(t *testing.T, path string) *big.Int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber
}

// servedSerial is the serial of the certificate addr serves, or nil when
// the handshake fails.
func servedSerial(addr string, cfg *tls.Config) *big.Int {
	d := &net.Dialer{Timeout: 3 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return nil
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber
}

// Three nodes found through Redis run the cluster port in mutual TLS: they
// form a cluster, replicate and forward; the port admits no TLS client
// without a certificate of the CA.
func TestTLSClusterFormsAndReplicates(t *testing.T) {
	certs := tlsInit(t, t.TempDir(), "--nodes", "n1,n2,n3")
	r := startRedis(t)
	ms := make([]*member, 3)
	for i := range ms {
		name := fmt.Sprintf("n%d", i+1)
		ms[i] = clusterNode(t, i+1, "", false, append([]string{"--redis", r.url(), "--minimum-nodes", "3"}, clusterTLSArgs(certs, name)...)...)
	}
	for _, m := range ms {
		m.waitReady(t)
	}
	waitMembers(t, ms, 3)

	mustOK(t, ms[1].proc, "POST", "/c/_create", "")
	mustOK(t, ms[2].proc, "PUT", "/c/docs", "{}")
	for i, m := range ms {
		mustOK(t, m.proc, "POST", fmt.Sprintf("/c/docs/d%d/_create", i), fmt.Sprintf(`{"from":%d}`, i))
	}
	for _, m := range ms {
		for i := range ms {
			mustOK(t, m.proc, "GET", fmt.Sprintf("/c/docs/d%d", i), "")
		}
	}

	// The cluster port is TLS and serves n1's certificate…
	pool := caPool(t, certs)
	n1Cert, err := tls.LoadX509KeyPair(filepath.Join(certs, "n1.pem"), filepath.Join(certs, "n1-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{RootCAs: pool, ServerName: "n1", Certificates: []tls.Certificate{n1Cert}}
	if got, want := servedSerial(ms[0].cluster, cfg), fileSerial(t, filepath.Join(certs, "n1.pem")); got == nil || got.Cmp(want) != 0 {
		t.Fatalf("cluster port serves serial %v, want %v", got, want)
	}
	// …and closes a connection without a client certificate before a
	// single byte of its own protocol.
	conn, err := tls.Dial("tcp", ms[0].cluster, &tls.Config{RootCAs: pool, ServerName: "n1"})
	if err == nil {
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		conn.Write(append([]byte("KRM\x01"), make([]byte, 32)...))
		_, err = io.ReadFull(conn, make([]byte, 1))
		conn.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a client without a certificate: %v, want a TLS certificate error", err)
	}
}

// A node with a certificate of another CA, or with no TLS, finds the
// cluster through the same Redis but cannot join it; the cluster goes on.
func TestTLSNodeWithoutAClusterCertificateCannotJoin(t *testing.T) {
	certs := tlsInit(t, t.TempDir(), "--nodes", "n1,n2,n3")
	foreign := tlsInit(t, t.TempDir(), "--nodes", "n4")
	r := startRedis(t)
	ms := make([]*member, 3)
	for i := range ms {
		ms[i] = clusterNode(t, i+1, "", false, append([]string{"--redis", r.url(), "--minimum-nodes", "3"}, clusterTLSArgs(certs, fmt.Sprintf("n%d", i+1))...)...)
	}
	for _, m := range ms {
		m.waitReady(t)
	}
	waitMembers(t, ms, 3)
	leader, leaderID := leaderOf(t, ms)
	mustOK(t, leader.proc, "POST", "/c/_create", "")
	mustOK(t, leader.proc, "PUT", "/c/docs", "{}")

	for i, extra := range [][]string{clusterTLSArgs(foreign, "n4"), nil} {
		intruder := clusterNode(t, 4+i, "", false, append([]string{"--redis", r.url(), "--join-timeout", "6s"}, extra...)...)
		// It gives up (membership's join timeout, exit 13) without
		// ever being ready.
		code := intruder.exitCode(t, 40*time.Second)
		if code != 13 {
			t.Fatalf("intruder %d exited with %d, want 13 (could not join)\n%s", i, code, tail(intruder.Logs(), 30))
		}
		for _, m := range ms {
			st, kerr := m.status(t)
			if kerr != nil || st.ActiveNodes != 3 || st.Leader != leaderID {
				t.Fatalf("cluster disturbed by intruder %d: %+v %+v", i, st, kerr)
			}
		}
		mustOK(t, ms[i].proc, "POST", fmt.Sprintf("/c/docs/after%d/_create", i), "{}")
	}
	if !strings.Contains(ms[0].Logs()+ms[1].Logs()+ms[2].Logs(), "rejected connection") {
		t.Fatal("no node logged a rejected connection")
	}
}

// httpsClient trusts the test CA.
func httpsClient(pool *x509.CertPool) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func waitHTTPSReady(t *testing.T, p *proc, c *http.Client) {
	t.Helper()
	eventually(t, 30*time.Second, p.api+" https /_ready", func() bool {
		if !p.alive() {
			t.Fatalf("%s exited early: %v\n%s", p.api, p.err, tail(p.Logs(), 40))
		}
		resp, err := c.Get("https://" + p.api + "/_ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

// The API port serves HTTPS and WSS only; SIGHUP swaps its certificate
// for new connections, open ones stay, and a bad file keeps the old one.
func TestHTTPSAPIAndCertificateReload(t *testing.T) {
	ip := fmt.Sprintf("127.0.0.%d", ipBase()+1)
	certs := tlsInit(t, t.TempDir(), "--nodes", "n1", "--hosts", ip)
	certFile, keyFile := filepath.Join(certs, "n1.pem"), filepath.Join(certs, "n1-key.pem")
	api := ip + ":18001"
	p := launch(t, t.TempDir(), api, "--cluster-addr", freeAddr(t), "--tls-cert", certFile, "--tls-key", keyFile)
	pool := caPool(t, certs)
	c := httpsClient(pool)
	waitHTTPSReady(t, p, c)

	resp, err := c.Post("https://"+api+"/c/_create", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	var env envelope
	json.NewDecoder(resp.Body).Decode(&env)
	resp.Body.Close()
	if resp.StatusCode != 200 || env.Error != nil {
		t.Fatalf("index:create over HTTPS: %d %+v", resp.StatusCode, env.Error)
	}

	// Plain HTTP on the same port gets no Kuzzle answer.
	plain, err := httpClient().Get("http://" + api + "/_now")
	if err == nil {
		body, _ := io.ReadAll(plain.Body)
		plain.Body.Close()
		if plain.StatusCode == 200 || strings.Contains(string(body), `"result"`) {
			t.Fatalf("plain HTTP was served: %d %s", plain.StatusCode, body)
		}
	}
	// Nor does plain WebSocket.
	if ws, _, err := (&websocket.Dialer{HandshakeTimeout: 3 * time.Second}).Dial("ws://"+api+"/", nil); err == nil {
		ws.Close()
		t.Fatal("a plain WebSocket connection was accepted")
	}

	// WSS, kept open across the reload.
	wsd := &websocket.Dialer{HandshakeTimeout: 5 * time.Second, TLSClientConfig: &tls.Config{RootCAs: pool}}
	ws, _, err := wsd.Dial("wss://"+api+"/", nil)
	if err != nil {
		t.Fatalf("wss: %v", err)
	}
	defer ws.Close()
	wc := &wsClient{t: t, ws: ws}
	wc.call(map[string]any{"controller": "server", "action": "now"})

	tlsCfg := &tls.Config{RootCAs: pool, ServerName: ip}
	first := fileSerial(t, certFile)
	if got := servedSerial(api, tlsCfg); got == nil || got.Cmp(first) != 0 {
		t.Fatalf("served serial %v, want %v", got, first)
	}
	tlsInit(t, certs, "--nodes", "n1", "--hosts", ip) // renews n1's certificate, same CA
	second := fileSerial(t, certFile)
	if second.Cmp(first) == 0 {
		t.Fatal("tls init did not renew the certificate")
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the renewed certificate to be served", func() bool {
		got := servedSerial(api, tlsCfg)
		return got != nil && got.Cmp(second) == 0
	})
	wc.call(map[string]any{"controller": "server", "action": "now"})

	// A broken file: logged, the renewed certificate stays.
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, 10*time.Second, "the failed reload to be logged", func() bool {
		return strings.Contains(p.Logs(), "TLS certificate reload failed")
	})
	if got := servedSerial(api, tlsCfg); got == nil || got.Cmp(second) != 0 {
		t.Fatalf("after a failed reload: serial %v, want %v", got, second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+api+"/_now", nil)
	if resp, err := httpsClient(pool).Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("a new HTTPS connection after a failed reload: %v", err)
	} else {
		resp.Body.Close()
	}
	if !p.alive() {
		t.Fatal("SIGHUP stopped the node")
	}
}

func copyFile(t *testing.T, dst string, srcs ...string) {
	t.Helper()
	var all []byte
	for _, s := range srcs {
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if err := os.WriteFile(dst, all, 0o600); err != nil {
		t.Fatal(err)
	}
}

// hupAll sends SIGHUP to every member and waits until each has logged
// what one more occurrence of msg.
func hupAll(t *testing.T, ms []*member, msg string) {
	t.Helper()
	for _, m := range ms {
		before := strings.Count(m.Logs(), msg)
		if err := m.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, m.api+" to log "+msg, func() bool { return strings.Count(m.Logs(), msg) > before })
	}
}

// A running cluster moves to a new CA with SIGHUPs only: trust both, swap
// the certificates, drop the old CA; a node holding only the new CA's
// certificate then joins.
func TestTLSClusterMovesToANewCAWithoutARestart(t *testing.T) {
	oldCA := tlsInit(t, t.TempDir(), "--nodes", "n1,n2,n3")
	newCA := tlsInit(t, t.TempDir(), "--nodes", "n1,n2,n3,n4")
	live := t.TempDir() // the files the nodes read
	bundle := filepath.Join(live, "ca.pem")
	copyFile(t, bundle, filepath.Join(oldCA, "ca.pem"))
	r := startRedis(t)
	ms := make([]*member, 3)
	for i := range ms {
		name := fmt.Sprintf("n%d", i+1)
		copyFile(t, filepath.Join(live, name+".pem"), filepath.Join(oldCA, name+".pem"))
		copyFile(t, filepath.Join(live, name+"-key.pem"), filepath.Join(oldCA, name+"-key.pem"))
		ms[i] = clusterNode(t, i+1, "", false, append([]string{"--redis", r.url(), "--minimum-nodes", "3"}, clusterTLSArgs(live, name)...)...)
	}
	for _, m := range ms {
		m.waitReady(t)
	}
	waitMembers(t, ms, 3)
	mustOK(t, ms[0].proc, "POST", "/c/_create", "")

	copyFile(t, bundle, filepath.Join(oldCA, "ca.pem"), filepath.Join(newCA, "ca.pem"))
	hupAll(t, ms, "cluster CA reloaded")
	for i := range ms {
		name := fmt.Sprintf("n%d", i+1)
		copyFile(t, filepath.Join(live, name+"-key.pem"), filepath.Join(newCA, name+"-key.pem"))
		copyFile(t, filepath.Join(live, name+".pem"), filepath.Join(newCA, name+".pem"))
	}
	hupAll(t, ms, "TLS certificate reloaded")
	copyFile(t, bundle, filepath.Join(newCA, "ca.pem"))
	hupAll(t, ms, "cluster CA reloaded")

	n4, err := tls.LoadX509KeyPair(filepath.Join(newCA, "n4.pem"), filepath.Join(newCA, "n4-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{RootCAs: caPool(t, newCA), ServerName: "n1", Certificates: []tls.Certificate{n4}}
	if got, want := servedSerial(ms[0].cluster, cfg), fileSerial(t, filepath.Join(newCA, "n1.pem")); got == nil || got.Cmp(want) != 0 {
		t.Fatalf("cluster port serves serial %v, want the new CA's n1 %v", got, want)
	}
	ms = append(ms, clusterNode(t, 4, "", true, append([]string{"--redis", r.url()}, clusterTLSArgs(newCA, "n4")...)...))
	waitMembers(t, ms, 4)
	mustOK(t, ms[3].proc, "PUT", "/c/docs", "{}")
	for _, m := range ms {
		mustOK(t, m.proc, "GET", "/c/docs/_exists", "")
	}
}
