package api

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/realtime/filter"
	"github.com/korumdb/korum/storage"
	"github.com/korumdb/korum/storage/query"
)

// Documents is what the document controller needs from the node: local
// reads after a read barrier, and writes proposed to the cluster.
type Documents interface {
	Writer
	IndexExists(ctx context.Context, index string) (bool, error)
	CollectionExists(ctx context.Context, index, collection string) (bool, error)
	Get(ctx context.Context, index, collection, id string) (*storage.Document, error)
	// MGet returns the documents found, in request order, and the ids not found.
	MGet(ctx context.Context, index, collection string, ids []string) ([]*storage.Document, []string, error)
	Search(ctx context.Context, index, collection string, req storage.SearchRequest) (*storage.SearchResult, error)
	// MultiSearch is Search over the collections of several indexes.
	MultiSearch(ctx context.Context, targets []storage.Target, req storage.SearchRequest) (*storage.SearchResult, error)
	// Scroll continues a search from a scroll id returned by Search/Scroll.
	Scroll(ctx context.Context, scrollID, ttl string) (*storage.SearchResult, error)
	Count(ctx context.Context, index, collection string, query json.RawMessage) (int, error)
	// ReadBarrier returns once local reads reflect every write acknowledged
	// before the call (or fast-read mode is on).
	ReadBarrier(ctx context.Context) error
	// GetBarrier is ReadBarrier for get, exists and mGet: a storage
	// engine whose own reads are realtime needs none.
	GetBarrier(ctx context.Context) error
	// NewID returns a fresh document id, one checkID accepts.
	NewID() string
}

// documentController is Kuzzle's document controller.
type documentController struct {
	store    Documents
	clock    Clock
	limits   Limits
	mappings MappingReader
	// specs enforces the collections' validation specifications.
	specs docChecker
}

func (c *documentController) actions() map[string]Handler {
	return map[string]Handler{
		"create":           c.create,
		"export":           c.export,
		"createOrReplace":  c.single(storage.OpDocCreateOrReplace),
		"replace":          c.single(storage.OpDocReplace),
		"update":           c.single(storage.OpDocUpdate),
		"upsert":           c.upsert,
		"delete":           c.delete,
		"deleteFields":     c.deleteFields,
		"get":              c.get,
		"exists":           c.exists,
		"search":           c.search,
		"scroll":           c.scroll,
		"count":            c.count,
		"mCreate":          c.multi(storage.OpDocCreate),
		"mCreateOrReplace": c.multi(storage.OpDocCreateOrReplace),
		"mReplace":         c.multi(storage.OpDocReplace),
		"mUpdate":          c.multi(storage.OpDocUpdate),
		"mUpsert":          c.multi(storage.OpDocUpsert),
		"mGet":             c.mGet,
		"mExists":          c.mExists,
		"mDelete":          c.mDelete,
		"deleteByQuery":    c.deleteByQuery,
		"updateByQuery":    c.updateByQuery,
		"validate":         c.validate,
	}
}

func docView(d *storage.Document) map[string]any {
	if d == nil {
		return map[string]any{}
	}
	return map[string]any{"_id": d.ID, "_version": d.Version, "_source": d.Source}
}

func (c *documentController) create(ctx context.Context, r *Request) (any, error) {
	// Kuzzle reads the _id first, then index and collection, then the body.
	id, err := r.optID()
	if err != nil {
		return nil, err
	}
	index, collection, body, err := targetBody(r, true)
	if err != nil {
		return nil, err
	}
	if id == "" {
		id = c.store.NewID()
	} else if err := checkID(id); err != nil {
		return nil, err
	}
	dw := storage.DocWrite{ID: id, Body: body}
	if err := c.specs.checkOne(ctx, storage.OpDocCreate, index, collection, &dw); err != nil {
		return nil, err
	}
	res, err := write(ctx, c.store, c.clock, r, storage.Write{Op: storage.OpDocCreate, Index: index, Collection: collection,
		Docs: []storage.DocWrite{dw}})
	if err != nil {
		return nil, err
	}
	it, err := single(res)
	if err != nil {
		return nil, err
	}
	return docView(it.After), nil
}

// single serves createOrReplace, replace and update.
func (c *documentController) single(op storage.Op) Handler {
	return func(ctx context.Context, r *Request) (any, error) {
		index, collection, id, body, err := idBodyTarget(r)
		if err != nil {
			return nil, err
		}
		dw := storage.DocWrite{ID: id, Body: body}
		if err := c.specs.checkOne(ctx, op, index, collection, &dw); err != nil {
			return nil, err
		}
		res, err := write(ctx, c.store, c.clock, r, storage.Write{Op: op, Index: index, Collection: collection,
			Docs: []storage.DocWrite{dw}})
		if err != nil {
			return nil, err
		}
		it, err := single(res)
		if err != nil {
			return nil, err
		}
		out := docView(it.After)
		switch op {
		case storage.OpDocCreateOrReplace:
			out["created"] = it.Created
		case storage.OpDocUpdate:
			// Kuzzle returns the changes unless source=true.
			if src, _ := r.Bool("source"); !src {
				out["_source"] = body
			}
		}
		return out, nil
	}
}

func (c *documentController) upsert(ctx context.Context, r *Request) (any, error) {
	// Kuzzle's order: _id, body.changes, body.default, index, collection.
	id, err := r.docID()
	if err != nil {
		return nil, err
	}
	body, err := r.RequireBody()
	if err != nil {
		return nil, err
	}
	changes, err := BodyObject(body, "changes")
	if err != nil {
		return nil, err
	}
	var def map[string]any
	if v, ok := body["default"]; ok && v != nil {
		if def, ok = v.(map[string]any); !ok {
			return nil, kerror.New("api.assert.invalid_type", "body.default", "object")
		}
	}
	index, collection, err := target(r)
	if err != nil {
		return nil, err
	}
	dw := storage.DocWrite{ID: id, Body: changes, Default: def}
	if err := c.specs.checkOne(ctx, storage.OpDocUpsert, index, collection, &dw); err != nil {
		return nil, err
	}
	res, err := write(ctx, c.store, c.clock, r, storage.Write{Op: storage.OpDocUpsert, Index: index, Collection: collection,
		Docs: []storage.DocWrite{dw}})
	if err != nil {
		return nil, err
	}
	it, err := single(res)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"_id": id, "_version": it.After.Version, "created": it.Created}
	if src, _ := r.Bool("source"); src {
		out["_source"] = it.After.Source
	}
	return out, nil
}

func (c *documentController) delete(ctx context.Context, r *Request) (any, error) {
	id, err := r.docID()
	if err != nil {
		return nil, err
	}
	index, collection, err := target(r)
	if err != nil {
		return nil, err
	}
	res, err := write(ctx, c.store, c.clock, r, storage.Write{Op: storage.OpDocDelete, Index: index, Collection: collection,
		Docs: []storage.DocWrite{{ID: id}}})
	if err != nil {
		return nil, err
	}
	it, err := single(res)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"_id": id}
	if src, _ := r.Bool("source"); src && it.Before != nil {
		out["_source"] = it.Before.Source
	}
	return out, nil
}

func (c *documentController) deleteFields(ctx context.Context, r *Request) (any, error) {
	id, err := r.docID()
	if err != nil {
		return nil, err
	}
	body, err := r.RequireBody()
	if err != nil {
		return nil, err
	}
	fields, err := BodyStrings(body, "fields")
	if err != nil {
		return nil, err
	}
	index, collection, err := target(r)
	if err != nil {
		return nil, err
	}
	res, err := write(ctx, c.store, c.clock, r, storage.Write{Op: storage.OpDocDeleteFields, Index: index, Collection: collection,
		Docs: []storage.DocWrite{{ID: id, Fields: fields}}})
	if err != nil {
		return nil, err
	}
	it, err := single(res)
	if err != nil {
		return nil, err
	}
	return docView(it.After), nil
}

// getDoc reads the document named by the index, collection and _id
// arguments, after the read barrier.
func (c *documentController) getDoc(ctx context.Context, r *Request) (*storage.Document, error) {
	// Kuzzle reads the _id before index and collection.
	id, err := r.resource("_id")
	if err != nil {
		return nil, err
	}
	index, collection, err := target(r)
	if err != nil {
		return nil, err
	}
	if err := c.store.GetBarrier(ctx); err != nil {
		return nil, err
	}
	return c.store.Get(ctx, index, collection, id)
}

func (c *documentController) get(ctx context.Context, r *Request) (any, error) {
	d, err := c.getDoc(ctx, r)
	if err != nil {
		return nil, err
	}
	return docView(d), nil
}

func (c *documentController) exists(ctx context.Context, r *Request) (any, error) {
	_, err := c.getDoc(ctx, r)
	if kerror.Is(err, "services.storage.not_found") {
		return false, nil
	}
	return err == nil, err
}

// FullDSL is implemented by a Documents whose engine serves the whole
// Elasticsearch query DSL (aggregations, highlight, _source filtering...):
// the search body then reaches it whole.
type FullDSL interface {
	FullQueryDSL() bool
}

func searchRequest(r *Request, body map[string]any, fetchLimit int, full bool) (storage.SearchRequest, error) {
	var req storage.SearchRequest
	raw, err := json.Marshal(body)
	if err != nil {
		return req, kerror.New("api.assert.invalid_argument", "body", "an object")
	}
	split := query.SplitSearchBody
	if full {
		split = query.SplitSearchBodyFull
		req.Body = raw
	}
	parts, err := split(raw)
	if err != nil {
		return req, err
	}
	req.Query, req.Sort, req.SearchAfter = parts.Query, parts.Sort, parts.SearchAfter
	from, size := 0, 10
	if parts.From != nil {
		from = *parts.From
	}
	if parts.Size != nil {
		size = *parts.Size
	}
	// Arguments win over the body, as in Kuzzle.
	if req.From, err = r.Int("from", from); err != nil {
		return req, err
	}
	if req.Size, err = r.Int("size", size); err != nil {
		return req, err
	}
	if req.From < 0 || req.Size < 0 {
		return req, kerror.New("api.assert.invalid_argument", "from/size", "a positive integer")
	}
	if fetchLimit > 0 && req.From+req.Size > fetchLimit {
		return req, kerror.New("services.storage.get_limit_exceeded")
	}
	if req.Scroll, err = r.OptString("scroll"); err != nil {
		return req, err
	}
	return req, nil
}

// checkSearchParams makes the checks of Kuzzle's getSearchParams, which
// search and count run before reading index and collection: from and size
// integers, scroll a string, body.query an object.
func checkSearchParams(r *Request) error {
	if _, err := r.Int("from", 0); err != nil {
		return err
	}
	if _, err := r.Int("size", 0); err != nil {
		return err
	}
	if v, ok := r.Args["scroll"]; ok && truthy(v) {
		if _, ok := v.(string); !ok {
			return kerror.New("api.assert.invalid_type", "scroll", "string")
		}
	}
	body, err := r.OptBody()
	if err != nil {
		return err
	}
	if q, ok := body["query"]; ok && q != nil {
		if _, ok := q.(map[string]any); !ok {
			return kerror.New("api.assert.invalid_type", "body.query", "object")
		}
	}
	return nil
}

func searchView(res *storage.SearchResult) map[string]any {
	hits := res.Hits
	if hits == nil {
		hits = []storage.Hit{}
	}
	aggs := res.Aggregations
	if aggs == nil {
		aggs = map[string]any{}
	}
	out := map[string]any{"hits": hits, "total": res.Total, "aggregations": aggs}
	if res.ScrollID != "" {
		out["scrollId"] = res.ScrollID
		out["remaining"] = res.Remaining
	}
	return out
}

func (c *documentController) search(ctx context.Context, r *Request) (any, error) {
	if err := checkSearchParams(r); err != nil {
		return nil, err
	}
	targets, err := requestTargets(r)
	if err != nil {
		return nil, err
	}
	var index, collection string
	var body map[string]any
	if targets != nil {
		body, err = r.OptBody()
	} else {
		index, collection, body, err = c.searchTarget(r)
	}
	if err != nil {
		return nil, err
	}
	if body, err = queryLang(r, body); err != nil {
		return nil, err
	}
	fd, ok := c.store.(FullDSL)
	req, err := searchRequest(r, body, c.limits.DocumentsFetch, ok && fd.FullQueryDSL())
	if err != nil {
		return nil, err
	}
	if err := c.store.ReadBarrier(ctx); err != nil {
		return nil, err
	}
	var res *storage.SearchResult
	if targets != nil {
		res, err = c.store.MultiSearch(ctx, targets, req)
	} else {
		res, err = c.store.Search(ctx, index, collection, req)
	}
	if err != nil {
		return nil, err
	}
	return searchView(res), nil
}

// searchTarget is search's index, collection and body without targets:
// Kuzzle names the missing argument "index, collection or targets" when
// none is given, and refuses a pattern that would search several
// collections without targets.
func (c *documentController) searchTarget(r *Request) (string, string, map[string]any, error) {
	index, _ := r.Args["index"].(string)
	collection, _ := r.Args["collection"].(string)
	if index == "" && collection == "" {
		if _, ok := r.Args["index"]; !ok {
			if _, ok := r.Args["collection"]; !ok {
				return "", "", nil, kerror.New("api.assert.missing_argument", "index, collection or targets")
			}
		}
	}
	if index != "" && collection != "" && (multiTarget(index) || multiTarget(collection)) {
		return "", "", nil, kerror.New("services.storage.invalid_multi_index_collection_usage")
	}
	return targetBody(r, false)
}

func (c *documentController) scroll(ctx context.Context, r *Request) (any, error) {
	// Kuzzle reads the scroll duration before the scroll id.
	ttl, err := r.OptString("scroll")
	if err != nil {
		return nil, err
	}
	id, err := r.String("scrollId")
	if err != nil {
		return nil, err
	}
	if err := c.store.ReadBarrier(ctx); err != nil {
		return nil, err
	}
	res, err := c.store.Scroll(ctx, id, ttl)
	if err != nil {
		return nil, err
	}
	return searchView(res), nil
}

func (c *documentController) count(ctx context.Context, r *Request) (any, error) {
	if err := checkSearchParams(r); err != nil {
		return nil, err
	}
	index, collection, body, err := targetBody(r, false)
	if err != nil {
		return nil, err
	}
	if body, err = queryLang(r, body); err != nil {
		return nil, err
	}
	var q json.RawMessage
	if v, ok := body["query"]; ok {
		q, _ = json.Marshal(v)
	}
	if err := c.store.ReadBarrier(ctx); err != nil {
		return nil, err
	}
	n, err := c.store.Count(ctx, index, collection, q)
	if err != nil {
		return nil, err
	}
	return map[string]any{"count": n}, nil
}

// strictCheck is the strict option of Kuzzle's m* actions: once any item
// failed, the whole answer is api.process.incomplete_multiple_request carrying
// the failed items. As in Kuzzle, the items that succeeded stay written.
func strictCheck(r *Request, action string, errs []any) error {
	if strict, _ := r.Bool("strict"); strict && len(errs) > 0 {
		return kerror.Multiple(action, errs)
	}
	return nil
}

// itemError is one failed document of an m* action, in Kuzzle's shape,
// with the reasons Kuzzle gives for the common failures.
func itemError(doc map[string]any, err error) map[string]any {
	ke := kerror.From(err)
	return map[string]any{"document": doc, "status": ke.Status, "reason": itemReason(ke)}
}

func itemReason(ke *kerror.Error) string {
	arg := ""
	if len(ke.Props) > 0 {
		arg = ke.Props[0]
	}
	switch {
	case ke.ID == "services.storage.document_already_exists":
		return "document already exists"
	case ke.ID == "services.storage.not_found":
		return "document not found"
	case (ke.ID == "api.assert.invalid_type" || ke.ID == "api.assert.missing_argument") && arg == "_id":
		return "document _id must be a string"
	case (ke.ID == "api.assert.invalid_type" || ke.ID == "api.assert.missing_argument" || ke.ID == "api.assert.body_required") &&
		(arg == "body" || arg == "body.body" || arg == "documents[]"):
		return "document body must be an object"
	}
	return ke.Message
}

// sourceArg is the source option of m* writes: true unless set to false,
// as in Kuzzle's _mChanges (single-document update defaults to false).
func sourceArg(r *Request) bool {
	switch v := r.Args["source"].(type) {
	case bool:
		return v
	case string:
		return v != "false"
	}
	return true
}

// multi serves mCreate, mCreateOrReplace, mReplace, mUpdate and mUpsert:
// malformed items fail alone, the others go to the log as one command.
func (c *documentController) multi(op storage.Op) Handler {
	return func(ctx context.Context, r *Request) (any, error) {
		// Kuzzle reads body.documents before index and collection.
		body, err := r.RequireBody()
		if err != nil {
			return nil, err
		}
		docs, err := BodyArray(body, "documents")
		if err != nil {
			return nil, err
		}
		index, collection, err := target(r)
		if err != nil {
			return nil, err
		}
		if c.limits.DocumentsWrite > 0 && len(docs) > c.limits.DocumentsWrite {
			return nil, kerror.New("services.storage.write_limit_exceeded")
		}
		for i, raw := range docs {
			if d, ok := raw.(map[string]any); ok {
				if _, has := d["_source"]; has {
					n := strconv.Itoa(i)
					return nil, kerror.New("api.assert.unexpected_argument", "documents["+n+"]._source", "documents["+n+"].body")
				}
			}
		}
		errs := []any{}
		var writes []storage.DocWrite
		var originals []map[string]any
		for _, raw := range docs {
			d, _ := raw.(map[string]any)
			if d == nil {
				errs = append(errs, itemError(map[string]any{"body": raw}, kerror.New("api.assert.invalid_type", "documents[]", "object")))
				continue
			}
			dw, err := c.docWrite(op, d)
			if err != nil {
				errs = append(errs, itemError(d, err))
				continue
			}
			writes = append(writes, dw)
			originals = append(originals, d)
		}
		if len(writes) > 0 {
			verdicts, err := c.specs.check(ctx, op, index, collection, writes)
			if err != nil {
				return nil, err
			}
			if verdicts != nil {
				kept, keptOrig := writes[:0:0], originals[:0:0]
				for i, e := range verdicts {
					if e != nil {
						errs = append(errs, itemError(originals[i], e))
						continue
					}
					kept, keptOrig = append(kept, writes[i]), append(keptOrig, originals[i])
				}
				writes, originals = kept, keptOrig
			}
		}
		successes := []any{}
		source := sourceArg(r)
		if len(writes) > 0 {
			res, err := write(ctx, c.store, c.clock, r, storage.Write{Op: op, Index: index, Collection: collection, Docs: writes})
			if err != nil {
				return nil, err
			}
			for i, it := range res.Items {
				if it.Err != nil {
					errs = append(errs, itemError(originals[i], it.Err))
					continue
				}
				v := docView(it.After)
				created := op == storage.OpDocCreate || (op == storage.OpDocCreateOrReplace || op == storage.OpDocUpsert) && it.Created
				switch op {
				case storage.OpDocCreate, storage.OpDocCreateOrReplace, storage.OpDocUpsert:
					v["created"] = created
				}
				// Kuzzle's per-item status and result.
				v["status"], v["result"] = 200, "updated"
				if created {
					v["status"], v["result"] = 201, "created"
				}
				if !source {
					delete(v, "_source")
				}
				successes = append(successes, v)
			}
		}
		if err := strictCheck(r, r.Action, errs); err != nil {
			return nil, err
		}
		return map[string]any{"successes": successes, "errors": errs}, nil
	}
}

func (c *documentController) docWrite(op storage.Op, d map[string]any) (storage.DocWrite, error) {
	var dw storage.DocWrite
	id, _ := d["_id"].(string)
	if _, present := d["_id"]; present && id == "" && d["_id"] != nil {
		return dw, kerror.New("api.assert.invalid_type", "_id", "string")
	}
	if id == "" {
		if op != storage.OpDocCreate {
			return dw, kerror.New("api.assert.missing_argument", "_id")
		}
		id = c.store.NewID()
	}
	if err := checkID(id); err != nil {
		return dw, err
	}
	dw.ID = id
	if op == storage.OpDocUpsert {
		changes, err := BodyObject(d, "changes")
		if err != nil {
			return dw, err
		}
		dw.Body = changes
		if v, ok := d["default"]; ok && v != nil {
			if dw.Default, ok = v.(map[string]any); !ok {
				return dw, kerror.New("api.assert.invalid_type", "default", "object")
			}
		}
		return dw, nil
	}
	b, err := BodyObject(d, "body")
	if err != nil {
		return dw, err
	}
	dw.Body = b
	return dw, nil
}

func (c *documentController) mGet(ctx context.Context, r *Request) (any, error) {
	ids, err := fetchIDs(r)
	if err != nil {
		return nil, err
	}
	index, collection, err := target(r)
	if err != nil {
		return nil, err
	}
	if c.limits.DocumentsFetch > 0 && len(ids) > c.limits.DocumentsFetch {
		return nil, kerror.New("services.storage.get_limit_exceeded")
	}
	if err := c.store.GetBarrier(ctx); err != nil {
		return nil, err
	}
	docs, missing, err := c.store.MGet(ctx, index, collection, ids)
	if err != nil {
		return nil, err
	}
	successes := make([]any, 0, len(docs))
	for _, d := range docs {
		successes = append(successes, docView(d))
	}
	errs := make([]any, len(missing))
	for i, id := range missing {
		errs[i] = id
	}
	if err := strictCheck(r, "get", errs); err != nil {
		return nil, err
	}
	return map[string]any{"successes": successes, "errors": errs}, nil
}

// fetchIDs reads the ids of mGet and mExists where Kuzzle's _mFetch does:
// body.ids when it holds anything, the ids argument otherwise (so that a
// request without either is missing "ids", not its body).
func fetchIDs(r *Request) ([]string, error) {
	body, err := r.OptBody()
	if err != nil {
		return nil, err
	}
	src, name := r.Args, "ids"
	switch v := body["ids"].(type) {
	case nil:
	case []any:
		if len(v) > 0 {
			src, name = body, "body.ids"
		}
	case map[string]any:
		if len(v) > 0 {
			src, name = body, "body.ids"
		}
	default:
		src, name = body, "body.ids"
	}
	return stringsField(src, "ids", name)
}

func (c *documentController) mExists(ctx context.Context, r *Request) (any, error) {
	res, err := c.mGet(ctx, r)
	if err != nil {
		return nil, err
	}
	m := res.(map[string]any)
	var found []string
	for _, s := range m["successes"].([]any) {
		found = append(found, s.(map[string]any)["_id"].(string))
	}
	if found == nil {
		found = []string{}
	}
	return map[string]any{"successes": found, "errors": m["errors"]}, nil
}

func (c *documentController) mDelete(ctx context.Context, r *Request) (any, error) {
	// Kuzzle reads body.ids before index and collection.
	body, err := r.RequireBody()
	if err != nil {
		return nil, err
	}
	ids, err := BodyStrings(body, "ids")
	if err != nil {
		return nil, err
	}
	index, collection, err := target(r)
	if err != nil {
		return nil, err
	}
	if c.limits.DocumentsWrite > 0 && len(ids) > c.limits.DocumentsWrite {
		return nil, kerror.New("services.storage.write_limit_exceeded")
	}
	docs := make([]storage.DocWrite, len(ids))
	for i, id := range ids {
		docs[i] = storage.DocWrite{ID: id}
	}
	res, err := write(ctx, c.store, c.clock, r, storage.Write{Op: storage.OpDocDelete, Index: index, Collection: collection, Docs: docs})
	if err != nil {
		return nil, err
	}
	successes, errs := []any{}, []any{}
	for _, it := range res.Items {
		if it.Err != nil {
			errs = append(errs, map[string]any{"_id": it.ID, "reason": it.Err.Message})
			continue
		}
		successes = append(successes, it.ID)
	}
	if err := strictCheck(r, "delete", errs); err != nil {
		return nil, err
	}
	return map[string]any{"successes": successes, "errors": errs}, nil
}

// queryLang reads Kuzzle's lang argument: with "koncorde", body.query is
// a Koncorde filter, translated here to the query language the storage
// engines read; the returned body is a copy, the request's is untouched.
func queryLang(r *Request, body map[string]any) (map[string]any, error) {
	lang, err := r.OptString("lang")
	if err != nil {
		return nil, err
	}
	switch lang {
	case "", "elasticsearch":
		return body, nil
	case "koncorde":
	default:
		return nil, kerror.New("api.assert.invalid_argument", "lang", `"elasticsearch" or "koncorde"`)
	}
	raw, ok := body["query"]
	if !ok || raw == nil {
		return body, nil
	}
	f, ok := raw.(map[string]any)
	if !ok {
		return nil, kerror.New("api.assert.invalid_type", "body.query", "object")
	}
	q, err := filter.Translate(f)
	if err != nil {
		var te *filter.TranslateError
		if errors.As(err, &te) && te.Restricted {
			return nil, kerror.New("api.assert.koncorde_restricted_keyword", te.Kind, te.Name)
		}
		return nil, kerror.New("api.assert.koncorde_dsl_error", err.Error())
	}
	out := make(map[string]any, len(body))
	for k, v := range body {
		out[k] = v
	}
	out["query"] = q
	return out, nil
}

func queryOf(body map[string]any) (json.RawMessage, error) {
	q, err := BodyObject(body, "query")
	if err != nil {
		return nil, err
	}
	return json.Marshal(q)
}

// byQuery reads what document and bulk deleteByQuery and updateByQuery
// take: the target, the query and, for an update, the changes. Kuzzle's
// bulk controller reads index and collection first (targetFirst), its
// document controller reads the body's query and changes first.
func byQuery(r *Request, withChanges, targetFirst bool) (w storage.Write, err error) {
	w.Op = storage.OpDocDeleteByQuery
	if withChanges {
		w.Op = storage.OpDocUpdateByQuery
	}
	if targetFirst {
		if w.Index, w.Collection, err = target(r); err != nil {
			return w, err
		}
	} else {
		body, err := r.OptBody()
		if err != nil {
			return w, err
		}
		if withChanges {
			if body, err = r.RequireBody(); err != nil {
				return w, err
			}
			if _, err = BodyObject(body, "query"); err != nil {
				return w, err
			}
			if w.Changes, err = BodyObject(body, "changes"); err != nil {
				return w, err
			}
		} else if q, ok := body["query"]; ok && q != nil {
			// Kuzzle's deleteByQuery defaults a missing query to {}: only
			// its type is checked before the target. Korum requires it.
			if _, ok := q.(map[string]any); !ok {
				return w, kerror.New("api.assert.invalid_type", "body.query", "object")
			}
		}
		if w.Index, w.Collection, err = target(r); err != nil {
			return w, err
		}
	}
	body, err := r.RequireBody()
	if err != nil {
		return w, err
	}
	if body, err = queryLang(r, body); err != nil {
		return w, err
	}
	if w.Query, err = queryOf(body); err != nil {
		return w, err
	}
	if withChanges && w.Changes == nil {
		w.Changes, err = BodyObject(body, "changes")
	}
	return w, err
}

func (c *documentController) deleteByQuery(ctx context.Context, r *Request) (any, error) {
	w, err := byQuery(r, false, false)
	if err != nil {
		return nil, err
	}
	w.Limit = c.limits.DocumentsWrite
	res, err := write(ctx, c.store, c.clock, r, w)
	if err != nil {
		return nil, err
	}
	src, _ := r.Bool("source")
	docs := make([]any, 0, len(res.Items))
	ids := make([]string, 0, len(res.Items))
	for _, it := range res.Items {
		d := map[string]any{"_id": it.ID}
		if src && it.Before != nil {
			d["_source"] = it.Before.Source
		}
		docs = append(docs, d)
		ids = append(ids, it.ID)
	}
	return map[string]any{"documents": docs, "ids": ids}, nil
}

func (c *documentController) updateByQuery(ctx context.Context, r *Request) (any, error) {
	w, err := byQuery(r, true, false)
	if err != nil {
		return nil, err
	}
	w.Limit = c.limits.DocumentsWrite
	res, err := write(ctx, c.store, c.clock, r, w)
	if err != nil {
		return nil, err
	}
	successes, errs := []any{}, []any{}
	for _, it := range res.Items {
		if it.Err != nil {
			errs = append(errs, map[string]any{"document": map[string]any{"_id": it.ID}, "status": it.Err.Status, "reason": it.Err.Message})
			continue
		}
		v := docView(it.After)
		v["status"] = 200
		successes = append(successes, v)
	}
	return map[string]any{"successes": successes, "errors": errs}, nil
}

func (c *documentController) validate(ctx context.Context, r *Request) (any, error) {
	// Kuzzle asserts the body before index and collection.
	body, err := r.RequireBody()
	if err != nil {
		return nil, err
	}
	index, collection, err := target(r)
	if err != nil {
		return nil, err
	}
	id, err := r.OptString("_id")
	if err != nil {
		return nil, err
	}
	if err := c.store.ReadBarrier(ctx); err != nil {
		return nil, err
	}
	ok, err := c.store.CollectionExists(ctx, index, collection)
	if err != nil {
		return nil, err
	}
	if !ok {
		if exists, _ := c.store.IndexExists(ctx, index); !exists {
			return nil, kerror.New("services.storage.unknown_index", index)
		}
		return nil, kerror.New("services.storage.unknown_collection", index, collection)
	}
	spec := c.specs.specs.Spec(index, collection)
	if spec == nil {
		return map[string]any{"errorMessages": map[string]any{}, "valid": true}, nil
	}
	valid, msgs := spec.Report(id, body, c.clock.Now())
	return map[string]any{"errorMessages": msgs, "valid": valid}, nil
}
