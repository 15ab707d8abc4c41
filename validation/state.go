package validation

import (
	"encoding/json"
	"sort"
	"sync"
	"sync/atomic"
)

// Command sets or deletes one collection's specification: the payload of
// an fsm "specs" entry. A nil Spec deletes.
type Command struct {
	Index      string          `json:"i"`
	Collection string          `json:"c"`
	Spec       json.RawMessage `json:"s,omitempty"`
}

// Stored is one collection's specification as it was submitted.
type Stored struct {
	Index      string          `json:"index"`
	Collection string          `json:"collection"`
	Validation json.RawMessage `json:"validation"`
}

type entry struct {
	raw  json.RawMessage
	spec *Spec
}

// specsMap is index → collection → entry. It is never modified once
// published: Apply builds a new one.
type specsMap map[string]map[string]*entry

// State is the replicated set of specifications. Writers (the fsm's
// apply, a restore) serialise on mu and publish a new map; readers (every
// document write) load it without a lock, so a collection without a
// specification costs one atomic load and a map lookup.
type State struct {
	mu sync.Mutex
	m  atomic.Pointer[specsMap]
}

// NewState returns an empty state.
func NewState() *State {
	s := &State{}
	s.m.Store(&specsMap{})
	return s
}

func (s *State) load() specsMap {
	if p := s.m.Load(); p != nil {
		return *p
	}
	return nil
}

// Apply sets or deletes a specification. It never fails: a specification
// is checked before it is proposed, and one that does not compile (which
// only a bug allows) is kept as submitted but enforces nothing.
// It reports whether a specification was there before.
func (s *State) Apply(c *Command) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.load()
	next := make(specsMap, len(old)+1)
	for i, cols := range old {
		next[i] = cols
	}
	cols := make(map[string]*entry, len(old[c.Index])+1)
	for k, e := range old[c.Index] {
		cols[k] = e
	}
	_, existed := cols[c.Collection]
	if c.Spec == nil {
		delete(cols, c.Collection)
	} else {
		spec, _ := ParseJSON(c.Index, c.Collection, c.Spec)
		cols[c.Collection] = &entry{raw: append(json.RawMessage(nil), c.Spec...), spec: spec}
	}
	if len(cols) == 0 {
		delete(next, c.Index)
	} else {
		next[c.Index] = cols
	}
	s.m.Store(&next)
	return existed
}

// Spec returns a collection's compiled specification, or nil.
func (s *State) Spec(index, collection string) *Spec {
	m := s.load()
	if len(m) == 0 {
		return nil
	}
	if e := m[index][collection]; e != nil {
		return e.spec
	}
	return nil
}

// Get returns a collection's specification as submitted.
func (s *State) Get(index, collection string) (json.RawMessage, bool) {
	e := s.load()[index][collection]
	if e == nil {
		return nil, false
	}
	return e.raw, true
}

// All lists the specifications, sorted by index then collection.
func (s *State) All() []Stored {
	var out []Stored
	for i, cols := range s.load() {
		for c, e := range cols {
			out = append(out, Stored{Index: i, Collection: c, Validation: e.raw})
		}
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Index != out[b].Index {
			return out[a].Index < out[b].Index
		}
		return out[a].Collection < out[b].Collection
	})
	return out
}

// Len is the number of specifications.
func (s *State) Len() int {
	n := 0
	for _, cols := range s.load() {
		n += len(cols)
	}
	return n
}

// MarshalJSON encodes the state as {index: {collection: spec}}, with
// sorted keys (encoding/json sorts map keys), so that every replica
// writes the same snapshot bytes.
func (s *State) MarshalJSON() ([]byte, error) {
	out := map[string]map[string]json.RawMessage{}
	for i, cols := range s.load() {
		out[i] = map[string]json.RawMessage{}
		for c, e := range cols {
			out[i][c] = e.raw
		}
	}
	return json.Marshal(out)
}

// UnmarshalJSON decodes what MarshalJSON wrote, compiling each
// specification.
func (s *State) UnmarshalJSON(b []byte) error {
	var in map[string]map[string]json.RawMessage
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	next := specsMap{}
	for i, cols := range in {
		next[i] = map[string]*entry{}
		for c, raw := range cols {
			spec, _ := ParseJSON(i, c, raw)
			next[i][c] = &entry{raw: raw, spec: spec}
		}
	}
	s.m.Store(&next)
	return nil
}

// Replace makes s hold other's specifications (a restore); other nil
// empties it. s stays the object readers hold.
func (s *State) Replace(other *State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if other == nil {
		s.m.Store(&specsMap{})
		return
	}
	next := other.load()
	s.m.Store(&next)
}
