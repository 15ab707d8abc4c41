package membership

import (
	"fmt"
	"time"
)

// The leader's decisions are a pure function of what it has observed, so
// the quorum guard and the promotion order are tested without sockets.

// peer is the leader's view of one server of the configuration.
type peer struct {
	ID, Addr      string
	Voter         bool
	LastSeen      time.Time // last successful status poll (now, for the leader itself)
	Applied       uint64
	CaughtUpSince time.Time // zero unless within promoteMaxLag of the commit index since then
}

type actionKind int

const (
	actNone actionKind = iota
	actRemove
	actPromote
)

type action struct {
	kind   actionKind
	id     string
	voter  bool
	reason string
}

// decide returns the next configuration change, at most one per round:
// configuration changes are serialized by Raft anyway, and re-deciding on
// fresh observations after each one is what keeps the guard honest.
//
// Order (autopilot's): removals before promotions, because promoting first
// would raise the quorum while dead voters still count in it.
//
// Promotion waits for stable (the non-voter stayed caught up that long)
// only in a mature cluster, one that has had target voters: there it
// replaces a lost voter, and a node that flaps would be a poor voter. A
// young cluster (fewer voters than target since it started) promotes a
// caught-up non-voter at once: until it does, the cluster lives on too few
// voters, possibly one.
func decide(now time.Time, self string, peers []peer, target int, mature bool, dead, healthy, stable time.Duration) action {
	voters, healthyVoters := 0, 0
	for _, p := range peers {
		if p.Voter {
			voters++
			if p.ID == self || now.Sub(p.LastSeen) < healthy {
				healthyVoters++
			}
		}
	}
	// Dead non-voters first: they cost nothing to remove.
	for _, p := range peers {
		if p.ID != self && !p.Voter && now.Sub(p.LastSeen) >= dead {
			return action{kind: actRemove, id: p.ID, reason: fmt.Sprintf("no answer for %s", now.Sub(p.LastSeen).Round(time.Second))}
		}
	}
	// A dead voter only if the voters left still hold a healthy majority:
	// the removal itself must commit, and must not leave a configuration
	// whose quorum depends on nodes that do not answer.
	for _, p := range peers {
		if p.ID == self || !p.Voter || now.Sub(p.LastSeen) < dead {
			continue
		}
		if left := voters - 1; healthyVoters >= left/2+1 {
			return action{kind: actRemove, id: p.ID, voter: true, reason: fmt.Sprintf("no answer for %s", now.Sub(p.LastSeen).Round(time.Second))}
		}
	}
	if voters >= target {
		return action{}
	}
	// Promote the most caught-up non-voter that has been healthy and caught
	// up (for the stabilization time in a mature cluster).
	if !mature {
		stable = 0
	}
	var best *peer
	for i, p := range peers {
		if p.Voter || p.CaughtUpSince.IsZero() || now.Sub(p.CaughtUpSince) < stable || now.Sub(p.LastSeen) >= healthy {
			continue
		}
		if best == nil || p.Applied > best.Applied || (p.Applied == best.Applied && p.ID < best.ID) {
			best = &peers[i]
		}
	}
	if best != nil {
		reason := fmt.Sprintf("voters %d < %d, caught up for %s", voters, target, stable)
		if !mature {
			reason = fmt.Sprintf("voters %d < %d in a young cluster, caught up", voters, target)
		}
		return action{kind: actPromote, id: best.ID, reason: reason}
	}
	return action{}
}

// Exit is a watchdog verdict: the node must log Reason and exit with Code.
type Exit struct {
	Code   int
	Reason string
}

func (e *Exit) Error() string { return fmt.Sprintf("membership: exit %d: %s", e.Code, e.Reason) }

// Exit codes, distinct per reason so supervisors and tests can tell them
// apart (cmd/node uses 1–3 for its own failures).
const (
	ExitQuorumLost     = 10 // no contact with a leader (a quorum) for QuorumContactTimeout
	ExitLagging        = 11 // applied index trailed the leader's commit by > MaxLag for QuorumContactTimeout
	ExitRemoved        = 12 // removed from the Raft configuration
	ExitJoinTimeout    = 13 // could not become a member within JoinTimeout
	ExitForeignCluster = 14 // the seeds belong to another cluster than this node's data
)

// observation is what the watchdog sees of its node at one instant.
type observation struct {
	now         time.Time
	leader      bool      // this node leads
	leaderKnown bool      // some leader is known
	lastContact time.Time // last message from a leader (raft's LastContact)
	member      bool      // this node is in its latest configuration
	shutdown    bool      // raft stopped by itself (ShutdownOnRemove)
	applied     uint64
	commit      uint64 // best known leader commit index
	// commitKnown: commit includes the leader's own figure (this node
	// leads, or the leader's poll arrived recently), not only what this
	// node has stored so far.
	commitKnown bool
}

// watchdog applies the self-termination rules. It is armed once the node
// is a member that has known a leader; before that only JoinTimeout applies.
type watchdog struct {
	start            time.Time
	joinTimeout, qct time.Duration
	maxLag           uint64
	armed            bool
	lastOK           time.Time // last instant a quorum was provably reachable
	lagSince         time.Time // zero while within MaxLag
	// caughtUp: the node has once been within MaxLag of the commit index.
	// Before that it is still joining (installing a snapshot or replaying
	// the log, which can take long on a big state while the applied index
	// stands still), and only JoinTimeout bounds it: the lag rule is for a
	// node that falls behind, not for one that has not arrived yet.
	caughtUp bool
}

func (w *watchdog) observe(o observation) *Exit {
	if !w.armed {
		if o.member && (o.leader || o.leaderKnown) {
			w.armed = true
			w.lastOK = o.now
		} else if o.now.Sub(w.start) > w.joinTimeout {
			return &Exit{Code: ExitJoinTimeout, Reason: fmt.Sprintf("could not join the cluster within cluster.joinTimeout (%s)", w.joinTimeout)}
		} else {
			return nil
		}
	}
	if o.shutdown || !o.member {
		return &Exit{Code: ExitRemoved, Reason: "this node was removed from the cluster configuration"}
	}
	if o.leader {
		w.lastOK = o.now // a leader steps down by itself once its lease on a quorum ends
	} else if o.lastContact.After(w.lastOK) {
		w.lastOK = o.lastContact
	}
	if d := o.now.Sub(w.lastOK); d > w.qct {
		return &Exit{Code: ExitQuorumLost, Reason: fmt.Sprintf("no contact with a leader holding a quorum for %s (cluster.quorumContactTimeout %s)", d.Round(time.Millisecond), w.qct)}
	}
	lagging := o.commit > o.applied && o.commit-o.applied > w.maxLag
	if !w.caughtUp {
		if !o.commitKnown || lagging {
			if o.now.Sub(w.start) > w.joinTimeout {
				return &Exit{Code: ExitJoinTimeout, Reason: fmt.Sprintf("still catching up with the log after cluster.joinTimeout (%s): applied index %d, leader's commit index %d", w.joinTimeout, o.applied, o.commit)}
			}
			return nil
		}
		w.caughtUp = true
	}
	if lagging {
		if w.lagSince.IsZero() {
			w.lagSince = o.now
		} else if d := o.now.Sub(w.lagSince); d > w.qct {
			return &Exit{Code: ExitLagging, Reason: fmt.Sprintf("applied index %d trails the leader's commit index %d by more than cluster.maxLag (%d) for %s", o.applied, o.commit, w.maxLag, d.Round(time.Millisecond))}
		}
	} else {
		w.lagSince = time.Time{}
	}
	return nil
}
