// Command wsidle measures what an idle WebSocket connection costs a node:
// it opens -n connections to a running node, lets them sit idle, and
// reports the growth of the node's memory per connection, read from the
// node's /debug/pprof (--debug-addr) and from /proc/PID/status. It is a
// benchmark, not a test: it prints figures and never asserts on them.
//
//	korum --debug-addr 127.0.0.1:7790 ... &
//	wsidle -addr 127.0.0.1:7512 -debug 127.0.0.1:7790 -pid $! -n 10000 -sources 127.0.80.1-8
//
// With -request, each connection makes one request before it idles: what
// a connection holds after some activity, not only after its handshake.
//
// Connections are spread over the -sources addresses so that ephemeral
// ports do not run short. The clients answer the server's pings (gorilla's
// default handler) so that they stay connected however long the run.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7512", "node API address")
	debug := flag.String("debug", "", "node --debug-addr (heap and stack figures)")
	pid := flag.Int("pid", 0, "node process id (RSS figures)")
	n := flag.Int("n", 10000, "idle connections to open")
	sources := flag.String("sources", "", `local addresses to dial from: "127.0.80.1-8" or a comma list (default: any)`)
	settle := flag.Duration("settle", 5*time.Second, "idle time before the second measurement")
	request := flag.Bool("request", false, "each connection makes one request (server:now) before it idles")
	flag.Parse()

	src, err := parseSources(*sources)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsidle:", err)
		os.Exit(2)
	}
	before := measure(*debug, *pid)
	fmt.Printf("before: %s\n", before)

	var open atomic.Int64
	var failed atomic.Int64
	conns := make([]*websocket.Conn, *n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	start := time.Now()
	for i := range *n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			d := websocket.Dialer{HandshakeTimeout: 30 * time.Second}
			if len(src) > 0 {
				nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: src[i%len(src)]}}
				d.NetDial = func(network, a string) (net.Conn, error) { return nd.Dial(network, a) }
			}
			ws, _, err := d.Dial("ws://"+*addr+"/", nil)
			if err != nil {
				if failed.Add(1) <= 5 {
					fmt.Fprintln(os.Stderr, "dial:", err)
				}
				return
			}
			if *request {
				_ = ws.SetReadDeadline(time.Now().Add(30 * time.Second))
				err := ws.WriteMessage(websocket.TextMessage, []byte(`{"controller":"server","action":"now"}`))
				if err == nil {
					_, _, err = ws.ReadMessage()
				}
				_ = ws.SetReadDeadline(time.Time{})
				if err != nil {
					ws.Close()
					if failed.Add(1) <= 5 {
						fmt.Fprintln(os.Stderr, "request:", err)
					}
					return
				}
			}
			conns[i] = ws
			open.Add(1)
		}()
	}
	wg.Wait()
	fmt.Printf("opened %d connections in %v (%d failed)\n", open.Load(), time.Since(start).Round(time.Millisecond), failed.Load())
	for _, ws := range conns {
		if ws != nil {
			// Reading runs the default ping handler, which answers pings.
			go func() {
				for {
					if _, _, err := ws.NextReader(); err != nil {
						return
					}
				}
			}()
		}
	}
	time.Sleep(*settle)
	after := measure(*debug, *pid)
	fmt.Printf("after:  %s\n", after)
	if k := open.Load(); k > 0 {
		per := func(a, b int64) string {
			return strconv.FormatFloat(float64(a-b)/float64(k)/1024, 'f', 2, 64) + " KB"
		}
		fmt.Printf("per connection: heap in use %s, stacks %s, heap+stacks %s, RSS %s\n",
			per(after.heap, before.heap), per(after.stack, before.stack),
			per(after.heap+after.stack, before.heap+before.stack), per(after.rss, before.rss))
	}
	closed := 0
	for _, ws := range conns {
		if ws != nil {
			ws.Close()
			closed++
		}
	}
	fmt.Printf("closed %d\n", closed)
}

type figures struct{ heap, stack, rss int64 }

func (f figures) String() string {
	return fmt.Sprintf("heap in use %d KB, stacks %d KB, RSS %d KB", f.heap>>10, f.stack>>10, f.rss>>10)
}

// measure reads the node's heap and stacks after a collection (pprof's
// ?gc=1) and its resident set size.
func measure(debug string, pid int) figures {
	var f figures
	if debug != "" {
		resp, err := http.Get("http://" + debug + "/debug/pprof/heap?debug=1&gc=1")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, line := range strings.Split(string(body), "\n") {
				if v, ok := strings.CutPrefix(line, "# HeapInuse = "); ok {
					f.heap, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				}
				if v, ok := strings.CutPrefix(line, "# Stack = "); ok {
					// "# Stack = inuse / sys"
					f.stack, _ = strconv.ParseInt(strings.TrimSpace(strings.Split(v, "/")[0]), 10, 64)
				}
			}
		} else {
			fmt.Fprintln(os.Stderr, "heap:", err)
		}
	}
	if pid > 0 {
		fh, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
		if err == nil {
			sc := bufio.NewScanner(fh)
			for sc.Scan() {
				if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
					kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
					f.rss = kb << 10
				}
			}
			fh.Close()
		}
	}
	return f
}

func parseSources(s string) ([]net.IP, error) {
	if s == "" {
		return nil, nil
	}
	var out []net.IP
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if base, rng, ok := strings.Cut(part, "-"); ok {
			ip := net.ParseIP(base).To4()
			last, err := strconv.Atoi(rng)
			if ip == nil || err != nil || last < int(ip[3]) || last > 254 {
				return nil, fmt.Errorf("bad source range %q", part)
			}
			for b := int(ip[3]); b <= last; b++ {
				out = append(out, net.IPv4(ip[0], ip[1], ip[2], byte(b)))
			}
			continue
		}
		ip := net.ParseIP(part)
		if ip == nil {
			return nil, fmt.Errorf("bad source address %q", part)
		}
		out = append(out, ip)
	}
	return out, nil
}
