package jepsen

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// ClusterStatus is the part of GET /cluster/_status the harness reads.
type ClusterStatus struct {
	ActiveNodes int    `json:"activeNodes"`
	Leader      string `json:"leader"`
	Term        int64  `json:"term"`
	Nodes       []struct {
		ID      string `json:"id"`
		Address string `json:"address"`
		Role    string `json:"role"`
	} `json:"nodes"`
}

// Voters counts the nodes the status reports as voters.
func (s ClusterStatus) Voters() int {
	v := 0
	for _, n := range s.Nodes {
		if n.Role == "voter" {
			v++
		}
	}
	return v
}

// wantVoters is how many voters the harness asks for: all nodes, up to
// Korum's maximum of 7. Faults start only once all are voters, since a fault
// during formation can legitimately take a too-small quorum away.
func wantVoters(n int) int { return min(n, 7) }

var statusClient = &http.Client{Timeout: 700 * time.Millisecond}

// status asks one node for /cluster/_status; id is the answering node's id.
// jwt authenticates the request once the cluster is locked down ("" before).
func status(ctx context.Context, n *Node, jwt string) (id string, st ClusterStatus, err error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s:%d/cluster/_status", n.IP, apiPort), nil)
	if jwt != "" {
		req.Header.Set("Authorization", "Bearer "+jwt)
	}
	resp, err := statusClient.Do(req)
	if err != nil {
		return "", st, err
	}
	defer resp.Body.Close()
	var env struct {
		Node   string        `json:"node"`
		Result ClusterStatus `json:"result"`
		Error  *KError       `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return "", st, err
	}
	if env.Error != nil {
		return env.Node, st, env.Error
	}
	return env.Node, env.Result, nil
}

// poller samples every node's status for the two-leaders checker and
// remembers which node id is which container.
type poller struct {
	mu     sync.Mutex
	claims []LeaderClaim
	ids    map[string]*Node // node id -> container
}

func (e *env) poll(ctx context.Context, p *poller, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		var wg sync.WaitGroup
		for _, n := range e.c.Nodes {
			wg.Add(1)
			go func(n *Node) {
				defer wg.Done()
				id, st, err := status(ctx, n, e.tokenFor(n))
				if err != nil || id == "" {
					return
				}
				p.mu.Lock()
				p.ids[id] = n
				group := ""
				if !e.clustered {
					group = n.Name
				}
				p.claims = append(p.claims, LeaderClaim{Cluster: group, Node: id, Leader: st.Leader, Term: st.Term, At: e.h.Now()})
				p.mu.Unlock()
			}(n)
		}
		wg.Wait()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// leader is the container of the node most nodes name as leader, or nil.
func (e *env) leader(ctx context.Context) *Node {
	votes := map[string]int{}
	for _, n := range e.c.Nodes {
		if _, st, err := status(ctx, n, e.tokenFor(n)); err == nil && st.Leader != "" {
			votes[st.Leader]++
		}
	}
	best, bestN := "", 0
	for id, v := range votes {
		if v > bestN {
			best, bestN = id, v
		}
	}
	if best == "" {
		return nil
	}
	for _, n := range e.c.Nodes {
		if id, _, err := status(ctx, n, e.tokenFor(n)); err == nil && id == best {
			return n
		}
	}
	return nil
}

// converged reports whether every node is ready and, with clustering,
// whether all agree on leader, term, membership and rooms and, when docs
// is set, hold the same number of documents. Counts are only comparable
// once the writers have stopped: nodes are read one after the other. The
// string says what differs.
func (e *env) converged(ctx context.Context, docs bool) (bool, string) {
	var views []string
	for _, n := range e.live() {
		if !n.Ready(ctx) {
			return false, n.Name + " not ready"
		}
		if !e.clustered {
			continue
		}
		_, st, err := status(ctx, n, e.tokenFor(n))
		if err != nil {
			return false, fmt.Sprintf("%s status: %v", n.Name, err)
		}
		var members []string
		for _, m := range st.Nodes {
			members = append(members, m.ID)
		}
		sort.Strings(members)
		counts, rooms, err := e.counts(ctx, n)
		if err != nil {
			return false, fmt.Sprintf("%s count: %v", n.Name, err)
		}
		if !docs {
			counts = nil
		}
		views = append(views, fmt.Sprintf("leader=%s term=%d members=%v docs=%v rooms=%v", st.Leader, st.Term, members, counts, rooms))
	}
	for i := 1; i < len(views); i++ {
		if views[i] != views[0] {
			return false, "views differ: " + strings.Join(views, " / ")
		}
	}
	return true, ""
}

// counts is one node's view of the replicated state the harness can see:
// document counts per collection and the realtime rooms (ids only: rooms are
// replicated, subscriber counts may be per node).
func (e *env) counts(ctx context.Context, n *Node) ([]int64, []string, error) {
	c, err := e.dial(ctx, n)
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	var out []int64
	for _, coll := range []string{regColl, subColl} {
		resp, err := c.Do(ctx, map[string]any{"controller": "document", "action": "count", "index": testIndex, "collection": coll}, e.opTimeout)
		if err != nil {
			return nil, nil, err
		}
		var r struct {
			Count int64 `json:"count"`
		}
		if err := json.Unmarshal(resp.Result, &r); err != nil {
			return nil, nil, err
		}
		out = append(out, r.Count)
	}
	resp, err := c.Do(ctx, map[string]any{"controller": "realtime", "action": "list"}, e.opTimeout)
	if err != nil {
		return nil, nil, err
	}
	var list map[string]map[string]map[string]json.RawMessage // index -> collection -> room -> count
	if err := json.Unmarshal(resp.Result, &list); err != nil {
		return nil, nil, fmt.Errorf("realtime:list: %v", err)
	}
	var rooms []string
	for idx, colls := range list {
		for coll, rs := range colls {
			for id := range rs {
				rooms = append(rooms, idx+"/"+coll+"/"+id)
			}
		}
	}
	sort.Strings(rooms)
	return out, rooms, nil
}
