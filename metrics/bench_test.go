package metrics

import (
	"testing"
	"time"
)

// The cost a request pays for metrics: one call of its action's function
// (a counter, a histogram), from all processors at once as under load.
func BenchmarkForAction(b *testing.B) {
	f := New(Sources{}).ForAction("document", "get")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			f(time.Millisecond, "")
		}
	})
}
