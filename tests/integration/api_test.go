package integration

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestHTTPEnvelopeAndHeaders(t *testing.T) {
	p := start(t, "")
	resp, env := p.do(t, "POST", "/books/_create", "")
	if env.Status != 200 || resp.StatusCode != 200 || env.Error != nil {
		t.Fatalf("index create: %d %+v", resp.StatusCode, env.Error)
	}
	if resp.Header.Get("X-Kuzzle-Request-Id") != env.RequestID || env.RequestID == "" {
		t.Fatalf("request id header %q vs envelope %q", resp.Header.Get("X-Kuzzle-Request-Id"), env.RequestID)
	}
	if resp.Header.Get("X-Kuzzle-Node") == "" || resp.Header.Get("X-Kuzzle-Node") != env.Node {
		t.Fatalf("node header %q vs envelope %q", resp.Header.Get("X-Kuzzle-Node"), env.Node)
	}
	if *env.Controller != "index" || *env.Action != "create" || *env.Index != "books" || env.Collection != nil {
		t.Fatalf("envelope fields: %+v", env)
	}

	_, env = p.do(t, "GET", "/_i_am_not_a_valid_url", "")
	if env.Status != 404 || env.Error.ID != "network.http.url_not_found" || env.Error.Code != 50397191 {
		t.Fatalf("unknown url: %+v", env.Error)
	}
	p.do(t, "PUT", "/books/fiction", "{}")
	_, env = p.do(t, "POST", "/books/fiction/_create", "{not json")
	if env.Status != 400 || env.Error.ID != "network.http.body_parse_failed" {
		t.Fatalf("malformed body: %+v", env.Error)
	}
	big := `{"a":"` + strings.Repeat("x", 2<<20) + `"}`
	_, env = p.do(t, "POST", "/books/fiction/_create", big)
	if env.Status != 413 || env.Error.ID != "network.http.request_too_large" {
		t.Fatalf("oversized body: %+v", env.Error)
	}
	_, env = p.do(t, "POST", "/_query", `{"controller":"document","action":"get","index":"books","collection":"fiction"}`)
	if env.Status != 400 || env.Error.ID != "api.assert.missing_argument" || !strings.Contains(env.Error.Message, "_id") {
		t.Fatalf("missing argument: %+v", env.Error)
	}
	_, env = p.do(t, "POST", "/_query", `{"controller":"document","action":"create","index":"books","collection":"fiction","_id":"_x","body":{}}`)
	if env.Error == nil || env.Error.ID != "api.assert.invalid_id" {
		t.Fatalf("invalid id: %+v", env.Error)
	}
	_, env = p.do(t, "POST", "/_query", `{"controller":"document","action":"search","index":"books","collection":"fiction","size":"many"}`)
	if env.Error == nil || env.Error.ID != "api.assert.invalid_type" {
		t.Fatalf("wrong-typed size: %+v", env.Error)
	}
	if r, _ := http.Get("http://" + p.api + "/_healthcheck"); r == nil || r.StatusCode != 200 {
		t.Fatal("/_healthcheck should answer 200")
	}
}

func dial(t *testing.T, p *proc) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+p.api+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

func readEnvelope(t *testing.T, ws *websocket.Conn) envelope {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, data, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("reading: %v", err)
	}
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatalf("not an envelope: %s", data)
	}
	return env
}

func TestWebSocketProtocol(t *testing.T) {
	p := start(t, "", "--max-request-size", "64kb")
	ws := dial(t, p)

	// Application ping.
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"p":1}`)); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, data, err := ws.ReadMessage(); err != nil || string(data) != `{"p":2}` {
		t.Fatalf("app ping: %q %v", data, err)
	}

	// Protocol ping frames are answered with pongs.
	pong := make(chan string, 1)
	ws.SetPongHandler(func(s string) error { pong <- s; return nil })
	if err := ws.WriteControl(websocket.PingMessage, []byte("hi"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	send := func(msg string) envelope {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		return readEnvelope(t, ws) // also pumps control frames
	}
	env := send(`{"controller":"server","action":"now","requestId":"r1","volatile":{"v":1}}`)
	if env.Room != "r1" || env.RequestID != "r1" || env.Status != 200 || env.Volatile["v"] != float64(1) {
		t.Fatalf("server:now over ws: %+v", env)
	}
	select {
	case s := <-pong:
		if s != "hi" {
			t.Fatalf("pong payload %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no pong for a ping frame")
	}

	// Malformed and unknown requests get errors; the socket stays open.
	if env = send(`{"controller":`); env.Error == nil || env.Error.ID != "network.http.body_parse_failed" {
		t.Fatalf("malformed json: %+v", env)
	}
	if env = send(`[1,2]`); env.Error == nil || env.Status != 400 {
		t.Fatalf("non-object: %+v", env)
	}
	if env = send(`{"controller":"nope","action":"x","requestId":"r2"}`); env.Error.ID != "api.process.controller_not_found" || env.Room != "r2" {
		t.Fatalf("unknown controller: %+v", env)
	}
	if env = send(`{"controller":"server","action":"nope"}`); env.Error.ID != "api.process.action_not_found" {
		t.Fatalf("unknown action: %+v", env)
	}
	big := `{"controller":"server","action":"now","pad":"` + strings.Repeat("x", 100<<10) + `"}`
	if env = send(big); env.Error == nil || env.Error.Status != 413 {
		t.Fatalf("oversized frame: %+v", env)
	}
	if env = send(`{"controller":"server","action":"now","requestId":"after"}`); env.Status != 200 || env.RequestID != "after" {
		t.Fatalf("the socket should still serve after errors: %+v", env)
	}
}

func TestRestartKeepsDocumentsAndIdentity(t *testing.T) {
	dir := t.TempDir()
	p := start(t, dir)
	p.do(t, "POST", "/keep/_create", "")
	p.do(t, "PUT", "/keep/c", "{}")
	_, env := p.do(t, "POST", "/keep/c/d1/_create", `{"n":42}`)
	if env.Status != 200 {
		t.Fatalf("create: %+v", env.Error)
	}
	node := env.Node
	if code := p.stop(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM\n%s", code, p.Logs())
	}
	q := start(t, dir)
	_, env = q.do(t, "GET", "/keep/c/d1", "")
	if env.Status != 200 || !strings.Contains(string(env.Result), `"n":42`) {
		t.Fatalf("document lost across restart: %+v %s", env.Error, env.Result)
	}
	if env.Node != node {
		t.Fatalf("node id changed across restart: %s → %s", node, env.Node)
	}
}

func runKorum(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(korumBin, args...)
	out, _ := cmd.CombinedOutput()
	return cmd.ProcessState.ExitCode(), string(out)
}

func TestBadConfigurationIsRefused(t *testing.T) {
	code, out := runKorum(t, "--help")
	if code != 0 || !strings.Contains(out, "--data-dir") || !strings.Contains(out, "KORUM_DATA_DIR") {
		t.Fatalf("--help: %d %s", code, out)
	}
	code, out = runKorum(t, "--concurrent-requests", "lots")
	if code != 2 || !strings.Contains(out, "limits.concurrentRequests") {
		t.Fatalf("bad flag: %d %s", code, out)
	}
	cfg := filepath.Join(t.TempDir(), "korum.json")
	os.WriteFile(cfg, []byte(`{"server":{"apiAdr":":1"}}`), 0o644)
	code, out = runKorum(t, "--config", cfg)
	if code != 2 || !strings.Contains(out, "server.apiAdr") || !strings.Contains(out, "unknown key") {
		t.Fatalf("unknown key: %d %s", code, out)
	}
	os.WriteFile(cfg, []byte(`{"storage":{"readConsistency":"sometimes"}}`), 0o644)
	code, out = runKorum(t, "--config", cfg)
	if code != 2 || !strings.Contains(out, "storage.readConsistency") {
		t.Fatalf("bad value: %d %s", code, out)
	}
	cmd := exec.Command(korumBin)
	cmd.Env = append(os.Environ(), "KORUM_MAX_REQUEST_SIZE=huge")
	out2, _ := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(out2), "server.maxRequestSize") {
		t.Fatalf("bad env: %s", out2)
	}
}
