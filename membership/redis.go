package membership

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// idCard is a node's ID card in Redis: how others find it while it is alive.
type idCard struct {
	ID          string    `json:"id"`
	IP          string    `json:"ip"`
	ClusterAddr string    `json:"clusterAddr"`
	APIAddr     string    `json:"apiAddr"`
	Birthdate   time.Time `json:"birthdate"`
	ClusterID   string    `json:"clusterId"`
	// Forming: the node waits for cluster.minimumNodes new nodes to start
	// a cluster; it is no member of anything yet and cannot be joined.
	Forming bool `json:"forming,omitempty"`
}

// formation is the first configuration of a cluster formed by several
// nodes at once: written once (SET NX) by whichever waiting node first sees
// cluster.minimumNodes of them, then read by all. Every server it lists
// bootstraps with exactly this list, so they all agree on it.
type formation struct {
	ClusterID string          `json:"clusterId"`
	Servers   []formationPeer `json:"servers"`
}

type formationPeer struct {
	ID          string `json:"id"`
	ClusterAddr string `json:"clusterAddr"`
}

const (
	// redisOpTimeout bounds every Redis call: Redis is never allowed to
	// stall a running node.
	redisOpTimeout = 2 * time.Second
	// lockTTL is how long the bootstrap lock outlives a holder that died;
	// a live holder keeps extending it.
	lockTTL = 5 * time.Second
	// lockPoll is how often a waiting node retries the lock.
	lockPoll = 100 * time.Millisecond
)

// Compare-and-delete and compare-and-extend: only the holder's token may
// release or extend the lock, so a holder that outlived its TTL cannot
// release a successor's lock.
var (
	unlockScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)
	extendScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`)
)

// discovery is the Redis side: ID cards, their index set, the lock.
type discovery struct {
	rdb    *redis.Client
	prefix string // "<p>:{<p>}": the hash tag keeps every key in one Redis Cluster slot
	log    *slog.Logger
}

func newDiscovery(url, prefix string, log *slog.Logger) (*discovery, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("membership: cluster.redis %q: %w", url, err)
	}
	opt.DialTimeout = time.Second
	opt.ReadTimeout = time.Second
	opt.WriteTimeout = time.Second
	opt.MaxRetries = 1
	opt.PoolSize = 4
	opt.DisableIdentity = true // CLIENT SETINFO is noise on old servers
	return &discovery{rdb: redis.NewClient(opt), prefix: prefix + ":{" + prefix + "}", log: log}, nil
}

func (d *discovery) close() error { return d.rdb.Close() }

func (d *discovery) cardKey(id string) string { return d.prefix + ":card:" + id }
func (d *discovery) indexKey() string         { return d.prefix + ":cards" }
func (d *discovery) lockKey() string          { return d.prefix + ":bootstrap-lock" }
func (d *discovery) formationKey() string     { return d.prefix + ":formation" }

func bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, redisOpTimeout)
}

// ping checks that Redis answers.
func (d *discovery) ping(ctx context.Context) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	return d.rdb.Ping(ctx).Err()
}

// putCard writes (or refreshes) this node's card with a TTL.
func (d *discovery) putCard(ctx context.Context, c idCard, ttl time.Duration) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	ctx, cancel := bounded(ctx)
	defer cancel()
	_, err = d.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, d.cardKey(c.ID), b, ttl)
		p.SAdd(ctx, d.indexKey(), d.cardKey(c.ID))
		return nil
	})
	return err
}

// deleteCard removes this node's card (graceful leave).
func (d *discovery) deleteCard(ctx context.Context, id string) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	_, err := d.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, d.cardKey(id))
		p.SRem(ctx, d.indexKey(), d.cardKey(id))
		return nil
	})
	return err
}

// cards returns the live cards, pruning expired ones from the index.
func (d *discovery) cards(ctx context.Context) ([]idCard, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	keys, err := d.rdb.SMembers(ctx, d.indexKey()).Result()
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	vals, err := d.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	var out []idCard
	var expired []any
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			expired = append(expired, keys[i])
			continue
		}
		var c idCard
		if err := json.Unmarshal([]byte(s), &c); err != nil {
			d.log.Warn("ignoring malformed ID card", "key", keys[i], "err", err)
			continue
		}
		out = append(out, c)
	}
	if len(expired) > 0 {
		// Best effort: a card re-created meanwhile re-adds itself on refresh.
		d.rdb.SRem(ctx, d.indexKey(), expired...)
	}
	return out, nil
}

// formation returns the formation record, nil when there is none.
func (d *discovery) formation(ctx context.Context) (*formation, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	b, err := d.rdb.Get(ctx, d.formationKey()).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var f formation
	if err := json.Unmarshal(b, &f); err != nil || f.ClusterID == "" || len(f.Servers) == 0 {
		return nil, fmt.Errorf("malformed formation record %q: %v", b, err)
	}
	return &f, nil
}

// proposeFormation writes f unless a record exists already (SET NX): of
// several nodes proposing at once, one record wins and all read it back.
// The TTL only bounds how long a stale record can outlive its formation.
func (d *discovery) proposeFormation(ctx context.Context, f formation, ttl time.Duration) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	ctx, cancel := bounded(ctx)
	defer cancel()
	return d.rdb.SetNX(ctx, d.formationKey(), b, ttl).Err()
}

// lock is a held bootstrap lock, extended in the background until released.
type lock struct {
	d     *discovery
	token string
	stop  context.CancelFunc
	done  chan struct{}
	once  sync.Once
}

// acquire waits for the bootstrap lock until ctx ends.
func (d *discovery) acquire(ctx context.Context) (*lock, error) {
	var tb [16]byte
	rand.Read(tb[:])
	token := hex.EncodeToString(tb[:])
	t := time.NewTicker(lockPoll)
	defer t.Stop()
	var lastErr error
	for {
		cctx, cancel := bounded(ctx)
		ok, err := d.rdb.SetNX(cctx, d.lockKey(), token, lockTTL).Result()
		cancel()
		if err == nil && ok {
			break
		}
		if err != nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return nil, fmt.Errorf("membership: bootstrap lock: %w (last Redis error: %v)", ctx.Err(), lastErr)
			}
			return nil, fmt.Errorf("membership: bootstrap lock held by another node: %w", ctx.Err())
		case <-t.C:
		}
	}
	kctx, stop := context.WithCancel(context.Background())
	l := &lock{d: d, token: token, stop: stop, done: make(chan struct{})}
	go l.keep(kctx)
	return l, nil
}

func (l *lock) keep(ctx context.Context) {
	defer close(l.done)
	t := time.NewTicker(lockTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			cctx, cancel := bounded(ctx)
			err := extendScript.Run(cctx, l.d.rdb, []string{l.d.lockKey()}, l.token, lockTTL.Milliseconds()).Err()
			cancel()
			if err != nil && !errors.Is(err, context.Canceled) {
				l.d.log.Warn("could not extend the bootstrap lock", "err", err)
			}
		}
	}
}

// release stops extending and deletes the lock if it is still ours.
func (l *lock) release() {
	l.once.Do(func() {
		l.stop()
		<-l.done
		ctx, cancel := bounded(context.Background())
		defer cancel()
		if err := unlockScript.Run(ctx, l.d.rdb, []string{l.d.lockKey()}, l.token).Err(); err != nil {
			l.d.log.Warn("could not release the bootstrap lock (it expires by itself)", "err", err)
		}
	})
}
