package membership

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/korumdb/korum/raftnet"
)

func formingCard(id string, born time.Duration) idCard {
	return idCard{ID: id, ClusterAddr: id + ":7511", Birthdate: t0.Add(born), Forming: true}
}

func fixedID() string { return "new-cluster" }

func TestFormStepWaitsForMinimumThenProposesTheFirstRegistered(t *testing.T) {
	self := formingCard("c", 3*time.Second)
	cards := []idCard{formingCard("a", 2*time.Second), self}
	if d := formStep(self, 3, 3, nil, cards, fixedID); d.kind != formWait || d.have != 2 {
		t.Fatalf("2 of 3 registered: got %+v, want wait with 2", d)
	}
	// A fourth arrives: the three first registered are the voters, in
	// birth order, whoever proposes.
	cards = append(cards, formingCard("b", time.Second), formingCard("d", 4*time.Second))
	d := formStep(self, 3, 3, nil, cards, fixedID)
	want := []formationPeer{{"b", "b:7511"}, {"a", "a:7511"}, {"c", "c:7511"}}
	if d.kind != formPropose || d.rec.ClusterID != "new-cluster" || !slices.Equal(d.rec.Servers, want) {
		t.Fatalf("got %+v, want a proposal of %v", d, want)
	}
	// Only min(minimumNodes, voters) voters.
	if d := formStep(self, 3, 1, nil, cards, fixedID); d.kind != formPropose || len(d.rec.Servers) != 1 || d.rec.Servers[0].ID != "b" {
		t.Fatalf("voters=1: got %+v, want b alone", d)
	}
}

func TestFormStepFollowsTheRecord(t *testing.T) {
	rec := &formation{ClusterID: "k1", Servers: []formationPeer{{"a", "a:7511"}, {"b", "b:7511"}, {"c", "c:7511"}}}
	a, d := formingCard("a", 0), formingCard("d", time.Second)
	member := func(id string) idCard { return idCard{ID: id, ClusterAddr: id + ":7511", ClusterID: "k1"} }

	// Listed: bootstrap, even if another listed node already started (it
	// published its member card).
	for _, cards := range [][]idCard{{a, formingCard("b", 0)}, {a, member("b")}} {
		if got := formStep(a, 3, 3, rec, cards, fixedID); got.kind != formBootstrap || got.rec.ClusterID != "k1" {
			t.Fatalf("cards %v: got %+v, want bootstrap with k1", cards, got)
		}
	}
	// Listed under another address (it moved): not this node's entry.
	moved := a
	moved.ClusterAddr = "elsewhere:7511"
	if got := formStep(moved, 3, 3, rec, []idCard{moved}, fixedID); got.kind != formWait {
		t.Fatalf("moved node: got %+v, want wait", got)
	}
	// Not listed: wait for the listed nodes, never propose over a record ...
	if got := formStep(d, 3, 3, rec, []idCard{a, formingCard("b", 0), formingCard("c", 0), d}, fixedID); got.kind != formWait {
		t.Fatalf("late node before the cluster started: got %+v, want wait", got)
	}
	// ... then join them.
	if got := formStep(d, 3, 3, rec, []idCard{member("a"), d}, fixedID); got.kind != formJoin || len(got.members) != 1 {
		t.Fatalf("late node: got %+v, want join", got)
	}
	// A record left by a formation long gone (members of another cluster
	// are about) is ignored: join them rather than found a dead cluster.
	other := idCard{ID: "x", ClusterAddr: "x:7511", ClusterID: "k2"}
	if got := formStep(a, 3, 3, rec, []idCard{other, a}, fixedID); got.kind != formJoin || got.members[0].ID != "x" {
		t.Fatalf("stale record: got %+v, want join of x", got)
	}
}

func TestFormStepJoinsAnExistingClusterWithoutRecord(t *testing.T) {
	self := formingCard("c", 0)
	m := idCard{ID: "a", ClusterAddr: "a:7511", ClusterID: "k1"}
	if got := formStep(self, 3, 3, nil, []idCard{m, self}, fixedID); got.kind != formJoin {
		t.Fatalf("got %+v, want join", got)
	}
}

// startForming starts nodes concurrently, as docker compose does: each one
// waits in Prepare until the formation is decided.
func startForming(t *testing.T, cfgs []Config) []*tnode {
	t.Helper()
	ns := make([]*tnode, len(cfgs))
	errs := make([]error, len(cfgs))
	var wg sync.WaitGroup
	for i, cfg := range cfgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ns[i], errs[i] = startNode(t, cfg)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
	return ns
}

// formingConfigs configures n nodes with cluster.minimumNodes n.
func formingConfigs(t *testing.T, r *testRedis, n int) []Config {
	var cfgs []Config
	for i := 1; i <= n; i++ {
		cfg := testConfig(t, i, r.url())
		cfg.MinimumNodes = n
		cfgs = append(cfgs, cfg)
	}
	return cfgs
}

func TestMinimumNodesFormsWithAllVotersFromTheFirstEntry(t *testing.T) {
	r := startRedis(t)
	cfgs := formingConfigs(t, r, 3)
	// Two nodes alone never form a cluster: they wait for the third.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := Prepare(ctx, cfgs[0]); err == nil {
		t.Fatal("Prepare returned with one node registered out of cluster.minimumNodes=3")
	}

	ns := startForming(t, cfgs)
	clusterID := ""
	for _, n := range ns {
		// Every node bootstrapped with the same three voters: its own
		// configuration holds them before any leader could change it.
		if !n.plan.Bootstrap || len(n.plan.BootstrapServers) != 3 {
			t.Fatalf("%s: plan %+v, want a bootstrap with 3 voters", n.cfg.NodeID, n.plan)
		}
		if s := n.servers(); len(s) != 3 || voters(s) != 3 {
			t.Fatalf("%s: first configuration %v, want 3 voters", n.cfg.NodeID, s)
		}
		if id := n.plan.ClusterID; clusterID == "" {
			clusterID = id
		} else if id != clusterID {
			t.Fatalf("cluster ids differ: %s and %s", clusterID, id)
		}
	}
	for _, n := range ns {
		if id := clusterIDOf(t, n); id != clusterID {
			t.Fatalf("%s stores cluster id %s, want %s", n.cfg.NodeID, id, clusterID)
		}
	}
	leaderOf(t, ns...)

	// A fourth node arrives late: it joins the formed cluster as a
	// non-voter (the three voters are enough).
	cfg := testConfig(t, 4, r.url())
	cfg.MinimumNodes = 3
	late := mustStart(t, cfg)
	waitConfig(t, late, 4, 3)
	if s := late.servers(); s[cfg.NodeID] != raftnet.Nonvoter {
		t.Fatalf("late node is %q, want a non-voter", s[cfg.NodeID])
	}
	if id := clusterIDOf(t, late); id != clusterID {
		t.Fatalf("late node joined cluster %s, want %s", id, clusterID)
	}

	// Restart a formed node with its data: it never bootstraps again (its
	// Raft state holds the configuration), even with the record still in
	// Redis.
	ns[0].crash()
	again := mustStart(t, ns[0].cfg)
	waitConfig(t, again, 4, 3)
	if id := clusterIDOf(t, again); id != clusterID {
		t.Fatalf("restarted node is in cluster %s, want %s", id, clusterID)
	}
}

// The finding behind immediate promotion: a cluster formed one node at a
// time (cluster.minimumNodes 1) used to live on a single voter for the
// stabilization time after every node looked settled; losing that node
// then lost the cluster. Now each joiner is promoted as soon as it is
// caught up, and a node is settled only as a voter (or once the cluster
// has its voters), so once all three are settled any one may die.
func TestYoungClusterSurvivesItsFirstNode(t *testing.T) {
	r := startRedis(t)
	var ns []*tnode
	for i := 1; i <= 3; i++ {
		cfg := testConfig(t, i, r.url())
		// Far beyond the test: promotions here can only be the young
		// cluster's immediate ones.
		cfg.Stabilization = time.Hour
		ns = append(ns, mustStart(t, cfg))
	}
	var boot *tnode
	for _, n := range ns {
		if n.plan.Bootstrap {
			boot = n
		}
	}
	if boot == nil {
		t.Fatal("no node bootstrapped")
	}
	waitFor(t, 20*time.Second, "every node settled", func() bool {
		for _, n := range ns {
			if !n.m.Settled() {
				return false
			}
		}
		return true
	})
	boot.crash()
	var rest []*tnode
	for _, n := range ns {
		if n != boot {
			rest = append(rest, n)
		}
	}
	l := leaderOf(t, rest...)
	if l == boot {
		t.Fatal("the dead node still leads")
	}
	if s := l.servers(); voters(s) != 3 {
		t.Fatalf("configuration %v, want 3 voters", s)
	}
	noFatal(t, rest...)
}

// Redis restarts (empty) while two of three nodes wait to form: they
// register again, and the third completes the formation.
func TestFormationSurvivesARedisRestart(t *testing.T) {
	r := startRedis(t)
	cfgs := formingConfigs(t, r, 3)
	type result struct {
		n   *tnode
		err error
	}
	waiting := make(chan result, 2)
	for _, cfg := range cfgs[:2] {
		go func() {
			n, err := startNode(t, cfg)
			waiting <- result{n, err}
		}()
	}
	cli := redis.NewClient(&redis.Options{Addr: r.addr, DisableIdentity: true})
	defer cli.Close()
	waitFor(t, 10*time.Second, "two forming cards", func() bool {
		n, _ := cli.SCard(context.Background(), "korum:{korum}:cards").Result()
		return n == 2
	})
	r.stop()
	r.start()
	third := mustStart(t, cfgs[2])
	ns := []*tnode{third}
	for range 2 {
		select {
		case res := <-waiting:
			if res.err != nil {
				t.Fatal(res.err)
			}
			ns = append(ns, res.n)
		case <-time.After(20 * time.Second):
			t.Fatal("the waiting nodes did not form the cluster after Redis came back")
		}
	}
	for _, n := range ns {
		if !n.plan.Bootstrap || len(n.plan.BootstrapServers) != 3 {
			t.Fatalf("%s: plan %+v, want a bootstrap with 3 voters", n.cfg.NodeID, n.plan)
		}
	}
	leaderOf(t, ns...)
	noFatal(t, ns...)
}
