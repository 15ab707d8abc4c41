package integration

import (
	"encoding/json"
	"testing"
	"time"
)

// dashboardData is the part of GET /_dashboard/data the test reads.
type dashboardData struct {
	Cluster *struct {
		Leader string `json:"leader"`
	} `json:"cluster"`
	Nodes []struct {
		ID        string `json:"id"`
		Reachable bool   `json:"reachable"`
		Error     string `json:"error"`
		Requests  uint64 `json:"requests"`
		Started   int64  `json:"started"`
	} `json:"nodes"`
}

func (p *proc) dashboard(t *testing.T) dashboardData {
	t.Helper()
	env := mustOK(t, p, "GET", "/_dashboard/data", "")
	var d dashboardData
	if err := json.Unmarshal(env.Result, &d); err != nil {
		t.Fatalf("dashboard data: %v: %s", err, env.Result)
	}
	return d
}

// The dashboard's data, asked of one node, carries every node's own
// figures, gathered over the cluster port; a node that is gone is shown
// unreachable, with the reason, while the others still report.
func TestDashboardDataGathersEveryNode(t *testing.T) {
	r := startRedis(t)
	ms := formRedis(t, r, 3)
	ids := map[string]*member{}
	for _, m := range ms {
		ids[m.nodeID(t)] = m
	}
	// Each node answers a request of its own (/_now), counted where it ran.
	for _, m := range ms {
		mustOK(t, m.proc, "GET", "/_now", "")
	}
	d := ms[1].dashboard(t)
	if d.Cluster == nil || ids[d.Cluster.Leader] == nil {
		t.Fatalf("no leader of ours in the dashboard's data: %+v", d.Cluster)
	}
	if len(d.Nodes) != 3 {
		t.Fatalf("%d nodes, want 3: %+v", len(d.Nodes), d.Nodes)
	}
	for _, n := range d.Nodes {
		if ids[n.ID] == nil || !n.Reachable || n.Requests == 0 || n.Started == 0 {
			t.Fatalf("node %+v: want one of ours, reachable, with its requests counted", n)
		}
	}

	victim := ms[2]
	victimID := victim.nodeID(t)
	victim.kill()
	var last dashboardData
	eventually(t, 20*time.Second, "the killed node to show unreachable", func() bool {
		last = ms[0].dashboard(t)
		up, down := 0, 0
		for _, n := range last.Nodes {
			switch {
			case n.ID == victimID && !n.Reachable && n.Error != "":
				down++
			case n.ID != victimID && n.Reachable:
				up++
			}
		}
		// Evicted already (dead-node-timeout) is fine too: then it is gone.
		return up == 2 && (down == 1 || len(last.Nodes) == 2)
	})
}
