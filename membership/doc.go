// Package membership decides who is in a Korum cluster: discovery through
// Redis ID cards, the join flow, voter management, dead-node removal, the
// self-termination watchdog and graceful leave. raftnet provides the
// mechanics (Join, Remove, Promote, RPC); this package owns the policy.
//
// What it owns:
//   - DataDir/cluster-id: the cluster's identity, generated at bootstrap,
//     learned from a member when joining, checked on every join so a node
//     whose data belongs to another cluster refuses with a clear message.
//   - Redis keys under "<prefix>:{<prefix>}:" (prefix "korum" by default):
//     card:<nodeID> (JSON ID card, TTL 2×Heartbeat), cards (set indexing
//     the card keys), bootstrap-lock (SET NX PX, extended while held,
//     released by compare-and-delete).
//   - formation: with MinimumNodes > 1, new nodes wait for that many to
//     register and bootstrap together from one formation record, all
//     voters (key "formation", SET NX).
//   - The bootstrap decision (exactly one node founds a cluster), the
//     same-IP rule (a live card with our IP and another id refuses us; our
//     own id, or a card that expires, does not: Kuzzle bug #2194).
//   - On the leader: polling members' progress, promoting caught-up
//     non-voters up to Config.Voters (at once in a young cluster, after
//     Stabilization when replacing a voter), removing nodes silent for
//     DeadNodeTimeout under a quorum guard, and Hooks.Evicted.
//   - On every node: the watchdog whose verdicts (Exit, with distinct
//     codes) tell the node to stop; Leave on SIGTERM; Status (the
//     leader's view, from any node).
//
// What it must not do:
//   - Be needed once the cluster runs: Redis failures after start are
//     logged and ignored; elections, joins through --join and removals work
//     without it.
//   - Know documents, rooms or subscriptions. Evictions are reported
//     through Hooks; the node package turns them into log entries.
//   - Exit the process itself: it reports an Exit on Fatal and the node
//     package stops and exits with that code.
//
// Use (node package):
//
//	plan, err := membership.Prepare(ctx, cfg)            // before raftnet.Open
//	rn, err := raftnet.Open(ctx, raftnet.Config{..., Bootstrap: plan.Bootstrap}, fsm)
//	if err != nil { plan.Done() }                         // releases the lock
//	m, err := membership.Start(ctx, cfg, plan, rn, hooks) // card, join, leader duties, watchdog
//	select { case e := <-m.Fatal(): /* log, m.Close(), rn.Shutdown(), os.Exit(e.Code) */ }
//	// SIGTERM: m.Leave(ctx); close client connections; m.Close(); rn.Shutdown(); exit 0
//
// cfg.ClusterAddr must be the address raftnet advertises, cfg.NodeID its
// id. Config.QuorumContactTimeout must exceed an election (raftnet's
// defaults elect a new leader within about 0.3–0.8 s of the old one's
// death; the 5 s default leaves ample room).
package membership
