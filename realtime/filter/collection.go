package filter

import (
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
)

// collection holds the filters of one (index, collection) pair.
//
// Filters are OR-lists of conjunctions ("subfilters"); conjunctions are
// shared between filters and are made of literals over shared atoms. At
// match time only atoms are evaluated, each through the index of its field
// (hash tables, interval treap, geo grid), and a conjunction matches when
// all its positive atoms were found true and none of its negated atoms was,
// which is Koncorde's subfilter counting with negation folded in.
//
// Finding the true atoms runs without the Engine's lock: it only reads the
// field trie, the field indexes and the atomics below, which writers
// update so that a concurrent reader always sees a consistent (old or new)
// version of each. The rest is only read under the read lock, which a
// Test takes only once an atom held.
type collection struct {
	key  collKey
	h    hasher
	dead atomic.Bool // removed from the Engine: Engine.last must not serve it

	filters []*filterEntry // the Engine indexes them by id
	atoms   map[string]*atomEntry
	subs    map[string]*subEntry

	root      *trieNode
	paths     ctable[string, trieNode] // every trie node by full path
	fieldList set[*fieldIndex]         // every indexed field
	// few holds fieldList when it is short enough for the document to
	// be probed field by field, nil otherwise.
	few atomic.Pointer[[]fieldRef]
	// idField is the field "_id", looked up once per Test when the
	// document is walked.
	idField atomic.Pointer[fieldIndex]
	// shape holds the top-level keys of a document walked (see
	// walkRoot).
	shape atomic.Pointer[[]string]
	// scan counts the atoms and conjunctions that every Test must look
	// at under the lock: match, select, conjunctions without positive
	// literals.
	scan atomic.Int32

	matchAtoms  set[*atomEntry] // match atoms: scanned
	selectAtoms set[*atomEntry] // select atoms: scanned
	negOnly     set[*subEntry]  // conjunctions without positive literals

	atomSlots, subSlots, filterSlots slots

	pool sync.Pool
}

type filterEntry struct {
	id     string
	coll   *collection
	key    collKey
	pos    int // in coll.filters
	slot   int32
	subs   []*subEntry
	direct *atomEntry // set when the filter is a single positive condition
}

type atomEntry struct {
	a     *atom
	slot  int32
	refs  int
	field *fieldIndex
	pos   set[subRef] // conjunctions where the atom is a positive literal
	// direct holds the ids of filters made of this atom alone: they are
	// emitted straight from the hit, without conjunction bookkeeping,
	// which is most filters in practice.
	direct set[string]
}

// subRef copies what counting needs so that the hot loop reads one
// contiguous slice instead of chasing every conjunction.
type subRef struct {
	sub  *subEntry
	slot int32
	need int32
}

type subEntry struct {
	key      string
	slot     int32
	pos, neg []*atomEntry
	filters  set[*filterEntry]
}

// slots hands out small dense integers reused after release, so per-match
// scratch arrays stay as small as the live population.
type slots struct {
	next int32
	free []int32
}

func (s *slots) get() int32 {
	if n := len(s.free); n > 0 {
		v := s.free[n-1]
		s.free = s.free[:n-1]
		return v
	}
	s.next++
	return s.next - 1
}

func (s *slots) put(v int32) { s.free = append(s.free, v) }

// set is an unordered slice with O(1) removal once it is large.
type set[T comparable] struct {
	items []T
	pos   map[T]int
}

const setIndexThreshold = 16

func (s *set[T]) add(x T) {
	s.items = append(s.items, x)
	if s.pos != nil {
		s.pos[x] = len(s.items) - 1
	} else if len(s.items) > setIndexThreshold {
		s.pos = make(map[T]int, len(s.items))
		for i, e := range s.items {
			s.pos[e] = i
		}
	}
}

func (s *set[T]) remove(x T) {
	i := -1
	if s.pos != nil {
		if j, ok := s.pos[x]; ok {
			i = j
		}
	} else {
		for j, e := range s.items {
			if e == x {
				i = j
				break
			}
		}
	}
	if i < 0 {
		return
	}
	last := len(s.items) - 1
	if i != last {
		s.items[i] = s.items[last]
		if s.pos != nil {
			s.pos[s.items[i]] = i
		}
	}
	var zero T
	s.items[last] = zero
	s.items = s.items[:last]
	if s.pos != nil {
		delete(s.pos, x)
	}
}

// trieNode maps dotted field paths onto nested document objects so that a
// document is walked once, without building flattened keys.
type trieNode struct {
	parent   *trieNode
	key      string
	path     string // from the root
	children ctable[string, trieNode]
	field    atomic.Pointer[fieldIndex]
}

func (n *trieNode) child(h *hasher, seg string) *trieNode {
	if !n.children.mayHold(h.quick(seg)) {
		return nil
	}
	return n.children.get(h.str(seg), seg)
}

// path returns the trie node of a full field path, nil if none.
func (c *collection) path(p string) *trieNode {
	if !c.paths.mayHold(c.h.quick(p)) {
		return nil
	}
	return c.paths.get(c.h.str(p), p)
}

func (n *trieNode) hasChildren() bool { return n.children.t.Load() != nil }

// fewFieldsMax bounds the field list published for direct probes, which
// is copied whenever a field comes or goes.
const fewFieldsMax = 32

func newCollection(key collKey, h hasher) *collection {
	c := &collection{
		key:   key,
		h:     h,
		atoms: map[string]*atomEntry{},
		subs:  map[string]*subEntry{},
		root:  &trieNode{},
	}
	c.few.Store(&[]fieldRef{})
	return c
}

// publish refreshes scan after a store or remove. Writer only.
func (c *collection) publish() {
	c.scan.Store(int32(len(c.matchAtoms.items) + len(c.selectAtoms.items) + len(c.negOnly.items)))
}

func (c *collection) publishFields() {
	if len(c.fieldList.items) > fewFieldsMax {
		c.few.Store(nil)
		return
	}
	few := make([]fieldRef, len(c.fieldList.items))
	for i, f := range c.fieldList.items {
		few[i] = fieldRef{f.path, f.isID, f.dotted, f}
	}
	c.few.Store(&few)
}

// fieldRef copies what a direct probe needs before it reaches the field.
type fieldRef struct {
	path         string
	isID, dotted bool
	f            *fieldIndex
}

// direct returns the fields to probe one by one in source, or false when
// walking source along the field trie touches fewer keys.
func (c *collection) direct(source map[string]any) ([]fieldRef, bool) {
	if p := c.few.Load(); p != nil && len(*p) <= len(source)+2 {
		return *p, true
	}
	return nil, false
}

// store indexes a filter the Engine does not hold yet.
func (c *collection) store(n *Normalized) *filterEntry {
	defer c.publish()
	fe := &filterEntry{id: n.ID, coll: c, key: c.key, pos: len(c.filters), slot: c.filterSlots.get()}
	c.filters = append(c.filters, fe)
	terms := n.f.terms
	if n.f.everything {
		terms = [][]lit{nil}
	}
	if len(terms) == 1 && len(terms[0]) == 1 && !terms[0][0].neg {
		ae := c.atom(terms[0][0].at)
		ae.refs++
		ae.direct.add(fe.id)
		fe.direct = ae
		return fe
	}
	for _, t := range terms {
		var kb strings.Builder
		for _, l := range t {
			kb.WriteString(litJSON(l))
			kb.WriteByte('\n')
		}
		key := kb.String()
		s := c.subs[key]
		if s == nil {
			s = &subEntry{key: key, slot: c.subSlots.get()}
			c.subs[key] = s
			for _, l := range t {
				ae := c.atom(l.at)
				ae.refs++
				if l.neg {
					s.neg = append(s.neg, ae)
				} else {
					s.pos = append(s.pos, ae)
				}
			}
			if len(s.pos) == 0 {
				c.negOnly.add(s)
			}
			for _, ae := range s.pos {
				ae.pos.add(subRef{sub: s, slot: s.slot, need: int32(len(s.pos))})
			}
		}
		s.filters.add(fe)
		fe.subs = append(fe.subs, s)
	}
	return fe
}

func (c *collection) remove(fe *filterEntry) {
	defer c.publish()
	last := len(c.filters) - 1
	c.filters[fe.pos] = c.filters[last]
	c.filters[fe.pos].pos = fe.pos
	c.filters[last] = nil
	c.filters = c.filters[:last]
	c.filterSlots.put(fe.slot)
	if ae := fe.direct; ae != nil {
		ae.direct.remove(fe.id)
		c.release(ae)
		return
	}
	for _, s := range fe.subs {
		s.filters.remove(fe)
		if len(s.filters.items) > 0 {
			continue
		}
		delete(c.subs, s.key)
		c.subSlots.put(s.slot)
		if len(s.pos) == 0 {
			c.negOnly.remove(s)
		}
		for _, ae := range s.pos {
			ae.pos.remove(subRef{sub: s, slot: s.slot, need: int32(len(s.pos))})
			c.release(ae)
		}
		for _, ae := range s.neg {
			c.release(ae)
		}
	}
}

// atom returns the shared entry for a, indexing it on first use.
func (c *collection) atom(a *atom) *atomEntry {
	if ae := c.atoms[a.key]; ae != nil {
		return ae
	}
	ae := &atomEntry{a: a, slot: c.atomSlots.get()}
	c.atoms[a.key] = ae
	switch a.kind {
	case kindMatch:
		c.matchAtoms.add(ae)
	case kindSelect:
		c.selectAtoms.add(ae)
	case kindNothing:
	default:
		ae.field = c.fieldFor(a.field)
		ae.field.add(ae)
	}
	return ae
}

func (c *collection) release(ae *atomEntry) {
	ae.refs--
	if ae.refs > 0 {
		return
	}
	delete(c.atoms, ae.a.key)
	c.atomSlots.put(ae.slot)
	switch ae.a.kind {
	case kindMatch:
		c.matchAtoms.remove(ae)
	case kindSelect:
		c.selectAtoms.remove(ae)
	case kindNothing:
	default:
		f := ae.field
		f.remove(ae)
		if f.empty() {
			c.dropField(f)
		}
	}
}

func (c *collection) fieldFor(path string) *fieldIndex {
	n := c.root
	rest := path
	for {
		seg, tail, more := splitDot(rest)
		child := n.child(&c.h, seg)
		if child == nil {
			full := path[:len(path)-len(tail)]
			if more {
				full = full[:len(full)-1] // the dot
			}
			child = &trieNode{parent: n, key: seg, path: full}
			n.children.put(c.h.str(seg), c.h.quick(seg), seg, child)
			c.paths.put(c.h.str(full), c.h.quick(full), full, child)
		}
		n = child
		if !more {
			break
		}
		rest = tail
	}
	f := n.field.Load()
	if f == nil {
		f = newFieldIndex(path, c.h)
		f.node = n
		n.field.Store(f)
		c.fieldList.add(f)
		c.publishFields()
		if f.isID {
			c.idField.Store(f)
		}
	}
	return f
}

func (c *collection) dropField(f *fieldIndex) {
	c.fieldList.remove(f)
	c.publishFields()
	if f.isID {
		c.idField.Store(nil)
	}
	n := f.node
	n.field.Store(nil)
	for n.parent != nil && n.field.Load() == nil && n.children.len() == 0 {
		n.parent.children.del(c.h.str(n.key), n.key)
		c.paths.del(c.h.str(n.path), n.path)
		n = n.parent
	}
}

// scratch is the per-match state, pooled so that a miss allocates nothing.
// Stamps avoid clearing arrays between matches.
type scratch struct {
	epoch     uint32
	atomStamp []uint32
	subStamp  []uint32
	subCount  []uint32
	filtStamp []uint32
	trueAtoms []*atomEntry
}

// matchState takes a scratch from the pool only once something matched, so
// the common miss does not even touch the pool.
type matchState struct {
	c *collection
	s *scratch
}

// hitOrScan tells whether the match must go on under the read lock.
func (m *matchState) hitOrScan() bool { return m.s != nil || m.c.scan.Load() != 0 }

func (m *matchState) scratch() *scratch {
	if m.s != nil {
		return m.s
	}
	s, _ := m.c.pool.Get().(*scratch)
	if s == nil {
		s = &scratch{}
	}
	s.epoch++
	if s.epoch == 0 {
		clear(s.atomStamp)
		clear(s.subStamp)
		clear(s.filtStamp)
		s.epoch = 1
	}
	s.trueAtoms = s.trueAtoms[:0]
	m.s = s
	return s
}

// hit records a true atom. It runs without the lock, so it only reads the
// atom's immutable slot; the atom may even have been removed meanwhile
// (finish drops it), and the array is sized on demand as atoms created
// after the match started may carry new slots.
func (m *matchState) hit(ae *atomEntry) {
	s := m.scratch()
	if int(ae.slot) >= len(s.atomStamp) {
		n := int(ae.slot) + 1
		s.atomStamp = append(s.atomStamp, make([]uint32, n+n/4-len(s.atomStamp))...)
	}
	if s.atomStamp[ae.slot] != s.epoch {
		s.atomStamp[ae.slot] = s.epoch
		s.trueAtoms = append(s.trueAtoms, ae)
	}
}

// collect evaluates the field-bound atoms without the lock and tells
// whether finish must run: whether an atom held or the collection has
// conditions that every document must be tested against. Only then does
// the Engine take its read lock.
//
// Two atoms never share a slot while both are stored, so the only slot
// collisions a lock-free walk can see are between an atom removed and one
// added during the match; both changes are concurrent with the match,
// which may or may not see them.
func (c *collection) collect(m *matchState, id string, source map[string]any) bool {
	// Either look each registered field up in the document or walk the
	// document along the field trie, whichever touches fewer keys.
	fields, ok := c.direct(source)
	if !ok {
		c.walkRoot(m, source, id != "")
		if id != "" {
			if f := c.idField.Load(); f != nil {
				f.eval(m, id)
			}
		}
		return m.hitOrScan()
	}
	for i := range fields {
		r := &fields[i]
		var v any
		if r.isID && id != "" {
			v = id
		} else if v, ok = source[r.path]; !ok {
			if !r.dotted {
				continue
			}
			if v, ok = lookup(source, r.path); !ok {
				continue
			}
		}
		f := r.f
		if s, ok := v.(string); ok && f.plainStr.Load() {
			// the common equality probe, without a call to eval
			if ae := f.eqString(s); ae != nil {
				m.hit(ae)
			}
			continue
		}
		f.eval(m, v)
	}
	return m.hitOrScan()
}

// finish runs under the read lock: it evaluates the scanned conditions
// and counts the true atoms into conjunctions and filters.
func (c *collection) finish(m *matchState, dst []string, id string, source map[string]any) []string {
	if len(c.matchAtoms.items) > 0 || len(c.selectAtoms.items) > 0 {
		doc := source
		if id != "" {
			if v, ok := source["_id"].(string); !ok || v != id {
				doc = withID(source, id)
			}
		}
		for _, ae := range c.matchAtoms.items {
			if ae.a.eval(doc) {
				m.hit(ae)
			}
		}
		for _, ae := range c.selectAtoms.items {
			if ae.a.eval(doc) {
				m.hit(ae)
			}
		}
	}
	if m.s == nil && len(c.negOnly.items) == 0 {
		return dst
	}
	s := m.scratch()
	if n := int(c.subSlots.next); len(s.subStamp) < n {
		s.subStamp = make([]uint32, n+n/4)
		s.subCount = make([]uint32, n+n/4)
	}
	if n := int(c.filterSlots.next); len(s.filtStamp) < n {
		s.filtStamp = make([]uint32, n+n/4)
	}
	if n := int(c.atomSlots.next); len(s.atomStamp) < n {
		// emit reads the stamps of negated atoms, hit or not
		s.atomStamp = append(s.atomStamp, make([]uint32, n+n/4-len(s.atomStamp))...)
	}
	for _, ae := range s.trueAtoms {
		if ae.refs == 0 {
			continue // removed while the fields were walked
		}
		if len(ae.direct.items) == 1 {
			dst = append(dst, ae.direct.items[0])
		} else {
			dst = append(dst, ae.direct.items...)
		}
		for _, r := range ae.pos.items {
			if r.need == 1 {
				dst = emit(s, dst, r.sub)
				continue
			}
			if s.subStamp[r.slot] != s.epoch {
				s.subStamp[r.slot] = s.epoch
				s.subCount[r.slot] = 0
			}
			s.subCount[r.slot]++
			if int32(s.subCount[r.slot]) == r.need {
				dst = emit(s, dst, r.sub)
			}
		}
	}
	for _, sub := range c.negOnly.items {
		dst = emit(s, dst, sub)
	}
	c.pool.Put(s)
	return dst
}

func emit(s *scratch, dst []string, sub *subEntry) []string {
	for _, ae := range sub.neg {
		if s.atomStamp[ae.slot] == s.epoch {
			return dst
		}
	}
	for _, fe := range sub.filters.items {
		if s.filtStamp[fe.slot] != s.epoch {
			s.filtStamp[fe.slot] = s.epoch
			dst = append(dst, fe.id)
		}
	}
	return dst
}

func withID(source map[string]any, id string) map[string]any {
	doc := make(map[string]any, len(source)+1)
	for k, v := range source {
		doc[k] = v
	}
	doc["_id"] = id
	return doc
}

// walkRoot visits the top level of the document. Its keys are looked up
// by full path, which spares splitting them on dots.
//
// Listing the keys of a Go map costs about 30 ns even for one key (the
// iterator starts at a random slot), more than the rest of a miss. As the
// documents of a collection mostly share their top-level keys, the keys
// of a document walked earlier are kept (shape) and tried first: when the
// document has as many keys and holds each of them, those are exactly its
// keys. Otherwise the document is iterated; visiting a key twice is
// harmless, hits are idempotent.
func (c *collection) walkRoot(m *matchState, obj map[string]any, skipID bool) {
	if p := c.shape.Load(); p != nil && len(*p) == len(obj) {
		keys := *p
		for i := range keys {
			k := keys[i]
			v, ok := obj[k]
			if !ok {
				goto iterate
			}
			if !(skipID && k == "_id") {
				if t := c.path(k); t != nil {
					c.visit(m, t, v)
				}
			}
		}
		return
	}
iterate:
	left := len(obj)
	learn := left <= shapeMaxKeys && (c.shape.Load() == nil || rand.Uint32()%shapeLearnOdds == 0)
	var keys []string
	if learn {
		keys = make([]string, 0, left)
	}
	for k, v := range obj {
		if learn {
			keys = append(keys, k)
		}
		if !(skipID && k == "_id") {
			if t := c.path(k); t != nil {
				c.visit(m, t, v)
			}
		}
		// the iterator's last step only finds that there is nothing left
		if left--; left == 0 {
			break
		}
	}
	if learn {
		c.shape.Store(&keys)
	}
}

// A shape is learnt from the first document walked, then from one in
// shapeLearnOdds of the documents that do not fit it, so that documents
// of changing shapes seldom allocate one; documents with many keys gain
// little from it.
const (
	shapeMaxKeys   = 16
	shapeLearnOdds = 16
)

func (c *collection) visit(m *matchState, t *trieNode, v any) {
	if f := t.field.Load(); f != nil {
		f.eval(m, v)
	}
	if t.hasChildren() {
		if sub, ok := v.(map[string]any); ok {
			c.walk(m, t, sub)
		}
	}
}

// walk visits a nested object along the registered field paths. Keys
// holding dots are followed segment by segment, as Koncorde's flattening
// makes {"a.b":1} and {"a":{"b":1}} look alike.
func (c *collection) walk(m *matchState, n *trieNode, obj map[string]any) {
	for k, v := range obj {
		t := n
		rest := k
		for t != nil {
			seg, tail, more := splitDot(rest)
			t = t.child(&c.h, seg)
			if !more {
				break
			}
			rest = tail
		}
		if t != nil {
			c.visit(m, t, v)
		}
	}
}
