package filter

import (
	"strings"
	"sync/atomic"
)

// fieldIndex indexes the atoms bound to one field path.
//
// Matching reads it without the lock while one writer changes it, so
// every index is published through atomics: hash tables are ctables, lists
// are rlists, the interval treap is persistent. Counters are writer only.
type fieldIndex struct {
	path   string
	dotted bool // path may also resolve through nested objects
	isID   bool
	node   *trieNode
	n      int // atoms indexed
	h      hasher

	eqStr  ctable[string, atomEntry]
	eqNum  ctable[float64, atomEntry]
	eqBool [2]atomic.Pointer[atomEntry]
	eqNull atomic.Pointer[atomEntry]

	exists atomic.Pointer[atomEntry]

	// array form of exists
	arrStr  ctable[string, atomEntry]
	arrNum  ctable[float64, atomEntry]
	arrBool [2]atomic.Pointer[atomEntry]
	arrNull atomic.Pointer[atomEntry]
	arrAny  atomic.Bool // some array-form atom, including never-matching ones
	arrN    int

	ranges  treap
	regexps rlist[*atomEntry]
	geo     atomic.Pointer[geoGrid] // nil when no geo atom
	geoN    int

	// plainStr is set when a string value can only hit eqStr (no exists,
	// regexp or geo atom), which lets matching skip eval for it.
	plainStr atomic.Bool
}

func newFieldIndex(path string, h hasher) *fieldIndex {
	return &fieldIndex{path: path, dotted: strings.IndexByte(path, '.') >= 0, isID: path == "_id", h: h}
}

func (f *fieldIndex) empty() bool { return f.n == 0 }

// publishPlain refreshes plainStr after a change. Writer only.
func (f *fieldIndex) publishPlain() {
	f.plainStr.Store(f.exists.Load() == nil && len(f.regexps.load()) == 0 && f.geo.Load() == nil)
}

func boolIdx(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (f *fieldIndex) add(ae *atomEntry) {
	defer f.publishPlain()
	f.n++
	a := ae.a
	switch a.kind {
	case kindEquals:
		switch v := a.val.(type) {
		case string:
			f.eqStr.put(f.h.str(v), f.h.quick(v), v, ae)
		case float64:
			h := f.h.num(v)
			f.eqNum.put(h, h, v, ae)
		case bool:
			f.eqBool[boolIdx(v)].Store(ae)
		case nil:
			f.eqNull.Store(ae)
		}
	case kindExists:
		if !a.array {
			f.exists.Store(ae)
			return
		}
		f.arrN++
		f.arrAny.Store(true)
		switch v := a.val.(type) {
		case string:
			f.arrStr.put(f.h.str(v), f.h.quick(v), v, ae)
		case float64:
			h := f.h.num(v)
			f.arrNum.put(h, h, v, ae)
		case bool:
			f.arrBool[boolIdx(v)].Store(ae)
		case nil:
			f.arrNull.Store(ae)
		}
	case kindRange:
		f.ranges.insert(ae)
	case kindRegexp:
		f.regexps.add(ae)
	case kindGeo:
		g := f.geo.Load()
		if g == nil {
			g = &geoGrid{}
			f.geo.Store(g)
		}
		g.insert(ae)
		f.geoN++
	}
}

func (f *fieldIndex) remove(ae *atomEntry) {
	defer f.publishPlain()
	f.n--
	a := ae.a
	switch a.kind {
	case kindEquals:
		switch v := a.val.(type) {
		case string:
			f.eqStr.del(f.h.str(v), v)
		case float64:
			f.eqNum.del(f.h.num(v), v)
		case bool:
			f.eqBool[boolIdx(v)].Store(nil)
		case nil:
			f.eqNull.Store(nil)
		}
	case kindExists:
		if !a.array {
			f.exists.Store(nil)
			return
		}
		f.arrN--
		f.arrAny.Store(f.arrN > 0)
		switch v := a.val.(type) {
		case string:
			f.arrStr.del(f.h.str(v), v)
		case float64:
			f.arrNum.del(f.h.num(v), v)
		case bool:
			f.arrBool[boolIdx(v)].Store(nil)
		case nil:
			f.arrNull.Store(nil)
		}
	case kindRange:
		f.ranges.delete(ae)
	case kindRegexp:
		f.regexps.removeFunc(func(x *atomEntry) bool { return x == ae })
	case kindGeo:
		f.geo.Load().remove(ae)
		if f.geoN--; f.geoN == 0 {
			f.geo.Store(nil)
		}
	}
}

// eqString returns the equals atom of string s, if any.
func (f *fieldIndex) eqString(s string) *atomEntry {
	if !f.eqStr.mayHold(f.h.quick(s)) {
		return nil
	}
	return f.eqStr.get(f.h.str(s), s)
}

// eval marks the atoms of this field that hold for value v. It runs
// without the lock.
func (f *fieldIndex) eval(m *matchState, v any) {
	if ae := f.exists.Load(); ae != nil {
		m.hit(ae)
	}
	var hit *atomEntry
	switch x := v.(type) {
	case string:
		hit = f.eqString(x)
		for _, ae := range f.regexps.load() {
			if ae.a.re.MatchString(x) {
				m.hit(ae)
			}
		}
	case float64:
		if x == 0 {
			x = 0 // -0
		}
		hit = f.eqNum.get(f.h.num(x), x)
		f.ranges.stab(m, x)
	case bool:
		hit = f.eqBool[boolIdx(x)].Load()
	case nil:
		hit = f.eqNull.Load()
	case []any:
		if f.arrAny.Load() {
			for _, e := range x {
				var ae *atomEntry
				switch y := e.(type) {
				case string:
					if f.arrStr.mayHold(f.h.quick(y)) {
						ae = f.arrStr.get(f.h.str(y), y)
					}
				case float64:
					if y == 0 {
						y = 0
					}
					ae = f.arrNum.get(f.h.num(y), y)
				case bool:
					ae = f.arrBool[boolIdx(y)].Load()
				case nil:
					ae = f.arrNull.Load()
				default:
					if n, ok := asNumber(y); ok {
						ae = f.arrNum.get(f.h.num(n), n)
					}
				}
				if ae != nil {
					m.hit(ae)
				}
			}
		}
	case map[string]any:
	default:
		if n, ok := asNumber(v); ok {
			f.eval(m, n)
			return
		}
	}
	if hit != nil {
		m.hit(hit)
	}
	if g := f.geo.Load(); g != nil && truthy(v) {
		if p, ok := convertGeopoint(v); ok {
			g.query(m, p)
		}
	}
}
