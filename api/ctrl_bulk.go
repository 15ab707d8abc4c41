package api

import (
	"context"
	"strconv"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/storage"
)

// Bulk is what the bulk controller needs from the node.
type Bulk interface {
	Writer
	NewID() string
}

// bulkController is Kuzzle's bulk controller: low-level writes that skip
// part of what the document controller does (validation, metadata, write
// limits or notifications, depending on the action).
type bulkController struct {
	store  Bulk
	clock  Clock
	limits Limits
}

func (c *bulkController) actions() map[string]Handler {
	return map[string]Handler{
		"import":        c.importAction,
		"write":         c.write,
		"mWrite":        c.mWrite,
		"deleteByQuery": c.deleteByQuery,
		"updateByQuery": c.updateByQuery,
	}
}

// bulkAction is one action of an Elasticsearch bulk body, as its result
// names it.
type bulkAction struct {
	name string // create, index, update or delete
	id   string
	body map[string]any // the document line, shown back on errors
}

// parseBulk reads Elasticsearch's bulk format: an action line
// ({"create"|"index"|"update"|"delete": {"_id": ...}}) followed, except
// for delete, by the document line (for update: {"doc", "upsert",
// "doc_as_upsert"}). The index and collection come from the request, never
// from the lines. Missing ids of create and index are generated here, before
// proposing, like every id.
func parseBulk(lines []any, newID func() string) ([]storage.DocWrite, []bulkAction, error) {
	var docs []storage.DocWrite
	var acts []bulkAction
	for i := 0; i < len(lines); i++ {
		line, ok := lines[i].(map[string]any)
		if !ok || len(line) != 1 {
			return nil, nil, kerror.New("api.assert.invalid_argument", "bulkData["+strconv.Itoa(i)+"]", "an action: {create|index|update|delete: {_id}}")
		}
		var name string
		var meta any
		for name, meta = range line {
		}
		m, ok := meta.(map[string]any)
		if meta != nil && !ok {
			return nil, nil, kerror.New("api.assert.invalid_type", "bulkData["+strconv.Itoa(i)+"]."+name, "object")
		}
		for _, forbidden := range []string{"_index", "_type"} {
			if _, ok := m[forbidden]; ok {
				return nil, nil, kerror.New("api.assert.invalid_argument", "bulkData["+strconv.Itoa(i)+"]."+name+"."+forbidden,
					"nothing: the request names the index and the collection")
			}
		}
		id := ""
		if v, ok := m["_id"]; ok && v != nil {
			if id, ok = v.(string); !ok {
				return nil, nil, kerror.New("api.assert.invalid_type", "bulkData["+strconv.Itoa(i)+"]."+name+"._id", "string")
			}
		}
		var op storage.Op
		switch name {
		case "create":
			op = storage.OpDocCreate
		case "index":
			op = storage.OpDocCreateOrReplace
		case "update":
			op = storage.OpDocUpdate
		case "delete":
			op = storage.OpDocDelete
		default:
			return nil, nil, kerror.New("api.assert.invalid_argument", "bulkData["+strconv.Itoa(i)+"]", `one of "create", "index", "update", "delete"`)
		}
		if id == "" {
			if op != storage.OpDocCreate && op != storage.OpDocCreateOrReplace {
				return nil, nil, kerror.New("api.assert.missing_argument", "bulkData["+strconv.Itoa(i)+"]."+name+"._id")
			}
			id = newID()
		}
		dw := storage.DocWrite{ID: id, Op: op}
		act := bulkAction{name: name, id: id}
		if op != storage.OpDocDelete {
			i++
			if i >= len(lines) {
				return nil, nil, kerror.New("api.assert.missing_argument", "bulkData["+strconv.Itoa(i)+"]")
			}
			doc, ok := lines[i].(map[string]any)
			if !ok {
				return nil, nil, kerror.New("api.assert.invalid_type", "bulkData["+strconv.Itoa(i)+"]", "object")
			}
			act.body = doc
			dw.Body = doc
			if op == storage.OpDocUpdate {
				changes, ok := doc["doc"].(map[string]any)
				if !ok {
					return nil, nil, kerror.New("api.assert.missing_argument", "bulkData["+strconv.Itoa(i)+"].doc")
				}
				dw.Body = changes
				if up, ok := doc["upsert"].(map[string]any); ok {
					dw.Op, dw.Default = storage.OpDocUpsert, up
				} else if asUpsert, _ := doc["doc_as_upsert"].(bool); asUpsert {
					dw.Op = storage.OpDocUpsert
				}
			}
		}
		docs = append(docs, dw)
		acts = append(acts, act)
	}
	return docs, acts, nil
}

// esError is the type Elasticsearch gives a failed bulk item, by Kuzzle
// error id.
func esError(e *kerror.Error) string {
	switch e.ID {
	case "services.storage.document_already_exists":
		return "version_conflict_engine_exception"
	case "services.storage.not_found":
		return "document_missing_exception"
	case "services.storage.strict_mapping_rejection":
		return "strict_dynamic_mapping_exception"
	}
	return "mapper_parsing_exception"
}

// importAction is bulk:import: no validation, no notifications, and (as
// in Kuzzle) no documentsWriteCount limit: the request size bounds it.
func (c *bulkController) importAction(ctx context.Context, r *Request) (any, error) {
	index, collection, body, err := targetBody(r, true)
	if err != nil {
		return nil, err
	}
	lines, err := BodyArray(body, "bulkData")
	if err != nil {
		return nil, err
	}
	docs, acts, err := parseBulk(lines, c.store.NewID)
	if err != nil {
		return nil, err
	}
	successes, errs := []any{}, []any{}
	if len(docs) > 0 {
		res, err := writeSilently(ctx, c.store, c.clock, r, storage.Write{Op: storage.OpDocBulk, Index: index,
			Collection: collection, Docs: docs}, true)
		if err != nil {
			return nil, err
		}
		for i, it := range res.Items {
			a := acts[i]
			if it.Err != nil {
				item := map[string]any{"_id": a.id, "status": it.Err.Status,
					"error": map[string]any{"type": esError(it.Err), "reason": it.Err.Message}}
				if a.body != nil {
					item["_source"] = a.body
				}
				if it.Err.ID == "services.storage.document_already_exists" {
					item["status"] = 409
				}
				errs = append(errs, map[string]any{a.name: item})
				continue
			}
			status := 200
			if it.Created {
				status = 201
			}
			successes = append(successes, map[string]any{a.name: map[string]any{"_id": a.id, "status": status}})
		}
	}
	if err := strictCheck(r, "import", errs); err != nil {
		return nil, err
	}
	return map[string]any{"successes": successes, "errors": errs}, nil
}

// notify reads bulk:write's notify option: notifications only when asked.
func notify(r *Request) (bool, error) { return r.Bool("notify") }

// write is bulk:write: create or replace one document as given, its
// _kuzzle_info included, no metadata added.
func (c *bulkController) write(ctx context.Context, r *Request) (any, error) {
	// Kuzzle's order: index, collection, _id, body.
	index, collection, err := target(r)
	if err != nil {
		return nil, err
	}
	id, err := r.optID()
	if err != nil {
		return nil, err
	}
	body, err := r.RequireBody()
	if err != nil {
		return nil, err
	}
	if id == "" {
		id = c.store.NewID()
	}
	n, err := notify(r)
	if err != nil {
		return nil, err
	}
	res, err := writeSilently(ctx, c.store, c.clock, r, storage.Write{Op: storage.OpDocCreateOrReplace, Index: index,
		Collection: collection, Verbatim: true, Docs: []storage.DocWrite{{ID: id, Body: body}}}, !n)
	if err != nil {
		return nil, err
	}
	it, err := single(res)
	if err != nil {
		return nil, err
	}
	return docView(it.After), nil
}

// mWrite is bulk:write for several documents, in one log entry.
func (c *bulkController) mWrite(ctx context.Context, r *Request) (any, error) {
	index, collection, body, err := targetBody(r, true)
	if err != nil {
		return nil, err
	}
	list, err := BodyArray(body, "documents")
	if err != nil {
		return nil, err
	}
	if c.limits.DocumentsWrite > 0 && len(list) > c.limits.DocumentsWrite {
		return nil, kerror.New("services.storage.write_limit_exceeded")
	}
	n, err := notify(r)
	if err != nil {
		return nil, err
	}
	docs := make([]storage.DocWrite, 0, len(list))
	for i, raw := range list {
		d, ok := raw.(map[string]any)
		if !ok {
			return nil, kerror.New("api.assert.invalid_type", "documents["+strconv.Itoa(i)+"]", "object")
		}
		// The API reference names the content "body", the SDK's types
		// "_source": both are accepted.
		field := "body"
		if _, ok := d["body"]; !ok {
			if _, ok := d["_source"]; ok {
				field = "_source"
			}
		}
		b, err := BodyObject(d, field)
		if err != nil {
			return nil, err
		}
		id := ""
		if v, ok := d["_id"]; ok && v != nil {
			if id, ok = v.(string); !ok {
				return nil, kerror.New("api.assert.invalid_type", "documents["+strconv.Itoa(i)+"]._id", "string")
			}
		}
		if id == "" {
			id = c.store.NewID()
		}
		docs = append(docs, storage.DocWrite{ID: id, Body: b})
	}
	successes, errs := []any{}, []any{}
	if len(docs) > 0 {
		res, err := writeSilently(ctx, c.store, c.clock, r, storage.Write{Op: storage.OpDocCreateOrReplace, Index: index,
			Collection: collection, Verbatim: true, Docs: docs}, !n)
		if err != nil {
			return nil, err
		}
		for i, it := range res.Items {
			if it.Err != nil {
				errs = append(errs, itemError(map[string]any{"_id": docs[i].ID, "body": docs[i].Body}, it.Err))
				continue
			}
			v := docView(it.After)
			v["created"], v["status"] = it.Created, 200
			if it.Created {
				v["status"] = 201
			}
			successes = append(successes, v)
		}
	}
	return map[string]any{"successes": successes, "errors": errs}, nil
}

// byQueryLimit bounds bulk:deleteByQuery and updateByQuery. Kuzzle does
// not apply documentsWriteCount to them; Korum still bounds the work of one
// log entry, by the larger documentsFetchCount.
func (c *bulkController) byQueryLimit() int {
	return max(c.limits.DocumentsFetch, c.limits.DocumentsWrite)
}

// deleteByQuery is bulk:deleteByQuery: no notifications, the count of
// deleted documents.
func (c *bulkController) deleteByQuery(ctx context.Context, r *Request) (any, error) {
	w, err := byQuery(r, false, true)
	if err != nil {
		return nil, err
	}
	w.Limit = c.byQueryLimit()
	res, err := writeSilently(ctx, c.store, c.clock, r, w, true)
	if err != nil {
		return nil, err
	}
	return map[string]any{"deleted": len(res.Items)}, nil
}

// updateByQuery is bulk:updateByQuery: no notifications, the count of
// updated documents.
func (c *bulkController) updateByQuery(ctx context.Context, r *Request) (any, error) {
	w, err := byQuery(r, true, true)
	if err != nil {
		return nil, err
	}
	w.Limit = c.byQueryLimit()
	res, err := writeSilently(ctx, c.store, c.clock, r, w, true)
	if err != nil {
		return nil, err
	}
	updated := 0
	for _, it := range res.Items {
		if it.Err == nil {
			updated++
		}
	}
	return map[string]any{"updated": updated}, nil
}
