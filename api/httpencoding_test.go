package api

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"io"
	"mime/multipart"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/korumdb/korum/kerror"
)

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func zl(b []byte) []byte {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func errIDOf(err error) string {
	if err == nil {
		return ""
	}
	return kerror.From(err).ID
}

// Compressed bodies are inflated layer by layer, never past the request
// size limit; unknown or too many layers are Kuzzle's errors.
func TestDecompress(t *testing.T) {
	o := DefaultHTTPOptions()
	body := []byte(`{"a":1}`)
	for _, c := range []struct {
		enc  string
		data []byte
	}{
		{"gzip", gz(body)}, {"deflate", zl(body)}, {"identity", body}, {"", body},
		{"deflate, gzip", gz(zl(body))}, {"GZIP", gz(body)},
	} {
		got, err := o.decompress(c.enc, c.data, 1<<20)
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("%q: %q %v", c.enc, got, err)
		}
	}
	// A bomb: 64 MiB of zeros in about 64 KiB, against a 1 MiB limit.
	bomb := gz(make([]byte, 64<<20))
	if _, err := o.decompress("gzip", bomb, 1<<20); errIDOf(err) != "network.http.request_too_large" {
		t.Errorf("bomb: %v", err)
	}
	if _, err := o.decompress("br", body, 1<<20); errIDOf(err) != "network.http.unsupported_compression" {
		t.Errorf("br: %v", err)
	}
	if _, err := o.decompress("gzip,gzip,gzip,gzip", body, 1<<20); errIDOf(err) != "network.http.too_many_encodings" {
		t.Errorf("4 layers: %v", err)
	}
	if _, err := o.decompress("gzip", []byte("not gzip"), 1<<20); errIDOf(err) != "network.http.body_parse_failed" {
		t.Errorf("garbage: %v", err)
	}
	o.AllowCompression = false
	if _, err := o.decompress("gzip", gz(body), 1<<20); errIDOf(err) != "network.http.compression_disabled" {
		t.Errorf("disabled: %v", err)
	}
}

func TestParseBodyForms(t *testing.T) {
	o := DefaultHTTPOptions()
	got, err := o.parseBody("application/x-www-form-urlencoded", []byte("name=ann&tag=a&tag=b"))
	want := map[string]any{"name": "ann", "tag": []any{"a", "b"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("form: %v %v", got, err)
	}

	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("name", "ann")
	fw, _ := mw.CreateFormFile("avatar", "a.png")
	fw.Write([]byte("PNGDATA"))
	mw.Close()
	got, err = o.parseBody(mw.FormDataContentType(), buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	m := got.(map[string]any)
	file := m["avatar"].(map[string]any)
	if m["name"] != "ann" || file["filename"] != "a.png" || file["file"] != "UE5HREFUQQ==" || file["mimetype"] != "application/octet-stream" {
		t.Errorf("multipart: %v", m)
	}

	o.MaxFormFileSize = 4
	if _, err := o.parseBody(mw.FormDataContentType(), buf.Bytes()); errIDOf(err) != "network.http.file_too_large" {
		t.Errorf("big file: %v", err)
	}
	for ct, id := range map[string]string{
		"application/xml":                  "network.http.unsupported_content",
		"application/json; charset=latin1": "network.http.unsupported_charset",
		"multipart/form-data":              "network.http.body_parse_failed",
	} {
		if _, err := o.parseBody(ct, []byte("{}")); errIDOf(err) != id {
			t.Errorf("%s: %v, want %s", ct, err, id)
		}
	}
}

// Responses are compressed for clients that accept it; CORS follows the
// configured origins.
func TestCompressedResponseAndCORS(t *testing.T) {
	o := DefaultHTTPOptions()
	big := []byte(strings.Repeat(`{"k":"v"},`, 500))
	h := http.Header{}
	out := o.compressResponse(h, "deflate;q=0, gzip", big)
	if h.Get("Content-Encoding") != "gzip" {
		t.Fatalf("encoding %q", h.Get("Content-Encoding"))
	}
	r, _ := gzip.NewReader(bytes.NewReader(out))
	back, _ := io.ReadAll(r)
	if !bytes.Equal(back, big) {
		t.Fatal("gzip round trip")
	}
	h = http.Header{}
	if out := o.compressResponse(h, "br", big); h.Get("Content-Encoding") != "" || !bytes.Equal(out, big) {
		t.Fatal("compressed for a client that does not take gzip or deflate")
	}

	h = http.Header{}
	o.cors(h, "https://x.example")
	if h.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("default origin %q", h.Get("Access-Control-Allow-Origin"))
	}
	o.AllowOrigin = []string{"https://a.example"}
	h = http.Header{}
	o.cors(h, "https://a.example")
	if h.Get("Access-Control-Allow-Origin") != "https://a.example" || h.Get("Vary") != "Origin" {
		t.Fatalf("listed origin: %v", h)
	}
	h = http.Header{}
	o.cors(h, "https://evil.example")
	if h.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("unlisted origin allowed: %v", h)
	}
}
