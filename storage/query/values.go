package query

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// path is a dotted field name split once at compile time so evaluation does
// not re-split it for every document.
type path struct {
	raw   string
	parts []string
	// start[i] is the offset of parts[i] in raw: any run of segments
	// parts[i:j] is the substring raw[start[i]:start[j]-1], with no
	// allocation.
	start []int
	// base is the path without a trailing ".keyword" (nil when there is
	// none), for collect's fallback.
	base *path
	// unindexed: the mapping does not index this field (Unindexed), so
	// query clauses see no value in any document.
	unindexed bool
}

func newPath(s string) path {
	p := splitPath(s)
	if n := len(p.parts); n > 1 && p.parts[n-1] == "keyword" {
		b := splitPath(s[:len(s)-len(".keyword")])
		p.base = &b
	}
	return p
}

func splitPath(s string) path {
	p := path{raw: s, parts: strings.Split(s, ".")}
	p.start = make([]int, len(p.parts)+1)
	off := 0
	for i, part := range p.parts {
		p.start[i] = off
		off += len(part) + 1
	}
	p.start[len(p.parts)] = off
	return p
}

// span is the dotted key made of parts[i:j].
func (p *path) span(i, j int) string { return p.raw[p.start[i] : p.start[j]-1] }

// Doc is one document as the evaluator sees it.
type Doc struct {
	ID     string
	Source map[string]any
}

// collectDoc is collect with the metadata field _id, which ES lets term,
// terms, match, prefix, wildcard, range and sort address like a field.
func collectDoc(d *Doc, p path, out []any) []any {
	if p.raw == "_id" {
		return append(out, d.ID)
	}
	if p.unindexed {
		return out
	}
	return collect(d.Source, p, out)
}

// collect appends every leaf value reachable through p, flattening arrays at
// any depth the way Elasticsearch indexes them: a clause on an array field
// matches when any element matches. JSON nulls are skipped (ES treats them as
// missing). A trailing ".keyword" that does not exist in the document is
// resolved to the field itself, because with dynamic mappings users address
// the keyword sub-field that way.
func collect(src map[string]any, p path, out []any) []any {
	out, _ = collectCounting(src, &p, out)
	return out
}

// collectCounting is collect reporting its work: the bytes of keys it
// hashed or compared. That work is linear in the size of the document
// whatever the path: each object of the document is visited at most once
// per pass, and costs either a few lookups of a short path or one
// comparison per key, never one lookup per dotted prefix of a long path.
func collectCounting(src map[string]any, p *path, out []any) ([]any, int) {
	w := walker{p: p, out: out}
	n := len(out)
	w.walk(src, 0)
	if len(w.out) == n && p.base != nil {
		w.p = p.base
		w.walk(src, 0)
	}
	return w.out, w.work
}

// shortRest is the length up to which the remaining path is looked up
// prefix by prefix: at most shortRest/2 lookups of at most shortRest bytes.
// Past it, the object's keys are compared with the path instead.
const shortRest = 64

type walker struct {
	p    *path
	out  []any
	work int
}

// walk appends the values of v at the segments p.parts[i:].
func (w *walker) walk(v any, i int) {
	n := len(w.p.parts)
	if i == n {
		w.out = flatten(v, w.out)
		return
	}
	switch t := v.(type) {
	case map[string]any:
		// A key may itself contain dots ({"a.b": 1}); ES treats it as the
		// same path as {"a":{"b":1}}. Shorter keys are followed first.
		rest := w.p.raw[w.p.start[i]:]
		if len(rest) <= shortRest {
			for j := i + 1; j <= n; j++ {
				key := w.p.span(i, j)
				w.work += len(key) + 1
				if c, ok := t[key]; ok {
					w.walk(c, j)
				}
			}
			return
		}
		var next [8]int
		found := next[:0]
		for k := range t {
			w.work += min(len(k), len(rest)) + 1
			if strings.HasPrefix(rest, k) && (len(k) == len(rest) || rest[len(k)] == '.') {
				found = append(found, i+1+strings.Count(k, "."))
			}
		}
		// Each match ends on another segment boundary: sorting the ends
		// follows them in the lookup order above.
		slices.Sort(found)
		for _, j := range found {
			w.walk(t[w.p.span(i, j)], j)
		}
	case []any:
		for _, e := range t {
			w.walk(e, i)
		}
	}
}

func flatten(v any, out []any) []any {
	switch t := v.(type) {
	case nil:
		return out
	case []any:
		for _, e := range t {
			out = flatten(e, out)
		}
		return out
	default:
		return append(out, v)
	}
}

// number converts any JSON-ish numeric value to float64.
func number(v any) (float64, bool) {
	switch t := v.(type) {
	case float64:
		return t, true
	case json.Number:
		f, err := t.Float64()
		return f, err == nil
	case float32:
		return float64(t), true
	case int:
		return float64(t), true
	case int64:
		return float64(t), true
	case int32:
		return float64(t), true
	case uint64:
		return float64(t), true
	case uint32:
		return float64(t), true
	}
	return 0, false
}

// numberFrom coerces a query value to a number like ES does for numeric
// fields: numbers as is, numeric strings parsed.
func numberFrom(v any) (float64, bool) {
	if f, ok := number(v); ok {
		return f, true
	}
	if s, ok := v.(string); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f, true
		}
	}
	return 0, false
}

// dateMillis parses the ISO-8601 forms ES accepts by default for date fields,
// so a range over an epoch-millisecond field (like _kuzzle_info.createdAt)
// can be written with date strings.
func dateMillis(s string) (float64, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return float64(t.UnixMilli()), true
		}
	}
	return 0, false
}

// stringOf renders a scalar the way ES indexes it as a keyword.
func stringOf(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case bool:
		return strconv.FormatBool(t), true
	case json.Number:
		if f, err := t.Float64(); err == nil {
			return strconv.FormatFloat(f, 'f', -1, 64), true
		}
		return t.String(), true
	}
	if f, ok := number(v); ok {
		return strconv.FormatFloat(f, 'f', -1, 64), true
	}
	return "", false
}

// equalScalar is term equality with ES coercions: numbers compare
// numerically (numeric strings are coerced), booleans accept "true"/"false",
// everything else compares as the exact keyword string.
func equalScalar(doc, q any) bool {
	if df, ok := number(doc); ok {
		qf, ok := numberFrom(q)
		return ok && df == qf
	}
	if db, ok := doc.(bool); ok {
		switch qv := q.(type) {
		case bool:
			return db == qv
		case string:
			return qv == strconv.FormatBool(db)
		}
		return false
	}
	ds, ok := doc.(string)
	if !ok {
		return false
	}
	qs, ok := stringOf(q)
	return ok && ds == qs
}

// tokenize is the "standard" analyzer in miniature: lowercase, split on
// anything that is neither a letter nor a digit.
func tokenize(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// tokensOf analyses a document value: strings are tokenized, other scalars
// become their keyword form.
func tokensOf(v any) []string {
	if s, ok := v.(string); ok {
		return tokenize(s)
	}
	if s, ok := stringOf(v); ok {
		return []string{strings.ToLower(s)}
	}
	return nil
}

// anyToken reports whether one of the analysed tokens of v satisfies ok.
func anyToken(v any, ok func(string) bool) bool {
	for _, tok := range tokensOf(v) {
		if ok(tok) {
			return true
		}
	}
	return false
}

// equalToken compares an indexed token with an unanalysed term-level query
// value, as ES does for a term query on a text field.
func equalToken(tok string, q any, fold bool) bool {
	qs, ok := stringOf(q)
	if !ok {
		return false
	}
	if fold {
		return strings.EqualFold(tok, qs)
	}
	return tok == qs
}
