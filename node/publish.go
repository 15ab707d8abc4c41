package node

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/korumdb/korum/fsm"
	"github.com/korumdb/korum/realtime"
)

// realtime:publish stores nothing, so it does not go through the log: the
// publishing node matches the message against its own rooms and sends it,
// over the cluster port, to the other nodes holding a room on the
// collection (fsm.PublishTargets), which match it against theirs. That is
// what Kuzzle does, and it costs one hop instead of a commit (fsm/DESIGN.md
// has the guarantees and the measurements).
const (
	rpcPublish = "realtime.publish"
	// rpcFence answers once the called node has applied every entry
	// committed before the call (a linearizable read): a subscriber to a
	// new room waits for it (realtime.Hub.SetFence).
	rpcFence = "realtime.fence"

	// publishQueueLen and publishQueueBytes bound what waits for one
	// peer; past them a message to that peer is dropped and counted, so a
	// slow or unreachable peer never blocks a publisher.
	publishQueueLen   = 8192
	publishQueueBytes = 32 << 20
	// publishBatchLen and publishBatchBytes bound one call: the messages
	// queued while the previous call was in flight go together.
	publishBatchLen   = 512
	publishBatchBytes = 1 << 20
	// publishIdle is how long a peer's sender waits for a message before
	// it exits (a node that left the cluster keeps no goroutine).
	publishIdle = time.Minute
)

// pubMessage is one publication as it travels between nodes.
type pubMessage struct {
	Index      string         `json:"i"`
	Collection string         `json:"c"`
	ID         string         `json:"id,omitempty"`
	Body       map[string]any `json:"b"`
	Meta       realtime.Meta  `json:"m"`
}

func (m *pubMessage) event() realtime.DocumentEvent {
	return realtime.DocumentEvent{Index: m.Index, Collection: m.Collection, Meta: m.Meta,
		Changes: []realtime.Change{{ID: m.ID, After: m.Body, Action: "publish"}}}
}

// directPublishVersion is the feature version from which publications
// travel node to node rather than through the log (v0.2.0 has no handler
// for them).
const directPublishVersion = 2

func (n *Node) Publish(ctx context.Context, index, collection, id string, body map[string]any, meta realtime.Meta) error {
	if n.fsm.FeatureVersion() < directPublishVersion {
		// A member of the previous release may hold subscribers and
		// knows only publications that come through the log: keep
		// them there until every member reads format 2.
		ctx, cancel := n.reqCtx(ctx)
		defer cancel()
		return n.propose(ctx, &fsm.Command{Kind: fsm.KindPublish, Meta: &meta,
			Publish: &fsm.Publish{Index: index, Collection: collection, ID: id, Body: body}}, nil)
	}
	m := pubMessage{Index: index, Collection: collection, ID: id, Body: body, Meta: meta}
	if peers := n.fsm.PublishTargets(index, collection, n.id); len(peers) > 0 {
		b, err := json.Marshal(&m)
		if err != nil {
			return fmt.Errorf("encoding a publication: %w", err)
		}
		n.pub.send(peers, b)
	}
	n.hub.DocumentChanged(m.event())
	return nil
}

// publishHandler delivers a batch of publications from a peer to this
// node's subscribers, in the order they were sent.
func (n *Node) publishHandler(_ context.Context, req []byte) ([]byte, error) {
	msgs, err := decodePublishBatch(req)
	for i := range msgs {
		n.hub.DocumentChanged(msgs[i].event())
	}
	return nil, err
}

func (n *Node) fenceHandler(ctx context.Context, _ []byte) ([]byte, error) {
	return nil, n.raft.LinearizableRead(ctx)
}

// fence returns once every other node has applied the log as far as it was
// committed when fence was called, or has failed to say so within the peer
// timeout (it then cannot serve either: see awaitPeers).
func (n *Node) fence(ctx context.Context) {
	if n.fsm.FeatureVersion() < directPublishVersion {
		return // publications still go through the log (see Publish)
	}
	if peers := n.otherMembers(); len(peers) > 0 {
		n.fanOutUntil(ctx, peers, rpcFence, nil, func([]byte) {})
	}
}

// A batch is a sequence of messages, each a big-endian u32 length and that
// many bytes of pubMessage JSON.
func appendPublishMessage(batch, msg []byte) []byte {
	batch = binary.BigEndian.AppendUint32(batch, uint32(len(msg)))
	return append(batch, msg...)
}

// decodePublishBatch reads a batch; on a malformed message it returns the
// messages before it and an error.
func decodePublishBatch(b []byte) ([]pubMessage, error) {
	var out []pubMessage
	for len(b) > 0 {
		if len(b) < 4 {
			return out, errors.New("a truncated publication length")
		}
		size := binary.BigEndian.Uint32(b)
		b = b[4:]
		if uint64(size) > uint64(len(b)) {
			return out, fmt.Errorf("a publication of %d bytes in %d", size, len(b))
		}
		var m pubMessage
		if err := json.Unmarshal(b[:size], &m); err != nil {
			return out, fmt.Errorf("decoding a publication: %w", err)
		}
		out = append(out, m)
		b = b[size:]
	}
	return out, nil
}

// caller is the node-to-node call the publisher sends batches with.
type caller interface {
	Call(ctx context.Context, addr, method string, req []byte) ([]byte, error)
}

// publisher keeps one sender per peer: a bounded queue and a goroutine
// that sends its content in order, one call at a time, so publications
// from this node reach each peer in the order they were published (the
// peer delivers a batch before answering). The calls share the cluster
// port's persistent, authenticated connection to that peer.
type publisher struct {
	call    caller
	log     *slog.Logger
	timeout time.Duration
	done    <-chan struct{}

	mu    sync.Mutex
	peers map[string]*peerQueue

	sent, dropped, failed atomic.Uint64
	lastWarn              atomic.Int64
}

type peerQueue struct {
	q     chan []byte
	bytes int // queued, under publisher.mu
}

func newPublisher(call caller, timeout time.Duration, done <-chan struct{}, log *slog.Logger) *publisher {
	return &publisher{call: call, log: log, timeout: timeout, done: done, peers: map[string]*peerQueue{}}
}

// send queues msg for every peer without blocking.
func (p *publisher) send(peers []string, msg []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, addr := range peers {
		pq := p.peers[addr]
		if pq == nil {
			pq = &peerQueue{q: make(chan []byte, publishQueueLen)}
			p.peers[addr] = pq
			go p.run(addr, pq)
		}
		if pq.bytes+len(msg) > publishQueueBytes {
			p.drop(addr, 1)
			continue
		}
		select {
		case pq.q <- msg:
			pq.bytes += len(msg)
		default:
			p.drop(addr, 1)
		}
	}
}

func (p *publisher) drop(addr string, k int) {
	p.dropped.Add(uint64(k))
	now := time.Now().UnixNano()
	if last := p.lastWarn.Load(); now-last > int64(10*time.Second) && p.lastWarn.CompareAndSwap(last, now) {
		p.log.Warn("publications to a peer dropped: its queue is full", "peer", addr,
			"dropped", p.dropped.Load(), "failed", p.failed.Load())
	}
}

// take removes msgs from pq's byte count.
func (p *publisher) take(pq *peerQueue, msgs [][]byte) {
	n := 0
	for _, m := range msgs {
		n += len(m)
	}
	p.mu.Lock()
	pq.bytes -= n
	p.mu.Unlock()
}

func (p *publisher) run(addr string, pq *peerQueue) {
	idle := time.NewTimer(publishIdle)
	defer idle.Stop()
	var batch []byte
	msgs := make([][]byte, 0, publishBatchLen)
	for {
		var first []byte
		select {
		case first = <-pq.q:
		case <-p.done:
			return
		case <-idle.C:
			p.mu.Lock()
			if len(pq.q) == 0 { // send holds p.mu to enqueue: nothing can arrive now
				delete(p.peers, addr)
				p.mu.Unlock()
				return
			}
			p.mu.Unlock()
			idle.Reset(publishIdle)
			continue
		}
		msgs = append(msgs[:0], first)
		size := len(first)
	drain:
		for len(msgs) < publishBatchLen && size < publishBatchBytes {
			select {
			case m := <-pq.q:
				msgs = append(msgs, m)
				size += len(m)
			default:
				break drain
			}
		}
		p.take(pq, msgs)
		batch = batch[:0]
		for _, m := range msgs {
			batch = appendPublishMessage(batch, m)
		}
		ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
		_, err := p.call.Call(ctx, addr, rpcPublish, batch)
		cancel()
		if err != nil {
			// At most once: a batch whose call failed is not resent (it
			// may have been delivered; the peer may be gone for good).
			p.failed.Add(uint64(len(msgs)))
			p.log.Debug("sending publications to a peer failed", "peer", addr, "messages", len(msgs), "err", err)
		} else {
			p.sent.Add(uint64(len(msgs)))
		}
		if !idle.Stop() {
			select {
			case <-idle.C:
			default:
			}
		}
		idle.Reset(publishIdle)
	}
}

// PublishStats are the publisher's counters: messages sent to peers,
// dropped because a peer's queue was full, lost with a failed call, and
// waiting now, per peer address.
type PublishStats struct {
	Sent    uint64         `json:"sent"`
	Dropped uint64         `json:"dropped"`
	Failed  uint64         `json:"failed"`
	Queued  map[string]int `json:"queued"`
}

func (p *publisher) stats() PublishStats {
	if p == nil { // before the node registered its peer calls
		return PublishStats{}
	}
	st := PublishStats{Sent: p.sent.Load(), Dropped: p.dropped.Load(), Failed: p.failed.Load(), Queued: map[string]int{}}
	p.mu.Lock()
	for addr, pq := range p.peers {
		st.Queued[addr] = len(pq.q)
	}
	p.mu.Unlock()
	return st
}

// realtimeStats is the realtime part of admin:dump: deliveries to this
// node's connections and publications to the other nodes.
func (n *Node) realtimeStats() map[string]any {
	delivered, dropped := n.hub.Stats()
	return map[string]any{"delivered": delivered, "droppedSlowConnections": dropped, "publish": n.pub.stats()}
}
