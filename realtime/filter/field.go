package filter

import "strings"

// fieldIndex indexes the atoms bound to one field path.
type fieldIndex struct {
	path   string
	dotted bool // path may also resolve through nested objects
	isID   bool
	node   *trieNode
	n      int // atoms indexed

	eqStr  map[string]*atomEntry
	eqNum  map[float64]*atomEntry
	eqBool [2]*atomEntry
	eqNull *atomEntry

	exists *atomEntry

	arrStr  map[string]*atomEntry
	arrNum  map[float64]*atomEntry
	arrBool [2]*atomEntry
	arrNull *atomEntry
	arrN    int // array-form exists atoms, including never-matching ones

	ranges  treap
	regexps set[*atomEntry]
	geo     *geoGrid
}

func newFieldIndex(path string) *fieldIndex {
	return &fieldIndex{path: path, dotted: strings.IndexByte(path, '.') >= 0, isID: path == "_id"}
}

func (f *fieldIndex) empty() bool { return f.n == 0 }

func boolIdx(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (f *fieldIndex) add(ae *atomEntry) {
	f.n++
	a := ae.a
	switch a.kind {
	case kindEquals:
		switch v := a.val.(type) {
		case string:
			if f.eqStr == nil {
				f.eqStr = map[string]*atomEntry{}
			}
			f.eqStr[v] = ae
		case float64:
			if f.eqNum == nil {
				f.eqNum = map[float64]*atomEntry{}
			}
			f.eqNum[v] = ae
		case bool:
			f.eqBool[boolIdx(v)] = ae
		case nil:
			f.eqNull = ae
		}
	case kindExists:
		if !a.array {
			f.exists = ae
			return
		}
		f.arrN++
		switch v := a.val.(type) {
		case string:
			if f.arrStr == nil {
				f.arrStr = map[string]*atomEntry{}
			}
			f.arrStr[v] = ae
		case float64:
			if f.arrNum == nil {
				f.arrNum = map[float64]*atomEntry{}
			}
			f.arrNum[v] = ae
		case bool:
			f.arrBool[boolIdx(v)] = ae
		case nil:
			f.arrNull = ae
		}
	case kindRange:
		f.ranges.insert(ae)
	case kindRegexp:
		f.regexps.add(ae)
	case kindGeo:
		if f.geo == nil {
			f.geo = &geoGrid{}
		}
		f.geo.insert(ae)
	}
}

func (f *fieldIndex) remove(ae *atomEntry) {
	f.n--
	a := ae.a
	switch a.kind {
	case kindEquals:
		switch v := a.val.(type) {
		case string:
			delete(f.eqStr, v)
		case float64:
			delete(f.eqNum, v)
		case bool:
			f.eqBool[boolIdx(v)] = nil
		case nil:
			f.eqNull = nil
		}
	case kindExists:
		if !a.array {
			f.exists = nil
			return
		}
		f.arrN--
		switch v := a.val.(type) {
		case string:
			delete(f.arrStr, v)
		case float64:
			delete(f.arrNum, v)
		case bool:
			f.arrBool[boolIdx(v)] = nil
		case nil:
			f.arrNull = nil
		}
	case kindRange:
		f.ranges.delete(ae)
	case kindRegexp:
		f.regexps.remove(ae)
	case kindGeo:
		f.geo.remove(ae)
	}
}

// eval marks the atoms of this field that hold for value v.
func (f *fieldIndex) eval(m *matchState, v any) {
	if f.exists != nil {
		m.hit(f.exists)
	}
	var hit *atomEntry
	switch x := v.(type) {
	case string:
		hit = f.eqStr[x]
		if f.regexps.items != nil {
			for _, ae := range f.regexps.items {
				if ae.a.re.MatchString(x) {
					m.hit(ae)
				}
			}
		}
	case float64:
		if x == 0 {
			x = 0 // -0
		}
		hit = f.eqNum[x]
		if f.ranges.root != nil {
			f.ranges.stab(m, x)
		}
	case bool:
		hit = f.eqBool[boolIdx(x)]
	case nil:
		hit = f.eqNull
	case []any:
		if f.arrN > 0 {
			for _, e := range x {
				var ae *atomEntry
				switch y := e.(type) {
				case string:
					ae = f.arrStr[y]
				case float64:
					if y == 0 {
						y = 0
					}
					ae = f.arrNum[y]
				case bool:
					ae = f.arrBool[boolIdx(y)]
				case nil:
					ae = f.arrNull
				default:
					if n, ok := asNumber(y); ok {
						ae = f.arrNum[n]
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
	if f.geo != nil && truthy(v) {
		if p, ok := convertGeopoint(v); ok {
			f.geo.query(m, p)
		}
	}
}
