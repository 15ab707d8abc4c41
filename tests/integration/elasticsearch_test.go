package integration

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// esURL is the Elasticsearch of the elasticsearch-mode tests
// (ELASTICSEARCH_URL, default the shared tool's 127.0.0.1:9200).
func esURL() string {
	if u := os.Getenv("ELASTICSEARCH_URL"); u != "" {
		return u
	}
	return "http://127.0.0.1:9200"
}

// needES skips, saying so, when no Elasticsearch answers, and returns the
// arguments that put a node in elasticsearch mode.
func needES(t *testing.T) []string {
	t.Helper()
	c := http.Client{Timeout: 2 * time.Second}
	res, err := c.Get(esURL())
	if err != nil {
		t.Skipf("no Elasticsearch at %s (make test-es starts one): %v", esURL(), err)
	}
	res.Body.Close()
	return []string{"--storage-engine", "elasticsearch", "--elasticsearch-url", esURL()}
}

// esWiped records the tests that have wiped Elasticsearch already.
var esWiped sync.Map

// storageArgs puts every node of the suite in elasticsearch mode when
// KORUM_TEST_STORAGE=elasticsearch (CI's elasticsearch block), on an
// Elasticsearch wiped of Kuzzle's public indexes once per test, so that the
// test starts on empty storage as it does on fresh data directories.
// Otherwise, and for nodes already given a storage engine, args as given.
func storageArgs(t *testing.T, args []string) []string {
	if os.Getenv("KORUM_TEST_STORAGE") != "elasticsearch" || slices.Contains(args, "--storage-engine") {
		return args
	}
	if _, done := esWiped.LoadOrStore(t.Name(), true); !done {
		req, _ := http.NewRequest("DELETE", esURL()+"/"+url.PathEscape("&*")+"?expand_wildcards=all&ignore_unavailable=true", nil)
		res, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("wiping Elasticsearch at %s: %v", esURL(), err)
		}
		res.Body.Close()
		if res.StatusCode >= 300 && res.StatusCode != 404 {
			t.Fatalf("wiping Elasticsearch at %s: %s", esURL(), res.Status)
		}
	}
	return append([]string{"--storage-engine", "elasticsearch", "--elasticsearch-url", esURL()}, args...)
}

// esIndex is a Kuzzle index name of this test alone, deleted at the end
// through p, so that tests sharing one Elasticsearch do not meet.
func esIndex(t *testing.T, p func() *proc) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "it-" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		if q := p(); q != nil && q.alive() {
			q.do(t, "DELETE", "/"+name, "")
		}
	})
	return name
}

func TestElasticsearchUnreachableAtStartExits3(t *testing.T) {
	p := launch(t, t.TempDir(), freeAddr(t), "--cluster-addr", freeAddr(t),
		"--storage-engine", "elasticsearch", "--elasticsearch-url", "http://127.0.0.1:1", "--elasticsearch-request-timeout", "2s")
	if code := p.exitCode(t, 30*time.Second); code != 3 {
		t.Fatalf("exit code %d, want 3\n%s", code, p.Logs())
	}
	if !strings.Contains(p.Logs(), "cannot reach Elasticsearch at http://127.0.0.1:1") {
		t.Fatalf("no clear message:\n%s", tail(p.Logs(), 20))
	}
}

func docNote(m map[string]any) bool { return m["type"] == "document" }

func TestElasticsearchOneNodeServesAndNotifies(t *testing.T) {
	args := needES(t)
	var p *proc
	idx := esIndex(t, func() *proc { return p })
	p = start(t, "", args...)
	mustOK(t, p, "POST", "/"+idx+"/_create", "")
	mustOK(t, p, "PUT", "/"+idx+"/c", `{"properties":{"team":{"type":"keyword"},"text":{"type":"text"}}}`)
	sub := &wsClient{t, dial(t, p)}
	sub.call(map[string]any{"controller": "realtime", "action": "subscribe", "index": idx, "collection": "c",
		"body": map[string]any{"equals": map[string]any{"team": "blue"}}, "scope": "all"})

	mustOK(t, p, "POST", "/"+idx+"/c/x/_create?refresh=wait_for", `{"team":"blue","text":"hello world"}`)
	mustOK(t, p, "PUT", "/"+idx+"/c/x/_update?refresh=wait_for", `{"n":1}`)
	mustOK(t, p, "PUT", "/"+idx+"/c/x?refresh=wait_for", `{"team":"red"}`)
	for i, want := range []struct{ action, scope string }{{"create", "in"}, {"update", "in"}, {"replace", "out"}} {
		n := sub.next(docNote)
		if n["action"] != want.action || n["scope"] != want.scope || n["result"].(map[string]any)["_id"] != "x" {
			t.Fatalf("notification %d: %v, want %s/%s", i, n, want.action, want.scope)
		}
	}
	// Reads come from Elasticsearch, with the DSL passed through.
	env := mustOK(t, p, "GET", "/"+idx+"/c/x", "")
	if !strings.Contains(string(env.Result), `"team":"red"`) || !strings.Contains(string(env.Result), `"_version":3`) {
		t.Fatalf("get: %s", env.Result)
	}
	env = mustOK(t, p, "POST", "/"+idx+"/c/_search", `{"query":{"match_all":{}},"aggs":{"teams":{"terms":{"field":"team"}}}}`)
	if !strings.Contains(string(env.Result), `"teams"`) || !strings.Contains(string(env.Result), `"key":"red"`) {
		t.Fatalf("aggregations: %s", env.Result)
	}
	mustOK(t, p, "DELETE", "/"+idx+"/c/x", "")
	mustOK(t, p, "POST", "/"+idx+"/c/y/_create", `{"team":"blue"}`)
	if n := sub.next(docNote); n["action"] != "create" || n["result"].(map[string]any)["_id"] != "y" {
		t.Fatalf("the delete of a document out of the filter notified, or the next create did not: %v", n)
	}
	_, env = p.do(t, "GET", "/"+idx+"/c/x", "")
	if env.Error == nil || env.Error.ID != "services.storage.not_found" {
		t.Fatalf("get after delete: %+v", env.Error)
	}
}

// A subscriber on one node gets every write acknowledged on the others,
// exactly once, in the order the writes were acknowledged.
func TestElasticsearchThreeNodesNotifyInOrder(t *testing.T) {
	args := needES(t)
	r := startRedis(t)
	var ms []*member
	idx := esIndex(t, func() *proc {
		for _, m := range ms {
			if m.alive() {
				return m.proc
			}
		}
		return nil
	})
	ms = formRedis(t, r, 3, args...)
	mustOK(t, ms[0].proc, "POST", "/"+idx+"/_create", "")
	mustOK(t, ms[0].proc, "PUT", "/"+idx+"/c", "{}")
	sub := &wsClient{t, dial(t, ms[1].proc)}
	sub.call(map[string]any{"controller": "realtime", "action": "subscribe", "index": idx, "collection": "c", "body": map[string]any{}})

	const writes = 30
	for i := range writes {
		w := ms[[]int{0, 2}[i%2]].proc // writes alternate between nodes A and C
		mustOK(t, w, "PUT", "/"+idx+"/c/d", fmt.Sprintf(`{"seq":%d}`, i))
	}
	for i := range writes {
		n := sub.next(docNote)
		src := n["result"].(map[string]any)["_source"].(map[string]any)
		if src["seq"] != float64(i) {
			t.Fatalf("notification %d carries seq %v: out of order or duplicated", i, src["seq"])
		}
	}
	// Exactly once: one more write is the very next notification.
	mustOK(t, ms[0].proc, "PUT", "/"+idx+"/c/d", `{"seq":999}`)
	if n := sub.next(docNote); n["result"].(map[string]any)["_source"].(map[string]any)["seq"] != float64(999) {
		t.Fatalf("a notification came twice: %v", n)
	}
}

// tcpProxy forwards a local port to target until cut, so a test can take
// Elasticsearch away from a node and give it back without stopping it.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	up     bool
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *tcpProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, up: true}
	t.Cleanup(func() { ln.Close(); p.set(false) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			up := p.up
			if up {
				p.conns = append(p.conns, c)
			}
			p.mu.Unlock()
			if !up {
				c.Close()
				continue
			}
			go func() {
				s, err := net.DialTimeout("tcp", target, 2*time.Second)
				if err != nil {
					c.Close()
					return
				}
				p.mu.Lock()
				p.conns = append(p.conns, s)
				p.mu.Unlock()
				go func() { _, _ = io.Copy(s, c); s.Close() }()
				_, _ = io.Copy(c, s)
				c.Close()
			}()
		}
	}()
	return p
}

// set lets connections through or refuses them (closing the open ones).
func (p *tcpProxy) set(up bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = up
	if !up {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

func TestElasticsearchLostThenBack(t *testing.T) {
	needES(t)
	proxy := newProxy(t, strings.TrimPrefix(esURL(), "http://"))
	var p *proc
	idx := esIndex(t, func() *proc { return p })
	p = start(t, "", "--storage-engine", "elasticsearch", "--elasticsearch-url", "http://"+proxy.ln.Addr().String(),
		"--elasticsearch-max-retries", "1")
	mustOK(t, p, "POST", "/"+idx+"/_create", "")

	proxy.set(false)
	eventually(t, 20*time.Second, "/_ready to answer 503 without Elasticsearch", func() bool { return !p.ready() })
	_, env := p.do(t, "POST", "/"+idx+"/_create", "")
	if env.Error == nil || !strings.HasPrefix(env.Error.ID, "services.storage.") {
		t.Fatalf("a request without Elasticsearch: %+v", env.Error)
	}
	proxy.set(true)
	eventually(t, 20*time.Second, "/_ready to answer 200 again", p.ready)
	mustOK(t, p, "PUT", "/"+idx+"/c", "{}")
}

// Two nodes write one document at the same moment: the notifications a
// third node's subscriber gets follow Elasticsearch's version chain, every
// acknowledged write among them exactly once, and the last one is the
// document's final state.
func TestElasticsearchConcurrentWritersOneDocument(t *testing.T) {
	args := needES(t)
	r := startRedis(t)
	var ms []*member
	idx := esIndex(t, func() *proc {
		for _, m := range ms {
			if m.alive() {
				return m.proc
			}
		}
		return nil
	})
	ms = formRedis(t, r, 3, args...)
	mustOK(t, ms[0].proc, "POST", "/"+idx+"/_create", "")
	mustOK(t, ms[0].proc, "PUT", "/"+idx+"/c", "{}")
	sub := &wsClient{t, dial(t, ms[1].proc)}
	sub.call(map[string]any{"controller": "realtime", "action": "subscribe", "index": idx, "collection": "c", "body": map[string]any{}})
	mustOK(t, ms[0].proc, "POST", "/"+idx+"/c/d/_create", `{"n":0}`)

	const each = 15
	var mu sync.Mutex
	acked := map[float64]bool{} // versions acknowledged
	var wg sync.WaitGroup
	for _, w := range []*member{ms[0], ms[2]} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				_, env := w.do(t, "PUT", "/"+idx+"/c/d", fmt.Sprintf(`{"n":%d}`, i))
				if env.Error != nil {
					if env.Error.ID != "cluster.process.unknown_outcome" {
						t.Errorf("write: %+v", env.Error)
					}
					continue
				}
				var res struct {
					Version float64 `json:"_version"`
				}
				if err := json.Unmarshal(env.Result, &res); err != nil {
					t.Error(err)
				}
				mu.Lock()
				acked[res.Version] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	final := mustOK(t, ms[1].proc, "GET", "/"+idx+"/c/d", "")
	var doc struct {
		Version float64 `json:"_version"`
	}
	_ = json.Unmarshal(final.Result, &doc)

	first := sub.next(docNote) // the create
	last := first["result"].(map[string]any)["_version"].(float64)
	seen := map[float64]bool{}
	for last < doc.Version {
		n := sub.next(docNote)
		v := n["result"].(map[string]any)["_version"].(float64)
		if v <= last {
			t.Fatalf("version %v notified after %v: against Elasticsearch's order", v, last)
		}
		seen[v], last = true, v
	}
	for v := range acked {
		if !seen[v] {
			t.Fatalf("acknowledged version %v was not notified (seen %v)", v, seen)
		}
	}
	t.Logf("%d writes acknowledged, %d notified, final version %v", len(acked), len(seen), doc.Version)
}
