package raftnet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/big"
	"sync/atomic"
	"testing"
	"time"

	"github.com/korumdb/korum/tlsgen"
)

// testCerts issues certificates from one CA for the tests.
type testCerts struct {
	t  testing.TB
	ca *tlsgen.CA
}

func newTestCerts(t testing.TB) *testCerts {
	t.Helper()
	ca, err := tlsgen.NewCA("test cluster CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &testCerts{t: t, ca: ca}
}

func (c *testCerts) pool() func() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.ca.Cert)
	return func() *x509.CertPool { return p }
}

func (c *testCerts) issue(name string, usage tlsgen.Usage) *tls.Certificate {
	c.t.Helper()
	cp, kp, err := c.ca.Issue(name, []string{"127.0.0.1"}, usage, time.Hour)
	if err != nil {
		c.t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(cp, kp)
	if err != nil {
		c.t.Fatal(err)
	}
	return &pair
}

// swappable is a certificate a test can replace, as a reload does.
type swappable struct {
	p atomic.Pointer[tls.Certificate]
}

func (s *swappable) get() (*tls.Certificate, error) { return s.p.Load(), nil }

// tlsConfig gives id a node certificate from certs; secret may be empty.
func (c *testCerts) config(id string, bootstrap bool, secret string) (Config, *swappable) {
	cfg := testConfig(c.t, id, bootstrap)
	cfg.Secret = secret
	sw := &swappable{}
	sw.p.Store(c.issue(id, tlsgen.Node))
	cfg.TLS = &TLSConfig{CAs: c.pool(), Certificate: sw.get}
	return cfg, sw
}

func tlsCluster3(t *testing.T, certs *testCerts) []*testNode {
	t.Helper()
	return cluster3Configs(t, func(id string, bootstrap bool) Config {
		cfg, _ := certs.config(id, bootstrap, "")
		return cfg
	}, func() *testFSM { return newTestFSM(false) })
}

func TestTLSClusterReplicatesAndForwards(t *testing.T) {
	certs := newTestCerts(t)
	nodes := tlsCluster3(t, certs)
	leader := waitLeaderAmong(t, nodes...)
	mustApply(t, leader, "on-leader")
	// A follower's Apply is forwarded over the RPC service, inside TLS.
	mustApply(t, followerOf(nodes), "forwarded")
	for _, n := range nodes {
		waitFor(t, 10*time.Second, n.ID()+" applies both", func() bool { return n.fsm.has("on-leader") && n.fsm.has("forwarded") })
	}
	if err := followerOf(nodes).LinearizableRead(ctxFor(t, 5*time.Second)); err != nil {
		t.Fatalf("read index through a follower: %v", err)
	}

	// The port speaks only TLS: the plaintext hello a node without TLS
	// would send is dropped without an answer.
	c := rawDial(t, leader.Addr())
	c.Write(append([]byte("KRM\x01"), make([]byte, nonceLen)...))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := io.ReadFull(c, make([]byte, 1)); err == nil {
		t.Fatalf("a TLS node answered a plaintext hello (%d bytes)", n)
	}
}

func TestTLSRejectsNodesWithoutAClusterCertificate(t *testing.T) {
	certs := newTestCerts(t)
	nodes := tlsCluster3(t, certs)
	leader := waitLeaderAmong(t, nodes...)
	mustApply(t, leader, "before")
	termBefore := leader.Stats().Term
	seeds := []string{nodes[0].Addr(), nodes[1].Addr(), nodes[2].Addr()}

	other := newTestCerts(t)
	foreignCfg, _ := other.config("foreign", false, "")
	// Trusts the cluster's CA (its certificate is public) but holds a
	// certificate of its own CA: the listeners must refuse it.
	impostorCfg, _ := other.config("impostor", false, "")
	impostorCfg.TLS.CAs = certs.pool()
	// Same CA, but a certificate for a load balancer's HTTPS only.
	serverOnlyCfg, sw := certs.config("balancer", false, "")
	sw.p.Store(certs.issue("balancer", tlsgen.Server))
	// The right CA but not the right secret: the secret stays a second
	// factor when it is set.
	wrongSecretCfg, _ := certs.config("secretless", false, "wrong")
	for _, cfg := range []Config{foreignCfg, impostorCfg, serverOnlyCfg} {
		bad := startNode(t, cfg, newTestFSM(false))
		if err := bad.JoinCluster(ctxFor(t, 10*time.Second), seeds, true); !errors.Is(err, ErrAuth) {
			t.Fatalf("%s: join: got %v, want ErrAuth", cfg.NodeID, err)
		}
		if _, err := bad.Call(ctxFor(t, 5*time.Second), leader.Addr(), methodApply, []byte("smuggled")); !errors.Is(err, ErrAuth) {
			t.Fatalf("%s: rpc: got %v, want ErrAuth", cfg.NodeID, err)
		}
	}
	// The cluster has no secret: give it one to check the second factor on
	// a fresh single node.
	secured, _ := certs.config("secured", true, "right")
	sn := startNode(t, secured, newTestFSM(false))
	waitLeaderAmong(t, sn)
	wrong := startNode(t, wrongSecretCfg, newTestFSM(false))
	if err := wrong.JoinCluster(ctxFor(t, 10*time.Second), []string{sn.Addr()}, true); !errors.Is(err, ErrAuth) {
		t.Fatalf("valid certificate, wrong secret: join got %v, want ErrAuth", err)
	}

	// A node without TLS at all gets nowhere either.
	plainCfg := testConfig(t, "plain", false)
	plainCfg.Secret = ""
	plain := startNode(t, plainCfg, newTestFSM(false))
	if err := plain.JoinCluster(ctxFor(t, 2*time.Second), seeds, true); err == nil {
		t.Fatal("a node without TLS joined a TLS cluster")
	}

	checkUndisturbed(t, nodes, leader, termBefore)
}

// servedSerial is the serial of the certificate addr presents to a client
// holding client.
func servedSerial(t *testing.T, addr string, client *tls.Certificate) *big.Int {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13,
		Certificates: []tls.Certificate{*client}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber
}

func TestTLSCertificateSwapAppliesToNewConnections(t *testing.T) {
	certs := newTestCerts(t)
	cfg, sw := certs.config("n1", true, "")
	n := startNode(t, cfg, newTestFSM(false))
	waitLeaderAmong(t, n)
	client := certs.issue("client", tlsgen.Node)
	first := sw.p.Load()
	if got := servedSerial(t, n.Addr(), client); got.Cmp(first.Leaf.SerialNumber) != 0 {
		t.Fatalf("served serial %x, want %x", got, first.Leaf.SerialNumber)
	}
	next := certs.issue("n1", tlsgen.Node)
	sw.p.Store(next)
	if got := servedSerial(t, n.Addr(), client); got.Cmp(next.Leaf.SerialNumber) != 0 {
		t.Fatalf("after the swap: served serial %x, want %x", got, next.Leaf.SerialNumber)
	}
	mustApply(t, n, "still-serving")
}

func TestTLSConfigValidation(t *testing.T) {
	certs := newTestCerts(t)
	cfg, _ := certs.config("n1", true, "")
	cfg.BindAddr = "0.0.0.0:0"
	cfg.AdvertiseAddr = "127.0.0.1:1"
	if err := cfg.withDefaults().validate(); err != nil {
		t.Fatalf("TLS without a secret on a wildcard address: %v", err)
	}
	cfg.TLS = &TLSConfig{CAs: certs.pool(), Certificate: func() (*tls.Certificate, error) { return nil, errors.New("no key") }}
	if err := cfg.withDefaults().validate(); err == nil {
		t.Fatal("accepted a TLS config whose certificate cannot load")
	}
	cfg.TLS = &TLSConfig{Certificate: (&swappable{}).get}
	if err := cfg.withDefaults().validate(); err == nil {
		t.Fatal("accepted a TLS config without CAs")
	}
}

// The CA pool is asked for at every handshake: a node that starts trusting
// a second CA admits its nodes from then on, without a restart (the first
// step of moving a cluster to a new CA).
func TestTLSCAPoolSwapAdmitsANewCA(t *testing.T) {
	oldCA, newCA := newTestCerts(t), newTestCerts(t)
	both := x509.NewCertPool()
	both.AddCert(oldCA.ca.Cert)
	both.AddCert(newCA.ca.Cert)

	cfg, _ := oldCA.config("n1", true, "")
	var pool atomic.Pointer[x509.CertPool]
	pool.Store(oldCA.pool()())
	cfg.TLS.CAs = pool.Load
	n1 := startNode(t, cfg, newTestFSM(false))
	waitLeaderAmong(t, n1)
	n1.Handle("ping", func(context.Context, []byte) ([]byte, error) { return []byte("pong"), nil })

	cfg2, _ := newCA.config("n2", false, "")
	cfg2.TLS.CAs = func() *x509.CertPool { return both }
	n2 := startNode(t, cfg2, newTestFSM(false))
	if _, err := n2.Call(ctxFor(t, 5*time.Second), n1.Addr(), "ping", nil); !errors.Is(err, ErrAuth) {
		t.Fatalf("a certificate of a CA n1 does not trust: got %v, want ErrAuth", err)
	}
	pool.Store(both)
	if got, err := n2.Call(ctxFor(t, 5*time.Second), n1.Addr(), "ping", nil); err != nil || string(got) != "pong" {
		t.Fatalf("after n1 trusts the new CA: %q, %v", got, err)
	}
}
