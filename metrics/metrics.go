package metrics

import (
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/korumdb/korum/kerror"
)

// Buckets. Requests and commits range from tens of microseconds (a local
// read) to the request timeout; counts are powers of two up to the
// batcher's cap of 512 commands.
var (
	secondsBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	countBuckets   = []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}
)

// Label values for requests that name no served controller:action (a
// typo, a controller Korum does not serve): one series for all of them.
const (
	unserved  = "_unserved"
	unknownID = "_unknown"
)

// Sources are read at each scrape; any may be nil. They must be cheap and
// must not block: a scrape calls each once.
type Sources struct {
	// Requests are the API's requests executing and waiting for a slot.
	Requests func() (running, waiting int)
	// Connections are the client connections open, by protocol.
	Connections func() (http, websocket int)
	Realtime    func() Realtime
	Raft        func() Raft
	Storage     func() Storage
}

// Realtime are the realtime hub's and the WebSocket transport's figures.
type Realtime struct {
	Rooms, Subscriptions int    // on this node
	Sent, Dropped        uint64 // notifications handed to connections, or refused by a full queue
	SlowConsumers        uint64 // connections closed because their queue was full
	IdleClosed           uint64 // WebSocket connections closed for their idle timeout
	// realtime:publish messages to other nodes: handed to a peer, dropped
	// because its queue was full, lost with a failed call.
	PublishSent, PublishDropped, PublishFailed uint64
}

// Raft is this node's view of the log.
type Raft struct {
	Term, LastLogIndex, CommitIndex, AppliedIndex uint64
	Leader                                        bool
	LeaderChanges                                 uint64 // new leaders this node has seen
	LastSnapshotBytes                             int64  // size of the last snapshot it wrote
}

// Storage is the size on disk of what the node keeps, in bytes.
type Storage struct {
	Documents int64 // the embedded document store (0 with Elasticsearch)
	RaftLog   int64 // the Raft log and stable store
	Snapshots int64 // the retained Raft snapshots
}

// Metrics is one node's registry and the instruments its hooks feed.
type Metrics struct {
	reg      *prometheus.Registry
	gatherer prometheus.Gatherer

	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	errors   *prometheus.CounterVec

	batch   prometheus.Histogram
	propose prometheus.Histogram
	fanout  prometheus.Histogram
}

// New builds a node's metrics, reading src at each scrape, and installs
// the process-wide raft bridge (once per process).
func New(src Sources) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg, gatherer: prometheus.Gatherers{reg, raftRegistry()},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "korum_requests_total",
			Help: "API requests answered, by controller and action (_unserved: no such action)."}, []string{"controller", "action"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "korum_request_duration_seconds",
			Help:    "Time from a request's dispatch to its answer, by controller and action.",
			Buckets: secondsBuckets}, []string{"controller", "action"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "korum_request_errors_total",
			Help: "API requests answered with an error, by Kuzzle error id."}, []string{"id"}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "korum_batch_commands",
			Help: "Commands per log entry this node proposed (its group commit).", Buckets: countBuckets}),
		propose: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "korum_proposal_duration_seconds",
			Help: "Time from proposing a command to having its result (committed and applied).", Buckets: secondsBuckets}),
		fanout: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "korum_realtime_fanout_duration_seconds",
			Help: "Time to match one applied write against this node's rooms and queue its notifications.", Buckets: secondsBuckets}),
	}
	reg.MustRegister(m.requests, m.latency, m.errors, m.batch, m.propose, m.fanout,
		&sourceCollector{src: src},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the node's metrics in Prometheus' text format (or its
// protobuf format when asked).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.gatherer, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError,
		MaxRequestsInFlight: 4, Timeout: 10 * time.Second})
}

// ForAction returns the function told about each request of one served
// action ("" and "" for requests naming none). The router calls it once
// per action, before serving, so a request costs no label lookup; the
// series appear with the action's first request.
func (m *Metrics) ForAction(controller, action string) func(took time.Duration, errID string) {
	if controller == "" || action == "" {
		controller, action = unserved, unserved
	}
	var (
		once sync.Once
		reqs prometheus.Counter
		lat  prometheus.Observer
	)
	return func(took time.Duration, errID string) {
		once.Do(func() {
			reqs = m.requests.WithLabelValues(controller, action)
			lat = m.latency.WithLabelValues(controller, action)
		})
		reqs.Inc()
		lat.Observe(took.Seconds())
		if errID != "" {
			if !kerror.Known(errID) {
				errID = unknownID
			}
			m.errors.WithLabelValues(errID).Inc()
		}
	}
}

// RequestsServed sums korum_requests_total over the served actions: the
// requests dispatched to an action since start, which the dashboard turns
// into rates. It walks the counters: meant for a poll, not a hot path.
func (m *Metrics) RequestsServed() uint64 {
	ch := make(chan prometheus.Metric, 64)
	go func() {
		m.requests.Collect(ch)
		close(ch)
	}()
	var sum float64
	for mt := range ch {
		var d dto.Metric
		if mt.Write(&d) != nil || d.GetCounter() == nil {
			continue
		}
		if slices.ContainsFunc(d.GetLabel(), func(l *dto.LabelPair) bool { return l.GetValue() == unserved }) {
			continue
		}
		sum += d.GetCounter().GetValue()
	}
	return uint64(sum)
}

// ObserveBatch records the commands of one log entry this node proposed.
func (m *Metrics) ObserveBatch(commands int) { m.batch.Observe(float64(commands)) }

// ObserveProposal records how long a proposal took to be committed and applied.
func (m *Metrics) ObserveProposal(took time.Duration) { m.propose.Observe(took.Seconds()) }

// ObserveFanOut records how long one applied write took to be matched and
// queued to this node's subscribers.
func (m *Metrics) ObserveFanOut(took time.Duration) { m.fanout.Observe(took.Seconds()) }

// sourceCollector reads Sources at scrape time: figures other packages
// already keep cost nothing between scrapes.
type sourceCollector struct{ src Sources }

var (
	descRunning     = prometheus.NewDesc("korum_requests_running", "API requests executing now.", nil, nil)
	descWaiting     = prometheus.NewDesc("korum_requests_waiting", "API requests waiting for an execution slot (limits.concurrentRequests).", nil, nil)
	descConns       = prometheus.NewDesc("korum_connections", "Client connections open, by protocol.", []string{"protocol"}, nil)
	descRooms       = prometheus.NewDesc("korum_realtime_rooms", "Realtime rooms with subscribers on this node.", nil, nil)
	descSubs        = prometheus.NewDesc("korum_realtime_subscriptions", "Subscriptions (connection and room pairs) on this node.", nil, nil)
	descSent        = prometheus.NewDesc("korum_notifications_sent_total", "Notifications queued to client connections.", nil, nil)
	descDropped     = prometheus.NewDesc("korum_notifications_dropped_total", "Notifications refused by a connection whose queue was full.", nil, nil)
	descSlow        = prometheus.NewDesc("korum_slow_consumer_disconnects_total", "Connections closed because their queue was full.", nil, nil)
	descIdle        = prometheus.NewDesc("korum_idle_disconnects_total", "WebSocket connections closed for their idle timeout.", nil, nil)
	descPublish     = prometheus.NewDesc("korum_publications_to_peers_total", "realtime:publish messages to other nodes, by outcome (sent, dropped: the peer's queue was full, failed: the call failed).", []string{"outcome"}, nil)
	descTerm        = prometheus.NewDesc("korum_raft_term", "This node's Raft term.", nil, nil)
	descLastIndex   = prometheus.NewDesc("korum_raft_last_log_index", "Last index in this node's Raft log.", nil, nil)
	descCommitIndex = prometheus.NewDesc("korum_raft_commit_index", "Highest log index this node knows committed.", nil, nil)
	descApplied     = prometheus.NewDesc("korum_raft_applied_index", "Highest log index this node's state machine applied.", nil, nil)
	descLag         = prometheus.NewDesc("korum_raft_apply_lag", "Committed entries this node has not applied yet.", nil, nil)
	descLeader      = prometheus.NewDesc("korum_raft_leader", "1 while this node is the leader.", nil, nil)
	descLeaderChg   = prometheus.NewDesc("korum_raft_leader_changes_total", "New leaders this node has seen.", nil, nil)
	descSnapBytes   = prometheus.NewDesc("korum_snapshot_last_bytes", "Size of the last snapshot this node wrote.", nil, nil)
	descStorage     = prometheus.NewDesc("korum_storage_bytes", "Bytes on disk, by store.", []string{"store"}, nil)
)

func (c *sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRunning, descWaiting, descConns, descRooms, descSubs, descSent, descDropped,
		descSlow, descIdle, descPublish, descTerm, descLastIndex, descCommitIndex, descApplied, descLag, descLeader, descLeaderChg, descSnapBytes, descStorage} {
		ch <- d
	}
}

func (c *sourceCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	if f := c.src.Requests; f != nil {
		running, waiting := f()
		gauge(descRunning, float64(running))
		gauge(descWaiting, float64(waiting))
	}
	if f := c.src.Connections; f != nil {
		h, ws := f()
		gauge(descConns, float64(h), "http")
		gauge(descConns, float64(ws), "websocket")
	}
	if f := c.src.Realtime; f != nil {
		rt := f()
		gauge(descRooms, float64(rt.Rooms))
		gauge(descSubs, float64(rt.Subscriptions))
		counter(descSent, rt.Sent)
		counter(descDropped, rt.Dropped)
		counter(descSlow, rt.SlowConsumers)
		counter(descIdle, rt.IdleClosed)
		counter(descPublish, rt.PublishSent, "sent")
		counter(descPublish, rt.PublishDropped, "dropped")
		counter(descPublish, rt.PublishFailed, "failed")
	}
	if f := c.src.Raft; f != nil {
		r := f()
		gauge(descTerm, float64(r.Term))
		gauge(descLastIndex, float64(r.LastLogIndex))
		gauge(descCommitIndex, float64(r.CommitIndex))
		gauge(descApplied, float64(r.AppliedIndex))
		lag := 0.0
		if r.CommitIndex > r.AppliedIndex {
			lag = float64(r.CommitIndex - r.AppliedIndex)
		}
		gauge(descLag, lag)
		leader := 0.0
		if r.Leader {
			leader = 1
		}
		gauge(descLeader, leader)
		counter(descLeaderChg, r.LeaderChanges)
		gauge(descSnapBytes, float64(r.LastSnapshotBytes))
	}
	if f := c.src.Storage; f != nil {
		s := f()
		gauge(descStorage, float64(s.Documents), "documents")
		gauge(descStorage, float64(s.RaftLog), "raft_log")
		gauge(descStorage, float64(s.Snapshots), "snapshots")
	}
}
