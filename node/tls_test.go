package node

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/korumdb/korum/tlsgen"
)

func TestKeyPairReloadKeepsTheOldPairOnFailure(t *testing.T) {
	dir := t.TempDir()
	if _, err := tlsgen.Init(tlsgen.InitOptions{Dir: dir, Nodes: []string{"n1"}}); err != nil {
		t.Fatal(err)
	}
	cf, kf := tlsgen.Files(dir, "n1")
	k, err := loadKeyPair("api", cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	first := k.get()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))

	if _, err := tlsgen.Init(tlsgen.InitOptions{Dir: dir, Nodes: []string{"n1"}}); err != nil {
		t.Fatal(err)
	}
	if err := k.reload(log); err != nil {
		t.Fatal(err)
	}
	second := k.get()
	if second.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) == 0 {
		t.Fatal("reload kept the old certificate")
	}

	// A key that does not match, then a file that is not PEM: both kept out.
	other := t.TempDir()
	if _, err := tlsgen.Init(tlsgen.InitOptions{Dir: other, Nodes: []string{"n1"}}); err != nil {
		t.Fatal(err)
	}
	_, otherKey := tlsgen.Files(other, "n1")
	b, _ := os.ReadFile(otherKey)
	os.WriteFile(kf, b, 0o600)
	if err := k.reload(log); err == nil {
		t.Fatal("reload accepted a key that does not match the certificate")
	}
	os.WriteFile(cf, []byte("not a certificate"), 0o644)
	if err := k.reload(log); err == nil {
		t.Fatal("reload accepted a broken certificate")
	}
	if k.get() != second {
		t.Fatal("a failed reload replaced the certificate")
	}
	if !strings.Contains(logs.String(), "keeping the current one") {
		t.Fatalf("failed reload not logged: %s", logs.String())
	}
}

func TestClusterTLSRefusesAFileWithoutCertificates(t *testing.T) {
	dir := t.TempDir()
	if _, err := tlsgen.Init(tlsgen.InitOptions{Dir: dir, Nodes: []string{"n1"}}); err != nil {
		t.Fatal(err)
	}
	cf, kf := tlsgen.Files(dir, "n1")
	empty := filepath.Join(dir, "empty.pem")
	os.WriteFile(empty, nil, 0o644)
	if _, _, _, err := clusterTLS(ClusterConfig{TLSCA: empty, TLSCert: cf, TLSKey: kf}); err == nil {
		t.Fatal("accepted a CA file without a certificate")
	}
	ca, _ := tlsgen.Files(dir, tlsgen.CAName)
	tc, k, pool, err := clusterTLS(ClusterConfig{TLSCA: ca, TLSCert: cf, TLSKey: kf})
	if err != nil || tc == nil || k == nil || pool == nil {
		t.Fatalf("clusterTLS: %v", err)
	}
	// A CA file that breaks is not swapped in; a good one is.
	first := tc.CAs()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	os.WriteFile(ca, nil, 0o644)
	if err := pool.reload(log); err == nil || tc.CAs() != first {
		t.Fatalf("a CA file without certificates: reload %v, pool swapped %v", err, tc.CAs() != first)
	}
	other := t.TempDir()
	if _, err := tlsgen.Init(tlsgen.InitOptions{Dir: other, Nodes: []string{"n1"}}); err != nil {
		t.Fatal(err)
	}
	otherCA, _ := tlsgen.Files(other, tlsgen.CAName)
	b, _ := os.ReadFile(otherCA)
	os.WriteFile(ca, b, 0o644)
	if err := pool.reload(log); err != nil || tc.CAs() == first {
		t.Fatalf("a new CA file: reload %v, pool swapped %v", err, tc.CAs() != first)
	}
}
