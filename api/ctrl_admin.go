package api

import (
	"context"
	"sort"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/memstore"
	"github.com/korumdb/korum/storage"
)

// Admin is what the admin controller needs from the node.
type Admin interface {
	Writer
	ReadBarrier(ctx context.Context) error
	ListIndexes(ctx context.Context) ([]string, error)
	IndexExists(ctx context.Context, index string) (bool, error)
	CollectionExists(ctx context.Context, index, collection string) (bool, error)
	NewID() string
	MSWrite(ctx context.Context, cmds [][]string) ([]memstore.Reply, error)
	// Shutdown asks this node to stop gracefully once the response is
	// sent; false when it is already stopping.
	Shutdown() bool
	// Dump writes a diagnostic archive of this node and returns its path.
	Dump(ctx context.Context, suffix string) (string, error)
}

// adminController is Kuzzle's admin controller (resetSecurity and
// loadSecurities belong with the security controller).
type adminController struct {
	node   Admin
	clock  Clock
	limits Limits
}

func (c *adminController) actions() map[string]Handler {
	return map[string]Handler{
		"resetDatabase":     c.resetDatabase,
		"resetCache":        c.resetCache,
		"loadMappings":      c.loadMappings,
		"loadFixtures":      c.loadFixtures,
		"refreshIndexCache": c.refreshIndexCache,
		"shutdown":          c.shutdown,
		"dump":              c.dump,
	}
}

var acknowledge = map[string]any{"acknowledge": true}

// resetDatabase deletes every index (Korum keeps no internal index among
// them), in one log entry.
func (c *adminController) resetDatabase(ctx context.Context, r *Request) (any, error) {
	if err := c.node.ReadBarrier(ctx); err != nil {
		return nil, err
	}
	indexes, err := c.node.ListIndexes(ctx)
	if err != nil {
		return nil, err
	}
	if len(indexes) > 0 {
		if _, err := write(ctx, c.node, c.clock, r, storage.Write{Op: storage.OpIndexDelete, Indexes: indexes}); err != nil {
			return nil, err
		}
	}
	return acknowledge, nil
}

// resetCache empties the memory storage (database "memoryStorage").
// Korum's "internalCache" (tokens, paginated searches...) is not a cache it
// can empty: there is nothing to do for it.
func (c *adminController) resetCache(ctx context.Context, r *Request) (any, error) {
	db, err := r.String("database")
	if err != nil {
		return nil, err
	}
	switch db {
	case "memoryStorage":
		replies, err := c.node.MSWrite(ctx, [][]string{{"flushdb"}})
		if err != nil {
			return nil, err
		}
		if len(replies) == 1 && replies[0].Err != "" {
			return nil, msError(replies[0].Err)
		}
	case "internalCache":
	default:
		return nil, kerror.New("services.cache.database_not_found", db)
	}
	return acknowledge, nil
}

// pairs of a loadMappings or loadFixtures body, in a stable order: index,
// then collection, so that a failure stops at the same place every time.
type target2 struct{ index, collection string }

func sortedTargets(body map[string]any) ([]target2, map[target2]any, error) {
	var out []target2
	vals := map[target2]any{}
	for index, v := range body {
		colls, ok := v.(map[string]any)
		if !ok {
			return nil, nil, kerror.New("api.assert.invalid_type", "body."+index, "object")
		}
		for coll, cv := range colls {
			t := target2{index, coll}
			out = append(out, t)
			vals[t] = cv
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].index != out[j].index {
			return out[i].index < out[j].index
		}
		return out[i].collection < out[j].collection
	})
	return out, vals, nil
}

// loadMappings creates each index and collection that does not exist and
// applies each mapping, one collection at a time, stopping at the first
// failure (Kuzzle's order of work). Korum always answers once they are
// applied, whatever refresh says.
func (c *adminController) loadMappings(ctx context.Context, r *Request) (any, error) {
	body, err := r.RequireBody()
	if err != nil {
		return nil, err
	}
	targets, vals, err := sortedTargets(body)
	if err != nil {
		return nil, err
	}
	mappings := make(map[target2][]byte, len(targets))
	for _, t := range targets {
		m, ok := vals[t].(map[string]any)
		if !ok {
			return nil, kerror.New("api.assert.invalid_type", "body."+t.index+"."+t.collection, "object")
		}
		if mappings[t], err = mappingsOf(m); err != nil {
			return nil, err
		}
	}
	for _, t := range targets {
		if _, err := write(ctx, c.node, c.clock, r, storage.Write{Op: storage.OpCollectionCreate, Index: t.index,
			Collection: t.collection, Mappings: mappings[t]}); err != nil {
			return nil, err
		}
	}
	return acknowledge, nil
}

// loadFixtures imports each collection's documents (bulk:import's format)
// one collection at a time; an unknown index or collection, or a document
// that fails, stops the sequence without undoing what was loaded.
func (c *adminController) loadFixtures(ctx context.Context, r *Request) (any, error) {
	body, err := r.RequireBody()
	if err != nil {
		return nil, err
	}
	targets, vals, err := sortedTargets(body)
	if err != nil {
		return nil, err
	}
	writes := make(map[target2][]storage.DocWrite, len(targets))
	for _, t := range targets {
		list, ok := vals[t].([]any)
		if !ok {
			return nil, kerror.New("api.assert.invalid_type", "body."+t.index+"."+t.collection, "array")
		}
		docs, _, err := parseBulk(list, c.node.NewID)
		if err != nil {
			return nil, err
		}
		writes[t] = docs
	}
	if err := c.node.ReadBarrier(ctx); err != nil {
		return nil, err
	}
	for _, t := range targets {
		ok, err := c.node.CollectionExists(ctx, t.index, t.collection)
		if err != nil {
			return nil, err
		}
		if !ok {
			if exists, _ := c.node.IndexExists(ctx, t.index); !exists {
				return nil, kerror.New("services.storage.unknown_index", t.index)
			}
			return nil, kerror.New("services.storage.unknown_collection", t.index, t.collection)
		}
		if len(writes[t]) == 0 {
			continue
		}
		res, err := writeSilently(ctx, c.node, c.clock, r, storage.Write{Op: storage.OpDocBulk, Index: t.index,
			Collection: t.collection, Docs: writes[t]}, true)
		if err != nil {
			return nil, err
		}
		for _, it := range res.Items {
			if it.Err != nil {
				return nil, kerror.New("services.storage.import_failed")
			}
		}
	}
	return acknowledge, nil
}

// refreshIndexCache has nothing to refresh: every node reads its indexes
// from the replicated store itself.
func (c *adminController) refreshIndexCache(ctx context.Context, r *Request) (any, error) {
	return nil, c.node.ReadBarrier(ctx)
}

// shutdown stops this node (only this one) gracefully: it leaves the
// cluster as on SIGTERM, after answering.
func (c *adminController) shutdown(ctx context.Context, r *Request) (any, error) {
	if !c.node.Shutdown() {
		return nil, kerror.New("api.process.action_locked", "shutdown")
	}
	return acknowledge, nil
}

// dump writes a diagnostic archive on this node's disk (see node/dump.go
// for its content and bounds) and answers with its path.
func (c *adminController) dump(ctx context.Context, r *Request) (any, error) {
	suffix, err := r.OptString("suffix")
	if err != nil {
		return nil, err
	}
	path, err := c.node.Dump(ctx, suffix)
	if err != nil {
		return nil, err
	}
	return map[string]any{"acknowledge": true, "path": path}, nil
}
