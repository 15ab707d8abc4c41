package jepsen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// A minimal Kuzzle WebSocket client written against the protocol, not
// against Korum's code: requests are JSON objects with a requestId, answers
// carry it back, and notifications carry the subscription's channel in "room".

// Response is Kuzzle's response envelope (the parts the harness reads).
type Response struct {
	RequestID string          `json:"requestId"`
	Status    int             `json:"status"`
	Error     *KError         `json:"error"`
	Result    json.RawMessage `json:"result"`
	Node      string          `json:"node"`
	Room      string          `json:"room"`
	Type      string          `json:"type"`
	Action    string          `json:"action"`
}

// KError is Kuzzle's error object.
type KError struct {
	ID      string `json:"id"`
	Status  int    `json:"status"`
	Message string `json:"message"`
}

func (e *KError) Error() string { return fmt.Sprintf("%s (%d): %s", e.ID, e.Status, e.Message) }

// errNotSent means the request never left the client: it cannot have taken effect.
var errNotSent = errors.New("not sent")

// Conn is one WebSocket connection to one node.
type Conn struct {
	Node string
	// JWT, when set, is sent with every request that names no token of its own.
	JWT string
	ws  *websocket.Conn

	wmu     sync.Mutex
	mu      sync.Mutex
	pending map[string]chan Response
	closed  chan struct{}
	err     error
	notify  chan Response
	seq     atomic.Int64
}

// Dial opens a connection to node at ip.
func Dial(ctx context.Context, node, ip string) (*Conn, error) {
	d := websocket.Dialer{HandshakeTimeout: 2 * time.Second, NetDialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext}
	ws, _, err := d.DialContext(ctx, fmt.Sprintf("ws://%s:%d/", ip, apiPort), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNotSent, err)
	}
	c := &Conn{Node: node, ws: ws, pending: map[string]chan Response{}, closed: make(chan struct{}), notify: make(chan Response, 4096)}
	go c.read()
	return c, nil
}

func (c *Conn) read() {
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			close(c.closed)
			return
		}
		var r Response
		if json.Unmarshal(data, &r) != nil {
			continue
		}
		if r.Room != "" && r.Type == "document" {
			select {
			case c.notify <- r:
			default: // the subscriber fell behind by 4096: it will show as missed
			}
			continue
		}
		c.mu.Lock()
		ch := c.pending[r.RequestID]
		delete(c.pending, r.RequestID)
		c.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	}
}

// Closed is closed when the connection ends; Err then says why.
func (c *Conn) Closed() <-chan struct{} { return c.closed }

// Err is the error that ended the connection.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Notifications delivers document notifications.
func (c *Conn) Notifications() <-chan Response { return c.notify }

// Close closes the connection.
func (c *Conn) Close() { _ = c.ws.Close() }

// Do sends req and waits for its answer. An error wrapping errNotSent
// means the request was never sent; any other error leaves its effect unknown.
func (c *Conn) Do(ctx context.Context, req map[string]any, timeout time.Duration) (Response, error) {
	id := c.Node + "-" + strconv.FormatInt(c.seq.Add(1), 10)
	req["requestId"] = id
	if _, own := req["jwt"]; !own && c.JWT != "" {
		req["jwt"] = c.JWT
	}
	ch := make(chan Response, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return Response{}, fmt.Errorf("%w: connection closed: %v", errNotSent, c.err)
	}
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()
	c.wmu.Lock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(timeout))
	err := c.ws.WriteJSON(req)
	c.wmu.Unlock()
	if err != nil {
		// A failed write may still have pushed bytes out: unknown.
		return Response{}, fmt.Errorf("send: %v", err)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		if r.Error != nil {
			return r, r.Error
		}
		return r, nil
	case <-c.closed:
		return Response{}, fmt.Errorf("connection lost: %v", c.Err())
	case <-t.C:
		return Response{}, errors.New("timeout")
	case <-ctx.Done():
		return Response{}, ctx.Err()
	}
}

// writeOutcome classifies a write's error: only requests that never left,
// and refusals Kuzzle defines as happening before any change (bad request,
// missing index, overload, shutting down), are definite failures.
func writeOutcome(err error) Outcome {
	if err == nil {
		return OK
	}
	if errors.Is(err, errNotSent) {
		return Fail
	}
	var ke *KError
	if errors.As(err, &ke) {
		switch ke.ID {
		case "api.process.overloaded", "api.process.shutting_down":
			return Fail
		}
		if ke.Status == 400 || ke.Status == 404 || ke.Status == 412 {
			return Fail
		}
	}
	return Info
}
