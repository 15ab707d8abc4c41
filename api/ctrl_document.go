package api

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/realtime"
	"github.com/korumdb/korum/storage"
	"github.com/korumdb/korum/storage/query"
)

func (rt *Router) registerDocument() {
	rt.handle("document", "create", rt.docCreate)
	rt.handle("document", "createOrReplace", rt.docSingle(storage.OpDocCreateOrReplace))
	rt.handle("document", "replace", rt.docSingle(storage.OpDocReplace))
	rt.handle("document", "update", rt.docSingle(storage.OpDocUpdate))
	rt.handle("document", "upsert", rt.docUpsert)
	rt.handle("document", "delete", rt.docDelete)
	rt.handle("document", "deleteFields", rt.docDeleteFields)
	rt.handle("document", "get", rt.docGet)
	rt.handle("document", "exists", rt.docExists)
	rt.handle("document", "search", rt.docSearch)
	rt.handle("document", "scroll", rt.docScroll)
	rt.handle("document", "count", rt.docCount)
	rt.handle("document", "mCreate", rt.docMulti(storage.OpDocCreate))
	rt.handle("document", "mCreateOrReplace", rt.docMulti(storage.OpDocCreateOrReplace))
	rt.handle("document", "mReplace", rt.docMulti(storage.OpDocReplace))
	rt.handle("document", "mUpdate", rt.docMulti(storage.OpDocUpdate))
	rt.handle("document", "mUpsert", rt.docMulti(storage.OpDocUpsert))
	rt.handle("document", "mGet", rt.docMGet)
	rt.handle("document", "mExists", rt.docMExists)
	rt.handle("document", "mDelete", rt.docMDelete)
	rt.handle("document", "deleteByQuery", rt.docDeleteByQuery)
	rt.handle("document", "updateByQuery", rt.docUpdateByQuery)
	rt.handle("document", "validate", rt.docValidate)
}

// target returns the index and collection arguments, both required.
func target(r *Request) (string, string, error) {
	index, err := r.String("index")
	if err != nil {
		return "", "", err
	}
	collection, err := r.String("collection")
	if err != nil {
		return "", "", err
	}
	return index, collection, nil
}

// targetBody returns index, collection and the body (required or not):
// the preamble most document actions share.
func targetBody(r *Request, required bool) (string, string, map[string]any, error) {
	index, collection, err := target(r)
	if err != nil {
		return "", "", nil, err
	}
	var body map[string]any
	if required {
		body, err = r.RequireBody()
	} else {
		body, err = r.OptBody()
	}
	return index, collection, body, err
}

// targetIDBody is targetBody for actions on one document: the _id
// argument is required and checked too.
func targetIDBody(r *Request) (index, collection, id string, body map[string]any, err error) {
	if index, collection, err = target(r); err != nil {
		return
	}
	if id, err = r.docID(); err != nil {
		return
	}
	body, err = r.RequireBody()
	return
}

func checkID(id string) error {
	if strings.HasPrefix(id, "_") {
		return kerror.New("api.assert.invalid_id")
	}
	return nil
}

func (r *Request) docID() (string, error) {
	id, err := r.String("_id")
	if err != nil {
		return "", err
	}
	return id, checkID(id)
}

func checkRefresh(r *Request) error {
	v, _ := r.Args["refresh"]
	switch v {
	case nil, "", "false", false, "wait_for":
		return nil
	}
	return kerror.New("api.assert.invalid_argument", "refresh", `"wait_for" or "false"`)
}

func (rt *Router) meta(r *Request) realtime.Meta {
	return realtime.Meta{RequestID: r.RequestID, Volatile: r.Volatile, Timestamp: rt.b.Now().UnixMilli(),
		Controller: r.Controller, Action: r.Action, Protocol: r.Protocol, Node: rt.b.NodeID()}
}

// write stamps a command with the clock and author, proposes it and turns a
// command-level failure into the request's error.
func (rt *Router) write(ctx context.Context, r *Request, w storage.Write) (*storage.WriteResult, error) {
	if err := checkRefresh(r); err != nil {
		return nil, err
	}
	silent, err := r.Bool("silent")
	if err != nil {
		return nil, err
	}
	meta := rt.meta(r)
	w.Now = meta.Timestamp
	w.Author = "-1"
	res, err := rt.b.Write(ctx, w, meta, silent)
	if err != nil {
		return nil, err
	}
	if res.Err != nil {
		return nil, res.Err
	}
	return res, nil
}

// single returns the only item of a single-document write, or its error.
func single(res *storage.WriteResult) (*storage.ItemResult, error) {
	if len(res.Items) != 1 {
		return nil, kerror.New("core.fatal.assertion_failed", "a single-document write returned "+strconv.Itoa(len(res.Items))+" items")
	}
	it := &res.Items[0]
	if it.Err != nil {
		return nil, it.Err
	}
	return it, nil
}

func docView(d *storage.Document) map[string]any {
	if d == nil {
		return map[string]any{}
	}
	return map[string]any{"_id": d.ID, "_version": d.Version, "_source": d.Source}
}

func (rt *Router) docCreate(ctx context.Context, r *Request) (any, error) {
	index, collection, body, err := targetBody(r, true)
	if err != nil {
		return nil, err
	}
	id, err := r.OptString("_id")
	if err != nil {
		return nil, err
	}
	if id == "" {
		id = rt.b.NewID()
	} else if err := checkID(id); err != nil {
		return nil, err
	}
	res, err := rt.write(ctx, r, storage.Write{Op: storage.OpDocCreate, Index: index, Collection: collection,
		Docs: []storage.DocWrite{{ID: id, Body: body}}})
	if err != nil {
		return nil, err
	}
	it, err := single(res)
	if err != nil {
		return nil, err
	}
	return docView(it.After), nil
}

// docSingle serves createOrReplace, replace and update.
func (rt *Router) docSingle(op storage.Op) Handler {
	return func(ctx context.Context, r *Request) (any, error) {
		index, collection, id, body, err := targetIDBody(r)
		if err != nil {
			return nil, err
		}
		res, err := rt.write(ctx, r, storage.Write{Op: op, Index: index, Collection: collection,
			Docs: []storage.DocWrite{{ID: id, Body: body}}})
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

func (rt *Router) docUpsert(ctx context.Context, r *Request) (any, error) {
	index, collection, id, body, err := targetIDBody(r)
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
	res, err := rt.write(ctx, r, storage.Write{Op: storage.OpDocUpsert, Index: index, Collection: collection,
		Docs: []storage.DocWrite{{ID: id, Body: changes, Default: def}}})
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

func (rt *Router) docDelete(ctx context.Context, r *Request) (any, error) {
	index, collection, err := target(r)
	if err != nil {
		return nil, err
	}
	id, err := r.docID()
	if err != nil {
		return nil, err
	}
	res, err := rt.write(ctx, r, storage.Write{Op: storage.OpDocDelete, Index: index, Collection: collection,
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

func (rt *Router) docDeleteFields(ctx context.Context, r *Request) (any, error) {
	index, collection, id, body, err := targetIDBody(r)
	if err != nil {
		return nil, err
	}
	fields, err := BodyStrings(body, "fields")
	if err != nil {
		return nil, err
	}
	res, err := rt.write(ctx, r, storage.Write{Op: storage.OpDocDeleteFields, Index: index, Collection: collection,
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
func (rt *Router) getDoc(ctx context.Context, r *Request) (*storage.Document, error) {
	index, collection, err := target(r)
	if err != nil {
		return nil, err
	}
	id, err := r.String("_id")
	if err != nil {
		return nil, err
	}
	if err := rt.b.ReadBarrier(ctx); err != nil {
		return nil, err
	}
	return rt.b.Get(ctx, index, collection, id)
}

func (rt *Router) docGet(ctx context.Context, r *Request) (any, error) {
	d, err := rt.getDoc(ctx, r)
	if err != nil {
		return nil, err
	}
	return docView(d), nil
}

func (rt *Router) docExists(ctx context.Context, r *Request) (any, error) {
	_, err := rt.getDoc(ctx, r)
	if kerror.Is(err, "services.storage.not_found") {
		return false, nil
	}
	return err == nil, err
}

func searchRequest(r *Request, body map[string]any, fetchLimit int) (storage.SearchRequest, error) {
	var req storage.SearchRequest
	if lang, _ := r.OptString("lang"); lang != "" && lang != "elasticsearch" {
		return req, kerror.New("services.storage.unsupported_query", `search lang "`+lang+`"`)
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return req, kerror.New("api.assert.invalid_argument", "body", "an object")
	}
	parts, err := query.SplitSearchBody(raw)
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

func searchView(res *storage.SearchResult) map[string]any {
	hits := res.Hits
	if hits == nil {
		hits = []storage.Hit{}
	}
	out := map[string]any{"hits": hits, "total": res.Total, "aggregations": map[string]any{}}
	if res.ScrollID != "" {
		out["scrollId"] = res.ScrollID
	}
	return out
}

func (rt *Router) docSearch(ctx context.Context, r *Request) (any, error) {
	index, collection, body, err := targetBody(r, false)
	if err != nil {
		return nil, err
	}
	req, err := searchRequest(r, body, rt.limits.DocumentsFetch)
	if err != nil {
		return nil, err
	}
	if err := rt.b.ReadBarrier(ctx); err != nil {
		return nil, err
	}
	res, err := rt.b.Search(ctx, index, collection, req)
	if err != nil {
		return nil, err
	}
	return searchView(res), nil
}

func (rt *Router) docScroll(ctx context.Context, r *Request) (any, error) {
	id, err := r.String("scrollId")
	if err != nil {
		return nil, err
	}
	ttl, err := r.OptString("scroll")
	if err != nil {
		return nil, err
	}
	if err := rt.b.ReadBarrier(ctx); err != nil {
		return nil, err
	}
	res, err := rt.b.Scroll(ctx, id, ttl)
	if err != nil {
		return nil, err
	}
	return searchView(res), nil
}

func (rt *Router) docCount(ctx context.Context, r *Request) (any, error) {
	index, collection, body, err := targetBody(r, false)
	if err != nil {
		return nil, err
	}
	var q json.RawMessage
	if v, ok := body["query"]; ok {
		q, _ = json.Marshal(v)
	}
	if err := rt.b.ReadBarrier(ctx); err != nil {
		return nil, err
	}
	n, err := rt.b.Count(ctx, index, collection, q)
	if err != nil {
		return nil, err
	}
	return map[string]any{"count": n}, nil
}

// itemError is one failed document of an m* action, in Kuzzle's shape.
func itemError(doc map[string]any, err error) map[string]any {
	ke := kerror.From(err)
	return map[string]any{"document": doc, "status": ke.Status, "reason": ke.Message}
}

// docMulti serves mCreate, mCreateOrReplace, mReplace, mUpdate and mUpsert:
// malformed items fail alone, the others go to the log as one command.
func (rt *Router) docMulti(op storage.Op) Handler {
	return func(ctx context.Context, r *Request) (any, error) {
		index, collection, body, err := targetBody(r, true)
		if err != nil {
			return nil, err
		}
		docs, err := BodyArray(body, "documents")
		if err != nil {
			return nil, err
		}
		if rt.limits.DocumentsWrite > 0 && len(docs) > rt.limits.DocumentsWrite {
			return nil, kerror.New("services.storage.write_limit_exceeded")
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
			dw, err := rt.docWrite(op, d)
			if err != nil {
				errs = append(errs, itemError(d, err))
				continue
			}
			writes = append(writes, dw)
			originals = append(originals, d)
		}
		successes := []any{}
		if len(writes) > 0 {
			res, err := rt.write(ctx, r, storage.Write{Op: op, Index: index, Collection: collection, Docs: writes})
			if err != nil {
				return nil, err
			}
			for i, it := range res.Items {
				if it.Err != nil {
					errs = append(errs, itemError(originals[i], it.Err))
					continue
				}
				v := docView(it.After)
				switch op {
				case storage.OpDocCreate:
					v["created"] = true
				case storage.OpDocCreateOrReplace, storage.OpDocUpsert:
					v["created"] = it.Created
				case storage.OpDocUpdate:
					if src, _ := r.Bool("source"); !src {
						v["_source"] = writes[i].Body
					}
				}
				successes = append(successes, v)
			}
		}
		if strict, _ := r.Bool("strict"); strict && len(errs) > 0 {
			return nil, kerror.New("services.storage.unexpected_bad_request", strconv.Itoa(len(errs))+" documents failed (strict mode)")
		}
		return map[string]any{"successes": successes, "errors": errs}, nil
	}
}

func (rt *Router) docWrite(op storage.Op, d map[string]any) (storage.DocWrite, error) {
	var dw storage.DocWrite
	id, _ := d["_id"].(string)
	if _, present := d["_id"]; present && id == "" && d["_id"] != nil {
		return dw, kerror.New("api.assert.invalid_type", "_id", "string")
	}
	if id == "" {
		if op != storage.OpDocCreate {
			return dw, kerror.New("api.assert.missing_argument", "_id")
		}
		id = rt.b.NewID()
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

func (rt *Router) docMGet(ctx context.Context, r *Request) (any, error) {
	index, collection, body, err := targetBody(r, true)
	if err != nil {
		return nil, err
	}
	ids, err := BodyStrings(body, "ids")
	if err != nil {
		return nil, err
	}
	if rt.limits.DocumentsFetch > 0 && len(ids) > rt.limits.DocumentsFetch {
		return nil, kerror.New("services.storage.get_limit_exceeded")
	}
	if err := rt.b.ReadBarrier(ctx); err != nil {
		return nil, err
	}
	docs, missing, err := rt.b.MGet(ctx, index, collection, ids)
	if err != nil {
		return nil, err
	}
	successes := make([]any, 0, len(docs))
	for _, d := range docs {
		successes = append(successes, docView(d))
	}
	if missing == nil {
		missing = []string{}
	}
	return map[string]any{"successes": successes, "errors": missing}, nil
}

func (rt *Router) docMExists(ctx context.Context, r *Request) (any, error) {
	res, err := rt.docMGet(ctx, r)
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

func (rt *Router) docMDelete(ctx context.Context, r *Request) (any, error) {
	index, collection, body, err := targetBody(r, true)
	if err != nil {
		return nil, err
	}
	ids, err := BodyStrings(body, "ids")
	if err != nil {
		return nil, err
	}
	if rt.limits.DocumentsWrite > 0 && len(ids) > rt.limits.DocumentsWrite {
		return nil, kerror.New("services.storage.write_limit_exceeded")
	}
	docs := make([]storage.DocWrite, len(ids))
	for i, id := range ids {
		docs[i] = storage.DocWrite{ID: id}
	}
	res, err := rt.write(ctx, r, storage.Write{Op: storage.OpDocDelete, Index: index, Collection: collection, Docs: docs})
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
	return map[string]any{"successes": successes, "errors": errs}, nil
}

func queryOf(body map[string]any) (json.RawMessage, error) {
	q, err := BodyObject(body, "query")
	if err != nil {
		return nil, err
	}
	return json.Marshal(q)
}

func (rt *Router) docDeleteByQuery(ctx context.Context, r *Request) (any, error) {
	index, collection, body, err := targetBody(r, true)
	if err != nil {
		return nil, err
	}
	q, err := queryOf(body)
	if err != nil {
		return nil, err
	}
	res, err := rt.write(ctx, r, storage.Write{Op: storage.OpDocDeleteByQuery, Index: index, Collection: collection,
		Query: q, Limit: rt.limits.DocumentsWrite})
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

func (rt *Router) docUpdateByQuery(ctx context.Context, r *Request) (any, error) {
	index, collection, body, err := targetBody(r, true)
	if err != nil {
		return nil, err
	}
	q, err := queryOf(body)
	if err != nil {
		return nil, err
	}
	changes, err := BodyObject(body, "changes")
	if err != nil {
		return nil, err
	}
	res, err := rt.write(ctx, r, storage.Write{Op: storage.OpDocUpdateByQuery, Index: index, Collection: collection,
		Query: q, Changes: changes, Limit: rt.limits.DocumentsWrite})
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

func (rt *Router) docValidate(ctx context.Context, r *Request) (any, error) {
	index, collection, err := target(r)
	if err != nil {
		return nil, err
	}
	if _, err := r.RequireBody(); err != nil {
		return nil, err
	}
	// Korum has no validation specifications yet: a document is valid when
	// its collection exists.
	if err := rt.b.ReadBarrier(ctx); err != nil {
		return nil, err
	}
	ok, err := rt.b.CollectionExists(ctx, index, collection)
	if err != nil {
		return nil, err
	}
	if !ok {
		if exists, _ := rt.b.IndexExists(ctx, index); !exists {
			return nil, kerror.New("services.storage.unknown_index", index)
		}
		return nil, kerror.New("services.storage.unknown_collection", index, collection)
	}
	return map[string]any{"errorMessages": map[string]any{}, "valid": true}, nil
}
