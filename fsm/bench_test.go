package fsm

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/korumdb/korum/realtime"
	"github.com/korumdb/korum/storage/embedded"
)

// benchBatch applies batches of n commands built by mk, one batch per
// iteration, and reports the cost per command.
func benchBatch(b *testing.B, n int, mk func(i int) *Command) {
	store, err := embedded.Open(filepath.Join(b.TempDir(), "docs.db"), embedded.Options{Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	f := New(store, nil, quiet())
	var idx uint64
	seq := 0
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		enc := make([][]byte, n)
		for k := range enc {
			seq++
			c := mk(seq)
			c.Key = fmt.Sprintf("knode-12345678-m1abcdef-%x", seq)
			enc[k], _ = c.Encode()
		}
		data := EncodeBatch(enc)
		b.StartTimer()
		idx++
		f.ApplyBatch([]*raft.Log{{Index: idx, Type: raft.LogCommand, Data: data}})
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/cmd")
}

func BenchmarkApplyBatchRoomCreated(b *testing.B) {
	benchBatch(b, 64, func(i int) *Command {
		return &Command{Kind: KindRoomCreated, Room: &RoomChange{ID: fmt.Sprintf("%064x", i), Index: "bench", Collection: "docs",
			Canonical: json.RawMessage(fmt.Sprintf(`[[{"equals":{"k":"%d-1-1764020000000000000"}}]]`, i)), Node: "knode-12345678", Seq: uint64(i)}}
	})
}

func BenchmarkApplyBatchPublish(b *testing.B) {
	benchBatch(b, 64, func(i int) *Command {
		return &Command{Kind: KindPublish, Meta: &realtime.Meta{RequestID: fmt.Sprint(i), Timestamp: 1764020000000, Controller: "realtime",
			Action: "publish", Protocol: "websocket", Node: "knode-12345678"},
			Publish: &Publish{Index: "bench", Collection: "xn", Body: map[string]any{"sentAt": 1.764e18}}}
	})
}

func BenchmarkEncodeRoomCreated(b *testing.B) {
	c := &Command{Kind: KindRoomCreated, Key: "knode-12345678-m1abcdef-1f", Room: &RoomChange{ID: fmt.Sprintf("%064x", 7), Index: "bench", Collection: "docs",
		Canonical: json.RawMessage(`[[{"equals":{"k":"7-1-1764020000000000000"}}]]`), Node: "knode-12345678", Seq: 7}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}
