package tlsgen

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func load(t *testing.T, dir, name string) *x509.Certificate {
	t.Helper()
	cf, kf := Files(dir, name)
	pair, err := tls.LoadX509KeyPair(cf, kf)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return pair.Leaf
}

func TestInitIssuesVerifiableCertificates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	files, err := Init(InitOptions{Dir: dir, Nodes: []string{"n1", "n2"}, Servers: []string{"lb"}, Hosts: []string{"10.0.0.7", "korum.example", "n1"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 8 {
		t.Fatalf("wrote %v", files)
	}
	ca := load(t, dir, CAName)
	if !ca.IsCA {
		t.Fatal("ca.pem is not a CA")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	n1 := load(t, dir, "n1")
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := n1.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{u}, DNSName: "korum.example"}); err != nil {
			t.Fatalf("node certificate, usage %v: %v", u, err)
		}
	}
	if !slices.Equal(n1.DNSNames, []string{"n1", "korum.example"}) || len(n1.IPAddresses) != 1 || !n1.IPAddresses[0].Equal(net.ParseIP("10.0.0.7")) {
		t.Fatalf("SANs: %v %v", n1.DNSNames, n1.IPAddresses)
	}
	if n1.PublicKeyAlgorithm != x509.ECDSA {
		t.Fatalf("key algorithm %v", n1.PublicKeyAlgorithm)
	}
	if d := time.Until(n1.NotAfter); d < DefaultCertValidity-2*time.Hour || d > DefaultCertValidity {
		t.Fatalf("validity: expires in %s", d)
	}
	lb := load(t, dir, "lb")
	if _, err := lb.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Fatal("a server-only certificate allows client authentication")
	}
	if _, err := lb.Verify(x509.VerifyOptions{Roots: roots}); err != nil {
		t.Fatalf("server-only certificate: %v", err)
	}
	_, kf := Files(dir, "n1")
	if st, err := os.Stat(kf); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", st.Mode(), err)
	}

	// Again: the CA is kept, the certificates are renewed.
	if _, err := Init(InitOptions{Dir: dir, Nodes: []string{"n1"}}); err != nil {
		t.Fatal(err)
	}
	if again := load(t, dir, CAName); !again.Equal(ca) {
		t.Fatal("a second run replaced the CA")
	}
	renewed := load(t, dir, "n1")
	if renewed.SerialNumber.Cmp(n1.SerialNumber) == 0 {
		t.Fatal("a renewed certificate kept its serial")
	}
	if _, err := renewed.Verify(x509.VerifyOptions{Roots: roots}); err != nil {
		t.Fatalf("renewed certificate: %v", err)
	}
}

func TestInitRefusals(t *testing.T) {
	dir := t.TempDir()
	for _, o := range []InitOptions{
		{Dir: dir},
		{Dir: dir, Nodes: []string{"../escape"}},
		{Dir: dir, Nodes: []string{"ca"}},
		{Dir: dir, Nodes: []string{""}},
		{Nodes: []string{"n1"}},
	} {
		if _, err := Init(o); err == nil {
			t.Errorf("Init(%+v) succeeded", o)
		}
	}
	// A CA certificate without its key is never replaced.
	if _, err := Init(InitOptions{Dir: dir, Nodes: []string{"n1"}}); err != nil {
		t.Fatal(err)
	}
	_, caKey := Files(dir, CAName)
	os.Remove(caKey)
	if _, err := Init(InitOptions{Dir: dir, Nodes: []string{"n2"}}); err == nil {
		t.Fatal("Init replaced a CA whose key was missing")
	}
}
