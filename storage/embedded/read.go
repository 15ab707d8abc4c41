package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	bolt "go.etcd.io/bbolt"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/storage"
	"github.com/korumdb/korum/storage/query"
)

// readErr keeps client errors as they are and labels file failures, which
// a client only ever sees as services.storage.unexpected_error.
func readErr(err error, what string) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*kerror.Error); ok {
		return err
	}
	// A request cancelled or past its deadline: the caller names it.
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return kerror.Wrap(fmt.Errorf("%s: %w", what, err), "services.storage.unexpected_error", what+" failed")
}

// ListIndexes returns the index names in byte order.
func (e *Engine) ListIndexes(ctx context.Context) ([]string, error) {
	out := []string{}
	err := e.view(func(tx *bolt.Tx) error {
		return indexesBucket(tx).ForEachBucket(func(k []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	return out, readErr(err, "list indexes")
}

// IndexExists reports whether the index exists.
func (e *Engine) IndexExists(ctx context.Context, index string) (bool, error) {
	var ok bool
	err := e.view(func(tx *bolt.Tx) error {
		ok = index != "" && indexesBucket(tx).Bucket([]byte(index)) != nil
		return nil
	})
	return ok, readErr(err, "check index")
}

// ListCollections returns the collection names of an index in byte order.
func (e *Engine) ListCollections(ctx context.Context, index string) ([]string, error) {
	out := []string{}
	err := e.view(func(tx *bolt.Tx) error {
		ib := indexesBucket(tx).Bucket([]byte(index))
		if ib == nil || index == "" {
			return kerror.New("services.storage.unknown_index", index)
		}
		return ib.ForEachBucket(func(k []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	if err != nil {
		return nil, readErr(err, "list collections")
	}
	return out, nil
}

// CollectionExists reports whether the collection exists (false when its
// index does not).
func (e *Engine) CollectionExists(ctx context.Context, index, collection string) (bool, error) {
	var ok bool
	err := e.view(func(tx *bolt.Tx) error {
		_, err := collectionBucket(tx, index, collection)
		ok = err == nil
		return nil
	})
	return ok, readErr(err, "check collection")
}

// GetMapping returns {dynamic, _meta, properties} (_meta only when set).
func (e *Engine) GetMapping(ctx context.Context, index, collection string) (map[string]any, error) {
	var out map[string]any
	err := e.view(func(tx *bolt.Tx) error {
		cb, err := collectionBucket(tx, index, collection)
		if err != nil {
			return err
		}
		mp, err := loadMapping(cb)
		if err != nil {
			return err
		}
		out = mp.view()
		return nil
	})
	if err != nil {
		return nil, readErr(err, "get mapping")
	}
	return out, nil
}

func docsBucket(tx *bolt.Tx, index, collection string) (*bolt.Bucket, error) {
	cb, err := collectionBucket(tx, index, collection)
	if err != nil {
		return nil, err
	}
	return cb.Bucket(bucketDocs), nil
}

// Get returns a document, or services.storage.not_found.
func (e *Engine) Get(ctx context.Context, index, collection, id string) (*storage.Document, error) {
	var doc *storage.Document
	err := e.view(func(tx *bolt.Tx) error {
		docs, err := docsBucket(tx, index, collection)
		if err != nil {
			return err
		}
		var rec []byte
		if id != "" {
			rec = docs.Get([]byte(id))
		}
		if rec == nil {
			return kerror.New("services.storage.not_found", id, index, collection)
		}
		doc, err = decodeRecord(id, rec)
		return err
	})
	if err != nil {
		return nil, readErr(err, "get document")
	}
	return doc, nil
}

// MGet returns the documents found in request order (a repeated id is
// returned each time) and the ids not found. More ids than
// DocumentsFetchCount is services.storage.get_limit_exceeded.
func (e *Engine) MGet(ctx context.Context, index, collection string, ids []string) ([]*storage.Document, []string, error) {
	if len(ids) > e.opts.DocumentsFetchCount {
		return nil, nil, kerror.New("services.storage.get_limit_exceeded")
	}
	found, missing := []*storage.Document{}, []string{}
	err := e.view(func(tx *bolt.Tx) error {
		docs, err := docsBucket(tx, index, collection)
		if err != nil {
			return err
		}
		for _, id := range ids {
			var rec []byte
			if id != "" {
				rec = docs.Get([]byte(id))
			}
			if rec == nil {
				missing = append(missing, id)
				continue
			}
			d, err := decodeRecord(id, rec)
			if err != nil {
				return err
			}
			found = append(found, d)
		}
		return nil
	})
	if err != nil {
		return nil, nil, readErr(err, "mget documents")
	}
	return found, missing, nil
}

// compileQuery compiles a query against the collection's current mapping,
// so that text and keyword fields are queried as ES would.
func (e *Engine) compileQuery(index, collection string, raw json.RawMessage) (*query.Query, error) {
	var mp *mapping
	err := e.view(func(tx *bolt.Tx) error {
		cb, err := collectionBucket(tx, index, collection)
		if err != nil {
			return err
		}
		mp, err = loadMapping(cb)
		return err
	})
	if err != nil {
		return nil, readErr(err, "load mapping")
	}
	return query.CompileWith(raw, mp.fieldType)
}

// Count returns how many documents match the query.
func (e *Engine) Count(ctx context.Context, index, collection string, q json.RawMessage) (int, error) {
	cq, err := e.compileQuery(index, collection, q)
	if err != nil {
		return 0, err
	}
	n := 0
	err = e.view(func(tx *bolt.Tx) error {
		docs, err := docsBucket(tx, index, collection)
		if err != nil {
			return err
		}
		match := cq.Matcher()
		return scan(ctx, docs, func(id string, rec []byte, src map[string]any) {
			if ok, _ := match(&query.Doc{ID: id, Source: src}); ok {
				n++
			}
		})
	})
	if err != nil {
		return 0, readErr(err, "count documents")
	}
	return n, nil
}

// scan decodes every document of a collection once, in id order. It checks
// the context every few documents (a document's decode and match cost
// grows with its size, up to the request size), so a request cancelled or
// past its deadline stops scanning.
func scan(ctx context.Context, docs *bolt.Bucket, fn func(id string, rec []byte, src map[string]any)) error {
	cur := docs.Cursor()
	i := 0
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		if i%scanCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		i++
		if len(v) < 8 {
			return fmt.Errorf("corrupt record for document %q", k)
		}
		src, err := decodeSource(v[8:])
		if err != nil {
			return fmt.Errorf("corrupt record for document %q: %w", k, err)
		}
		fn(string(k), v, src)
	}
	return nil
}

// scanCheckEvery is how many documents scan handles between two looks at
// its context.
const scanCheckEvery = 16

type hit struct {
	id    string
	key   string // id, or index, collection and id in a multi-target search
	src   *planSource
	score float64
	vals  []query.Value
	rec   []byte // only valid inside the read transaction
}

// cursor is the position of the last hit of a page, used to continue a
// scroll after it whatever was written meanwhile.
type cursor struct {
	Vals []query.Value `json:"v"`
	ID   string        `json:"id"`
}

// planSource is one collection a search reads, with the query compiled
// against that collection's mapping.
type planSource struct {
	index, collection string
	query             *query.Query
}

type searchPlan struct {
	sources    []*planSource
	sort       *query.Sort
	from, size int
	after      *cursor
	// multi ranks hits of several collections together: the tie-breaker
	// (and a cursor's ID) is then index, collection and id, since ids
	// repeat across collections.
	multi bool
}

// hitKey is the tie-breaker of a hit in p's order.
func (p *searchPlan) hitKey(s *planSource, id string) string {
	if !p.multi {
		return id
	}
	return s.index + "\x00" + s.collection + "\x00" + id
}

// run executes a search plan: scan, filter, sort, page. Hits of the page are
// decoded a second time from their stored bytes rather than kept decoded, so
// memory stays proportional to the number of matches, not their size.
func (e *Engine) run(ctx context.Context, p *searchPlan) (*storage.SearchResult, *cursor, error) {
	res := &storage.SearchResult{Hits: []storage.Hit{}}
	var last *cursor
	err := e.view(func(tx *bolt.Tx) error {
		var hits []hit
		for _, s := range p.sources {
			docs, err := docsBucket(tx, s.index, s.collection)
			if err != nil {
				return err
			}
			match := s.query.Matcher()
			err = scan(ctx, docs, func(id string, rec []byte, src map[string]any) {
				d := &query.Doc{ID: id, Source: src}
				ok, score := match(d)
				if !ok {
					return
				}
				res.Total++
				vals := p.sort.Values(d, score)
				key := p.hitKey(s, id)
				if p.after != nil && p.sort.Compare(vals, key, p.after.Vals, p.after.ID) <= 0 {
					return
				}
				hits = append(hits, hit{id: id, key: key, src: s, score: score, vals: vals, rec: rec})
			})
			if err != nil {
				return err
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		sort.Slice(hits, func(i, j int) bool {
			return p.sort.Compare(hits[i].vals, hits[i].key, hits[j].vals, hits[j].key) < 0
		})
		if err := ctx.Err(); err != nil {
			return err
		}
		if p.from >= len(hits) {
			return nil
		}
		hits = hits[p.from:]
		if len(hits) > p.size {
			res.Remaining = len(hits) - p.size
			hits = hits[:p.size]
		}
		for _, h := range hits {
			d, err := decodeRecord(h.id, h.rec)
			if err != nil {
				return err
			}
			res.Hits = append(res.Hits, storage.Hit{ID: h.id, Index: h.src.index, Collection: h.src.collection,
				Score: h.score, Version: d.Version, Source: d.Source})
		}
		if len(hits) > 0 {
			l := hits[len(hits)-1]
			last = &cursor{Vals: l.vals, ID: l.key}
		}
		return nil
	})
	if err != nil {
		return nil, nil, readErr(err, "search documents")
	}
	return res, last, nil
}

// Search runs an Elasticsearch-style search. from+size above
// DocumentsFetchCount is services.storage.get_limit_exceeded; with Scroll
// set, the result carries a stateless scroll id (see Scroll).
func (e *Engine) Search(ctx context.Context, index, collection string, req storage.SearchRequest) (*storage.SearchResult, error) {
	return e.search(ctx, []storage.Target{{Index: index, Collections: []string{collection}}}, false, req)
}

// MultiSearch runs one search over every collection of targets, their hits
// ranked together (score, or the sort, then index, collection and id).
// Every collection must exist; one named twice is searched once.
func (e *Engine) MultiSearch(ctx context.Context, targets []storage.Target, req storage.SearchRequest) (*storage.SearchResult, error) {
	return e.search(ctx, targets, true, req)
}

// planSources compiles the query once per collection of targets, against
// that collection's mapping, in target order without repeats.
func (e *Engine) planSources(targets []storage.Target, raw json.RawMessage) ([]*planSource, error) {
	var out []*planSource
	seen := map[[2]string]bool{}
	for _, t := range targets {
		for _, c := range t.Collections {
			if seen[[2]string{t.Index, c}] {
				continue
			}
			seen[[2]string{t.Index, c}] = true
			q, err := e.compileQuery(t.Index, c, raw)
			if err != nil {
				return nil, err
			}
			out = append(out, &planSource{index: t.Index, collection: c, query: q})
		}
	}
	return out, nil
}

func (e *Engine) search(ctx context.Context, targets []storage.Target, multi bool, req storage.SearchRequest) (*storage.SearchResult, error) {
	if req.From < 0 {
		return nil, kerror.New("services.storage.invalid_argument", "from", "a positive integer")
	}
	if req.Size < 0 {
		return nil, kerror.New("services.storage.invalid_argument", "size", "a positive integer")
	}
	if req.From > e.opts.DocumentsFetchCount || req.Size > e.opts.DocumentsFetchCount ||
		req.From+req.Size > e.opts.DocumentsFetchCount {
		return nil, kerror.New("services.storage.get_limit_exceeded")
	}
	var ttl int64
	if req.Scroll != "" {
		if req.Size == 0 {
			return nil, kerror.New("services.storage.invalid_argument", "size", "a strictly positive integer when scrolling")
		}
		d, err := e.scrollTTL(req.Scroll)
		if err != nil {
			return nil, err
		}
		ttl = d.Milliseconds()
	}
	sources, err := e.planSources(targets, req.Query)
	if err != nil {
		return nil, err
	}
	s, err := query.CompileSort(req.Sort)
	if err != nil {
		return nil, err
	}
	plan := &searchPlan{sources: sources, sort: s, from: req.From, size: req.Size, multi: multi}
	if len(req.SearchAfter) > 0 {
		if req.Scroll != "" {
			return nil, kerror.New("api.assert.mutually_exclusive", "scroll", "search_after")
		}
		vals, err := s.AfterValues(req.SearchAfter)
		if err != nil {
			return nil, err
		}
		// ES's search_after is strictly after those values: a key above
		// every real one makes hits with equal values compare before it.
		plan.after = &cursor{Vals: vals, ID: "\U0010FFFF"}
	}
	res, last, err := e.run(ctx, plan)
	if err != nil {
		return nil, err
	}
	if req.Scroll != "" {
		// An empty first page means the scroll is already exhausted.
		st := &scrollState{Query: req.Query, Sort: req.Sort, Size: req.Size, TTL: ttl, After: last, Done: last == nil}
		if multi {
			st.Targets = targets
		} else {
			st.Index, st.Collection = targets[0].Index, targets[0].Collections[0]
		}
		if res.ScrollID, err = e.encodeScroll(st); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// Scroll returns the next page of a scrolled search. ttl ("" keeps the
// search's one) extends the scroll's life from now. Total is the number of
// documents matching the query now, like ES's total for every page.
func (e *Engine) Scroll(ctx context.Context, scrollID, ttl string) (*storage.SearchResult, error) {
	st, err := e.decodeScroll(scrollID)
	if err != nil {
		return nil, err
	}
	if ttl != "" {
		d, err := e.scrollTTL(ttl)
		if err != nil {
			return nil, err
		}
		st.TTL = d.Milliseconds()
	}
	sources, err := e.planSources(st.targets(), st.Query)
	if err != nil {
		return nil, err
	}
	s, err := query.CompileSort(st.Sort)
	if err != nil {
		return nil, kerror.Wrap(err, "services.storage.unknown_scroll_id")
	}
	size := st.Size
	if st.Done {
		size = 0 // still scan, to report the current total
	}
	plan := &searchPlan{sources: sources, sort: s, size: size, after: st.After, multi: st.Targets != nil}
	res, last, err := e.run(ctx, plan)
	if err != nil {
		return nil, err
	}
	if last != nil {
		st.After = last
	} else {
		st.Done = true
	}
	if res.ScrollID, err = e.encodeScroll(st); err != nil {
		return nil, err
	}
	return res, nil
}
