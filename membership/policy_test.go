package membership

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	dead    = 30 * time.Second
	healthy = 5 * time.Second
	stable  = 3 * time.Second
)

func alive(id string, voter bool, applied uint64) peer {
	return peer{ID: id, Voter: voter, LastSeen: t0, Applied: applied, CaughtUpSince: t0.Add(-time.Minute)}
}

func silent(id string, voter bool, since time.Duration) peer {
	return peer{ID: id, Voter: voter, LastSeen: t0.Add(-since)}
}

func TestDecideRemovesDeadVoterWhenHealthyMajorityRemains(t *testing.T) {
	// 3 voters, one dead: 2 remaining voters both healthy.
	a := decide(t0, "a", []peer{alive("a", true, 10), alive("b", true, 10), silent("c", true, time.Minute)}, 3, true, dead, healthy, stable)
	if a.kind != actRemove || a.id != "c" || !a.voter {
		t.Fatalf("got %+v, want removal of c", a)
	}
}

func TestDecideNeverRemovesAMajorityOfVoters(t *testing.T) {
	// 5 voters, 3 dead: the leader has no quorum anyway, and removing any
	// dead voter would leave 4 voters with only 2 healthy.
	ps := []peer{alive("a", true, 1), alive("b", true, 1), silent("c", true, time.Minute), silent("d", true, time.Minute), silent("e", true, time.Minute)}
	if a := decide(t0, "a", ps, 5, true, dead, healthy, stable); a.kind != actNone {
		t.Fatalf("got %+v, want no action", a)
	}
	// 5 voters, 2 dead, 1 merely slow (unhealthy, not dead): removing a
	// dead voter leaves 4 voters, 2 healthy: refused.
	ps = []peer{alive("a", true, 1), alive("b", true, 1), silent("c", true, 10*time.Second), silent("d", true, time.Minute), silent("e", true, time.Minute)}
	if a := decide(t0, "a", ps, 5, true, dead, healthy, stable); a.kind != actNone {
		t.Fatalf("got %+v, want no action", a)
	}
	// 5 voters, 2 dead, 3 healthy: one removal (4 voters, 3 healthy) ...
	ps = []peer{alive("a", true, 1), alive("b", true, 1), alive("c", true, 1), silent("d", true, time.Minute), silent("e", true, time.Minute)}
	a := decide(t0, "a", ps, 5, true, dead, healthy, stable)
	if a.kind != actRemove {
		t.Fatalf("got %+v, want a removal", a)
	}
	// ... then the second (3 voters, 3 healthy).
	var rest []peer
	for _, p := range ps {
		if p.ID != a.id {
			rest = append(rest, p)
		}
	}
	if a := decide(t0, "a", rest, 5, true, dead, healthy, stable); a.kind != actRemove {
		t.Fatalf("got %+v, want the second removal", a)
	}
}

func TestDecideNeverRemovesSelfOrTheMerelySlow(t *testing.T) {
	ps := []peer{silent("a", true, time.Hour), alive("b", true, 1), silent("c", true, 20*time.Second)}
	if a := decide(t0, "a", ps, 3, true, dead, healthy, stable); a.kind != actNone {
		t.Fatalf("got %+v, want no action", a)
	}
}

func TestDecideRemovesDeadNonVotersFirst(t *testing.T) {
	ps := []peer{alive("a", true, 1), alive("b", true, 1), silent("c", true, time.Minute), silent("x", false, time.Minute)}
	if a := decide(t0, "a", ps, 3, true, dead, healthy, stable); a.kind != actRemove || a.id != "x" || a.voter {
		t.Fatalf("got %+v, want removal of non-voter x", a)
	}
}

func TestDecidePromotesMostCaughtUpStableNonVoter(t *testing.T) {
	young := alive("y", false, 100)
	young.CaughtUpSince = t0.Add(-time.Second) // not stable yet
	lagging := alive("l", false, 50)
	lagging.CaughtUpSince = time.Time{} // not caught up
	ps := []peer{alive("a", true, 100), alive("b", true, 100), alive("p", false, 90), alive("q", false, 95), young, lagging}
	a := decide(t0, "a", ps, 3, true, dead, healthy, stable)
	if a.kind != actPromote || a.id != "q" {
		t.Fatalf("got %+v, want promotion of q", a)
	}
	// Enough voters: nothing to do.
	ps = append(ps, alive("c", true, 100))
	if a := decide(t0, "a", ps, 3, true, dead, healthy, stable); a.kind != actNone {
		t.Fatalf("got %+v, want no action with 3 voters", a)
	}
}

func TestDecideDoesNotPromoteAnUnhealthyNonVoter(t *testing.T) {
	p := alive("p", false, 100)
	p.LastSeen = t0.Add(-10 * time.Second)
	if a := decide(t0, "a", []peer{alive("a", true, 100), p}, 3, true, dead, healthy, stable); a.kind != actNone {
		t.Fatalf("got %+v, want no action", a)
	}
}

func TestDecidePromotesAtOnceInAYoungCluster(t *testing.T) {
	// One voter (the bootstrap node) and two non-voters that have just
	// caught up: the cluster has never had its 3 voters, so no
	// stabilization wait.
	b := alive("b", false, 100)
	b.CaughtUpSince = t0
	c := alive("c", false, 99)
	c.CaughtUpSince = t0
	ps := []peer{alive("a", true, 100), b, c}
	a := decide(t0, "a", ps, 3, false, dead, healthy, stable)
	if a.kind != actPromote || a.id != "b" {
		t.Fatalf("young cluster: got %+v, want immediate promotion of b", a)
	}
	// The same observations in a mature cluster wait for stabilization ...
	if a := decide(t0, "a", ps, 3, true, dead, healthy, stable); a.kind != actNone {
		t.Fatalf("mature cluster: got %+v, want no promotion before %s", a, stable)
	}
	// ... and promote once it has passed.
	if a := decide(t0.Add(stable), "a", ps, 3, true, dead, healthy, stable); a.kind != actPromote || a.id != "b" {
		t.Fatalf("mature cluster after %s: got %+v, want promotion of b", stable, a)
	}
	// Young or not, a non-voter that is not caught up, or does not answer,
	// is never promoted.
	lag := alive("l", false, 10)
	lag.CaughtUpSince = time.Time{}
	mute := alive("m", false, 100)
	mute.LastSeen = t0.Add(-healthy)
	if a := decide(t0, "a", []peer{alive("a", true, 100), lag, mute}, 3, false, dead, healthy, stable); a.kind != actNone {
		t.Fatalf("got %+v, want no promotion of a lagging or silent non-voter", a)
	}
	// Young, but the target is reached: nothing to do.
	ps = []peer{alive("a", true, 100), alive("b", true, 100), alive("c", true, 100), alive("d", false, 100)}
	if a := decide(t0, "a", ps, 3, false, dead, healthy, stable); a.kind != actNone {
		t.Fatalf("got %+v, want no action with 3 voters", a)
	}
}

func newWatchdog() *watchdog {
	return &watchdog{start: t0, joinTimeout: 10 * time.Second, qct: 5 * time.Second, maxLag: 100}
}

func TestWatchdogJoinTimeout(t *testing.T) {
	w := newWatchdog()
	if e := w.observe(observation{now: t0.Add(9 * time.Second)}); e != nil {
		t.Fatalf("early verdict %+v", e)
	}
	if e := w.observe(observation{now: t0.Add(11 * time.Second)}); e == nil || e.Code != ExitJoinTimeout {
		t.Fatalf("got %+v, want join timeout", e)
	}
}

func TestWatchdogQuorumLostAfterTimeoutOnly(t *testing.T) {
	w := newWatchdog()
	// Armed as a follower in contact with a leader.
	if e := w.observe(observation{now: t0, member: true, leaderKnown: true, lastContact: t0}); e != nil {
		t.Fatal(e)
	}
	// An election: no leader for 2s, then a new one.
	if e := w.observe(observation{now: t0.Add(2 * time.Second), member: true, lastContact: t0}); e != nil {
		t.Fatalf("verdict during an election: %+v", e)
	}
	if e := w.observe(observation{now: t0.Add(3 * time.Second), member: true, leaderKnown: true, lastContact: t0.Add(3 * time.Second)}); e != nil {
		t.Fatal(e)
	}
	if e := w.observe(observation{now: t0.Add(8 * time.Second), member: true, lastContact: t0.Add(3 * time.Second)}); e != nil {
		t.Fatalf("verdict at exactly the timeout: %+v", e)
	}
	if e := w.observe(observation{now: t0.Add(9 * time.Second), member: true, lastContact: t0.Add(3 * time.Second)}); e == nil || e.Code != ExitQuorumLost {
		t.Fatalf("got %+v, want quorum lost", e)
	}
}

func TestWatchdogLeaderThatStepsDown(t *testing.T) {
	w := newWatchdog()
	// A leader for a long time (its LastContact as a follower is old).
	for s := 0; s <= 60; s += 10 {
		if e := w.observe(observation{now: t0.Add(time.Duration(s) * time.Second), member: true, leader: true, commitKnown: true}); e != nil {
			t.Fatal(e)
		}
	}
	// Steps down at 60s; nobody leads.
	if e := w.observe(observation{now: t0.Add(64 * time.Second), member: true}); e != nil {
		t.Fatalf("verdict before the timeout: %+v", e)
	}
	if e := w.observe(observation{now: t0.Add(66 * time.Second), member: true}); e == nil || e.Code != ExitQuorumLost {
		t.Fatalf("got %+v, want quorum lost", e)
	}
}

func TestWatchdogLagging(t *testing.T) {
	w := newWatchdog()
	at := func(s int, applied, commit uint64) *Exit {
		now := t0.Add(time.Duration(s) * time.Second)
		return w.observe(observation{now: now, member: true, leaderKnown: true, lastContact: now, applied: applied, commit: commit, commitKnown: true})
	}
	if e := at(0, 1000, 1050); e != nil {
		t.Fatal(e)
	}
	if e := at(1, 1000, 1200); e != nil { // starts lagging
		t.Fatal(e)
	}
	if e := at(4, 1300, 1350); e != nil { // caught up: resets
		t.Fatal(e)
	}
	if e := at(5, 1300, 1500); e != nil {
		t.Fatal(e)
	}
	if e := at(10, 1350, 1600); e != nil {
		t.Fatalf("verdict at exactly the timeout: %+v", e)
	}
	if e := at(11, 1400, 1600); e == nil || e.Code != ExitLagging {
		t.Fatalf("got %+v, want lagging", e)
	}
}

// A new node installing a snapshot or replaying a long log stands far
// behind for longer than the lag timeout; that is joining, bounded by the
// join timeout, not falling behind.
func TestWatchdogFirstCatchUpIsJoining(t *testing.T) {
	w := newWatchdog()
	at := func(ms int, applied, commit uint64, known bool) *Exit {
		now := t0.Add(time.Duration(ms) * time.Millisecond)
		return w.observe(observation{now: now, member: true, leaderKnown: true, lastContact: now, applied: applied, commit: commit, commitKnown: known})
	}
	// Before the leader's commit index is known, a small local commit index
	// must not count as caught up.
	if e := at(0, 0, 10, false); e != nil {
		t.Fatal(e)
	}
	for ms := 500; ms <= 9500; ms += 500 {
		if e := at(ms, 0, 100000, true); e != nil {
			t.Fatalf("a node still catching up at %dms was stopped: %+v", ms, e)
		}
	}
	if e := at(9800, 99990, 100010, true); e != nil { // arrived
		t.Fatal(e)
	}
	// From now on the lag rule applies.
	if e := at(10000, 99990, 100500, true); e != nil {
		t.Fatal(e)
	}
	if e := at(15100, 99990, 101000, true); e == nil || e.Code != ExitLagging {
		t.Fatalf("got %+v, want lagging", e)
	}
}

func TestWatchdogCatchUpBoundedByJoinTimeout(t *testing.T) {
	w := newWatchdog()
	for s := 0; s <= 10; s++ {
		now := t0.Add(time.Duration(s) * time.Second)
		if e := w.observe(observation{now: now, member: true, leaderKnown: true, lastContact: now, applied: uint64(s), commit: 100000, commitKnown: true}); e != nil {
			t.Fatalf("at %ds: %+v", s, e)
		}
	}
	now := t0.Add(11 * time.Second)
	if e := w.observe(observation{now: now, member: true, leaderKnown: true, lastContact: now, applied: 11, commit: 100000, commitKnown: true}); e == nil || e.Code != ExitJoinTimeout {
		t.Fatalf("got %+v, want join timeout", e)
	}
}

func TestWatchdogRemoved(t *testing.T) {
	w := newWatchdog()
	w.observe(observation{now: t0, member: true, leaderKnown: true, lastContact: t0})
	if e := w.observe(observation{now: t0.Add(time.Second), leaderKnown: true, lastContact: t0.Add(time.Second)}); e == nil || e.Code != ExitRemoved {
		t.Fatalf("got %+v, want removed", e)
	}
	w = newWatchdog()
	w.observe(observation{now: t0, member: true, leader: true})
	if e := w.observe(observation{now: t0.Add(time.Second), member: true, shutdown: true}); e == nil || e.Code != ExitRemoved {
		t.Fatalf("got %+v, want removed after raft shut itself down", e)
	}
}
