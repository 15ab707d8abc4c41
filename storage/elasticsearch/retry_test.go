package elasticsearch

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// MaxRetries counts retries of a 503; a negative value turns them off,
// which the node uses for storage.elasticsearch.maxRetries 0 (a retried
// write whose first answer was lost can apply twice).
func TestMaxRetries(t *testing.T) {
	for _, tc := range []struct {
		retries int
		want    int64
	}{{-1, 1}, {2, 3}} {
		var calls atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			w.Header().Set("X-Elastic-Product", "Elasticsearch")
			w.WriteHeader(http.StatusServiceUnavailable)
		}))
		e, err := New(Options{URLs: []string{srv.URL}, MaxRetries: tc.retries, RequestTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := e.Ping(ctx); err == nil {
			t.Fatal("a 503 answered Ping")
		}
		cancel()
		srv.Close()
		if got := calls.Load(); got != tc.want {
			t.Errorf("MaxRetries %d: %d requests, want %d", tc.retries, got, tc.want)
		}
	}
}
