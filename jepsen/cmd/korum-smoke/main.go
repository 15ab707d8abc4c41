// Command korum-smoke checks a running deployment end to end through one
// address (the docker-compose balancer by default): readiness, HTTP writes
// and reads, a WebSocket subscription that receives the notification of a
// write made over HTTP, and /cluster/_status. Exit 0 when all pass.
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
	"time"

	"github.com/gorilla/websocket"
)

func main() {
	addr := flag.String("addr", "localhost:7512", "host:port of the API (the balancer)")
	wait := flag.Duration("wait", 60*time.Second, "how long to wait for /_ready")
	flag.Parse()
	if err := run(*addr, *wait); err != nil {
		fmt.Fprintln(os.Stderr, "korum-smoke: FAIL:", err)
		os.Exit(1)
	}
	fmt.Println("korum-smoke: OK")
}

func httpDo(method, url string, body any) (map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var env map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return nil, fmt.Errorf("%s %s: %v", method, url, err)
	}
	if env["error"] != nil {
		return env, fmt.Errorf("%s %s: %v", method, url, env["error"])
	}
	return env, nil
}

func run(addr string, wait time.Duration) error {
	base := "http://" + addr
	deadline := time.Now().Add(wait)
	for {
		resp, err := http.Get(base + "/_ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("/_ready not 200 within %s (last: %v)", wait, err)
		}
		time.Sleep(300 * time.Millisecond) // polling a deployment, with a deadline
	}
	fmt.Println("ready")
	idx := fmt.Sprintf("smoke%d", time.Now().UnixNano())
	// Without clustering, the balancer spreads requests over independent
	// nodes: do the whole scenario over one WebSocket connection.
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/", nil)
	if err != nil {
		return fmt.Errorf("websocket through the balancer: %v", err)
	}
	defer ws.Close()
	seq := 0
	var notes []map[string]any // notifications read while waiting for answers
	call := func(req map[string]any) (map[string]any, error) {
		seq++
		id := fmt.Sprintf("smoke-%d", seq)
		req["requestId"] = id
		fmt.Printf("-> %s:%s\n", req["controller"], req["action"])
		if err := ws.WriteJSON(req); err != nil {
			return nil, err
		}
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			var m map[string]any
			if err := ws.ReadJSON(&m); err != nil {
				return nil, err
			}
			if m["type"] == "document" {
				notes = append(notes, m)
				continue
			}
			if m["requestId"] == id {
				if m["error"] != nil {
					return m, fmt.Errorf("%v", m["error"])
				}
				return m, nil
			}
		}
	}
	if _, err := call(map[string]any{"controller": "index", "action": "create", "index": idx}); err != nil {
		return err
	}
	if _, err := call(map[string]any{"controller": "collection", "action": "create", "index": idx, "collection": "c"}); err != nil {
		return err
	}
	sub, err := call(map[string]any{"controller": "realtime", "action": "subscribe", "index": idx, "collection": "c", "body": map[string]any{}})
	if err != nil {
		return err
	}
	channel, _ := sub["result"].(map[string]any)["channel"].(string)
	if _, err := call(map[string]any{"controller": "document", "action": "create", "index": idx, "collection": "c", "_id": "d1", "body": map[string]any{"n": 1}}); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for notified := false; !notified && ctx.Err() == nil; {
		for _, m := range notes {
			notified = notified || m["room"] == channel
		}
		if notified {
			fmt.Println("websocket: subscribed, wrote, notified")
			break
		}
		var m map[string]any
		if err := ws.ReadJSON(&m); err != nil {
			return fmt.Errorf("waiting for the notification: %v", err)
		}
		notes = append(notes, m)
	}
	got, err := call(map[string]any{"controller": "document", "action": "get", "index": idx, "collection": "c", "_id": "d1"})
	if err != nil {
		return err
	}
	fmt.Printf("document read back on node %v\n", got["node"])
	if _, err := httpDo(http.MethodGet, base+"/", nil); err != nil {
		return fmt.Errorf("HTTP through the balancer: %v", err)
	}
	st, err := httpDo(http.MethodGet, base+"/cluster/_status", nil)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(st["result"])
	fmt.Printf("cluster status: %s\n", b)
	if _, err := call(map[string]any{"controller": "index", "action": "delete", "index": idx}); err != nil {
		return err
	}
	return nil
}
