package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTLSInitCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	var out, errOut bytes.Buffer
	if code := tlsCmd([]string{"init", "--dir", dir, "--nodes", "n1, n2", "--servers", "lb", "--hosts", "10.1.2.3"}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, f := range []string{"ca.pem", "ca-key.pem", "n1.pem", "n1-key.pem", "n2.pem", "n2-key.pem", "lb.pem", "lb-key.pem"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		if !strings.Contains(out.String(), filepath.Join(dir, f)) {
			t.Errorf("%s not listed in %q", f, out.String())
		}
	}
	for _, args := range [][]string{nil, {"make"}, {"init"}, {"init", "--dir", dir}, {"init", "--nodes", "n1"}, {"init", "--dir", dir, "--nodes", "n1", "extra"}} {
		if code := tlsCmd(args, io.Discard, io.Discard); code != exitConfig {
			t.Errorf("%v: exit %d, want %d", args, code, exitConfig)
		}
	}
}
