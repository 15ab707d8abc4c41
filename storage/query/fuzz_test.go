package query

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// FuzzCompile checks that no query or sort body, however malformed, panics
// the decoder or the evaluator.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		`{}`, `null`, `{"match_all":{}}`, `{"term":{"a":1}}`, `{"terms":{"a":[1,"x"],"boost":2}}`,
		`{"range":{"a":{"gte":"2020-01-01","lt":5}}}`, `{"bool":{"must":[{"match":{"a":"x y"}}],"should":{"exists":{"field":"b"}},"minimum_should_match":"-50%"}}`,
		`{"wildcard":{"a":"*x?\\*"}}`, `{"prefix":{"a":{"value":"x","case_insensitive":true}}}`, `{"ids":{"values":["a"]}}`,
		`{"multi_match":{"query":"x","fields":["a^2","b"],"type":"phrase"}}`, `{"match_phrase":{"a":"x y"}}`,
		`{"constant_score":{"filter":{"term":{"a":true}}}}`, `[1,2]`, `{"a":`, `"x"`,
	} {
		f.Add(s, `[{"a":"desc"},"_id"]`)
	}
	doc := &Doc{ID: "id", Source: map[string]any{
		"a": []any{"x y", 1.5, true, nil, map[string]any{"b": "z"}}, "b": map[string]any{"c": json.Number("3")}, "a.b": "dotted",
	}}
	types := map[string]string{"a": "text", "b.c": "long", "a.b": "keyword"}
	mapped := FieldTypes(func(f string) string { return types[f] })
	f.Fuzz(func(t *testing.T, q, s string) {
		if cq, err := Compile(json.RawMessage(q)); err == nil {
			cq.Match(doc)
		}
		if cq, err := CompileWith(json.RawMessage(q), mapped); err == nil {
			cq.Match(doc)
		}
		if cs, err := CompileSort(json.RawMessage(s)); err == nil {
			v := cs.Values(doc, 1)
			cs.Compare(v, "a", v, "b")
		}
		_, _ = SplitSearchBody(json.RawMessage(q))
	})
}

// FuzzCollect checks the field path walk against the straightforward one
// (refWalk) on any document and path: same values, same order.
func FuzzCollect(f *testing.F) {
	f.Add(`{"a":{"b":1},"a.b":[2,{"c":3}]}`, "a.b")
	f.Add(`{"a.b.c":1,"a":{"b.c":2,"b":{"c":3}}}`, "a.b.c")
	f.Add(`{"x":{"keyword":1},"y":"v"}`, "y.keyword")
	f.Add(`{"`+strings.Repeat("a.", 40)+`a":1}`, strings.Repeat("a.", 40)+"a")
	f.Fuzz(func(t *testing.T, doc, field string) {
		var src map[string]any
		if json.Unmarshal([]byte(doc), &src) != nil || src == nil {
			return
		}
		got := collect(src, newPath(field), nil)
		want := refCollect(src, field)
		if (len(got) != 0 || len(want) != 0) && !reflect.DeepEqual(got, want) {
			t.Fatalf("%s on %s: got %v, want %v", field, doc, got, want)
		}
	})
}
