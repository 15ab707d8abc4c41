package query

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// Sort is a compiled sort clause. Ordering is total: after the requested
// keys, hits are ordered by _id ascending so that every node returns the
// same page for the same request.
type Sort struct {
	keys []sortKey
}

type keyKind uint8

const (
	keyField keyKind = iota
	keyScore
	keyID
)

type sortKey struct {
	kind         keyKind
	field        path
	desc         bool
	missingFirst bool
	useMax       bool
}

// Value kinds, in the order values of different types sort (a field should
// hold one type; this only makes mixed data deterministic).
const (
	KindMissing = 0
	KindBool    = 1
	KindNumber  = 2
	KindString  = 3
)

// Value is one sort key of a hit. It is JSON-serialisable so that a scroll
// cursor can carry the position of the last hit returned.
type Value struct {
	K uint8   `json:"k"`
	N float64 `json:"n,omitempty"`
	S string  `json:"s,omitempty"`
}

// CompileSort decodes an ES sort clause: "field", {"field":"desc"},
// {"field":{"order","missing","mode"}}, or an array of those. An empty sort
// means _score descending, as in ES.
func CompileSort(raw json.RawMessage) (*Sort, error) {
	raw = bytes.TrimSpace(raw)
	s := &Sort{}
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		s.keys = []sortKey{{kind: keyScore, desc: true}}
		return s, nil
	}
	v, err := decode(raw)
	if err != nil {
		return nil, err
	}
	var list []any
	switch t := v.(type) {
	case []any:
		list = t
	default:
		list = []any{t}
	}
	for _, e := range list {
		switch t := e.(type) {
		case string:
			k, err := newSortKey(t, nil)
			if err != nil {
				return nil, err
			}
			s.keys = append(s.keys, k)
		case map[string]any:
			if len(t) != 1 {
				return nil, badArg("sort", "one field per sort object")
			}
			for f, o := range t {
				k, err := newSortKey(f, o)
				if err != nil {
					return nil, err
				}
				s.keys = append(s.keys, k)
			}
		default:
			return nil, badArg("sort", "a field name, an object or an array of those")
		}
	}
	if len(s.keys) == 0 {
		s.keys = []sortKey{{kind: keyScore, desc: true}}
	}
	if len(s.keys) > 32 {
		return nil, badArg("sort", "at most 32 sort keys")
	}
	return s, nil
}

func newSortKey(field string, opts any) (sortKey, error) {
	k := sortKey{}
	switch field {
	case "":
		return k, badArg("sort", "a non-empty field name")
	case "_score":
		k.kind, k.desc = keyScore, true
	case "_id", "_doc":
		k.kind = keyID
	case "_geo_distance", "_script":
		return k, unsupported(fmt.Sprintf("sorting by %q", field))
	default:
		k.field = newPath(field)
	}
	setOrder := func(v any) error {
		s, _ := v.(string)
		switch strings.ToLower(s) {
		case "asc":
			k.desc = false
		case "desc":
			k.desc = true
		default:
			return badArg("sort."+field+".order", `"asc" or "desc"`)
		}
		return nil
	}
	switch t := opts.(type) {
	case nil:
	case string:
		if err := setOrder(t); err != nil {
			return k, err
		}
	case map[string]any:
		if err := params("sort", t, "order", "missing", "mode", "unmapped_type", "numeric_type", "format"); err != nil {
			return k, err
		}
		if o, ok := t["order"]; ok {
			if err := setOrder(o); err != nil {
				return k, err
			}
		}
		if m, ok := t["missing"]; ok {
			switch m {
			case "_last":
			case "_first":
				k.missingFirst = true
			default:
				return k, unsupported("a custom sort missing value")
			}
		}
		if m, ok := t["mode"]; ok {
			switch m {
			case "min":
				k.useMax = false
			case "max":
				k.useMax = true
			default:
				return k, unsupported(fmt.Sprintf("sort mode %v", m))
			}
			return k, nil
		}
	default:
		return k, badArg("sort."+field, `"asc", "desc" or an options object`)
	}
	// ES picks the smallest array element for ascending sorts and the
	// largest for descending ones.
	if opts == nil || !hasMode(opts) {
		k.useMax = k.desc
	}
	return k, nil
}

func hasMode(opts any) bool {
	m, ok := opts.(map[string]any)
	if !ok {
		return false
	}
	_, ok = m["mode"]
	return ok
}

// Values extracts the sort keys of a hit.
func (s *Sort) Values(d *Doc, score float64) []Value {
	out := make([]Value, len(s.keys))
	var scratch []any
	for i, k := range s.keys {
		switch k.kind {
		case keyScore:
			if math.IsNaN(score) || math.IsInf(score, 0) {
				score = math.MaxFloat64
			}
			out[i] = Value{K: KindNumber, N: score}
		case keyID:
			out[i] = Value{K: KindString, S: d.ID}
		default:
			scratch = collectDoc(d, k.field, scratch[:0])
			first := true
			for _, v := range scratch {
				sv, ok := toValue(v)
				if !ok {
					continue
				}
				if first || (k.useMax && compareValue(sv, out[i]) > 0) || (!k.useMax && compareValue(sv, out[i]) < 0) {
					out[i], first = sv, false
				}
			}
		}
	}
	return out
}

func toValue(v any) (Value, bool) {
	switch t := v.(type) {
	case string:
		return Value{K: KindString, S: t}, true
	case bool:
		if t {
			return Value{K: KindBool, N: 1}, true
		}
		return Value{K: KindBool}, true
	}
	if f, ok := number(v); ok {
		return Value{K: KindNumber, N: f}, true
	}
	return Value{}, false
}

func compareValue(a, b Value) int {
	if a.K != b.K {
		if a.K < b.K {
			return -1
		}
		return 1
	}
	if a.K == KindString {
		return strings.Compare(a.S, b.S)
	}
	return cmpFloat(a.N, b.N)
}

// Compare orders two hits by their sort values, then by id. It returns <0
// when a comes first.
func (s *Sort) Compare(a []Value, idA string, b []Value, idB string) int {
	for i, k := range s.keys {
		if i >= len(a) || i >= len(b) {
			break
		}
		va, vb := a[i], b[i]
		if va.K == KindMissing || vb.K == KindMissing {
			if va.K == vb.K {
				continue
			}
			// Missing values go last (or first) whatever the order.
			if (va.K == KindMissing) != k.missingFirst {
				return 1
			}
			return -1
		}
		c := compareValue(va, vb)
		if k.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return strings.Compare(idA, idB)
}

// Len is the number of sort keys.
func (s *Sort) Len() int { return len(s.keys) }

// AfterValues decodes an ES search_after array into sort values: one
// scalar (string, number or boolean) per sort key.
func (s *Sort) AfterValues(raw json.RawMessage) ([]Value, error) {
	var list []any
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, badArg("search_after", "an array")
	}
	if len(list) != len(s.keys) {
		return nil, badArg("search_after", fmt.Sprintf("one value per sort key (%d)", len(s.keys)))
	}
	out := make([]Value, len(list))
	for i, v := range list {
		sv, ok := toValue(v)
		if !ok {
			return nil, badArg("search_after", "strings, numbers or booleans")
		}
		out[i] = sv
	}
	return out, nil
}
