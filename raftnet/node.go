package raftnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"go.etcd.io/bbolt"
)

// Internal RPC methods. The "@leader" ones only ever run locally on the node
// that receives them and answer ErrNotLeader otherwise, so a forwarded
// request makes exactly one hop and never loops between stale views.
const (
	methodApply        = "raftnet.apply@leader"
	methodReadIndex    = "raftnet.readindex@leader"
	methodJoinLeader   = "raftnet.join@leader"
	methodRemoveLeader = "raftnet.remove@leader"
	methodPromote      = "raftnet.promote@leader"
	// methodJoin is the entry point for nodes that are not members yet: any
	// member accepts it and forwards it to its leader.
	methodJoin = "raftnet.join"
)

// Node is one member of the cluster: a Raft instance, the cluster port it
// listens on, and the client side of that port.
type Node struct {
	cfg  Config
	id   string
	addr string // advertised
	log  *slog.Logger

	raft  *raft.Raft
	fsm   *fsmAdapter
	logs  raft.LogStore
	store logStore // the log and the stable store
	// storeKind is "wal", or "boltdb" for a data dir an earlier release
	// wrote.
	storeKind string
	disk      *diskGuard
	trans     *raft.NetworkTransport
	mux       *mux
	srv       *rpcServer
	cli       *rpcClient

	ctx    context.Context // cancelled by Shutdown
	cancel context.CancelFunc

	leaderMu      sync.Mutex
	leaderChanged chan struct{} // closed and replaced on leader/state change
	observer      *raft.Observer
	observerDone  chan struct{}

	leaderLog []LeaderChange // under leaderMu: the last maxLeaderLog changes seen, oldest first

	barrierMu   sync.Mutex
	barrierTerm atomic.Uint64 // term in which this leader's Barrier completed

	shutdownOnce sync.Once
	shutdownErr  error
}

// Open starts a node: it opens (or creates) DataDir/raft, listens on the
// cluster port and starts Raft. With cfg.Bootstrap and no existing state it
// bootstraps a one-voter cluster; otherwise the node waits to be contacted by
// a leader (see JoinCluster).
func Open(ctx context.Context, cfg Config, fsm FSM) (*Node, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if fsm == nil {
		return nil, errors.New("raftnet: nil FSM")
	}
	log := cfg.Logger.With("node", cfg.NodeID)
	dir := filepath.Join(cfg.DataDir, "raft")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("raftnet: data dir: %w", err)
	}

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.BindAddr)
	if err != nil {
		return nil, fmt.Errorf("raftnet: listen on cluster port: %w", err)
	}
	addr, err := advertise(cfg, ln.Addr())
	if err != nil {
		ln.Close()
		return nil, err
	}

	n := &Node{cfg: cfg, id: cfg.NodeID, addr: addr, log: log, leaderChanged: make(chan struct{}), observerDone: make(chan struct{})}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	ok := false
	defer func() {
		if !ok {
			n.cancel()
			ln.Close()
			if n.store != nil {
				n.store.Close()
			}
		}
	}()

	n.store, n.storeKind, err = openLogStore(dir, log)
	if err != nil {
		return nil, err
	}
	n.disk = newDiskGuard(dir, cfg.DiskMinFree, log)
	n.disk.onTrip = n.handOverLeadership
	// The guard sits below the cache, to see the store's own errors, and
	// above it, because the cache turns errors into text, hiding ErrDisk.
	cache, err := raft.NewLogCache(logCacheEntries, guardedLogStore{LogStore: n.store, g: n.disk})
	if err != nil {
		return nil, fmt.Errorf("raftnet: log cache: %w", err)
	}
	n.logs = guardedLogStore{LogStore: cache, g: n.disk}
	raftLog := newHclog(log, "raft")
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, snapshotsRetained, raftLog.Named("snapshots"))
	if err != nil {
		return nil, fmt.Errorf("raftnet: snapshot store: %w", err)
	}

	auth := newPeerAuth(cfg.Secret, cfg.TLS)
	n.srv = &rpcServer{log: log, base: n.ctx, handlers: make(map[string]Handler)}
	n.cli = newRPCClient(auth, cfg.HandshakeTimeout, log)
	n.cli.local = sourceAddr(addr)
	n.mux = newMux(ln, addr, auth, cfg.HandshakeTimeout, log)
	n.mux.serveRPC = n.srv.serveConn
	stream := &streamLayer{m: n.mux, closed: make(chan struct{})}
	n.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: raftTransportPool,
		Timeout: raftTransportTO,
		Logger:  raftLog.Named("transport"),
	})

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.CommitTimeout = cfg.CommitTimeout
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	rc.NoSnapshotRestoreOnStart = cfg.FSMIsPersistent
	// Concurrent Applies are grouped into one fsync'd append; the buffered
	// channel gives up raft's enqueue-timeout guarantee, which we do not rely
	// on (callers' contexts bound the wait).
	rc.BatchApplyCh = true
	// A joining or lagging follower catches up in AppendEntries of at most
	// this many entries, one round trip and one fsync each: hashicorp's 64
	// made a new node replay 100,000 entries in ~1,600 round trips. 1024 is
	// raft's ceiling; it also bounds the leader's group commit.
	rc.MaxAppendEntries = 1024
	rc.Logger = raftLog
	if err := raft.ValidateConfig(rc); err != nil {
		n.trans.Close()
		return nil, fmt.Errorf("raftnet: raft config: %w", err)
	}

	if has, err := raft.HasExistingState(n.logs, n.store, snaps); err != nil {
		n.trans.Close()
		return nil, fmt.Errorf("raftnet: inspect raft state: %w", err)
	} else if err := n.installSeed(dir, snaps, has); err != nil {
		n.trans.Close()
		return nil, err
	}
	if cfg.FSMIsPersistent {
		// A persistent FSM that is behind the latest snapshot (its files
		// were lost or replaced) cannot catch up from the log tail, which
		// starts after the snapshot: restore the snapshot this once.
		metas, err := snaps.List()
		if err != nil {
			n.trans.Close()
			return nil, fmt.Errorf("raftnet: list snapshots: %w", err)
		}
		if len(metas) > 0 && metas[0].Index > fsm.AppliedIndex() {
			log.Warn("FSM is behind the latest snapshot; restoring the snapshot", "fsm_index", fsm.AppliedIndex(), "snapshot_index", metas[0].Index)
			rc.NoSnapshotRestoreOnStart = false
		}
	}
	hasState, err := raft.HasExistingState(n.logs, n.store, snaps)
	if err != nil {
		n.trans.Close()
		return nil, fmt.Errorf("raftnet: inspect raft state: %w", err)
	}
	n.fsm = newFSMAdapter(fsm)
	// The guard must be checking before Raft starts: a term write Raft
	// makes while starting waits for it.
	go n.disk.run(n.ctx)
	stable := guardedStableStore{StableStore: n.store, g: n.disk, done: n.ctx}
	n.raft, err = raft.NewRaft(rc, n.fsm, n.logs, stable, snaps, n.trans)
	if err != nil {
		n.trans.Close()
		return nil, fmt.Errorf("raftnet: start raft: %w", err)
	}

	obs := make(chan raft.Observation, 16)
	n.observer = raft.NewObserver(obs, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.LeaderObservation, raft.RaftState:
			return true
		}
		return false
	})
	n.raft.RegisterObserver(n.observer)
	go n.watchLeader(obs)

	n.registerInternal()
	n.mux.start()

	if cfg.Bootstrap && !hasState {
		boot, err := bootConfiguration(cfg.BootstrapServers, rc.LocalID, addr)
		if err != nil {
			n.raft.Shutdown()
			n.trans.Close()
			n.mux.close()
			return nil, err
		}
		if err := n.raft.BootstrapCluster(boot).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			n.raft.Shutdown()
			n.trans.Close()
			n.mux.close()
			return nil, fmt.Errorf("raftnet: bootstrap: %w", err)
		}
		log.Info("bootstrapped new cluster", "addr", addr, "voters", len(boot.Servers))
	}
	log.Info("raft node started", "addr", addr, "existing_state", hasState, "fsm_persistent", cfg.FSMIsPersistent, "log_store", n.storeKind)
	ok = true
	return n, nil
}

// bootConfiguration is the first configuration: this node alone, or the
// given servers, all voters, which must include this node as it advertises
// itself (a server missing from its own first configuration could never
// vote, and a wrong address would make the others dial nowhere).
func bootConfiguration(servers []Server, self raft.ServerID, addr string) (raft.Configuration, error) {
	if len(servers) == 0 {
		return raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: self, Address: raft.ServerAddress(addr)}}}, nil
	}
	var c raft.Configuration
	found := false
	for _, s := range servers {
		if raft.ServerID(s.ID) == self {
			if s.Address != addr {
				return c, fmt.Errorf("raftnet: bootstrap configuration names this node at %s, but it advertises %s", s.Address, addr)
			}
			found = true
		}
		c.Servers = append(c.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(s.ID), Address: raft.ServerAddress(s.Address)})
	}
	if !found {
		return c, fmt.Errorf("raftnet: bootstrap configuration %v does not contain this node (%s)", servers, self)
	}
	return c, nil
}

func (n *Node) registerInternal() {
	n.srv.handle(methodApply, func(ctx context.Context, cmd []byte) ([]byte, error) {
		return n.applyLocal(ctx, cmd)
	})
	n.srv.handle(methodReadIndex, func(ctx context.Context, _ []byte) ([]byte, error) {
		idx, err := n.readIndexLocal(ctx)
		if err != nil {
			return nil, err
		}
		return encodeUint64(idx), nil
	})
	n.srv.handle(methodJoinLeader, n.handleJoinLeader)
	n.srv.handle(methodJoin, n.handleJoin)
	n.srv.handle(methodRemoveLeader, n.handleRemoveLeader)
	n.srv.handle(methodPromote, n.handlePromoteLeader)
}

func (n *Node) watchLeader(obs chan raft.Observation) {
	defer close(n.observerDone)
	var last raft.ServerID
	for {
		select {
		case o := <-obs:
			var change *LeaderChange
			if lo, ok := o.Data.(raft.LeaderObservation); ok && lo.LeaderID != last {
				last = lo.LeaderID
				n.log.Info("leader changed", "leader_id", string(lo.LeaderID), "leader_addr", string(lo.LeaderAddr))
				change = &LeaderChange{Time: time.Now(), LeaderID: string(lo.LeaderID), Term: n.raft.CurrentTerm()}
			}
			n.leaderMu.Lock()
			if change != nil {
				if len(n.leaderLog) == maxLeaderLog {
					n.leaderLog = append(n.leaderLog[:0], n.leaderLog[1:]...)
				}
				n.leaderLog = append(n.leaderLog, *change)
			}
			close(n.leaderChanged)
			n.leaderChanged = make(chan struct{})
			n.leaderMu.Unlock()
		case <-n.ctx.Done():
			return
		}
	}
}

// LeaderChange is a change of leader this node saw; LeaderID "" is the
// loss of a leader (an election under way, or this node cut off).
type LeaderChange struct {
	Time     time.Time
	LeaderID string
	Term     uint64 // this node's term when it saw the change
}

// maxLeaderLog bounds the leader changes a node remembers.
const maxLeaderLog = 32

// LeaderChanges returns the last leader changes this node saw since it
// started, oldest first (for the dashboard: they are not replicated).
func (n *Node) LeaderChanges() []LeaderChange {
	n.leaderMu.Lock()
	defer n.leaderMu.Unlock()
	return append([]LeaderChange(nil), n.leaderLog...)
}

func (n *Node) leaderChange() <-chan struct{} {
	n.leaderMu.Lock()
	defer n.leaderMu.Unlock()
	return n.leaderChanged
}

// ID returns this node's Raft id.
func (n *Node) ID() string { return n.id }

// Addr returns the advertised cluster address (the bound one when the
// configured port was 0).
func (n *Node) Addr() string { return n.addr }

// Raft exposes the underlying instance for membership code that needs more
// than this API (observers, ReloadConfig…).
func (n *Node) Raft() *raft.Raft { return n.raft }

// Leader returns the current leader as this node knows it, or empty strings.
func (n *Node) Leader() (id, addr string) {
	a, i := n.raft.LeaderWithID()
	return string(i), string(a)
}

// IsLeader reports whether this node currently believes it leads. Use
// LinearizableRead, not this, to decide whether local state is current.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// opCtx bounds operations whose caller gave no deadline.
func (n *Node) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, n.cfg.ApplyTimeout)
}

// WaitLeader returns the leader once one is known to this node, waiting at
// most Config.LeaderWait and ctx; ErrNoLeader otherwise. Useful at start-up
// before serving.
func (n *Node) WaitLeader(ctx context.Context) (id, addr string, err error) {
	return n.waitLeader(ctx)
}

// waitLeader returns the leader, waiting at most LeaderWait (and the
// context) for one to be known.
func (n *Node) waitLeader(ctx context.Context) (id, addr string, err error) {
	if id, addr = n.Leader(); id != "" {
		return id, addr, nil // the common case, without timers
	}
	timer := time.NewTimer(n.cfg.LeaderWait)
	defer timer.Stop()
	// Observations can be dropped under load; a slow poll covers that.
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	for {
		changed := n.leaderChange()
		if id, addr = n.Leader(); id != "" {
			return id, addr, nil
		}
		select {
		case <-changed:
		case <-poll.C:
		case <-timer.C:
			return "", "", fmt.Errorf("%w after %s", ErrNoLeader, n.cfg.LeaderWait)
		case <-ctx.Done():
			return "", "", fmt.Errorf("%w: %w", ErrNoLeader, ctx.Err())
		case <-n.ctx.Done():
			return "", "", ErrShutdown
		}
	}
}

// onLeader runs local on the leader, or calls method on the leader. It
// retries while the command is known not to have been submitted (no leader
// yet, stale leader, dial failure), and — only when idempotent — also after
// failures of unknown outcome.
func (n *Node) onLeader(ctx context.Context, method string, req []byte, idempotent bool, local func(context.Context, []byte) ([]byte, error)) ([]byte, error) {
	ctx, cancel := n.opCtx(ctx)
	defer cancel()
	backoff := 10 * time.Millisecond
	for {
		id, addr, err := n.waitLeader(ctx)
		if err != nil {
			return nil, err
		}
		var res []byte
		if id == n.id {
			res, err = local(ctx, req)
		} else {
			res, err = n.cli.call(ctx, addr, method, req)
		}
		if err == nil || !n.retryable(err, idempotent) {
			return res, err
		}
		// Out of time while the command provably never entered the log:
		// to the caller that is "no (reachable) leader".
		noLeader := func() error {
			if errors.Is(err, ErrUnknownOutcome) || errors.Is(err, ErrNoLeader) {
				return err
			}
			return fmt.Errorf("%w: %w", ErrNoLeader, err)
		}
		if ctx.Err() != nil {
			return nil, noLeader()
		}
		n.log.Debug("retrying on leader", "method", method, "leader", id, "err", err)
		// Usually the leader is changing: wake as soon as we hear of it.
		select {
		case <-n.leaderChange():
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil, noLeader()
		case <-n.ctx.Done():
			return nil, ErrShutdown
		}
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

func (n *Node) retryable(err error, idempotent bool) bool {
	var fe *FSMError
	var re *RemoteError
	switch {
	case errors.As(err, &fe), errors.Is(err, ErrAuth), errors.Is(err, ErrUnknownMethod):
		return false
	case errors.Is(err, ErrUnknownOutcome):
		return idempotent
	case errors.Is(err, ErrNotLeader), errors.Is(err, ErrNoLeader), isNotSent(err):
		return n.ctx.Err() == nil
	case errors.Is(err, ErrShutdown):
		return errors.As(err, &re) // the remote is going away, not us
	}
	// Anything else local (an unmapped raft error) is worth another try
	// only for idempotent operations.
	return idempotent && !errors.As(err, &re) && n.ctx.Err() == nil
}

// Apply submits cmd to the log and returns the FSM's result for it, from
// whichever node leads. Errors: ErrNoLeader (not submitted), ErrUnknownOutcome
// (possibly committed: the FSM must deduplicate or commands be idempotent),
// *FSMError (committed; the FSM answered with an error), ErrShutdown.
func (n *Node) Apply(ctx context.Context, cmd []byte) ([]byte, error) {
	return n.onLeader(ctx, methodApply, cmd, false, n.applyLocal)
}

func (n *Node) applyLocal(ctx context.Context, cmd []byte) ([]byte, error) {
	if n.raft.State() != raft.Leader {
		return nil, ErrNotLeader
	}
	if err := n.disk.err(); err != nil {
		// Appending would fail and make Raft step down; refuse first.
		return nil, err
	}
	deadline, _ := ctx.Deadline()
	f := n.raft.Apply(cmd, time.Until(deadline))
	if err := n.await(ctx, f); err != nil {
		if errors.Is(err, raft.ErrRaftShutdown) {
			// The entry may already be in the log and commit later.
			return nil, unknownOutcome(ErrShutdown)
		}
		return nil, mapRaftErr(err)
	}
	switch r := f.Response().(type) {
	case nil:
		return nil, nil
	case []byte:
		return r, nil
	case error:
		return nil, &FSMError{Msg: r.Error(), err: r}
	default: // fsmAdapter rules this out
		return nil, fmt.Errorf("raftnet: FSM returned %T", r)
	}
}

// await waits for a raft future without letting a cancelled caller hang on it.
func (n *Node) await(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return unknownOutcome(ctx.Err())
	}
}

// LinearizableRead returns once this node's FSM reflects every write
// committed before the call began, so a read of local state that follows is
// linearizable. The leader proves it still leads (a quorum heartbeat) after
// capturing its commit index — the read-index protocol; followers ask the
// leader for that index and wait for their own FSM to reach it.
func (n *Node) LinearizableRead(ctx context.Context) error {
	ctx, cancel := n.opCtx(ctx)
	defer cancel()
	res, err := n.onLeader(ctx, methodReadIndex, nil, true, func(ctx context.Context, _ []byte) ([]byte, error) {
		idx, err := n.readIndexLocal(ctx)
		return encodeUint64(idx), err
	})
	if err != nil {
		return err
	}
	idx, err := decodeUint64(res)
	if err != nil {
		return err
	}
	return n.waitApplied(ctx, idx)
}

func (n *Node) readIndexLocal(ctx context.Context) (uint64, error) {
	if n.raft.State() != raft.Leader {
		return 0, ErrNotLeader
	}
	term := n.raft.CurrentTerm()
	// A new leader's commit index can lag until it commits an entry of its
	// own term; a Barrier once per term guarantees it has.
	if n.barrierTerm.Load() != term {
		if err := n.disk.err(); err != nil {
			// The barrier is a log entry: see applyLocal.
			return 0, err
		}
		n.barrierMu.Lock()
		if n.barrierTerm.Load() != term {
			deadline, _ := ctx.Deadline()
			if err := n.await(ctx, n.raft.Barrier(time.Until(deadline))); err != nil {
				n.barrierMu.Unlock()
				return 0, fmt.Errorf("%w: barrier: %w", ErrNotLeader, err)
			}
			if n.raft.CurrentTerm() != term {
				n.barrierMu.Unlock()
				return 0, ErrNotLeader
			}
			n.barrierTerm.Store(term)
		}
		n.barrierMu.Unlock()
	}
	idx := n.raft.CommitIndex()
	if err := n.await(ctx, n.raft.VerifyLeader()); err != nil {
		return 0, fmt.Errorf("%w: verify leader: %w", ErrNotLeader, err)
	}
	if n.raft.CurrentTerm() != term {
		return 0, ErrNotLeader
	}
	return idx, nil
}

// waitApplied blocks until the FSM has consumed every entry up to idx.
func (n *Node) waitApplied(ctx context.Context, idx uint64) error {
	// Entries the FSM never sees (no-ops, barriers) do not wake us; poll.
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for {
		changed := n.fsm.changed()
		if n.caughtUp(idx) {
			return nil
		}
		select {
		case <-changed:
		case <-poll.C:
		case <-ctx.Done():
			return fmt.Errorf("raftnet: waiting for FSM to apply index %d (at %d): %w", idx, n.fsm.index(), ctx.Err())
		case <-n.ctx.Done():
			return ErrShutdown
		}
	}
}

// Fresh returns nil once this node may trust its replicated state for
// what must not be served stale (a revoked token): it is the leader (which
// steps down within LeaderLeaseTimeout of losing its quorum), or a follower
// that heard from its leader within maxSilence; and its FSM has applied
// everything this node knows to be committed (waiting up to maxWait for
// it, the only slow path). A restarted node therefore
// refuses until a leader told it the commit index and it caught up, and a
// cut-off node refuses once maxSilence passed. ErrNotFresh otherwise, or
// the context's error while catching up.
func (n *Node) Fresh(ctx context.Context, maxSilence, maxWait time.Duration) error {
	switch n.raft.State() {
	case raft.Leader:
	case raft.Follower:
		if id, _ := n.Leader(); id == "" || time.Since(n.raft.LastContact()) > maxSilence {
			return ErrNotFresh
		}
	default:
		return ErrNotFresh
	}
	commit := n.raft.CommitIndex()
	if n.caughtUp(commit) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, maxWait)
	defer cancel()
	return n.waitApplied(ctx, commit)
}

// caughtUp reports whether the FSM has consumed all it will ever see up to
// idx. Raft does not pass no-op and barrier entries to the FSM, so when the
// FSM's index is behind but Raft has dispatched everything up to idx, the
// gap is checked in the log: only LogCommand/LogConfiguration entries are
// still owed to the FSM.
func (n *Node) caughtUp(idx uint64) bool {
	have := n.fsm.index()
	if have >= idx {
		return true
	}
	if n.raft.AppliedIndex() < idx || idx-have > 1024 {
		return false
	}
	var l raft.Log
	for i := have + 1; i <= idx; i++ {
		if err := n.logs.GetLog(i, &l); err != nil {
			return false
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return false
		}
	}
	return true
}

// Handle registers h for method on this node's cluster port, replacing any
// previous handler. Names starting with "raftnet." are reserved; using one
// is a programming error and panics.
func (n *Node) Handle(method string, h Handler) {
	if strings.HasPrefix(method, "raftnet.") || method == "" || h == nil {
		panic(fmt.Sprintf("raftnet: Handle(%q): reserved or empty method, or nil handler", method))
	}
	n.srv.handle(method, h)
}

// Call invokes method on the node at addr. When the error matches
// ErrUnknownOutcome the request was sent and may have been executed; other
// transport errors mean it never reached the handler.
func (n *Node) Call(ctx context.Context, addr, method string, req []byte) ([]byte, error) {
	return n.cli.call(ctx, addr, method, req)
}

// LeadershipTransfer hands leadership to the most up-to-date voter (e.g.
// before a planned shutdown of the leader).
func (n *Node) LeadershipTransfer() error {
	if err := n.raft.LeadershipTransfer().Error(); err != nil {
		return fmt.Errorf("raftnet: leadership transfer: %w", mapRaftErr(err))
	}
	return nil
}

// shutdownRaft stops Raft. Its goroutine never returns from a term or vote
// write that the disk guard held back (guardedStableStore), so that wait is
// given up on after a while: nothing of that write reached the disk or a
// peer.
func (n *Node) shutdownRaft() error {
	done := make(chan error, 1)
	go func() { done <- n.raft.Shutdown().Error() }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			if n.disk.stuck.Load() {
				n.log.Warn("raft left blocked on a term write the full disk could not take")
				return nil
			}
		}
	}
}

// handOverLeadership runs each time the disk guard trips: a leader that
// cannot append hands leadership to a voter that can, so the cluster keeps
// taking writes. Raft picks the most up-to-date voter; one whose disk is
// full too cannot persist the new term and the transfer fails, which is
// logged and changes nothing.
func (n *Node) handOverLeadership() {
	if n.raft.State() != raft.Leader {
		return
	}
	servers, err := n.Servers()
	if err != nil {
		return
	}
	voters := 0
	for _, s := range servers {
		if s.Suffrage == Voter {
			voters++
		}
	}
	if voters < 2 {
		return
	}
	if err := n.LeadershipTransfer(); err != nil {
		n.log.Warn("could not hand leadership over while the disk refuses writes", "err", err)
		return
	}
	n.log.Info("handed leadership over: the disk refuses writes")
}

// DiskErr is nil while this node can persist its log; otherwise ErrDisk with
// the reason (no space left, I/O error).
func (n *Node) DiskErr() error { return n.disk.err() }

// Stats is a snapshot of this node's Raft state, for health checks and
// membership decisions.
type Stats struct {
	ID, Addr     string
	State        string // Follower, Candidate, Leader, Shutdown
	Term         uint64
	LastLogIndex uint64
	CommitIndex  uint64
	// AppliedIndex is what the FSM has consumed (not what Raft dispatched).
	AppliedIndex uint64
	// LastContact is the last time a leader was heard from; zero when never,
	// and meaningless on the leader itself.
	LastContact time.Time
	LeaderID    string
	LeaderAddr  string
	// AuthFailures counts connections rejected by the cluster-port handshake.
	AuthFailures uint64
}

// Stats returns the current Stats.
func (n *Node) Stats() Stats {
	lid, laddr := n.Leader()
	return Stats{
		ID:           n.id,
		Addr:         n.addr,
		State:        n.raft.State().String(),
		Term:         n.raft.CurrentTerm(),
		LastLogIndex: n.raft.LastIndex(),
		CommitIndex:  n.raft.CommitIndex(),
		AppliedIndex: n.fsm.index(),
		LastContact:  n.raft.LastContact(),
		LeaderID:     lid,
		LeaderAddr:   laddr,
		AuthFailures: n.mux.authFailures.Load(),
	}
}

// Shutdown stops Raft, closes the cluster port and the log store. It does not
// transfer leadership or leave the cluster: that is the caller's policy
// (LeadershipTransfer, Remove). Safe to call more than once.
func (n *Node) Shutdown() error {
	n.shutdownOnce.Do(func() {
		n.cancel()
		var errs []error
		if err := n.shutdownRaft(); err != nil {
			errs = append(errs, fmt.Errorf("raft: %w", err))
		}
		n.raft.DeregisterObserver(n.observer)
		<-n.observerDone
		if err := n.trans.Close(); err != nil {
			errs = append(errs, fmt.Errorf("transport: %w", err))
		}
		n.cli.close()
		n.mux.close()
		if err := n.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("log store: %w", err))
		}
		if len(errs) > 0 {
			n.shutdownErr = fmt.Errorf("raftnet: shutdown: %w", errors.Join(errs...))
		}
		n.log.Info("raft node stopped")
	})
	return n.shutdownErr
}

// HasState reports whether dataDir already holds Raft state (a log, a term
// or a snapshot, or a planted seed), without starting anything. Membership uses it before Open
// to decide between bootstrapping, joining and restarting as a member; the
// log store's lock makes it fail (after 2s) while a node has the dir open.
func HasState(dataDir string) (bool, error) {
	dir := filepath.Join(dataDir, "raft")
	if seed, err := readSeed(dir); err != nil || seed != nil {
		// Restored state waiting to found a cluster (PlantSeed).
		return seed != nil, err
	}
	if !hasLogState(dir) {
		return false, nil
	}
	store, _, err := openLogStore(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		return false, err
	}
	defer store.Close()
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, snapshotsRetained, newHclog(slog.New(slog.DiscardHandler), "raft"))
	if err != nil {
		return false, fmt.Errorf("raftnet: snapshot store: %w", err)
	}
	has, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		return false, fmt.Errorf("raftnet: inspect raft state: %w", err)
	}
	return has, nil
}

// boltOptions opens the log store. The timeout stops a second Open on the
// same dir from blocking forever on bbolt's file lock. The freelist is not
// written at each commit (it is rebuilt by a scan when the file opens, a
// few milliseconds for a log that snapshots keep short): the log is
// truncated after every snapshot, which frees many pages, and writing that
// freelist with every append cost 10-15% of the cluster's CPU per
// commit-bound request in our 3-node benchmarks. The map freelist keeps
// allocation cheap when it is large.
func boltOptions() *bbolt.Options {
	return &bbolt.Options{Timeout: 2 * time.Second, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType}
}
