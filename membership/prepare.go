package membership

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/korumdb/korum/raftnet"

	"github.com/korumdb/korum/internal/durable"
)

// Errors Prepare and Start refuse with. They are meant to be shown to the
// operator as they are.
var (
	// ErrForeignCluster: the data dir belongs to another cluster than the
	// one this node was pointed at.
	ErrForeignCluster = errors.New("membership: this node's data belongs to another cluster")
	// ErrSameIP: another live node advertises the same IP.
	ErrSameIP = errors.New("membership: another live node shares this node's IP address")
	// ErrOrphanData: the data dir names a cluster but holds no Raft state,
	// and there is no member to join: bootstrapping would fork that cluster.
	ErrOrphanData = errors.New("membership: the data dir names a cluster but has no Raft state")
)

const clusterIDFile = "cluster-id"

// Plan is Prepare's decision, to carry out with raftnet.Open (Bootstrap)
// and Start (Seeds).
type Plan struct {
	// Bootstrap: found a new cluster (pass it to raftnet.Config.Bootstrap).
	Bootstrap bool
	// Seeds are members to join through; empty when bootstrapping or when
	// a restarted member found no one to ask (its Raft state suffices).
	Seeds []string
	// ClusterID is the cluster's identity when already known (bootstrap,
	// restart, Redis cards); otherwise Start learns it from Seeds.
	ClusterID string
	// HasState: the data dir already holds Raft state (a restart).
	HasState bool
	// BootstrapServers is the first configuration when several nodes form
	// the cluster together (cluster.minimumNodes > 1): every one of them
	// bootstraps with this same list (raftnet.Config.BootstrapServers).
	// Empty when this node bootstraps alone.
	BootstrapServers []raftnet.Server

	birthdate time.Time
	disc      *discovery // nil without Redis
	lock      *lock      // held until this node's card is published
}

// Done releases what the plan holds (the bootstrap lock, the Redis client)
// when Start will not be called, e.g. because raftnet.Open failed. Start
// takes ownership otherwise. Safe to call more than once.
func (p *Plan) Done() {
	if p.lock != nil {
		p.lock.release()
		p.lock = nil
	}
	if p.disc != nil {
		p.disc.close()
		p.disc = nil
	}
}

// Prepare decides, before raftnet.Open, whether this node bootstraps a new
// cluster, joins one, or restarts as a member. With Redis it takes the
// bootstrap lock (held until Start publishes this node's ID card, so
// exactly one of several nodes starting together bootstraps), reads the
// live ID cards, refuses a live node with the same IP and data that
// belongs to another cluster. Without Redis it uses Config.Join.
func Prepare(ctx context.Context, cfg Config) (*Plan, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger.With("node", cfg.NodeID)
	hasState, err := raftnet.HasState(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("membership: %w", err)
	}
	localID, err := readClusterID(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	p := &Plan{HasState: hasState, ClusterID: localID, birthdate: time.Now().UTC()}

	if cfg.RedisURL != "" {
		ok, err := prepareRedis(ctx, cfg, p)
		if err != nil {
			p.Done()
			return nil, err
		}
		if ok {
			log.Info("membership plan", "bootstrap", p.Bootstrap, "voters", len(p.BootstrapServers), "seeds", p.Seeds, "cluster_id", p.ClusterID, "has_state", hasState, "via", "redis")
			return p, nil
		}
		// Redis unreachable, but a restart or --join seeds do not need it.
	}

	seeds := others(cfg.Join, cfg.ClusterAddr)
	switch {
	case len(seeds) > 0:
		p.Seeds = seeds
	case hasState:
		// A restarted member: its Raft configuration knows its peers.
	case localID != "":
		return nil, fmt.Errorf("%w (%s): give --join (or --redis) to rejoin cluster %s, or remove %s to found a new cluster",
			ErrOrphanData, cfg.DataDir, localID, filepath.Join(cfg.DataDir, clusterIDFile))
	default:
		p.Bootstrap = true
		p.ClusterID = newClusterID()
	}
	log.Info("membership plan", "bootstrap", p.Bootstrap, "seeds", p.Seeds, "cluster_id", p.ClusterID, "has_state", hasState)
	return p, nil
}

// prepareRedis fills p from Redis. It returns false (and no error) when
// Redis cannot be reached but the node can do without it.
func prepareRedis(ctx context.Context, cfg Config, p *Plan) (bool, error) {
	log := cfg.Logger.With("node", cfg.NodeID)
	d, err := newDiscovery(cfg.RedisURL, cfg.RedisPrefix, log)
	if err != nil {
		return false, err
	}
	canSkip := p.HasState || len(others(cfg.Join, cfg.ClusterAddr)) > 0
	wait := cfg.JoinTimeout
	if canSkip {
		wait = redisOpTimeout // do not hold a restart hostage to Redis
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		if err = d.ping(wctx); err == nil {
			break
		}
		if wctx.Err() != nil {
			d.close()
			if canSkip {
				log.Warn("Redis unreachable; continuing without discovery", "err", err)
				return false, nil
			}
			return false, fmt.Errorf("membership: Redis %s unreachable for %s: %w", cfg.RedisURL, wait, err)
		}
		select {
		case <-wctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	p.disc = d

	lctx, cancel2 := context.WithTimeout(ctx, cfg.JoinTimeout)
	defer cancel2()
	if p.lock, err = d.acquire(lctx); err != nil {
		return false, err
	}
	ip, _ := hostOf(cfg.ClusterAddr)
	cards, err := d.cards(ctx)
	if err != nil {
		return false, fmt.Errorf("membership: reading ID cards: %w", err)
	}
	// Same-IP rule. A card with our IP and another id may be the ghost of
	// a previous process on this host (Kuzzle bug #2194): only a card that
	// is still refreshed after its TTL has run out belongs to a live node.
	deadline := time.Now().Add(cfg.cardTTL() + cfg.Heartbeat)
	for {
		clash := sameIP(cards, ip, cfg.NodeID)
		if clash == nil {
			break
		}
		if time.Now().After(deadline) {
			return false, fmt.Errorf("%w (%s): node %s (cluster %s, started %s); every node needs its own IP",
				ErrSameIP, ip, clash.ID, clash.ClusterAddr, clash.Birthdate.Format(time.RFC3339))
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(cfg.Heartbeat / 2):
		}
		if cards, err = d.cards(ctx); err != nil {
			return false, fmt.Errorf("membership: reading ID cards: %w", err)
		}
	}

	var peers []idCard
	for _, c := range cards {
		if c.ID != cfg.NodeID && isMember(c) {
			peers = append(peers, c)
		}
	}
	if len(peers) == 0 {
		switch {
		case p.HasState:
			// A restarted member, alone in Redis: its Raft state knows its peers.
			p.Seeds = others(cfg.Join, cfg.ClusterAddr)
		case p.ClusterID != "":
			if seeds := others(cfg.Join, cfg.ClusterAddr); len(seeds) > 0 {
				p.Seeds = seeds
				break
			}
			return false, fmt.Errorf("%w (%s), and no live node of cluster %s is registered in Redis: start one of its members, or remove %s to found a new cluster",
				ErrOrphanData, cfg.DataDir, p.ClusterID, filepath.Join(cfg.DataDir, clusterIDFile))
		case cfg.MinimumNodes > 1:
			return true, form(ctx, cfg, d, p)
		default:
			p.Bootstrap = true
			p.ClusterID = newClusterID()
		}
		return true, nil
	}
	return true, joinPlan(cfg, p, peers)
}

// isMember: the card's node is in a cluster (not waiting to form one).
func isMember(c idCard) bool { return c.ClusterID != "" && !c.Forming }

// joinPlan makes p join the cluster of the oldest live card (a card of a
// stale cluster would be younger than the ones still refreshed by it),
// unless our own data names the cluster. peers are members' cards.
func joinPlan(cfg Config, p *Plan, peers []idCard) error {
	slices.SortFunc(peers, func(a, b idCard) int { return a.Birthdate.Compare(b.Birthdate) })
	want := p.ClusterID
	if want == "" {
		want = peers[0].ClusterID
	}
	for _, c := range peers {
		if c.ClusterID == want {
			p.Seeds = append(p.Seeds, c.ClusterAddr)
		}
	}
	if len(p.Seeds) == 0 {
		return fmt.Errorf("%w: %s holds data of cluster %s, but the nodes registered in Redis %s belong to cluster %s; point this node at its own cluster or give it an empty data dir",
			ErrForeignCluster, cfg.DataDir, p.ClusterID, cfg.RedisURL, peers[0].ClusterID)
	}
	p.ClusterID = want
	return nil
}

func sameIP(cards []idCard, ip, self string) *idCard {
	for i, c := range cards {
		if c.IP == ip && c.ID != self {
			return &cards[i]
		}
	}
	return nil
}

// others returns addrs without self and blanks.
func others(addrs []string, self string) []string {
	var out []string
	for _, a := range addrs {
		if a = strings.TrimSpace(a); a != "" && a != self {
			out = append(out, a)
		}
	}
	return out
}

// NewCluster gives a data dir that will found a new cluster from restored
// state (raftnet.PlantSeed) a new cluster id, and returns it. The restored
// state may come from a cluster that still runs: a new id keeps the two
// apart.
func NewCluster(dataDir string) (string, error) {
	id := newClusterID()
	return id, writeClusterID(dataDir, id)
}

func newClusterID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func readClusterID(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, clusterIDFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("membership: reading the cluster id: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// writeClusterID stores id durably (write, fsync, rename, directory fsync).
func writeClusterID(dataDir, id string) error {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return fmt.Errorf("membership: data dir: %w", err)
	}
	err := durable.ReplaceFile(filepath.Join(dataDir, clusterIDFile), strings.NewReader(id+"\n"), 0o644)
	if err != nil {
		return fmt.Errorf("membership: writing the cluster id: %w", err)
	}
	return nil
}
