package realtime

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
)

// counter is a connection that only counts what it is given, so the
// benchmark measures matching, encoding and dispatch.
type counter struct {
	id string
	n  *atomic.Int64
}

func (c counter) ID() string         { return c.id }
func (c counter) Send(b []byte) bool { c.n.Add(1); return true }

// BenchmarkFanout is one write matching a room with 10,000 subscribers on
// this node; deliveries/s is the figure to compare with the target.
func BenchmarkFanout(b *testing.B) {
	h, _ := newHub(b)
	var n atomic.Int64
	const subs = 10000
	for i := range subs {
		if _, err := h.Subscribe(context.Background(), counter{fmt.Sprintf("c%d", i), &n}, "i", "c", blue(), SubscribeOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	ev := write("d", "create", nil, map[string]any{"color": "blue", "n": 1.0, "name": "a typical document"})
	b.ResetTimer()
	for b.Loop() {
		h.DocumentChanged(ev)
	}
	b.ReportMetric(float64(n.Load())/b.Elapsed().Seconds(), "deliveries/s")
	if n.Load() != int64(subs*b.N) {
		b.Fatalf("delivered %d, want %d", n.Load(), subs*b.N)
	}
}
