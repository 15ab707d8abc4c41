package node

import (
	"context"
	"encoding/json"
	"runtime"
	"sync"
	"time"

	"github.com/korumdb/korum/api"
)

// rpcDashboardStats asks a node for its own dashboard figures (api.NodeStats
// in JSON). A node that does not know the method (an older version) is
// shown unreachable with the error, which is the truth as far as the page
// can tell.
const rpcDashboardStats = "dashboard.stats"

func (n *Node) registerDashboardRPC() {
	n.raft.Handle(rpcDashboardStats, func(ctx context.Context, _ []byte) ([]byte, error) {
		return json.Marshal(n.localStats())
	})
}

// localStats samples this node's own figures. Everything read here is an
// atomic counter or a short read lock: the page polls every second.
func (n *Node) localStats() api.NodeStats {
	s := api.NodeStats{ID: n.id, Reachable: true, Time: time.Now().UnixMilli(), Started: n.started.UnixMilli(),
		Goroutines: runtime.NumGoroutine()}
	s.Connections = n.conns.Stats().Open
	if n.metrics != nil {
		s.Requests = n.metrics.RequestsServed()
	} else {
		s.Requests = n.api.Router().Served()
	}
	s.Rooms, s.Subscriptions = n.hub.Totals()
	s.Notifications, s.NotificationsDropped = n.hub.Stats()
	return s
}

// NodeStats gathers every member's figures: this node's own, and the
// others' over the cluster port, in parallel, each bounded by ctx.
func (n *Node) NodeStats(ctx context.Context) []api.NodeStats {
	members, _ := n.fsm.Members()
	out := make([]api.NodeStats, len(members))
	var wg sync.WaitGroup
	self := false
	for i, m := range members {
		base := api.NodeStats{ID: m.ID, APIAddr: m.APIAddr, ClusterAddr: m.ClusterAddr}
		if m.ID == n.id {
			self = true
			out[i] = n.localStats()
			out[i].APIAddr, out[i].ClusterAddr = m.APIAddr, m.ClusterAddr
			continue
		}
		wg.Add(1)
		go func(i int, base api.NodeStats) {
			defer wg.Done()
			out[i] = n.peerStats(ctx, base)
		}(i, base)
	}
	wg.Wait()
	if !self {
		// Not (or no longer) in the replicated topology: still show what
		// the page is talking to.
		out = append(out, n.localStats())
	}
	return out
}

func (n *Node) peerStats(ctx context.Context, base api.NodeStats) api.NodeStats {
	fail := func(err error) api.NodeStats {
		base.Error = err.Error()
		return base
	}
	if base.ClusterAddr == "" {
		base.Error = "no cluster address known"
		return base
	}
	b, err := n.raft.Call(ctx, base.ClusterAddr, rpcDashboardStats, nil)
	if err != nil {
		return fail(err)
	}
	var s api.NodeStats
	if err := json.Unmarshal(b, &s); err != nil {
		return fail(err)
	}
	// The topology is the authority on who is where; the peer only on its
	// own figures.
	s.ID, s.APIAddr, s.ClusterAddr, s.Reachable, s.Error = base.ID, base.APIAddr, base.ClusterAddr, true, ""
	return s
}

// LeaderChanges is the leader changes this node's Raft saw.
func (n *Node) LeaderChanges() []api.LeaderChange {
	seen := n.raft.LeaderChanges()
	out := make([]api.LeaderChange, len(seen))
	for i, c := range seen {
		out[i] = api.LeaderChange{Date: c.Time, LeaderID: c.LeaderID, Term: c.Term}
	}
	return out
}
