package embedded

import (
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func formatOf(t *testing.T, e *Engine) string {
	t.Helper()
	var f string
	if err := e.view(func(tx *bolt.Tx) error { f = string(tx.Bucket(bucketMeta).Get(keyFormat)); return nil }); err != nil {
		t.Fatal(err)
	}
	return f
}

// The format key starts at "1" (what v0.2.0 writes and opens), only grows
// with MarkFormat, and a file of a format above maxFormat is refused with
// a message that says why.
func TestMarkFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.db")
	e, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if f := formatOf(t, e); f != "1" {
		t.Fatalf("a new file has format %q, want 1", f)
	}
	if err := e.MarkFormat(2); err != nil {
		t.Fatal(err)
	}
	if err := e.MarkFormat(1); err != nil {
		t.Fatal(err)
	}
	if f := formatOf(t, e); f != "2" {
		t.Fatalf("format %q after marking 2 then 1, want 2", f)
	}
	if err := e.MarkFormat(maxFormat + 1); err == nil {
		t.Fatal("a format this binary cannot open must not be written")
	}
	e.Close()
	if e, err = Open(path, Options{}); err != nil {
		t.Fatalf("reopening format 2: %v", err)
	}
	err = e.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyFormat, []byte("3")) })
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	if _, err := Open(path, Options{}); err == nil || !strings.Contains(err.Error(), "newer Korum") {
		t.Fatalf("opening format 3: %v", err)
	}
}
