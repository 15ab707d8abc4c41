package membership

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/korumdb/korum/raftnet"
)

// lead runs the leader's duties while this node leads: poll every member's
// progress, then remove the dead and promote the caught-up.
//
// Progress comes from polling a status RPC rather than from raft's
// observations: hashicorp/raft exposes neither a follower's match index nor
// its FSM's applied index, and the poll is also how followers learn the
// leader's commit index for their lag rule. It costs one small RPC per
// member per tick.
func (m *Manager) lead() {
	t := time.NewTicker(m.cfg.tick())
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		if m.leaving.Load() || !m.rn.IsLeader() {
			continue
		}
		m.leaderRound()
	}
}

func (m *Manager) leaderRound() {
	st := m.rn.Stats()
	servers, err := m.rn.Servers()
	if err != nil {
		return
	}
	now := time.Now()
	selfStats := m.selfStats(st)
	m.mu.Lock()
	if m.leaderTerm != st.Term {
		// A new leadership starts with a clean slate and a full grace
		// period: what a previous leader saw is not ours to act on.
		m.leaderTerm = st.Term
		m.peers = map[string]*peer{}
	}
	known := map[string]bool{}
	for _, s := range servers {
		known[s.ID] = true
		p := m.peers[s.ID]
		if p == nil {
			p = &peer{ID: s.ID, LastSeen: now}
			m.peers[s.ID] = p
		}
		p.Addr, p.Voter = s.Address, s.Suffrage == raftnet.Voter
	}
	for id := range m.peers {
		if !known[id] {
			delete(m.peers, id)
			delete(m.info, id)
		}
	}
	if self := m.peers[m.cfg.NodeID]; self != nil {
		self.LastSeen, self.Applied = now, st.AppliedIndex
		self.CaughtUpSince = now
		m.info[m.cfg.NodeID] = selfStats
	}
	m.mu.Unlock()

	// Poll every other member concurrently, bounded by one tick.
	req, _ := json.Marshal(statsRequest{Leader: m.cfg.NodeID, Term: st.Term, Commit: st.CommitIndex})
	ctx, cancel := context.WithTimeout(m.ctx, max(m.cfg.tick(), 200*time.Millisecond))
	var wg sync.WaitGroup
	for _, s := range servers {
		if s.ID == m.cfg.NodeID {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := m.rn.Call(ctx, s.Address, methodStats, req)
			var r statsResponse
			if err == nil {
				err = json.Unmarshal(b, &r)
			}
			if err == nil && r.ID != s.ID {
				err = fmt.Errorf("answered as %q", r.ID)
			}
			if err != nil {
				return
			}
			at := time.Now()
			m.mu.Lock()
			defer m.mu.Unlock()
			p := m.peers[s.ID]
			if p == nil {
				return
			}
			p.LastSeen, p.Applied = at, r.Applied
			if st.CommitIndex <= r.Applied+promoteMaxLag {
				if p.CaughtUpSince.IsZero() {
					p.CaughtUpSince = at
				}
			} else {
				p.CaughtUpSince = time.Time{}
			}
			m.info[s.ID] = r
		}()
	}
	wg.Wait()
	cancel()

	m.mu.Lock()
	peers := make([]peer, 0, len(m.peers))
	voters := 0
	for _, p := range m.peers {
		peers = append(peers, *p)
		if p.Voter {
			voters++
		}
	}
	// Maturity is remembered by this process only: a leader elected after
	// a restart of a cluster that lost voters treats it as young, which
	// only skips the stabilization wait.
	m.mature = m.mature || voters >= m.cfg.Voters
	mature := m.mature
	m.mu.Unlock()
	act := decide(time.Now(), m.cfg.NodeID, peers, m.cfg.Voters, mature, m.cfg.DeadNodeTimeout, m.cfg.QuorumContactTimeout, m.cfg.Stabilization)
	if act.kind == actNone || m.leaving.Load() {
		return
	}
	actx, acancel := context.WithTimeout(m.ctx, 10*time.Second)
	defer acancel()
	switch act.kind {
	case actRemove:
		if err := m.rn.Remove(actx, act.id); err != nil {
			m.log.Warn("could not remove dead node", "id", act.id, "err", err)
			return
		}
		m.log.Warn("evicted dead node", "id", act.id, "voter", act.voter, "reason", act.reason)
		if h := m.hooks.Evicted; h != nil {
			id, reason := act.id, act.reason
			m.spawn(func() { h(m.ctx, id, reason) })
		}
	case actPromote:
		if err := m.rn.Promote(actx, act.id); err != nil {
			m.log.Warn("could not promote", "id", act.id, "err", err)
			return
		}
		m.log.Info("promoted to voter", "id", act.id, "reason", act.reason)
	}
}

// Status is the leader's view of the cluster.
type Status struct {
	ClusterID    string       `json:"clusterId"`
	LeaderID     string       `json:"leaderId"`
	Term         uint64       `json:"term"`
	CommitIndex  uint64       `json:"commitIndex"`
	Voters       int          `json:"voters"`       // voters in the configuration
	VotersWanted int          `json:"votersWanted"` // cluster.voters, the target
	Nodes        []NodeStatus `json:"nodes"`        // sorted by id
}

// NodeStatus is one member as the leader sees it.
type NodeStatus struct {
	ID          string    `json:"id"`
	ClusterAddr string    `json:"clusterAddr"`
	APIAddr     string    `json:"apiAddr,omitempty"`
	Role        string    `json:"role"` // "voter" or "nonvoter"
	Leader      bool      `json:"leader"`
	Applied     uint64    `json:"applied"`
	Lag         uint64    `json:"lag"`         // commit index − applied index
	LastContact time.Time `json:"lastContact"` // last answer to the leader
	Birthdate   time.Time `json:"birthdate,omitzero"`
}

// Status returns the leader's view, asking the leader when this node is a
// follower, so every node answers alike.
func (m *Manager) Status(ctx context.Context) (*Status, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	for {
		var b []byte
		var err error
		id, addr := m.rn.Leader()
		switch {
		case id == m.cfg.NodeID:
			b, err = m.handleStatus(ctx, nil)
		case id == "":
			err = raftnet.ErrNoLeader
		default:
			b, err = m.rn.Call(ctx, addr, methodStatus, nil)
		}
		if err == nil {
			var s Status
			if err := json.Unmarshal(b, &s); err != nil {
				return nil, fmt.Errorf("membership: status: %w", err)
			}
			return &s, nil
		}
		if !errors.Is(err, raftnet.ErrNotLeader) && !errors.Is(err, raftnet.ErrNoLeader) && !errors.Is(err, raftnet.ErrUnknownMethod) {
			return nil, fmt.Errorf("membership: status: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("membership: status: %w (%w)", err, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (m *Manager) handleStatus(context.Context, []byte) ([]byte, error) {
	if !m.rn.IsLeader() {
		return nil, raftnet.ErrNotLeader
	}
	st := m.rn.Stats()
	servers, err := m.rn.Servers()
	if err != nil {
		return nil, err
	}
	s := Status{ClusterID: m.ClusterID(), LeaderID: m.cfg.NodeID, Term: st.Term, CommitIndex: st.CommitIndex, VotersWanted: m.cfg.Voters}
	m.mu.Lock()
	for _, srv := range servers {
		n := NodeStatus{ID: srv.ID, ClusterAddr: srv.Address, Role: string(srv.Suffrage), Leader: srv.ID == m.cfg.NodeID}
		if inf, ok := m.info[srv.ID]; ok {
			n.APIAddr, n.Birthdate, n.Applied = inf.APIAddr, inf.Birthdate, inf.Applied
		}
		if p := m.peers[srv.ID]; p != nil && m.leaderTerm == st.Term {
			n.Applied, n.LastContact = max(n.Applied, p.Applied), p.LastSeen
		}
		if n.Leader {
			n.APIAddr, n.Birthdate, n.Applied, n.LastContact = m.cfg.APIAddr, m.birth, st.AppliedIndex, time.Now()
		}
		if st.CommitIndex > n.Applied {
			n.Lag = st.CommitIndex - n.Applied
		}
		if srv.Suffrage == raftnet.Voter {
			s.Voters++
		}
		s.Nodes = append(s.Nodes, n)
	}
	m.mu.Unlock()
	sort.Slice(s.Nodes, func(i, j int) bool { return s.Nodes[i].ID < s.Nodes[j].ID })
	return json.Marshal(s)
}

// Leave takes this node out of the cluster gracefully: a leader first
// hands leadership to another voter (promoting the most caught-up
// non-voter if there is none), then the node is removed from the
// configuration and its ID card deleted. The caller then closes client
// connections, shuts raftnet down and exits 0. The last member cannot
// leave (there would be no cluster left); its Raft state stays as it is.
func (m *Manager) Leave(ctx context.Context) error {
	m.leaving.Store(true)
	defer m.Close()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	var errs []error
	servers, err := m.rn.Servers()
	if err != nil {
		errs = append(errs, err)
	}
	alone := !slices.ContainsFunc(servers, func(s raftnet.Server) bool { return s.ID != m.cfg.NodeID })
	if err == nil && !alone {
		if m.rn.IsLeader() {
			if err := m.handOver(ctx, servers); err != nil {
				errs = append(errs, err)
			}
		}
		if err := m.rn.Remove(ctx, m.cfg.NodeID); err != nil {
			errs = append(errs, fmt.Errorf("membership: leave: remove self: %w", err))
		} else {
			m.log.Info("left the cluster")
		}
	}
	if m.disc != nil {
		if err := m.disc.deleteCard(ctx, m.cfg.NodeID); err != nil {
			errs = append(errs, fmt.Errorf("membership: leave: delete ID card: %w", err))
		}
	}
	return errors.Join(errs...)
}

// handOver makes another voter the leader.
func (m *Manager) handOver(ctx context.Context, servers []raftnet.Server) error {
	if !slices.ContainsFunc(servers, func(s raftnet.Server) bool { return s.ID != m.cfg.NodeID && s.Suffrage == raftnet.Voter }) {
		// No other voter (a young 2-node cluster): promote the most caught-up non-voter.
		best, bestApplied := "", uint64(0)
		m.mu.Lock()
		for _, s := range servers {
			if p := m.peers[s.ID]; s.ID != m.cfg.NodeID && (best == "" || (p != nil && p.Applied > bestApplied)) {
				best = s.ID
				if p != nil {
					bestApplied = p.Applied
				}
			}
		}
		m.mu.Unlock()
		if err := m.rn.Promote(ctx, best); err != nil {
			return fmt.Errorf("membership: leave: promote %s to hand over: %w", best, err)
		}
	}
	if err := m.rn.LeadershipTransfer(); err != nil {
		return fmt.Errorf("membership: leave: %w", err)
	}
	for {
		if id, _ := m.rn.Leader(); id != "" && id != m.cfg.NodeID {
			m.log.Info("handed leadership over", "to", id)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("membership: leave: waiting for a new leader: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
