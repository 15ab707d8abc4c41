package membership

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/korumdb/korum/raftnet"
)

func clusterIDOf(t testing.TB, n *tnode) string {
	t.Helper()
	id, err := readClusterID(n.cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// waitVoters waits until n's configuration lists exactly the given members
// with want voters among them.
func waitConfig(t testing.TB, n *tnode, members, want int) {
	t.Helper()
	waitFor(t, 20*time.Second, "configuration with "+itoa(members)+" members, "+itoa(want)+" voters", func() bool {
		s := n.servers()
		return len(s) == members && voters(s) == want
	})
}

func itoa(i int) string { return string(rune('0' + i)) }

func TestFormationThroughRedisAllAtOnce(t *testing.T) {
	r := startRedis(t)
	var cfgs []Config
	for i := 1; i <= 3; i++ {
		cfgs = append(cfgs, testConfig(t, i, r.url()))
	}
	nodes := make([]*tnode, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range cfgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i], errs[i] = startNode(t, cfgs[i])
		}()
	}
	wg.Wait()
	boots := 0
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
		if nodes[i].plan.Bootstrap {
			boots++
		}
	}
	if boots != 1 {
		t.Fatalf("%d nodes bootstrapped, want exactly 1", boots)
	}
	l := leaderOf(t, nodes...)
	waitConfig(t, l, 3, 3)
	id := l.m.ClusterID()
	for _, n := range nodes {
		waitFor(t, 5*time.Second, n.cfg.NodeID+" stores the cluster id", func() bool { return clusterIDOf(t, n) == id })
	}
	cards, err := l.m.disc.cards(context.Background())
	if err != nil || len(cards) != 3 {
		t.Fatalf("ID cards: %v, %v", cards, err)
	}
	for _, c := range cards {
		if c.ClusterID != id || c.IP == "" || c.ClusterAddr == "" {
			t.Fatalf("bad card %+v (cluster %s)", c, id)
		}
	}
	noFatal(t, nodes...)
}

func TestJoinWithoutRedis(t *testing.T) {
	c1 := testConfig(t, 1, "")
	n1 := mustStart(t, c1)
	if !n1.plan.Bootstrap {
		t.Fatal("a lone node without Redis or seeds must bootstrap")
	}
	c2, c3 := testConfig(t, 2, ""), testConfig(t, 3, "")
	c2.Join = []string{c1.ClusterAddr}
	c3.Join = []string{c2.ClusterAddr, c1.ClusterAddr}
	n2 := mustStart(t, c2)
	n3 := mustStart(t, c3)
	if n2.plan.Bootstrap || n3.plan.Bootstrap {
		t.Fatal("a node with seeds must not bootstrap")
	}
	waitConfig(t, n1, 3, 3)
	for _, n := range []*tnode{n2, n3} {
		waitFor(t, 5*time.Second, "cluster id learned", func() bool { return clusterIDOf(t, n) == n1.m.ClusterID() })
	}

	// A restart on the same data dir rejoins as itself, still a voter.
	n3.crash()
	n3b := mustStart(t, c3)
	if n3b.plan.Bootstrap || !n3b.plan.HasState {
		t.Fatalf("restart plan %+v", n3b.plan)
	}
	waitFor(t, 15*time.Second, "restarted node follows the leader", func() bool {
		id, _ := n3b.rn.Leader()
		return id != ""
	})
	waitConfig(t, n1, 3, 3)
	noFatal(t, n1, n2, n3b)
}

func TestRedisDownClusterStillElectsAndAcceptsJoin(t *testing.T) {
	r := startRedis(t)
	var nodes []*tnode
	for i := 1; i <= 3; i++ {
		nodes = append(nodes, mustStart(t, testConfig(t, i, r.url())))
	}
	l := leaderOf(t, nodes...)
	waitConfig(t, l, 3, 3)

	r.stop()
	l.crash()
	var rest []*tnode
	for _, n := range nodes {
		if n != l {
			rest = append(rest, n)
		}
	}
	l2 := leaderOf(t, rest...)
	if l2 == l {
		t.Fatal("old leader still leads")
	}
	c4 := testConfig(t, 4, r.url())
	c4.Join = []string{rest[0].cfg.ClusterAddr}
	n4 := mustStart(t, c4)
	waitFor(t, 20*time.Second, "n4 in the configuration", func() bool { _, ok := l2.servers()["n4"]; return ok })
	waitFor(t, 5*time.Second, "n4 learned the cluster id", func() bool { return clusterIDOf(t, n4) == l2.m.ClusterID() })
	noFatal(t, append(rest, n4)...)
}

func TestSameIPRefusedButFastRestartAccepted(t *testing.T) {
	r := startRedis(t)
	c1 := testConfig(t, 1, r.url())
	n1 := mustStart(t, c1)
	leaderOf(t, n1)

	// Another node id on the same IP, while n1 lives: refused.
	c2 := testConfig(t, 2, r.url())
	c2.ClusterAddr = freeAddr(t, "127.0.0.11")
	_, err := startNode(t, c2)
	if !errors.Is(err, ErrSameIP) || !strings.Contains(err.Error(), "127.0.0.11") || !strings.Contains(err.Error(), "n1") {
		t.Fatalf("got %v, want ErrSameIP naming the IP and n1", err)
	}

	// n1 crashes and restarts at once: its own card is still live, and
	// that is no obstacle (Kuzzle bug #2194).
	n1.crash()
	n1b := mustStart(t, c1)
	if n1b.plan.Bootstrap || !n1b.plan.HasState {
		t.Fatalf("restart plan %+v", n1b.plan)
	}
	leaderOf(t, n1b)

	// A ghost card of a crashed process with another id on our IP expires:
	// the node waits for that rather than refusing.
	n1b.crash()
	ghost := idCard{ID: "ghost", IP: "127.0.0.12", ClusterAddr: "127.0.0.12:1", ClusterID: n1b.m.ClusterID(), Birthdate: time.Now()}
	d, err := newDiscovery(r.url(), DefaultRedisPrefix, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	if err := d.putCard(context.Background(), ghost, 600*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	c3 := testConfig(t, 2, r.url()) // 127.0.0.12, its own id n2
	c3.Join = []string{c1.ClusterAddr}
	// (n1 is down; n2 only needs its Prepare to pass the same-IP rule)
	plan, err := Prepare(context.Background(), c3)
	if err != nil {
		t.Fatalf("ghost card was not allowed to expire: %v", err)
	}
	plan.Done()
}

func TestForeignClusterRefused(t *testing.T) {
	r := startRedis(t)
	n1 := mustStart(t, testConfig(t, 1, r.url()))
	leaderOf(t, n1)

	// Through Redis: refused by Prepare.
	c2 := testConfig(t, 2, r.url())
	if err := writeClusterID(c2.DataDir, "0123456789abcdef"); err != nil {
		t.Fatal(err)
	}
	_, err := startNode(t, c2)
	if !errors.Is(err, ErrForeignCluster) || !strings.Contains(err.Error(), "0123456789abcdef") {
		t.Fatalf("got %v, want ErrForeignCluster", err)
	}

	// Through --join: the verdict comes on Fatal, and the node never joined.
	c3 := testConfig(t, 3, "")
	c3.Join = []string{n1.cfg.ClusterAddr}
	if err := writeClusterID(c3.DataDir, "0123456789abcdef"); err != nil {
		t.Fatal(err)
	}
	n3 := mustStart(t, c3)
	e := expectExit(t, n3, ExitForeignCluster, 10*time.Second)
	if !strings.Contains(e.Reason, "another cluster") {
		t.Fatalf("unclear reason %q", e.Reason)
	}
	if _, ok := n1.servers()["n3"]; ok {
		t.Fatal("a foreign node was added")
	}
}

func TestOrphanDataRefusedWithoutSeeds(t *testing.T) {
	c := testConfig(t, 1, "")
	if err := writeClusterID(c.DataDir, "feedface"); err != nil {
		t.Fatal(err)
	}
	_, err := Prepare(context.Background(), c)
	if !errors.Is(err, ErrOrphanData) {
		t.Fatalf("got %v, want ErrOrphanData", err)
	}
	if _, err := os.Stat(filepath.Join(c.DataDir, "raft")); err == nil {
		t.Fatal("Prepare created Raft state")
	}
}

func TestPromotionAndDeadVoterReplacement(t *testing.T) {
	var nodes []*tnode
	c1 := testConfig(t, 1, "")
	c1.DeadNodeTimeout = 4 * time.Second
	for i := 1; i <= 4; i++ {
		c := testConfig(t, i, "")
		c.DeadNodeTimeout = c1.DeadNodeTimeout
		if i == 1 {
			c = c1
		} else {
			c.Join = []string{c1.ClusterAddr}
		}
		nodes = append(nodes, mustStart(t, c))
		if i < 4 {
			waitConfig(t, nodes[0], i, i) // promoted one by one up to 3
		}
	}
	l := leaderOf(t, nodes...)
	waitConfig(t, l, 4, 3) // the 4th stays a non-voter
	var victim, spare *tnode
	for _, n := range nodes {
		switch {
		case n == l:
		case l.servers()[n.cfg.NodeID] == raftnet.Nonvoter:
			spare = n
		case victim == nil:
			victim = n
		}
	}
	victim.crash()
	select {
	case id := <-l.evicted:
		if id != victim.cfg.NodeID {
			t.Fatalf("evicted %s, want %s", id, victim.cfg.NodeID)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("dead voter not evicted")
	}
	waitFor(t, 20*time.Second, "the spare is promoted", func() bool {
		s := l.servers()
		_, gone := s[victim.cfg.NodeID]
		return !gone && s[spare.cfg.NodeID] == raftnet.Voter && voters(s) == 3
	})
	noFatal(t, l, spare)

	// The evicted node comes back on its data dir: it rejoins (as a
	// non-voter, the voters being complete) instead of being stuck outside.
	vc := victim.cfg
	vc.Join = []string{l.cfg.ClusterAddr}
	back := mustStart(t, vc)
	if !back.plan.HasState {
		t.Fatal("restart lost its Raft state")
	}
	waitConfig(t, l, 4, 3)
	if l.servers()[vc.NodeID] != raftnet.Nonvoter {
		t.Fatalf("returning node is %v", l.servers()[vc.NodeID])
	}
	waitFor(t, 10*time.Second, "the returning node follows the leader", func() bool {
		id, _ := back.rn.Leader()
		return id == l.cfg.NodeID
	})
	noFatal(t, l, spare, back)
}

// joinThree starts three nodes, the 2nd and 3rd joining the 1st, and waits
// for three voters.
func joinThree(t *testing.T) ([]*tnode, *tnode) {
	t.Helper()
	var nodes []*tnode
	c1 := testConfig(t, 1, "")
	for i := 1; i <= 3; i++ {
		c := testConfig(t, i, "")
		if i == 1 {
			c = c1
		} else {
			c.Join = []string{c1.ClusterAddr}
		}
		nodes = append(nodes, mustStart(t, c))
	}
	l := leaderOf(t, nodes...)
	waitConfig(t, l, 3, 3)
	return nodes, l
}

func TestIsolatedNodeExitsHealthyElectionDoesNot(t *testing.T) {
	nodes, l := joinThree(t)

	// Healthy election: the leader dies, the majority elects and nobody exits.
	l.crash()
	var rest []*tnode
	for _, n := range nodes {
		if n != l {
			rest = append(rest, n)
		}
	}
	l2 := leaderOf(t, rest...)
	start := time.Now()
	for time.Since(start) < 2*l2.cfg.QuorumContactTimeout {
		noFatal(t, rest...)
		time.Sleep(50 * time.Millisecond)
	}

	// Now the survivor loses its last peer: no quorum, it must exit.
	var last *tnode
	for _, n := range rest {
		if n != l2 {
			last = n
		}
	}
	l2.crash()
	e := expectExit(t, last, ExitQuorumLost, 3*last.cfg.QuorumContactTimeout)
	if !strings.Contains(e.Reason, "quorum") {
		t.Fatalf("unclear reason %q", e.Reason)
	}
	if voters(last.servers()) != 3 {
		t.Fatalf("configuration changed without a quorum: %v", last.servers())
	}
}

func TestRemovedNodeExits(t *testing.T) {
	c1 := testConfig(t, 1, "")
	n1 := mustStart(t, c1)
	c2 := testConfig(t, 2, "")
	c2.Join = []string{c1.ClusterAddr}
	n2 := mustStart(t, c2)
	waitConfig(t, n1, 2, 2)
	waitFor(t, 10*time.Second, "n2 knows the leader", func() bool { id, _ := n2.rn.Leader(); return id != "" })
	time.Sleep(2 * n2.cfg.tick()) // let n2's watchdog arm (it needs one observation as a member)
	if err := n1.rn.Remove(context.Background(), "n2"); err != nil {
		t.Fatal(err)
	}
	expectExit(t, n2, ExitRemoved, 10*time.Second)
	noFatal(t, n1)
}

func TestJoinTimeout(t *testing.T) {
	c := testConfig(t, 1, "")
	c.Join = []string{freeAddr(t, "127.0.0.19")} // nobody listens there
	c.JoinTimeout = time.Second
	n := mustStart(t, c)
	expectExit(t, n, ExitJoinTimeout, 10*time.Second)
}

func testLeave(t *testing.T, size int) {
	r := startRedis(t)
	var nodes []*tnode
	for i := 1; i <= size; i++ {
		nodes = append(nodes, mustStart(t, testConfig(t, i, r.url())))
	}
	l := leaderOf(t, nodes...)
	waitConfig(t, l, size, size)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := l.m.Leave(ctx); err != nil {
		t.Fatalf("leave: %v", err)
	}
	l.crash()
	var rest []*tnode
	for _, n := range nodes {
		if n != l {
			rest = append(rest, n)
		}
	}
	l2 := leaderOf(t, rest...)
	waitConfig(t, l2, size-1, size-1)
	if _, ok := l2.servers()[l.cfg.NodeID]; ok {
		t.Fatal("the leaver is still in the configuration")
	}
	cards, err := l2.m.disc.cards(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cards {
		if c.ID == l.cfg.NodeID {
			t.Fatal("the leaver's ID card is still there")
		}
	}
	// The cluster still commits.
	if _, err := l2.rn.Apply(ctx, []byte("after leave")); err != nil {
		t.Fatalf("apply after leave: %v", err)
	}
	noFatal(t, rest...)
}

func TestGracefulLeaveOfLeader3(t *testing.T) { testLeave(t, 3) }
func TestGracefulLeaveOfLeader2(t *testing.T) { testLeave(t, 2) }

func TestStatusFromFollowerIsTheLeadersView(t *testing.T) {
	nodes, l := joinThree(t)
	ctx := context.Background()
	waitFor(t, 10*time.Second, "the leader has polled every member", func() bool {
		s, err := l.m.Status(ctx)
		if err != nil {
			return false
		}
		for _, n := range s.Nodes {
			if n.APIAddr == "" || n.Birthdate.IsZero() {
				return false
			}
		}
		return true
	})
	norm := func(s *Status) *Status {
		c := *s
		c.CommitIndex = 0
		c.Nodes = nil
		for _, n := range s.Nodes {
			n.Applied, n.Lag, n.LastContact = 0, 0, time.Time{}
			c.Nodes = append(c.Nodes, n)
		}
		return &c
	}
	want, err := l.m.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want.LeaderID != l.cfg.NodeID || len(want.Nodes) != 3 || want.ClusterID == "" {
		t.Fatalf("leader status %+v", want)
	}
	for _, n := range want.Nodes {
		if n.Role != "voter" || n.ClusterAddr == "" || n.LastContact.IsZero() || n.Leader != (n.ID == l.cfg.NodeID) {
			t.Fatalf("bad node status %+v", n)
		}
	}
	for _, n := range nodes {
		if n == l {
			continue
		}
		got, err := n.m.Status(ctx)
		if err != nil {
			t.Fatalf("%s: %v", n.cfg.NodeID, err)
		}
		g, w := norm(got), norm(want)
		if g.LeaderID != w.LeaderID || g.Term != w.Term || g.ClusterID != w.ClusterID || len(g.Nodes) != len(w.Nodes) {
			t.Fatalf("%s answered %+v, leader %+v", n.cfg.NodeID, g, w)
		}
		for i := range g.Nodes {
			if !g.Nodes[i].Birthdate.Equal(w.Nodes[i].Birthdate) {
				t.Fatalf("%s: birthdate differs: %+v vs %+v", n.cfg.NodeID, g.Nodes[i], w.Nodes[i])
			}
			g.Nodes[i].Birthdate, w.Nodes[i].Birthdate = time.Time{}, time.Time{}
			if g.Nodes[i] != w.Nodes[i] {
				t.Fatalf("%s: node %+v, leader says %+v", n.cfg.NodeID, g.Nodes[i], w.Nodes[i])
			}
		}
	}
}
