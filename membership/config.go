package membership

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Config configures membership for one node. Zero values select the
// defaults given beside each field.
type Config struct {
	// NodeID is the node's Raft id, kept in its data dir across restarts.
	NodeID string
	// DataDir is the node's data directory; membership owns DataDir/cluster-id.
	DataDir string
	// ClusterAddr is the advertised cluster address (raftnet's
	// AdvertiseAddr). Its host is this node's IP for the same-IP rule.
	ClusterAddr string
	// APIAddr is the advertised client API address, shown in Status.
	APIAddr string

	// RedisURL (redis://host:port[/db]) enables discovery through Redis ID
	// cards. Redis is only needed to form or enter a cluster.
	RedisURL string
	// RedisPrefix namespaces the keys, so several clusters can share one
	// Redis. Default "korum".
	RedisPrefix string
	// Join lists cluster addresses of existing members (host:port).
	Join []string

	// Voters is how many voters the leader keeps (default 3). Odd counts
	// give the best fault tolerance per voter; 1..7 accepted.
	Voters int
	// MinimumNodes is Kuzzle's cluster.minimumNodes, applied to forming a
	// cluster through Redis: a new node waits until that many new nodes
	// have registered, and the first min(MinimumNodes, Voters) of them
	// start the cluster together, all voters from its first entry
	// (Consul's bootstrap_expect). Default 1: the first node starts alone
	// and the others join it.
	MinimumNodes int
	// Heartbeat is the ID card refresh period; cards live twice as long.
	// Default 2s (Kuzzle's).
	Heartbeat time.Duration
	// JoinTimeout bounds how long a node may take to become a member with a
	// leader before it gives up and exits. Default 60s (Kuzzle's).
	JoinTimeout time.Duration
	// QuorumContactTimeout is how long a member may go without contact with
	// a leader (proof that a quorum is reachable), or lag by more than
	// MaxLag, before it exits. It must exceed an election. Default 5s.
	QuorumContactTimeout time.Duration
	// MaxLag is how many entries the applied index may trail the leader's
	// commit index. Default 10000 (about TrailingLogs: beyond it the node
	// needs a snapshot to catch up).
	MaxLag uint64
	// DeadNodeTimeout is how long the leader waits for a silent member
	// before removing it. Default 30s.
	DeadNodeTimeout time.Duration
	// Stabilization is how long a non-voter must stay caught up before it
	// replaces a lost voter in a cluster that once had Voters voters.
	// A young cluster (never had that many) promotes a caught-up non-voter
	// at once. Default 3s.
	Stabilization time.Duration

	// Logger receives structured logs. Default slog.Default().
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultVoters               = 3
	DefaultHeartbeat            = 2 * time.Second
	DefaultJoinTimeout          = 60 * time.Second
	DefaultQuorumContactTimeout = 5 * time.Second
	DefaultMaxLag               = 10000
	DefaultDeadNodeTimeout      = 30 * time.Second
	DefaultStabilization        = 3 * time.Second
	DefaultRedisPrefix          = "korum"

	// promoteMaxLag is how far a non-voter may trail the commit index and
	// still count as caught up for promotion (Consul's MaxTrailingLogs).
	promoteMaxLag = 250
)

func (c Config) withDefaults() Config {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Voters == 0 {
		c.Voters = DefaultVoters
	}
	if c.MinimumNodes == 0 {
		c.MinimumNodes = 1
	}
	set(&c.Heartbeat, DefaultHeartbeat)
	set(&c.JoinTimeout, DefaultJoinTimeout)
	set(&c.QuorumContactTimeout, DefaultQuorumContactTimeout)
	set(&c.DeadNodeTimeout, DefaultDeadNodeTimeout)
	set(&c.Stabilization, DefaultStabilization)
	if c.MaxLag == 0 {
		c.MaxLag = DefaultMaxLag
	}
	if c.RedisPrefix == "" {
		c.RedisPrefix = DefaultRedisPrefix
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.NodeID == "":
		return errors.New("membership: Config.NodeID is required")
	case c.DataDir == "":
		return errors.New("membership: Config.DataDir is required")
	case c.Voters < 1 || c.Voters > 7:
		return fmt.Errorf("membership: cluster.voters must be between 1 and 7 (got %d)", c.Voters)
	case c.MinimumNodes < 1 || c.MinimumNodes > 100:
		return fmt.Errorf("membership: cluster.minimumNodes must be between 1 and 100 (got %d)", c.MinimumNodes)
	case c.DeadNodeTimeout <= c.QuorumContactTimeout:
		return fmt.Errorf("membership: cluster.deadNodeTimeout (%s) must exceed cluster.quorumContactTimeout (%s)", c.DeadNodeTimeout, c.QuorumContactTimeout)
	}
	if _, err := hostOf(c.ClusterAddr); err != nil {
		return err
	}
	return nil
}

// hostOf returns the host part of a cluster address: this node's IP for
// the same-IP rule.
func hostOf(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" || port == "0" {
		return "", fmt.Errorf("membership: Config.ClusterAddr %q must be a dialable host:port", addr)
	}
	return host, nil
}

// tick is the period of the manager's loop: fine enough to notice a lost
// quorum well within QuorumContactTimeout, coarse enough to stay cheap.
func (c Config) tick() time.Duration {
	return min(max(c.QuorumContactTimeout/10, 50*time.Millisecond), time.Second)
}

func (c Config) cardTTL() time.Duration { return 2 * c.Heartbeat }
