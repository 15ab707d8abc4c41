package elasticsearch

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/storage"
)

// Get returns a document (a realtime get: no refresh needed), or
// services.storage.not_found.
func (e *Engine) Get(ctx context.Context, index, collection, id string) (*storage.Document, error) {
	if collection == hiddenCollection {
		return nil, kerror.New("services.storage.unknown_collection", index, collection)
	}
	doc, notFound, err := e.gets.get(ctx, index, collection, id, func() (*storage.Document, error) {
		return e.getOne(ctx, index, collection, id)
	})
	if notFound {
		return nil, kerror.New("services.storage.not_found", id, index, collection)
	}
	return doc, err
}

// getOne reads one document with a plain GET.
func (e *Engine) getOne(ctx context.Context, index, collection, id string) (*storage.Document, error) {
	var r struct {
		Found   bool           `json:"found"`
		Version int64          `json:"_version"`
		Source  map[string]any `json:"_source"`
	}
	err := e.call(ctx, esapi.GetRequest{Index: alias(index, collection), DocumentID: id}, &r)
	if (err == nil && !r.Found) || (isStatus(err, 404) && !isType(err, "index_not_found_exception")) {
		return nil, kerror.New("services.storage.not_found", id, index, collection)
	}
	if err != nil {
		return nil, e.whichMissing(ctx, index, collection, kuzzleError(err, index, collection, id))
	}
	return &storage.Document{ID: id, Version: r.Version, Source: r.Source}, nil
}

// mgetDoc is one document of an _mget answer.
type mgetDoc struct {
	ID      string          `json:"_id"`
	Found   bool            `json:"found"`
	Version int64           `json:"_version"`
	SeqNo   int64           `json:"_seq_no"`
	Term    int64           `json:"_primary_term"`
	Source  map[string]any  `json:"_source"`
	Error   json.RawMessage `json:"error"`
}

// mget reads ids from a collection in one realtime _mget and answers its
// documents in request order. A failed request's error is Elasticsearch's,
// for the caller to map.
func (e *Engine) mget(ctx context.Context, index, collection string, ids []string) ([]mgetDoc, error) {
	body, err := jsonBody(map[string]any{"ids": ids})
	if err != nil {
		return nil, err
	}
	var r struct {
		Docs []mgetDoc `json:"docs"`
	}
	if err := e.call(ctx, esapi.MgetRequest{Index: alias(index, collection), Body: body}, &r); err != nil {
		return nil, err
	}
	return r.Docs, nil
}

// itemErr is Kuzzle's error for a document that carries its own error:
// _mget answers a missing alias per document.
func (d *mgetDoc) itemErr(index, collection string) error {
	return kuzzleError(parseError(404, []byte(`{"error":`+string(d.Error)+`}`)), index, collection, d.ID)
}

// MGet returns the documents found, in request order, and the ids not found.
func (e *Engine) MGet(ctx context.Context, index, collection string, ids []string) ([]*storage.Document, []string, error) {
	if collection == hiddenCollection {
		return nil, nil, kerror.New("services.storage.unknown_collection", index, collection)
	}
	if len(ids) > e.opts.DocumentsFetchCount {
		return nil, nil, kerror.New("services.storage.get_limit_exceeded")
	}
	found := []*storage.Document{}
	missing := []string{}
	if len(ids) == 0 {
		// Nothing to read, but the collection must exist.
		if _, err := e.requireCollection(ctx, index, collection); err != nil {
			return nil, nil, err
		}
		return found, missing, nil
	}
	docs, err := e.mget(ctx, index, collection, ids)
	if err != nil {
		return nil, nil, e.whichMissing(ctx, index, collection, kuzzleError(err, index, collection, ""))
	}
	for _, d := range docs {
		if len(d.Error) > 0 {
			return nil, nil, e.whichMissing(ctx, index, collection, d.itemErr(index, collection))
		}
		if d.Found {
			found = append(found, &storage.Document{ID: d.ID, Version: d.Version, Source: d.Source})
		} else {
			missing = append(missing, d.ID)
		}
	}
	return found, missing, nil
}

// searchBodyKeys are the top-level keys Kuzzle accepts in a search body.
var searchBodyKeys = map[string]bool{
	"aggregations": true, "aggs": true, "collapse": true, "explain": true, "from": true, "highlight": true,
	"query": true, "search_after": true, "search_timeout": true, "size": true, "sort": true, "suggest": true,
	"_name": true, "_source": true, "_source_excludes": true, "_source_includes": true,
}

// checkScripts refuses inline scripts anywhere in a body: only stored
// scripts (id, params) are allowed, as in Kuzzle.
func checkScripts(raw json.RawMessage) error {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return kerror.New("services.storage.invalid_argument", "body", "an object")
	}
	return walkScripts(v)
}

func walkScripts(v any) error {
	switch t := v.(type) {
	case map[string]any:
		for k, sub := range t {
			if k == "script" || k == "_script" {
				if m, ok := sub.(map[string]any); ok {
					for arg := range m {
						if arg != "id" && arg != "params" {
							return kerror.New("services.storage.invalid_query_keyword", k+"."+arg)
						}
					}
					continue
				}
			}
			if err := walkScripts(sub); err != nil {
				return err
			}
		}
	case []any:
		for _, sub := range t {
			if err := walkScripts(sub); err != nil {
				return err
			}
		}
	}
	return nil
}

// searchBody builds the ES body of a search: the client's body (Kuzzle's
// keys only, no inline script, an empty query made match_all) with the
// request's paging.
func searchBody(req storage.SearchRequest) (map[string]any, error) {
	body := map[string]any{}
	if len(req.Body) > 0 && string(req.Body) != "null" {
		if err := json.Unmarshal(req.Body, &body); err != nil {
			return nil, kerror.New("services.storage.invalid_argument", "body", "an object")
		}
	}
	for k, raw := range map[string]json.RawMessage{"query": req.Query, "sort": req.Sort, "search_after": req.SearchAfter} {
		if len(raw) == 0 {
			continue
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, kerror.New("services.storage.invalid_argument", "body."+k, "JSON")
		}
		body[k] = v
	}
	for k := range body {
		if !searchBodyKeys[k] {
			return nil, kerror.New("services.storage.invalid_search_query", k)
		}
	}
	if err := walkScripts(body); err != nil {
		return nil, err
	}
	if q, ok := body["query"]; !ok || isEmpty(q) {
		body["query"] = map[string]any{"match_all": map[string]any{}}
	}
	delete(body, "from")
	delete(body, "size")
	body["track_total_hits"] = true
	body["version"] = true
	return body, nil
}

func isEmpty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case json.RawMessage:
		s := strings.TrimSpace(string(t))
		return s == "" || s == "null" || s == "{}"
	case map[string]any:
		return len(t) == 0
	}
	return false
}

type searchAnswer struct {
	ScrollID string `json:"_scroll_id"`
	Hits     struct {
		Total struct {
			Value int `json:"value"`
		} `json:"total"`
		Hits []struct {
			ID        string         `json:"_id"`
			Index     string         `json:"_index"`
			Score     *float64       `json:"_score"`
			Version   int64          `json:"_version"`
			SeqNo     int64          `json:"_seq_no"`
			Term      int64          `json:"_primary_term"`
			Source    map[string]any `json:"_source"`
			Highlight map[string]any `json:"highlight"`
		} `json:"hits"`
	} `json:"hits"`
	Aggregations map[string]any `json:"aggregations"`
}

// result shapes the answer; names tells the Kuzzle index and collection
// of each hit from the ES index it was found in.
func (a *searchAnswer) result(names func(esIndex string) (string, string)) *storage.SearchResult {
	out := &storage.SearchResult{Hits: make([]storage.Hit, 0, len(a.Hits.Hits)), Total: a.Hits.Total.Value,
		Aggregations: a.Aggregations}
	for _, h := range a.Hits.Hits {
		hit := storage.Hit{ID: h.ID, Version: h.Version, Source: h.Source, Highlight: h.Highlight}
		hit.Index, hit.Collection = names(h.Index)
		if h.Score != nil {
			hit.Score = *h.Score
		}
		out.Hits = append(out.Hits, hit)
	}
	return out
}

func (e *Engine) scrollTTL(ttl string) (time.Duration, error) {
	if ttl == "" {
		return e.opts.DefaultScrollTTL, nil
	}
	d, err := parseTTL(ttl)
	if err != nil {
		return 0, kerror.New("services.storage.invalid_argument", "scroll", "a duration like 30s or 1m")
	}
	if d > e.opts.MaxScrollDuration {
		return 0, kerror.New("services.storage.scroll_duration_too_great", ttl)
	}
	return d, nil
}

// parseTTL reads Kuzzle's durations ("30s", "1m", "500ms", or plain
// milliseconds).
func parseTTL(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	var ms int64
	if err := json.Unmarshal([]byte(s), &ms); err == nil && ms >= 0 {
		return time.Duration(ms) * time.Millisecond, nil
	}
	return time.ParseDuration(strings.TrimSuffix(s, "d") + "h") // never a valid ttl here; yields the error
}

// Search runs a search: the query DSL passed through.
func (e *Engine) Search(ctx context.Context, index, collection string, req storage.SearchRequest) (*storage.SearchResult, error) {
	if _, err := e.requireCollection(ctx, index, collection); err != nil {
		return nil, err
	}
	if req.From+req.Size > e.opts.DocumentsFetchCount {
		return nil, kerror.New("services.storage.get_limit_exceeded")
	}
	body, err := searchBody(req)
	if err != nil {
		return nil, err
	}
	if err := e.refreshFor(ctx, index, collection); err != nil {
		return nil, err
	}
	r, err := jsonBody(body)
	if err != nil {
		return nil, err
	}
	from, size := req.From, req.Size
	sr := esapi.SearchRequest{Index: []string{alias(index, collection)}, Body: r, From: &from, Size: &size}
	if req.Scroll != "" {
		ttl, err := e.scrollTTL(req.Scroll)
		if err != nil {
			return nil, err
		}
		sr.Scroll = ttl
	}
	var a searchAnswer
	if err := e.call(ctx, sr, &a); err != nil {
		return nil, kuzzleError(err, index, collection, "")
	}
	out := a.result(func(string) (string, string) { return index, collection })
	if a.ScrollID != "" {
		fetched := from + len(out.Hits)
		out.Remaining = max(out.Total-fetched, 0)
		out.ScrollID = e.wrapScroll(index, collection, fetched, a.ScrollID)
	}
	return out, nil
}

// MultiSearch runs one search over the aliases of every collection of
// targets (an ES multi-index search, hits ranked together). Every
// collection must exist; the hits name theirs from the ES index behind it.
func (e *Engine) MultiSearch(ctx context.Context, targets []storage.Target, req storage.SearchRequest) (*storage.SearchResult, error) {
	if req.From+req.Size > e.opts.DocumentsFetchCount {
		return nil, kerror.New("services.storage.get_limit_exceeded")
	}
	s, err := e.schema(ctx)
	if err != nil {
		return nil, err
	}
	var aliases []string
	seen := map[string]bool{}
	for _, t := range targets {
		colls, ok := s[t.Index]
		if !ok {
			return nil, kerror.New("services.storage.unknown_index", t.Index)
		}
		for _, c := range t.Collections {
			if _, ok := colls[c]; !ok || c == hiddenCollection {
				return nil, kerror.New("services.storage.unknown_collection", t.Index, c)
			}
			if a := alias(t.Index, c); !seen[a] {
				seen[a] = true
				aliases = append(aliases, a)
			}
		}
	}
	body, err := searchBody(req)
	if err != nil {
		return nil, err
	}
	if e.opts.RefreshBeforeSearch {
		if err := e.call(ctx, esapi.IndicesRefreshRequest{Index: aliases}, nil); err != nil {
			return nil, kuzzleError(err, "", "", "")
		}
	}
	r, err := jsonBody(body)
	if err != nil {
		return nil, err
	}
	from, size := req.From, req.Size
	sr := esapi.SearchRequest{Index: aliases, Body: r, From: &from, Size: &size}
	if req.Scroll != "" {
		if sr.Scroll, err = e.scrollTTL(req.Scroll); err != nil {
			return nil, err
		}
	}
	var a searchAnswer
	if err := e.call(ctx, sr, &a); err != nil {
		return nil, kuzzleError(err, "", "", "")
	}
	out := a.result(namesOf(s))
	if a.ScrollID != "" {
		fetched := from + len(out.Hits)
		out.Remaining = max(out.Total-fetched, 0)
		ts, err := json.Marshal(targets)
		if err != nil {
			return nil, kerror.Wrap(err, "services.storage.unexpected_error", "encoding the scroll targets")
		}
		// No index: the collection part holds the targets.
		out.ScrollID = e.wrapScroll("", string(ts), fetched, a.ScrollID)
	}
	return out, nil
}

// namesOf inverts a schema: the Kuzzle index and collection behind each ES
// index ("" for one that is not a public collection's).
func namesOf(s map[string]map[string]string) func(string) (string, string) {
	byES := map[string][2]string{}
	for idx, colls := range s {
		for c, real := range colls {
			byES[real] = [2]string{idx, c}
		}
	}
	return func(esIndex string) (string, string) {
		n := byES[esIndex]
		return n[0], n[1]
	}
}

// Scroll continues a scroll.
func (e *Engine) Scroll(ctx context.Context, scrollID, ttl string) (*storage.SearchResult, error) {
	index, collection, fetched, esID, err := e.unwrapScroll(scrollID)
	if err != nil {
		return nil, err
	}
	d, err := e.scrollTTL(ttl)
	if err != nil {
		return nil, err
	}
	var a searchAnswer
	if err := e.call(ctx, esapi.ScrollRequest{ScrollID: esID, Scroll: d}, &a); err != nil {
		if isStatus(err, 404) || isType(err, "search_context_missing_exception", "illegal_argument_exception") {
			return nil, kerror.New("services.storage.unknown_scroll_id")
		}
		return nil, kuzzleError(err, index, collection, "")
	}
	names := func(string) (string, string) { return index, collection }
	if index == "" {
		s, err := e.schema(ctx)
		if err != nil {
			return nil, err
		}
		names = namesOf(s)
	}
	out := a.result(names)
	fetched += len(out.Hits)
	out.Remaining = max(out.Total-fetched, 0)
	if a.ScrollID != "" {
		out.ScrollID = e.wrapScroll(index, collection, fetched, a.ScrollID)
	}
	return out, nil
}

// ScrollTargets names the indexes and collections a scroll id reads.
func (e *Engine) ScrollTargets(_ context.Context, scrollID string) ([]storage.Target, error) {
	index, collection, _, _, err := e.unwrapScroll(scrollID)
	if err != nil {
		return nil, err
	}
	if index != "" {
		return []storage.Target{{Index: index, Collections: []string{collection}}}, nil
	}
	var ts []storage.Target
	if err := json.Unmarshal([]byte(collection), &ts); err != nil {
		return nil, kerror.New("services.storage.unknown_scroll_id")
	}
	return ts, nil
}

// A scroll id is base64url(index \x00 collection \x00 fetched \x00 ES
// scroll id; a multi-target scroll has no index and its targets in JSON
// for collection) "." base64url(HMAC-SHA256 of it), so a client cannot make one
// that reads a collection its rights do not cover. fetched, the documents
// returned so far, gives Kuzzle's `remaining` without state on the node.
func (e *Engine) wrapScroll(index, collection string, fetched int, esID string) string {
	payload := []byte(index + "\x00" + collection + "\x00" + strconv.Itoa(fetched) + "\x00" + esID)
	mac := hmac.New(sha256.New, e.opts.ScrollKey)
	mac.Write(payload)
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func (e *Engine) unwrapScroll(id string) (index, collection string, fetched int, esID string, err error) {
	bad := kerror.New("services.storage.unknown_scroll_id")
	p, s, ok := strings.Cut(id, ".")
	if !ok {
		return "", "", 0, "", bad
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p)
	sum, err2 := base64.RawURLEncoding.DecodeString(s)
	if err1 != nil || err2 != nil {
		return "", "", 0, "", bad
	}
	mac := hmac.New(sha256.New, e.opts.ScrollKey)
	mac.Write(payload)
	if !hmac.Equal(sum, mac.Sum(nil)) {
		return "", "", 0, "", bad
	}
	parts := strings.SplitN(string(payload), "\x00", 4)
	if len(parts) != 4 {
		return "", "", 0, "", bad
	}
	if fetched, err = strconv.Atoi(parts[2]); err != nil || fetched < 0 {
		return "", "", 0, "", bad
	}
	return parts[0], parts[1], fetched, parts[3], nil
}

// Count counts the documents matching a query.
func (e *Engine) Count(ctx context.Context, index, collection string, query json.RawMessage) (int, error) {
	if _, err := e.requireCollection(ctx, index, collection); err != nil {
		return 0, err
	}
	q := query
	if len(q) == 0 || isEmpty(json.RawMessage(q)) {
		q = json.RawMessage(`{"match_all":{}}`)
	}
	if err := checkScripts(q); err != nil {
		return 0, err
	}
	if err := e.refreshFor(ctx, index, collection); err != nil {
		return 0, err
	}
	body, err := jsonBody(map[string]any{"query": q})
	if err != nil {
		return 0, err
	}
	var r struct {
		Count int `json:"count"`
	}
	if err := e.call(ctx, esapi.CountRequest{Index: []string{alias(index, collection)}, Body: body}, &r); err != nil {
		return 0, kuzzleError(err, index, collection, "")
	}
	return r.Count, nil
}
