package raftnet

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// Membership mechanics: adding, removing and promoting servers on the
// leader, forwarded from any member. When to do so (who becomes a voter,
// when a silent node is removed) is decided by the membership package.

// Suffrage says whether a server votes.
type Suffrage string

const (
	Voter    Suffrage = "voter"
	Nonvoter Suffrage = "nonvoter"
)

// Server is one entry of the Raft configuration.
type Server struct {
	ID       string
	Address  string
	Suffrage Suffrage
}

type joinRequest struct {
	ID    string `json:"id"`
	Addr  string `json:"addr"`
	Voter bool   `json:"voter"`
}

// Servers returns the latest Raft configuration as this node knows it (it may
// not be committed yet).
func (n *Node) Servers() ([]Server, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("raftnet: get configuration: %w", mapRaftErr(err))
	}
	var out []Server
	for _, s := range f.Configuration().Servers {
		suf := Nonvoter
		if s.Suffrage == raft.Voter {
			suf = Voter
		}
		out = append(out, Server{ID: string(s.ID), Address: string(s.Address), Suffrage: suf})
	}
	return out, nil
}

// Join adds server id at addr, as a voter or a non-voter, through the leader.
// An existing entry with the same id or the same address but not both is
// removed first: it is a previous incarnation (new data dir, new address)
// whose stale entry would otherwise block the new one or count towards
// quorum while dead. Joining again with the same id and address is a no-op,
// except that voter=true promotes an existing non-voter.
func (n *Node) Join(ctx context.Context, id, addr string, voter bool) error {
	req, err := json.Marshal(joinRequest{ID: id, Addr: addr, Voter: voter})
	if err != nil {
		return err
	}
	_, err = n.onLeader(ctx, methodJoinLeader, req, true, n.handleJoinLeader)
	return err
}

// handleJoin serves nodes that are not members yet: any member forwards to
// its leader, so a joining node only needs one reachable address.
func (n *Node) handleJoin(ctx context.Context, req []byte) ([]byte, error) {
	var r joinRequest
	if err := json.Unmarshal(req, &r); err != nil {
		return nil, fmt.Errorf("raftnet: join request: %w", err)
	}
	return nil, n.Join(ctx, r.ID, r.Addr, r.Voter)
}

func (n *Node) handleJoinLeader(ctx context.Context, req []byte) ([]byte, error) {
	var r joinRequest
	if err := json.Unmarshal(req, &r); err != nil {
		return nil, fmt.Errorf("raftnet: join request: %w", err)
	}
	if r.ID == "" || r.Addr == "" {
		return nil, errors.New("raftnet: join needs an id and an address")
	}
	if n.raft.State() != raft.Leader {
		return nil, ErrNotLeader
	}
	if err := n.disk.err(); err != nil {
		return nil, err // a configuration change is a log entry
	}
	if n.cfg.AdmitJoin != nil {
		if err := n.cfg.AdmitJoin(ctx, n, r.ID, r.Addr); err != nil {
			n.log.Warn("join refused", "id", r.ID, "addr", r.Addr, "err", err)
			return nil, err
		}
	}
	servers, err := n.Servers()
	if err != nil {
		return nil, err
	}
	timeout := remaining(ctx)
	for _, s := range servers {
		sameID, sameAddr := s.ID == r.ID, s.Address == r.Addr
		switch {
		case sameID && sameAddr:
			if !r.Voter || s.Suffrage == Voter {
				return nil, nil
			}
			return nil, n.future(ctx, "promote "+r.ID, n.raft.AddVoter(raft.ServerID(r.ID), raft.ServerAddress(r.Addr), 0, timeout))
		case sameID || sameAddr:
			if s.ID == n.id {
				return nil, fmt.Errorf("raftnet: join of %s at %s would replace the leader's own entry", r.ID, r.Addr)
			}
			n.log.Info("removing stale server entry before join", "stale_id", s.ID, "stale_addr", s.Address, "id", r.ID, "addr", r.Addr)
			if err := n.future(ctx, "remove stale "+s.ID, n.raft.RemoveServer(raft.ServerID(s.ID), 0, timeout)); err != nil {
				return nil, err
			}
		}
	}
	var f raft.IndexFuture
	if r.Voter {
		f = n.raft.AddVoter(raft.ServerID(r.ID), raft.ServerAddress(r.Addr), 0, timeout)
	} else {
		f = n.raft.AddNonvoter(raft.ServerID(r.ID), raft.ServerAddress(r.Addr), 0, timeout)
	}
	if err := n.future(ctx, "add "+r.ID, f); err != nil {
		return nil, err
	}
	n.log.Info("server joined", "id", r.ID, "addr", r.Addr, "voter", r.Voter)
	return nil, nil
}

// Remove removes server id from the configuration, through the leader.
// Removing an unknown id succeeds. Removing the leader makes it step down.
func (n *Node) Remove(ctx context.Context, id string) error {
	_, err := n.onLeader(ctx, methodRemoveLeader, []byte(id), true, n.handleRemoveLeader)
	return err
}

func (n *Node) handleRemoveLeader(ctx context.Context, req []byte) ([]byte, error) {
	if n.raft.State() != raft.Leader {
		return nil, ErrNotLeader
	}
	if err := n.disk.err(); err != nil {
		return nil, err // a configuration change is a log entry
	}
	id := string(req)
	if err := n.future(ctx, "remove "+id, n.raft.RemoveServer(raft.ServerID(id), 0, remaining(ctx))); err != nil {
		return nil, err
	}
	n.log.Info("server removed", "id", id)
	return nil, nil
}

// Promote makes non-voter id a voter, through the leader. Promoting a voter
// succeeds; an unknown id is an error.
func (n *Node) Promote(ctx context.Context, id string) error {
	_, err := n.onLeader(ctx, methodPromote, []byte(id), true, n.handlePromoteLeader)
	return err
}

func (n *Node) handlePromoteLeader(ctx context.Context, req []byte) ([]byte, error) {
	if n.raft.State() != raft.Leader {
		return nil, ErrNotLeader
	}
	if err := n.disk.err(); err != nil {
		return nil, err // a configuration change is a log entry
	}
	id := string(req)
	servers, err := n.Servers()
	if err != nil {
		return nil, err
	}
	for _, s := range servers {
		if s.ID != id {
			continue
		}
		if s.Suffrage == Voter {
			return nil, nil
		}
		return nil, n.future(ctx, "promote "+id, n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(s.Address), 0, remaining(ctx)))
	}
	return nil, fmt.Errorf("raftnet: promote: no server %q in the configuration", id)
}

// future waits for a configuration change. Those are idempotent on our side
// (Join and Remove check the configuration first), so a lost leadership is
// reported as ErrNotLeader for the caller to retry.
func (n *Node) future(ctx context.Context, what string, f raft.Future) error {
	err := n.await(ctx, f)
	if err == nil {
		return nil
	}
	err = mapRaftErr(err)
	if errors.Is(err, ErrLeadershipLost) {
		err = fmt.Errorf("%w: %w", ErrNotLeader, err)
	}
	return fmt.Errorf("raftnet: %s: %w", what, err)
}

// JoinCluster asks the cluster reachable through seeds to add this node (id
// and advertised address) as a voter or non-voter; any member forwards the
// request to its leader. The node must already be Open (without Bootstrap) so
// the leader can replicate to it. It retries across seeds until ctx ends, but
// gives up at once if every seed rejects our cluster secret.
func (n *Node) JoinCluster(ctx context.Context, seeds []string, voter bool) error {
	return joinCluster(ctx, n.cli, n.id, n.addr, seeds, voter, n.log)
}

// JoinCluster is the same for a caller holding only a Config: cfg.NodeID,
// cfg.Secret and the advertised address (AdvertiseAddr, else BindAddr, which
// must then name a real host and port) identify the node.
func JoinCluster(ctx context.Context, cfg Config, seeds []string, voter bool) error {
	cfg = cfg.withDefaults()
	addr := cfg.AdvertiseAddr
	if addr == "" {
		addr = cfg.BindAddr
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "0" || cfg.NodeID == "" {
		return fmt.Errorf("raftnet: JoinCluster needs NodeID and a dialable advertised address (got %q)", addr)
	}
	cli := newRPCClient(newPeerAuth(cfg.Secret, cfg.TLS), cfg.HandshakeTimeout, cfg.Logger)
	cli.local = sourceAddr(addr)
	defer cli.close()
	return joinCluster(ctx, cli, cfg.NodeID, addr, seeds, voter, cfg.Logger)
}

func joinCluster(ctx context.Context, cli *rpcClient, id, addr string, seeds []string, voter bool, log interface {
	Info(string, ...any)
	Debug(string, ...any)
}) error {
	req, err := json.Marshal(joinRequest{ID: id, Addr: addr, Voter: voter})
	if err != nil {
		return err
	}
	backoff := 100 * time.Millisecond
	var lastErr error
	for {
		authFailures, tried := 0, 0
		for _, seed := range seeds {
			if seed == addr {
				continue
			}
			tried++
			_, err := cli.call(ctx, seed, methodJoin, req)
			if err == nil {
				log.Info("joined cluster", "via", seed, "voter", voter)
				return nil
			}
			log.Debug("join attempt failed", "via", seed, "err", err)
			lastErr = err
			if errors.Is(err, ErrAuth) {
				authFailures++
			}
		}
		if tried == 0 {
			return errors.New("raftnet: JoinCluster: no seed other than ourselves")
		}
		if authFailures == tried {
			return fmt.Errorf("raftnet: join: every seed rejected this node's credentials (cluster secret or certificate): %w", lastErr)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("raftnet: join via %v: %w (last error: %v)", seeds, ctx.Err(), lastErr)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func remaining(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return time.Until(dl)
	}
	return defaultApply
}

func encodeUint64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func decodeUint64(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("raftnet: bad index encoding (%d bytes)", len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}
