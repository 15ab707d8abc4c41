package security

// The mappings of Kuzzle's internal users, profiles and roles collections
// (security:get*Mapping, update*Mapping). Kuzzle keeps them in
// Elasticsearch; here they are part of the replicated state, so that every
// node answers the same one and it survives restarts and snapshots.
//
// Apply does not merge: the proposer validates the update and merges it
// into the mapping at revision Rev (the embedded engine's rules, the ones
// collection:update follows), and the command carries the result. Apply
// stores it only if the mapping is still at Rev, so two concurrent updates
// cannot lose each other's fields: the later one is answered Stale and its
// proposer merges again into the newer mapping.

// MappingCollections are the collections whose mapping can be updated.
var MappingCollections = []string{"users", "profiles", "roles"}

// StoredMapping is an updated mapping, {dynamic, _meta, properties}, and
// its revision (1 for the first update).
type StoredMapping struct {
	Rev     uint64         `json:"rev"`
	Mapping map[string]any `json:"mapping"`
}

// defaultMappings are Kuzzle 2's internal mappings (its default config's
// services.storageEngine.internalIndex.collections): dynamic "false", so
// that only the declared fields are indexed.
func defaultMapping(collection string) map[string]any {
	switch collection {
	case "users":
		return map[string]any{"dynamic": "false", "properties": map[string]any{
			"profileIds": map[string]any{"type": "keyword"}}}
	case "profiles":
		return map[string]any{"dynamic": "false", "properties": map[string]any{
			"tags": map[string]any{"type": "keyword"},
			"policies": map[string]any{"properties": map[string]any{
				"roleId": map[string]any{"type": "keyword"},
				"restrictedTo": map[string]any{"type": "nested", "properties": map[string]any{
					"index": map[string]any{"type": "keyword"}, "collections": map[string]any{"type": "keyword"}}}}}}}
	case "roles":
		return map[string]any{"dynamic": "false", "properties": map[string]any{
			"tags":        map[string]any{"type": "keyword"},
			"controllers": map[string]any{"dynamic": "false", "properties": map[string]any{}}}}
	}
	return nil
}

func isMappingCollection(c string) bool {
	for _, m := range MappingCollections {
		if m == c {
			return true
		}
	}
	return false
}

// Mapping returns a copy of an internal collection's mapping and its
// revision (0: never updated, Kuzzle's default), or nil for another name.
func (s *State) Mapping(collection string) (map[string]any, uint64) {
	if !isMappingCollection(collection) {
		return nil, 0
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if m := s.d.Mappings[collection]; m != nil {
		return cloneMap(m.Mapping), m.Rev
	}
	return defaultMapping(collection), 0
}

// applyMapping is OpUpdateMapping: c.ID's mapping becomes c.Mapping if it
// is still at revision c.Rev.
func (s *State) applyMapping(c *Command) *Result {
	if !isMappingCollection(c.ID) {
		return fail("api.assert.invalid_argument", "collection", "users, profiles or roles")
	}
	if c.Mapping == nil {
		return fail("api.assert.body_required")
	}
	d := &s.d
	var rev uint64
	if m := d.Mappings[c.ID]; m != nil {
		rev = m.Rev
	}
	if c.Rev != rev {
		return &Result{Stale: true}
	}
	if d.Mappings == nil {
		d.Mappings = map[string]*StoredMapping{}
	}
	d.Mappings[c.ID] = &StoredMapping{Rev: rev + 1, Mapping: cloneMap(c.Mapping)}
	return &Result{}
}

func cloneMap(m map[string]any) map[string]any {
	if c := cloneJSON(&m); c != nil {
		return *c
	}
	return nil
}
