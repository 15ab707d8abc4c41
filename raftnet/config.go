package raftnet

import (
	"context"
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
	// (wal/, or raft.db in older data dirs, for log and stable store;
	// snapshots/).
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
	// only when BindAddr is a loopback address (a development convenience
	// that cannot expose an unauthenticated port to a network) or with TLS,
	// whose certificates then authenticate peers on their own.
	Secret string
	// TLS, when set, runs every cluster connection in mutual TLS 1.3 (see
	// TLSConfig); the secret, if any, is still checked inside it as a
	// second factor. Nil: plaintext, authenticated by the secret alone.
	TLS *TLSConfig
	// Bootstrap creates a new single-voter cluster made of this node, but
	// only when DataDir holds no Raft state; on restart it is ignored, so the
	// same configuration works for first start and restart.
	Bootstrap bool
	// BootstrapServers, when Bootstrap applies, is the whole first
	// configuration instead of this node alone: every server in it is a
	// voter from the first entry. Each of them must bootstrap with exactly
	// the same list (hashicorp/raft's BootstrapCluster is safe to call on
	// every server with one configuration; Consul's bootstrap_expect does
	// so). It must contain this node at its advertised address.
	BootstrapServers []Server
	// FSMIsPersistent declares that the FSM keeps its state on disk across
	// restarts (see FSM). raftnet then skips restoring the latest snapshot
	// at start (raft's NoSnapshotRestoreOnStart) and replays only the log
	// tail, which the FSM must skip up to its own AppliedIndex. If the FSM
	// reports an AppliedIndex below the latest snapshot (its files were
	// lost), the snapshot is restored anyway for that start.
	FSMIsPersistent bool
	// AdmitJoin, when set, is asked by the leader before it adds a server
	// that asks to join (Join); an error refuses the join and is what the
	// joiner receives. The caller checks there what raftnet cannot know,
	// such as whether the joiner's release reads the cluster's formats.
	AdmitJoin func(ctx context.Context, n *Node, id, addr string) error

	// Raft timings, chosen for failover (leader death to the next committed
	// write) within 1 s. After the leader dies, a follower notices only when
	// its heartbeat timer, re-armed at random in [HT, 2·HT) and not reset on
	// contact, fires with the last contact older than HT: in [HT, 3·HT). A
	// voter that still knows the leader refuses (pre-)votes, so the election
	// waits for the surviving voters to time out; a split vote adds
	// [ET, 2·ET). bench/failover.sh (3 voters on loopback, shared 2-core host
	// at load average 1–6, idle or under write load) measured 0.29–0.73 s
	// over 115 samples with 250ms; 300ms reached 1.05 s under load, 500ms
	// (the former default) 0.57–1.44 s.
	// LeaderLeaseTimeout must be ≤ HT. Reads do not rely on the lease (they
	// verify leadership with a quorum round): it only decides when a leader
	// that has not heard from a quorum steps down. A 250ms lease under a
	// 500ms HT once made leaders step down during CPU or fsync stalls on
	// that host; with all three at 250ms, 30 s runs of 64-client create, get
	// and subscribe load (load average up to 9) and raftnet's BenchmarkApply
	// caused no election and no step-down. Raise all three together on a
	// slower network or a busier host.
	HeartbeatTimeout   time.Duration // default 250ms
	ElectionTimeout    time.Duration // default 250ms
	LeaderLeaseTimeout time.Duration // default 250ms; must be ≤ HeartbeatTimeout
	// CommitTimeout is also how often an idle leader tells followers the
	// commit index: hashicorp's heartbeats do not carry it. A linearizable
	// read on a follower right after a write waits up to 2× this for the
	// follower to learn the write committed, hence 10ms rather than
	// hashicorp's 50ms; the price is ~70 empty AppendEntries/s per follower.
	CommitTimeout time.Duration // default 10ms

	SnapshotThreshold uint64        // default 8192 (hashicorp's)
	SnapshotInterval  time.Duration // default 30s (Consul's; hashicorp's is 120s)
	TrailingLogs      uint64        // default 10240 (hashicorp's)

	// DiskMinFree is the free space (bytes) below which the node stops
	// appending to its log, before the disk is actually full (see
	// diskGuard). Zero: only failed writes trip the guard.
	DiskMinFree uint64
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
	defaultHeartbeat  = 250 * time.Millisecond
	defaultElection   = 250 * time.Millisecond
	defaultLease      = 250 * time.Millisecond
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
	if c.TLS != nil {
		return c.TLS.validate()
	}
	if c.Secret == "" && !isLoopback(host) {
		return fmt.Errorf("raftnet: Config.Secret (or Config.TLS) is required unless BindAddr is a loopback address (got %q)", c.BindAddr)
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
