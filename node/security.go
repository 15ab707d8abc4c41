package node

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/korumdb/korum/api"
	"github.com/korumdb/korum/fsm"
	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/security"
)

// rpcSecurityApplied asks a peer to answer once it has applied the log up
// to an index: a security change returns to its client only when the
// other nodes enforce it.
const rpcSecurityApplied = "security.applied"

// --- api.Security ---

func (n *Node) SecurityState() *security.State { return n.fsm.Security() }

// secret is the configured signing secret, else the replicated one.
func (n *Node) secret() []byte {
	if s := n.cfg.Security.JWTSecret; s != "" {
		return []byte(s)
	}
	return []byte(n.fsm.Security().Secret())
}

func (n *Node) Authenticate(token string) (*security.Identity, error) {
	if n.firstAdmin != nil && !n.lockedDown.Load() {
		// A node told to lock itself down serves nothing with a fresh
		// node's open roles: not before the first admin exists.
		if !n.fsm.Security().AdminExists() {
			return nil, kerror.New("api.process.not_enough_nodes")
		}
		n.lockedDown.Store(true)
	}
	if token == "" {
		return &security.Identity{UserID: security.AnonymousID}, nil
	}
	return n.fsm.Security().Authenticate(n.secret(), token, time.Now().UnixMilli())
}

// tokenSilence bounds how long a follower trusts its security state
// without hearing from its leader: below peerTimeout, the longest a
// revocation waits for a node that does not confirm it applied it, so a
// node the revocation gave up on has stopped accepting tokens by the time
// the client learns the token is revoked.
const tokenSilence = peerTimeout / 2

// Fresh returns nil when this node's security state can be trusted now:
// see raftnet.Node.Fresh. The API checks it before a token (or, once
// locked down, any request) is trusted; the answer otherwise is
// api.process.not_enough_nodes, as for a node cut from its cluster.
func (n *Node) Fresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, peerTimeout)
	defer cancel()
	if err := n.raft.Fresh(ctx, tokenSilence); err != nil {
		return kerror.Wrap(err, "api.process.not_enough_nodes")
	}
	return nil
}

func (n *Node) IssueToken(ctx context.Context, kuid string, ttl int64, apiKey string) (string, int64, error) {
	if len(n.secret()) == 0 {
		// No token was ever issued: the cluster's secret is drawn now,
		// through the log, so every node verifies with the same.
		if _, err := n.ProposeSecurity(ctx, &security.Command{Op: security.OpInit, Now: time.Now().UnixMilli()}); err != nil {
			return "", 0, err
		}
	}
	now := time.Now().UnixMilli()
	c := security.Claims{UserID: kuid, Iat: now / 1000, ID: apiKey, Gen: n.fsm.Security().Gen(kuid), Key: apiKey}
	if c.ID == "" {
		c.ID = n.NewID()
	}
	var exp int64
	if ttl > 0 {
		exp = now + ttl
		c.ExpMs, c.Exp = exp, (exp+999)/1000
	}
	jwt, err := security.Sign(n.secret(), c)
	if err != nil {
		return "", 0, kerror.Wrap(err, "security.token.generation_failed", "signing")
	}
	return jwt, exp, nil
}

func (n *Node) ProposeSecurity(ctx context.Context, c *security.Command) (*security.Result, error) {
	if n.cfg.Security.JWTSecret == "" && n.fsm.Security().Secret() == "" {
		var b [32]byte
		_, _ = rand.Read(b[:])
		c.Secret = base64.RawStdEncoding.EncodeToString(b[:])
	}
	ctx, cancel := n.reqCtx(ctx)
	defer cancel()
	var resp fsm.Response
	if err := n.propose(ctx, &fsm.Command{Kind: fsm.KindSecurity, Security: c}, &resp); err != nil {
		return nil, err
	}
	var res security.Result
	if len(resp.Security) > 0 {
		if err := json.Unmarshal(resp.Security, &res); err != nil {
			return nil, fmt.Errorf("decoding a security result: %w", err)
		}
	}
	if res.Err == nil {
		// Proposed through a follower, the entry is acknowledged once the
		// leader applied it; this node may not have yet. The barrier
		// makes this node apply up to the leader's commit index, the
		// entry's included, before the other nodes are asked to reach
		// the same index: then the change holds on every node, this one
		// too, when the client learns of it.
		if err := n.raft.LinearizableRead(ctx); err == nil {
			n.awaitPeers(ctx, n.fsm.AppliedIndex())
		}
	}
	return &res, nil
}

// awaitPeers returns once every reachable node has applied the log up to
// index, so that a revoked token or a removed right is refused everywhere
// when the client learns of it. A node that does not answer within the
// peer timeout is skipped: it cannot serve either while cut from its
// leader (Ready fails), and it applies the entry before it serves again.
func (n *Node) awaitPeers(ctx context.Context, index uint64) {
	peers := n.otherMembers()
	if len(peers) == 0 {
		return
	}
	var req [8]byte
	binary.BigEndian.PutUint64(req[:], index)
	n.fanOutUntil(ctx, peers, rpcSecurityApplied, req[:], func([]byte) {})
}

// appliedHandler answers rpcSecurityApplied once this node applied the
// requested index, or when ctx ends.
func (n *Node) appliedHandler(ctx context.Context, req []byte) ([]byte, error) {
	if len(req) != 8 {
		return nil, fmt.Errorf("a %d-byte index", len(req))
	}
	want := binary.BigEndian.Uint64(req)
	// The entry is committed when this is asked, so it is applied here
	// within a round trip or two: poll rather than hook the state machine.
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for n.fsm.AppliedIndex() < want {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
	return nil, nil
}

func (n *Node) SecurityOptions() api.SecurityOptions {
	s := n.cfg.Security
	return api.SecurityOptions{ExpiresIn: s.JWTExpiresIn.Milliseconds(), MaxTTL: s.JWTMaxTTL.Milliseconds(),
		GracePeriod: s.JWTGracePeriod.Milliseconds(), APIKeyMaxTTL: s.APIKeyMaxTTL.Milliseconds(),
		LoginsPerSecond: n.cfg.Limits.LoginsPerSecond}
}

func (n *Node) AllowLogin(username string) bool { return n.logins.allow(username, time.Now()) }

// loginLimiter counts login attempts per username in the current second
// (Kuzzle's limits.loginsPerSecond). It holds only the current second's
// usernames, so its memory is bounded by one second of attempts.
type loginLimiter struct {
	max    int
	mu     sync.Mutex
	second int64
	counts map[string]int
}

func (l *loginLimiter) allow(username string, now time.Time) bool {
	if l.max <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := now.Unix(); s != l.second || l.counts == nil {
		l.second, l.counts = s, map[string]int{}
	}
	l.counts[username]++
	return l.counts[username] <= l.max
}

// firstAdmin is the content of security.firstAdminFile.
type firstAdmin struct {
	Kuid     string `json:"kuid"`
	Username string `json:"username"`
	Password string `json:"password"`
}

// loadFirstAdmin reads and checks security.firstAdminFile at start, so a
// bad file stops the node before it serves anything.
func loadFirstAdmin(path string) (*firstAdmin, *security.Local, error) {
	if path == "" {
		return nil, nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading security.firstAdminFile: %w", err)
	}
	var fa firstAdmin
	if err := json.Unmarshal(b, &fa); err != nil {
		return nil, nil, fmt.Errorf("security.firstAdminFile %s: %w", path, err)
	}
	if fa.Kuid == "" {
		fa.Kuid = "admin"
	}
	l, err := security.ParseLocal(map[string]any{"username": fa.Username, "password": fa.Password}, true)
	if err != nil {
		return nil, nil, fmt.Errorf("security.firstAdminFile %s: %w", path, err)
	}
	return &fa, l, nil
}

// bootstrapSecurity creates the configured first admin, and locks the
// default and anonymous roles down, unless an admin exists. Several nodes
// may try at once: the log orders them and the later ones find the admin.
func (n *Node) bootstrapSecurity(ctx context.Context) error {
	if n.firstAdmin == nil || n.fsm.Security().AdminExists() {
		return nil
	}
	res, err := n.ProposeSecurity(ctx, &security.Command{Op: security.OpFirstAdmin, ID: n.firstAdmin.Kuid, Reset: true,
		User: &security.User{Local: n.firstAdminLocal}, Now: time.Now().UnixMilli(), Author: security.AnonymousID})
	if err != nil {
		return err
	}
	if res.Err != nil && !kerror.Is(res.Err, "api.process.admin_exists") {
		return res.Err
	}
	n.log.Info("security: first admin created, default and anonymous roles locked down", "kuid", n.firstAdmin.Kuid)
	return nil
}
