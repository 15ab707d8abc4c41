package jepsen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// esPort is where the nodes reach Elasticsearch: the network's gateway
// (the host), port 9200, forwarded to ClusterConfig.Elasticsearch.
const esPort = 9200

// esNodeArgs puts a node in elasticsearch mode, through the forwarder.
func esNodeArgs(cfg ClusterConfig) []string {
	return []string{"--storage-engine", "elasticsearch",
		"--elasticsearch-url", fmt.Sprintf("http://%s.1:%d", cfg.Prefix, esPort)}
}

// wipeElasticsearch deletes the test index's Elasticsearch indexes
// (&jepsen.*, Kuzzle's layout), so that each nemesis starts on empty
// storage as it does with fresh data volumes: values of an earlier run
// would read as values no write produced.
func wipeElasticsearch(ctx context.Context, addr string) error {
	u := "http://" + addr + "/" + url.PathEscape("&"+testIndex+".*") + "?expand_wildcards=all&ignore_unavailable=true"
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u, nil)
	if err != nil {
		return err
	}
	res, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("wiping Elasticsearch at %s: %w", addr, err)
	}
	defer res.Body.Close()
	if res.StatusCode >= 300 && res.StatusCode != http.StatusNotFound {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 1024))
		return fmt.Errorf("wiping Elasticsearch at %s: %s %s", addr, res.Status, body)
	}
	return nil
}

// forwarder relays TCP connections from the network's gateway address to
// an Elasticsearch listening on the host's loopback, which containers on
// an internal network cannot reach otherwise.
type forwarder struct {
	ln    net.Listener
	to    string
	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func forwardTCP(listen, to string) (*forwarder, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("forwarding Elasticsearch on %s: %w", listen, err)
	}
	f := &forwarder{ln: ln, to: to, conns: map[net.Conn]bool{}}
	f.wg.Add(1)
	go f.accept()
	return f, nil
}

func (f *forwarder) track(c net.Conn, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if on {
		f.conns[c] = true
	} else {
		delete(f.conns, c)
	}
}

func (f *forwarder) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer c.Close()
			up, err := net.DialTimeout("tcp", f.to, 5*time.Second)
			if err != nil {
				return
			}
			defer up.Close()
			f.track(c, true)
			f.track(up, true)
			defer f.track(c, false)
			defer f.track(up, false)
			done := make(chan struct{}, 2)
			pipe := func(dst, src net.Conn) {
				_, _ = io.Copy(dst, src)
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
				}
				done <- struct{}{}
			}
			go pipe(up, c)
			go pipe(c, up)
			<-done
			<-done
		}()
	}
}

// Close stops listening and cuts the relayed connections.
func (f *forwarder) Close() error {
	err := f.ln.Close()
	f.mu.Lock()
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
