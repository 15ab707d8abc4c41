package filter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// FromCanonical rebuilds a Normalized from its replicated canonical form
// (as produced by Normalize). The id is recomputed from the re-rendered
// canonical JSON, so it equals the id Normalize gave on any node.
func FromCanonical(index, collection string, canonical json.RawMessage) (*Normalized, error) {
	f, err := parseCanonical(canonical)
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

func parseCanonical(raw []byte) (*form, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("filter: invalid canonical form: %w", err)
	}
	return formFromJSON(normCanonJSON(v))
}

// normCanonJSON turns json.Number into float64 (decoding through Number
// keeps integers above 2^53 exact until formatNumber decides).
func normCanonJSON(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = normCanonJSON(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normCanonJSON(e)
		}
	}
	return v
}

var errCanon = errors.New("filter: invalid canonical form")

func formFromJSON(v any) (*form, error) {
	ors, ok := v.([]any)
	if !ok || len(ors) == 0 {
		return nil, errCanon
	}
	var terms [][]lit
	for _, o := range ors {
		ands, ok := o.([]any)
		if !ok {
			return nil, errCanon
		}
		var t []lit
		for _, c := range ands {
			m, ok := c.(map[string]any)
			if !ok || len(m) != 2 {
				return nil, errCanon
			}
			neg, ok := m["not"].(bool)
			if !ok {
				return nil, errCanon
			}
			for kw, body := range m {
				if kw == "not" {
					continue
				}
				if kw == "everything" && len(ors) == 1 && len(ands) == 1 && !neg {
					return finishForm(nil, true), nil
				}
				if kw == "nothing" && len(ors) == 1 && len(ands) == 1 && !neg {
					return finishForm(nil, false), nil
				}
				a, err := atomFromJSON(kw, body)
				if err != nil {
					return nil, err
				}
				a.key = atomKey(a)
				t = append(t, lit{at: a, neg: neg})
			}
		}
		terms = append(terms, t)
	}
	return finishForm(terms, false), nil
}

func oneField(body any) (string, any, error) {
	m, ok := body.(map[string]any)
	if !ok || len(m) != 1 {
		return "", nil, errCanon
	}
	k, v := onlyKey(m)
	return k, v, nil
}

func num(m map[string]any, k string) (float64, error) {
	f, ok := m[k].(float64)
	if !ok {
		return 0, errCanon
	}
	return f, nil
}

func atomFromJSON(kw string, body any) (*atom, error) {
	switch kw {
	case "equals":
		field, v, err := oneField(body)
		if err != nil || !isScalar(v) {
			return nil, errCanon
		}
		return &atom{kind: kindEquals, field: field, val: normScalar(v)}, nil
	case "exists":
		m, ok := body.(map[string]any)
		if !ok {
			return nil, errCanon
		}
		path, ok := m["path"].(string)
		if !ok {
			return nil, errCanon
		}
		a := &atom{kind: kindExists, field: path}
		if v, ok := m["value"]; ok {
			a.array, a.val = true, normJSON(v)
		}
		return a, nil
	case "range":
		field, spec, err := oneField(body)
		if err != nil {
			return nil, err
		}
		m, ok := spec.(map[string]any)
		if !ok {
			return nil, errCanon
		}
		a := &atom{kind: kindRange, field: field}
		for k, v := range m {
			f, ok := v.(float64)
			if !ok {
				return nil, errCanon
			}
			switch k {
			case "gt", "gte":
				a.hasLo, a.lo, a.loIncl = true, f, k == "gte"
			case "lt", "lte":
				a.hasHi, a.hi, a.hiIncl = true, f, k == "lte"
			default:
				return nil, errCanon
			}
		}
		return a, nil
	case "regexp":
		field, spec, err := oneField(body)
		if err != nil {
			return nil, err
		}
		m, ok := spec.(map[string]any)
		if !ok {
			return nil, errCanon
		}
		value, _ := m["value"].(string)
		flags, _ := m["flags"].(string)
		re, eff, err := compileRegexp(value, flags)
		if err != nil {
			return nil, fmt.Errorf("filter: invalid canonical form: %w", err)
		}
		return &atom{kind: kindRegexp, field: field, pattern: value, flags: eff, re: re}, nil
	case "geoBoundingBox", "geoDistance", "geoDistanceRange", "geoPolygon":
		field, spec, err := oneField(body)
		if err != nil {
			return nil, err
		}
		m, ok := spec.(map[string]any)
		if !ok {
			return nil, errCanon
		}
		s := &shape{}
		var errs [6]error
		switch kw {
		case "geoBoundingBox":
			s.kind = geoBox
			s.top, errs[0] = num(m, "top")
			s.left, errs[1] = num(m, "left")
			s.bottom, errs[2] = num(m, "bottom")
			s.right, errs[3] = num(m, "right")
		case "geoDistance":
			s.kind = geoCircle
			s.center.lat, errs[0] = num(m, "lat")
			s.center.lon, errs[1] = num(m, "lon")
			s.to, errs[2] = num(m, "distance")
		case "geoDistanceRange":
			s.kind = geoAnnulus
			s.center.lat, errs[0] = num(m, "lat")
			s.center.lon, errs[1] = num(m, "lon")
			s.from, errs[2] = num(m, "from")
			s.to, errs[3] = num(m, "to")
		case "geoPolygon":
			s.kind = geoPoly
			pts, ok := m["points"].([]any)
			if !ok || len(pts) < 3 {
				return nil, errCanon
			}
			for _, raw := range pts {
				pair, ok := raw.([]any)
				if !ok || len(pair) != 2 {
					return nil, errCanon
				}
				la, ok1 := pair[0].(float64)
				lo, ok2 := pair[1].(float64)
				if !ok1 || !ok2 {
					return nil, errCanon
				}
				s.poly = append(s.poly, point{la, lo})
			}
		}
		for _, e := range errs {
			if e != nil {
				return nil, e
			}
		}
		s.init()
		return &atom{kind: kindGeo, field: field, geo: s}, nil
	case "match":
		m, ok := body.(map[string]any)
		if !ok {
			return nil, errCanon
		}
		return &atom{kind: kindMatch, val: normJSON(m)}, nil
	case "select":
		m, ok := body.(map[string]any)
		if !ok {
			return nil, errCanon
		}
		field, ok1 := m["field"].(string)
		idx, ok2 := m["index"].(float64)
		if !ok1 || !ok2 || idx != math.Trunc(idx) {
			return nil, errCanon
		}
		sub, err := formFromJSON(m["query"])
		if err != nil {
			return nil, err
		}
		return &atom{kind: kindSelect, field: field, index: int(idx), sub: sub}, nil
	case "nothing":
		return &atom{kind: kindNothing}, nil
	}
	return nil, errCanon
}
