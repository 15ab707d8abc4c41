// Command centrifugo runs the Centrifugo rows of issue 15's side-by-side
// table on this machine: Korum and Centrifugo, alternated run by run, each
// run started only once the machine is quiet (or the wait has run out), and
// prints the medians and their ratios. It is a benchmark, not a test: it
// prints figures and never asserts on them.
//
//	go build -o bin/korum ./cmd/node && go build -o bin/wsload ./bench/wsload
//	GOBIN=$PWD/bin go install github.com/centrifugal/centrifugo/v6@v6.9.1
//	go run ./bench/peers/centrifugo -runs 3
//
// Rows:
//   - cross-node notification: a publication on node A at -rates per second
//     (open loop: each leaves at its scheduled time, latency counts from
//     it), one subscriber on node B; p50 and p99. Korum: 3 nodes through
//     Redis, realtime:publish by bench/wsload -mode xnotify. Centrifugo: 2
//     nodes with a Redis engine, client-side publish over WebSocket.
//   - fan-out on one node: -subscribers subscribers, -writes publications
//     back to back (Korum: document creates, by wsload -mode fanout), from
//     the first one to the last delivery.
//   - memory: the node's peak RSS while it holds those subscribers.
//
// It lives beside bench/peers' other systems (etcd) in its own command so
// that each can be run and changed alone.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

type options struct {
	korum, wsload, centrifugo, redis string
	net                              string
	redisPort                        int
	runs                             int
	rates                            []int
	duration                         time.Duration
	subscribers, writes              int
	quietLoad                        float64
	quietWait                        time.Duration
	only                             string
}

func main() {
	var o options
	var rates string
	flag.StringVar(&o.korum, "korum", "bin/korum", "korum binary")
	flag.StringVar(&o.wsload, "wsload", "bin/wsload", "bench/wsload binary")
	flag.StringVar(&o.centrifugo, "centrifugo", "bin/centrifugo", "centrifugo v6 binary (go install github.com/centrifugal/centrifugo/v6@v6.9.1)")
	flag.StringVar(&o.redis, "redis", "redis-server", "redis-server binary")
	flag.StringVar(&o.net, "net", "127.0.140.", "prefix of the loopback addresses the nodes listen on (.1-.3 Korum, .11-.12 Centrifugo)")
	flag.IntVar(&o.redisPort, "redis-port", 16440, "Redis port (on 127.0.0.1)")
	flag.IntVar(&o.runs, "runs", 3, "alternated runs of each system")
	flag.StringVar(&rates, "rates", "1000,5000", "publications per second of the cross-node rows")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of each cross-node measurement")
	flag.IntVar(&o.subscribers, "subscribers", 10000, "subscribers of the fan-out and memory rows")
	flag.IntVar(&o.writes, "writes", 20, "publications of the fan-out row")
	flag.Float64Var(&o.quietLoad, "quiet-load", 1.5, "start a run once the 1-minute load average is at most this")
	flag.DurationVar(&o.quietWait, "quiet-wait", 3*time.Minute, "longest wait for a quiet machine before a run (then it runs anyway, and says so)")
	flag.StringVar(&o.only, "only", "", "korum or centrifugo: run one system only")
	flag.Parse()
	for _, r := range strings.Split(rates, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(r))
		if err != nil || v <= 0 {
			fatal(fmt.Errorf("bad rate %q", r))
		}
		o.rates = append(o.rates, v)
	}
	results := map[string][]row{}
	for run := 1; run <= o.runs; run++ {
		for _, sys := range []string{"korum", "centrifugo"} {
			if o.only != "" && o.only != sys {
				continue
			}
			load := waitQuiet(o.quietLoad, o.quietWait)
			fmt.Fprintf(os.Stderr, "run %d, %s, load average %s\n", run, sys, load)
			var r row
			var err error
			if sys == "korum" {
				r, err = runKorum(o)
			} else {
				r, err = runCentrifugo(o)
			}
			if err != nil {
				fatal(fmt.Errorf("run %d of %s: %w", run, sys, err))
			}
			r.load = load
			fmt.Printf("run %d %-10s load %-14s %s\n", run, sys, load, r)
			results[sys] = append(results[sys], r)
		}
	}
	report(o, results)
}

// row is one run's figures for one system.
type row struct {
	p50, p99   []float64 // ms, per rate
	deliveries float64   // fan-out deliveries per second
	rssMB      float64   // peak RSS of the fan-out node, MB
	load       string
}

func (r row) String() string {
	var b strings.Builder
	for i := range r.p50 {
		fmt.Fprintf(&b, "xnotify[%d] p50 %.2f ms p99 %.2f ms; ", i, r.p50[i], r.p99[i])
	}
	fmt.Fprintf(&b, "fan-out %.0f deliveries/s; peak RSS %.0f MB", r.deliveries, r.rssMB)
	return b.String()
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "peers/centrifugo:", err)
	os.Exit(1)
}

// waitQuiet waits until the 1-minute load average is at most max, or wait
// has passed, and returns the load averages it started with.
func waitQuiet(max float64, wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for {
		b, _ := os.ReadFile("/proc/loadavg")
		f := strings.Fields(string(b))
		if len(f) < 3 {
			return "unknown"
		}
		l, _ := strconv.ParseFloat(f[0], 64)
		if l <= max || time.Now().After(deadline) {
			s := strings.Join(f[:3], " ")
			if l > max {
				s += " (not quiet)"
			}
			return s
		}
		time.Sleep(5 * time.Second)
	}
}

// ---- processes ----

type procs struct {
	cmds []*exec.Cmd
	dir  string
}

// withRedis starts the processes of one run with a fresh Redis: both
// systems use one (Korum to form its cluster, Centrifugo as its engine).
func withRedis(o options) (*procs, error) {
	dir, err := os.MkdirTemp("", "peers-centrifugo-")
	if err != nil {
		return nil, err
	}
	p := &procs{dir: dir}
	if err := p.redis(o); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

func (p *procs) start(name string, args ...string) (*exec.Cmd, error) {
	log, err := os.Create(filepath.Join(p.dir, filepath.Base(args[0])+"-"+name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p.cmds = append(p.cmds, cmd)
	return cmd, nil
}

func (p *procs) stop() {
	for _, c := range p.cmds {
		c.Process.Kill()
		c.Wait()
	}
	os.RemoveAll(p.dir)
}

func (p *procs) redis(o options) error {
	_, err := p.start("redis", o.redis, "--bind", "127.0.0.1", "--port", strconv.Itoa(o.redisPort), "--save", "", "--appendonly", "no")
	if err != nil {
		return err
	}
	return waitFor(10*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(o.redisPort), time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func waitFor(d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out waiting for readiness")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

func httpOK(url string) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// peakRSS samples pid's RSS until stop is closed and returns the peak, MB.
func peakRSS(pid int, stop <-chan struct{}) <-chan float64 {
	out := make(chan float64, 1)
	go func() {
		var peak float64
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if v := rssMB(pid); v > peak {
				peak = v
			}
			select {
			case <-stop:
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return out
}

func rssMB(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if kb, err := strconv.ParseFloat(f[0], 64); err == nil {
				return kb / 1024
			}
		}
	}
	return 0
}

// ---- Korum ----

var (
	reLatency    = regexp.MustCompile(`p50 ([\d.]+) ms \| p99 ([\d.]+) ms`)
	reDeliveries = regexp.MustCompile(`\| ([\d.]+) deliveries/s`)
)

func runKorum(o options) (row, error) {
	p, err := withRedis(o)
	if err != nil {
		return row{}, err
	}
	defer p.stop()
	var nodes []*exec.Cmd
	var apis []string
	for i := 1; i <= 3; i++ {
		ip := o.net + strconv.Itoa(i)
		api := ip + ":7512"
		cmd, err := p.start("n"+strconv.Itoa(i), o.korum, "--data-dir", filepath.Join(p.dir, "n"+strconv.Itoa(i)),
			"--api-addr", api, "--cluster-addr", ip+":7511", "--cluster-secret", "bench",
			"--redis", "redis://127.0.0.1:"+strconv.Itoa(o.redisPort), "--log-level", "warn")
		if err != nil {
			return row{}, err
		}
		nodes = append(nodes, cmd)
		apis = append(apis, api)
		if i == 1 { // the first node bootstraps: let it lead before the others join
			if err := waitFor(30*time.Second, func() bool { return httpOK("http://" + api + "/_ready") }); err != nil {
				return row{}, err
			}
		}
	}
	for _, a := range apis {
		if err := waitFor(60*time.Second, func() bool { return httpOK("http://" + a + "/_ready") }); err != nil {
			return row{}, err
		}
	}
	var r row
	for _, rate := range o.rates {
		out, err := exec.Command(o.wsload, "-addr", apis[0]+","+apis[1], "-mode", "xnotify",
			"-rate", strconv.Itoa(rate), "-duration", o.duration.String()).Output()
		if err != nil {
			return row{}, fmt.Errorf("wsload xnotify: %w", err)
		}
		m := reLatency.FindSubmatch(out)
		if m == nil {
			return row{}, fmt.Errorf("wsload xnotify said %q", out)
		}
		p50, _ := strconv.ParseFloat(string(m[1]), 64)
		p99, _ := strconv.ParseFloat(string(m[2]), 64)
		r.p50, r.p99 = append(r.p50, p50), append(r.p99, p99)
	}
	stop := make(chan struct{})
	peak := peakRSS(nodes[0].Process.Pid, stop)
	out, err := exec.Command(o.wsload, "-addr", apis[0], "-mode", "fanout",
		"-subscribers", strconv.Itoa(o.subscribers), "-writes", strconv.Itoa(o.writes)).Output()
	close(stop)
	r.rssMB = <-peak
	if err != nil {
		return row{}, fmt.Errorf("wsload fanout: %w", err)
	}
	m := reDeliveries.FindSubmatch(out)
	if m == nil {
		return row{}, fmt.Errorf("wsload fanout said %q", out)
	}
	r.deliveries, _ = strconv.ParseFloat(string(m[1]), 64)
	return r, nil
}

// ---- Centrifugo ----

func runCentrifugo(o options) (row, error) {
	p, err := withRedis(o)
	if err != nil {
		return row{}, err
	}
	defer p.stop()
	var nodes []*exec.Cmd
	var addrs []string
	for i := 1; i <= 2; i++ {
		ip := o.net + strconv.Itoa(10+i)
		cfg := map[string]any{
			"http_server": map[string]any{"address": ip, "port": 8000},
			"log":         map[string]any{"level": "error"},
			"engine": map[string]any{"type": "redis",
				"redis": map[string]any{"address": []string{"redis://127.0.0.1:" + strconv.Itoa(o.redisPort)}}},
			// Anonymous clients may connect, subscribe and publish, as
			// Korum's anonymous user may (no token on either side).
			"client": map[string]any{"insecure": true, "allowed_origins": []string{"*"}},
			"channel": map[string]any{"without_namespace": map[string]any{
				"allow_subscribe_for_client": true, "allow_publish_for_client": true,
				"allow_subscribe_for_anonymous": true, "allow_publish_for_anonymous": true}},
			"usage_stats": map[string]any{"disabled": true},
			"health":      map[string]any{"enabled": true},
		}
		b, _ := json.Marshal(cfg)
		file := filepath.Join(p.dir, "centrifugo"+strconv.Itoa(i)+".json")
		if err := os.WriteFile(file, b, 0o644); err != nil {
			return row{}, err
		}
		cmd, err := p.start("n"+strconv.Itoa(i), o.centrifugo, "-c", file)
		if err != nil {
			return row{}, err
		}
		nodes = append(nodes, cmd)
		addrs = append(addrs, ip+":8000")
	}
	for _, a := range addrs {
		if err := waitFor(30*time.Second, func() bool { return httpOK("http://" + a + "/health") }); err != nil {
			return row{}, err
		}
	}
	var r row
	for _, rate := range o.rates {
		p50, p99, err := cfCrossNode(addrs[0], addrs[1], rate, o.duration)
		if err != nil {
			return row{}, err
		}
		r.p50, r.p99 = append(r.p50, p50), append(r.p99, p99)
	}
	stop := make(chan struct{})
	peak := peakRSS(nodes[0].Process.Pid, stop)
	r.deliveries, err = cfFanout(addrs[0], o.subscribers, o.writes)
	close(stop)
	r.rssMB = <-peak
	return r, err
}

// cfClient is a Centrifugo client speaking its JSON protocol over
// WebSocket: commands {"id":N,"<method>":{...}}, replies with the same id,
// pushes {"push":{"channel":...,"pub":{"data":...}}}; several per frame,
// one per line. The server's ping is an empty object, answered with one.
type cfClient struct {
	ws      *websocket.Conn
	wmu     sync.Mutex
	seq     atomic.Uint32
	mu      sync.Mutex
	pending map[uint32]chan error
	onPub   func(data json.RawMessage)
}

type cfReply struct {
	ID    uint32          `json:"id"`
	Error json.RawMessage `json:"error"`
	Push  *struct {
		Pub *struct {
			Data json.RawMessage `json:"data"`
		} `json:"pub"`
	} `json:"push"`
}

func cfDial(addr string, onPub func(json.RawMessage)) (*cfClient, error) {
	d := websocket.Dialer{HandshakeTimeout: 30 * time.Second}
	ws, _, err := d.Dial("ws://"+addr+"/connection/websocket", nil)
	if err != nil {
		return nil, err
	}
	c := &cfClient{ws: ws, pending: map[uint32]chan error{}, onPub: onPub}
	go c.read()
	if err := c.call("connect", map[string]any{}); err != nil {
		ws.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	return c, nil
}

func (c *cfClient) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ws.SetWriteDeadline(time.Now().Add(30 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

func (c *cfClient) read() {
	defer func() {
		c.mu.Lock()
		for id, ch := range c.pending {
			ch <- errors.New("connection closed")
			delete(c.pending, id)
		}
		c.mu.Unlock()
	}()
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		for line := range bytes.Lines(data) {
			line = bytes.TrimSpace(line)
			if len(line) == 0 {
				continue
			}
			if string(line) == "{}" {
				c.write([]byte("{}"))
				continue
			}
			var m cfReply
			if json.Unmarshal(line, &m) != nil {
				continue
			}
			if m.Push != nil {
				if m.Push.Pub != nil && c.onPub != nil {
					c.onPub(m.Push.Pub.Data)
				}
				continue
			}
			c.mu.Lock()
			ch := c.pending[m.ID]
			delete(c.pending, m.ID)
			c.mu.Unlock()
			if ch != nil {
				if len(m.Error) > 0 {
					ch <- fmt.Errorf("%s", m.Error)
				} else {
					ch <- nil
				}
			}
		}
	}
}

func (c *cfClient) call(method string, params any) error {
	id := c.seq.Add(1)
	ch := make(chan error, 1)
	c.mu.Lock()
	c.pending[id] = ch
	c.mu.Unlock()
	b, _ := json.Marshal(map[string]any{"id": id, method: params})
	if err := c.write(b); err != nil {
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-time.After(30 * time.Second):
		return errors.New(method + ": timeout")
	}
}

// cfCrossNode publishes on a at rate per second for d (8 connections, open
// loop, several in flight per connection as the protocol allows) and
// measures, on one subscriber on b, the time from each publication's
// scheduled time to its arrival.
func cfCrossNode(a, b string, rate int, d time.Duration) (p50, p99 float64, err error) {
	var mu sync.Mutex
	var lat []time.Duration
	sub, err := cfDial(b, func(data json.RawMessage) {
		var m struct {
			SentAt int64 `json:"sentAt"`
		}
		if json.Unmarshal(data, &m) == nil && m.SentAt > 0 {
			mu.Lock()
			lat = append(lat, time.Duration(time.Now().UnixNano()-m.SentAt))
			mu.Unlock()
		}
	})
	if err != nil {
		return 0, 0, err
	}
	defer sub.ws.Close()
	if err := sub.call("subscribe", map[string]any{"channel": "xn"}); err != nil {
		return 0, 0, err
	}
	const writers = 8
	conns := make([]*cfClient, writers)
	for i := range conns {
		if conns[i], err = cfDial(a, nil); err != nil {
			return 0, 0, err
		}
		defer conns[i].ws.Close()
	}
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	n := int(d / interval)
	var sent, errs atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		if wait := time.Until(at); wait > 0 {
			time.Sleep(wait)
		}
		wg.Add(1)
		go func(c *cfClient) {
			defer wg.Done()
			if err := c.call("publish", map[string]any{"channel": "xn", "data": map[string]any{"sentAt": at.UnixNano()}}); err != nil {
				errs.Add(1)
			} else {
				sent.Add(1)
			}
		}(conns[i%writers])
	}
	wg.Wait()
	waitFor(5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return int64(len(lat)) >= sent.Load()
	})
	mu.Lock()
	defer mu.Unlock()
	if errs.Load() > 0 {
		fmt.Fprintf(os.Stderr, "centrifugo: %d publish errors\n", errs.Load())
	}
	if len(lat) == 0 {
		return 0, 0, errors.New("no publication arrived")
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(f float64) float64 { return float64(lat[int(float64(len(lat)-1)*f)]) / 1e6 }
	fmt.Fprintf(os.Stderr, "centrifugo xnotify %d/s: %d/%d received\n", rate, len(lat), sent.Load())
	return q(0.5), q(0.99), nil
}

// cfFanout subscribes subscribers connections on addr, publishes writes
// messages back to back (each awaiting its reply, not its deliveries) and
// returns deliveries per second from the first publication to the last
// delivery.
func cfFanout(addr string, subscribers, writes int) (float64, error) {
	var delivered atomic.Int64
	want := int64(subscribers * writes)
	done := make(chan struct{})
	var once sync.Once
	onPub := func(json.RawMessage) {
		if delivered.Add(1) == want {
			once.Do(func() { close(done) })
		}
	}
	subs := make([]*cfClient, 0, subscribers)
	defer func() {
		for _, s := range subs {
			s.ws.Close()
		}
	}()
	// Subscribing 10,000 connections one by one takes long; 32 at a time.
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for range subscribers {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := cfDial(addr, onPub)
			if err == nil {
				err = c.call("subscribe", map[string]any{"channel": "fan"})
			}
			mu.Lock()
			defer mu.Unlock()
			if c != nil {
				subs = append(subs, c)
			}
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	pub, err := cfDial(addr, nil)
	if err != nil {
		return 0, err
	}
	defer pub.ws.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	t0 := time.Now()
	for i := range writes {
		if err := pub.call("publish", map[string]any{"channel": "fan", "data": map[string]any{"team": "blue", "i": i}}); err != nil {
			return 0, err
		}
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
	el := time.Since(t0)
	fmt.Fprintf(os.Stderr, "centrifugo fan-out: %d/%d delivered in %.2f s\n", delivered.Load(), want, el.Seconds())
	return float64(delivered.Load()) / el.Seconds(), nil
}

// ---- report ----

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func report(o options, res map[string][]row) {
	k, c := res["korum"], res["centrifugo"]
	col := func(rs []row, f func(row) float64) (float64, string) {
		var v []string
		var all []float64
		for _, r := range rs {
			x := f(r)
			all = append(all, x)
			v = append(v, strconv.FormatFloat(x, 'f', 2, 64))
		}
		return median(all), strings.Join(v, ", ")
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	fmt.Fprintf(w, "\n| row | Korum (median; runs) | Centrifugo 6.9.1 (median; runs) | Korum ÷ Centrifugo | target |\n|---|---|---|---|---|\n")
	// ok says whether a ratio (Korum ÷ Centrifugo) meets its target.
	line := func(name string, f func(row) float64, unit, target string, ok func(float64) bool) {
		km, kv := col(k, f)
		cm, cv := col(c, f)
		ratio := "–"
		if km > 0 && cm > 0 {
			verdict := "met"
			if !ok(km / cm) {
				verdict = "**not met**"
			}
			ratio = fmt.Sprintf("%.2f (%s)", km/cm, verdict)
		}
		fmt.Fprintf(w, "| %s | %.2f %s (%s) | %.2f %s (%s) | %s | %s |\n", name, km, unit, kv, cm, unit, cv, ratio, target)
	}
	within2 := func(r float64) bool { return r <= 2 }
	for i, rate := range o.rates {
		line(fmt.Sprintf("cross-node notification %d/s, p50", rate), func(r row) float64 { return r.p50[i] }, "ms", "≤ 2", within2)
		line(fmt.Sprintf("cross-node notification %d/s, p99", rate), func(r row) float64 { return r.p99[i] }, "ms", "≤ 2", within2)
	}
	line(fmt.Sprintf("fan-out, one node, %d subscribers × %d", o.subscribers, o.writes), func(r row) float64 { return r.deliveries },
		"deliveries/s", "≥ 2", func(r float64) bool { return r >= 2 })
	line(fmt.Sprintf("peak RSS, one node, %d subscribers", o.subscribers), func(r row) float64 { return r.rssMB },
		"MB", "< 1", func(r float64) bool { return r < 1 })
}
