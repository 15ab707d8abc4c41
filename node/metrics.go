package node

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/korumdb/korum/api"
	"github.com/korumdb/korum/metrics"
	"github.com/korumdb/korum/raftnet"
	"github.com/korumdb/korum/realtime"
)

// Metrics wiring: the node feeds the metrics package's hooks and gives it
// the figures the other packages already keep. With server.metrics off
// none of the hooks run (the request path is not timed, raft's go-metrics
// stay on their default blackhole sink) and /metrics is not served;
// server:metrics still answers from the figures below, which cost nothing
// until read.

// nodeStats are figures the node keeps whether metrics are on or not.
type nodeStats struct {
	leaderChanges atomic.Uint64
	snapshotBytes atomic.Int64
}

func (n *Node) metricSources() metrics.Sources {
	return metrics.Sources{
		Requests: func() (int, int) { return n.api.Load() },
		Connections: func() (int, int) {
			ws := n.api.WebSocketConns()
			return max(n.conns.Stats().Open-ws, 0), ws
		},
		Realtime: func() metrics.Realtime {
			f := n.NodeFigures()
			pub := n.pub.stats()
			return metrics.Realtime{Rooms: f.Rooms, Subscriptions: f.Subscriptions, Sent: f.NotificationsSent,
				Dropped: f.NotificationsDropped, SlowConsumers: f.SlowConsumerDisconnects, IdleClosed: n.api.IdleDropped(),
				PublishSent: pub.Sent, PublishDropped: pub.Dropped, PublishFailed: pub.Failed}
		},
		Raft: func() metrics.Raft {
			st := n.raft.Stats()
			return metrics.Raft{Term: st.Term, LastLogIndex: st.LastLogIndex, CommitIndex: st.CommitIndex,
				AppliedIndex: st.AppliedIndex, Leader: st.State == raft.Leader.String(),
				LeaderChanges: n.stats.leaderChanges.Load(), LastSnapshotBytes: n.stats.snapshotBytes.Load()}
		},
		Storage: func() metrics.Storage {
			docs, log, snaps := n.diskUsage()
			return metrics.Storage{Documents: docs, RaftLog: log, Snapshots: snaps}
		},
	}
}

// NodeFigures implements api.FiguresSource for server:metrics.
func (n *Node) NodeFigures() api.NodeFigures {
	rooms, subs := n.hub.Sizes()
	sent, dropped := n.hub.Stats()
	st := n.raft.Stats()
	docs, log, snaps := n.diskUsage()
	return api.NodeFigures{OpenConnections: n.conns.Stats().Open, Rooms: rooms, Subscriptions: subs,
		NotificationsSent: sent, NotificationsDropped: dropped, SlowConsumerDisconnects: n.api.SlowConsumersDropped(),
		Leader: st.State == raft.Leader.String(), Term: st.Term, CommitIndex: st.CommitIndex, AppliedIndex: st.AppliedIndex,
		LeaderChanges: n.stats.leaderChanges.Load(), DocumentsBytes: docs, RaftLogBytes: log, SnapBytes: snaps}
}

// diskUsage sizes the document store, the Raft log and the retained
// snapshots (a few stat calls; the snapshots dir holds a handful of files).
func (n *Node) diskUsage() (docs, log, snaps int64) {
	size := func(p string) int64 {
		if fi, err := os.Stat(p); err == nil {
			return fi.Size()
		}
		return 0
	}
	if n.store != nil {
		docs = size(filepath.Join(n.cfg.Storage.DataDir, "documents.db"))
	}
	raftDir := filepath.Join(n.cfg.Storage.DataDir, "raft")
	log = size(filepath.Join(raftDir, "raft.db"))
	_ = filepath.WalkDir(filepath.Join(raftDir, "snapshots"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				snaps += fi.Size()
			}
		}
		return nil
	})
	return docs, log, snaps
}

// startMetrics wires the hooks before the node serves, and listens on
// server.metricsAddr when set (a busy or bad address stops the start);
// the caller serves that listener once the node is assembled.
func (n *Node) startMetrics() (net.Listener, error) {
	n.api.SetFigures(n)
	if n.metrics == nil {
		return nil, nil
	}
	n.api.ObserveRequests(n.metrics)
	n.api.ServeMetrics(n.metrics.Handler())
	addr := n.cfg.Server.MetricsAddr
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening for metrics on %s: %w", addr, err)
	}
	return ln, nil
}

// serveMetrics serves /metrics alone on server.metricsAddr, guarded as on
// the API port, until the node stops.
func (n *Node) serveMetrics(ln net.Listener) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", n.api.GuardMetrics(n.metrics.Handler()))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second}
	go func() {
		<-n.done
		_ = srv.Close()
	}()
	n.log.Info("serving metrics", "addr", ln.Addr().String())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		n.log.Warn("metrics server stopped", "err", err)
	}
}

// watchLeaderChanges counts the new leaders this node sees, the one it
// knows when it starts watching included. It runs once the node has
// started (n.done then ends it).
func (n *Node) watchLeaderChanges() {
	obs := make(chan raft.Observation, 16)
	o := raft.NewObserver(obs, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	r := n.raft.Raft()
	r.RegisterObserver(o)
	defer r.DeregisterObserver(o)
	// Registered first, so that no change falls between the two.
	_, last := r.LeaderWithID()
	if last != "" {
		n.stats.leaderChanges.Add(1)
	}
	for {
		select {
		case ob := <-obs:
			// A leader lost (empty id) is not a change yet: the next
			// leader is, unless the same node is elected again.
			if lo := ob.Data.(raft.LeaderObservation); lo.LeaderID != "" && lo.LeaderID != last {
				last = lo.LeaderID
				n.stats.leaderChanges.Add(1)
			}
		case <-n.done:
			return
		}
	}
}

// timedNotifier times the realtime fan-out of each applied write that
// notified someone (a write matching no room costs a map lookup and would
// drown the figure in zeros).
type timedNotifier struct {
	hub *realtime.Hub
	m   *metrics.Metrics
}

func (t timedNotifier) DocumentChanged(ev realtime.DocumentEvent) {
	s0, d0 := t.hub.Stats()
	start := time.Now()
	t.hub.DocumentChanged(ev)
	took := time.Since(start)
	if s1, d1 := t.hub.Stats(); s1 != s0 || d1 != d0 {
		t.m.ObserveFanOut(took)
	}
}

// snapshotMeter records the size of each snapshot this node writes.
type snapshotMeter struct {
	raftnet.FSM
	size *atomic.Int64
}

func (s snapshotMeter) Snapshot() (raft.FSMSnapshot, error) {
	snap, err := s.FSM.Snapshot()
	if err != nil {
		return nil, err
	}
	return meteredSnapshot{FSMSnapshot: snap, size: s.size}, nil
}

type meteredSnapshot struct {
	raft.FSMSnapshot
	size *atomic.Int64
}

func (s meteredSnapshot) Persist(sink raft.SnapshotSink) error {
	cs := &countingSink{SnapshotSink: sink}
	err := s.FSMSnapshot.Persist(cs)
	if err == nil {
		s.size.Store(cs.n)
	}
	return err
}

type countingSink struct {
	raft.SnapshotSink
	n int64
}

func (c *countingSink) Write(p []byte) (int, error) {
	k, err := c.SnapshotSink.Write(p)
	c.n += int64(k)
	return k, err
}
