package embedded

import (
	"bytes"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// mappingCache keeps the last decoded mapping of each collection, keyed by
// the stored bytes it was decoded from. Every document write (and the
// validation before its proposal) needs its collection's mapping, and
// decoding it was about a tenth of a replicated write's CPU, while a
// collection's mapping rarely changes. A hit is the decode of exactly the
// bytes stored now, so a write sees the same mapping whether or not it hit:
// what a replica computes does not depend on what its cache held.
//
// The mappings it hands out are shared and must never be modified: a caller
// that changes one works on a clone (mapping.clone).
type mappingCache struct {
	mu sync.Mutex
	m  map[string]cachedMapping
}

type cachedMapping struct {
	raw []byte
	mp  *mapping
}

// maxCachedMappings bounds the cache; past it the cache starts over, which
// only costs decodes.
const maxCachedMappings = 1024

// load returns the collection's mapping as stored in cb, shared (read
// only). Errors are loadMapping's and are not cached.
func (c *mappingCache) load(index, collection string, cb *bolt.Bucket) (*mapping, error) {
	if c == nil {
		return loadMapping(cb)
	}
	raw := cb.Get(keyMapping)
	key := index + "\x00" + collection
	c.mu.Lock()
	hit, ok := c.m[key]
	c.mu.Unlock()
	if ok && bytes.Equal(hit.raw, raw) {
		return hit.mp, nil
	}
	mp, err := loadMapping(cb)
	if err != nil {
		return nil, err
	}
	// raw points into bbolt's memory map, valid only in this transaction.
	entry := cachedMapping{raw: bytes.Clone(raw), mp: mp}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedMappings {
		c.m = map[string]cachedMapping{}
	}
	c.m[key] = entry
	c.mu.Unlock()
	return mp, nil
}

// clone returns a copy of mp that shares nothing with it.
func (mp *mapping) clone() *mapping {
	cp := *mp
	cp.Properties = deepCopy(mp.Properties).(map[string]any)
	if mp.Meta != nil {
		cp.Meta = deepCopy(mp.Meta).(map[string]any)
	}
	if mp.DynamicTemplates != nil {
		cp.DynamicTemplates = deepCopy(mp.DynamicTemplates)
	}
	return &cp
}
