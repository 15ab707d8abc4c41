package filter

import (
	"encoding/json"
	"testing"
)

func TestSmoke(t *testing.T) {
	e := New(Options{})
	for _, s := range []string{
		`{"equals":{"a":1}}`,
		`{"and":[{"equals":{"a":1}},{"equals":{"b":2}}]}`,
		`{"and":[{"equals":{"b":2}},{"equals":{"a":1}}]}`,
		`{"or":[{"and":[{"equals":{"a":1}},{"range":{"b":{"gt":2}}}]},{"and":[{"equals":{"a":1}},{"not":{"range":{"b":{"gt":2}}}}]}]}`,
		`{"in":{"a":["x","y"]}}`,
		`{"or":[{"equals":{"a":"y"}},{"equals":{"a":"x"}}]}`,
		`{"not":{"and":[{"equals":{"a":1}},{"range":{"b":{"lt":3}}}]}}`,
		`{"missing":"a"}`, `{}`, `{"nothing":true}`,
		`{"bool":{"must":[{"equals":{"a":1}}],"should_not":[{"exists":"c"}]}}`,
		`{"geoDistance":{"p":[43,5],"distance":"1km"}}`,
		`{"geoPolygon":{"p":{"points":[[0,0],[0,10],[10,10],[10,0]]}}}`,
		`{"select":{"field":"arr","index":-1,"query":{"equals":{"value":3}}}}`,
		`{"match":{"o":{"x":[1]}}}`,
		`{"regexp":{"s":{"value":"^AB","flags":"i"}}}`,
		`{"exists":"arr[3]"}`,
	} {
		var f any
		json.Unmarshal([]byte(s), &f)
		n, err := e.Register("i", "c", f)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		n2, err := FromCanonical("i", "c", n.Canonical)
		if err != nil || n2.ID != n.ID {
			t.Fatalf("fromcanonical %s: %v", n.Canonical, err)
		}
		t.Logf("%s\n  -> %s %s", s, n.ID[:8], n.Canonical)
	}
	var doc map[string]any
	json.Unmarshal([]byte(`{"a":1,"b":5,"p":[5,5],"arr":[1,2,3],"o":{"x":[2,1]},"s":"abc"}`), &doc)
	t.Log(e.Test("i", "c", "id1", doc))
}
