package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"reflect"
	"testing"

	"github.com/korumdb/korum/storage"
)

// readBackend records what the document controller's reads receive.
type readBackend struct {
	wsBackend
	count  json.RawMessage
	search storage.SearchRequest
	ids    []string
}

func (b *readBackend) ReadBarrier(context.Context) error { return nil }
func (b *readBackend) GetBarrier(context.Context) error  { return nil }
func (b *readBackend) Count(_ context.Context, _, _ string, q json.RawMessage) (int, error) {
	b.count = q
	return 1, nil
}
func (b *readBackend) Search(_ context.Context, _, _ string, req storage.SearchRequest) (*storage.SearchResult, error) {
	b.search = req
	return &storage.SearchResult{}, nil
}
func (b *readBackend) MGet(_ context.Context, _, _ string, ids []string) ([]*storage.Document, []string, error) {
	b.ids = ids
	return nil, ids, nil
}

func getOK(t *testing.T, b *readBackend, path string) {
	t.Helper()
	s := NewServer(b, Limits{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
	if w.Code != 200 {
		t.Fatalf("GET %s: %d %s", path, w.Code, w.Body.String())
	}
}

func jsonEqual(t *testing.T, what string, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %q: %v", what, got, err)
	}
	_ = json.Unmarshal([]byte(want), &w)
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s: %s, want %s", what, got, want)
	}
}

// GET routes of actions that take a body read it from the query string as
// Kuzzle's SDKs write it there: body keys as arguments (objects in JSON,
// arrays joined by commas), or a whole searchBody.
func TestGETBodyFromQueryString(t *testing.T) {
	q := url.QueryEscape(`{"match":{"a":"x"}}`)

	b := &readBackend{}
	getOK(t, b, "/i/c/_count?query="+q)
	jsonEqual(t, "GET _count?query", b.count, `{"match":{"a":"x"}}`)

	b = &readBackend{}
	getOK(t, b, "/i/c/_count?searchBody="+url.QueryEscape(`{"query":{"term":{"a":1}}}`))
	jsonEqual(t, "GET _count?searchBody", b.count, `{"term":{"a":1}}`)

	b = &readBackend{}
	getOK(t, b, "/i/c/_search?query="+q+"&sort="+url.QueryEscape(`["a"]`)+"&size=3")
	jsonEqual(t, "GET _search?query", b.search.Query, `{"match":{"a":"x"}}`)
	jsonEqual(t, "GET _search?sort", b.search.Sort, `["a"]`)
	if b.search.Size != 3 {
		t.Fatalf("GET _search size %d, want 3", b.search.Size)
	}

	b = &readBackend{}
	getOK(t, b, "/i/c/_search?searchBody="+url.QueryEscape(`{"query":{"ids":{"values":["a"]}}}`))
	jsonEqual(t, "GET _search?searchBody", b.search.Query, `{"ids":{"values":["a"]}}`)

	for _, path := range []string{"/i/c/_mGet?ids=a,b", "/i/c/_mExists?ids=a,b"} {
		b = &readBackend{}
		getOK(t, b, path)
		if !reflect.DeepEqual(b.ids, []string{"a", "b"}) {
			t.Fatalf("GET %s: ids %q", path, b.ids)
		}
	}
}

// A body key the client got wrong is an error, not an ignored argument.
func TestGETBodyFromQueryStringRefusesBadJSON(t *testing.T) {
	s := NewServer(&readBackend{}, Limits{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", "/i/c/_count?query=%7Bnot-json", nil))
	if w.Code != 400 {
		t.Fatalf("GET _count with a malformed query: %d %s", w.Code, w.Body.String())
	}
}
