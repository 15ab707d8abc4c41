package elasticsearch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/storage"
)

// settingsOf parses a write's Elasticsearch index settings (nil when none).
func settingsOf(raw json.RawMessage) (map[string]any, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s map[string]any
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, kerror.New("services.storage.invalid_argument", "settings", "an object")
	}
	if len(s) == 0 {
		return nil, nil
	}
	return s, nil
}

// putSettings updates a collection's index settings, as Kuzzle's
// updateCollection does. Dynamic settings (index.blocks.write,
// number_of_replicas, refresh_interval...) apply at once on the open
// index. Elasticsearch refuses a static one (analysis...) on an open index:
// then, as Kuzzle's updateSettings does, the index is closed, the settings
// put and the index reopened, whatever the put's outcome. Only then: Kuzzle
// closes the index for every settings update, which refuses its reads and
// writes meanwhile. Final settings (number_of_shards) stay refused, as in
// Kuzzle.
func (e *Engine) putSettings(ctx context.Context, w *storage.Write) error {
	s, err := settingsOf(w.Settings)
	if err != nil || s == nil {
		return err
	}
	body, err := jsonBody(s)
	if err != nil {
		return err
	}
	target := []string{alias(w.Index, w.Collection)}
	err = e.call(ctx, esapi.IndicesPutSettingsRequest{Index: target, Body: body}, nil)
	if staticSettings(err) {
		err = e.putClosed(ctx, target, s)
	}
	return kuzzleError(err, w.Index, w.Collection, "")
}

// staticSettings tells whether Elasticsearch refused a settings update
// because it holds static settings and the index is open.
func staticSettings(err error) bool {
	var ee *esError
	return errors.As(err, &ee) && ee.Type == "illegal_argument_exception" &&
		strings.Contains(ee.Reason, "non dynamic settings") && strings.Contains(ee.Reason, "open indices")
}

// putClosed puts settings s on a closed index: close, put, reopen. The
// reopen does not depend on the request: a client gone while the index is
// closed must not leave it closed.
func (e *Engine) putClosed(ctx context.Context, target []string, s map[string]any) error {
	body, err := jsonBody(s)
	if err != nil {
		return err
	}
	if err := e.call(ctx, esapi.IndicesCloseRequest{Index: target}, nil); err != nil {
		return err
	}
	err = e.call(ctx, esapi.IndicesPutSettingsRequest{Index: target, Body: body}, nil)
	octx := context.WithoutCancel(ctx)
	var opened struct {
		Shards bool `json:"shards_acknowledged"`
	}
	if oerr := e.call(octx, esapi.IndicesOpenRequest{Index: target}, &opened); oerr != nil {
		e.log.Error("reopening an index closed for a settings update failed: it stays closed until reopened", "index", target[0], "err", oerr)
		if err == nil {
			err = oerr
		}
		return err
	}
	// The open waits for the primary shard (wait_for_active_shards
	// defaults to 1) only up to its timeout, then answers
	// shards_acknowledged false: then wait for the index to serve again
	// before answering, so that the client's next read finds it (the
	// health wait ends before the request's own timeout).
	if !opened.Shards {
		herr := e.call(ctx, esapi.ClusterHealthRequest{Index: target, WaitForStatus: "yellow", Timeout: e.opts.RequestTimeout * 3 / 4}, nil)
		if err == nil {
			err = herr
		}
	}
	return err
}

// GetSettings answers collection:getSettings as Kuzzle does: the index
// settings of the collection's Elasticsearch index (settings.index).
func (e *Engine) GetSettings(ctx context.Context, index, collection string) (map[string]any, error) {
	real, err := e.requireCollection(ctx, index, collection)
	if err != nil {
		return nil, err
	}
	var r map[string]struct {
		Settings struct {
			Index map[string]any `json:"index"`
		} `json:"settings"`
	}
	if err := e.call(ctx, esapi.IndicesGetSettingsRequest{Index: []string{real}}, &r); err != nil {
		return nil, kuzzleError(err, index, collection, "")
	}
	out := r[real].Settings.Index
	if out == nil {
		out = map[string]any{}
	}
	return out, nil
}

// Stats answers index:stats as Kuzzle's getStats does: every public
// collection with its document count and store size (primaries, from
// Elasticsearch's index stats), the hidden collections left out. With
// RefreshBeforeSearch, the collections are refreshed first, so that the
// counts include every acknowledged write.
func (e *Engine) Stats(ctx context.Context) ([]storage.IndexStats, error) {
	s, err := e.schema(ctx)
	if err != nil {
		return nil, err
	}
	if len(s) == 0 {
		return []storage.IndexStats{}, nil
	}
	pattern := []string{publicPrefix + "*"}
	if e.opts.RefreshBeforeSearch {
		var rr struct {
			Shards shardsHeader `json:"_shards"`
		}
		if err := e.call(ctx, esapi.IndicesRefreshRequest{Index: pattern}, &rr); err != nil {
			return nil, kuzzleError(err, "", "", "")
		}
		if err := rr.Shards.complete("refreshing"); err != nil {
			return nil, err
		}
	}
	var r struct {
		Indices map[string]struct {
			Primaries struct {
				Store struct {
					Size int64 `json:"size_in_bytes"`
				} `json:"store"`
			} `json:"primaries"`
		} `json:"indices"`
	}
	if err := e.call(ctx, esapi.IndicesStatsRequest{Index: pattern, Metric: []string{"store"}}, &r); err != nil {
		return nil, kuzzleError(err, "", "", "")
	}
	// Document counts from a search (what count and search see, after the
	// refresh above), not the index stats' Lucene document counts, which
	// include nested documents and were seen to lag a refresh.
	counts, err := e.countPerIndex(ctx, pattern)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(s))
	for i := range s {
		names = append(names, i)
	}
	sort.Strings(names)
	out := make([]storage.IndexStats, 0, len(names))
	for _, i := range names {
		is := storage.IndexStats{Name: i, Collections: []storage.CollectionStats{}}
		colls := make([]string, 0, len(s[i]))
		for c := range s[i] {
			if c != hiddenCollection {
				colls = append(colls, c)
			}
		}
		sort.Strings(colls)
		for _, c := range colls {
			st := r.Indices[s[i][c]].Primaries
			is.Collections = append(is.Collections, storage.CollectionStats{Name: c, Documents: counts[s[i][c]], Size: st.Store.Size})
			is.Size += st.Store.Size
		}
		out = append(out, is)
	}
	return out, nil
}

// countPerIndex counts the documents of each Elasticsearch index matching
// pattern in one search (a terms aggregation on _index).
func (e *Engine) countPerIndex(ctx context.Context, pattern []string) (map[string]int, error) {
	body, err := jsonBody(map[string]any{"size": 0, "track_total_hits": false,
		"aggs": map[string]any{"per": map[string]any{"terms": map[string]any{"field": "_index", "size": 65536}}}})
	if err != nil {
		return nil, err
	}
	var r struct {
		Shards       shardsHeader `json:"_shards"`
		Aggregations struct {
			Per struct {
				Buckets []struct {
					Key   string `json:"key"`
					Count int    `json:"doc_count"`
				} `json:"buckets"`
			} `json:"per"`
		} `json:"aggregations"`
	}
	if err := e.call(ctx, esapi.SearchRequest{Index: pattern, Body: body}, &r); err != nil {
		return nil, kuzzleError(err, "", "", "")
	}
	// A search whose shards partly failed still answers 200: its counts
	// would be wrong without an error.
	if err := r.Shards.complete("counting documents"); err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, b := range r.Aggregations.Per.Buckets {
		out[b.Key] = b.Count
	}
	return out, nil
}

// blockedWrite tells whether an Elasticsearch error is an index write
// block (index.blocks.write, read_only...).
func blockedWrite(ee *esError) bool {
	return ee.Type == "cluster_block_exception" && strings.Contains(ee.Reason, "FORBIDDEN")
}

// shardsHeader is the _shards part of an Elasticsearch answer.
type shardsHeader struct {
	Total  int `json:"total"`
	Failed int `json:"failed"`
}

// complete is an error when some shards failed: Elasticsearch still
// answers 200 with what the others gave.
func (h shardsHeader) complete(what string) error {
	if h.Failed > 0 {
		return kerror.New("services.storage.unexpected_error",
			fmt.Sprintf("%s: %d of %d Elasticsearch shards failed", what, h.Failed, h.Total))
	}
	return nil
}
