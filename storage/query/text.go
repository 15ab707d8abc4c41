package query

import (
	"fmt"
	"math"
	"strings"
)

// ---- range ----

type bound struct {
	set    bool
	num    float64
	numOK  bool
	date   float64
	dateOK bool
	str    string
}

type rangeNode struct {
	field            path
	gt, gte, lt, lte bound
	boost            float64
}

func newBound(field, op string, v any) (bound, error) {
	b := bound{set: true}
	switch t := v.(type) {
	case string:
		if strings.HasPrefix(t, "now") || strings.Contains(t, "||") {
			return b, unsupported(fmt.Sprintf("date math in range.%s.%s", field, op))
		}
		b.str = t
		b.num, b.numOK = numberFrom(t)
		b.date, b.dateOK = dateMillis(t)
	default:
		f, ok := number(v)
		if !ok {
			return b, badArg("range."+field+"."+op, "a number or a string")
		}
		b.num, b.numOK = f, true
		b.str, _ = stringOf(v)
	}
	return b, nil
}

// cmp compares a document value with the bound: -1, 0, 1, or ok=false when
// they are not comparable (which fails the range, as ES would not index a
// value of the wrong type under that field).
func (b bound) cmp(v any) (int, bool) {
	if f, ok := number(v); ok {
		switch {
		case b.numOK:
			return cmpFloat(f, b.num), true
		case b.dateOK:
			return cmpFloat(f, b.date), true
		}
		return 0, false
	}
	s, ok := v.(string)
	if !ok {
		return 0, false
	}
	if b.numOK && b.str != "" {
		if f, ok := numberFrom(s); ok {
			return cmpFloat(f, b.num), true
		}
	}
	return strings.Compare(s, b.str), true
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (r *rangeNode) eval(d *Doc, s *[]any) (bool, float64) {
	vals := collectDoc(d, r.field, (*s)[:0])
	*s = vals
	for _, v := range vals {
		if r.inRange(v) {
			return true, r.boost
		}
	}
	return false, 0
}

func (r *rangeNode) inRange(v any) bool {
	check := func(b bound, ok func(int) bool) bool {
		if !b.set {
			return true
		}
		c, comparable := b.cmp(v)
		return comparable && ok(c)
	}
	return check(r.gt, func(c int) bool { return c > 0 }) &&
		check(r.gte, func(c int) bool { return c >= 0 }) &&
		check(r.lt, func(c int) bool { return c < 0 }) &&
		check(r.lte, func(c int) bool { return c <= 0 })
}

func compileRange(body any, ft FieldTypes) (node, error) {
	field, v, err := fieldClause("range", body)
	if err != nil {
		return nil, err
	}
	m, err := asObject("range."+field, v)
	if err != nil {
		return nil, err
	}
	if err := params("range", m, "gt", "gte", "lt", "lte", "boost", "from", "to", "include_lower", "include_upper"); err != nil {
		return nil, err
	}
	r := &rangeNode{field: ft.path(field), boost: 1}
	for _, op := range []struct {
		key string
		dst *bound
	}{{"gt", &r.gt}, {"gte", &r.gte}, {"lt", &r.lt}, {"lte", &r.lte}} {
		if bv, ok := m[op.key]; ok && bv != nil {
			if *op.dst, err = newBound(field, op.key, bv); err != nil {
				return nil, err
			}
		}
	}
	// Legacy from/to form: inclusive unless told otherwise.
	incl := func(k string) (bool, error) {
		x, ok := m[k]
		if !ok {
			return true, nil
		}
		b, ok := x.(bool)
		if !ok {
			return false, badArg("range."+field+"."+k, "a boolean")
		}
		return b, nil
	}
	for _, legacy := range []struct {
		key, incl string
		in, ex    *bound
	}{{"from", "include_lower", &r.gte, &r.gt}, {"to", "include_upper", &r.lte, &r.lt}} {
		bv, ok := m[legacy.key]
		if !ok || bv == nil {
			continue
		}
		in, err := incl(legacy.incl)
		if err != nil {
			return nil, err
		}
		dst := legacy.ex
		if in {
			dst = legacy.in
		}
		if *dst, err = newBound(field, legacy.key, bv); err != nil {
			return nil, err
		}
	}
	if b, ok := m["boost"]; ok {
		if r.boost, err = asBoost("range", b); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// ---- match / match_phrase / multi_match ----

type matchNode struct {
	field    path
	tokens   []string // distinct for match, ordered for match_phrase
	phrase   bool
	required int // query tokens that must be found (match only)
	boost    float64
	// exact is set for keyword, numeric, boolean and date fields, which ES
	// does not analyse: the whole query must equal the whole value.
	exact bool
	query any
}

func (m *matchNode) eval(d *Doc, s *[]any) (bool, float64) {
	if m.exact {
		vals := collectDoc(d, m.field, (*s)[:0])
		*s = vals
		for _, v := range vals {
			if equalScalar(v, m.query) {
				return true, m.boost
			}
		}
		return false, 0
	}
	if len(m.tokens) == 0 {
		return false, 0
	}
	vals := collectDoc(d, m.field, (*s)[:0])
	*s = vals
	if m.phrase {
		for _, v := range vals {
			toks := tokensOf(v)
			if containsPhrase(toks, m.tokens) {
				return true, m.boost * lengthNorm(len(toks)) * float64(len(m.tokens))
			}
		}
		return false, 0
	}
	found, docLen := 0, 0
	var seen uint64 // bit i set when query token i was found (first 64)
	var seenMore map[int]bool
	for _, v := range vals {
		toks := tokensOf(v)
		docLen += len(toks)
		for _, dt := range toks {
			for i, qt := range m.tokens {
				if dt != qt {
					continue
				}
				if i < 64 {
					if seen&(1<<uint(i)) == 0 {
						seen |= 1 << uint(i)
						found++
					}
				} else if !seenMore[i] {
					if seenMore == nil {
						seenMore = map[int]bool{}
					}
					seenMore[i] = true
					found++
				}
			}
		}
	}
	if found == 0 || found < m.required {
		return false, 0
	}
	return true, m.boost * float64(found) * lengthNorm(docLen)
}

// lengthNorm favours short fields, like BM25's length normalisation, without
// needing collection statistics (which would make a score depend on other
// documents).
func lengthNorm(n int) float64 { return 2 / (1 + math.Sqrt(float64(n))) }

func containsPhrase(toks, phrase []string) bool {
	for i := 0; i+len(phrase) <= len(toks); i++ {
		ok := true
		for j, p := range phrase {
			if toks[i+j] != p {
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

type matchOpts struct {
	query    any
	operator string
	msm      any
	boost    float64
}

func readMatchOpts(kind, field string, v any, phrase bool) (matchOpts, error) {
	o := matchOpts{operator: "or", boost: 1}
	m, isObj := v.(map[string]any)
	if !isObj {
		o.query = v
	} else {
		allowed := []string{"query", "boost", "operator", "minimum_should_match"}
		if phrase {
			allowed = []string{"query", "boost", "slop"}
		}
		if err := params(kind, m, allowed...); err != nil {
			return o, err
		}
		o.query = m["query"]
		if op, ok := m["operator"]; ok {
			s, _ := op.(string)
			o.operator = strings.ToLower(s)
			if o.operator != "or" && o.operator != "and" {
				return o, badArg(kind+"."+field+".operator", `"or" or "and"`)
			}
		}
		o.msm = m["minimum_should_match"]
		if b, ok := m["boost"]; ok {
			var err error
			if o.boost, err = asBoost(kind, b); err != nil {
				return o, err
			}
		}
		if slop, ok := m["slop"]; ok {
			if f, ok := number(slop); !ok || f != 0 {
				return o, unsupported("match_phrase with a non-zero slop")
			}
		}
	}
	if !isScalar(o.query) {
		return o, badArg(kind+"."+field+".query", "a string, number or boolean")
	}
	return o, nil
}

func newMatchNode(field string, o matchOpts, phrase bool, ft FieldTypes) (*matchNode, error) {
	qs, _ := stringOf(o.query)
	toks := tokenize(qs)
	n := &matchNode{field: ft.path(field), phrase: phrase, boost: o.boost, query: o.query, exact: ft.kind(field) == kindExact}
	if phrase {
		n.tokens = toks
		return n, nil
	}
	seen := map[string]bool{}
	for _, t := range toks {
		if !seen[t] {
			seen[t] = true
			n.tokens = append(n.tokens, t)
		}
	}
	n.required = 1
	if o.operator == "and" {
		n.required = len(n.tokens)
	}
	if o.msm != nil {
		r, err := minimumShouldMatch(o.msm, len(n.tokens))
		if err != nil {
			return nil, err
		}
		if r > n.required {
			n.required = r
		}
	}
	return n, nil
}

func compileMatch(body any, phrase bool, ft FieldTypes) (node, error) {
	kind := "match"
	if phrase {
		kind = "match_phrase"
	}
	field, v, err := fieldClause(kind, body)
	if err != nil {
		return nil, err
	}
	o, err := readMatchOpts(kind, field, v, phrase)
	if err != nil {
		return nil, err
	}
	return newMatchNode(field, o, phrase, ft)
}

type multiMatchNode struct {
	fields []*matchNode
	sum    bool // most_fields; otherwise best_fields (max)
}

func (m *multiMatchNode) eval(d *Doc, s *[]any) (bool, float64) {
	any, score := false, 0.0
	for _, f := range m.fields {
		ok, sc := f.eval(d, s)
		if !ok {
			continue
		}
		any = true
		if m.sum {
			score += sc
		} else if sc > score {
			score = sc
		}
	}
	return any, score
}

func compileMultiMatch(body any, ft FieldTypes) (node, error) {
	m, err := asObject("multi_match", body)
	if err != nil {
		return nil, err
	}
	if err := params("multi_match", m, "query", "fields", "type", "operator", "minimum_should_match", "boost"); err != nil {
		return nil, err
	}
	typ := "best_fields"
	if t, ok := m["type"]; ok {
		typ, _ = t.(string)
	}
	phrase := false
	switch typ {
	case "best_fields", "most_fields":
	case "phrase":
		phrase = true
	default:
		return nil, unsupported(fmt.Sprintf("multi_match of type %q", typ))
	}
	list, ok := m["fields"].([]any)
	if !ok || len(list) == 0 {
		return nil, badArg("multi_match.fields", "a non-empty array of field names")
	}
	opts := map[string]any{"query": m["query"]}
	for _, k := range []string{"operator", "minimum_should_match", "boost"} {
		if v, ok := m[k]; ok {
			opts[k] = v
		}
	}
	if phrase {
		delete(opts, "operator")
		delete(opts, "minimum_should_match")
	}
	mm := &multiMatchNode{sum: typ == "most_fields"}
	for _, e := range list {
		f, ok := e.(string)
		if !ok || f == "" {
			return nil, badArg("multi_match.fields", "an array of field names")
		}
		fieldBoost := 1.0
		if i := strings.LastIndexByte(f, '^'); i >= 0 {
			b, ok := numberFrom(f[i+1:])
			if !ok || b < 0 {
				return nil, badArg("multi_match.fields", "field^boost with a positive boost")
			}
			f, fieldBoost = f[:i], b
		}
		if strings.ContainsAny(f, "*?") {
			return nil, unsupported("wildcard field names in multi_match")
		}
		o, err := readMatchOpts("multi_match", f, opts, phrase)
		if err != nil {
			return nil, err
		}
		o.boost *= fieldBoost
		n, err := newMatchNode(f, o, phrase, ft)
		if err != nil {
			return nil, err
		}
		mm.fields = append(mm.fields, n)
	}
	return mm, nil
}
