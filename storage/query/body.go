package query

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/korumdb/korum/kerror"
)

// searchBodyKeys are the top-level search body keys Kuzzle lets through to
// Elasticsearch. The ones this package cannot honour are refused with
// unsupported_query; anything else is invalid_search_query, as in Kuzzle.
var searchBodyKeys = map[string]bool{
	"aggregations": false, "aggs": false, "collapse": false, "explain": false,
	"fields": false, "from": true, "highlight": false, "post_filter": false,
	"query": true, "search_after": true, "search_timeout": false, "size": true,
	"sort": true, "suggest": false, "_name": true, "_source": false,
	"_source_excludes": false, "_source_includes": false,
}

// Body is a search body split into the parts the embedded engine serves.
// From and Size are nil when the body does not set them.
type Body struct {
	Query json.RawMessage
	Sort  json.RawMessage
	// SearchAfter is the raw search_after array, checked by the engine
	// against the sort it goes with.
	SearchAfter json.RawMessage
	From        *int
	Size        *int
}

// SplitSearchBody validates a Kuzzle search body ({query, sort, from, size,
// ...}) for the API layer, so that an aggregation or highlight request gets a
// clear 400 instead of being silently dropped.
func SplitSearchBody(raw json.RawMessage) (*Body, error) { return splitSearchBody(raw, false) }

// SplitSearchBodyFull is SplitSearchBody for an engine that serves the whole
// DSL (Elasticsearch): every key Kuzzle lets through is accepted, and the
// engine receives the body as is beside the split parts.
func SplitSearchBodyFull(raw json.RawMessage) (*Body, error) { return splitSearchBody(raw, true) }

func splitSearchBody(raw json.RawMessage, full bool) (*Body, error) {
	b := &Body{}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return b, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, kerror.Wrap(err, "services.storage.invalid_argument", "body", "an object")
	}
	for _, k := range sortedRawKeys(m) {
		supported, known := searchBodyKeys[k]
		if !known {
			return nil, kerror.New("services.storage.invalid_search_query", k)
		}
		if !supported && !full {
			return nil, unsupported(fmt.Sprintf("the %q search body key", k))
		}
	}
	b.Query, b.Sort, b.SearchAfter = m["query"], m["sort"], m["search_after"]
	for _, f := range []struct {
		key string
		dst **int
	}{{"from", &b.From}, {"size", &b.Size}} {
		v, ok := m[f.key]
		if !ok {
			continue
		}
		var n int
		if err := json.Unmarshal(v, &n); err != nil || n < 0 {
			return nil, badArg(f.key, "a positive integer")
		}
		*f.dst = &n
	}
	return b, nil
}

func sortedRawKeys(m map[string]json.RawMessage) []string {
	anyMap := make(map[string]any, len(m))
	for k := range m {
		anyMap[k] = nil
	}
	return sortedKeys(anyMap)
}
