package api

import (
	"testing"
	"time"
)

// BenchmarkWSReply is a response's write as document:get makes it, one at
// a time: the server writes a ~200-byte reply and the client reads it
// before the next. The client runs in the same process, so the figures are
// both sides' cost; compare the variants with each other. cpu-ns/op (the
// process's CPU time per reply) is steadier than ns/op on a busy host.
func BenchmarkWSReply(b *testing.B) {
	for _, v := range []struct {
		name string
		srv  func(testing.TB) (*Server, string)
	}{{"ws", newWSServer}, {"wss", newWSSServer}, {"wss-blocking", newWSSBlockingServer}} {
		b.Run(v.name, func(b *testing.B) {
			s, url := v.srv(b)
			ws, c := dialWS(b, s, url)
			resp := &Response{RequestID: "0123456789abcdef", Status: 200, Result: map[string]any{"_id": "hot", "_version": 1,
				"_source": map[string]any{"name": "a benchmark document", "n": 42, "tags": []string{"a", "b"}}}}
			_ = ws.SetReadDeadline(time.Now().Add(time.Minute))
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := processCPU()
			for range b.N {
				c.reply(resp)
				if _, _, err := ws.ReadMessage(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
