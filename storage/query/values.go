package query

import (
	"encoding/json"
	"math"
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
	// unindexed: the mapping does not index this field (Unindexed), so
	// query clauses see no value in any document.
	unindexed bool
}

func newPath(s string) path { return path{raw: s, parts: strings.Split(s, ".")} }

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
	n := len(out)
	out = walk(src, p.parts, out)
	if len(out) == n && len(p.parts) > 1 && p.parts[len(p.parts)-1] == "keyword" {
		out = walk(src, p.parts[:len(p.parts)-1], out)
	}
	return out
}

func walk(v any, parts []string, out []any) []any {
	if len(parts) == 0 {
		return flatten(v, out)
	}
	switch t := v.(type) {
	case map[string]any:
		if c, ok := t[parts[0]]; ok {
			out = walk(c, parts[1:], out)
		}
		// A key may itself contain dots ({"a.b": 1}); ES treats it as the
		// same path as {"a":{"b":1}}.
		if len(parts) > 1 {
			key := parts[0]
			for i := 1; i < len(parts); i++ {
				key += "." + parts[i]
				if c, ok := t[key]; ok {
					out = walk(c, parts[i+1:], out)
				}
			}
		}
	case []any:
		for _, e := range t {
			out = walk(e, parts, out)
		}
	}
	return out
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
