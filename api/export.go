package api

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/storage"
)

// Stream is a result written as it is rather than in Kuzzle's envelope
// (document:export's file). Only the HTTP layer can write one: the
// actions that return it refuse other protocols.
type Stream struct {
	ContentType string
	Filename    string
	// Write writes the body. ctx is the HTTP request's: the client going
	// away stops the work.
	Write func(ctx context.Context, w io.Writer) error
}

// MappingReader reads a collection's mapping (document:export's CSV
// columns).
type MappingReader interface {
	GetMapping(ctx context.Context, index, collection string) (map[string]any, error)
}

// exportPageSize is the default page of document:export: Kuzzle's search
// default (10) would make an export of a large collection mostly scroll
// round trips.
const exportPageSize = 1000

// export is Kuzzle's document:export: the documents a search selects,
// scrolled page by page and streamed over HTTP as JSON lines (a header
// line naming the collection, then {"_id","body"} per document) or CSV
// (_id then the chosen fields; objects as "[OBJECT]", as Kuzzle writes).
func (c *documentController) export(ctx context.Context, r *Request) (any, error) {
	// Kuzzle reads index, collection and the search parameters before it
	// refuses a protocol other than HTTP.
	index, collection, body, err := targetBody(r, false)
	if err != nil {
		return nil, err
	}
	if err := checkSearchParams(r); err != nil {
		return nil, err
	}
	if r.Protocol != "http" {
		return nil, kerror.New("api.assert.unsupported_protocol", r.Protocol, "document:export")
	}
	if body, err = queryLang(r, body); err != nil {
		return nil, err
	}
	format, err := r.OptString("format")
	if err != nil {
		return nil, err
	}
	format = strings.ToLower(format)
	if format == "" {
		format = "jsonl"
	}
	if format != "jsonl" && format != "csv" {
		return nil, kerror.New("api.assert.invalid_argument", "format", `"jsonl" or "csv"`)
	}
	sep, err := r.OptString("separator")
	if err != nil {
		return nil, err
	}
	if sep == "" {
		sep = ","
	}
	comma, n := utf8.DecodeRuneInString(sep)
	if n != len(sep) || comma == '"' || comma == '\r' || comma == '\n' || comma == utf8.RuneError {
		return nil, kerror.New("api.assert.invalid_argument", "separator", "one character other than a quote or a line break")
	}
	fields, err := stringList(r, body, "fields")
	if err != nil {
		return nil, err
	}
	names, err := objectArg(r, body, "fieldsName")
	if err != nil {
		return nil, err
	}
	size, err := r.Int("size", exportPageSize)
	if err != nil {
		return nil, err
	}
	if size <= 0 {
		return nil, kerror.New("api.assert.invalid_argument", "size", "a strictly positive integer")
	}
	if c.limits.DocumentsFetch > 0 && size > c.limits.DocumentsFetch {
		size = c.limits.DocumentsFetch
	}
	ttl, err := r.OptString("scroll")
	if err != nil {
		return nil, err
	}
	if ttl == "" {
		ttl = "30s"
	}
	search := map[string]any{}
	for _, k := range []string{"query", "sort"} {
		if v, ok := body[k]; ok {
			search[k] = v
		}
	}
	fd, ok := c.store.(FullDSL)
	req, err := searchRequest(r, search, c.limits.DocumentsFetch, ok && fd.FullQueryDSL())
	if err != nil {
		return nil, err
	}
	req.From, req.Size, req.Scroll = 0, size, ttl
	if err := c.store.ReadBarrier(ctx); err != nil {
		return nil, err
	}
	// The first page is read now, so that a bad query or a missing
	// collection is an error response and not a truncated file.
	first, err := c.store.Search(ctx, index, collection, req)
	if err != nil {
		return nil, err
	}
	if format == "csv" && len(fields) == 0 {
		m, err := c.mappings.GetMapping(ctx, index, collection)
		if err != nil {
			return nil, err
		}
		fields = mappingFields(m)
	}
	fields = withoutID(fields)
	return &Stream{
		ContentType: map[string]string{"jsonl": "application/x-ndjson", "csv": "text/csv"}[format],
		Filename:    index + "-" + collection + "." + format,
		Write: func(ctx context.Context, w io.Writer) error {
			bw := bufio.NewWriterSize(w, 32<<10)
			var line func(h storage.Hit) error
			if format == "jsonl" {
				enc := json.NewEncoder(bw)
				if err := enc.Encode(map[string]any{"collection": collection, "index": index, "type": "collection"}); err != nil {
					return err
				}
				line = func(h storage.Hit) error { return enc.Encode(map[string]any{"_id": h.ID, "body": h.Source}) }
			} else {
				cw := csv.NewWriter(bw)
				cw.Comma = comma
				header := []string{"_id"}
				header = append(header, fields...)
				for i, f := range header {
					if n, ok := names[f].(string); ok {
						header[i] = n
					}
				}
				if err := cw.Write(header); err != nil {
					return err
				}
				line = func(h storage.Hit) error {
					rec := make([]string, 0, len(fields)+1)
					rec = append(rec, h.ID)
					for _, f := range fields {
						rec = append(rec, csvValue(h.Source, f))
					}
					if err := cw.Write(rec); err != nil {
						return err
					}
					cw.Flush()
					return cw.Error()
				}
			}
			page := first
			for {
				for _, h := range page.Hits {
					if err := line(h); err != nil {
						return err
					}
				}
				if err := bw.Flush(); err != nil {
					return err
				}
				if len(page.Hits) == 0 || page.ScrollID == "" || page.Remaining == 0 && len(page.Hits) < size {
					return nil
				}
				if page, err = c.store.Scroll(ctx, page.ScrollID, ttl); err != nil {
					return err
				}
			}
		},
	}, nil
}

// stringList reads a list of strings from the body or, for GET routes,
// from the arguments.
func stringList(r *Request, body map[string]any, name string) ([]string, error) {
	v, ok := body[name]
	if !ok {
		v, ok = r.Args[name]
	}
	if !ok || v == nil {
		return nil, nil
	}
	if s, isStr := v.(string); isStr {
		if strings.HasPrefix(s, "[") {
			var l []string
			if err := json.Unmarshal([]byte(s), &l); err != nil {
				return nil, kerror.New("api.assert.invalid_type", name, "array of strings")
			}
			return l, nil
		}
		return strings.Split(s, ","), nil
	}
	list, isList := v.([]any)
	if !isList {
		return nil, kerror.New("api.assert.invalid_type", name, "array of strings")
	}
	out := make([]string, len(list))
	for i, e := range list {
		s, isStr := e.(string)
		if !isStr {
			return nil, kerror.New("api.assert.invalid_type", name, "array of strings")
		}
		out[i] = s
	}
	return out, nil
}

// objectArg reads an object from the body or from the arguments (where
// GET routes carry it as JSON text).
func objectArg(r *Request, body map[string]any, name string) (map[string]any, error) {
	v, ok := body[name]
	if !ok {
		v, ok = r.Args[name]
	}
	if !ok || v == nil {
		return map[string]any{}, nil
	}
	if s, isStr := v.(string); isStr {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			return nil, kerror.New("api.assert.invalid_type", name, "object")
		}
		return m, nil
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		return nil, kerror.New("api.assert.invalid_type", name, "object")
	}
	return m, nil
}

// mappingFields lists the leaf fields of a mapping as dotted paths,
// sorted, without Kuzzle's metadata.
func mappingFields(m map[string]any) []string {
	var out []string
	var walk func(props map[string]any, prefix string)
	walk = func(props map[string]any, prefix string) {
		for k, v := range props {
			p, ok := v.(map[string]any)
			if !ok || prefix == "" && k == "_kuzzle_info" {
				continue
			}
			if _, typed := p["type"]; typed {
				out = append(out, prefix+k)
			} else if sub, ok := p["properties"].(map[string]any); ok {
				walk(sub, prefix+k+".")
			}
		}
	}
	if props, ok := m["properties"].(map[string]any); ok {
		walk(props, "")
	}
	sort.Strings(out)
	return out
}

func withoutID(fields []string) []string {
	out := fields[:0:0]
	for _, f := range fields {
		if f != "_id" {
			out = append(out, f)
		}
	}
	return out
}

// csvValue is a field of a document (a dotted path) as Kuzzle writes it in
// CSV: scalars as text, objects and arrays as "[OBJECT]", absent as "".
func csvValue(src map[string]any, path string) string {
	var v any = src
	for _, part := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		if v, ok = m[part]; !ok {
			return ""
		}
	}
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		return x.String()
	case map[string]any, []any:
		return "[OBJECT]"
	}
	b, _ := json.Marshal(v)
	return string(b)
}
