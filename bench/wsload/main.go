// Command wsload drives a running Korum (or Kuzzle) node over WebSocket and
// reports throughput and latency. It is a benchmark, not a test: it prints
// figures and never asserts on them.
//
//	wsload -addr 127.0.0.1:7512 -mode get -clients 64 -duration 10s
//	wsload -addr 127.0.0.1:7512 -mode create -clients 64 -duration 10s
//	wsload -addr 127.0.0.1:7512 -mode fanout -subscribers 10000 -writes 20
//	wsload -addr A,B,C -mode subscribe -clients 256 -duration 10s   (a new room per subscribe)
//	wsload -addr A,B -mode xnotify -rate 10000 -duration 10s         (write on A, notified on B)
//	wsload -addr A,B,C -mode rooms -rooms 100000 -hold 60s           (hold rooms open until signalled)
//
// With several addresses, clients are spread over them round-robin.
// -cacert FILE connects with WSS, trusting that CA (fanout's subscribers
// are then read by a goroutine each instead of one epoll loop).
// -cpupid PID (fanout) reports that process's CPU time per delivery over
// the measured phase only, from /proc/PID/stat: the node's cost, without
// the subscribers' connection set-up.
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
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
	Result    struct {
		Source struct {
			SentAt int64 `json:"sentAt"`
		} `json:"_source"`
	} `json:"result"`
}

type client struct {
	ws      *websocket.Conn
	mu      sync.Mutex
	pending map[string]chan reply
	seq     atomic.Uint64
	notify  func(reply)
}

// wsDialer and wsScheme are set once from the flags, before any dial.
var (
	wsDialer = websocket.DefaultDialer
	wsScheme = "ws"
)

// useTLS makes dial connect with WSS, trusting the CA in caFile.
func useTLS(caFile string) error {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	d := *websocket.DefaultDialer
	d.TLSClientConfig = &tls.Config{RootCAs: pool}
	wsDialer, wsScheme = &d, "wss"
	rawTLS = d.TLSClientConfig
	return nil
}

func dial(addr string, notify func(reply)) (*client, error) {
	ws, _, err := wsDialer.Dial(wsScheme+"://"+addr+"/", nil)
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
	mode := flag.String("mode", "get", "get, create, fanout, subscribe, xnotify or rooms")
	rate := flag.Int("rate", 10000, "writes per second (xnotify)")
	clients := flag.Int("clients", 64, "concurrent clients (get, create)")
	duration := flag.Duration("duration", 10*time.Second, "measurement time (get, create)")
	subscribers := flag.Int("subscribers", 10000, "subscriber connections (fanout)")
	writes := flag.Int("writes", 20, "matching writes (fanout)")
	rooms := flag.Int("rooms", 100000, "distinct rooms to hold (rooms)")
	hold := flag.Duration("hold", time.Minute, "how long to hold the rooms (rooms)")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the measured phase to this file")
	flag.StringVar(&measuredJWT, "jwt", "", "token the measured requests carry (get, create, subscribe); setup runs without one")
	caCert := flag.String("cacert", "", "connect with WSS, trusting this PEM CA")
	flag.IntVar(&cpuPID, "cpupid", 0, "report this process's CPU time per delivery over the measured phase (fanout)")
	flag.Parse()
	if *caCert != "" {
		must(useTLS(*caCert))
	}
	switch *mode {
	case "get", "create", "subscribe":
		closedLoop(*addr, *mode, *clients, *duration)
	case "xnotify":
		crossNode(*addr, *rate, *duration)
	case "fanout":
		fanout(*addr, *subscribers, *writes)
	case "rooms":
		holdRooms(*addr, *rooms, *clients, 8, *hold)
	default:
		must(fmt.Errorf("unknown mode %q", *mode))
	}
}

var cpuProfile string

// cpuPID is the node process whose CPU time the fan-out reports.
var cpuPID int

// procCPU is a process's user and system CPU time in clock ticks
// (/proc/PID/stat fields 14 and 15); 0 without /proc.
func procCPU(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name may hold spaces: count fields after its ')'.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return u + k
}

// clockTick is Linux's USER_HZ, what /proc/PID/stat counts in.
const clockTick = 100

// profile starts a CPU profile of the load generator itself when asked, so
// the client's own cost can be told apart from the node's; the returned
// function stops it.
func profile() func() {
	if cpuProfile == "" {
		return func() {}
	}
	f, err := os.Create(cpuProfile)
	must(err)
	must(pprof.StartCPUProfile(f))
	return func() {
		pprof.StopCPUProfile()
		must(f.Close())
	}
}

// measuredJWT is sent with the measured requests: the rights check of a
// user against the anonymous one.
var measuredJWT string

func closedLoop(addrs, mode string, clients int, d time.Duration) {
	list := strings.Split(addrs, ",")
	addr := list[0]
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
		c, err := dial(list[i%len(list)], nil)
		must(err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for n := 0; time.Now().Before(stop); n++ {
				req := map[string]any{"controller": "document", "action": "get", "index": "bench", "collection": "docs", "_id": "hot"}
				switch mode {
				case "create":
					req = map[string]any{"controller": "document", "action": "create", "index": "bench", "collection": "docs",
						"body": map[string]any{"client": i, "n": n}}
				case "subscribe":
					// A filter no one else uses: every subscribe creates a room.
					req = map[string]any{"controller": "realtime", "action": "subscribe", "index": "bench", "collection": "docs",
						"body": map[string]any{"equals": map[string]any{"k": fmt.Sprintf("%d-%d-%d", i, n, time.Now().UnixNano())}}}
				}
				if measuredJWT != "" {
					req["jwt"] = measuredJWT
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
	stopProfile := profile()
	t0 := time.Now()
	wg.Wait()
	stopProfile()
	el := time.Since(t0)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[int(float64(len(lat)-1)*p)]
	}
	fmt.Printf("| %s | %d clients on %d nodes | %.0f req/s | p50 %.2f ms | p99 %.2f ms | %d errors |\n",
		mode, clients, len(list), float64(len(lat))/el.Seconds(), ms(pct(0.5)), ms(pct(0.99)), errs.Load())
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// fanout measures one node's notification throughput: subscribers
// connections share one room, then writes matching it are issued back to
// back, each waiting for its acknowledgement but not for its
// notifications. Deliveries are counted from the first write to the last
// notification received.
func fanout(addr string, subscribers, writes int) {
	admin, err := dial(addr, nil)
	must(err)
	setup(admin, "bench", "fan")
	// When a subscriber has all its notifications it is done, and the last
	// one done ends the measurement.
	var left, other, ended atomic.Int64
	var finished atomic.Bool
	left.Store(int64(subscribers))
	done := make(chan struct{})
	onNote := func(n int64) {
		if n == int64(writes) && left.Add(-1) == 0 {
			close(done)
		}
	}
	onOther := func(msg []byte) {
		if other.Add(1) == 1 {
			fmt.Fprintf(os.Stderr, "wsload: unexpected message: %.300s\n", msg)
		}
	}
	onEnd := func(err error) {
		if !finished.Load() && ended.Add(1) == 1 {
			fmt.Fprintln(os.Stderr, "wsload: a subscriber's connection ended:", err)
		}
	}
	filter := map[string]any{"equals": map[string]any{"team": "blue"}}
	subs := make([]*subscriber, 0, subscribers)
	for range subscribers {
		s, err := subscribe(addr, "bench", "fan", filter, onNote, onOther, onEnd)
		must(err)
		subs = append(subs, s)
	}
	must(readSubscribers(subs))
	fmt.Fprintf(os.Stderr, "wsload: %d subscribers ready, writing\n", subscribers)
	stopProfile := profile()
	cpu0 := procCPU(cpuPID)
	t0 := time.Now()
	for i := range writes {
		_, err := admin.call(map[string]any{"controller": "document", "action": "create", "index": "bench", "collection": "fan",
			"body": map[string]any{"team": "blue", "i": i}})
		must(err)
	}
	acked := time.Since(t0)
	select {
	case <-done:
	case <-time.After(120 * time.Second):
	}
	el := time.Since(t0)
	cpu1 := procCPU(cpuPID)
	stopProfile()
	var got int64
	for _, s := range subs {
		got += s.notes.Load()
	}

	want := int64(subscribers * writes)
	fmt.Printf("| fan-out | %d subscribers × %d writes | %.0f deliveries/s | %d/%d delivered in %.2f s | writes back to back, each awaiting its ack (all acked in %.2f s), not its deliveries | %d other messages, %d connections lost |\n",
		subscribers, writes, float64(got)/el.Seconds(), got, want, el.Seconds(), acked.Seconds(), other.Load(), ended.Load())
	if cpuPID != 0 && got > 0 {
		fmt.Printf("| fan-out node CPU | %.2f µs per delivery |\n", float64(cpu1-cpu0)*1e6/clockTick/float64(got))
	}
	finished.Store(true)
	for _, s := range subs {
		s.close()
	}
}

// crossNode writes on the first node at a steady rate and measures, on a
// subscriber connected to the second, how long each write took to arrive.
// The load is open-loop: each publish leaves at its scheduled time whatever
// the latency of earlier ones (several requests in flight per connection,
// as Kuzzle's protocol allows), and latency counts from that scheduled
// time, so a slow cluster cannot lower the rate it is offered or hide the
// queueing it causes.
func crossNode(addrs string, rate int, d time.Duration) {
	list := strings.Split(addrs, ",")
	if len(list) < 2 {
		must(errors.New("xnotify needs two addresses: writer,subscriber"))
	}
	w, err := dial(list[0], nil)
	must(err)
	setup(w, "bench", "xn")
	var mu sync.Mutex
	var lat []time.Duration
	sub, err := dial(list[1], func(m reply) {
		if m.Type == "document" && m.Result.Source.SentAt > 0 {
			mu.Lock()
			lat = append(lat, time.Duration(time.Now().UnixNano()-m.Result.Source.SentAt))
			mu.Unlock()
		}
	})
	must(err)
	_, err = sub.call(map[string]any{"controller": "realtime", "action": "subscribe", "index": "bench", "collection": "xn", "body": map[string]any{}})
	must(err)
	const writers = 8
	conns := make([]*client, writers)
	for i := range conns {
		conns[i], err = dial(list[0], nil)
		must(err)
	}
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	n := int(d / interval)
	var sent, errs atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		at := start.Add(time.Duration(i) * interval)
		if wait := time.Until(at); wait > 0 {
			time.Sleep(wait)
		}
		wg.Add(1)
		go func(c *client) {
			defer wg.Done()
			// publish: realtime:publish goes through the log like a write.
			_, err := c.call(map[string]any{"controller": "realtime", "action": "publish", "index": "bench", "collection": "xn",
				"body": map[string]any{"sentAt": at.UnixNano()}})
			if err != nil {
				errs.Add(1)
			} else {
				sent.Add(1)
			}
		}(conns[i%writers])
	}
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := int64(len(lat))
		mu.Unlock()
		if n >= sent.Load() {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p := func(q float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return ms(lat[int(float64(len(lat)-1)*q)])
	}
	fmt.Printf("| cross-node notification | %.0f/s asked, %.0f/s done | p50 %.2f ms | p99 %.2f ms | %d/%d received | %d errors |\n",
		float64(rate), float64(sent.Load())/d.Seconds(), p(0.5), p(0.99), len(lat), sent.Load(), errs.Load())
}
