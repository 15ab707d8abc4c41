package node

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/korumdb/korum/fsm"
	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/raftnet"
)

// Rolling upgrades (README, "Upgrading"; fsm/DESIGN.md, "Formats and
// versions"). Every node answers rpcFormat with the highest format version
// its binary reads (fsm.FormatVersion); a node of v0.2.0 has no such
// handler and counts as version 1. The leader raises the cluster's feature
// version, a KindFeature entry, to the lowest version every server of the
// Raft configuration (voters and non-voters) answers, once that is above
// the current one. Nodes propose only the kinds, and the operations within
// a kind, that the agreed version allows (gate), so an old node in the
// cluster never meets an entry it cannot read.
const rpcFormat = "cluster.format"

func (n *Node) registerFormatRPC() {
	n.raft.Handle(rpcFormat, func(ctx context.Context, req []byte) ([]byte, error) {
		return json.Marshal(fsm.FormatVersion)
	})
}

// gate refuses a command whose kind, or whose operation within its kind
// (a security op added after the security kind, say), the cluster's
// feature version does not allow yet: an older node would apply it
// differently, or not read it. KindFeature itself is exempt:
// raiseFeatureVersion checks that every member reads it before proposing
// it.
func (n *Node) gate(c *fsm.Command) error {
	need := c.Version()
	if c.Kind == fsm.KindFeature || need <= 1 {
		return nil // every member reads version 1
	}
	return featureGate(need, n.fsm.FeatureVersion())
}

// featureGate refuses what needs feature version need in a cluster at have.
func featureGate(need, have uint32) error {
	if need > have {
		return kerror.New("cluster.process.feature_unavailable", strconv.Itoa(int(need)), strconv.Itoa(int(have)))
	}
	return nil
}

// whileLeader calls fn every period while this node leads, until it stops.
func (n *Node) whileLeader(every time.Duration, fn func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-n.done:
			return
		case <-t.C:
		}
		if n.raft.IsLeader() {
			fn()
		}
	}
}

// raiseFeatureVersions runs on every node and acts while it leads.
func (n *Node) raiseFeatureVersions(every time.Duration) {
	n.whileLeader(every, func() {
		if n.fsm.FeatureVersion() >= fsm.FormatVersion {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
		defer cancel()
		if err := n.raiseFeatureVersion(ctx); err != nil {
			n.log.Debug("cluster feature version not raised", "err", err)
		}
	})
}

// raiseFeatureVersion commits the lowest version the servers of the
// configuration support, when it is above the agreed one. A server that
// does not answer (down, or of a release without rpcFormat) keeps the
// version where it is: it might not read the new one.
func (n *Node) raiseFeatureVersion(ctx context.Context) error {
	servers, err := n.raft.Servers()
	if err != nil {
		return err
	}
	lowest := uint32(fsm.FormatVersion)
	for _, s := range servers {
		if s.ID == n.id {
			continue
		}
		v, err := n.peerFormat(ctx, s.Address)
		if err != nil {
			return fmt.Errorf("asking %s its format version: %w", s.ID, err)
		}
		lowest = min(lowest, v)
	}
	have := n.fsm.FeatureVersion()
	if lowest <= have {
		return nil
	}
	if err := n.propose(ctx, &fsm.Command{Kind: fsm.KindFeature, Feature: lowest}, nil); err != nil {
		return err
	}
	n.log.Info("cluster feature version raised: every node supports it", "from", have, "to", lowest, "servers", len(servers))
	return nil
}

// admitJoin refuses, on the leader, a node whose release does not read the
// cluster's feature version (raftnet.Config.AdmitJoin): it would meet
// entries or a snapshot it cannot read. The joiner keeps trying until its
// join timeout and exits; the leader logs why.
func (n *Node) admitJoin(ctx context.Context, rn *raftnet.Node, id, addr string) error {
	have := n.fsm.FeatureVersion()
	if have <= 1 {
		return nil // every release reads version 1
	}
	v, err := peerFormat(ctx, rn, addr)
	if err != nil {
		return fmt.Errorf("this cluster runs feature version %d and %s did not say which it supports (a release without format versions, such as v0.2.0): "+
			"start it with the cluster's release: %w", have, id, err)
	}
	if v < have {
		return fmt.Errorf("this cluster runs feature version %d and %s supports only %d: start it with the cluster's release", have, id, v)
	}
	return nil
}

func (n *Node) peerFormat(ctx context.Context, addr string) (uint32, error) {
	return peerFormat(ctx, n.raft, addr)
}

func peerFormat(ctx context.Context, rn *raftnet.Node, addr string) (uint32, error) {
	b, err := rn.Call(ctx, addr, rpcFormat, nil)
	if err != nil {
		return 0, err
	}
	var v uint32
	if err := json.Unmarshal(b, &v); err != nil {
		return 0, fmt.Errorf("decoding a format version: %w", err)
	}
	return max(v, 1), nil
}
