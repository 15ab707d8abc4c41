package membership

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/korumdb/korum/raftnet"
)

// RPC methods registered on the cluster port.
const (
	methodInfo   = "membership.info"          // cluster id and identity of a member; asked by joining nodes
	methodStats  = "membership.stats"         // the leader's poll: carries its commit index, returns the member's progress
	methodStatus = "membership.status@leader" // the leader's Status; ErrNotLeader elsewhere
)

// Hooks lets the node package react to membership events.
type Hooks struct {
	// Evicted runs on the leader after it removed a dead node from the
	// configuration (the node package records the activity and drops the
	// node's rooms through the log). It runs in its own goroutine, once per
	// removal, on the leader that made it; if that leader loses leadership
	// before the hook's own writes commit, the event can be lost.
	Evicted func(ctx context.Context, nodeID, reason string)
}

// Manager runs membership for one started node.
type Manager struct {
	cfg   Config
	log   *slog.Logger
	rn    *raftnet.Node
	hooks Hooks
	birth time.Time
	disc  *discovery

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	fatal     chan *Exit
	fatalOnce sync.Once
	closeOnce sync.Once
	leaving   atomic.Bool

	mu           sync.Mutex
	clusterID    string
	leaderCommit uint64    // from the leader's latest poll
	polledAt     time.Time // when that poll arrived
	peers        map[string]*peer
	info         map[string]statsResponse // last answer of each peer (addresses, birthdate)
	leaderTerm   uint64                   // term of the leadership the peers map belongs to
	mature       bool                     // this node, leading, once saw Voters voters
}

type infoResponse struct {
	ClusterID string `json:"clusterId"`
	ID        string `json:"id"`
}

type statsRequest struct {
	Leader string `json:"leader"`
	Term   uint64 `json:"term"`
	Commit uint64 `json:"commit"`
}

type statsResponse struct {
	ID          string    `json:"id"`
	ClusterID   string    `json:"clusterId"`
	ClusterAddr string    `json:"clusterAddr"`
	APIAddr     string    `json:"apiAddr"`
	Birthdate   time.Time `json:"birthdate"`
	State       string    `json:"state"`
	Term        uint64    `json:"term"`
	Applied     uint64    `json:"applied"`
}

// Start runs membership on a node opened with raftnet.Open (Bootstrap set
// from plan.Bootstrap): it publishes the ID card and releases the bootstrap
// lock, joins plan.Seeds in the background, and runs the leader's manager
// (promotions, dead-node removal) and the self-termination watchdog. Start
// owns plan afterwards. Verdicts arrive on Fatal.
func Start(ctx context.Context, cfg Config, plan *Plan, rn *raftnet.Node, hooks Hooks) (*Manager, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		plan.Done()
		return nil, err
	}
	m := &Manager{
		cfg: cfg, log: cfg.Logger.With("node", cfg.NodeID, "component", "membership"), rn: rn, hooks: hooks,
		birth: plan.birthdate, disc: plan.disc, clusterID: plan.ClusterID,
		fatal: make(chan *Exit, 1), peers: map[string]*peer{}, info: map[string]statsResponse{},
	}
	if m.birth.IsZero() {
		m.birth = time.Now().UTC()
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())

	if plan.ClusterID != "" && (plan.Bootstrap || plan.HasState) {
		if err := writeClusterID(cfg.DataDir, plan.ClusterID); err != nil {
			plan.Done()
			m.cancel()
			return nil, err
		}
	}
	rn.Handle(methodInfo, m.handleInfo)
	rn.Handle(methodStats, m.handleStats)
	rn.Handle(methodStatus, m.handleStatus)

	if m.disc != nil {
		if err := m.disc.putCard(ctx, m.card(), cfg.cardTTL()); err != nil {
			m.log.Warn("could not publish the ID card", "err", err)
		}
		plan.disc = nil // ours now
	}
	if plan.lock != nil {
		plan.lock.release()
		plan.lock = nil
	}

	wd := &watchdog{start: time.Now(), joinTimeout: cfg.JoinTimeout, qct: cfg.QuorumContactTimeout, maxLag: cfg.MaxLag}
	m.spawn(func() { m.watch(wd) })
	m.spawn(m.lead)
	if m.disc != nil {
		m.spawn(m.refreshCard)
	}
	if len(plan.Seeds) > 0 {
		seeds := slices.Clone(plan.Seeds)
		m.spawn(func() { m.join(seeds, plan.HasState) })
	}
	return m, nil
}

func (m *Manager) spawn(f func()) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f()
	}()
}

// Fatal delivers at most one verdict: the node must log it and exit with
// its Code.
func (m *Manager) Fatal() <-chan *Exit { return m.fatal }

func (m *Manager) die(e *Exit) {
	if m.leaving.Load() || m.ctx.Err() != nil {
		return
	}
	m.fatalOnce.Do(func() {
		m.log.Error("node must stop", "reason", e.Reason, "exit_code", e.Code)
		m.fatal <- e
		m.cancel() // no further decisions from a node that is going away
	})
}

// Settled reports whether this node holds its place in the cluster's
// voting: it is a voter, or the cluster already has cluster.voters voters.
// A node that joined a young cluster is not settled until its promotion:
// before that, the cluster survives no failure the node's presence
// suggests it does. The node package makes readiness wait for it.
func (m *Manager) Settled() bool {
	servers, err := m.rn.Servers()
	if err != nil {
		return false
	}
	voters, self := 0, false
	for _, s := range servers {
		if s.Suffrage == raftnet.Voter {
			voters++
			self = self || s.ID == m.cfg.NodeID
		}
	}
	return self || voters >= m.cfg.Voters
}

// ClusterID returns the cluster's id ("" until a joining node learned it).
func (m *Manager) ClusterID() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.clusterID
}

// Close stops membership's goroutines and the Redis client without leaving
// the cluster (a crash-like stop, or after Leave). Call it before
// raftnet.Node.Shutdown so the watchdog does not mistake the shutdown for a
// removal.
func (m *Manager) Close() {
	m.closeOnce.Do(func() {
		m.cancel()
		m.wg.Wait()
		if m.disc != nil {
			m.disc.close()
		}
	})
}

func (m *Manager) card() idCard {
	ip, _ := hostOf(m.cfg.ClusterAddr)
	return idCard{ID: m.cfg.NodeID, IP: ip, ClusterAddr: m.cfg.ClusterAddr, APIAddr: m.cfg.APIAddr, Birthdate: m.birth, ClusterID: m.ClusterID()}
}

// refreshCard keeps the ID card alive. Redis being down is logged, never
// fatal: a running cluster does not need it.
func (m *Manager) refreshCard() {
	t := time.NewTicker(m.cfg.Heartbeat)
	defer t.Stop()
	failing, skip := false, 0
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		if skip > 0 {
			skip--
			continue
		}
		err := m.disc.putCard(m.ctx, m.card(), m.cfg.cardTTL())
		switch {
		case err != nil:
			skip = 9 // Redis is down: knock every 10 heartbeats only
			if !failing && m.ctx.Err() == nil {
				m.log.Warn("cannot refresh the ID card; the cluster runs on without Redis", "err", err)
				failing = true
			}
		case failing:
			m.log.Info("ID card refreshed again")
			failing = false
		}
	}
}

// join learns the cluster id from a seed, refuses a foreign cluster, and
// asks to be added as a non-voter (a no-op for a current member).
func (m *Manager) join(seeds []string, hasState bool) {
	ctx, cancel := context.WithTimeout(m.ctx, m.cfg.JoinTimeout)
	defer cancel()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		theirs := m.askClusterID(ctx, seeds)
		if theirs != "" {
			if ours := m.ClusterID(); ours != "" && ours != theirs {
				m.die(&Exit{Code: ExitForeignCluster, Reason: fmt.Sprintf("%v: %s holds data of cluster %s, but %v belong to cluster %s; point this node at its own cluster or give it an empty data dir",
					ErrForeignCluster, m.cfg.DataDir, ours, seeds, theirs)})
				return
			}
			err := m.rn.JoinCluster(ctx, seeds, false)
			if err == nil {
				m.mu.Lock()
				m.clusterID = theirs
				m.mu.Unlock()
				if err := writeClusterID(m.cfg.DataDir, theirs); err != nil {
					m.log.Error("joined, but could not store the cluster id", "err", err)
				}
				return
			}
			if errors.Is(err, raftnet.ErrAuth) {
				m.log.Error("seeds rejected this node's credentials (cluster secret or certificate)", "err", err)
			}
			m.log.Debug("join failed", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
	if hasState {
		m.log.Info("could not reach the seeds; relying on the Raft configuration", "seeds", seeds)
	}
	// A node that is still no member is caught by the watchdog's join timeout.
}

func (m *Manager) askClusterID(ctx context.Context, seeds []string) string {
	for _, s := range seeds {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		b, err := m.rn.Call(cctx, s, methodInfo, nil)
		cancel()
		if errors.Is(err, raftnet.ErrAuth) {
			m.log.Warn("seed rejected this node's credentials (cluster secret or certificate)", "seed", s, "err", err)
			continue
		}
		if err != nil {
			m.log.Debug("seed did not answer", "seed", s, "err", err)
			continue
		}
		var r infoResponse
		if json.Unmarshal(b, &r) == nil && r.ClusterID != "" {
			return r.ClusterID
		}
	}
	return ""
}

func (m *Manager) handleInfo(context.Context, []byte) ([]byte, error) {
	return json.Marshal(infoResponse{ClusterID: m.ClusterID(), ID: m.cfg.NodeID})
}

func (m *Manager) handleStats(_ context.Context, req []byte) ([]byte, error) {
	var r statsRequest
	if err := json.Unmarshal(req, &r); err != nil {
		return nil, fmt.Errorf("membership: stats request: %w", err)
	}
	st := m.rn.Stats()
	if r.Term >= st.Term {
		m.mu.Lock()
		m.leaderCommit, m.polledAt = r.Commit, time.Now()
		m.mu.Unlock()
	}
	return json.Marshal(m.selfStats(st))
}

func (m *Manager) selfStats(st raftnet.Stats) statsResponse {
	return statsResponse{ID: m.cfg.NodeID, ClusterID: m.ClusterID(), ClusterAddr: m.cfg.ClusterAddr, APIAddr: m.cfg.APIAddr,
		Birthdate: m.birth, State: st.State, Term: st.Term, Applied: st.AppliedIndex}
}

// watch is the self-termination watchdog.
func (m *Manager) watch(wd *watchdog) {
	t := time.NewTicker(m.cfg.tick())
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		if m.leaving.Load() {
			continue
		}
		if e := wd.observe(m.observe()); e != nil {
			m.die(e)
			return
		}
	}
}

func (m *Manager) observe() observation {
	st := m.rn.Stats()
	o := observation{now: time.Now(), leader: st.State == "Leader", leaderKnown: st.LeaderID != "",
		lastContact: st.LastContact, applied: st.AppliedIndex, commit: st.CommitIndex, shutdown: st.State == "Shutdown"}
	if servers, err := m.rn.Servers(); err == nil {
		o.member = slices.ContainsFunc(servers, func(s raftnet.Server) bool { return s.ID == m.cfg.NodeID })
	} else if errors.Is(err, raftnet.ErrShutdown) {
		o.shutdown = true
	}
	m.mu.Lock()
	if recent := time.Since(m.polledAt) < m.cfg.QuorumContactTimeout; recent {
		o.commitKnown = true
		o.commit = max(o.commit, m.leaderCommit)
	}
	m.mu.Unlock()
	o.commitKnown = o.commitKnown || o.leader
	return o
}
