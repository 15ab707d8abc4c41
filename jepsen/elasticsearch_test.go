package jepsen

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// The forwarder relays to a real Elasticsearch (skipped without one), and
// the wipe deletes the test index's collections and nothing else.
func TestElasticsearchForwarderAndWipe(t *testing.T) {
	const es = "127.0.0.1:9200"
	c := &http.Client{Timeout: 5 * time.Second}
	if res, err := c.Get("http://" + es); err != nil {
		t.Skipf("no Elasticsearch at %s (../shared/tools/search-engine/start.sh): %v", es, err)
	} else {
		res.Body.Close()
	}
	f, err := forwardTCP("127.0.0.1:0", es)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	via := "http://" + f.ln.Addr().String()
	put := func(name string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPut, via+"/"+url.PathEscape(name), nil)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("creating %s through the forwarder: %s %s", name, res.Status, body)
		}
	}
	exists := func(name string) bool {
		t.Helper()
		req, _ := http.NewRequest(http.MethodHead, "http://"+es+"/"+url.PathEscape(name), nil)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode == 200
	}
	keep := "&jepsenkeep.c"
	put("&" + testIndex + ".c")
	put(keep)
	defer func() {
		req, _ := http.NewRequest(http.MethodDelete, "http://"+es+"/"+url.PathEscape(keep), nil)
		if res, err := c.Do(req); err == nil {
			res.Body.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := wipeElasticsearch(ctx, es); err != nil {
		t.Fatal(err)
	}
	if exists("&" + testIndex + ".c") {
		t.Fatal("the wipe left the test index's collection")
	}
	// keep starts like the test index's names, but is another Kuzzle index.
	if !exists(keep) {
		t.Fatal("the wipe deleted another index")
	}
}
