package integration

import (
	"fmt"
	"strings"
	"testing"
)

func nestedJSON(depth int) string {
	return strings.Repeat(`{"a":`, depth) + `1` + strings.Repeat(`}`, depth)
}

// TestWriteLimits: a document past the mapping limits is refused with a
// 400 before it reaches the log, and its collection keeps working (a 30 KB
// document of 5000 levels used to make every later call on it fail).
func TestWriteLimits(t *testing.T) {
	p := start(t, "")
	p.do(t, "POST", "/lim/_create", "")
	if _, env := p.do(t, "PUT", "/lim/c", "{}"); env.Status != 200 {
		t.Fatalf("collection create: %+v", env.Error)
	}
	for _, depth := range []int{5000, 21} {
		_, env := p.do(t, "POST", "/lim/c/_create", nestedJSON(depth))
		if env.Status != 400 || env.Error.ID != "services.storage.unexpected_bad_request" ||
			!strings.Contains(env.Error.Message, "Limit of mapping depth [20]") {
			t.Fatalf("depth %d: %d %+v", depth, env.Status, env.Error)
		}
	}
	if _, env := p.do(t, "POST", "/lim/c/ok/_create", nestedJSON(20)); env.Status != 200 {
		t.Fatalf("depth 20: %+v", env.Error)
	}
	// m* actions refuse the document, not the request.
	_, env := p.do(t, "POST", "/lim/c/_mCreate", `{"documents":[{"_id":"deep","body":`+nestedJSON(30)+`},{"_id":"fine","body":{"b":1}}]}`)
	if env.Status != 206 && env.Status != 200 {
		t.Fatalf("mCreate: %d %+v", env.Status, env.Error)
	}
	res := string(env.Result)
	if !strings.Contains(res, `"fine"`) || !strings.Contains(res, "Limit of mapping depth") {
		t.Fatalf("mCreate result: %s", res)
	}
	// An update cannot deepen a document past the limit either.
	_, env = p.do(t, "PUT", "/lim/c/fine/_update", `{"b":`+nestedJSON(20)+`}`)
	if env.Status != 400 || !strings.Contains(env.Error.Message, "mapping depth") {
		t.Fatalf("deepening update: %d %+v", env.Status, env.Error)
	}
	for _, call := range [][3]string{
		{"POST", "/lim/c/_search", `{"query":{"exists":{"field":"b"}}}`},
		{"POST", "/lim/c/_count", `{}`},
		{"GET", "/lim/c/_mapping", ""},
		{"POST", "/lim/c/after/_create", `{"c":1}`},
		{"PUT", "/lim/c/_mapping", `{"properties":{"d":{"type":"keyword"}}}`},
	} {
		if _, env := p.do(t, call[0], call[1], call[2]); env.Status != 200 {
			t.Fatalf("%s %s after the refusals: %d %+v", call[0], call[1], env.Status, env.Error)
		}
	}
	_, env = p.do(t, "POST", "/lim/c/_count", `{}`)
	if string(env.Result) != `{"count":3}` {
		t.Fatalf("count = %s, want ok, fine and after", env.Result)
	}
	if strings.Contains(p.Logs(), "rolled back") {
		t.Fatalf("a storage batch was rolled back:\n%s", p.Logs())
	}
}

// TestLongFieldPathSearch: a field path of 100,000 segments (200 KB) used
// to cost about 2 s of CPU per document; its work is now linear in each
// document (storage/query's TestCollectWorkIsLinear counts it), so a
// search over 200 documents answers as any other.
func TestLongFieldPathSearch(t *testing.T) {
	p := start(t, "")
	p.do(t, "POST", "/lp/_create", "")
	p.do(t, "PUT", "/lp/c", "{}")
	docs := make([]string, 200)
	for i := range docs {
		docs[i] = fmt.Sprintf(`{"_id":"d%d","body":{"a":{"a":{"a":%d}},"a.a":{"a":1}}}`, i, i)
	}
	if _, env := p.do(t, "POST", "/lp/c/_mCreate", `{"documents":[`+strings.Join(docs, ",")+`]}`); env.Status != 200 {
		t.Fatalf("mCreate: %d %+v", env.Status, env.Error)
	}
	long := strings.TrimSuffix(strings.Repeat("a.", 100000), ".")
	_, env := p.do(t, "POST", "/lp/c/_search", `{"query":{"term":{"`+long+`":1}}}`)
	if env.Status != 200 || !strings.Contains(string(env.Result), `"total":0`) {
		t.Fatalf("search: %d %+v %.200s", env.Status, env.Error, env.Result)
	}
	_, env = p.do(t, "POST", "/lp/c/_search", `{"query":{"term":{"a.a.a":1}}}`)
	if env.Status != 200 || !strings.Contains(string(env.Result), `"total":200`) {
		t.Fatalf("search a.a.a: %d %+v %.300s", env.Status, env.Error, env.Result)
	}
}
