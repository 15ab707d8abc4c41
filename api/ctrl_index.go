package api

import (
	"context"

	"github.com/korumdb/korum/storage"
)

// Indexes is what the index controller needs from the node.
type Indexes interface {
	Writer
	ReadBarrier(ctx context.Context) error
	IndexExists(ctx context.Context, index string) (bool, error)
	ListIndexes(ctx context.Context) ([]string, error)
	// StorageStats is every index and collection with its document count
	// and size, in name order.
	StorageStats(ctx context.Context) ([]storage.IndexStats, error)
}

// indexController is Kuzzle's index controller.
type indexController struct {
	store Indexes
	clock Clock
}

func (c *indexController) actions() map[string]Handler {
	return map[string]Handler{
		"create":  c.create,
		"delete":  c.delete,
		"exists":  c.exists,
		"list":    c.list,
		"mDelete": c.mDelete,
		"stats":   c.stats,
	}
}

func (c *indexController) create(ctx context.Context, r *Request) (any, error) {
	index, err := r.resource("index")
	if err != nil {
		return nil, err
	}
	_, err = write(ctx, c.store, c.clock, r, storage.Write{Op: storage.OpIndexCreate, Index: index})
	return nil, err
}

func (c *indexController) delete(ctx context.Context, r *Request) (any, error) {
	index, err := r.resource("index")
	if err != nil {
		return nil, err
	}
	if err := requireIndex(ctx, c.store, index); err != nil {
		return nil, err
	}
	_, err = write(ctx, c.store, c.clock, r, storage.Write{Op: storage.OpIndexDelete, Indexes: []string{index}})
	if err != nil {
		return nil, err
	}
	return map[string]any{"acknowledged": true}, nil
}

func (c *indexController) exists(ctx context.Context, r *Request) (any, error) {
	index, err := r.resource("index")
	if err != nil {
		return nil, err
	}
	if err := c.store.ReadBarrier(ctx); err != nil {
		return nil, err
	}
	return c.store.IndexExists(ctx, index)
}

func (c *indexController) list(ctx context.Context, r *Request) (any, error) {
	if err := c.store.ReadBarrier(ctx); err != nil {
		return nil, err
	}
	list, err := c.store.ListIndexes(ctx)
	if list == nil {
		list = []string{}
	}
	return map[string]any{"indexes": list}, err
}

func (c *indexController) mDelete(ctx context.Context, r *Request) (any, error) {
	body, err := r.RequireBody()
	if err != nil {
		return nil, err
	}
	indexes, err := BodyStrings(body, "indexes")
	if err != nil {
		return nil, err
	}
	// As Kuzzle's: only the indexes the user may delete are deleted.
	allowed := indexes[:0:0]
	for _, idx := range indexes {
		if r.Can("index", "delete", idx, "") {
			allowed = append(allowed, idx)
		}
	}
	indexes = allowed
	if len(indexes) == 0 {
		return map[string]any{"deleted": []string{}}, nil
	}
	res, err := write(ctx, c.store, c.clock, r, storage.Write{Op: storage.OpIndexDelete, Indexes: indexes})
	if err != nil {
		return nil, err
	}
	deleted := []string{}
	for _, it := range res.Items {
		if it.Err == nil {
			deleted = append(deleted, it.ID)
		}
	}
	return map[string]any{"deleted": deleted}, nil
}

// stats is index:stats: each index's size and, per collection, its
// document count and size (bytes of the store's pages on this node).
func (c *indexController) stats(ctx context.Context, r *Request) (any, error) {
	if err := c.store.ReadBarrier(ctx); err != nil {
		return nil, err
	}
	st, err := c.store.StorageStats(ctx)
	if err != nil {
		return nil, err
	}
	indexes := make([]any, 0, len(st))
	var total int64
	for _, is := range st {
		colls := make([]any, 0, len(is.Collections))
		for _, cs := range is.Collections {
			colls = append(colls, map[string]any{"name": cs.Name, "documentCount": cs.Documents, "size": cs.Size})
		}
		indexes = append(indexes, map[string]any{"name": is.Name, "size": is.Size, "collections": colls})
		total += is.Size
	}
	return map[string]any{"indexes": indexes, "size": total}, nil
}
