package node

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/korumdb/korum/api"
	"github.com/korumdb/korum/fsm"
	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/membership"
	"github.com/korumdb/korum/memstore"
	"github.com/korumdb/korum/metrics"
	"github.com/korumdb/korum/raftnet"
	"github.com/korumdb/korum/realtime"
	"github.com/korumdb/korum/realtime/filter"
	"github.com/korumdb/korum/security"
	"github.com/korumdb/korum/storage"
	"github.com/korumdb/korum/storage/elasticsearch"
	"github.com/korumdb/korum/storage/embedded"
)

// Version is Korum's version, reported by server:info.
const Version = "0.3.0-dev"

// Node is one running Korum node.
type Node struct {
	cfg     Config
	log     *slog.Logger
	id      string
	started time.Time

	store   *embedded.Engine      // embedded mode only
	es      *elasticsearch.Engine // elasticsearch mode only
	reader  storage.Reader        // whichever engine serves the documents
	esDocs  docLocks
	esDown  atomic.Bool // Elasticsearch's last health check failed
	fsm     *fsm.FSM
	raft    *raftnet.Node
	batch   *batcher
	members *membership.Manager
	hub     *realtime.Hub
	pub     *publisher // realtime:publish to other nodes (publish.go)
	api     *api.Server
	http    *http.Server
	ln      net.Listener
	conns   *api.Listener // ln within limits.maxConnections*

	apiCert     *keyPair // server.tls: nil without HTTPS
	clusterCert *keyPair // cluster.tls: nil without mutual TLS
	clusterCA   *caPool

	logins          loginLimiter
	firstAdmin      *firstAdmin
	firstAdminLocal *security.Local
	lockedDown      atomic.Bool // an admin exists: the first-admin gate is open

	seq      atomic.Uint64
	ready    atomic.Bool
	stopping atomic.Bool
	done     chan struct{}
	fatal    chan error

	// shutdown is closed when admin:shutdown asks this node to stop.
	shutdown     chan struct{}
	shutdownOnce sync.Once
	dumping      sync.Mutex
	snapshotting sync.Mutex

	metrics *metrics.Metrics // nil with server.metrics off (metrics.go)
	stats   nodeStats
}

// ShutdownRequested is closed when a client asked this node to stop
// (admin:shutdown): its owner stops it as on SIGTERM.
func (n *Node) ShutdownRequested() <-chan struct{} { return n.shutdown }

// Shutdown asks this node to stop gracefully; false when it was asked
// already or is stopping.
func (n *Node) Shutdown() bool {
	asked := false
	n.shutdownOnce.Do(func() {
		asked = !n.stopping.Load()
		close(n.shutdown)
	})
	return asked
}

// Fatal delivers the error that makes this node unable to go on (the API
// listener died, and later the cluster rules of self-termination).
func (n *Node) Fatal() <-chan error { return n.fatal }

// Start opens the node's data, joins or forms its cluster and serves the
// API. It returns once the API listens; readiness (/_ready) follows when
// the node has a leader and has caught up with the log.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Node, error) {
	if err := os.MkdirAll(cfg.Storage.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the data dir: %w", err)
	}
	id, err := nodeID(cfg)
	if err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: log.With("node", id), id: id, started: time.Now(), done: make(chan struct{}), fatal: make(chan error, 1),
		shutdown: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			n.closeAll()
		}
	}()
	n.logins.max = cfg.Limits.LoginsPerSecond
	// Certificates first: a bad file stops the start before anything opens.
	if cfg.Server.TLSCert != "" {
		if n.apiCert, err = loadKeyPair("api", cfg.Server.TLSCert, cfg.Server.TLSKey); err != nil {
			return nil, err
		}
		warnExpiry(n.log, "api", n.apiCert.get().Leaf)
	}
	clusterTLSConfig, clusterCert, clusterCA, err := clusterTLS(cfg.Cluster)
	if err != nil {
		return nil, err
	}
	n.clusterCA = clusterCA
	if n.clusterCert = clusterCert; clusterCert != nil {
		warnExpiry(n.log, "cluster", clusterCert.get().Leaf)
	}
	if n.firstAdmin, n.firstAdminLocal, err = loadFirstAdmin(cfg.Security.FirstAdminFile); err != nil {
		return nil, err
	}

	var store fsm.Store
	if cfg.Storage.Engine == "elasticsearch" {
		if err := n.openElasticsearch(ctx); err != nil {
			return nil, err
		}
		store = fsm.NullStore{}
	} else {
		n.store, err = openStore(cfg.Storage.DataDir, embedded.Options{Logger: n.log, DocumentsFetchCount: cfg.Limits.DocumentsFetchCount})
		if err != nil {
			return nil, err
		}
		n.reader = n.store
		if store, err = withStoreFailpoints(n.store, n.log); err != nil {
			return nil, err
		}
	}
	n.fsm = fsm.New(store, nil, n.log)
	n.hub = realtime.NewHub(id, filter.New(filter.Options{MaxConditions: cfg.Limits.SubscriptionConditionsCount}),
		replicator{n}, realtime.Limits{MaxRooms: cfg.Limits.SubscriptionRooms,
			MaxSubscriptionsPerConn: cfg.Limits.SubscriptionsPerConnection}, n.log)
	var notifier fsm.Notifier = n.hub
	if cfg.Server.Metrics {
		n.metrics = metrics.New(n.metricSources())
		notifier = timedNotifier{hub: n.hub, m: n.metrics}
	}
	n.fsm.SetNotifier(notifier)
	n.fsm.OnHalt(func(h *fsm.HaltError) {
		// Never block the goroutine that applies the log; one fatal
		// error is enough to stop the node.
		select {
		case n.fatal <- h:
		default:
		}
	})

	bind, advertise, err := clusterAddrs(cfg)
	if err != nil {
		return nil, err
	}
	// The API listener opens first (it serves only later) so that the
	// cluster learns this node's real API address.
	n.ln, err = net.Listen("tcp", cfg.Server.APIAddr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", cfg.Server.APIAddr, err)
	}
	mcfg := membership.Config{NodeID: id, DataDir: cfg.Storage.DataDir, ClusterAddr: advertise,
		APIAddr: advertisedAPI(n.ln.Addr(), advertise), RedisURL: cfg.Cluster.Redis, Join: cfg.Cluster.Join,
		Voters: cfg.Cluster.Voters, MinimumNodes: cfg.Cluster.MinimumNodes, Heartbeat: cfg.Cluster.Heartbeat, JoinTimeout: cfg.Cluster.JoinTimeout,
		QuorumContactTimeout: cfg.Cluster.QuorumContactTimeout, MaxLag: uint64(cfg.Cluster.MaxLag),
		DeadNodeTimeout: cfg.Cluster.DeadNodeTimeout, Logger: log}
	plan, err := membership.Prepare(ctx, mcfg)
	if err != nil {
		return nil, err
	}
	applier, err := withFailpoints(n.fsm, n.log)
	if err != nil {
		plan.Done()
		return nil, err
	}
	applier = snapshotMeter{FSM: applier, size: &n.stats.snapshotBytes}
	n.raft, err = raftnet.Open(ctx, raftnet.Config{
		NodeID: id, DataDir: cfg.Storage.DataDir, BindAddr: bind,
		AdvertiseAddr: advertise, Secret: cfg.Cluster.Secret, TLS: clusterTLSConfig, Bootstrap: plan.Bootstrap, BootstrapServers: plan.BootstrapServers,
		HeartbeatTimeout: cfg.Cluster.HeartbeatTimeout, ElectionTimeout: cfg.Cluster.ElectionTimeout,
		LeaderLeaseTimeout: cfg.Cluster.LeaderLeaseTimeout, ApplyTimeout: cfg.Limits.RequestTimeout,
		SnapshotThreshold: uint64(cfg.Cluster.SnapshotThreshold), SnapshotInterval: cfg.Cluster.SnapshotInterval,
		TrailingLogs: uint64(cfg.Cluster.TrailingLogs), DiskMinFree: uint64(max(cfg.Storage.DiskMinFree, 0)),
		AdmitJoin: n.admitJoin,
		Logger:    log, // raftnet and membership add the node id themselves
	}, applier)
	if err != nil {
		plan.Done()
		return nil, fmt.Errorf("starting raft: %w", err)
	}
	n.batch = newBatcher(n.raft.Apply, cfg.Limits.RequestTimeout, batchMaxInFlight, n.log)
	if n.metrics != nil {
		n.batch.observe = n.metrics.ObserveBatch
	}
	n.members, err = membership.Start(ctx, mcfg, plan, n.raft, membership.Hooks{Evicted: n.evicted})
	if err != nil {
		return nil, fmt.Errorf("starting membership: %w", err)
	}
	go n.watch()
	go n.reconcileTopology(max(cfg.Cluster.DeadNodeTimeout/4, time.Second))
	go n.sweepMemoryStorage(time.Second)
	go n.raiseFeatureVersions(time.Second)

	n.registerPeerRPC()
	n.registerFormatRPC()
	n.api = api.NewServer(n, api.Limits{MaxRequestSize: int(cfg.Server.MaxRequestSize),
		ConcurrentRequests: cfg.Limits.ConcurrentRequests, RequestsBuffer: cfg.Limits.RequestsBufferSize,
		DocumentsFetch: cfg.Limits.DocumentsFetchCount, DocumentsWrite: cfg.Limits.DocumentsWriteCount,
		RequestTimeout: cfg.Limits.RequestTimeout}, n.log)
	go n.api.RunStats(n.done, time.Duration(cfg.Stats.StatsInterval)*time.Second, time.Duration(cfg.Stats.TTL)*time.Second)
	metricsLn, err := n.startMetrics()
	if err != nil {
		return nil, err
	}
	h := cfg.Server.HTTP
	n.http = n.api.HTTPServer(api.Transport{ReadHeaderTimeout: h.ReadHeaderTimeout, ReadTimeout: h.ReadTimeout,
		WriteTimeout: h.WriteTimeout, IdleTimeout: h.IdleTimeout,
		WSIdleTimeout: cfg.Server.WebSocket.IdleTimeout, WSPings: cfg.Server.WebSocket.SendPingsAutomatically,
		HTTP: &api.HTTPOptions{AllowCompression: h.AllowCompression, MaxEncodingLayers: h.MaxEncodingLayers,
			MaxFormFileSize: h.MaxFormFileSize, AllowOrigin: h.AllowOrigin, AllowMethods: h.AllowMethods,
			AllowHeaders: h.AllowHeaders}})
	lim := connLimits(cfg.Limits)
	n.conns = api.LimitListener(n.ln, lim, n.log)
	n.registerDashboardRPC() // it reads n.api and n.conns
	if !cfg.Server.Dashboard {
		// Other nodes' dashboards still get this node's figures.
		n.api.DisableDashboard()
	}
	n.log.Info("connection limits", "maxConnections", lim.Max, "maxConnectionsPerIp", lim.PerIP, "probeReserve", lim.Reserve)
	var serveLn net.Listener = n.conns
	if n.apiCert != nil {
		// Inside the limits: a connection over them is closed before its
		// handshake costs anything.
		serveLn = tls.NewListener(n.conns, apiTLSConfig(n.apiCert))
	}
	go func() {
		if err := n.http.Serve(serveLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.fatal <- fmt.Errorf("API server: %w", err)
		}
	}()
	if cfg.Server.DebugAddr != "" {
		go n.serveDebug(cfg.Server.DebugAddr)
	}
	if metricsLn != nil {
		go n.serveMetrics(metricsLn)
	}
	go n.watchLeaderChanges()
	go n.becomeReady()
	ok = true
	n.log.Info("node started", "api", n.ln.Addr().String(), "apiTLS", n.apiCert != nil, "cluster", n.raft.Addr(),
		"clusterTLS", n.clusterCert != nil, "data", cfg.Storage.DataDir)
	return n, nil
}

const (
	// fdReserve is the file descriptors an automatic limits.maxConnections
	// leaves to the rest of the node: Raft and its peers, the stores, logs.
	fdReserve = 1024
	// probeReserve is the connections accepted over maxConnections for
	// /_ready and /_healthcheck (one per client address).
	probeReserve = 32
)

// connLimits resolves limits.maxConnections (0: automatic).
func connLimits(l LimitsConfig) api.ConnLimits {
	lim := api.ConnLimits{Max: l.MaxConnections, PerIP: l.MaxConnectionsPerIP, Reserve: probeReserve}
	if lim.Max == 0 {
		if fds := fdLimit(); fds > 0 {
			lim.Max = max(fds-min(fdReserve, fds/4)-probeReserve, 1)
		}
	}
	return lim
}

// ConnStats are the API listener's connection counters.
func (n *Node) ConnStats() api.ConnStats { return n.conns.Stats() }

// becomeReady waits for a leader and the log's tail, then forgets the rooms
// this node held before a restart (its connections did not survive), then
// waits until the node is settled in the cluster's voting (a voter, or the
// cluster has its voters): a node that joined a young cluster is not ready
// while the cluster still depends on fewer voters than it shows nodes.
func (n *Node) becomeReady() {
	n.waitHello()
	for !n.stopping.Load() {
		if n.members.Settled() {
			n.ready.Store(true)
			n.log.Info("node ready")
			return
		}
		select {
		case <-n.done:
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (n *Node) waitHello() {
	for !n.stopping.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := n.raft.LinearizableRead(ctx)
		if err == nil {
			err = n.propose(ctx, &fsm.Command{Kind: fsm.KindNodeHello, Node: n.id, Member: &fsm.MemberInfo{
				APIAddr: advertisedAPI(n.ln.Addr(), n.raft.Addr()), ClusterAddr: n.raft.Addr(), Date: n.started.UnixMilli(), Depth: n.cfg.Cluster.ActivityDepth}}, nil)
		}
		if err == nil {
			// Locked down before the first request is served.
			err = n.bootstrapSecurity(ctx)
		}
		cancel()
		if err == nil {
			return
		}
		n.log.Debug("not ready yet", "err", err)
		select {
		case <-n.done:
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// APIAddr is the address the API listens on.
func (n *Node) APIAddr() string { return n.ln.Addr().String() }

// Stop leaves the cluster gracefully: refuse new requests, record the
// departure, hand leadership over and leave the configuration, close client
// connections, stop Raft and close the store.
func (n *Node) Stop(ctx context.Context) error {
	if !n.stopping.CompareAndSwap(false, true) {
		return nil
	}
	close(n.done)
	n.api.SetClosing()
	var errs []error
	if servers, err := n.raft.Servers(); err == nil && len(servers) > 1 {
		// Recorded first: once out of the configuration, this node can no
		// longer write to the log.
		if err := n.propose(ctx, &fsm.Command{Kind: fsm.KindNodeEvicted, Node: n.id, Member: &fsm.MemberInfo{
			Date: time.Now().UnixMilli(), Incarnation: n.started.UnixMilli(), Reason: "left the cluster (graceful shutdown)",
			Depth: n.cfg.Cluster.ActivityDepth}}, nil); err != nil {
			n.log.Warn("could not record the departure", "err", err)
		}
	}
	if err := n.members.Leave(ctx); err != nil {
		errs = append(errs, fmt.Errorf("leaving the cluster: %w", err))
	}
	n.api.CloseConnections()
	if err := n.http.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	n.closeAll()
	n.log.Info("node stopped")
	return errors.Join(errs...)
}

// Abort stops at once, without leaving the cluster: for a node that must
// terminate (it lost the quorum, lags, or was removed).
func (n *Node) Abort() {
	if !n.stopping.CompareAndSwap(false, true) {
		return
	}
	close(n.done)
	n.api.SetClosing()
	n.api.CloseConnections()
	_ = n.http.Close()
	n.closeAll()
}

// watch turns membership verdicts into this node's fatal error.
func (n *Node) watch() {
	select {
	case ex := <-n.members.Fatal():
		if ex != nil {
			n.log.Error("terminating", "reason", ex.Reason, "code", ex.Code)
			n.fatal <- ex
		}
	case <-n.done:
	}
}

// evicted records, on the leader, a node it removed as dead.
func (n *Node) evicted(ctx context.Context, id, reason string) {
	var inc int64
	members, _ := n.fsm.Members()
	for _, m := range members {
		if m.ID == id {
			inc = m.Birthdate
		}
	}
	n.recordEviction(ctx, id, inc, reason)
}

func (n *Node) recordEviction(ctx context.Context, id string, incarnation int64, reason string) {
	if err := n.propose(ctx, &fsm.Command{Kind: fsm.KindNodeEvicted, Node: id, Member: &fsm.MemberInfo{
		Date: time.Now().UnixMilli(), Incarnation: incarnation, Reason: reason, Depth: n.cfg.Cluster.ActivityDepth}}, nil); err != nil {
		n.log.Warn("could not record an eviction", "node", id, "err", err)
	}
}

// reconcileTopology runs on every node and acts while it leads: a node
// that left the Raft configuration but is still in the replicated topology
// (its remover lost leadership between removing it and recording the
// eviction) is evicted now, so cluster:status and its rooms do not keep a
// ghost. An orphan must be seen twice, a period apart, so that a removal
// whose eviction is already on its way is not recorded twice (the FSM
// would ignore the second anyway).
func (n *Node) reconcileTopology(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	seen := map[string]int64{} // orphan id → incarnation, from the last round
	for {
		select {
		case <-n.done:
			return
		case <-t.C:
		}
		if !n.raft.IsLeader() {
			clear(seen)
			continue
		}
		servers, err := n.raft.Servers()
		if err != nil {
			continue
		}
		members, _ := n.fsm.Members()
		now := orphans(members, servers)
		for id, inc := range now {
			if prev, ok := seen[id]; ok && prev == inc {
				ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Limits.RequestTimeout)
				n.log.Warn("recording the eviction of a node no longer in the configuration", "id", id)
				n.recordEviction(ctx, id, inc, "no longer in the cluster configuration")
				cancel()
			}
		}
		seen = now
	}
}

// orphans are the topology's members absent from the Raft configuration,
// with their incarnations.
func orphans(members []fsm.Member, servers []raftnet.Server) map[string]int64 {
	in := make(map[string]bool, len(servers))
	for _, s := range servers {
		in[s.ID] = true
	}
	out := map[string]int64{}
	for _, m := range members {
		if !in[m.ID] {
			out[m.ID] = m.Birthdate
		}
	}
	return out
}

func (n *Node) closeAll() {
	if n.ln != nil && n.http == nil {
		n.ln.Close()
	}
	if n.members != nil {
		n.members.Close()
	}
	if n.batch != nil {
		n.batch.close()
	}
	if n.raft != nil {
		if err := n.raft.Shutdown(); err != nil {
			n.log.Warn("raft shutdown", "err", err)
		}
	}
	if n.store != nil {
		if err := n.store.Close(); err != nil {
			n.log.Warn("closing the store", "err", err)
		}
	}
}

// nodeID returns the configured id, or the one generated on first start
// and kept in the data dir, so a restarted node rejoins as itself.
func nodeID(cfg Config) (string, error) {
	if cfg.Cluster.NodeID != "" {
		return cfg.Cluster.NodeID, nil
	}
	path := filepath.Join(cfg.Storage.DataDir, "node-id")
	if b, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("reading the node id: %w", err)
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	id := "knode-" + hex.EncodeToString(b[:])
	if err := os.WriteFile(path, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("saving the node id: %w", err)
	}
	return id, nil
}

// clusterErr maps Raft-level failures to Kuzzle errors clients understand.
func clusterErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raftnet.ErrNoLeader), errors.Is(err, raftnet.ErrNotLeader):
		return kerror.Wrap(err, "api.process.not_enough_nodes")
	case errors.Is(err, raftnet.ErrShutdown):
		return kerror.Wrap(err, "api.process.shutting_down")
	case errors.Is(err, raftnet.ErrUnknownOutcome), errors.Is(err, context.DeadlineExceeded), halted(err):
		return kerror.Wrap(err, "cluster.process.unknown_outcome")
	case errors.Is(err, raftnet.ErrDisk):
		return kerror.Wrap(err, "services.storage.unexpected_error",
			"Writes are refused while the cluster's leader cannot persist them (its disk is full or failing); reads go on.")
	}
	return err
}

// halted reports the answer of a state machine that stopped applying the
// log (fsm.ErrHalted, here or on the leader a command was forwarded to):
// the command is committed, and the cluster applies it, but that replica
// cannot say with what result.
func halted(err error) bool {
	if errors.Is(err, fsm.ErrHalted) {
		return true
	}
	var fe *raftnet.FSMError
	return errors.As(err, &fe) && fe.Msg == fsm.ErrHalted.Error()
}

// propose puts a command through the log, in a batch with the node's other
// concurrent proposals. A proposal whose outcome a leader change made
// unknown is retried with the same key, which the state machine
// deduplicates: the caller gets the one real result.
func (n *Node) propose(ctx context.Context, c *fsm.Command, into *fsm.Response) error {
	if err := n.gate(c); err != nil {
		return err
	}
	if c.Key == "" {
		// A caller re-proposing a command keeps its key, so the state
		// machine applies it once.
		c.Key = n.id + "-" + strconv.FormatInt(n.started.UnixNano(), 36) + "-" + strconv.FormatUint(n.seq.Add(1), 36)
	}
	b, err := c.Encode()
	if err != nil {
		return fmt.Errorf("encoding a %s command: %w", c.Kind, err)
	}
	var out []byte
	if n.metrics != nil {
		defer func(start time.Time) { n.metrics.ObserveProposal(time.Since(start)) }(time.Now())
	}
	for {
		out, err = n.batch.submit(ctx, b)
		if err == nil || !errors.Is(err, raftnet.ErrUnknownOutcome) || ctx.Err() != nil {
			break
		}
		n.log.Info("retrying a proposal with an unknown outcome", "kind", c.Kind, "key", c.Key, "err", err)
	}
	if err != nil {
		return clusterErr(err)
	}
	if into != nil {
		r, err := fsm.DecodeResponse(out)
		if err != nil {
			return fmt.Errorf("decoding a %s result: %w", c.Kind, err)
		}
		*into = *r
	}
	return nil
}

func (n *Node) reqCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, n.cfg.Limits.RequestTimeout)
}

// --- api.Backend: the interfaces the API's controllers define ---

func (n *Node) NodeID() string       { return n.id }
func (n *Node) Now() time.Time       { return time.Now() }
func (n *Node) Version() string      { return Version }
func (n *Node) StartedAt() time.Time { return n.started }

// Config is the configuration as server:getConfig shows it.
func (n *Node) Config() map[string]any { return n.cfg.Public() }
func (n *Node) Hub() *realtime.Hub     { return n.hub }

// NewID returns a 20-character URL-safe id, the shape of Elasticsearch's.
// It never starts with "_": the API refuses such an _id (Kuzzle's
// api.assert.invalid_id), so a generated one failed its own mCreate item
// and named a document that get could not read (1 id in 64, issue 13).
func (n *Node) NewID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	// The first character encodes b[0]'s top 6 bits, "_" when all are
	// set: with the top bit clear it is one of A-Z and a-f (119 random
	// bits remain).
	b[0] &^= 0x80
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (n *Node) Write(ctx context.Context, w storage.Write, meta realtime.Meta, silent bool) (*storage.WriteResult, error) {
	if n.es != nil {
		return n.esWrite(ctx, w, meta, silent)
	}
	// Refused writes never reach the log: the limits are this node's
	// configuration, which Apply must not depend on.
	werr, items := n.store.Validate(&w, embedded.WriteLimits{MappingDepth: n.cfg.Limits.MappingDepth,
		MappingTotalFields: n.cfg.Limits.MappingTotalFields, FieldNameLength: n.cfg.Limits.FieldNameLength})
	if werr != nil {
		return &storage.WriteResult{Err: werr}, nil
	}
	if items != nil {
		return n.writeValid(ctx, w, items, meta, silent)
	}
	return n.write(ctx, w, meta, silent)
}

// writeValid proposes the documents of w that passed validation and gives
// the refused ones their error, in request order, as Apply reports
// per-document errors.
func (n *Node) writeValid(ctx context.Context, w storage.Write, refused []*kerror.Error, meta realtime.Meta, silent bool) (*storage.WriteResult, error) {
	all := w.Docs
	w.Docs = make([]storage.DocWrite, 0, len(all))
	for i, d := range all {
		if refused[i] == nil {
			w.Docs = append(w.Docs, d)
		}
	}
	res := &storage.WriteResult{}
	if len(w.Docs) > 0 {
		var err error
		if res, err = n.write(ctx, w, meta, silent); err != nil || res.Err != nil {
			return res, err
		}
	}
	applied := res.Items
	out := &storage.WriteResult{Items: make([]storage.ItemResult, 0, len(all))}
	for i, d := range all {
		switch {
		case refused[i] != nil:
			out.Items = append(out.Items, storage.ItemResult{ID: d.ID, Err: refused[i]})
		case len(applied) > 0:
			out.Items = append(out.Items, applied[0])
			applied = applied[1:]
		}
	}
	return out, nil
}

func (n *Node) write(ctx context.Context, w storage.Write, meta realtime.Meta, silent bool) (*storage.WriteResult, error) {
	if ackBeforeCommit {
		return n.unsafeWrite(w, meta, silent), nil
	}
	ctx, cancel := n.reqCtx(ctx)
	defer cancel()
	var resp fsm.Response
	if err := n.propose(ctx, &fsm.Command{Kind: fsm.KindWrite, Write: &w, Meta: &meta, Silent: silent}, &resp); err != nil {
		return nil, err
	}
	if resp.Write == nil {
		return &storage.WriteResult{}, nil
	}
	return resp.Write, nil
}

func (n *Node) ReadBarrier(ctx context.Context) error {
	if n.cfg.Storage.ReadConsistency == "local" {
		return nil
	}
	ctx, cancel := n.reqCtx(ctx)
	defer cancel()
	return clusterErr(n.raft.LinearizableRead(ctx))
}

// GetBarrier is the read barrier of document get, exists and mGet. In
// elasticsearch mode none is needed: those reads go to Elasticsearch,
// whose GET and _mget are realtime and which holds every write before it
// is acknowledged (storage/elasticsearch/DESIGN.md, "Reads"). Skipping
// the Raft round saves most of a node's own cost per get.
func (n *Node) GetBarrier(ctx context.Context) error {
	if n.es != nil {
		return nil
	}
	return n.ReadBarrier(ctx)
}

func (n *Node) Ready() error {
	if n.stopping.Load() || n.fsm.Halted() != nil {
		return kerror.New("api.process.shutting_down")
	}
	if !n.ready.Load() {
		return kerror.New("api.process.not_enough_nodes")
	}
	if id, _ := n.raft.Leader(); id == "" {
		return kerror.New("api.process.not_enough_nodes")
	}
	if n.es != nil && n.esDown.Load() {
		return kerror.New("services.storage.not_connected")
	}
	return nil
}

func (n *Node) RoomCount(ctx context.Context, roomID string) (int, bool, error) {
	count, local := n.hub.Count(roomID)
	if !local && n.fsm.Room(roomID) == nil {
		return 0, false, nil
	}
	n.fanOut(ctx, n.peersOf(roomID), rpcRoomCount, []byte(roomID), func(b []byte) {
		var c int
		if json.Unmarshal(b, &c) == nil {
			count += c
		}
	})
	return count, true, nil
}

func (n *Node) RoomList(ctx context.Context) (map[string]map[string]map[string]int, error) {
	out := map[string]map[string]map[string]int{}
	for _, r := range n.fsm.Rooms() {
		if out[r.Index] == nil {
			out[r.Index] = map[string]map[string]int{}
		}
		if out[r.Index][r.Collection] == nil {
			out[r.Index][r.Collection] = map[string]int{}
		}
		count, _ := n.hub.Count(r.ID)
		out[r.Index][r.Collection][r.ID] = count
	}
	n.fanOut(ctx, n.otherMembers(), rpcRoomCounts, nil, func(b []byte) {
		var theirs map[string]map[string]map[string]int
		if json.Unmarshal(b, &theirs) != nil {
			return
		}
		for i, byColl := range theirs {
			for c, rooms := range byColl {
				for id, cnt := range rooms {
					if m := out[i][c]; m != nil {
						if _, ok := m[id]; ok {
							m[id] += cnt
						}
					}
				}
			}
		}
	})
	return out, nil
}

// ClusterStatus gathers what cluster:status reports: the replicated
// topology (members, activity) and the leader's Raft view, so every node
// answers with the leader's figures. The api package shapes it.
func (n *Node) ClusterStatus(ctx context.Context) (*api.ClusterStatus, error) {
	if err := n.ReadBarrier(ctx); err != nil {
		return nil, err
	}
	view, err := n.members.Status(ctx)
	if err != nil {
		return nil, clusterErr(err)
	}
	members, activity := n.fsm.Members()
	birth := map[string]int64{}
	for _, m := range members {
		birth[m.ID] = m.Birthdate
	}
	st := &api.ClusterStatus{ClusterID: view.ClusterID, LeaderID: view.LeaderID, Term: view.Term,
		CommitIndex: view.CommitIndex, Voters: view.Voters, VotersWanted: view.VotersWanted,
		FeatureVersion: int(n.fsm.FeatureVersion()), FormatVersion: fsm.FormatVersion,
		Nodes: make([]api.ClusterNode, 0, len(view.Nodes)), Activity: make([]api.ClusterEvent, 0, len(activity))}
	for _, s := range view.Nodes {
		cn := api.ClusterNode{ID: s.ID, ClusterAddr: s.ClusterAddr, APIAddr: s.APIAddr, Role: s.Role,
			Leader: s.Leader, Applied: s.Applied, Lag: s.Lag, LastContact: s.LastContact, Birthdate: s.Birthdate}
		// The replicated topology's birthdate wins over the leader's.
		if b, ok := birth[s.ID]; ok {
			cn.Birthdate = time.UnixMilli(b)
		}
		st.Nodes = append(st.Nodes, cn)
	}
	for _, a := range activity {
		st.Activity = append(st.Activity, api.ClusterEvent{ID: a.ID, Address: a.Address,
			Date: time.UnixMilli(a.Date), Event: a.Event, Reason: a.Reason})
	}
	return st, nil
}

// RealtimeCollections lists, from the replicated rooms, the collections of
// an index that have subscribers on some node.
func (n *Node) RealtimeCollections(ctx context.Context, index string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, r := range n.fsm.Rooms() {
		if r.Index == index && !seen[r.Collection] {
			seen[r.Collection] = true
			out = append(out, r.Collection)
		}
	}
	return out, nil
}

// Reader methods delegate to the local store.
func (n *Node) StorageStats(ctx context.Context) ([]storage.IndexStats, error) {
	if n.store == nil {
		return n.es.Stats(ctx)
	}
	return n.store.Stats(ctx)
}
func (n *Node) ListIndexes(ctx context.Context) ([]string, error) { return n.reader.ListIndexes(ctx) }
func (n *Node) IndexExists(ctx context.Context, i string) (bool, error) {
	return n.reader.IndexExists(ctx, i)
}
func (n *Node) ListCollections(ctx context.Context, i string) ([]string, error) {
	return n.reader.ListCollections(ctx, i)
}
func (n *Node) CollectionExists(ctx context.Context, i, c string) (bool, error) {
	return n.reader.CollectionExists(ctx, i, c)
}
func (n *Node) GetSettings(ctx context.Context, i, c string) (map[string]any, error) {
	if n.store == nil {
		return n.es.GetSettings(ctx, i, c)
	}
	return n.store.GetSettings(ctx, i, c)
}
func (n *Node) GetMapping(ctx context.Context, i, c string) (map[string]any, error) {
	return n.reader.GetMapping(ctx, i, c)
}
func (n *Node) Get(ctx context.Context, i, c, id string) (*storage.Document, error) {
	return n.reader.Get(ctx, i, c, id)
}
func (n *Node) MGet(ctx context.Context, i, c string, ids []string) ([]*storage.Document, []string, error) {
	return n.reader.MGet(ctx, i, c, ids)
}
func (n *Node) Search(ctx context.Context, i, c string, req storage.SearchRequest) (*storage.SearchResult, error) {
	return n.reader.Search(ctx, i, c, req)
}
func (n *Node) MultiSearch(ctx context.Context, ts []storage.Target, req storage.SearchRequest) (*storage.SearchResult, error) {
	return n.reader.MultiSearch(ctx, ts, req)
}
func (n *Node) Scroll(ctx context.Context, id, ttl string) (*storage.SearchResult, error) {
	return n.reader.Scroll(ctx, id, ttl)
}
func (n *Node) Count(ctx context.Context, i, c string, q json.RawMessage) (int, error) {
	return n.reader.Count(ctx, i, c, q)
}

// MSRead runs a memory storage read on this node's copy of the keys, with
// this node's clock deciding what has expired.
func (n *Node) MSRead(ctx context.Context, argv []string) (any, error) {
	return n.fsm.MemStore().Read(argv, time.Now().UnixMilli(), nil)
}

// MSWrite proposes memory storage commands, stamped with this node's time
// and a seed for the ones that pick at random: the state machine reads
// neither a clock nor a random source.
func (n *Node) MSWrite(ctx context.Context, cmds [][]string) ([]memstore.Reply, error) {
	var seed [8]byte
	_, _ = rand.Read(seed[:])
	cmd := &fsm.Command{Kind: fsm.KindMS, MS: &memstore.Command{Now: time.Now().UnixMilli(), Seed: binary.LittleEndian.Uint64(seed[:]), Cmds: cmds}}
	if ackBeforeCommit {
		return n.unsafeMSWrite(cmd), nil
	}
	ctx, cancel := n.reqCtx(ctx)
	defer cancel()
	var resp fsm.Response
	if err := n.propose(ctx, cmd, &resp); err != nil {
		return nil, err
	}
	return resp.MS, nil
}

// unsafeMSWrite is the broken build's memory storage write (ackBeforeCommit):
// "OK" to every command before the log has even committed it.
func (n *Node) unsafeMSWrite(cmd *fsm.Command) []memstore.Reply {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Limits.RequestTimeout)
		defer cancel()
		_ = n.propose(ctx, cmd, nil)
	}()
	out := make([]memstore.Reply, len(cmd.MS.Cmds))
	for i := range out {
		out[i].Value = "OK"
	}
	return out
}

// sweepMemoryStorage runs on every node and acts while it leads: expired
// keys already read as absent everywhere, and a sweep entry removes them
// (up to memstore.SweepBatch a time) so that they stop holding memory.
func (n *Node) sweepMemoryStorage(every time.Duration) {
	n.whileLeader(every, func() {
		now := time.Now().UnixMilli()
		if n.fsm.MemStore().Expired(now) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Limits.RequestTimeout)
		defer cancel()
		if err := n.propose(ctx, &fsm.Command{Kind: fsm.KindMS, MS: &memstore.Command{Now: now, Sweep: true}}, nil); err != nil {
			n.log.Debug("memory storage sweep", "err", err)
		}
	})
}

// replicator records this node's rooms in the replicated state.
type replicator struct{ n *Node }

func (r replicator) RoomCreated(ctx context.Context, nf *filter.Normalized, seq uint64) error {
	return r.n.propose(ctx, &fsm.Command{Kind: fsm.KindRoomCreated, Room: &fsm.RoomChange{ID: nf.ID,
		Index: nf.Index, Collection: nf.Collection, Canonical: nf.Canonical, Node: r.n.id, Seq: seq}}, nil)
}

func (r replicator) RoomEmptied(ctx context.Context, roomID string, seq uint64) error {
	return r.n.propose(ctx, &fsm.Command{Kind: fsm.KindRoomEmptied, Room: &fsm.RoomChange{ID: roomID, Node: r.n.id, Seq: seq}}, nil)
}

func (r replicator) Room(roomID string) *filter.Normalized {
	room := r.n.fsm.Room(roomID)
	if room == nil {
		return nil
	}
	nf, err := filter.FromCanonical(room.Index, room.Collection, room.Canonical)
	if err != nil {
		r.n.log.Error("a replicated room has an unreadable filter", "room", roomID, "err", err)
		return nil
	}
	return nf
}

func (n *Node) serveDebug(addr string) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	n.log.Info("serving profiles", "addr", addr)
	if err := srv.ListenAndServe(); err != nil {
		n.log.Warn("debug server stopped", "err", err)
	}
}

// unsafeWrite is the broken build's write path (ack_broken.go): propose in
// the background and claim success at once.
func (n *Node) unsafeWrite(w storage.Write, meta realtime.Meta, silent bool) *storage.WriteResult {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Limits.RequestTimeout)
		defer cancel()
		_ = n.propose(ctx, &fsm.Command{Kind: fsm.KindWrite, Write: &w, Meta: &meta, Silent: silent}, nil)
	}()
	res := &storage.WriteResult{}
	for _, d := range w.Docs {
		res.Items = append(res.Items, storage.ItemResult{ID: d.ID, Created: true,
			After: &storage.Document{ID: d.ID, Version: 1, Source: d.Body}})
	}
	return res
}

// StorageHealth is nil while the storage engine answers: Elasticsearch,
// pinged, in elasticsearch mode; the embedded store is no service of its
// own (its health is the replicated state's, which Ready tells).
func (n *Node) StorageHealth(ctx context.Context) error {
	if n.es == nil {
		return nil
	}
	return n.es.Ping(ctx)
}
