// Command wsload drives a running Korum (or Kuzzle) node over WebSocket and
// reports throughput and latency. It is a benchmark, not a test: it prints
// figures and never asserts on them.
//
//	wsload -addr 127.0.0.1:7512 -mode get -clients 64 -duration 10s
//	wsload -addr 127.0.0.1:7512 -mode create -clients 64 -duration 10s
//	wsload -addr 127.0.0.1:7512 -mode fanout -subscribers 10000 -writes 20
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// reply holds the few envelope fields the load generator looks at, so
// that decoding costs the client as little CPU as possible.
type reply struct {
	RequestID string          `json:"requestId"`
	Room      string          `json:"room"`
	Type      string          `json:"type"`
	Error     json.RawMessage `json:"error"`
}

type client struct {
	ws      *websocket.Conn
	mu      sync.Mutex
	pending map[string]chan reply
	seq     atomic.Uint64
	notify  func(reply)
}

func dial(addr string, notify func(reply)) (*client, error) {
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/", nil)
	if err != nil {
		return nil, err
	}
	c := &client{ws: ws, pending: map[string]chan reply{}, notify: notify}
	go c.read()
	return c, nil
}

func (c *client) read() {
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.mu.Lock()
			for _, ch := range c.pending {
				close(ch)
			}
			c.pending = map[string]chan reply{}
			c.mu.Unlock()
			return
		}
		var m reply
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		id := m.RequestID
		c.mu.Lock()
		ch := c.pending[id]
		delete(c.pending, id)
		c.mu.Unlock()
		if ch != nil && m.Room == id {
			ch <- m
		} else if c.notify != nil {
			c.notify(m)
		}
	}
}

func (c *client) call(req map[string]any) (reply, error) {
	id := strconv.FormatUint(c.seq.Add(1), 10)
	req["requestId"] = id
	ch := make(chan reply, 1)
	c.mu.Lock()
	c.pending[id] = ch
	c.mu.Unlock()
	b, _ := json.Marshal(req)
	c.mu.Lock()
	err := c.ws.WriteMessage(websocket.TextMessage, b)
	c.mu.Unlock()
	if err != nil {
		return reply{}, err
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return m, errors.New("connection closed")
		}
		if len(m.Error) > 0 && string(m.Error) != "null" {
			return m, fmt.Errorf("%s", m.Error)
		}
		return m, nil
	case <-time.After(30 * time.Second):
		return reply{}, errors.New("timeout")
	}
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsload:", err)
		os.Exit(1)
	}
}

func setup(c *client, index, coll string) {
	c.call(map[string]any{"controller": "index", "action": "create", "index": index})
	_, err := c.call(map[string]any{"controller": "collection", "action": "create", "index": index, "collection": coll, "body": map[string]any{}})
	must(err)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7512", "node API address")
	mode := flag.String("mode", "get", "get, create or fanout")
	clients := flag.Int("clients", 64, "concurrent clients (get, create)")
	duration := flag.Duration("duration", 10*time.Second, "measurement time (get, create)")
	subscribers := flag.Int("subscribers", 10000, "subscriber connections (fanout)")
	writes := flag.Int("writes", 20, "matching writes (fanout)")
	flag.Parse()
	switch *mode {
	case "get", "create":
		closedLoop(*addr, *mode, *clients, *duration)
	case "fanout":
		fanout(*addr, *subscribers, *writes)
	default:
		must(fmt.Errorf("unknown mode %q", *mode))
	}
}

func closedLoop(addr, mode string, clients int, d time.Duration) {
	admin, err := dial(addr, nil)
	must(err)
	setup(admin, "bench", "docs")
	_, err = admin.call(map[string]any{"controller": "document", "action": "createOrReplace", "index": "bench", "collection": "docs",
		"_id": "hot", "body": map[string]any{"name": "a benchmark document", "n": 42, "tags": []string{"a", "b"}}})
	must(err)
	var mu sync.Mutex
	var lat []time.Duration
	var errs atomic.Int64
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	for i := range clients {
		c, err := dial(addr, nil)
		must(err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for n := 0; time.Now().Before(stop); n++ {
				req := map[string]any{"controller": "document", "action": "get", "index": "bench", "collection": "docs", "_id": "hot"}
				if mode == "create" {
					req = map[string]any{"controller": "document", "action": "create", "index": "bench", "collection": "docs",
						"body": map[string]any{"client": i, "n": n}}
				}
				t0 := time.Now()
				if _, err := c.call(req); err != nil {
					errs.Add(1)
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	t0 := time.Now()
	wg.Wait()
	el := time.Since(t0)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[int(float64(len(lat)-1)*p)]
	}
	fmt.Printf("| document:%s | %d clients | %.0f req/s | p50 %.2f ms | p99 %.2f ms | %d errors |\n",
		mode, clients, float64(len(lat))/el.Seconds(), ms(pct(0.5)), ms(pct(0.99)), errs.Load())
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func fanout(addr string, subscribers, writes int) {
	admin, err := dial(addr, nil)
	must(err)
	setup(admin, "bench", "fan")
	var got atomic.Int64
	done := make(chan struct{})
	want := int64(subscribers * writes)
	onNote := func(m reply) {
		if m.Type == "document" && got.Add(1) == want {
			close(done)
		}
	}
	filter := map[string]any{"equals": map[string]any{"team": "blue"}}
	conns := make([]*client, 0, subscribers)
	for range subscribers {
		c, err := dial(addr, onNote)
		must(err)
		_, err = c.call(map[string]any{"controller": "realtime", "action": "subscribe", "index": "bench", "collection": "fan", "body": filter})
		must(err)
		conns = append(conns, c)
	}
	t0 := time.Now()
	for i := range writes {
		_, err := admin.call(map[string]any{"controller": "document", "action": "create", "index": "bench", "collection": "fan",
			"body": map[string]any{"team": "blue", "i": i}})
		must(err)
	}
	select {
	case <-done:
	case <-time.After(120 * time.Second):
	}
	el := time.Since(t0)
	fmt.Printf("| fan-out | %d subscribers × %d writes | %.0f deliveries/s | %d/%d delivered in %.2f s |\n",
		subscribers, writes, float64(got.Load())/el.Seconds(), got.Load(), want, el.Seconds())
	for _, c := range conns {
		c.ws.Close()
	}
}
