// Package jepsen is Korum's partition-test harness: it runs a Korum cluster
// plus Redis in Docker containers on a private network with static IPs,
// drives concurrent clients through different nodes, injects faults with a
// nemesis and checks the recorded histories.
//
// It owns:
//   - the container cluster (docker CLI: network, nodes, Redis, logs) and a
//     supervisor that restarts nodes that exit, the way a process manager would;
//   - nemeses: partitions (iptables in each container's network namespace,
//     through nsenter, in a dedicated JEPSEN chain re-applied after every
//     restart), kill -9, SIGSTOP/SIGCONT, Redis down, full-cluster restart;
//   - workloads (documents and memory storage keys as registers, memory
//     storage keys with swap/set-if-absent/delete, subscriptions, token
//     revocation under a locked-down cluster) and their checkers
//     (porcupine linearizability, lost writes, notification delivery, no
//     revoked token served, two leaders in one term, convergence) and the
//     per-nemesis report.
//
// It must not import Korum's packages or share code paths with the product:
// it speaks only Kuzzle's wire protocol (WebSocket and HTTP) and the
// documented endpoints, so a bug in the product cannot hide behind the same
// bug in the harness. The checkers are pure functions of recorded histories
// and are unit-tested on synthetic ones (checker_test.go).
//
// Entry points: cmd/korum-jepsen (`make jepsen`, `make jepsen-long`) and
// cmd/korum-smoke (`make compose-smoke`: docker-compose.yml end to end).
//
// Cluster mode passes --redis/--cluster-secret/--advertise-addr to every node,
// waits until all of them report one cluster, and sends every client to
// random nodes. By default the harness probes the image for that; while the
// nodes do not form one cluster it runs in "standalone" mode (every node its
// own cluster, keys and topics sharded so each is served by one node) and
// says so. KORUM_JEPSEN_CLUSTER=1 or 0 forces the mode.
package jepsen
