package api

import (
	"context"
	"encoding/json"
	"sort"

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
	// RealtimeCollections lists the collections of an index that have
	// subscriptions, on any node.
	RealtimeCollections(ctx context.Context, index string) ([]string, error)
	// GetSettings returns the collection's settings that Korum honours.
	GetSettings(ctx context.Context, index, collection string) (map[string]any, error)
}

// collectionController is Kuzzle's collection controller.
type collectionController struct {
	store  Collections
	clock  Clock
	specs  Specifications
	limits Limits
}

func (c *collectionController) actions() map[string]Handler {
	acts := map[string]Handler{
		"create":     c.createOrUpdate(storage.OpCollectionCreate),
		"update":     c.createOrUpdate(storage.OpCollectionUpdate),
		"delete":     c.delete,
		"truncate":   c.truncate,
		"exists":     c.exists,
		"refresh":    c.refresh,
		"list":       c.list,
		"getMapping": c.getMapping,
		// updateMapping is Kuzzle's deprecated form of update, which
		// answers with the whole mapping (the SDK still sends it).
		"updateMapping": c.updateMapping,
		"getSettings":   c.getSettings,
	}
	for name, h := range c.specActions() {
		acts[name] = h
	}
	return acts
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

// settingsOf returns the body's Elasticsearch settings, if any: the engine
// honours index.blocks.write and ignores the others.
func settingsOf(body map[string]any) (json.RawMessage, error) {
	v, ok := body["settings"]
	if !ok || v == nil {
		return nil, nil
	}
	s, ok := v.(map[string]any)
	if !ok {
		return nil, kerror.New("api.assert.invalid_type", "body.settings", "object")
	}
	return json.Marshal(s)
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
		settings, err := settingsOf(body)
		if err != nil {
			return nil, err
		}
		if _, err := write(ctx, c.store, c.clock, r, storage.Write{Op: op, Index: index, Collection: collection,
			Mappings: m, Settings: settings}); err != nil {
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

// list is collection:list: stored collections, realtime ones (those with
// subscriptions) or all, sorted by name, a page of them when from or size
// is given.
func (c *collectionController) list(ctx context.Context, r *Request) (any, error) {
	index, err := r.resource("index")
	if err != nil {
		return nil, err
	}
	// Kuzzle's order: index, from, size, then type.
	from, err := r.Int("from", 0)
	if err != nil {
		return nil, err
	}
	size, err := r.Int("size", 0)
	if err != nil {
		return nil, err
	}
	typ, err := r.OptString("type")
	if err != nil {
		return nil, err
	}
	if typ == "" {
		typ = "all"
	}
	if typ != "all" && typ != "stored" && typ != "realtime" {
		return nil, kerror.New("api.assert.invalid_argument", "type", `"all", "stored" or "realtime"`)
	}
	if err := c.store.ReadBarrier(ctx); err != nil {
		return nil, err
	}
	type entry struct{ name, typ string }
	var all []entry
	if typ != "realtime" {
		if err := requireIndex(ctx, c.store, index); err != nil {
			return nil, err
		}
		names, err := c.store.ListCollections(ctx, index)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			all = append(all, entry{n, "stored"})
		}
	}
	if typ != "stored" {
		names, err := c.store.RealtimeCollections(ctx, index)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			all = append(all, entry{n, "realtime"})
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].name < all[j].name })
	out := map[string]any{"type": typ}
	if from > 0 || size > 0 {
		from = min(max(from, 0), len(all))
		end := len(all)
		if size > 0 {
			end = min(from+size, len(all))
		}
		all = all[from:end]
		out["from"], out["size"] = from, size
	}
	list := make([]any, 0, len(all))
	for _, e := range all {
		list = append(list, map[string]any{"name": e.name, "type": e.typ})
	}
	out["collections"] = list
	return out, nil
}

func (c *collectionController) updateMapping(ctx context.Context, r *Request) (any, error) {
	index, collection, body, err := targetBody(r, true)
	if err != nil {
		return nil, err
	}
	m, err := mappingsOf(body)
	if err != nil {
		return nil, err
	}
	if _, err := write(ctx, c.store, c.clock, r, storage.Write{Op: storage.OpCollectionUpdate, Index: index, Collection: collection, Mappings: m}); err != nil {
		return nil, err
	}
	return c.store.GetMapping(ctx, index, collection)
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

// getSettings is collection:getSettings: the settings Korum honours
// (index.blocks.write), in Elasticsearch's shape.
func (c *collectionController) getSettings(ctx context.Context, r *Request) (any, error) {
	index, collection, err := target(r)
	if err != nil {
		return nil, err
	}
	if err := c.store.ReadBarrier(ctx); err != nil {
		return nil, err
	}
	return c.store.GetSettings(ctx, index, collection)
}
