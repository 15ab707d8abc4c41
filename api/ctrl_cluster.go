package api

import (
	"context"
	"net"
	"time"
)

// ClusterView is what the cluster controller needs from the node.
type ClusterView interface {
	// ClusterStatus returns the leader's view of the cluster, whichever
	// node is asked.
	ClusterStatus(ctx context.Context) (*ClusterStatus, error)
	// Ready is nil when the node can serve requests that need the cluster.
	Ready() error
}

// ClusterStatus is the facts cluster:status reports: the replicated
// topology (members, activity) and the leader's Raft view. The controller
// shapes them into Kuzzle's response.
type ClusterStatus struct {
	ClusterID   string
	LeaderID    string
	Term        uint64
	CommitIndex uint64
	Voters      int // voters in the configuration
	// VotersWanted is cluster.voters, the number the leader promotes up to.
	VotersWanted int
	// FeatureVersion is the format version the cluster agreed on (every
	// member supports it); FormatVersion the newest this node's binary
	// supports. They differ during a rolling upgrade.
	FeatureVersion int
	FormatVersion  int
	Nodes          []ClusterNode
	Activity       []ClusterEvent
}

// ClusterNode is one member as the leader sees it.
type ClusterNode struct {
	ID          string
	ClusterAddr string
	APIAddr     string
	Role        string // "voter" or "nonvoter"
	Leader      bool
	Applied     uint64
	Lag         uint64    // commit index − applied index
	LastContact time.Time // zero: none recorded
	Birthdate   time.Time // zero: unknown
}

// ClusterEvent is one entry of the topology's activity log.
type ClusterEvent struct {
	ID      string
	Address string
	Date    time.Time
	Event   string // "joined" or "evicted"
	Reason  string
}

// clusterController is Kuzzle's cluster controller, with the legacy
// kuzzle-plugin-cluster actions as Kuzzle's compat plugin answers them.
type clusterController struct {
	cluster ClusterView
}

func (c *clusterController) actions() map[string]Handler {
	return map[string]Handler{
		"status": c.status,
		"health": c.health,
		"reset":  c.reset,
	}
}

func (c *clusterController) status(ctx context.Context, r *Request) (any, error) {
	st, err := c.cluster.ClusterStatus(ctx)
	if err != nil {
		return nil, err
	}
	return clusterStatusView(st), nil
}

func (c *clusterController) health(ctx context.Context, r *Request) (any, error) {
	if err := c.cluster.Ready(); err != nil {
		return nil, err
	}
	return "ok", nil
}

func (c *clusterController) reset(ctx context.Context, r *Request) (any, error) {
	return "no-op: this route is deprecated and has been kept for backward-compatibility only. To reset a cluster, simply use \"admin:shutdown\" and then restart Korum nodes", nil
}

// isoMillis is Kuzzle's date format (JavaScript's toISOString).
func isoMillis(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// clusterStatusView is Kuzzle's cluster:status ({activeNodes, activity,
// nodes}) plus Korum's Raft facts: leader, term, commitIndex, clusterId,
// voters (present) and votersWanted and, per node, role, appliedIndex,
// lag, lastContact and both addresses.
func clusterStatusView(st *ClusterStatus) map[string]any {
	nodes := make([]any, 0, len(st.Nodes))
	for _, s := range st.Nodes {
		e := map[string]any{"id": s.ID, "address": hostPart(s.ClusterAddr), "clusterAddress": s.ClusterAddr,
			"apiAddress": s.APIAddr, "role": s.Role, "leader": s.Leader, "appliedIndex": s.Applied, "lag": s.Lag}
		if !s.LastContact.IsZero() {
			e["lastContact"] = s.LastContact.UTC().Format(time.RFC3339Nano)
		}
		if !s.Birthdate.IsZero() {
			e["birthdate"] = isoMillis(s.Birthdate)
		}
		nodes = append(nodes, e)
	}
	acts := make([]any, 0, len(st.Activity))
	for _, a := range st.Activity {
		e := map[string]any{"id": a.ID, "address": a.Address, "date": isoMillis(a.Date), "event": a.Event}
		if a.Reason != "" {
			e["reason"] = a.Reason
		}
		acts = append(acts, e)
	}
	return map[string]any{"activeNodes": len(st.Nodes), "activity": acts, "nodes": nodes,
		"leader": st.LeaderID, "term": st.Term, "commitIndex": st.CommitIndex,
		"clusterId": st.ClusterID, "voters": st.Voters, "votersWanted": st.VotersWanted,
		"featureVersion": st.FeatureVersion, "formatVersion": st.FormatVersion}
}

func hostPart(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
