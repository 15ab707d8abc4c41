package query

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/korumdb/korum/kerror"
)

// Query is a compiled query clause, immutable and safe for concurrent use.
type Query struct {
	root node
}

// node evaluates one clause. scratch is a reusable buffer for leaf values so
// that scanning a collection does not allocate per clause per document.
type node interface {
	eval(d *Doc, scratch *[]any) (bool, float64)
}

// maxDepth bounds clause nesting so a hostile query cannot exhaust the stack.
const maxDepth = 64

// Compile decodes an Elasticsearch query clause (the value of the "query"
// key). An empty or null query matches every document, as in Kuzzle. Fields
// are treated as unmapped: see CompileWith.
func Compile(raw json.RawMessage) (*Query, error) { return CompileWith(raw, nil) }

// FieldTypes returns the mapped ES type of a dotted field path ("text",
// "keyword", "long"...), "" when the field is not mapped, or Unindexed.
type FieldTypes func(field string) string

// Unindexed is the type of a field that the mapping does not declare where
// the documents' unmapped fields are not indexed (dynamic "false" or
// "strict" at the level the path leaves the mapping): as in ES, no query
// finds anything there, though the documents keep the values.
const Unindexed = "\x00unindexed"

// fieldKind is how a field's values are compared.
type fieldKind uint8

const (
	// kindUnmapped: term-level queries compare whole values, match
	// analyses them. Lenient where ES would not find an unmapped field.
	kindUnmapped fieldKind = iota
	// kindText: values are analysed; term-level queries compare tokens.
	kindText
	// kindExact: keyword, numeric, boolean, date...: values are not
	// analysed; match compares the whole query with the whole value.
	kindExact
	// kindNone: not indexed; no clause finds a value (see path).
	kindNone
)

func (ft FieldTypes) kind(field string) fieldKind {
	if field == "_id" {
		// ES never analyses the _id metadata field: a match on it is a
		// term query on the whole id.
		return kindExact
	}
	if ft == nil {
		return kindUnmapped
	}
	switch t := ft(field); t {
	case "":
		return kindUnmapped
	case Unindexed:
		return kindNone
	case "text", "match_only_text", "search_as_you_type", "annotated_text":
		return kindText
	case "object", "nested", "flattened", "geo_point", "geo_shape", "point", "shape":
		return kindUnmapped
	default:
		return kindExact
	}
}

// path is newPath for a query clause: an unindexed field yields no values.
func (ft FieldTypes) path(field string) path {
	p := newPath(field)
	p.unindexed = ft.kind(field) == kindNone
	return p
}

// CompileWith is Compile with the collection's mapping: like ES, a term
// query on a text field compares the query with the field's tokens, and a
// match query on a keyword (or numeric, boolean, date) field compares the
// whole query with the whole value.
func CompileWith(raw json.RawMessage, ft FieldTypes) (*Query, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return &Query{root: matchAll{boost: 1}}, nil
	}
	v, err := decode(raw)
	if err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, kerror.New("services.storage.invalid_argument", "query", "an object")
	}
	if len(obj) == 0 {
		return &Query{root: matchAll{boost: 1}}, nil
	}
	n, err := compileClause(obj, 0, ft)
	if err != nil {
		return nil, err
	}
	return &Query{root: n}, nil
}

// Match reports whether d matches, and its score.
func (q *Query) Match(d *Doc) (bool, float64) {
	var scratch []any
	return q.root.eval(d, &scratch)
}

// Matcher returns a match function with its own scratch buffer, for scanning
// many documents from one goroutine without allocating per document.
func (q *Query) Matcher() func(d *Doc) (bool, float64) {
	scratch := make([]any, 0, 16)
	return func(d *Doc) (bool, float64) { return q.root.eval(d, &scratch) }
}

// decode parses JSON keeping numbers exact (json.Number).
func decode(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, kerror.Wrap(err, "services.storage.invalid_argument", "query", "valid JSON")
	}
	if dec.More() {
		return nil, kerror.New("services.storage.invalid_argument", "query", "a single JSON value")
	}
	return v, nil
}

func unsupported(what string) error {
	return kerror.New("services.storage.unsupported_query", what)
}

func badArg(name, expected string) error {
	return kerror.New("services.storage.invalid_argument", name, expected)
}

// esQueries lists the ES query types this package knows exist but does not
// implement: they get unsupported_query rather than unknown_query_keyword,
// which would wrongly suggest a Koncorde mix-up.
var esQueries = map[string]bool{
	"fuzzy": true, "regexp": true, "query_string": true, "simple_query_string": true,
	"match_bool_prefix": true, "match_phrase_prefix": true, "combined_fields": true,
	"intervals": true, "nested": true, "has_child": true, "has_parent": true, "parent_id": true,
	"geo_bounding_box": true, "geo_distance": true, "geo_polygon": true, "geo_shape": true,
	"shape": true, "function_score": true, "script": true, "script_score": true,
	"more_like_this": true, "percolate": true, "rank_feature": true, "distance_feature": true,
	"pinned": true, "wrapper": true, "dis_max": true, "boosting": true, "terms_set": true,
	"span_term": true, "span_near": true, "span_or": true, "span_not": true, "span_first": true,
	"span_multi": true, "span_containing": true, "span_within": true, "field_masking_span": true,
	"knn": true, "semantic": true, "sparse_vector": true, "text_expansion": true, "type": true,
}

func compileClause(obj map[string]any, depth int, ft FieldTypes) (node, error) {
	if depth > maxDepth {
		return nil, badArg("query", fmt.Sprintf("at most %d nested clauses", maxDepth))
	}
	if len(obj) != 1 {
		keys := sortedKeys(obj)
		if len(keys) == 0 {
			return nil, badArg("query", "a non-empty clause")
		}
		return nil, badArg("query", fmt.Sprintf("a single query type per clause, got %q", strings.Join(keys, ", ")))
	}
	var kind string
	var body any
	for k, v := range obj {
		kind, body = k, v
	}
	switch kind {
	case "match_all":
		b, err := boostOnly(kind, body)
		return matchAll{boost: b}, err
	case "match_none":
		_, err := boostOnly(kind, body)
		return matchNone{}, err
	case "bool":
		return compileBool(body, depth, ft)
	case "constant_score":
		return compileConstantScore(body, depth, ft)
	case "term":
		return compileTerm(body, ft)
	case "terms":
		return compileTerms(body, ft)
	case "range":
		return compileRange(body, ft)
	case "exists":
		return compileExists(body, ft)
	case "ids":
		return compileIDs(body)
	case "prefix":
		return compilePattern("prefix", body, ft)
	case "wildcard":
		return compilePattern("wildcard", body, ft)
	case "match":
		return compileMatch(body, false, ft)
	case "match_phrase":
		return compileMatch(body, true, ft)
	case "multi_match":
		return compileMultiMatch(body, ft)
	}
	if esQueries[kind] {
		return nil, unsupported(fmt.Sprintf("the %q query", kind))
	}
	return nil, kerror.New("services.storage.unknown_query_keyword", kind)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func asObject(name string, v any) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, badArg(name, "an object")
	}
	return m, nil
}

func asBoost(name string, v any) (float64, error) {
	f, ok := number(v)
	if !ok || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, badArg(name+".boost", "a positive number")
	}
	return f, nil
}

// fieldClause unpacks the {"<field>": <value or params>} shape shared by
// term, prefix, wildcard, range and match; a "boost" sibling is tolerated
// where ES tolerates it (terms).
func fieldClause(kind string, body any) (string, any, error) {
	m, err := asObject(kind, body)
	if err != nil {
		return "", nil, err
	}
	if len(m) != 1 {
		return "", nil, badArg(kind, "exactly one field")
	}
	for k, v := range m {
		if k == "" {
			return "", nil, badArg(kind, "a non-empty field name")
		}
		return k, v, nil
	}
	return "", nil, nil
}

func boostOnly(kind string, body any) (float64, error) {
	m, err := asObject(kind, body)
	if err != nil {
		return 0, err
	}
	boost := 1.0
	for _, k := range sortedKeys(m) {
		switch k {
		case "boost":
			if boost, err = asBoost(kind, m[k]); err != nil {
				return 0, err
			}
		case "_name":
		default:
			return 0, unsupported(fmt.Sprintf("the %q parameter of %q", k, kind))
		}
	}
	return boost, nil
}

// params splits a per-field parameter object into its known keys; any other
// key is rejected so that an option we do not implement (fuzziness,
// analyzer...) is never silently ignored.
func params(kind string, m map[string]any, allowed ...string) error {
	for _, k := range sortedKeys(m) {
		ok := k == "_name"
		for _, a := range allowed {
			if k == a {
				ok = true
				break
			}
		}
		if !ok {
			return unsupported(fmt.Sprintf("the %q parameter of %q", k, kind))
		}
	}
	return nil
}

func isScalar(v any) bool {
	switch v.(type) {
	case string, bool, float64, json.Number, int, int64:
		return true
	}
	return false
}

// ---- match_all / match_none / constant_score ----

type matchAll struct{ boost float64 }

func (m matchAll) eval(*Doc, *[]any) (bool, float64) { return true, m.boost }

type matchNone struct{}

func (matchNone) eval(*Doc, *[]any) (bool, float64) { return false, 0 }

type constantScore struct {
	filter node
	boost  float64
}

func (c constantScore) eval(d *Doc, s *[]any) (bool, float64) {
	ok, _ := c.filter.eval(d, s)
	return ok, c.boost
}

func compileConstantScore(body any, depth int, ft FieldTypes) (node, error) {
	m, err := asObject("constant_score", body)
	if err != nil {
		return nil, err
	}
	if err := params("constant_score", m, "filter", "boost"); err != nil {
		return nil, err
	}
	c := constantScore{boost: 1}
	if b, ok := m["boost"]; ok {
		if c.boost, err = asBoost("constant_score", b); err != nil {
			return nil, err
		}
	}
	f, ok := m["filter"].(map[string]any)
	if !ok {
		return nil, badArg("constant_score.filter", "a query object")
	}
	if c.filter, err = compileClause(f, depth+1, ft); err != nil {
		return nil, err
	}
	return c, nil
}

// ---- bool ----

type boolNode struct {
	must, filter, should, mustNot []node
	minShould                     int
	boost                         float64
}

func (b *boolNode) eval(d *Doc, s *[]any) (bool, float64) {
	score := 0.0
	for _, n := range b.filter {
		if ok, _ := n.eval(d, s); !ok {
			return false, 0
		}
	}
	for _, n := range b.mustNot {
		if ok, _ := n.eval(d, s); ok {
			return false, 0
		}
	}
	for _, n := range b.must {
		ok, sc := n.eval(d, s)
		if !ok {
			return false, 0
		}
		score += sc
	}
	matched := 0
	for _, n := range b.should {
		if ok, sc := n.eval(d, s); ok {
			matched++
			score += sc
		}
	}
	if matched < b.minShould {
		return false, 0
	}
	return true, score * b.boost
}

func compileBool(body any, depth int, ft FieldTypes) (node, error) {
	m, err := asObject("bool", body)
	if err != nil {
		return nil, err
	}
	if err := params("bool", m, "must", "filter", "should", "must_not", "minimum_should_match", "boost"); err != nil {
		return nil, err
	}
	b := &boolNode{boost: 1}
	for _, sec := range []struct {
		key string
		dst *[]node
	}{{"must", &b.must}, {"filter", &b.filter}, {"should", &b.should}, {"must_not", &b.mustNot}} {
		v, ok := m[sec.key]
		if !ok {
			continue
		}
		var list []any
		switch t := v.(type) {
		case map[string]any:
			list = []any{t}
		case []any:
			list = t
		default:
			return nil, badArg("bool."+sec.key, "a query object or an array of query objects")
		}
		for _, e := range list {
			o, ok := e.(map[string]any)
			if !ok {
				return nil, badArg("bool."+sec.key, "a query object or an array of query objects")
			}
			n, err := compileClause(o, depth+1, ft)
			if err != nil {
				return nil, err
			}
			*sec.dst = append(*sec.dst, n)
		}
	}
	if v, ok := m["boost"]; ok {
		if b.boost, err = asBoost("bool", v); err != nil {
			return nil, err
		}
	}
	// ES: with no must/filter clause at least one should clause must match.
	if len(b.should) > 0 && len(b.must) == 0 && len(b.filter) == 0 {
		b.minShould = 1
	}
	if v, ok := m["minimum_should_match"]; ok {
		n, err := minimumShouldMatch(v, len(b.should))
		if err != nil {
			return nil, err
		}
		b.minShould = n
	}
	return b, nil
}

// minimumShouldMatch resolves the integer and percentage forms (negative
// values count the clauses that may be missing), as ES does.
func minimumShouldMatch(v any, total int) (int, error) {
	bad := badArg("minimum_should_match", "an integer or a percentage")
	var n int
	switch t := v.(type) {
	case string:
		s := strings.TrimSpace(t)
		if strings.HasSuffix(s, "%") {
			p, err := strconv.Atoi(strings.TrimSuffix(s, "%"))
			if err != nil || p < -100 || p > 100 {
				return 0, bad
			}
			if p < 0 {
				n = total - (total*(-p))/100
			} else {
				n = (total * p) / 100
			}
			break
		}
		i, err := strconv.Atoi(s)
		if err != nil {
			return 0, bad
		}
		n = minShouldInt(i, total)
	default:
		f, ok := number(v)
		if !ok || f != math.Trunc(f) || math.Abs(f) > 1e9 {
			return 0, bad
		}
		n = minShouldInt(int(f), total)
	}
	if n < 0 {
		n = 0
	}
	return n, nil
}

func minShouldInt(i, total int) int {
	if i < 0 {
		return total + i
	}
	return i
}

// ---- term / terms ----

type termNode struct {
	field path
	value any
	fold  bool // case_insensitive
	boost float64
	text  bool // compare with the analysed tokens of a text field
}

func (t *termNode) eval(d *Doc, s *[]any) (bool, float64) {
	vals := collectDoc(d, t.field, (*s)[:0])
	*s = vals
	for _, v := range vals {
		if t.text {
			if anyToken(v, func(tok string) bool { return equalToken(tok, t.value, t.fold) }) {
				return true, t.boost
			}
			continue
		}
		if t.fold {
			ds, ok1 := stringOf(v)
			qs, ok2 := stringOf(t.value)
			if ok1 && ok2 && strings.EqualFold(ds, qs) {
				return true, t.boost
			}
			continue
		}
		if equalScalar(v, t.value) {
			return true, t.boost
		}
	}
	return false, 0
}

func compileTerm(body any, ft FieldTypes) (node, error) {
	field, v, err := fieldClause("term", body)
	if err != nil {
		return nil, err
	}
	t := &termNode{field: ft.path(field), boost: 1, text: ft.kind(field) == kindText}
	if m, ok := v.(map[string]any); ok {
		if err := params("term", m, "value", "boost", "case_insensitive"); err != nil {
			return nil, err
		}
		val, ok := m["value"]
		if !ok || !isScalar(val) {
			return nil, badArg("term."+field+".value", "a string, number or boolean")
		}
		t.value = val
		if b, ok := m["boost"]; ok {
			if t.boost, err = asBoost("term", b); err != nil {
				return nil, err
			}
		}
		if ci, ok := m["case_insensitive"]; ok {
			if t.fold, ok = ci.(bool); !ok {
				return nil, badArg("term."+field+".case_insensitive", "a boolean")
			}
		}
		return t, nil
	}
	if !isScalar(v) {
		return nil, badArg("term."+field, "a string, number or boolean")
	}
	t.value = v
	return t, nil
}

type termsNode struct {
	field  path
	values []any
	boost  float64
	text   bool
}

func (t *termsNode) eval(d *Doc, s *[]any) (bool, float64) {
	vals := collectDoc(d, t.field, (*s)[:0])
	*s = vals
	for _, v := range vals {
		for _, q := range t.values {
			if t.text && anyToken(v, func(tok string) bool { return equalToken(tok, q, false) }) ||
				!t.text && equalScalar(v, q) {
				return true, t.boost
			}
		}
	}
	return false, 0
}

func compileTerms(body any, ft FieldTypes) (node, error) {
	m, err := asObject("terms", body)
	if err != nil {
		return nil, err
	}
	t := &termsNode{boost: 1}
	fields := 0
	for _, k := range sortedKeys(m) {
		switch k {
		case "boost":
			if t.boost, err = asBoost("terms", m[k]); err != nil {
				return nil, err
			}
		case "_name":
		default:
			fields++
			list, ok := m[k].([]any)
			if !ok {
				if _, lookup := m[k].(map[string]any); lookup {
					return nil, unsupported("terms lookup")
				}
				return nil, badArg("terms."+k, "an array of values")
			}
			for _, e := range list {
				if !isScalar(e) {
					return nil, badArg("terms."+k, "an array of strings, numbers or booleans")
				}
			}
			t.field, t.values, t.text = ft.path(k), list, ft.kind(k) == kindText
		}
	}
	if fields != 1 {
		return nil, badArg("terms", "exactly one field")
	}
	return t, nil
}

// ---- exists / ids ----

type existsNode struct{ field path }

func (e *existsNode) eval(d *Doc, s *[]any) (bool, float64) {
	vals := collectDoc(d, e.field, (*s)[:0])
	*s = vals
	for _, v := range vals {
		if m, ok := v.(map[string]any); ok && len(m) == 0 {
			continue
		}
		return true, 1
	}
	return false, 0
}

func compileExists(body any, ft FieldTypes) (node, error) {
	m, err := asObject("exists", body)
	if err != nil {
		return nil, err
	}
	if err := params("exists", m, "field", "boost"); err != nil {
		return nil, err
	}
	f, ok := m["field"].(string)
	if !ok || f == "" {
		return nil, badArg("exists.field", "a field name")
	}
	return &existsNode{field: ft.path(f)}, nil
}

type idsNode struct{ ids map[string]struct{} }

func (n *idsNode) eval(d *Doc, _ *[]any) (bool, float64) {
	_, ok := n.ids[d.ID]
	return ok, 1
}

func compileIDs(body any) (node, error) {
	m, err := asObject("ids", body)
	if err != nil {
		return nil, err
	}
	if err := params("ids", m, "values", "boost"); err != nil {
		return nil, err
	}
	list, ok := m["values"].([]any)
	if !ok {
		return nil, badArg("ids.values", "an array of document ids")
	}
	n := &idsNode{ids: make(map[string]struct{}, len(list))}
	for _, e := range list {
		s, ok := stringOf(e)
		if !ok {
			return nil, badArg("ids.values", "an array of document ids")
		}
		n.ids[s] = struct{}{}
	}
	return n, nil
}

// ---- prefix / wildcard ----

type patternNode struct {
	field   path
	pattern string
	fold    bool
	prefix  bool
	boost   float64
	text    bool
}

func (p *patternNode) matches(str string) bool {
	if p.fold {
		str = strings.ToLower(str)
	}
	if p.prefix {
		return strings.HasPrefix(str, p.pattern)
	}
	return globMatch(p.pattern, str)
}

func (p *patternNode) eval(d *Doc, s *[]any) (bool, float64) {
	vals := collectDoc(d, p.field, (*s)[:0])
	*s = vals
	for _, v := range vals {
		if p.text {
			if anyToken(v, p.matches) {
				return true, p.boost
			}
			continue
		}
		if str, ok := stringOf(v); ok && p.matches(str) {
			return true, p.boost
		}
	}
	return false, 0
}

func compilePattern(kind string, body any, ft FieldTypes) (node, error) {
	field, v, err := fieldClause(kind, body)
	if err != nil {
		return nil, err
	}
	p := &patternNode{field: ft.path(field), prefix: kind == "prefix", boost: 1, text: ft.kind(field) == kindText}
	switch t := v.(type) {
	case string:
		p.pattern = t
	case map[string]any:
		if err := params(kind, t, "value", "wildcard", "boost", "case_insensitive", "rewrite"); err != nil {
			return nil, err
		}
		val, ok := t["value"].(string)
		if !ok && kind == "wildcard" {
			val, ok = t["wildcard"].(string)
		}
		if !ok {
			return nil, badArg(kind+"."+field+".value", "a string")
		}
		p.pattern = val
		if b, ok := t["boost"]; ok {
			if p.boost, err = asBoost(kind, b); err != nil {
				return nil, err
			}
		}
		if ci, ok := t["case_insensitive"]; ok {
			if p.fold, ok = ci.(bool); !ok {
				return nil, badArg(kind+"."+field+".case_insensitive", "a boolean")
			}
		}
	default:
		return nil, badArg(kind+"."+field, "a string or an object with a value")
	}
	if p.fold {
		p.pattern = strings.ToLower(p.pattern)
	}
	return p, nil
}

// globMatch matches ES wildcard patterns (* any run, ? one character, \
// escapes) in O(len(pattern)*len(s)) worst case: single-star backtracking
// never revisits more than one star, so hostile patterns cannot blow up.
func globMatch(pattern, s string) bool {
	pr, sr := []rune(pattern), []rune(s)
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(sr) {
		if pi < len(pr) {
			c := pr[pi]
			switch {
			case c == '*':
				star, mark = pi, si
				pi++
				continue
			case c == '?':
				pi++
				si++
				continue
			case c == '\\' && pi+1 < len(pr):
				if pr[pi+1] == sr[si] {
					pi += 2
					si++
					continue
				}
			case c == sr[si]:
				pi++
				si++
				continue
			}
		}
		if star < 0 {
			return false
		}
		pi = star + 1
		mark++
		si = mark
	}
	for pi < len(pr) && pr[pi] == '*' {
		pi++
	}
	return pi == len(pr)
}
