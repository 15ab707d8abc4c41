package filter

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestTranslate(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{}`, `{}`},
		{`{"equals":{"city":"Paris"}}`, `{"term":{"city":"Paris"}}`},
		{`{"in":{"city":["a","b"]}}`, `{"terms":{"city":["a","b"]}}`},
		{`{"exists":"name"}`, `{"exists":{"field":"name"}}`},
		{`{"exists":{"field":"name"}}`, `{"exists":{"field":"name"}}`},
		{`{"exists":"tags[\"red\"]"}`, `{"bool":{"filter":[{"exists":{"field":"tags"}},{"range":{"tags":{"gte":"red","lte":"red"}}}]}}`},
		{`{"missing":"name"}`, `{"bool":{"must_not":[{"exists":{"field":"name"}}]}}`},
		{`{"range":{"age":{"gte":3}}}`, `{"range":{"age":{"gte":3}}}`},
		{`{"ids":{"values":["a"]}}`, `{"ids":{"values":["a"]}}`},
		{`{"geoDistance":{"loc":{"lat":1,"lon":2},"distance":"1km"}}`, `{"geo_distance":{"distance":"1km","loc":{"lat":1,"lon":2}}}`},
		{`{"and":[{"equals":{"a":1}},{"not":{"equals":{"b":2}}}]}`,
			`{"bool":{"filter":[{"term":{"a":1}},{"bool":{"must_not":[{"term":{"b":2}}]}}]}}`},
		{`{"or":[{"equals":{"a":1}},{"missing":"c"}]}`,
			`{"bool":{"should":[{"term":{"a":1}},{"bool":{"must_not":[{"exists":{"field":"c"}}]}}]}}`},
		// Unknown clauses pass through, as in Kuzzle.
		{`{"regexp":{"name":"a.*"}}`, `{"regexp":{"name":"a.*"}}`},
	}
	for _, c := range cases {
		var in map[string]any
		if err := json.Unmarshal([]byte(c.in), &in); err != nil {
			t.Fatal(err)
		}
		got, err := Translate(in)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		b, _ := json.Marshal(got)
		if string(b) != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.in, b, c.want)
		}
	}
}

func TestTranslateRefuses(t *testing.T) {
	cases := []struct {
		in         string
		restricted bool
	}{
		{`{"bool":{"must":[]}}`, true},
		{`{"and":[{"bool":{}}]}`, true},
		{`{"and":{"equals":{"a":1}}}`, false},
		{`{"or":[1]}`, false},
		{`{"not":[]}`, false},
		{`{"equals":"x"}`, false},
		{`{"exists":3}`, false},
		{`{"exists":"a[b"}`, false},
		{`{"exists":"a[nope]"}`, false},
		{`{"equals":{"a":1},"in":{"b":[1]}}`, false},
	}
	for _, c := range cases {
		var in map[string]any
		if err := json.Unmarshal([]byte(c.in), &in); err != nil {
			t.Fatal(err)
		}
		_, err := Translate(in)
		var te *TranslateError
		if !errors.As(err, &te) {
			t.Errorf("%s: err %v, want a TranslateError", c.in, err)
			continue
		}
		if te.Restricted != c.restricted {
			t.Errorf("%s: restricted %v, want %v", c.in, te.Restricted, c.restricted)
		}
	}
	// Nesting is bounded.
	f := map[string]any{"equals": map[string]any{"a": 1}}
	for i := 0; i < maxTranslateDepth+5; i++ {
		f = map[string]any{"not": f}
	}
	if _, err := Translate(f); err == nil {
		t.Error("a filter nested past the bound was translated")
	}
}

// FuzzTranslate: any JSON object either translates to JSON that encodes,
// or fails with a TranslateError; never a panic.
func FuzzTranslate(f *testing.F) {
	for _, s := range []string{`{"and":[{"equals":{"a":1}},{"not":{"exists":"b[1]"}}]}`, `{"bool":{}}`, `{"exists":"x["}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var in map[string]any
		if json.Unmarshal([]byte(s), &in) != nil {
			return
		}
		out, err := Translate(in)
		if err != nil {
			var te *TranslateError
			if !errors.As(err, &te) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if _, err := json.Marshal(out); err != nil {
			t.Fatalf("translation does not encode: %v", err)
		}
	})
}
