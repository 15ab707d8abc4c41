package integration

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

type wsClient struct {
	t  *testing.T
	ws *websocket.Conn
}

func (c *wsClient) send(req map[string]any) {
	c.t.Helper()
	b, _ := json.Marshal(req)
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		c.t.Fatal(err)
	}
}

// next returns the next message satisfying pred, skipping others.
func (c *wsClient) next(pred func(map[string]any) bool) map[string]any {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_ = c.ws.SetReadDeadline(deadline)
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.t.Fatalf("reading: %v", err)
		}
		var m map[string]any
		json.Unmarshal(data, &m)
		if pred(m) {
			return m
		}
	}
}

func (c *wsClient) call(req map[string]any) map[string]any {
	c.t.Helper()
	id := req["controller"].(string) + ":" + req["action"].(string) + time.Now().Format("150405.000000000")
	req["requestId"] = id
	c.send(req)
	m := c.next(func(m map[string]any) bool { return m["requestId"] == id && m["room"] == id })
	if m["error"] != nil {
		c.t.Fatalf("%s: %v", id, m["error"])
	}
	return m
}

func TestJoinPublishAndCount(t *testing.T) {
	p := start(t, "")
	a := &wsClient{t, dial(t, p)}
	b := &wsClient{t, dial(t, p)}
	a.call(map[string]any{"controller": "index", "action": "create", "index": "rt"})
	a.call(map[string]any{"controller": "collection", "action": "create", "index": "rt", "collection": "c"})
	sub := a.call(map[string]any{"controller": "realtime", "action": "subscribe", "index": "rt", "collection": "c",
		"body": map[string]any{"geoDistance": map[string]any{"pos": map[string]any{"lat": 48.85, "lon": 2.35}, "distance": "10km"}}})
	roomID := sub["result"].(map[string]any)["roomId"].(string)
	joined := b.call(map[string]any{"controller": "realtime", "action": "join", "body": map[string]any{"roomId": roomID}, "scope": "in"})
	channel := joined["result"].(map[string]any)["channel"].(string)
	if !strings.HasPrefix(channel, roomID) {
		t.Fatalf("channel %q of room %q", channel, roomID)
	}
	count := a.call(map[string]any{"controller": "realtime", "action": "count", "body": map[string]any{"roomId": roomID}})
	if count["result"].(map[string]any)["count"] != float64(2) {
		t.Fatalf("count: %v", count["result"])
	}
	a.call(map[string]any{"controller": "realtime", "action": "publish", "index": "rt", "collection": "c",
		"body": map[string]any{"pos": map[string]any{"lat": 48.86, "lon": 2.34}}, "volatile": map[string]any{"who": "a"}})
	n := b.next(func(m map[string]any) bool { return m["type"] == "document" })
	if n["room"] != channel || n["action"] != "publish" || n["event"] != "publish" || n["volatile"].(map[string]any)["who"] != "a" {
		t.Fatalf("publish notification: %v", n)
	}
	bad := map[string]any{"controller": "realtime", "action": "join", "body": map[string]any{"roomId": "nope"}, "requestId": "j"}
	b.send(bad)
	if m := b.next(func(m map[string]any) bool { return m["requestId"] == "j" }); m["status"] != float64(404) {
		t.Fatalf("join of an unknown room: %v", m)
	}
	_, env := p.do(t, "POST", "/_query", `{"controller":"realtime","action":"subscribe","index":"rt","collection":"c","body":{}}`)
	if env.Error == nil || env.Error.ID != "api.assert.unsupported_protocol" {
		t.Fatalf("subscribe over HTTP: %+v", env.Error)
	}
}

func TestSlowConsumerIsDisconnected(t *testing.T) {
	p := start(t, "")
	w := &wsClient{t, dial(t, p)}
	w.call(map[string]any{"controller": "index", "action": "create", "index": "s"})
	w.call(map[string]any{"controller": "collection", "action": "create", "index": "s", "collection": "c"})
	// A subscriber that never reads: the server must drop it rather than
	// buffer without bound or slow the writer down.
	slow := &wsClient{t, dial(t, p)}
	slow.call(map[string]any{"controller": "realtime", "action": "subscribe", "index": "s", "collection": "c", "body": map[string]any{}})
	pad := strings.Repeat("x", 8<<10)
	docs := make([]any, 100)
	for i := range docs {
		docs[i] = map[string]any{"body": map[string]any{"pad": pad}}
	}
	deadline := time.Now().Add(60 * time.Second)
	for closed := false; !closed; {
		if time.Now().After(deadline) {
			t.Fatal("the slow consumer was never disconnected")
		}
		w.call(map[string]any{"controller": "document", "action": "mCreate", "index": "s", "collection": "c",
			"body": map[string]any{"documents": docs}, "silent": false})
		_, env := p.do(t, "POST", "/_query", `{"controller":"realtime","action":"list"}`)
		closed = !strings.Contains(string(env.Result), `"c":{`)
	}
	// The writer's own connection still works.
	w.call(map[string]any{"controller": "server", "action": "now"})
}
