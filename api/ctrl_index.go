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
	}
}

func (c *indexController) create(ctx context.Context, r *Request) (any, error) {
	index, err := r.String("index")
	if err != nil {
		return nil, err
	}
	_, err = write(ctx, c.store, c.clock, r, storage.Write{Op: storage.OpIndexCreate, Index: index})
	return nil, err
}

func (c *indexController) delete(ctx context.Context, r *Request) (any, error) {
	index, err := r.String("index")
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
	index, err := r.String("index")
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
