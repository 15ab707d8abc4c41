package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// holdRooms subscribes to n distinct rooms over conns connections spread
// over addrs, prints a line once they all exist, then keeps them open
// until hold elapses or the process is signalled: a room exists only while
// someone is subscribed to it, so measuring a join against a big state
// needs the subscribers to stay.
func holdRooms(addrs string, n, conns, inflight int, hold time.Duration) {
	list := strings.Split(addrs, ",")
	admin, err := dial(list[0], nil)
	must(err)
	setup(admin, "bench", "rooms")
	clients := make([]*client, conns)
	for i := range clients {
		clients[i], err = dial(list[i%len(list)], nil)
		must(err)
	}
	var next atomic.Int64
	var errs atomic.Int64
	t0 := time.Now()
	var wg sync.WaitGroup
	for i := range conns * inflight {
		c := clients[i%conns]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := next.Add(1)
				if k > int64(n) {
					return
				}
				_, err := c.call(map[string]any{"controller": "realtime", "action": "subscribe", "index": "bench", "collection": "rooms",
					"body": map[string]any{"equals": map[string]any{"k": fmt.Sprintf("room-%d", k)}}})
				if err != nil {
					errs.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	fmt.Printf("| rooms | %d rooms over %d connections on %d nodes | created in %.2f s | %d errors |\n",
		n, conns, len(list), time.Since(t0).Seconds(), errs.Load())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-sig:
	case <-time.After(hold):
	}
	for _, c := range clients {
		c.ws.Close()
	}
}
