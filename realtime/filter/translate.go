package filter

import (
	"encoding/json"
	"fmt"
	"strings"
)

// maxTranslateDepth bounds the nesting of and/or/not a translation follows,
// so that no request can make it recurse without end.
const maxTranslateDepth = 64

// TranslateError is a Koncorde filter that cannot become a search query.
// Restricted is set when the filter is well formed but uses a keyword
// searches do not support (Kuzzle's api.assert.koncorde_restricted_keyword).
type TranslateError struct {
	Restricted bool
	Kind, Name string // with Restricted: "operator" and the keyword
	Message    string
}

func (e *TranslateError) Error() string { return e.Message }

func malformed(format string, args ...any) error {
	return &TranslateError{Message: fmt.Sprintf(format, args...)}
}

// Translate turns a Koncorde filter into the Elasticsearch query that
// selects the same documents, for searches with lang=koncorde, the way
// Kuzzle's query translator does: equals is term, in is terms, missing is
// a negated exists, geo clauses take their Elasticsearch names, and/or/not
// become bool queries, an "exists" path may carry a value ("tags[\"a\"]"),
// and any other clause is passed through as is (it then has to be valid in
// the query language). The bool operator is refused. An empty filter
// selects every document.
func Translate(filter map[string]any) (map[string]any, error) {
	if len(filter) == 0 {
		return map[string]any{}, nil
	}
	return translate(filter, 0)
}

func translate(f map[string]any, depth int) (map[string]any, error) {
	if depth > maxTranslateDepth {
		return nil, malformed("filter nests deeper than %d levels", maxTranslateDepth)
	}
	if len(f) != 1 {
		return nil, malformed("a filter has exactly one keyword, got %d", len(f))
	}
	var name string
	var v any
	for name, v = range f {
	}
	switch name {
	case "and", "or":
		list, ok := v.([]any)
		if !ok {
			return nil, malformed("%q takes a list of filters", name)
		}
		out := make([]any, 0, len(list))
		for _, item := range list {
			sub, ok := item.(map[string]any)
			if !ok {
				return nil, malformed("%q takes a list of filters", name)
			}
			t, err := translate(sub, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, t)
		}
		key := "filter"
		if name == "or" {
			key = "should"
		}
		return map[string]any{"bool": map[string]any{key: out}}, nil
	case "not":
		sub, ok := v.(map[string]any)
		if !ok {
			return nil, malformed(`"not" takes a filter`)
		}
		t, err := translate(sub, depth+1)
		if err != nil {
			return nil, err
		}
		return map[string]any{"bool": map[string]any{"must_not": []any{t}}}, nil
	case "bool":
		return nil, &TranslateError{Restricted: true, Kind: "operator", Name: "bool",
			Message: `The operator "bool" of Koncorde DSL is not supported for search queries.`}
	case "exists", "missing":
		field, err := existsField(v)
		if err != nil {
			return nil, err
		}
		if name == "missing" {
			return map[string]any{"bool": map[string]any{"must_not": []any{map[string]any{"exists": map[string]any{"field": field}}}}}, nil
		}
		return existsQuery(field)
	}
	renamed := map[string]string{
		"equals": "term", "in": "terms", "ids": "ids", "range": "range",
		"geoBoundingBox": "geo_bounding_box", "geoDistance": "geo_distance",
		"geoDistanceRange": "geo_distance_range", "geoPolygon": "geo_polygon",
	}
	es, known := renamed[name]
	if !known {
		return map[string]any{name: v}, nil // passed through, as Kuzzle does
	}
	body, ok := v.(map[string]any)
	if !ok {
		return nil, malformed("%q takes an object", name)
	}
	return map[string]any{es: body}, nil
}

// existsField reads the field of exists/missing: "path" or {"field": "path"}.
func existsField(v any) (string, error) {
	if m, ok := v.(map[string]any); ok {
		v = m["field"]
	}
	s, ok := v.(string)
	if !ok || s == "" {
		return "", malformed("exists takes a field path")
	}
	return s, nil
}

// existsQuery is exists on a path, which may end with a JSON value in
// brackets ("tags[\"red\"]"): then the field must also hold that value.
func existsQuery(path string) (map[string]any, error) {
	open := strings.IndexByte(path, '[')
	if open < 0 {
		return map[string]any{"exists": map[string]any{"field": path}}, nil
	}
	end := strings.LastIndexByte(path, ']')
	if end < open {
		return nil, malformed("invalid exists path %q: missing closing bracket", path)
	}
	field := path[:open]
	var value any
	if err := json.Unmarshal([]byte(path[open+1:end]), &value); err != nil {
		return nil, malformed("invalid exists path %q: the value in brackets is not JSON", path)
	}
	if value == nil {
		return map[string]any{"exists": map[string]any{"field": field}}, nil
	}
	return map[string]any{"bool": map[string]any{"filter": []any{
		map[string]any{"exists": map[string]any{"field": field}},
		map[string]any{"range": map[string]any{field: map[string]any{"gte": value, "lte": value}}},
	}}}, nil
}
