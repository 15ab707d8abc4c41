package api

import (
	"context"
	"encoding/json"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/storage"
)

// Collections is what the collection controller needs from the node.
type Collections interface {
	Writer
	ReadBarrier(ctx context.Context) error
	IndexExists(ctx context.Context, index string) (bool, error)
	CollectionExists(ctx context.Context, index, collection string) (bool, error)
	ListCollections(ctx context.Context, index string) ([]string, error)
	// GetMapping returns {dynamic, _meta, properties}.
	GetMapping(ctx context.Context, index, collection string) (map[string]any, error)
}

// collectionController is Kuzzle's collection controller.
type collectionController struct {
	store Collections
	clock Clock
}

func (c *collectionController) actions() map[string]Handler {
	return map[string]Handler{
		"create":     c.createOrUpdate(storage.OpCollectionCreate),
		"update":     c.createOrUpdate(storage.OpCollectionUpdate),
		"delete":     c.delete,
		"truncate":   c.truncate,
		"exists":     c.exists,
		"refresh":    c.refresh,
		"list":       c.list,
		"getMapping": c.getMapping,
	}
}

// mappingsOf accepts Kuzzle 2's {mappings, settings} body and the older
// form where the body is the mapping itself.
func mappingsOf(body map[string]any) (json.RawMessage, error) {
	m := body
	if inner, ok := body["mappings"]; ok {
		mm, ok := inner.(map[string]any)
		if !ok {
			return nil, kerror.New("api.assert.invalid_type", "body.mappings", "object")
		}
		m = mm
	} else if _, ok := body["settings"]; ok {
		m = map[string]any{}
	}
	return json.Marshal(m)
}

func (c *collectionController) createOrUpdate(op storage.Op) Handler {
	return func(ctx context.Context, r *Request) (any, error) {
		index, collection, body, err := targetBody(r, false)
		if err != nil {
			return nil, err
		}
		m, err := mappingsOf(body)
		if err != nil {
			return nil, err
		}
		if _, err := write(ctx, c.store, c.clock, r, storage.Write{Op: op, Index: index, Collection: collection, Mappings: m}); err != nil {
			return nil, err
		}
		if op == storage.OpCollectionCreate {
			return map[string]any{"acknowledged": true}, nil
		}
		return nil, nil
	}
}

func (c *collectionController) delete(ctx context.Context, r *Request) (any, error) {
	index, collection, err := target(r)
	if err != nil {
		return nil, err
	}
	_, err = write(ctx, c.store, c.clock, r, storage.Write{Op: storage.OpCollectionDelete, Index: index, Collection: collection})
	return nil, err
}

func (c *collectionController) truncate(ctx context.Context, r *Request) (any, error) {
	index, collection, err := target(r)
	if err != nil {
		return nil, err
	}
	_, err = write(ctx, c.store, c.clock, r, storage.Write{Op: storage.OpCollectionTruncate, Index: index, Collection: collection})
	if err != nil {
		return nil, err
	}
	return map[string]any{"acknowledged": true}, nil
}

func (c *collectionController) exists(ctx context.Context, r *Request) (any, error) {
	index, collection, err := target(r)
	if err != nil {
		return nil, err
	}
	if err := c.store.ReadBarrier(ctx); err != nil {
		return nil, err
	}
	return c.store.CollectionExists(ctx, index, collection)
}

func (c *collectionController) refresh(ctx context.Context, r *Request) (any, error) {
	// The embedded engine is always refreshed; check the target exists.
	index, collection, err := target(r)
	if err != nil {
		return nil, err
	}
	if err := requireIndex(ctx, c.store, index); err != nil {
		return nil, err
	}
	ok, err := c.store.CollectionExists(ctx, index, collection)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, kerror.New("services.storage.unknown_collection", index, collection)
	}
	return nil, nil
}

func (c *collectionController) list(ctx context.Context, r *Request) (any, error) {
	index, err := r.String("index")
	if err != nil {
		return nil, err
	}
	if err := requireIndex(ctx, c.store, index); err != nil {
		return nil, err
	}
	names, err := c.store.ListCollections(ctx, index)
	if err != nil {
		return nil, err
	}
	list := make([]any, 0, len(names))
	for _, n := range names {
		list = append(list, map[string]any{"name": n, "type": "stored"})
	}
	return map[string]any{"type": "all", "collections": list}, nil
}

func (c *collectionController) getMapping(ctx context.Context, r *Request) (any, error) {
	index, collection, err := target(r)
	if err != nil {
		return nil, err
	}
	if err := c.store.ReadBarrier(ctx); err != nil {
		return nil, err
	}
	return c.store.GetMapping(ctx, index, collection)
}
