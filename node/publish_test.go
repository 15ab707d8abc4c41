package node

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/korumdb/korum/realtime"
)

// peerNet stands in for the cluster port: a call to "down" blocks until its
// deadline (a partitioned peer), a call to anyone else records the batch.
type peerNet struct {
	mu  sync.Mutex
	got map[string][]pubMessage
}

func (p *peerNet) Call(ctx context.Context, addr, method string, req []byte) ([]byte, error) {
	if method != rpcPublish {
		return nil, errors.New("unexpected method " + method)
	}
	if addr == "down" {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	msgs, err := decodePublishBatch(req)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.got[addr] = append(p.got[addr], msgs...)
	p.mu.Unlock()
	return nil, nil
}

func (p *peerNet) ids(addr string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, m := range p.got[addr] {
		out = append(out, m.ID)
	}
	return out
}

// A peer that hangs fills its own queue only: the publisher never blocks,
// the others get every message once and in order, and the overflow is
// counted.
func TestPublisherIsolatesADownPeer(t *testing.T) {
	net := &peerNet{got: map[string][]pubMessage{}}
	done := make(chan struct{})
	defer close(done)
	p := newPublisher(net, time.Hour, done, quietLog())
	const total = publishQueueLen + 1000
	var want []string
	for i := range total {
		m := pubMessage{Index: "i", Collection: "c", ID: string(rune('a'+i%26)) + string(rune('0'+i%10)), Body: map[string]any{"n": float64(i)}}
		b, err := json.Marshal(&m)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, m.ID)
		p.send([]string{"down", "b", "c"}, b) // must not block on "down"
		// Paced so that b's and c's queues never fill (a sender that
		// fell behind a burst may drop, by design): "down"'s does.
		if (i+1)%1000 == 0 {
			for _, addr := range []string{"b", "c"} {
				waitFor(t, addr+" keeps up", func() bool { return len(net.ids(addr)) >= i+1 })
			}
		}
	}
	for _, addr := range []string{"b", "c"} {
		waitFor(t, addr+" receives every publication", func() bool { return len(net.ids(addr)) >= total })
		if got := net.ids(addr); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s got %d messages, not the %d sent in order", addr, len(got), len(want))
		}
	}
	// "down" holds one batch in its call and a full queue; the rest dropped.
	waitFor(t, "the sends to b and c counted", func() bool { return p.sent.Load() == 2*total })
	st := p.stats()
	if st.Dropped == 0 || st.Dropped >= total {
		t.Fatalf("dropped %d of %d for the hung peer", st.Dropped, total)
	}
	if st.Sent != 2*total || st.Queued["b"] != 0 || st.Queued["down"] == 0 {
		t.Fatalf("stats %+v: want %d sent, nothing queued for b, a backlog for down", st, 2*total)
	}
}

func TestPublishBatchRoundTrip(t *testing.T) {
	in := []pubMessage{
		{Index: "i", Collection: "c", ID: "x", Body: map[string]any{"a": 1.5, "s": "é"},
			Meta: realtime.Meta{RequestID: "r", Timestamp: 7, Volatile: map[string]any{"v": true}, Node: "n1"}},
		{Index: "i", Collection: "d", Body: map[string]any{}},
	}
	var batch []byte
	for i := range in {
		b, err := json.Marshal(&in[i])
		if err != nil {
			t.Fatal(err)
		}
		batch = appendPublishMessage(batch, b)
	}
	out, err := decodePublishBatch(batch)
	if err != nil || !reflect.DeepEqual(out, in) {
		t.Fatalf("decoded %+v, %v", out, err)
	}
	if out, err := decodePublishBatch(batch[:len(batch)-1]); err == nil || len(out) != 1 {
		t.Fatalf("a truncated batch: %d messages, err %v", len(out), err)
	}
}

// A peer's batch is untrusted input to the decoder: it must never panic,
// and whatever it accepts must re-encode to a batch it reads the same.
func FuzzDecodePublishBatch(f *testing.F) {
	f.Add(appendPublishMessage(nil, []byte(`{"i":"i","c":"c","b":{"a":1},"m":{"timestamp":1}}`)))
	f.Add([]byte{0, 0, 0, 2, '{', '}'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, err := decodePublishBatch(b)
		if err != nil {
			return
		}
		var again []byte
		for i := range msgs {
			e, err := json.Marshal(&msgs[i])
			if err != nil {
				t.Fatal(err)
			}
			again = appendPublishMessage(again, e)
		}
		back, err := decodePublishBatch(again)
		if err != nil || len(back) != len(msgs) {
			t.Fatalf("re-encoded batch: %d messages, %v", len(back), err)
		}
	})
}
