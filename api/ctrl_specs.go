package api

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/storage"
	"github.com/korumdb/korum/validation"
)

// SpecReader gives a collection's validation specification, or nil. It is
// asked on every document write, so it must be cheap (a map lookup).
type SpecReader interface {
	Spec(index, collection string) *validation.Spec
}

// Specifications is what the collection controller's specification
// actions need: the replicated specifications, read locally, changed
// through the log.
type Specifications interface {
	SpecReader
	StoredSpec(index, collection string) (json.RawMessage, bool)
	AllSpecs() []validation.Stored
	// ProposeSpecs sets (Spec) or deletes (nil Spec) a specification that
	// the caller checked, and says whether one was there.
	ProposeSpecs(ctx context.Context, c *validation.Command) (bool, error)
}

// specActions are the collection controller's specification actions.
func (c *collectionController) specActions() map[string]Handler {
	search := &securityController{clock: c.clock}
	return map[string]Handler{
		"updateSpecifications":   c.updateSpecifications,
		"validateSpecifications": c.validateSpecifications,
		"getSpecifications":      c.getSpecifications,
		"deleteSpecifications":   c.deleteSpecifications,
		"searchSpecifications":   c.searchLimited(search.securitySearch("validations", c.specHits)),
		"scrollSpecifications":   search.securityScroll("validations", c.specHits),
	}
}

// specBody returns the target and the specification to check.
func specBody(r *Request) (index, collection string, body map[string]any, err error) {
	return targetBody(r, true)
}

func (c *collectionController) updateSpecifications(ctx context.Context, r *Request) (any, error) {
	index, collection, body, err := specBody(r)
	if err != nil {
		return nil, err
	}
	if _, errs := validation.Parse(index, collection, body); len(errs) > 0 {
		return nil, kerror.New("validation.assert.invalid_specifications", strings.Join(errs, "\n\t- "))
	}
	raw, err := specJSON(r, body)
	if err != nil {
		return nil, err
	}
	if _, err := c.specs.ProposeSpecs(ctx, &validation.Command{Index: index, Collection: collection, Spec: raw}); err != nil {
		return nil, err
	}
	return body, nil
}

func (c *collectionController) validateSpecifications(_ context.Context, r *Request) (any, error) {
	index, collection, body, err := specBody(r)
	if err != nil {
		return nil, err
	}
	if _, errs := validation.Parse(index, collection, body); len(errs) > 0 {
		return map[string]any{"valid": false, "details": errs, "description": "Some errors with provided specifications."}, nil
	}
	return map[string]any{"valid": true}, nil
}

func (c *collectionController) getSpecifications(ctx context.Context, r *Request) (any, error) {
	index, collection, err := target(r)
	if err != nil {
		return nil, err
	}
	if err := c.store.ReadBarrier(ctx); err != nil {
		return nil, err
	}
	raw, ok := c.specs.StoredSpec(index, collection)
	if !ok {
		return nil, kerror.New("validation.assert.not_found", index, collection)
	}
	return map[string]any{"index": index, "collection": collection, "validation": raw}, nil
}

func (c *collectionController) deleteSpecifications(ctx context.Context, r *Request) (any, error) {
	index, collection, err := target(r)
	if err != nil {
		return nil, err
	}
	// Always through the log, not after a look at this node's copy, which
	// may lag in local-read mode. A cluster whose feature version does not
	// allow specifications yet holds none: there is nothing to delete, and
	// Kuzzle acknowledges that too.
	_, err = c.specs.ProposeSpecs(ctx, &validation.Command{Index: index, Collection: collection})
	if err != nil && kerror.From(err).ID != "cluster.process.feature_unavailable" {
		return nil, err
	}
	return map[string]any{"acknowledged": true}, nil
}

// searchLimited refuses a page larger than the fetch limit, as Kuzzle's
// searchSpecifications does, then runs the search.
func (c *collectionController) searchLimited(h Handler) Handler {
	return func(ctx context.Context, r *Request) (any, error) {
		from, err := r.Int("from", 0)
		if err != nil {
			return nil, err
		}
		size, err := r.Int("size", 10)
		if err != nil {
			return nil, err
		}
		if c.limits.DocumentsFetch > 0 && size-from > c.limits.DocumentsFetch {
			return nil, kerror.New("services.storage.get_limit_exceeded")
		}
		if err := c.store.ReadBarrier(ctx); err != nil {
			return nil, err
		}
		return h(ctx, r)
	}
}

// specHits lists the specifications as Kuzzle's internal "validations"
// collection holds them: _id "index#collection", _source {index,
// collection, validation}.
func (c *collectionController) specHits(map[string]any) ([]map[string]any, error) {
	all := c.specs.AllSpecs()
	hits := make([]map[string]any, 0, len(all))
	for _, s := range all {
		var v any
		if err := json.Unmarshal(s.Validation, &v); err != nil {
			return nil, kerror.Wrap(err, "core.fatal.unexpected_error", "decoding a stored specification")
		}
		hits = append(hits, map[string]any{"_id": s.Index + "#" + s.Collection, "_score": 1,
			"_source": map[string]any{"index": s.Index, "collection": s.Collection, "validation": v}})
	}
	return hits, nil
}

// docChecker enforces a collection's specification on the documents of a
// write, before it is proposed (a committed write always applies).
type docChecker struct {
	specs SpecReader
	store interface {
		ReadBarrier(ctx context.Context) error
		MGet(ctx context.Context, index, collection string, ids []string) ([]*storage.Document, []string, error)
	}
	clock Clock
}

// check validates each document of a write of op, and applies the
// specification's defaults to the ones that pass. It returns one error per
// document (nil: valid), or nil when the collection has no specification.
// For an update or an upsert, the document checked is the stored one with
// the changes merged in (for an upsert that creates, the default with the
// changes), as Kuzzle validates an update.
func (d *docChecker) check(ctx context.Context, op storage.Op, index, collection string, docs []storage.DocWrite) ([]error, error) {
	spec := d.specs.Spec(index, collection)
	if spec == nil {
		return nil, nil
	}
	return d.checkWith(ctx, spec, op, index, collection, docs)
}

func (d *docChecker) checkWith(ctx context.Context, spec *validation.Spec, op storage.Op, index, collection string, docs []storage.DocWrite) ([]error, error) {
	now := d.clock.Now()
	var stored map[string]map[string]any
	if op == storage.OpDocUpdate || op == storage.OpDocUpsert {
		ids := make([]string, len(docs))
		for i, dw := range docs {
			ids[i] = dw.ID
		}
		if err := d.store.ReadBarrier(ctx); err != nil {
			return nil, err
		}
		found, _, err := d.store.MGet(ctx, index, collection, ids)
		if err != nil {
			return nil, err
		}
		stored = make(map[string]map[string]any, len(found))
		for _, doc := range found {
			if doc != nil {
				stored[doc.ID] = doc.Source
			}
		}
	}
	errs := make([]error, len(docs))
	for i := range docs {
		dw := &docs[i]
		switch op {
		case storage.OpDocUpdate:
			src, ok := stored[dw.ID]
			if !ok {
				continue // the write answers not_found
			}
			if errs[i] = spec.Check(dw.ID, merged(src, dw.Body), now); errs[i] == nil {
				spec.ApplyDefaults(dw.Body, true)
			}
		case storage.OpDocUpsert:
			if src, ok := stored[dw.ID]; ok {
				if errs[i] = spec.Check(dw.ID, merged(src, dw.Body), now); errs[i] == nil {
					spec.ApplyDefaults(dw.Body, true)
				}
				continue
			}
			created := merged(dw.Default, dw.Body)
			if errs[i] = spec.Check(dw.ID, created, now); errs[i] == nil && spec.HasDefaults() {
				// The defaults go with the part used only on creation, so
				// that an upsert that finds the document after all (created
				// meanwhile) does not overwrite it with them.
				spec.ApplyDefaults(created, false)
				for k, v := range created {
					if _, inChanges := dw.Body[k]; !inChanges {
						if dw.Default == nil {
							dw.Default = map[string]any{}
						}
						dw.Default[k] = v
					}
				}
			}
		default: // create, createOrReplace, replace: the body is the document
			if errs[i] = spec.Check(dw.ID, dw.Body, now); errs[i] == nil {
				spec.ApplyDefaults(dw.Body, false)
			}
		}
	}
	return errs, nil
}

// merged is the document an update of stored with changes produces, as
// the storage engines compute it, without the metadata Korum keeps in it
// (_kuzzle_info is not the user's: a strict specification must not see it).
func merged(stored, changes map[string]any) map[string]any {
	out, _ := storage.DeepCopy(stored).(map[string]any)
	if out == nil {
		out = map[string]any{}
	}
	storage.MergeInto(out, changes)
	delete(out, "_kuzzle_info")
	return out
}

// checkOne is check for a single-document write: the document's failure
// is the request's error.
func (d *docChecker) checkOne(ctx context.Context, op storage.Op, index, collection string, dw *storage.DocWrite) error {
	spec := d.specs.Spec(index, collection)
	if spec == nil {
		return nil // the common case: nothing to allocate
	}
	docs := []storage.DocWrite{*dw}
	errs, err := d.checkWith(ctx, spec, op, index, collection, docs)
	if err != nil {
		return err
	}
	*dw = docs[0]
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// specJSON is the specification to store: the client's JSON, compacted,
// when the request kept it, so that the stored bytes hold the client's
// field order (the order fields are checked in, read back from those
// bytes on every replica); else body re-encoded, its keys sorted.
func specJSON(r *Request, body map[string]any) (json.RawMessage, error) {
	if len(r.RawBody) > 0 {
		var buf bytes.Buffer
		if err := json.Compact(&buf, r.RawBody); err == nil {
			return buf.Bytes(), nil
		}
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, kerror.Wrap(err, "core.fatal.unexpected_error", "encoding a specification")
	}
	return raw, nil
}
