package elasticsearch

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/storage"
)

// faultMode is what lossyProxy does to the first document write it sees.
type faultMode int

const (
	// dropAnswer forwards the write to Elasticsearch, which applies it,
	// and closes the client's connection instead of relaying the answer.
	dropAnswer faultMode = iota
	// dropRequest closes the client's connection without forwarding.
	dropRequest
)

// lossyProxy is a TCP proxy between the engine and Elasticsearch that reads
// HTTP/1.1 requests off each client connection and relays them, one at a
// time, over a connection of its own to Elasticsearch. The first document
// write (a PUT or DELETE of /_doc/ or /_create/) suffers mode; before the
// client's connection closes, during runs (another writer's write, say).
type lossyProxy struct {
	ln       net.Listener
	upstream string
	mode     faultMode
	during   func()

	mu     sync.Mutex
	struck bool
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

func newLossyProxy(t *testing.T, mode faultMode, during func()) *lossyProxy {
	t.Helper()
	u, err := url.Parse(esURL())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &lossyProxy{ln: ln, upstream: u.Host, mode: mode, during: during, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *lossyProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *lossyProxy) hasStruck() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.struck
}

func (p *lossyProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns[c] = true
		p.mu.Unlock()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(c)
			p.mu.Lock()
			delete(p.conns, c)
			p.mu.Unlock()
		}()
	}
}

// strike tells whether this request is the one to fault (only once).
func (p *lossyProxy) strike(r *http.Request) bool {
	if r.Method != http.MethodPut && r.Method != http.MethodDelete && r.Method != http.MethodPost {
		return false
	}
	if !strings.Contains(r.URL.Path, "/_doc/") && !strings.Contains(r.URL.Path, "/_create/") {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.struck {
		return false
	}
	p.struck = true
	return true
}

func (p *lossyProxy) serve(client net.Conn) {
	defer client.Close()
	up, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
	if err != nil {
		return
	}
	defer up.Close()
	cr, ur := bufio.NewReader(client), bufio.NewReader(up)
	for {
		_ = client.SetDeadline(time.Now().Add(30 * time.Second))
		req, err := http.ReadRequest(cr)
		if err != nil {
			return
		}
		fault := p.strike(req)
		if fault && p.mode == dropRequest {
			_, _ = io.Copy(io.Discard, req.Body)
			if p.during != nil {
				p.during()
			}
			return
		}
		_ = up.SetDeadline(time.Now().Add(30 * time.Second))
		if err := req.Write(up); err != nil {
			return
		}
		res, err := http.ReadResponse(ur, req)
		if err != nil {
			return
		}
		if fault {
			// Elasticsearch applied it; its answer is read and lost.
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if p.during != nil {
				p.during()
			}
			return
		}
		err = res.Write(client)
		res.Body.Close()
		if err != nil {
			return
		}
	}
}

// lostEngine is an engine whose requests cross the proxy.
func lostEngine(t *testing.T, p *lossyProxy) *Engine {
	t.Helper()
	e, err := New(Options{URLs: []string{p.URL()}, RequestTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// A write whose answer is lost on the way back has applied in
// Elasticsearch: the engine's retry must neither refuse it (a create's 409)
// nor apply it twice (an update), and a write it cannot vouch for answers
// cluster.process.unknown_outcome rather than a success or a second write.
func TestLostAnswers(t *testing.T) {
	direct := newEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	idx := testIndex(t, direct)
	mustWrite(t, direct, storage.Write{Op: storage.OpCollectionCreate, Index: idx, Collection: "c"})
	one := func(t *testing.T, e *Engine, op storage.Op, id string, body map[string]any) storage.ItemResult {
		t.Helper()
		res, err := e.Execute(ctx, &storage.Write{Op: op, Index: idx, Collection: "c", Now: 1000, Author: "u",
			Docs: []storage.DocWrite{{ID: id, Body: body}}})
		if err != nil {
			t.Fatalf("%s %s: %v", op, id, err)
		}
		if res.Err != nil {
			t.Fatalf("%s %s: %v", op, id, res.Err)
		}
		return res.Items[0]
	}
	version := func(t *testing.T, id string) int64 {
		t.Helper()
		d, err := direct.Get(ctx, idx, "c", id)
		if errID(err) == "services.storage.not_found" {
			return 0
		}
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		if d == nil {
			return 0
		}
		return d.Version
	}
	run := func(name string, mode faultMode, during func(), f func(t *testing.T, e *Engine)) {
		t.Run(name, func(t *testing.T) {
			p := newLossyProxy(t, mode, during)
			f(t, lostEngine(t, p))
			if !p.hasStruck() {
				t.Fatal("the proxy saw no document write to fault")
			}
		})
	}

	run("create", dropAnswer, nil, func(t *testing.T, e *Engine) {
		it := one(t, e, storage.OpDocCreate, "c1", map[string]any{"n": 1.0})
		if it.Err != nil {
			t.Fatalf("a create whose answer was lost: %v (want its success)", it.Err)
		}
		if !it.Created || it.After == nil || it.After.Version != 1 || it.Seq == nil {
			t.Fatalf("create item %+v: want created, version 1, a sequence position", it)
		}
		if v := version(t, "c1"); v != 1 {
			t.Fatalf("stored version %d, want 1", v)
		}
	})

	one(t, direct, storage.OpDocCreate, "u1", map[string]any{"n": 1.0})
	run("update", dropAnswer, nil, func(t *testing.T, e *Engine) {
		it := one(t, e, storage.OpDocUpdate, "u1", map[string]any{"m": 2.0})
		if it.Err != nil {
			t.Fatalf("an update whose answer was lost: %v", it.Err)
		}
		if it.Before == nil || it.Before.Version != 1 || it.After == nil || it.After.Version != 2 {
			t.Fatalf("update item before %+v after %+v: want 1 → 2", it.Before, it.After)
		}
		if it.PrevSeq == nil || it.Seq == nil || !it.Seq.After(*it.PrevSeq) {
			t.Fatalf("update item positions %v → %v", it.PrevSeq, it.Seq)
		}
		if v := version(t, "u1"); v != 2 {
			t.Fatalf("stored version %d, want 2: the update applied twice", v)
		}
	})

	// Another writer updates the document right after the lost write: the
	// engine cannot tell its write's outcome apart, and says so.
	one(t, direct, storage.OpDocCreate, "u2", map[string]any{"n": 1.0})
	run("update then another writer", dropAnswer, func() {
		one(t, direct, storage.OpDocUpdate, "u2", map[string]any{"other": true})
	}, func(t *testing.T, e *Engine) {
		it := one(t, e, storage.OpDocUpdate, "u2", map[string]any{"m": 2.0})
		if kerrID(it.Err) != "cluster.process.unknown_outcome" {
			t.Fatalf("got %v, want cluster.process.unknown_outcome", it.Err)
		}
		if v := version(t, "u2"); v != 3 {
			t.Fatalf("stored version %d, want 3 (one write each)", v)
		}
	})

	// The request itself is lost and another writer gets in first: the
	// retry's conflict is theirs, and the update applies on top of it.
	one(t, direct, storage.OpDocCreate, "u3", map[string]any{"n": 1.0})
	run("request lost, another writer first", dropRequest, func() {
		one(t, direct, storage.OpDocUpdate, "u3", map[string]any{"other": true})
	}, func(t *testing.T, e *Engine) {
		it := one(t, e, storage.OpDocUpdate, "u3", map[string]any{"m": 2.0})
		if it.Err != nil {
			t.Fatal(it.Err)
		}
		if it.Before == nil || it.Before.Version != 2 || it.Before.Source["other"] != true || it.After.Version != 3 {
			t.Fatalf("before %+v after %+v: want the other writer's version 2 → 3", it.Before, it.After)
		}
	})

	// A create's retry meets a document that someone else created (the
	// request was lost): document_already_exists, as without a fault.
	run("create, request lost, someone else creates", dropRequest, func() {
		one(t, direct, storage.OpDocCreate, "c2", map[string]any{"theirs": true})
	}, func(t *testing.T, e *Engine) {
		it := one(t, e, storage.OpDocCreate, "c2", map[string]any{"ours": true})
		if kerrID(it.Err) != "services.storage.document_already_exists" {
			t.Fatalf("got %v, want document_already_exists", it.Err)
		}
	})

	// A delete leaves nothing to check: unknown outcome, document gone.
	one(t, direct, storage.OpDocCreate, "d1", map[string]any{"n": 1.0})
	run("delete", dropAnswer, nil, func(t *testing.T, e *Engine) {
		it := one(t, e, storage.OpDocDelete, "d1", nil)
		if kerrID(it.Err) != "cluster.process.unknown_outcome" {
			t.Fatalf("got %v, want cluster.process.unknown_outcome", it.Err)
		}
		if v := version(t, "d1"); v != 0 {
			t.Fatalf("d1 still stored (version %d)", v)
		}
	})

	// Retries off: the lost answer is an unknown outcome, not a failure.
	one(t, direct, storage.OpDocCreate, "n1", map[string]any{"n": 1.0})
	t.Run("no retries", func(t *testing.T) {
		p := newLossyProxy(t, dropAnswer, nil)
		e, err := New(Options{URLs: []string{p.URL()}, RequestTimeout: 10 * time.Second, MaxRetries: -1})
		if err != nil {
			t.Fatal(err)
		}
		it := one(t, e, storage.OpDocUpdate, "n1", map[string]any{"m": 2.0})
		if kerrID(it.Err) != "cluster.process.unknown_outcome" {
			t.Fatalf("got %v, want cluster.process.unknown_outcome", it.Err)
		}
		if v := version(t, "n1"); v != 2 {
			t.Fatalf("stored version %d, want 2", v)
		}
	})
}

func kerrID(e *kerror.Error) string {
	if e == nil {
		return ""
	}
	return e.ID
}
