// Command esdirect sends wsload's get and create workloads straight to
// Elasticsearch with go-elasticsearch: the floor a Korum node in
// elasticsearch mode adds its overhead to (docs/benchmarks.md). It is a
// benchmark, not a test: it prints figures and never asserts on them.
//
//	esdirect -url http://127.0.0.1:9200 -mode get -clients 64 -duration 10s
//	esdirect -url http://127.0.0.1:9200 -mode create -clients 64 -duration 10s
//	esdirect -url http://127.0.0.1:9200 -mode load -index '@&bench.big' -n 1000000
//
// load bulk-indexes n small documents with a Kuzzle _kuzzle_info into an
// existing index or alias (a Korum collection's, for bench/es-join.sh).
//
// It writes into its own Elasticsearch index (esdirect-bench), deleted at
// the start, with the same documents wsload writes.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
)

const index = "esdirect-bench"

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "esdirect:", err)
		os.Exit(1)
	}
}

func do(c *es.Client, req esapi.Request) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := req.Do(ctx, c)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	if res.IsError() {
		return fmt.Errorf("%s", res.Status())
	}
	return nil
}

func main() {
	url := flag.String("url", "http://127.0.0.1:9200", "Elasticsearch")
	mode := flag.String("mode", "get", "get or create")
	clients := flag.Int("clients", 64, "concurrent clients")
	duration := flag.Duration("duration", 10*time.Second, "measurement time")
	target := flag.String("index", "", "index or alias to load (load)")
	n := flag.Int("n", 1000000, "documents to load (load)")
	flag.Parse()
	// The transport Korum's engine uses: pooled keep-alive connections,
	// uncompressed answers.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	tr.DisableCompression = true
	c, err := es.NewClient(es.Config{Addresses: []string{*url}, Transport: tr})
	must(err)
	if *mode == "load" {
		load(c, *target, *n)
		return
	}
	_ = do(c, esapi.IndicesDeleteRequest{Index: []string{index}})
	must(do(c, esapi.IndicesCreateRequest{Index: index}))
	hot, _ := json.Marshal(map[string]any{"name": "a benchmark document", "n": 42, "tags": []string{"a", "b"}})
	must(do(c, esapi.IndexRequest{Index: index, DocumentID: "hot", Body: bytes.NewReader(hot)}))

	var mu sync.Mutex
	var lat []time.Duration
	var errs atomic.Int64
	stop := time.Now().Add(*duration)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for n := 0; time.Now().Before(stop); n++ {
				var req esapi.Request = esapi.GetRequest{Index: index, DocumentID: "hot"}
				if *mode == "create" {
					body, _ := json.Marshal(map[string]any{"client": i, "n": n})
					req = esapi.IndexRequest{Index: index, DocumentID: strconv.Itoa(i) + "-" + strconv.Itoa(n), OpType: "create", Body: bytes.NewReader(body)}
				}
				s := time.Now()
				if err := do(c, req); err != nil {
					errs.Add(1)
					continue
				}
				mine = append(mine, time.Since(s))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(t0)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[int(float64(len(lat)-1)*p)]) / float64(time.Millisecond)
	}
	fmt.Printf("| %s (go-elasticsearch) | %d clients | %.0f req/s | p50 %.2f ms | p99 %.2f ms | %d errors |\n",
		*mode, *clients, float64(len(lat))/el.Seconds(), pct(0.5), pct(0.99), errs.Load())
	_ = do(c, esapi.IndicesDeleteRequest{Index: []string{index}})
}

// load bulk-indexes n documents into target, 5,000 per request, from 4
// workers, and refreshes it.
func load(c *es.Client, target string, n int) {
	const batch = 5000
	t0 := time.Now()
	next := make(chan int)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			for start := range next {
				buf.Reset()
				for i := start; i < min(start+batch, n); i++ {
					fmt.Fprintf(&buf, `{"index":{"_index":%q,"_id":"d%d"}}`+"\n", target, i)
					fmt.Fprintf(&buf, `{"n":%d,"name":"document %d","_kuzzle_info":{"author":"-1","createdAt":%d,"updatedAt":null,"updater":null}}`+"\n",
						i, i, t0.UnixMilli())
				}
				must(do(c, esapi.BulkRequest{Body: bytes.NewReader(buf.Bytes())}))
			}
		}()
	}
	for start := 0; start < n; start += batch {
		next <- start
	}
	close(next)
	wg.Wait()
	must(do(c, esapi.IndicesRefreshRequest{Index: []string{target}}))
	fmt.Printf("loaded %d documents into %s in %s\n", n, target, time.Since(t0).Round(time.Second))
}
