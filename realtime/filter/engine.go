package filter

import (
	"encoding/json"
	"math/bits"
	"sort"
	"sync"
	"sync/atomic"
)

// Options configures an Engine.
type Options struct {
	// MaxConditions caps the number of conditions of a filter, counted as
	// Koncorde does. 0 means the default of 100 (Kuzzle's
	// limits.subscriptionConditionsCount); a negative value disables it.
	MaxConditions int
}

const defaultMaxConditions = 100

// Engine validates, normalizes, stores and matches filters. Filters are
// partitioned by (index, collection). All methods are safe for concurrent
// use. Writers take a lock; Test takes none when the document matches
// nothing (the common case) and a read lock otherwise.
type Engine struct {
	maxConds int
	h        hasher

	mu    sync.RWMutex
	colls ctable[collKey, collection] // read without the lock by Test
	byID  map[string]*filterEntry

	// last caches the most recently tested collection: hashing two
	// strings is a visible part of a miss. Readers may store a collection
	// that was removed meanwhile, hence collection.dead.
	last atomic.Pointer[collection]
}

type collKey struct{ index, collection string }

// Normalized is a validated filter in canonical form, ready to be stored.
type Normalized struct {
	// ID is the room id: a deterministic 64-hex digest of Index,
	// Collection and Canonical (see doc.go).
	ID                string
	Index, Collection string
	// Canonical is the OR-of-ANDs form as stable JSON; it is what gets
	// replicated and what FromCanonical reads back.
	Canonical json.RawMessage

	f *form
}

// New returns an empty engine.
func New(opts Options) *Engine {
	m := opts.MaxConditions
	if m == 0 {
		m = defaultMaxConditions
	}
	return &Engine{maxConds: m, h: newHasher(), byID: map[string]*filterEntry{}}
}

// Validate checks a filter without normalizing it. Like Koncorde's
// validate, it does not apply the condition limit.
func (e *Engine) Validate(filter any) error {
	p := &parser{maxConds: e.maxConds}
	_, err := p.standardize(filter, "")
	return err
}

// Normalize validates filter and computes its canonical form and room id.
func (e *Engine) Normalize(index, collection string, filter any) (*Normalized, error) {
	p := &parser{maxConds: e.maxConds}
	tree, err := p.standardize(filter, "")
	if err != nil {
		return nil, err
	}
	f, err := p.toForm(tree)
	if err != nil {
		return nil, err
	}
	return &Normalized{
		ID:         roomID(index, collection, f.canonical),
		Index:      index,
		Collection: collection,
		Canonical:  json.RawMessage(f.canonical),
		f:          f,
	}, nil
}

// Register normalizes and stores a filter.
func (e *Engine) Register(index, collection string, filter any) (*Normalized, error) {
	n, err := e.Normalize(index, collection, filter)
	if err != nil {
		return nil, err
	}
	e.Store(n)
	return n, nil
}

// Store registers a normalized filter. Storing an id twice is a no-op.
func (e *Engine) Store(n *Normalized) {
	if n == nil {
		return
	}
	if n.f == nil {
		rebuilt, err := FromCanonical(n.Index, n.Collection, n.Canonical)
		if err != nil {
			return
		}
		n = rebuilt
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.byID[n.ID]; ok {
		return
	}
	k := collKey{n.Index, n.Collection}
	h := e.collHash(k)
	c := e.colls.get(h, k)
	if c == nil {
		c = newCollection(k, e.h)
		e.colls.put(h, h, k, c)
	}
	e.byID[n.ID] = c.store(n)
}

func (e *Engine) collHash(k collKey) uint64 {
	return splitmix64(e.h.str(k.index)) ^ e.h.str(k.collection)
}

// Remove unregisters a filter; unknown ids are ignored.
func (e *Engine) Remove(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fe, ok := e.byID[id]
	if !ok {
		return
	}
	delete(e.byID, id)
	c := fe.coll
	c.remove(fe)
	if len(c.filters) == 0 {
		c.dead.Store(true)
		e.colls.del(e.collHash(fe.key), fe.key)
		e.last.CompareAndSwap(c, nil)
	}
}

// Has reports whether a filter id is stored.
func (e *Engine) Has(id string) bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	_, ok := e.byID[id]
	return ok
}

// IDs lists the ids of the filters stored for index/collection, sorted.
func (e *Engine) IDs(index, collection string) []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	k := collKey{index, collection}
	c := e.colls.get(e.collHash(k), k)
	if c == nil {
		return nil
	}
	ids := make([]string, 0, len(c.filters))
	for _, fe := range c.filters {
		ids = append(ids, fe.id)
	}
	sort.Strings(ids)
	return ids
}

// Test returns the ids of the stored filters matching the document, in no
// particular order, or nil. Filters see id as the field "_id" (when id is
// not empty, it replaces any "_id" key of source).
func (e *Engine) Test(index, collection, id string, source map[string]any) []string {
	return e.AppendTest(nil, index, collection, id, source)
}

// AppendTest is Test appending to dst, so callers can reuse a buffer.
func (e *Engine) AppendTest(dst []string, index, coll, id string, source map[string]any) []string {
	c := e.last.Load()
	if c == nil || c.key.index != index || c.key.collection != coll || c.dead.Load() {
		k := collKey{index, coll}
		if c = e.colls.get(e.collHash(k), k); c == nil {
			return dst
		}
		e.last.Store(c)
	}
	m := matchState{c: c}
	var more bool
	if fields, ok := c.direct(source); ok && len(fields) == 1 && !fields[0].isID {
		// Collections whose filters test a single field are common. For
		// them, this is collect's loop body (without the id case) with
		// eqString spelled out: none of these calls inline, and they were
		// a third of a miss.
		r := &fields[0]
		v, ok := source[r.path]
		if !ok && r.dotted {
			v, ok = lookup(source, r.path)
		}
		if s, isStr := v.(string); isStr && r.f.plainStr.Load() {
			f := r.f
			var q uint64
			if n := len(s); n >= 8 {
				q = f.h.quickMix(le64(s)^bits.RotateLeft64(le64(s[n-8:]), 31), n) // quickLong(s)
			} else {
				q = f.h.quick(s)
			}
			if f.eqStr.mayHold(q) {
				if ae := f.eqStr.get(f.h.str(s), s); ae != nil {
					m.hit(ae)
				}
			}
		} else if ok {
			r.f.eval(&m, v)
		}
		more = m.hitOrScan()
	} else {
		more = c.collect(&m, id, source)
	}
	if more {
		e.mu.RLock()
		dst = c.finish(&m, dst, id, source)
		e.mu.RUnlock()
	}
	return dst
}
