package membership

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/korumdb/korum/raftnet"
)

// Forming a cluster of several voters at once (cluster.minimumNodes > 1).
//
// A cluster started by one node and grown by joins has a single voter
// until its leader promotes the others: lose that node then and the
// cluster is gone. Instead, new nodes register in Redis as forming and
// wait; once minimumNodes of them are registered, one of them writes the
// formation record (SET NX: exactly one record, whoever writes first) with
// the first min(minimumNodes, voters) of them, and every node listed
// bootstraps with that same configuration (hashicorp/raft allows
// bootstrapping every server with one configuration; Consul's
// bootstrap_expect does this). Any two of three can then elect a leader
// from the first entry on. Nodes not listed, or arriving later, join the
// cluster once its members' cards appear.

const (
	// formationPoll is how often a forming node reads Redis.
	formationPoll = 200 * time.Millisecond
	// formationTTL bounds how long a formation record outlives its
	// formation: the listed nodes read it within a poll or two.
	formationTTL = 10 * time.Minute
	// formationLogEvery spaces the "still waiting" logs.
	formationLogEvery = 5 * time.Second
)

type formKind int

const (
	formWait      formKind = iota // not enough forming nodes yet, or the listed ones have not started
	formBootstrap                 // this node is in the record: bootstrap with it
	formJoin                      // a cluster exists: join its members
	formPropose                   // enough forming nodes and no record: propose one
)

type formDecision struct {
	kind    formKind
	rec     formation // formBootstrap: the record; formPropose: the proposal
	members []idCard  // formJoin
	have    int       // formWait: forming nodes registered, this one included
}

// formStep decides what a forming node does given the formation record
// (nil if none) and the live cards. It is a pure function of them (plus
// newID for a proposal's cluster id), tested without Redis.
func formStep(self idCard, minimum, voters int, rec *formation, cards []idCard, newID func() string) formDecision {
	var members, forming []idCard
	for _, c := range cards {
		switch {
		case c.ID == self.ID:
		case isMember(c):
			members = append(members, c)
		case c.Forming:
			forming = append(forming, c)
		}
	}
	// A record is stale once members of another cluster are about: it was
	// left by a formation long gone, and bootstrapping with it would found
	// a cluster no live node belongs to.
	if rec != nil && slices.ContainsFunc(members, func(c idCard) bool { return c.ClusterID != rec.ClusterID }) {
		rec = nil
	}
	if rec != nil && slices.Contains(rec.Servers, formationPeer{ID: self.ID, ClusterAddr: self.ClusterAddr}) {
		// Bootstrap even when some listed nodes have started already: each
		// listed node holding the configuration is what lets any majority
		// of them elect a leader if another dies at once.
		return formDecision{kind: formBootstrap, rec: *rec}
	}
	if len(members) > 0 {
		return formDecision{kind: formJoin, members: members}
	}
	forming = append(forming, self)
	if rec != nil || len(forming) < minimum {
		return formDecision{kind: formWait, have: len(forming)}
	}
	// The first registered, so the nodes waiting longest are the voters.
	slices.SortFunc(forming, func(a, b idCard) int {
		if c := a.Birthdate.Compare(b.Birthdate); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	prop := formation{ClusterID: newID()}
	for _, c := range forming[:min(minimum, voters)] {
		prop.Servers = append(prop.Servers, formationPeer{ID: c.ID, ClusterAddr: c.ClusterAddr})
	}
	return formDecision{kind: formPropose, rec: prop}
}

// form registers this node as forming (under the bootstrap lock, which it
// then releases so others can register too) and waits, without time bound
// as Kuzzle's minimumNodes does, until it can bootstrap with the formation
// record or join the cluster that formed. Redis failures while waiting are
// retried: a record already read is all the node needs.
func form(ctx context.Context, cfg Config, d *discovery, p *Plan) error {
	log := cfg.Logger.With("node", cfg.NodeID)
	ip, _ := hostOf(cfg.ClusterAddr)
	self := idCard{ID: cfg.NodeID, IP: ip, ClusterAddr: cfg.ClusterAddr, APIAddr: cfg.APIAddr, Birthdate: p.birthdate, Forming: true}
	if err := d.putCard(ctx, self, cfg.cardTTL()); err != nil {
		return fmt.Errorf("membership: registering in Redis to form the cluster: %w", err)
	}
	if p.lock != nil {
		p.lock.release()
		p.lock = nil
	}
	ok := false
	defer func() {
		if !ok {
			// Best effort: a forming card left behind expires in a card TTL.
			d.deleteCard(context.Background(), cfg.NodeID)
		}
	}()
	log.Info("waiting for nodes to form the cluster", "minimum_nodes", cfg.MinimumNodes)
	t := time.NewTicker(formationPoll)
	defer t.Stop()
	lastPut, lastLog := time.Now(), time.Now()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("membership: waiting for cluster.minimumNodes (%d) nodes: %w", cfg.MinimumNodes, ctx.Err())
		case <-t.C:
		}
		if time.Since(lastPut) >= cfg.Heartbeat {
			if err := d.putCard(ctx, self, cfg.cardTTL()); err == nil {
				lastPut = time.Now()
			}
		}
		rec, err := d.formation(ctx)
		var cards []idCard
		if err == nil {
			cards, err = d.cards(ctx)
		}
		if err != nil {
			if !failing {
				log.Warn("Redis unavailable while forming the cluster; retrying", "err", err)
				failing = true
			}
			continue
		}
		failing = false
		dec := formStep(self, cfg.MinimumNodes, cfg.Voters, rec, cards, newClusterID)
		switch dec.kind {
		case formBootstrap:
			p.Bootstrap, p.ClusterID = true, dec.rec.ClusterID
			for _, s := range dec.rec.Servers {
				p.BootstrapServers = append(p.BootstrapServers, raftnet.Server{ID: s.ID, Address: s.ClusterAddr, Suffrage: raftnet.Voter})
			}
			ok = true
			return nil
		case formJoin:
			if err := joinPlan(cfg, p, dec.members); err != nil {
				return err
			}
			ok = true
			return nil
		case formPropose:
			if err := d.proposeFormation(ctx, dec.rec, formationTTL); err != nil {
				log.Warn("could not write the formation record; retrying", "err", err)
			}
			// The next round reads back whichever record won.
		case formWait:
			if time.Since(lastLog) >= formationLogEvery {
				log.Info("waiting for nodes to form the cluster", "registered", dec.have, "minimum_nodes", cfg.MinimumNodes, "formation_started", rec != nil)
				lastLog = time.Now()
			}
		}
	}
}
