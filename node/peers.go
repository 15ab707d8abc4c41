package node

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/korumdb/korum/realtime"
)

// Node-to-node calls for the realtime state that is per node by design
// (subscriber counts, user notifications): only room existence is in the
// log, so these are asked of the nodes that hold the room.
const (
	rpcRoomCount  = "realtime.count"
	rpcRoomCounts = "realtime.counts"
	rpcUserEvent  = "realtime.user"
	peerTimeout   = 2 * time.Second
)

func (n *Node) registerPeerRPC() {
	n.raft.Handle(rpcRoomCount, func(ctx context.Context, req []byte) ([]byte, error) {
		count, _ := n.hub.Count(string(req))
		return json.Marshal(count)
	})
	n.raft.Handle(rpcRoomCounts, func(ctx context.Context, req []byte) ([]byte, error) {
		return json.Marshal(n.hub.RoomCounts())
	})
	n.raft.Handle(rpcUserEvent, func(ctx context.Context, req []byte) ([]byte, error) {
		var ev realtime.UserEvent
		if err := json.Unmarshal(req, &ev); err != nil {
			return nil, err
		}
		n.hub.DispatchUser(ev)
		return nil, nil
	})
	n.raft.Handle(rpcSecurityApplied, n.appliedHandler)
	n.raft.Handle(rpcPublish, n.publishHandler)
	n.raft.Handle(rpcFence, n.fenceHandler)
	n.pub = newPublisher(n.raft, peerTimeout, n.done, n.log)
	n.hub.SetUserRelay(n.relayUserEvent)
	n.hub.SetFence(n.fence)
}

// peersOf returns the cluster addresses of the other nodes holding a room.
func (n *Node) peersOf(roomID string) []string {
	r := n.fsm.Room(roomID)
	if r == nil {
		return nil
	}
	if _, mine := r.Nodes[n.id]; len(r.Nodes) == 0 || (mine && len(r.Nodes) == 1) {
		return nil // nobody else holds it: skip copying the topology
	}
	members, _ := n.fsm.Members()
	addr := make(map[string]string, len(members))
	for _, m := range members {
		addr[m.ID] = m.ClusterAddr
	}
	var out []string
	for id := range r.Nodes {
		if id != n.id && addr[id] != "" {
			out = append(out, addr[id])
		}
	}
	return out
}

// otherMembers returns the cluster addresses of every other node.
func (n *Node) otherMembers() []string {
	members, _ := n.fsm.Members()
	var out []string
	for _, m := range members {
		if m.ID != n.id && m.ClusterAddr != "" {
			out = append(out, m.ClusterAddr)
		}
	}
	return out
}

func (n *Node) relayUserEvent(ev realtime.UserEvent) {
	peers := n.peersOf(ev.RoomID)
	if len(peers) == 0 {
		return
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return
	}
	for _, addr := range peers {
		go func(addr string) {
			ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
			defer cancel()
			if _, err := n.raft.Call(ctx, addr, rpcUserEvent, body); err != nil {
				n.log.Debug("relaying a user notification failed", "peer", addr, "err", err)
			}
		}(addr)
	}
}

// fanOut calls method on every address in parallel and hands each answer
// to each; unreachable peers are skipped (counts are best-effort, like
// Kuzzle's, while a node is being evicted).
func (n *Node) fanOut(ctx context.Context, addrs []string, method string, req []byte, each func([]byte)) {
	n.fanOutCalls(ctx, addrs, method, req, false, each)
}

// fanOutUntil is fanOut for confirmations (a revocation applied, a room
// routed): a call that fails at once (connection refused, a node
// restarting) is tried again until the peer timeout, so that a peer is
// given up on only once it stayed silent that long, the bound the
// freshness checks (Fresh) are built on.
func (n *Node) fanOutUntil(ctx context.Context, addrs []string, method string, req []byte, each func([]byte)) {
	n.fanOutCalls(ctx, addrs, method, req, true, each)
}

func (n *Node) fanOutCalls(ctx context.Context, addrs []string, method string, req []byte, retry bool, each func([]byte)) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, addr := range addrs {
		wg.Add(1)
		go func(addr string) {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, peerTimeout)
			defer cancel()
			out, err := n.raft.Call(cctx, addr, method, req)
			for retry && err != nil && cctx.Err() == nil {
				select {
				case <-cctx.Done():
				case <-time.After(20 * time.Millisecond):
				}
				if cctx.Err() == nil {
					out, err = n.raft.Call(cctx, addr, method, req)
				}
			}
			if err != nil {
				n.log.Debug("peer call failed", "peer", addr, "method", method, "err", err)
				return
			}
			mu.Lock()
			each(out)
			mu.Unlock()
		}(addr)
	}
	wg.Wait()
}
