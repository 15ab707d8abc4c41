package jepsen

import (
	"context"
	"fmt"
	"math/rand/v2"
)

// fault is an injected failure: which nodes it takes out of the majority,
// and how to undo it.
type fault struct {
	desc     string
	impaired []*Node
	// quorumLoss lists the nodes cut off from a quorum: with clustering they
	// must self-terminate within quorumContactTimeout + slack.
	quorumLoss []*Node
	heal       func(ctx context.Context) error
}

// Nemesis injects one kind of fault.
type Nemesis struct {
	Name  string
	Doc   string
	start func(ctx context.Context, e *env, rng *rand.Rand) (fault, error)
}

// young nemeses strike as soon as the cluster reports ready, before any
// warm-up: the cluster is as young as it gets.
func (n Nemesis) young() bool { return n.Name == "young-cluster" }

// dataDisks gives the nemeses that fill disks the size of the per-node data
// disks their cluster needs (ClusterConfig.DataDisks).
func (n Nemesis) dataDisks() string {
	if n.Name == "disk" {
		return "256m"
	}
	return ""
}

func pick(rng *rand.Rand, ns []*Node) *Node { return ns[rng.IntN(len(ns))] }

func shuffled(rng *rand.Rand, ns []*Node) []*Node {
	out := append([]*Node(nil), ns...)
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func others(all []*Node, not ...*Node) []*Node {
	var out []*Node
	for _, n := range all {
		keep := true
		for _, m := range not {
			keep = keep && n != m
		}
		if keep {
			out = append(out, n)
		}
	}
	return out
}

func isolate(ctx context.Context, e *env, n *Node, why string) (fault, error) {
	if err := e.c.Partition(ctx, []*Node{n}, others(e.c.Nodes, n)); err != nil {
		return fault{}, err
	}
	o := others(e.c.Nodes, n)
	if err := e.c.verifyCuts(ctx, [][2]*Node{{n, o[0]}, {o[0], n}, {o[0], o[1]}}, []bool{false, false, true}); err != nil {
		return fault{}, err
	}
	return fault{desc: why + " " + n.Name, impaired: []*Node{n}, quorumLoss: []*Node{n}, heal: e.c.Heal}, nil
}

// Nemeses lists every nemesis, in the order a run uses them.
var Nemeses = []Nemesis{
	{"none", "no fault (baseline)", func(context.Context, *env, *rand.Rand) (fault, error) {
		return fault{desc: "none", heal: func(context.Context) error { return nil }}, nil
	}},
	{"isolate-leader", "cut the leader from every other node", func(ctx context.Context, e *env, rng *rand.Rand) (fault, error) {
		n := e.leader(ctx)
		if n == nil {
			n = pick(rng, e.c.Nodes)
		}
		return isolate(ctx, e, n, "isolated leader")
	}},
	{"isolate-random", "cut a random node from every other node", func(ctx context.Context, e *env, rng *rand.Rand) (fault, error) {
		return isolate(ctx, e, pick(rng, e.c.Nodes), "isolated")
	}},
	{"majority-split", "random minority and majority halves", func(ctx context.Context, e *env, rng *rand.Rand) (fault, error) {
		s := shuffled(rng, e.c.Nodes)
		minority, majority := s[:len(s)/2], s[len(s)/2:]
		if err := e.c.Partition(ctx, minority, majority); err != nil {
			return fault{}, err
		}
		if err := e.c.verifyCuts(ctx, [][2]*Node{{minority[0], majority[0]}, {majority[1], minority[1]}, {majority[0], majority[2]}, {minority[0], minority[1]}},
			[]bool{false, false, true, true}); err != nil {
			return fault{}, err
		}
		return fault{desc: fmt.Sprintf("%v | %v", nodeNames(minority), nodeNames(majority)), impaired: minority, quorumLoss: minority, heal: e.c.Heal}, nil
	}},
	{"bridge", "two halves that share one node", func(ctx context.Context, e *env, rng *rand.Rand) (fault, error) {
		s := shuffled(rng, e.c.Nodes)
		half := len(s) / 2
		a, bridge, b := s[:half], s[half], s[half+1:]
		for _, n := range s {
			var cuts []Cut
			switch {
			case contains(a, n):
				for _, m := range b {
					cuts = append(cuts, Cut{Src: m.IP})
				}
			case contains(b, n):
				for _, m := range a {
					cuts = append(cuts, Cut{Src: m.IP})
				}
			}
			if err := n.SetCuts(ctx, cuts); err != nil {
				return fault{}, err
			}
		}
		if err := e.c.verifyCuts(ctx, [][2]*Node{{a[0], b[0]}, {b[0], a[0]}, {a[0], bridge}, {b[0], bridge}, {bridge, a[0]}},
			[]bool{false, false, true, true, true}); err != nil {
			return fault{}, err
		}
		// Either side plus the bridge is a majority: which one leads is up
		// to the elections, so both sides are counted as impaired.
		return fault{desc: fmt.Sprintf("%v <-%s-> %v", nodeNames(a), bridge.Name, nodeNames(b)), impaired: others(e.c.Nodes, bridge), heal: e.c.Heal}, nil
	}},
	{"one-way", "connections from one node to the others refused, the others' to it allowed", func(ctx context.Context, e *env, rng *rand.Rand) (fault, error) {
		src := pick(rng, e.c.Nodes)
		for _, n := range others(e.c.Nodes, src) {
			if err := n.SetCuts(ctx, []Cut{{Src: src.IP, OneWay: true}}); err != nil {
				return fault{}, err
			}
		}
		o := others(e.c.Nodes, src)
		if err := e.c.verifyCuts(ctx, [][2]*Node{{src, o[0]}, {o[0], src}}, []bool{false, true}); err != nil {
			return fault{}, err
		}
		return fault{desc: src.Name + " -/-> others", impaired: []*Node{src}, heal: e.c.Heal}, nil
	}},
	{"kill", "kill -9 a random node, restart it at heal", func(ctx context.Context, e *env, rng *rand.Rand) (fault, error) {
		n := pick(rng, e.c.Nodes)
		if err := n.Kill(ctx); err != nil {
			return fault{}, err
		}
		return fault{desc: "killed " + n.Name, impaired: []*Node{n}, heal: n.Start}, nil
	}},
	{"pause", "SIGSTOP a random node, SIGCONT at heal", func(ctx context.Context, e *env, rng *rand.Rand) (fault, error) {
		n := pick(rng, e.c.Nodes)
		if err := n.Signal(ctx, "STOP"); err != nil {
			return fault{}, err
		}
		return fault{desc: "paused " + n.Name, impaired: []*Node{n}, heal: func(ctx context.Context) error { return n.Signal(ctx, "CONT") }}, nil
	}},
	{"redis-down", "kill Redis, start it at heal", func(ctx context.Context, e *env, rng *rand.Rand) (fault, error) {
		if _, err := docker(ctx, "kill", e.c.Redis.Name); err != nil {
			return fault{}, err
		}
		return fault{desc: "redis down", heal: func(ctx context.Context) error {
			_, err := docker(ctx, "start", e.c.Redis.Name)
			return err
		}}, nil
	}},
	{"young-cluster", "kill -9 a random node as soon as every node reports ready; never restart it", func(ctx context.Context, e *env, rng *rand.Rand) (fault, error) {
		if len(e.live()) < len(e.c.Nodes) {
			// Once per run: a second node killed for good in a later
			// cycle would test a smaller cluster, not a young one.
			return fault{desc: "none (a node is already gone)", heal: func(context.Context) error { return nil }}, nil
		}
		n := pick(rng, e.live())
		if err := n.Kill(ctx); err != nil {
			return fault{}, err
		}
		e.markGone(n)
		return fault{desc: "killed " + n.Name + " for good", impaired: []*Node{n}, heal: func(context.Context) error { return nil }}, nil
	}},
	{"disk", "fill one node's data disk (often the leader's), free it at heal", diskNemesis},
	{"full-restart", "kill -9 every node, restart them all at heal", func(ctx context.Context, e *env, rng *rand.Rand) (fault, error) {
		for _, n := range e.c.Nodes {
			if err := n.Kill(ctx); err != nil {
				return fault{}, err
			}
		}
		return fault{desc: "all nodes killed", impaired: e.c.Nodes, heal: func(ctx context.Context) error {
			for _, n := range e.c.Nodes {
				if err := n.Start(ctx); err != nil {
					return err
				}
			}
			return nil
		}}, nil
	}},
}

func contains(ns []*Node, n *Node) bool {
	for _, m := range ns {
		if m == n {
			return true
		}
	}
	return false
}

// NemesisByName finds a nemesis.
func NemesisByName(name string) (Nemesis, bool) {
	for _, n := range Nemeses {
		if n.Name == name {
			return n, true
		}
	}
	return Nemesis{}, false
}
