package query

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/korumdb/korum/kerror"
)

var corpus = []Doc{
	{ID: "a", Source: src(`{"name":"John Smith","age":42,"tags":["red","blue"],"address":{"city":"Paris","zip":"75001"},"active":true,"createdAt":1577836800000,"date":"2020-01-01"}`)},
	{ID: "b", Source: src(`{"name":"Jane Smith","age":17,"tags":["green"],"address":{"city":"Lyon"},"active":false,"createdAt":1609459200000,"date":"2021-01-01"}`)},
	{ID: "c", Source: src(`{"name":"Bob","age":"30","people":[{"n":"x","k":1},{"n":"y","k":2}],"note":null,"dotted.key":"v"}`)},
	{ID: "d", Source: src(`{"name":"the quick brown fox","empty":{}}`)},
}

func src(s string) map[string]any {
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		panic(err)
	}
	return m
}

func matching(t *testing.T, q string) string {
	t.Helper()
	return matchingWith(t, q, nil)
}

// matchingWith lists the corpus documents a query matches, given the
// collection's field types.
func matchingWith(t *testing.T, q string, ft FieldTypes) string {
	t.Helper()
	c, err := CompileWith(json.RawMessage(q), ft)
	if err != nil {
		t.Fatalf("Compile(%s): %v", q, err)
	}
	var ids []string
	for i := range corpus {
		if ok, _ := c.Match(&corpus[i]); ok {
			ids = append(ids, corpus[i].ID)
		}
	}
	sort.Strings(ids)
	return strings.Join(ids, ",")
}

func TestQueries(t *testing.T) {
	cases := []struct{ name, q, want string }{
		{"empty", `{}`, "a,b,c,d"},
		{"null", `null`, "a,b,c,d"},
		{"match_all", `{"match_all":{}}`, "a,b,c,d"},
		{"match_none", `{"match_none":{}}`, ""},
		{"term string", `{"term":{"name":"Bob"}}`, "c"},
		{"term keyword suffix", `{"term":{"name.keyword":"Bob"}}`, "c"},
		{"term exact only", `{"term":{"name":"bob"}}`, ""},
		{"term case_insensitive", `{"term":{"name":{"value":"bob","case_insensitive":true}}}`, "c"},
		{"term number", `{"term":{"age":42}}`, "a"},
		{"term numeric string vs number", `{"term":{"age":"42"}}`, "a"},
		{"term number vs string doc", `{"term":{"age":30}}`, "c"},
		{"term array any", `{"term":{"tags":"blue"}}`, "a"},
		{"term nested path", `{"term":{"address.city":"Lyon"}}`, "b"},
		{"term array of objects", `{"term":{"people.n":"y"}}`, "c"},
		{"term dotted key", `{"term":{"dotted.key":"v"}}`, "c"},
		{"term bool", `{"term":{"active":true}}`, "a"},
		{"term bool string", `{"term":{"active":"false"}}`, "b"},
		{"terms", `{"terms":{"tags":["green","red"]}}`, "a,b"},
		{"range num", `{"range":{"age":{"gte":17,"lt":42}}}`, "b,c"},
		{"range gt", `{"range":{"age":{"gt":17}}}`, "a,c"},
		{"range string", `{"range":{"date":{"gte":"2020-06-01"}}}`, "b"},
		{"range date on epoch", `{"range":{"createdAt":{"lt":"2020-06-01"}}}`, "a"},
		{"range legacy", `{"range":{"age":{"from":17,"to":30,"include_upper":false}}}`, "b"},
		{"exists", `{"exists":{"field":"address"}}`, "a,b"},
		{"exists null", `{"exists":{"field":"note"}}`, ""},
		{"exists empty object", `{"exists":{"field":"empty"}}`, ""},
		{"exists leaf", `{"exists":{"field":"address.zip"}}`, "a"},
		{"ids", `{"ids":{"values":["a","d","zz"]}}`, "a,d"},
		{"terms _id", `{"terms":{"_id":["b","c"]}}`, "b,c"},
		{"prefix _id", `{"prefix":{"_id":"d"}}`, "d"},
		{"prefix", `{"prefix":{"name":"Ja"}}`, "b"},
		{"prefix obj", `{"prefix":{"name":{"value":"ja","case_insensitive":true}}}`, "b"},
		{"wildcard", `{"wildcard":{"name":{"value":"J*Smi?h"}}}`, "a,b"},
		{"wildcard short", `{"wildcard":{"address.zip":"75*"}}`, "a"},
		{"match or", `{"match":{"name":"smith bob"}}`, "a,b,c"},
		{"match and", `{"match":{"name":{"query":"JOHN smith","operator":"and"}}}`, "a"},
		{"match number", `{"match":{"age":42}}`, "a"},
		{"match msm", `{"match":{"name":{"query":"quick fox zebra","minimum_should_match":2}}}`, "d"},
		{"match_phrase", `{"match_phrase":{"name":"quick brown"}}`, "d"},
		{"match_phrase order", `{"match_phrase":{"name":"brown quick"}}`, ""},
		{"multi_match", `{"multi_match":{"query":"paris bob","fields":["name","address.city^2"]}}`, "a,c"},
		{"bool must", `{"bool":{"must":[{"match":{"name":"smith"}}],"must_not":{"term":{"active":false}}}}`, "a"},
		{"bool filter", `{"bool":{"filter":[{"range":{"age":{"gte":18}}}]}}`, "a,c"},
		{"bool should", `{"bool":{"should":[{"term":{"name":"Bob"}},{"term":{"age":17}}]}}`, "b,c"},
		{"bool should msm", `{"bool":{"should":[{"term":{"tags":"red"}},{"term":{"tags":"blue"}},{"term":{"tags":"green"}}],"minimum_should_match":2}}`, "a"},
		{"bool should optional with must", `{"bool":{"must":{"exists":{"field":"age"}},"should":{"term":{"name":"Bob"}}}}`, "a,b,c"},
		{"bool msm percent", `{"bool":{"should":[{"term":{"tags":"red"}},{"term":{"tags":"blue"}}],"minimum_should_match":"100%"}}`, "a"},
		{"constant_score", `{"constant_score":{"filter":{"term":{"age":17}},"boost":3}}`, "b"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := matching(t, c.q); got != c.want {
				t.Errorf("%s: got %q, want %q", c.q, got, c.want)
			}
		})
	}
}

func TestQueryErrors(t *testing.T) {
	cases := []struct{ q, id string }{
		{`{"equals":{"a":1}}`, "services.storage.unknown_query_keyword"},
		{`{"geo_distance":{}}`, "services.storage.unsupported_query"},
		{`{"nested":{}}`, "services.storage.unsupported_query"},
		{`{"match":{"a":{"query":"x","fuzziness":2}}}`, "services.storage.unsupported_query"},
		{`{"range":{"d":{"gte":"now-1d"}}}`, "services.storage.unsupported_query"},
		{`{"terms":{"a":{"index":"x","id":"y","path":"z"}}}`, "services.storage.unsupported_query"},
		{`{"term":{"a":1},"match":{"b":2}}`, "services.storage.invalid_argument"},
		{`{"term":{"a":[1]}}`, "services.storage.invalid_argument"},
		{`{"bool":{"must":3}}`, "services.storage.invalid_argument"},
		{`[1]`, "services.storage.invalid_argument"},
		{`{"term":`, "services.storage.invalid_argument"},
		{`{"match_all":{}} {}`, "services.storage.invalid_argument"},
	}
	for _, c := range cases {
		_, err := Compile(json.RawMessage(c.q))
		if !kerror.Is(err, c.id) {
			t.Errorf("%s: got %v, want %s", c.q, err, c.id)
		}
	}
}

func TestScoring(t *testing.T) {
	q, err := Compile(json.RawMessage(`{"match":{"name":"smith john"}}`))
	if err != nil {
		t.Fatal(err)
	}
	_, sa := q.Match(&corpus[0])
	_, sb := q.Match(&corpus[1])
	if !(sa > sb) {
		t.Errorf("two matched tokens should outscore one: %v <= %v", sa, sb)
	}
	fq, _ := Compile(json.RawMessage(`{"bool":{"filter":{"match_all":{}}}}`))
	if _, s := fq.Match(&corpus[0]); s != 0 {
		t.Errorf("filter context must not score, got %v", s)
	}
}

func sortIDs(t *testing.T, raw string) string {
	t.Helper()
	s, err := CompileSort(json.RawMessage(raw))
	if err != nil {
		t.Fatalf("CompileSort(%s): %v", raw, err)
	}
	type hit struct {
		id string
		v  []Value
	}
	hits := make([]hit, len(corpus))
	for i := range corpus {
		hits[i] = hit{corpus[i].ID, s.Values(&corpus[i], 1)}
	}
	sort.Slice(hits, func(i, j int) bool { return s.Compare(hits[i].v, hits[i].id, hits[j].v, hits[j].id) < 0 })
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.id
	}
	return strings.Join(ids, ",")
}

func TestSort(t *testing.T) {
	cases := []struct{ sort, want string }{
		{``, "a,b,c,d"},
		{`"_id"`, "a,b,c,d"},
		{`{"_id":"desc"}`, "d,c,b,a"},
		{`[{"age":"desc"}]`, "c,a,b,d"}, // c's age is a string: the type rank (numbers < strings) is reversed too
		{`{"createdAt":{"order":"desc"}}`, "b,a,c,d"},
		{`{"createdAt":{"order":"desc","missing":"_first"}}`, "c,d,b,a"},
		{`["address.city"]`, "b,a,c,d"},
		{`{"tags":"asc"}`, "a,b,c,d"},  // min of [red, blue] = blue < green
		{`{"tags":"desc"}`, "a,b,c,d"}, // max of [red, blue] = red > green
		{`[{"active":"desc"},"_id"]`, "a,b,c,d"},
	}
	for _, c := range cases {
		if got := sortIDs(t, c.sort); got != c.want {
			t.Errorf("sort %s: got %s, want %s", c.sort, got, c.want)
		}
	}
	for _, bad := range []string{`{"a":"up"}`, `{"_geo_distance":{}}`, `{"a":{"mode":"avg"}}`, `3`, `{"a":{"missing":0}}`} {
		if _, err := CompileSort(json.RawMessage(bad)); err == nil {
			t.Errorf("sort %s: expected an error", bad)
		}
	}
}

func TestGlob(t *testing.T) {
	cases := []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"a*", "abc", true}, {"*c", "abc", true}, {"a?c", "abc", true},
		{"a?c", "ac", false}, {`a\*c`, "a*c", true}, {`a\*c`, "abc", false},
		{"*a*a*a*a*b", strings.Repeat("a", 200), false}, {"é*", "éa", true},
	}
	for _, c := range cases {
		if got := globMatch(c.p, c.s); got != c.want {
			t.Errorf("globMatch(%q,%q)=%v", c.p, c.s, got)
		}
	}
}

func TestSplitSearchBody(t *testing.T) {
	b, err := SplitSearchBody(json.RawMessage(`{"query":{"match_all":{}},"sort":["_id"],"from":2,"size":5}`))
	if err != nil || *b.From != 2 || *b.Size != 5 || string(b.Sort) != `["_id"]` {
		t.Fatalf("got %+v, %v", b, err)
	}
	if _, err := SplitSearchBody(json.RawMessage(`{"aggregations":{}}`)); !kerror.Is(err, "services.storage.unsupported_query") {
		t.Errorf("aggregations: %v", err)
	}
	if _, err := SplitSearchBody(json.RawMessage(`{"foo":{}}`)); !kerror.Is(err, "services.storage.invalid_search_query") {
		t.Errorf("foo: %v", err)
	}
}

func TestMappedFields(t *testing.T) {
	types := map[string]string{"name": "text", "name.keyword": "keyword", "tags": "keyword", "age": "long", "address.city": "text"}
	ft := FieldTypes(func(f string) string { return types[f] })
	cases := []struct{ q, want string }{
		{`{"term":{"name":"Smith"}}`, ""},
		{`{"term":{"name":"smith"}}`, "a,b"},
		{`{"term":{"name":{"value":"SMITH","case_insensitive":true}}}`, "a,b"},
		{`{"terms":{"name":["jane","bob"]}}`, "b,c"},
		{`{"term":{"name.keyword":"John Smith"}}`, "a"},
		{`{"match":{"tags":"red blue"}}`, ""},
		{`{"match":{"tags":"red"}}`, "a"},
		{`{"match":{"age":"42"}}`, "a"},
		{`{"match":{"name":"SMITH"}}`, "a,b"},
		{`{"prefix":{"name":"smi"}}`, "a,b"},
		{`{"wildcard":{"address.city":"par*"}}`, "a"},
		{`{"multi_match":{"query":"red","fields":["tags","name"]}}`, "a"},
	}
	for _, c := range cases {
		q, err := CompileWith(json.RawMessage(c.q), ft)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for i := range corpus {
			if ok, _ := q.Match(&corpus[i]); ok {
				ids = append(ids, corpus[i].ID)
			}
		}
		if got := strings.Join(ids, ","); got != c.want {
			t.Errorf("%s: got %q, want %q", c.q, got, c.want)
		}
	}
}

// _id is never analysed in ES: a match on it compares the whole id, like a
// term query, whatever the mapping (none here). "search-my-document-id"
// shares the token "id" with "fake-id" and used to match it.
func TestMatchOnIDIsNotAnalysed(t *testing.T) {
	docs := []Doc{{ID: "search-my-document-id", Source: src(`{}`)}, {ID: "fake-id", Source: src(`{}`)}}
	for q, want := range map[string]string{
		`{"match":{"_id":"fake-id"}}`:                              "fake-id",
		`{"match":{"_id":"search-my-document-id"}}`:                "search-my-document-id",
		`{"match":{"_id":"id"}}`:                                   "",
		`{"match":{"_id":"Fake-ID"}}`:                              "",
		`{"match_phrase":{"_id":"my document"}}`:                   "",
		`{"multi_match":{"query":"fake-id","fields":["_id"]}}`:     "fake-id",
		`{"bool":{"must_not":{"match":{"_id":"fake-id"}}}}`:        "search-my-document-id",
		`{"match":{"_id":{"query":"fake-id","operator":"and"}}}`:   "fake-id",
		`{"match":{"_id":{"query":"my fake-id","operator":"or"}}}`: "",
	} {
		for _, ft := range []FieldTypes{nil, func(string) string { return "text" }} {
			c, err := CompileWith(json.RawMessage(q), ft)
			if err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			var got []string
			for i := range docs {
				if ok, _ := c.Match(&docs[i]); ok {
					got = append(got, docs[i].ID)
				}
			}
			if strings.Join(got, ",") != want {
				t.Errorf("%s (mapping %v): %q, want %q", q, ft != nil, got, want)
			}
		}
	}
}

// A field the mapping says is not indexed (Unindexed) is found by no
// clause, and must_not on it keeps every document, as in ES.
func TestUnindexedFieldsMatchNothing(t *testing.T) {
	ft := func(f string) string {
		if f == "age" || f == "name" || strings.HasPrefix(f, "address.") {
			return Unindexed
		}
		return ""
	}
	for q, want := range map[string]string{
		`{"range":{"age":{"gte":0}}}`:                                         "",
		`{"term":{"age":42}}`:                                                 "",
		`{"terms":{"age":[42,17]}}`:                                           "",
		`{"exists":{"field":"age"}}`:                                          "",
		`{"match":{"name":"smith"}}`:                                          "",
		`{"match_phrase":{"name":"john smith"}}`:                              "",
		`{"prefix":{"name":"Jo"}}`:                                            "",
		`{"wildcard":{"name":"J*"}}`:                                          "",
		`{"term":{"address.city":"Paris"}}`:                                   "",
		`{"multi_match":{"query":"smith","fields":["name"]}}`:                 "",
		`{"bool":{"must_not":{"exists":{"field":"age"}}}}`:                    "a,b,c,d",
		`{"term":{"tags":"blue"}}`:                                            "a",
		`{"ids":{"values":["b"]}}`:                                            "b",
		`{"bool":{"should":[{"term":{"age":42}},{"term":{"tags":"green"}}]}}`: "b",
	} {
		if got := matchingWith(t, q, ft); got != want {
			t.Errorf("%s: %q, want %q", q, got, want)
		}
	}
}
