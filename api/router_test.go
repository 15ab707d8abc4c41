package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"
)

// blockingBackend's Count runs until its context ends, as a scan does.
// wsBackend gives it a fresh node's security.
type blockingBackend struct {
	wsBackend
	started chan struct{}
}

func (b *blockingBackend) NodeID() string                        { return "n1" }
func (b *blockingBackend) Now() time.Time                        { return time.Now() }
func (b *blockingBackend) ReadBarrier(ctx context.Context) error { return nil }
func (b *blockingBackend) GetBarrier(ctx context.Context) error  { return nil }
func (b *blockingBackend) Count(ctx context.Context, _, _ string, _ json.RawMessage) (int, error) {
	close(b.started)
	<-ctx.Done()
	return 0, ctx.Err()
}

func countRequest() *Request {
	return &Request{Controller: "document", Action: "count", Args: map[string]any{"index": "i", "collection": "c"}}
}

// TestRequestTimeout: past limits.requestTimeout the request's context is
// cancelled, its work stops and it answers Korum's request_timeout (504).
func TestRequestTimeout(t *testing.T) {
	b := &blockingBackend{started: make(chan struct{})}
	rt := NewRouter(b, Limits{RequestTimeout: 50 * time.Millisecond}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	resp := rt.Dispatch(context.Background(), countRequest())
	if resp.Error == nil || resp.Error.ID != "api.process.request_timeout" || resp.Status != 504 {
		t.Fatalf("response: %d %+v", resp.Status, resp.Error)
	}
}

// TestRequestCancelledWithItsClient: a request whose caller goes away
// (HTTP client gone, WebSocket closed) stops, whatever the deadline.
func TestRequestCancelledWithItsClient(t *testing.T) {
	b := &blockingBackend{started: make(chan struct{})}
	rt := NewRouter(b, Limits{RequestTimeout: time.Hour}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *Response)
	go func() { done <- rt.Dispatch(ctx, countRequest()) }()
	<-b.started
	cancel()
	select {
	case resp := <-done:
		if resp.Error == nil || resp.Error.ID != "api.process.connection_dropped" {
			t.Fatalf("response: %d %+v", resp.Status, resp.Error)
		}
	case <-time.After(time.Minute):
		t.Fatal("the request did not stop with its context")
	}
}
