package durable

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReplaceFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := ReplaceFile(path, strings.NewReader("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ReplaceFile(path, strings.NewReader("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "two" {
		t.Fatalf("content %q, %v", b, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v", st.Mode())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

// A reader that fails midway leaves the old content in place and no
// temporary file behind.
func TestReplaceFileFailedWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := ReplaceFile(path, strings.NewReader("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := io.MultiReader(strings.NewReader("ne"), errReader{})
	if err := ReplaceFile(path, bad, 0o600); err == nil {
		t.Fatal("a failed read was not reported")
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Fatalf("content %q after a failed replace", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

func TestWriteFileFailedWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := WriteFile(path, io.MultiReader(strings.NewReader("x"), errReader{}), 0o600); err == nil {
		t.Fatal("a failed read was not reported")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("partial file left: %v", err)
	}
	if err := WriteFile(path, strings.NewReader("ok"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "ok" {
		t.Fatalf("content %q", b)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("broken source") }
