package backup

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sample(t testing.TB, payload []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Header{Index: 42, Term: 3, ClusterID: "c1", NodeID: "n1", StorageEngine: "embedded",
		KorumVersion: "test", CreatedAt: time.Unix(1700000000, 0).UTC()})
	if err != nil {
		t.Fatal(err)
	}
	// Written in pieces, as a stream would be.
	for len(payload) > 0 {
		k := min(len(payload), 7)
		if _, err := w.Write(payload[:k]); err != nil {
			t.Fatal(err)
		}
		payload = payload[k:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	payload := bytes.Repeat([]byte("state machine snapshot "), 10000)
	b := sample(t, payload)
	info, err := Verify(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if info.Index != 42 || info.Term != 3 || info.ClusterID != "c1" || info.NodeID != "n1" || info.StorageEngine != "embedded" {
		t.Fatalf("header: %+v", info.Header)
	}
	if info.Size != int64(len(b)) || info.PayloadSize != int64(len(payload)) {
		t.Fatalf("sizes: %+v, file %d payload %d", info, len(b), len(payload))
	}
	if got := b[info.PayloadOffset : info.PayloadOffset+info.PayloadSize]; !bytes.Equal(got, payload) {
		t.Fatal("payload not where Info says")
	}

	path := filepath.Join(t.TempDir(), "b.korum")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := io.ReadAll(f.Payload())
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("payload through Open: %v, %d bytes", err, len(got))
	}
}

func TestEmptyPayload(t *testing.T) {
	if _, err := Verify(bytes.NewReader(sample(t, nil))); err != nil {
		t.Fatal(err)
	}
}

// Any flipped bit and any truncation is refused.
func TestDamageIsRefused(t *testing.T) {
	b := sample(t, []byte("some payload bytes, long enough to hold a few positions"))
	for i := range b {
		d := bytes.Clone(b)
		d[i] ^= 0x10
		if _, err := Verify(bytes.NewReader(d)); !errors.Is(err, ErrFormat) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	for n := range len(b) {
		if _, err := Verify(bytes.NewReader(b[:n])); !errors.Is(err, ErrFormat) {
			t.Fatalf("cut at %d: %v", n, err)
		}
	}
	if _, err := Verify(bytes.NewReader(append(bytes.Clone(b), 0))); !errors.Is(err, ErrFormat) {
		t.Fatalf("trailing byte: %v", err)
	}
}

func TestHeaderErrors(t *testing.T) {
	good := sample(t, nil)
	version := bytes.Clone(good)
	binary.BigEndian.PutUint16(version[len(Magic):], 2)
	huge := bytes.Clone(good)
	binary.BigEndian.PutUint32(huge[len(Magic)+2:], MaxHeaderSize+1)
	for name, tc := range map[string]struct {
		b    []byte
		want string
	}{
		"magic":   {append([]byte("KORUMBAX"), good[8:]...), "bad magic"},
		"version": {version, "format version 2"},
		"huge":    {huge, "header of"},
		"short":   {good[:5], "reading the header"},
	} {
		_, _, err := ReadHeader(bytes.NewReader(tc.b))
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

func FuzzReadHeader(f *testing.F) {
	f.Add(sample(f, []byte("x")))
	f.Add([]byte(Magic + "\x00\x01\x00\x00\x00\x02{}"))
	f.Add([]byte(Magic + "\x00\x01\x00\x00\x00\x0c{\"index\":1}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := ReadHeader(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error not wrapping ErrFormat: %v", err)
			}
			return
		}
		if n > int64(len(b)) || n < int64(prefixSize) || h.Index == 0 {
			t.Fatalf("accepted %d header bytes of %d, index %d", n, len(b), h.Index)
		}
		// Whatever the header decoded to, Verify must not panic, and must
		// refuse bytes that carry no valid trailer.
		if _, err := Verify(bytes.NewReader(b)); err == nil {
			if len(b) < int(n)+trailerSize {
				t.Fatal("verified a file without room for a trailer")
			}
		}
	})
}
