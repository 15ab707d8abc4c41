package metrics

import (
	"sync"

	gometrics "github.com/hashicorp/go-metrics/compat"
	"github.com/prometheus/client_golang/prometheus"
)

// The raft bridge. hashicorp/raft v1.7.3 (and raft-boltdb) report through
// go-metrics' package-level functions (MeasureSince, IncrCounter, ...),
// which write to one sink per process; raft.Config has no per-instance
// sink. That global is the only one this package touches: it is set once
// (sync.Once) to raftSink, whose instruments live in their own registry,
// which every node's handler gathers beside its own. A process runs one
// node in production, so the figures are that node's; where tests run
// several nodes in one process, the korum_raft_* series bridged here are
// their sum (the per-node gauges, korum_raft_commit_index and the like,
// come from each node's own Sources and stay per node).
//
// Only the keys in raftKeys are bridged, each to a fixed name: raft also
// emits keys that embed peer ids in their names and labels (unbounded
// over a cluster's life), and anything not listed is dropped at the cost
// of a few map lookups.

var bridge struct {
	once sync.Once
	reg  *prometheus.Registry
}

// raftRegistry installs the bridge on first use and returns its registry.
func raftRegistry() *prometheus.Registry {
	bridge.once.Do(func() {
		reg := prometheus.NewRegistry()
		sink := newRaftSink()
		reg.MustRegister(sink.collectors...)
		cfg := gometrics.DefaultConfig("")
		cfg.HostName = ""
		cfg.EnableHostname = false
		cfg.EnableRuntimeMetrics = false // a goroutine, and the Go collector already reports these
		if _, err := gometrics.NewGlobal(cfg, sink); err != nil {
			// go-metrics fails only for sinks given by URL; keep the
			// registry, empty, rather than fail the node.
			bridge.reg = prometheus.NewRegistry()
			return
		}
		bridge.reg = reg
	})
	return bridge.reg
}

// target is what one go-metrics key feeds. Samples of timers arrive in
// milliseconds (go-metrics' default granularity) and are stored in
// seconds.
type target struct {
	counter prometheus.Counter
	gauge   prometheus.Gauge
	hist    prometheus.Observer
	scale   float64 // applied to samples and gauge values
}

func (t *target) add(v float32) {
	switch {
	case t.counter != nil:
		if v > 0 {
			t.counter.Add(float64(v))
		}
	case t.hist != nil:
		t.hist.Observe(float64(v) * t.scale)
	case t.gauge != nil:
		t.gauge.Set(float64(v) * t.scale)
	}
}

// keyTree finds a key's target walking its parts: no joining, no
// allocation per call.
type keyTree struct {
	next   map[string]*keyTree
	target *target
}

func (k *keyTree) find(key []string) *target {
	for _, part := range key {
		if k = k.next[part]; k == nil {
			return nil
		}
	}
	return k.target
}

func (k *keyTree) put(key []string, t *target) {
	for _, part := range key {
		if k.next == nil {
			k.next = map[string]*keyTree{}
		}
		n := k.next[part]
		if n == nil {
			n = &keyTree{}
			k.next[part] = n
		}
		k = n
	}
	k.target = t
}

// raftSink implements go-metrics' MetricSink for the keys it knows.
type raftSink struct {
	keys       keyTree
	collectors []prometheus.Collector
}

const ms = 0.001

func newRaftSink() *raftSink {
	s := &raftSink{}
	counter := func(name, help string, keys ...[]string) {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
		s.collectors = append(s.collectors, c)
		for _, k := range keys {
			s.keys.put(k, &target{counter: c})
		}
	}
	gauge := func(name, help string, key []string) {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
		s.collectors = append(s.collectors, g)
		s.keys.put(key, &target{gauge: g, scale: 1})
	}
	timer := func(name, help string, key []string) {
		h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: secondsBuckets})
		s.collectors = append(s.collectors, h)
		s.keys.put(key, &target{hist: h, scale: ms})
	}
	counts := func(name, help string, key []string) {
		h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: countBuckets})
		s.collectors = append(s.collectors, h)
		s.keys.put(key, &target{hist: h, scale: 1})
	}

	counter("korum_raft_apply_total", "Commands appended to the log by this node while it led (raft.apply).", []string{"raft", "apply"})
	counter("korum_raft_verify_leader_total", "Leadership checks for linearizable reads (raft.verify_leader).", []string{"raft", "verify_leader"})
	counter("korum_raft_heartbeat_timeouts_total", "Times a follower lost its leader's heartbeat (raft.transition.heartbeat_timeout).",
		[]string{"raft", "transition", "heartbeat_timeout"})
	counter("korum_raft_leader_lease_timeouts_total", "Times a leader stepped down without a quorum's contact (raft.transition.leader_lease_timeout).",
		[]string{"raft", "transition", "leader_lease_timeout"})
	counter("korum_raft_replicated_entries_total", "Log entries the leader sent to followers (raft.replication.appendEntries.logs).",
		[]string{"raft", "replication", "appendEntries", "logs"})
	states := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "korum_raft_state_changes_total",
		Help: "Times this node became follower, candidate or leader (raft.state.*)."}, []string{"state"})
	s.collectors = append(s.collectors, states)
	for _, st := range []string{"follower", "candidate", "leader"} {
		s.keys.put([]string{"raft", "state", st}, &target{counter: states.WithLabelValues(st)})
	}

	gauge("korum_raft_peers", "Servers in the latest Raft configuration (raft.peers).", []string{"raft", "peers"})
	sat := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "korum_raft_thread_saturation",
		Help: "Share of time raft's main or FSM goroutine was busy over its last second (raft.thread.*.saturation)."}, []string{"thread"})
	s.collectors = append(s.collectors, sat)
	for _, th := range []string{"main", "fsm"} {
		s.keys.put([]string{"raft", "thread", th, "saturation"}, &target{gauge: sat.WithLabelValues(th), scale: 1})
	}

	timer("korum_raft_commit_duration_seconds", "Leader: time from dispatching an entry to its commit (raft.commitTime).", []string{"raft", "commitTime"})
	timer("korum_raft_fsm_apply_duration_seconds", "Time the state machine took to apply one batch of entries (raft.fsm.applyBatch).",
		[]string{"raft", "fsm", "applyBatch"})
	counts("korum_raft_fsm_apply_batch_entries", "Entries per batch the state machine applied (raft.fsm.applyBatchNum).",
		[]string{"raft", "fsm", "applyBatchNum"})
	timer("korum_raft_leader_dispatch_duration_seconds", "Leader: time to write entries to its own log (raft.leader.dispatchLog).",
		[]string{"raft", "leader", "dispatchLog"})
	timer("korum_raft_follower_store_duration_seconds", "Follower: time to store appended entries (raft.rpc.appendEntries.storeLogs).",
		[]string{"raft", "rpc", "appendEntries", "storeLogs"})
	timer("korum_raft_log_store_duration_seconds", "Time to write and sync entries to the bolt log (raft.boltdb.storeLogs).",
		[]string{"raft", "boltdb", "storeLogs"})
	timer("korum_raft_replication_append_duration_seconds", "Leader: AppendEntries round trips to followers (raft.replication.appendEntries.rpc).",
		[]string{"raft", "replication", "appendEntries", "rpc"})
	timer("korum_raft_leader_last_contact_seconds", "Leader: time since it last heard from each follower, sampled (raft.leader.lastContact).",
		[]string{"raft", "leader", "lastContact"})
	timer("korum_raft_install_snapshot_duration_seconds", "Follower: time to receive and install a leader's snapshot (raft.rpc.installSnapshot).",
		[]string{"raft", "rpc", "installSnapshot"})
	timer("korum_raft_restore_duration_seconds", "Time to restore the state machine from a snapshot (raft.fsm.restore).",
		[]string{"raft", "fsm", "restore"})
	snap := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "korum_raft_snapshot_duration_seconds",
		Help:    "Snapshot phases: fsm (capture the state), persist (write it out), total (raft.fsm.snapshot, raft.snapshot.persist, raft.snapshot.takeSnapshot).",
		Buckets: secondsBuckets}, []string{"phase"})
	s.collectors = append(s.collectors, snap)
	for phase, key := range map[string][]string{"fsm": {"raft", "fsm", "snapshot"}, "persist": {"raft", "snapshot", "persist"},
		"total": {"raft", "snapshot", "takeSnapshot"}} {
		s.keys.put(key, &target{hist: snap.WithLabelValues(phase), scale: ms})
	}
	return s
}

func (s *raftSink) SetGauge(key []string, val float32) {
	if t := s.keys.find(key); t != nil && t.gauge != nil {
		t.add(val)
	}
}

func (s *raftSink) SetGaugeWithLabels(key []string, val float32, _ []gometrics.Label) {
	s.SetGauge(key, val)
}

func (s *raftSink) EmitKey([]string, float32) {}

func (s *raftSink) IncrCounter(key []string, val float32) {
	if t := s.keys.find(key); t != nil && t.counter != nil {
		t.add(val)
	}
}

func (s *raftSink) IncrCounterWithLabels(key []string, val float32, _ []gometrics.Label) {
	s.IncrCounter(key, val)
}

// AddSample feeds histograms, and gauges that raft reports as samples
// (thread saturation).
func (s *raftSink) AddSample(key []string, val float32) {
	if t := s.keys.find(key); t != nil && t.counter == nil {
		t.add(val)
	}
}

// AddSampleWithLabels drops the labels: the only ones raft sends name
// peers, whose set changes over a cluster's life.
func (s *raftSink) AddSampleWithLabels(key []string, val float32, _ []gometrics.Label) {
	s.AddSample(key, val)
}
