package api

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/korumdb/korum/metrics"
)

// BenchmarkDispatchMetrics is what metrics add to a request's path: the
// same cheap action (server:now) dispatched without and with the
// Prometheus observer, from all processors at once.
func BenchmarkDispatchMetrics(b *testing.B) {
	for _, observed := range []bool{false, true} {
		name := "off"
		if observed {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			s := NewServer(&secBackend{memSecurity: newMemSecurity()}, Limits{ConcurrentRequests: 1000, RequestsBuffer: 1000},
				slog.New(slog.NewTextHandler(io.Discard, nil)))
			if observed {
				s.ObserveRequests(metrics.New(metrics.Sources{}))
			}
			rt := s.Router()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp := rt.Dispatch(context.Background(), &Request{RequestID: "r", Controller: "server", Action: "now"})
					if resp.Error != nil {
						b.Fatal(resp.Error)
					}
				}
			})
		})
	}
}
