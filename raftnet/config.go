package raftnet

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Config configures one cluster node. Zero durations and counts select the
// defaults listed beside each field.
type Config struct {
	// NodeID is this server's Raft id: unique across all time in a cluster.
	// The caller persists it (in its data dir) so a restart keeps it.
	NodeID string
	// DataDir is the node's data directory; raftnet owns DataDir/raft/ only
	// (raft.db for log and stable store, snapshots/).
	DataDir string
	// BindAddr is the cluster port's listen address. Port 0 lets the OS pick;
	// Node.Addr reports the result.
	BindAddr string
	// AdvertiseAddr is the address peers dial. Empty: the bound address,
	// which is refused when its host is unspecified (0.0.0.0, ::) because
	// peers could not dial it.
	AdvertiseAddr string
	// Secret is the shared cluster secret; every connection on the cluster
	// port must prove it knows it (see auth.go). An empty Secret is accepted
	// only when BindAddr is a loopback address: a development convenience
	// that cannot expose an unauthenticated port to a network.
	Secret string
	// Bootstrap creates a new single-voter cluster made of this node, but
	// only when DataDir holds no Raft state; on restart it is ignored, so the
	// same configuration works for first start and restart.
	Bootstrap bool
	// FSMIsPersistent declares that the FSM keeps its state on disk across
	// restarts (see FSM). raftnet then skips restoring the latest snapshot
	// at start (raft's NoSnapshotRestoreOnStart) and replays only the log
	// tail, which the FSM must skip up to its own AppliedIndex. If the FSM
	// reports an AppliedIndex below the latest snapshot (its files were
	// lost), the snapshot is restored anyway for that start.
	FSMIsPersistent bool

	// Raft timings. HT/ET are twice as fast as hashicorp's 1s: failover
	// (follower timeout, random in [HT, 2·HT), plus an election) then takes
	// about 0.6–1.5 s on a LAN. LeaderLeaseTimeout stays at hashicorp's 500ms
	// rather than scaling down with HT: linearizable reads do not rely on the
	// lease (they verify leadership with a quorum round), so a short lease
	// would only make a leader step down during a CPU or fsync stall on a
	// loaded host — which a 250ms lease did in our loopback benchmarks on a
	// shared 2-core machine.
	HeartbeatTimeout   time.Duration // default 500ms
	ElectionTimeout    time.Duration // default 500ms
	LeaderLeaseTimeout time.Duration // default 500ms; must be ≤ HeartbeatTimeout
	// CommitTimeout is also how often an idle leader tells followers the
	// commit index: hashicorp's heartbeats do not carry it. A linearizable
	// read on a follower right after a write waits up to 2× this for the
	// follower to learn the write committed, hence 10ms rather than
	// hashicorp's 50ms; the price is ~70 empty AppendEntries/s per follower.
	CommitTimeout time.Duration // default 10ms

	SnapshotThreshold uint64        // default 8192 (hashicorp's)
	SnapshotInterval  time.Duration // default 30s (Consul's; hashicorp's is 120s)
	TrailingLogs      uint64        // default 10240 (hashicorp's)

	// ApplyTimeout bounds Apply, LinearizableRead and membership calls whose
	// context has no deadline. Default 10s.
	ApplyTimeout time.Duration
	// LeaderWait bounds how long a call waits for a leader to become known
	// before failing with ErrNoLeader. Default 5s (several election rounds).
	LeaderWait time.Duration
	// HandshakeTimeout bounds connection authentication so a silent peer
	// cannot pin resources. Default 5s.
	HandshakeTimeout time.Duration

	// Logger receives structured logs, Raft's included. Default slog.Default().
	Logger *slog.Logger
}

const (
	defaultHeartbeat  = 500 * time.Millisecond
	defaultElection   = 500 * time.Millisecond
	defaultLease      = 500 * time.Millisecond
	defaultCommit     = 10 * time.Millisecond
	defaultSnapThresh = 8192
	defaultSnapInt    = 30 * time.Second
	defaultTrailing   = 10240
	defaultApply      = 10 * time.Second
	defaultLeaderWait = 5 * time.Second
	defaultHandshake  = 5 * time.Second
	raftTransportPool = 3
	raftTransportTO   = 10 * time.Second
	snapshotsRetained = 2
	logCacheEntries   = 512
)

func (c Config) withDefaults() Config {
	set := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	set(&c.HeartbeatTimeout, defaultHeartbeat)
	set(&c.ElectionTimeout, defaultElection)
	set(&c.LeaderLeaseTimeout, defaultLease)
	set(&c.CommitTimeout, defaultCommit)
	set(&c.SnapshotInterval, defaultSnapInt)
	set(&c.ApplyTimeout, defaultApply)
	set(&c.LeaderWait, defaultLeaderWait)
	set(&c.HandshakeTimeout, defaultHandshake)
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = defaultSnapThresh
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = defaultTrailing
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	if c.NodeID == "" {
		return errors.New("raftnet: Config.NodeID is required")
	}
	if c.DataDir == "" {
		return errors.New("raftnet: Config.DataDir is required")
	}
	host, _, err := net.SplitHostPort(c.BindAddr)
	if err != nil {
		return fmt.Errorf("raftnet: Config.BindAddr %q: %w", c.BindAddr, err)
	}
	if c.Secret == "" && !isLoopback(host) {
		return fmt.Errorf("raftnet: Config.Secret is required unless BindAddr is a loopback address (got %q)", c.BindAddr)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// advertise picks the address peers dial, given the listener's bound one.
func advertise(cfg Config, bound net.Addr) (string, error) {
	if cfg.AdvertiseAddr != "" {
		if _, _, err := net.SplitHostPort(cfg.AdvertiseAddr); err != nil {
			return "", fmt.Errorf("raftnet: Config.AdvertiseAddr %q: %w", cfg.AdvertiseAddr, err)
		}
		return cfg.AdvertiseAddr, nil
	}
	tcp, ok := bound.(*net.TCPAddr)
	if !ok || tcp.IP == nil || tcp.IP.IsUnspecified() {
		return "", fmt.Errorf("raftnet: BindAddr %q has no dialable host; set Config.AdvertiseAddr", cfg.BindAddr)
	}
	return tcp.String(), nil
}
