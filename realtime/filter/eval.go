package filter

import "strings"

// lookup reads a dotted path the way Koncorde's flattened documents do:
// through nested objects, never through arrays. An exact key wins over a
// nested path.
func lookup(doc map[string]any, path string) (any, bool) {
	if v, ok := doc[path]; ok {
		return v, true
	}
	for i := 0; i < len(path); i++ {
		if path[i] != '.' {
			continue
		}
		if sub, ok := doc[path[:i]].(map[string]any); ok {
			if v, ok := lookup(sub, path[i+1:]); ok {
				return v, true
			}
		}
	}
	return nil, false
}

// evalValue evaluates a field-bound atom against the field's value.
func (a *atom) evalValue(v any) bool {
	switch a.kind {
	case kindEquals:
		return isScalar(v) && scalarEqual(v, a.val)
	case kindExists:
		if !a.array {
			return true
		}
		arr, ok := v.([]any)
		if !ok || !isScalar(a.val) {
			return false
		}
		for _, e := range arr {
			if isScalar(e) && scalarEqual(e, a.val) {
				return true
			}
		}
		return false
	case kindRange:
		f, ok := asNumber(v)
		return ok && a.inRange(f)
	case kindRegexp:
		s, ok := v.(string)
		return ok && a.re.MatchString(s)
	case kindGeo:
		if !truthy(v) {
			return false
		}
		p, ok := convertGeopoint(v)
		return ok && a.geo.contains(p)
	case kindSelect:
		arr, ok := v.([]any)
		if !ok {
			return false
		}
		i := a.index
		if i < 0 {
			i += len(arr)
		}
		if i < 0 || i >= len(arr) {
			return false
		}
		return a.sub.eval(map[string]any{"value": arr[i]})
	}
	return false
}

// eval evaluates an atom on a whole document (naively, without indexes).
func (a *atom) eval(doc map[string]any) bool {
	switch a.kind {
	case kindNothing:
		return false
	case kindMatch:
		return matchTop(doc, a.val.(map[string]any))
	}
	v, ok := lookup(doc, a.field)
	if !ok {
		return false
	}
	return a.evalValue(v)
}

// eval is the reference semantics of a normalized filter; the indexed
// engine must agree with it.
func (f *form) eval(doc map[string]any) bool {
	if f.everything {
		return true
	}
	for _, t := range f.terms {
		ok := true
		for _, l := range t {
			if l.at.eval(doc) == l.neg {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// matchTop applies a match object to the document; its top-level keys may be
// dotted paths because Koncorde matches against the flattened document.
func matchTop(doc map[string]any, m map[string]any) bool {
	for k, want := range m {
		v, ok := lookup(doc, k)
		if !ok || !matchAny(v, want) {
			return false
		}
	}
	return true
}

// matchAny is a recursive partial match: scalars must be equal, objects
// must match every filter key, arrays must match every filter element
// against a distinct document element.
func matchAny(v, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		o, ok := v.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			ov, ok := o[k]
			if !ok || !matchAny(ov, wv) {
				return false
			}
		}
		return true
	case []any:
		arr, ok := v.([]any)
		if !ok || len(arr) < len(w) {
			return false
		}
		used := make([]bool, len(arr))
		for _, we := range w {
			found := false
			for j, e := range arr {
				if !used[j] && matchAny(e, we) {
					used[j] = true
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
		return true
	}
	return isScalar(v) && scalarEqual(v, want)
}

// splitDot returns the first segment of a dotted key and the rest.
func splitDot(s string) (string, string, bool) {
	i := strings.IndexByte(s, '.')
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}
