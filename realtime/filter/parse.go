package filter

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// kind is the keyword of an atomic condition once standardized. in, ids,
// missing and bool disappear during standardization; geo keywords share
// kindGeo.
type kind uint8

const (
	kindEquals kind = iota + 1
	kindExists
	kindRange
	kindRegexp
	kindGeo
	kindMatch
	kindSelect
	kindNothing
)

// atom is one standardized condition; its key (canonical JSON) identifies
// it, so two atoms with the same key are the same condition.
type atom struct {
	kind  kind
	field string // dotted path; for select, the array field

	val   any  // equals: scalar; exists: array value; match: object
	array bool // exists: field["value"] form

	lo, hi         float64 // range
	hasLo, hasHi   bool
	loIncl, hiIncl bool

	pattern, flags string // regexp (flags reduced to the ones that matter)
	re             *regexp.Regexp

	geo *shape

	index int   // select
	sub   *form // select: normalized query

	key string
}

// expr is the standardized filter tree.
type expr struct {
	op   byte // 'a'nd, 'o'r, 'n'ot, 'l'eaf
	kids []*expr
	at   *atom
}

var allowedKeywords = map[string]bool{
	"and": true, "bool": true, "equals": true, "exists": true,
	"geoBoundingBox": true, "geoDistance": true, "geoDistanceRange": true,
	"geoPolygon": true, "ids": true, "in": true, "match": true,
	"missing": true, "not": true, "nothing": true, "or": true,
	"select": true, "range": true, "regexp": true,
}

// parser carries what nested normalizations (select queries) need.
type parser struct {
	maxConds int
	count    int // leaf conditions, as Koncorde counts them
	// work is what normalizing this filter has spent of normalizeBudget,
	// select sub-queries included: one budget for the whole filter.
	work int
}

// standardize validates f and builds its tree. A nil tree means "everything".
func (p *parser) standardize(f any, path string) (*expr, error) {
	m, isObj := f.(map[string]any)
	if !isObj {
		// Koncorde takes Object.keys() of whatever it is given: strings
		// and arrays have index keys, other values none (= everything).
		n := 0
		switch x := f.(type) {
		case string:
			n = len([]rune(x))
		case []any:
			n = len(x)
		}
		switch {
		case n == 1:
			return nil, perr("unknown keyword", "0", pathAdd(path, "0"))
		case n > 1:
			keys := make([]string, n)
			for i := range keys {
				keys[i] = strconv.Itoa(i)
			}
			return nil, perr("Invalid filter syntax. Filters must have one keyword only", strings.Join(keys, ","), path)
		}
		return nil, nil
	}
	if len(m) == 0 {
		return nil, nil
	}
	if len(m) > 1 {
		keys := sortedKeys(m)
		return nil, perr("Invalid filter syntax. Filters must have one keyword only", strings.Join(keys, ","), path)
	}
	var kw string
	var body any
	for k, v := range m {
		kw, body = k, v
	}
	if !allowedKeywords[kw] {
		return nil, perr("unknown keyword", kw, pathAdd(path, kw))
	}
	path = pathAdd(path, kw)
	switch kw {
	case "and", "or":
		return p.stdArray(kw, body, path)
	case "not":
		return p.stdNot(body, path)
	case "bool":
		return p.stdBool(body, path)
	case "equals":
		return p.stdEquals(body, path)
	case "exists", "missing":
		return p.stdExists(kw, body, path)
	case "ids":
		return p.stdIDs(body, path)
	case "in":
		return p.stdIn(body, path)
	case "range":
		return p.stdRange(body, path)
	case "regexp":
		return p.stdRegexp(body, path)
	case "geoBoundingBox":
		return p.stdGeoBox(body, path)
	case "geoDistance":
		return p.stdGeoDistance(body, path)
	case "geoDistanceRange":
		return p.stdGeoDistanceRange(body, path)
	case "geoPolygon":
		return p.stdGeoPolygon(body, path)
	case "match":
		return p.stdMatch(body, path)
	case "select":
		return p.stdSelect(body, path)
	case "nothing":
		return p.leaf(&atom{kind: kindNothing}), nil
	}
	return nil, perr("unknown keyword", kw, path)
}

func (p *parser) leaf(a *atom) *expr {
	p.count++
	a.key = atomKey(a)
	return &expr{op: 'l', at: a}
}

type objRules struct {
	allowed    []string
	nonEmpty   bool
	required   []string
	properties int
}

func checkObject(v any, keyword, path string, r objRules) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, perr("must be an object", keyword, path)
	}
	if r.nonEmpty && len(m) == 0 {
		return nil, perr("must be a non-empty object", keyword, path)
	}
	if r.properties > 0 && len(m) != r.properties {
		s := "properties"
		if r.properties == 1 {
			s = "property"
		}
		return nil, perr(fmt.Sprintf("expected object to have exactly %d %s, got %d", r.properties, s, len(m)), keyword, path)
	}
	for _, req := range r.required {
		if _, ok := m[req]; !ok {
			return nil, perr(fmt.Sprintf("the property %q is missing", req), keyword, path)
		}
	}
	if r.allowed != nil {
		for _, k := range sortedKeys(m) {
			if !contains(r.allowed, k) {
				return nil, perr(fmt.Sprintf("%q is not an allowed attribute (allowed: %s)", k, strings.Join(r.allowed, ",")), keyword, path)
			}
		}
	}
	return m, nil
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func checkString(v any, keyword, path string) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", perr("must be a string", keyword, path)
	}
	if s == "" {
		return "", perr("cannot be empty", keyword, path)
	}
	return s, nil
}

func checkStringArray(v any, keyword, path string) ([]string, error) {
	arr, ok := v.([]any)
	if !ok {
		return nil, perr("must be an array", keyword, path)
	}
	if len(arr) == 0 {
		return nil, perr("cannot be empty", keyword, path)
	}
	out := make([]string, len(arr))
	for i, e := range arr {
		s, ok := e.(string)
		if !ok {
			return nil, perr(`must hold only values of type "string"`, keyword, path)
		}
		out[i] = s
	}
	return out, nil
}

func onlyKey(m map[string]any) (string, any) {
	for k, v := range m {
		return k, v
	}
	return "", nil
}

func (p *parser) stdArray(op string, body any, path string) (*expr, error) {
	arr, ok := body.([]any)
	if !ok {
		return nil, perr("must be an array", op, path)
	}
	if len(arr) == 0 {
		return nil, perr("cannot be empty", op, path)
	}
	for _, e := range arr {
		if m, ok := e.(map[string]any); !ok || len(m) == 0 {
			return nil, perr("can only contain non-empty objects", op, path)
		}
	}
	e := &expr{op: op[0]}
	for _, sub := range arr {
		k, err := p.standardize(sub, path)
		if err != nil {
			return nil, err
		}
		e.kids = append(e.kids, k)
	}
	if len(e.kids) == 1 {
		return e.kids[0], nil
	}
	return e, nil
}

func (p *parser) stdNot(body any, path string) (*expr, error) {
	m, err := checkObject(body, "not", path, objRules{properties: 1})
	if err != nil {
		return nil, err
	}
	k, err := p.standardize(m, path)
	if err != nil {
		return nil, err
	}
	return &expr{op: 'n', kids: []*expr{k}}, nil
}

// stdBool rewrites bool the way Koncorde does, then standardizes the result
// so that error paths match ("bool.and.not.or", ...).
func (p *parser) stdBool(body any, path string) (*expr, error) {
	m, err := checkObject(body, "bool", path, objRules{
		allowed:  []string{"must", "must_not", "should", "should_not"},
		nonEmpty: true,
	})
	if err != nil {
		return nil, err
	}
	var and []any
	if v, ok := m["must"]; ok && truthy(v) {
		if arr, ok := v.([]any); ok {
			and = append(and, arr...)
		} else {
			and = append(and, v)
		}
	}
	if v, ok := m["must_not"]; ok && truthy(v) {
		and = append(and, map[string]any{"not": map[string]any{"or": v}})
	}
	if v, ok := m["should"]; ok && truthy(v) {
		and = append(and, map[string]any{"or": v})
	}
	if v, ok := m["should_not"]; ok && truthy(v) {
		and = append(and, map[string]any{"not": map[string]any{"and": v}})
	}
	if and == nil {
		and = []any{}
	}
	// Koncorde standardizes the rewritten filter under the "bool" path, so
	// errors read "bool.and.not.or" and so on.
	return p.standardize(map[string]any{"and": and}, path)
}

// truthy is JavaScript truthiness for JSON values.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	}
	if f, ok := asNumber(v); ok {
		return f != 0 && !math.IsNaN(f)
	}
	return true
}

func (p *parser) stdEquals(body any, path string) (*expr, error) {
	m, err := checkObject(body, "equals", path, objRules{properties: 1})
	if err != nil {
		return nil, err
	}
	field, v := onlyKey(m)
	if !isScalar(v) {
		return nil, perr("must either be a string, a number, a boolean, or null", "equals", pathAdd(path, field))
	}
	return p.leaf(&atom{kind: kindEquals, field: field, val: normScalar(v)}), nil
}

func (p *parser) stdIn(body any, path string) (*expr, error) {
	m, err := checkObject(body, "in", path, objRules{properties: 1})
	if err != nil {
		return nil, err
	}
	field, v := onlyKey(m)
	vals, err := checkStringArray(v, "in", pathAdd(path, field))
	if err != nil {
		return nil, err
	}
	return p.orEquals(field, vals), nil
}

func (p *parser) stdIDs(body any, path string) (*expr, error) {
	m, err := checkObject(body, "ids", path, objRules{properties: 1, required: []string{"values"}})
	if err != nil {
		return nil, err
	}
	vals, err := checkStringArray(m["values"], "ids", pathAdd(path, "values"))
	if err != nil {
		return nil, err
	}
	return p.orEquals("_id", vals), nil
}

func (p *parser) orEquals(field string, vals []string) *expr {
	e := &expr{op: 'o'}
	for _, v := range vals {
		e.kids = append(e.kids, p.leaf(&atom{kind: kindEquals, field: field, val: v}))
	}
	if len(e.kids) == 1 {
		return e.kids[0]
	}
	return e
}

func (p *parser) stdExists(kw string, body any, path string) (*expr, error) {
	var field string
	if s, ok := body.(string); ok {
		if s == "" {
			return nil, perr("cannot test empty field name", kw, path)
		}
		field = s
	} else {
		m, err := checkObject(body, kw, path, objRules{properties: 1, required: []string{"field"}})
		if err != nil {
			return nil, err
		}
		path = pathAdd(path, "field")
		if field, err = checkString(m["field"], kw, path); err != nil {
			return nil, err
		}
	}
	a, err := parseFieldSyntax(field, kw, path)
	if err != nil {
		return nil, err
	}
	e := p.leaf(a)
	if kw == "missing" {
		return &expr{op: 'n', kids: []*expr{e}}, nil
	}
	return e, nil
}

// parseFieldSyntax splits `path.to.array["json value"]`; `\[` and `\]`
// escape brackets that belong to the field name.
func parseFieldSyntax(field, kw, path string) (*atom, error) {
	a := &atom{kind: kindExists, field: field}
	if strings.HasSuffix(field, "]") {
		// the first '[' not preceded by a backslash and not at position 0
		for i := 1; i < len(field)-1; i++ {
			if field[i] == '[' && field[i-1] != '\\' {
				raw := field[i+1 : len(field)-1]
				var v any
				dec := json.NewDecoder(strings.NewReader(raw))
				if err := dec.Decode(&v); err != nil || dec.More() || strings.TrimSpace(raw) == "" || trailingGarbage(dec) {
					return nil, perr(fmt.Sprintf("contains an invalid array value (%q)", raw), kw, path)
				}
				a.field, a.array, a.val = field[:i], true, normJSON(v)
				break
			}
		}
	}
	a.field = strings.NewReplacer(`\[`, "[", `\]`, "]").Replace(a.field)
	return a, nil
}

func trailingGarbage(dec *json.Decoder) bool {
	var extra any
	return dec.Decode(&extra) == nil
}

// normJSON folds numbers to float64 all the way down.
func normJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normJSON(e)
		}
		return out
	}
	return normScalar(v)
}

func (p *parser) stdRange(body any, path string) (*expr, error) {
	m, err := checkObject(body, "range", path, objRules{properties: 1})
	if err != nil {
		return nil, err
	}
	field, spec := onlyKey(m)
	fieldPath := path + "." + field
	bounds, err := checkObject(spec, "range", pathAdd(path, field), objRules{
		allowed: []string{"gt", "gte", "lt", "lte"}, nonEmpty: true,
	})
	if err != nil {
		return nil, err
	}
	a := &atom{kind: kindRange, field: field}
	for _, k := range []string{"gt", "gte", "lt", "lte"} {
		v, ok := bounds[k]
		if !ok {
			continue
		}
		f, isNum := asNumber(v)
		if !isNum {
			return nil, perr("must be a number", "range", pathAdd(fieldPath, k))
		}
		if k[0] == 'g' {
			if a.hasLo {
				return nil, perr("only 1 lower boundary allowed", "range", fieldPath)
			}
			a.hasLo, a.lo, a.loIncl = true, f, k == "gte"
		} else {
			if a.hasHi {
				return nil, perr("only 1 upper boundary allowed", "range", fieldPath)
			}
			a.hasHi, a.hi, a.hiIncl = true, f, k == "lte"
		}
	}
	if a.hasLo && a.hasHi && a.hi <= a.lo {
		return nil, perr("lower boundary must be strictly inferior to the upper one", "range", fieldPath)
	}
	return p.leaf(a), nil
}

func (p *parser) stdRegexp(body any, path string) (*expr, error) {
	m, err := checkObject(body, "regexp", path, objRules{properties: 1})
	if err != nil {
		return nil, err
	}
	field, spec := onlyKey(m)
	var value, flags string
	flagsSet := false
	switch x := spec.(type) {
	case string:
		value = x
	case map[string]any:
		fp := pathAdd(path, field)
		if _, err := checkObject(x, "regexp", fp, objRules{
			allowed: []string{"flags", "value"}, nonEmpty: true, required: []string{"value"},
		}); err != nil {
			return nil, err
		}
		// Koncorde passes a non-string value to the RegExp constructor,
		// which stringifies it.
		value = jsString(x["value"])
		if f, ok := x["flags"]; ok && truthy(f) {
			if flags, err = checkString(f, "regexp", pathAdd(fp, "flags")); err != nil {
				return nil, err
			}
			flagsSet = true
		}
	default:
		return nil, perr("must be either a string or a non-empty object", "regexp", pathAdd(path, field))
	}
	re, eff, err := compileRegexp(value, flags)
	if err != nil {
		shown := flags
		if !flagsSet {
			shown = "undefined"
		}
		return nil, perr(fmt.Sprintf("cannot parse regexp expression \"/%s/%s\" (%s)", value, shown, err), "regexp", pathAdd(path, field))
	}
	return p.leaf(&atom{kind: kindRegexp, field: field, pattern: value, flags: eff, re: re}), nil
}

// compileRegexp accepts any JavaScript flags string, as Koncorde's RE2 does.
// Only i, m and s change what matches; the others (g, y, u, d, ...) are
// ignored, since matching is stateless here (unlike Koncorde's g/y) and Go is
// always Unicode-aware.
func compileRegexp(pattern, flags string) (*regexp.Regexp, string, error) {
	var eff []byte
	for _, c := range []byte("ims") {
		if strings.IndexByte(flags, c) >= 0 {
			eff = append(eff, c)
		}
	}
	src := pattern
	if len(eff) > 0 {
		src = "(?" + string(eff) + ")" + pattern
	}
	re, err := regexp.Compile(src)
	if err != nil {
		return nil, "", err
	}
	return re, string(eff), nil
}

func (p *parser) stdGeoBox(body any, path string) (*expr, error) {
	m, err := checkObject(body, "geoBoundingBox", path, objRules{properties: 1})
	if err != nil {
		return nil, err
	}
	field, spec := onlyKey(m)
	fp := pathAdd(path, field)
	box, _ := spec.(map[string]any)
	if box == nil {
		return nil, perr("unrecognized geo-point format", "geoBoundingBox", fp)
	}
	get := func(k string) (any, bool) {
		v, ok := box[k]
		if !ok {
			switch k {
			case "topLeft":
				v, ok = box["top_left"]
			case "bottomRight":
				v, ok = box["bottom_right"]
			}
		}
		return v, ok
	}
	s := &shape{kind: geoBox}
	names := []string{"top", "left", "bottom", "right"}
	all := true
	for _, n := range names {
		v, ok := box[n]
		if !ok {
			all = false
			break
		}
		if _, isStr := v.(string); !isStr {
			if _, isNum := asNumber(v); !isNum {
				all = false
				break
			}
		}
	}
	found := false
	if all {
		vals := make([]float64, 4)
		for i, n := range names {
			f, ok := jsParseFloat(box[n])
			if !ok {
				raw := appendJSON(nil, box)
				return nil, perr("unrecognized geoBoundingBox format: "+string(raw), "geoBoundingBox", fp)
			}
			vals[i] = f
		}
		s.top, s.left, s.bottom, s.right = vals[0], vals[1], vals[2], vals[3]
		found = true
	} else if tl, ok := get("topLeft"); ok && truthy(tl) {
		if br, ok := get("bottomRight"); ok && truthy(br) {
			a, ok1 := convertGeopoint(tl)
			b, ok2 := convertGeopoint(br)
			if ok1 && ok2 {
				s.top, s.left, s.bottom, s.right = a.lat, a.lon, b.lat, b.lon
				found = true
			}
		}
	}
	if !found {
		return nil, perr("unrecognized geo-point format", "geoBoundingBox", fp)
	}
	s.init()
	return p.leaf(&atom{kind: kindGeo, field: field, geo: s}), nil
}

func (p *parser) stdGeoDistance(body any, path string) (*expr, error) {
	m, err := checkObject(body, "geoDistance", path, objRules{properties: 2, required: []string{"distance"}})
	if err != nil {
		return nil, err
	}
	ds, err := checkString(m["distance"], "geoDistance", pathAdd(path, "distance"))
	if err != nil {
		return nil, err
	}
	var field string
	for _, k := range sortedKeys(m) {
		if k != "distance" {
			field = k
			break
		}
	}
	pt, ok := convertGeopoint(m[field])
	if !ok {
		return nil, perr("unrecognized point format", "geoDistance", pathAdd(path, field))
	}
	d, err := convertDistance(ds)
	if err != nil {
		return nil, &ParseError{Message: "unable to parse distance value \"" + ds + "\"", Keyword: "geoDistance"}
	}
	s := &shape{kind: geoCircle, center: pt, to: d}
	s.init()
	return p.leaf(&atom{kind: kindGeo, field: field, geo: s}), nil
}

func (p *parser) stdGeoDistanceRange(body any, path string) (*expr, error) {
	m, err := checkObject(body, "geoDistanceRange", path, objRules{properties: 3, required: []string{"from", "to"}})
	if err != nil {
		return nil, err
	}
	var field string
	for _, k := range sortedKeys(m) {
		if k != "from" && k != "to" {
			field = k
			break
		}
	}
	var radii [2]float64
	for i, k := range []string{"from", "to"} {
		ds, err := checkString(m[k], "geoDistanceRange", pathAdd(path, k))
		if err != nil {
			return nil, err
		}
		if radii[i], err = convertDistance(ds); err != nil {
			return nil, &ParseError{Message: "unable to parse distance value \"" + ds + "\"", Keyword: "geoDistanceRange"}
		}
	}
	if radii[0] >= radii[1] {
		return nil, perr("inner radius must be smaller than outer radius", "geoDistanceRange", path)
	}
	pt, ok := convertGeopoint(m[field])
	if !ok {
		return nil, perr("unrecognized point format", "geoDistanceRange", pathAdd(path, field))
	}
	s := &shape{kind: geoAnnulus, center: pt, from: radii[0], to: radii[1]}
	s.init()
	return p.leaf(&atom{kind: kindGeo, field: field, geo: s}), nil
}

func (p *parser) stdGeoPolygon(body any, path string) (*expr, error) {
	m, err := checkObject(body, "geoPolygon", path, objRules{properties: 1})
	if err != nil {
		return nil, err
	}
	field, spec := onlyKey(m)
	fp := pathAdd(path, field)
	pm, err := checkObject(spec, "geoPolygon", fp, objRules{properties: 1, required: []string{"points"}})
	if err != nil {
		return nil, err
	}
	pp := pathAdd(fp, "points")
	pts, ok := pm["points"].([]any)
	if !ok {
		return nil, perr("must be an array", "geoPolygon", pp)
	}
	if len(pts) < 3 {
		return nil, perr("at least 3 points are required to build a polygon", "geoPolygon", pp)
	}
	s := &shape{kind: geoPoly}
	for _, raw := range pts {
		pt, ok := convertGeopoint(raw)
		if !ok {
			return nil, perr("unrecognized point format \""+string(appendJSON(nil, raw))+"\"", "geoPolygon", pp)
		}
		s.poly = append(s.poly, pt)
	}
	s.init()
	return p.leaf(&atom{kind: kindGeo, field: field, geo: s}), nil
}

func (p *parser) stdMatch(body any, path string) (*expr, error) {
	m, err := checkObject(body, "match", path, objRules{nonEmpty: true})
	if err != nil {
		return nil, err
	}
	return p.leaf(&atom{kind: kindMatch, val: normJSON(m)}), nil
}

func (p *parser) stdSelect(body any, path string) (*expr, error) {
	m, err := checkObject(body, "select", path, objRules{properties: 3})
	if err != nil {
		return nil, err
	}
	field, err := checkString(m["field"], "select", pathAdd(path, "field"))
	if err != nil {
		return nil, err
	}
	idx, ok := asNumber(m["index"])
	if !ok {
		return nil, perr("must be an integer", "select", pathAdd(path, "index"))
	}
	if idx != math.Floor(idx) {
		return nil, perr("cannot have decimals, must be an integer", "select", pathAdd(path, "index"))
	}
	q, err := checkObject(m["query"], "select", pathAdd(path, "query"), objRules{nonEmpty: true})
	if err != nil {
		return nil, err
	}
	sub := &parser{maxConds: p.maxConds, work: p.work}
	tree, err := sub.standardize(q, pathAdd(path, "query"))
	if err != nil {
		return nil, err
	}
	fm, err := sub.toForm(tree)
	p.work = sub.work
	if err != nil {
		return nil, err
	}
	return p.leaf(&atom{kind: kindSelect, field: field, index: int(idx), sub: fm}), nil
}

// atomKey is the canonical JSON of an atom, without negation. It is part of
// the room id derivation.
func atomKey(a *atom) string {
	b := make([]byte, 0, 64)
	b = append(b, '{')
	switch a.kind {
	case kindEquals:
		b = append(b, `"equals":{`...)
		b = appendJSONString(b, a.field)
		b = append(b, ':')
		b = appendJSON(b, a.val)
		b = append(b, '}')
	case kindExists:
		b = append(b, `"exists":{"path":`...)
		b = appendJSONString(b, a.field)
		if a.array {
			b = append(b, `,"value":`...)
			b = appendJSON(b, a.val)
		}
		b = append(b, '}')
	case kindRange:
		b = append(b, `"range":{`...)
		b = appendJSONString(b, a.field)
		b = append(b, ":{"...)
		sep := ""
		if a.hasLo {
			op := "gt"
			if a.loIncl {
				op = "gte"
			}
			b = append(b, `"`+op+`":`...)
			b = appendNumber(b, a.lo)
			sep = ","
		}
		if a.hasHi {
			op := "lt"
			if a.hiIncl {
				op = "lte"
			}
			b = append(b, sep+`"`+op+`":`...)
			b = appendNumber(b, a.hi)
		}
		b = append(b, "}}"...)
	case kindRegexp:
		b = append(b, `"regexp":{`...)
		b = appendJSONString(b, a.field)
		b = append(b, `:{"flags":`...)
		b = appendJSONString(b, a.flags)
		b = append(b, `,"value":`...)
		b = appendJSONString(b, a.pattern)
		b = append(b, "}}"...)
	case kindGeo:
		s := a.geo
		num := func(name string, f float64, last bool) {
			b = append(b, `"`+name+`":`...)
			b = appendNumber(b, f)
			if !last {
				b = append(b, ',')
			}
		}
		switch s.kind {
		case geoBox:
			b = append(b, `"geoBoundingBox":{`...)
			b = appendJSONString(b, a.field)
			b = append(b, ":{"...)
			num("bottom", s.bottom, false)
			num("left", s.left, false)
			num("right", s.right, false)
			num("top", s.top, true)
		case geoCircle:
			b = append(b, `"geoDistance":{`...)
			b = appendJSONString(b, a.field)
			b = append(b, ":{"...)
			num("distance", s.to, false)
			num("lat", s.center.lat, false)
			num("lon", s.center.lon, true)
		case geoAnnulus:
			b = append(b, `"geoDistanceRange":{`...)
			b = appendJSONString(b, a.field)
			b = append(b, ":{"...)
			num("from", s.from, false)
			num("lat", s.center.lat, false)
			num("lon", s.center.lon, false)
			num("to", s.to, true)
		case geoPoly:
			b = append(b, `"geoPolygon":{`...)
			b = appendJSONString(b, a.field)
			b = append(b, ":{\"points\":["...)
			for i, pt := range s.poly {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, '[')
				b = appendNumber(b, pt.lat)
				b = append(b, ',')
				b = appendNumber(b, pt.lon)
				b = append(b, ']')
			}
			b = append(b, ']')
		}
		b = append(b, "}}"...)
	case kindMatch:
		b = append(b, `"match":`...)
		b = appendJSON(b, a.val)
	case kindSelect:
		b = append(b, `"select":{"field":`...)
		b = appendJSONString(b, a.field)
		b = append(b, `,"index":`...)
		b = strconv.AppendInt(b, int64(a.index), 10)
		b = append(b, `,"query":`...)
		b = append(b, a.sub.canonical...)
		b = append(b, '}')
	case kindNothing:
		b = append(b, `"nothing":true`...)
	}
	b = append(b, '}')
	return string(b)
}
