package api

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"

	"github.com/korumdb/korum/internal/jsonx"
	"github.com/korumdb/korum/kerror"
)

// HTTPOptions are Kuzzle's HTTP settings beyond timeouts
// (server.protocols.http and the http section).
type HTTPOptions struct {
	// AllowCompression accepts gzip/deflate request bodies and compresses
	// responses for clients that accept it.
	AllowCompression bool
	// MaxEncodingLayers bounds the Content-Encoding layers of a request.
	MaxEncodingLayers int
	// MaxFormFileSize bounds one file of a multipart/form-data body.
	MaxFormFileSize int64
	// AllowOrigin lists the origins browsers may call from ("*": any);
	// AllowMethods and AllowHeaders are sent as they are.
	AllowOrigin  []string
	AllowMethods string
	AllowHeaders string
}

// DefaultHTTPOptions are Kuzzle's defaults.
func DefaultHTTPOptions() HTTPOptions {
	return HTTPOptions{AllowCompression: true, MaxEncodingLayers: 3, MaxFormFileSize: 1 << 20,
		AllowOrigin:  []string{"*"},
		AllowMethods: "GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS",
		AllowHeaders: "Content-Type,Access-Control-Allow-Headers,Authorization,X-Requested-With,Content-Length,Content-Encoding,X-Kuzzle-Volatile,X-Kuzzle-Request-Id"}
}

// cors sets the CORS headers of a response as Kuzzle does: "*" allows any
// origin; otherwise a listed origin is echoed back (and Vary: Origin set).
func (o *HTTPOptions) cors(h http.Header, origin string) {
	for _, allowed := range o.AllowOrigin {
		if allowed == "*" {
			h.Set("Access-Control-Allow-Origin", "*")
			break
		}
		if origin != "" && strings.EqualFold(allowed, origin) {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			break
		}
	}
	h.Set("Access-Control-Allow-Methods", o.AllowMethods)
	h.Set("Access-Control-Allow-Headers", o.AllowHeaders)
	h.Set("Access-Control-Expose-Headers", "X-Kuzzle-Request-Id,X-Kuzzle-Node")
}

// decompress undoes a request's Content-Encoding layers (applied in the
// order listed, so undone from the last). What they inflate to is bounded
// by maxSize: a compressed bomb is a 413 like any oversized request.
func (o *HTTPOptions) decompress(header string, data []byte, maxSize int) ([]byte, error) {
	var layers []string
	for _, l := range strings.Split(header, ",") {
		if l = strings.ToLower(strings.TrimSpace(l)); l != "" && l != "identity" {
			layers = append(layers, l)
		}
	}
	if len(layers) == 0 {
		return data, nil
	}
	if !o.AllowCompression {
		return nil, kerror.New("network.http.compression_disabled")
	}
	if len(layers) > o.MaxEncodingLayers {
		return nil, kerror.New("network.http.too_many_encodings")
	}
	for i := len(layers) - 1; i >= 0; i-- {
		var zr io.ReadCloser
		var err error
		switch layers[i] {
		case "gzip", "x-gzip":
			zr, err = gzip.NewReader(bytes.NewReader(data))
		case "deflate":
			zr, err = zlib.NewReader(bytes.NewReader(data))
		default:
			return nil, kerror.New("network.http.unsupported_compression", layers[i])
		}
		if err != nil {
			return nil, kerror.New("network.http.body_parse_failed", "invalid "+layers[i]+" data")
		}
		out, err := io.ReadAll(io.LimitReader(zr, int64(maxSize)+1))
		zr.Close()
		if err != nil {
			return nil, kerror.New("network.http.body_parse_failed", "invalid "+layers[i]+" data")
		}
		if len(out) > maxSize {
			return nil, kerror.New("network.http.request_too_large")
		}
		data = out
	}
	return data, nil
}

// parseBody reads a request body by its content type: JSON (the default),
// application/x-www-form-urlencoded (fields, repeated ones as lists) or
// multipart/form-data (fields, and files as {filename, encoding, mimetype,
// file (base64)}), as Kuzzle does.
func (o *HTTPOptions) parseBody(contentType string, data []byte) (any, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if contentType == "" || err != nil && !strings.Contains(contentType, "/") {
		mt = "application/json"
	} else if err != nil {
		return nil, kerror.New("network.http.unsupported_content", contentType)
	}
	if cs := strings.ToLower(params["charset"]); cs != "" && cs != "utf-8" && cs != "utf8" {
		return nil, kerror.New("network.http.unsupported_charset", cs)
	}
	switch mt {
	case "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(data))
		if err != nil {
			return nil, kerror.New("network.http.body_parse_failed", "invalid form data")
		}
		return formFields(vals), nil
	case "multipart/form-data":
		return o.parseMultipart(data, params["boundary"])
	case "application/json", "text/plain", "application/x-ndjson":
		// text/plain: what browsers send for a fetch without headers.
		var body any
		if err := jsonx.Unmarshal(data, &body); err != nil {
			return nil, kerror.New("network.http.body_parse_failed", err.Error())
		}
		return body, nil
	}
	if strings.HasSuffix(mt, "+json") {
		var body any
		if err := jsonx.Unmarshal(data, &body); err != nil {
			return nil, kerror.New("network.http.body_parse_failed", err.Error())
		}
		return body, nil
	}
	return nil, kerror.New("network.http.unsupported_content", contentType)
}

func formFields(vals url.Values) map[string]any {
	out := make(map[string]any, len(vals))
	for k, vs := range vals {
		if len(vs) == 1 {
			out[k] = vs[0]
			continue
		}
		l := make([]any, len(vs))
		for i, v := range vs {
			l[i] = v
		}
		out[k] = l
	}
	return out
}

// maxFormParts bounds the parts of a multipart body, so that many tiny
// parts cannot cost more than the body's size suggests.
const maxFormParts = 1000

func (o *HTTPOptions) parseMultipart(data []byte, boundary string) (any, error) {
	if boundary == "" {
		return nil, kerror.New("network.http.body_parse_failed", "multipart body without a boundary")
	}
	mr := multipart.NewReader(bytes.NewReader(data), boundary)
	fields := url.Values{}
	out := map[string]any{}
	for n := 0; ; n++ {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil || n >= maxFormParts {
			return nil, kerror.New("network.http.body_parse_failed", "invalid multipart body")
		}
		name := p.FormName()
		content, err := io.ReadAll(io.LimitReader(p, o.MaxFormFileSize+1))
		if err != nil {
			return nil, kerror.New("network.http.body_parse_failed", "invalid multipart body")
		}
		if p.FileName() == "" {
			fields.Add(name, string(content))
			continue
		}
		if int64(len(content)) > o.MaxFormFileSize {
			return nil, kerror.New("network.http.file_too_large")
		}
		enc := p.Header.Get("Content-Transfer-Encoding")
		if enc == "" {
			enc = "7bit"
		}
		out[name] = map[string]any{"filename": p.FileName(), "encoding": enc,
			"mimetype": p.Header.Get("Content-Type"), "file": base64.StdEncoding.EncodeToString(content)}
	}
	for k, v := range formFields(fields) {
		out[k] = v
	}
	return out, nil
}

// compressResponse compresses a response body for a client whose
// Accept-Encoding takes gzip or deflate. Small bodies are sent as they
// are: compressing them costs more than it saves.
func (o *HTTPOptions) compressResponse(h http.Header, acceptEncoding string, body []byte) []byte {
	if !o.AllowCompression || len(body) < 1024 {
		return body
	}
	var enc string
	for _, e := range strings.Split(acceptEncoding, ",") {
		e, q, _ := strings.Cut(strings.TrimSpace(strings.ToLower(e)), ";")
		if strings.TrimSpace(q) == "q=0" {
			continue
		}
		if e == "gzip" {
			enc = "gzip"
			break
		}
		if e == "deflate" && enc == "" {
			enc = "deflate"
		}
	}
	if enc == "" {
		return body
	}
	var buf bytes.Buffer
	var zw io.WriteCloser
	if enc == "gzip" {
		zw = gzip.NewWriter(&buf)
	} else {
		zw = zlib.NewWriter(&buf)
	}
	if _, err := zw.Write(body); err != nil || zw.Close() != nil {
		return body
	}
	h.Set("Content-Encoding", enc)
	h.Add("Vary", "Accept-Encoding")
	return buf.Bytes()
}
