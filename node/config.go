package node

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/korumdb/korum/api"
	"github.com/korumdb/korum/storage/embedded"
)

// Config is a node's whole configuration. JSON sections: server, limits,
// storage, cluster, log, security. Every key is also a flag and an environment variable;
// precedence is flag > environment > config file > default.
type Config struct {
	Server   ServerConfig
	Limits   LimitsConfig
	Storage  StorageConfig
	Cluster  ClusterConfig
	Log      LogConfig
	Security SecurityConfig
	Stats    StatsConfig
}

// StatsConfig is Kuzzle's stats section, in Kuzzle's units (seconds):
// server:getStats' frames are taken every StatsInterval and kept for TTL,
// in this node's memory.
type StatsConfig struct {
	StatsInterval int
	TTL           int
}

// SecurityConfig mirrors Kuzzle's security.authToken and security.apiKey
// sections.
type SecurityConfig struct {
	// JWTSecret signs tokens; empty: a secret generated once and kept in
	// the replicated state. When set, every node must have the same.
	JWTSecret string
	// JWTExpiresIn is a login token's default lifetime; JWTMaxTTL the
	// longest a client may ask for (0: no limit); JWTGracePeriod how long
	// a refreshed token stays valid.
	JWTExpiresIn   time.Duration
	JWTMaxTTL      time.Duration
	JWTGracePeriod time.Duration
	// APIKeyMaxTTL is the longest lifetime of an API key (0: no limit).
	APIKeyMaxTTL time.Duration
	// FirstAdminFile is a JSON file {"kuid","username","password"}: when no
	// admin exists, the node creates this one and resets the default and
	// anonymous roles before it reports ready, so that a new cluster is
	// locked down from its first start.
	FirstAdminFile string
}

// ServerConfig is the client-facing API.
type ServerConfig struct {
	APIAddr        string
	MaxRequestSize int64 // bytes
	// DebugAddr, when set, serves Go's /debug/pprof profiles there (keep
	// it on loopback or a private network).
	DebugAddr string
	// TLSCert and TLSKey, when set, make the API port HTTPS and WSS only.
	// Both are PEM files, read again on SIGHUP.
	TLSCert   string
	TLSKey    string
	HTTP      HTTPConfig
	WebSocket WebSocketConfig

	// Metrics turns the Prometheus metrics on (GET /metrics on the API
	// port); MetricsAddr serves them on an address of their own too.
	Metrics     bool
	MetricsAddr string
	// Dashboard serves the live cluster dashboard at /_dashboard.
	Dashboard bool
}

// HTTPConfig is server.protocols.http: the HTTP connections' timeouts,
// compression and form bodies, and Kuzzle's http section (CORS).
type HTTPConfig struct {
	ReadHeaderTimeout time.Duration // a request's header
	ReadTimeout       time.Duration // a whole request, body included
	WriteTimeout      time.Duration // writing a response
	IdleTimeout       time.Duration // a keep-alive connection between requests
	AllowCompression  bool          // gzip/deflate request bodies and responses
	MaxEncodingLayers int           // Content-Encoding layers of one request
	MaxFormFileSize   int64         // bytes, one file of a multipart body
	AllowOrigin       []string      // http.accessControlAllowOrigin
	AllowMethods      string        // http.accessControlAllowMethods
	AllowHeaders      string        // http.accessControlAllowHeaders
}

// WebSocketConfig is server.protocols.websocket, Kuzzle's names.
type WebSocketConfig struct {
	// IdleTimeout: a connection that sends nothing this long is closed.
	IdleTimeout time.Duration
	// SendPingsAutomatically pings a connection silent for half of
	// IdleTimeout, so that live clients stay and dead ones are noticed.
	SendPingsAutomatically bool
}

// LimitsConfig mirrors Kuzzle's limits section.
type LimitsConfig struct {
	ConcurrentRequests          int
	RequestsBufferSize          int
	DocumentsFetchCount         int
	DocumentsWriteCount         int
	SubscriptionConditionsCount int
	SubscriptionRooms           int
	SubscriptionsPerConnection  int
	// RequestTimeout bounds a whole request: past it, its work is
	// cancelled and it gets api.process.request_timeout.
	RequestTimeout time.Duration
	// Mapping limits of Elasticsearch, checked before a write is
	// proposed: index.mapping.depth.limit, index.mapping.total_fields.limit
	// and index.mapping.field_name_length.limit.
	MappingDepth       int
	MappingTotalFields int
	FieldNameLength    int
	// MaxConnections caps the client connections open at once (0: the
	// file descriptor limit less a reserve for the rest of the node);
	// MaxConnectionsPerIP caps those of one client address (0: no cap).
	MaxConnections      int
	MaxConnectionsPerIP int
	// LoginsPerSecond bounds auth:login attempts per username and node
	// (Kuzzle's limits.loginsPerSecond); 0: no limit.
	LoginsPerSecond int
}

// StorageConfig selects and tunes the document engine.
type StorageConfig struct {
	DataDir string
	Engine  string // "embedded" or "elasticsearch"
	// ReadConsistency is "linearizable" (default: reads see every write
	// acknowledged before them, anywhere) or "local" (fast, possibly stale).
	ReadConsistency string
	// DiskMinFree is the free space (bytes) under which the node stops
	// taking writes, before its disk is actually full, like Elasticsearch's
	// flood-stage watermark. A write that fails trips it too.
	DiskMinFree int64
	// Elasticsearch configures the "elasticsearch" engine.
	Elasticsearch ElasticsearchConfig
}

// ElasticsearchConfig is storage.elasticsearch: how to reach the
// Elasticsearch cluster that holds the documents in that mode.
type ElasticsearchConfig struct {
	URLs     []string
	Username string
	Password string
	APIKey   string
	// CACert is a PEM file of the CAs that sign Elasticsearch's certificate.
	CACert string
	// TLSVerify is false only to accept any certificate (tests).
	TLSVerify      bool
	RequestTimeout time.Duration
	MaxRetries     int
}

// ClusterConfig is the cluster port and Raft settings.
type ClusterConfig struct {
	Addr          string // cluster port (Raft + node-to-node calls)
	AdvertiseAddr string // address peers dial; defaults from Addr
	NodeID        string // defaults to a generated id persisted in the data dir
	Secret        string // shared secret peers must prove
	Join          []string
	Redis         string
	// TLSCA, TLSCert and TLSKey (PEM files), all three or none, run the
	// cluster port in mutual TLS: peers must hold a certificate of that CA
	// (raftnet.TLSConfig). All three are read again on SIGHUP.
	TLSCA   string
	TLSCert string
	TLSKey  string

	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	// Snapshots (Consul's raft_snapshot_threshold, raft_snapshot_interval
	// and raft_trailing_logs).
	SnapshotThreshold int
	SnapshotInterval  time.Duration
	TrailingLogs      int

	// ActivityDepth is how many join/eviction events cluster:status keeps.
	ActivityDepth int

	// Voters is the number of Raft voters to keep (3 or 5); other nodes
	// are non-voters that serve requests without slowing commits.
	Voters int
	// MinimumNodes (Kuzzle's cluster.minimumNodes): new nodes discovering
	// each other through Redis wait until that many have registered, then
	// start the cluster together with min(MinimumNodes, Voters) voters.
	MinimumNodes int
	// Heartbeat is the Redis ID card refresh period (the card lives 2×).
	Heartbeat time.Duration
	// JoinTimeout bounds joining at start; past it the node exits.
	JoinTimeout time.Duration
	// QuorumContactTimeout: a node out of touch with a quorum this long, or
	// lagging more than MaxLag entries this long, exits.
	QuorumContactTimeout time.Duration
	MaxLag               int
	// DeadNodeTimeout: the leader removes a node silent this long.
	DeadNodeTimeout time.Duration

	// IP ("private", "public" or "") and Interface (a name or an address)
	// choose the address to advertise when the cluster port listens on a
	// wildcard address, as Kuzzle's cluster.ip and cluster.interface do.
	IP        string
	Interface string
	IPv6      bool
}

// LogConfig sets logging.
type LogConfig struct {
	Level  string // debug, info, warn, error
	Format string // text or json
}

// Defaults returns the configuration of `bin/korum` with no options.
//
// limits.concurrentRequests is 1000 where Kuzzle has 100: a Korum request
// spends most of its life parked while its command commits, which costs a
// goroutine and no CPU, yet it holds its slot; at 100 slots and a 10 ms
// commit one node could not take more than 10,000 writes/s however idle
// its CPU.
func Defaults() Config {
	httpDefaults := api.DefaultHTTPOptions()
	return Config{
		Server: ServerConfig{APIAddr: ":7512", MaxRequestSize: 1 << 20, Metrics: true, Dashboard: true,
			HTTP: HTTPConfig{ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
				WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second,
				AllowCompression: httpDefaults.AllowCompression, MaxEncodingLayers: httpDefaults.MaxEncodingLayers,
				MaxFormFileSize: httpDefaults.MaxFormFileSize, AllowOrigin: httpDefaults.AllowOrigin,
				AllowMethods: httpDefaults.AllowMethods, AllowHeaders: httpDefaults.AllowHeaders},
			WebSocket: WebSocketConfig{IdleTimeout: 60 * time.Second, SendPingsAutomatically: true}},
		Limits: LimitsConfig{ConcurrentRequests: 1000, RequestsBufferSize: 50000, DocumentsFetchCount: 10000,
			DocumentsWriteCount: 200, SubscriptionConditionsCount: 100, SubscriptionRooms: 1000000,
			SubscriptionsPerConnection: 10000, RequestTimeout: 10 * time.Second,
			MappingDepth: embedded.DefaultMappingDepth, MappingTotalFields: embedded.DefaultMappingTotalFields,
			FieldNameLength: embedded.DefaultFieldNameLength, LoginsPerSecond: 1},
		Storage: StorageConfig{DataDir: "./data", Engine: "embedded", ReadConsistency: "linearizable", DiskMinFree: 64 << 20,
			Elasticsearch: ElasticsearchConfig{URLs: []string{"http://127.0.0.1:9200"}, TLSVerify: true, RequestTimeout: 30 * time.Second, MaxRetries: 3}},
		Cluster: ClusterConfig{Addr: ":7511", ActivityDepth: 50, Voters: 3, MinimumNodes: 1, Heartbeat: 2 * time.Second,
			JoinTimeout: 60 * time.Second, QuorumContactTimeout: 5 * time.Second, MaxLag: 10000,
			DeadNodeTimeout: 30 * time.Second, IP: "private",
			SnapshotThreshold: 8192, SnapshotInterval: 30 * time.Second, TrailingLogs: 10240},
		Log:      LogConfig{Level: "info", Format: "text"},
		Security: SecurityConfig{JWTExpiresIn: time.Hour, JWTGracePeriod: time.Second},
		Stats:    StatsConfig{StatsInterval: 10, TTL: 3600},
	}
}

type kind int

const (
	kString kind = iota
	kInt
	kSize
	kDuration
	kList
	kBool
)

type option struct {
	key  string // section.key in the config file
	flag string
	help string
	kind kind
	ptr  any
}

func (o option) env() string {
	return "KORUM_" + strings.ToUpper(strings.ReplaceAll(o.flag, "-", "_"))
}

func options(c *Config) []option {
	return []option{
		{"server.apiAddr", "api-addr", "address of the HTTP and WebSocket API", kString, &c.Server.APIAddr},
		{"server.maxRequestSize", "max-request-size", `largest request accepted, in bytes or with a unit ("1mb")`, kSize, &c.Server.MaxRequestSize},
		{"server.debugAddr", "debug-addr", "address serving /debug/pprof (empty: off)", kString, &c.Server.DebugAddr},
		{"server.tls.cert", "tls-cert", "PEM certificate (and chain) of the API port, which then serves HTTPS and WSS only; reloaded on SIGHUP", kString, &c.Server.TLSCert},
		{"server.tls.key", "tls-key", "PEM private key of --tls-cert; reloaded on SIGHUP", kString, &c.Server.TLSKey},
		{"server.metrics", "metrics", "export Prometheus metrics at GET /metrics (true/false)", kBool, &c.Server.Metrics},
		{"server.metricsAddr", "metrics-addr", "also serve /metrics on this address (empty: the API port only)", kString, &c.Server.MetricsAddr},
		{"server.dashboard", "dashboard", "serve the live cluster dashboard at /_dashboard (true/false)", kBool, &c.Server.Dashboard},
		{"server.protocols.http.readHeaderTimeout", "http-header-timeout", "longest an HTTP request's header may take to arrive", kDuration, &c.Server.HTTP.ReadHeaderTimeout},
		{"server.protocols.http.readTimeout", "http-read-timeout", "longest a whole HTTP request, body included, may take to arrive", kDuration, &c.Server.HTTP.ReadTimeout},
		{"server.protocols.http.writeTimeout", "http-write-timeout", "longest an HTTP response may take to be written", kDuration, &c.Server.HTTP.WriteTimeout},
		{"server.protocols.http.idleTimeout", "http-idle-timeout", "how long a keep-alive HTTP connection may wait for its next request", kDuration, &c.Server.HTTP.IdleTimeout},
		{"server.protocols.http.allowCompression", "http-allow-compression", "accept gzip/deflate request bodies and compress responses for clients that accept it (true/false)", kBool, &c.Server.HTTP.AllowCompression},
		{"server.protocols.http.maxEncodingLayers", "http-max-encoding-layers", "Content-Encoding layers one request may have", kInt, &c.Server.HTTP.MaxEncodingLayers},
		{"server.protocols.http.maxFormFileSize", "http-max-form-file-size", `largest file of a multipart/form-data body, in bytes or with a unit ("1mb")`, kSize, &c.Server.HTTP.MaxFormFileSize},
		{"http.accessControlAllowOrigin", "http-allow-origin", `comma-separated origins browsers may call from ("*": any)`, kList, &c.Server.HTTP.AllowOrigin},
		{"http.accessControlAllowMethods", "http-allow-methods", "Access-Control-Allow-Methods sent to browsers", kString, &c.Server.HTTP.AllowMethods},
		{"http.accessControlAllowHeaders", "http-allow-headers", "Access-Control-Allow-Headers sent to browsers", kString, &c.Server.HTTP.AllowHeaders},
		{"server.protocols.websocket.idleTimeout", "websocket-idle-timeout", "a WebSocket connection that sends nothing this long is closed (at least 1s)", kDuration, &c.Server.WebSocket.IdleTimeout},
		{"server.protocols.websocket.sendPingsAutomatically", "websocket-send-pings", "ping WebSocket connections silent for half the idle timeout (true/false)", kBool, &c.Server.WebSocket.SendPingsAutomatically},
		{"limits.concurrentRequests", "concurrent-requests", "requests executed at once", kInt, &c.Limits.ConcurrentRequests},
		{"limits.requestsBufferSize", "requests-buffer-size", "requests allowed to wait; beyond, api.process.overloaded", kInt, &c.Limits.RequestsBufferSize},
		{"limits.documentsFetchCount", "documents-fetch-count", "documents one read may return", kInt, &c.Limits.DocumentsFetchCount},
		{"limits.documentsWriteCount", "documents-write-count", "documents one m* or by-query request may write", kInt, &c.Limits.DocumentsWriteCount},
		{"limits.subscriptionConditionsCount", "subscription-conditions-count", "conditions one realtime filter may hold", kInt, &c.Limits.SubscriptionConditionsCount},
		{"limits.subscriptionRooms", "subscription-rooms", "distinct rooms one node may hold", kInt, &c.Limits.SubscriptionRooms},
		{"limits.subscriptionsPerConnection", "subscriptions-per-connection", "subscriptions one connection may hold", kInt, &c.Limits.SubscriptionsPerConnection},
		{"limits.maxConnections", "max-connections", "client connections open at once (0: the file descriptor limit less 1024)", kInt, &c.Limits.MaxConnections},
		{"limits.maxConnectionsPerIp", "max-connections-per-ip", "client connections open at once from one address (0: no cap)", kInt, &c.Limits.MaxConnectionsPerIP},
		{"limits.requestTimeout", "request-timeout", "longest a request may run, cluster waits included (ms or Go duration)", kDuration, &c.Limits.RequestTimeout},
		{"limits.mappingDepth", "mapping-depth", "most nested objects in a document or mapping (Elasticsearch's index.mapping.depth.limit)", kInt, &c.Limits.MappingDepth},
		{"limits.mappingTotalFields", "mapping-total-fields", "most fields a collection's mapping may hold (index.mapping.total_fields.limit)", kInt, &c.Limits.MappingTotalFields},
		{"limits.fieldNameLength", "field-name-length", "longest field name, in characters (index.mapping.field_name_length.limit)", kInt, &c.Limits.FieldNameLength},
		{"storage.dataDir", "data-dir", "directory holding the node's data", kString, &c.Storage.DataDir},
		{"storage.engine", "storage-engine", `document engine: "embedded" or "elasticsearch"`, kString, &c.Storage.Engine},
		{"storage.elasticsearch.urls", "elasticsearch-url", "comma-separated Elasticsearch URLs (elasticsearch engine)", kList, &c.Storage.Elasticsearch.URLs},
		{"storage.elasticsearch.username", "elasticsearch-username", "Elasticsearch basic auth user", kString, &c.Storage.Elasticsearch.Username},
		{"storage.elasticsearch.password", "elasticsearch-password", "Elasticsearch basic auth password", kString, &c.Storage.Elasticsearch.Password},
		{"storage.elasticsearch.apiKey", "elasticsearch-api-key", "Elasticsearch API key (base64 id:key), instead of basic auth", kString, &c.Storage.Elasticsearch.APIKey},
		{"storage.elasticsearch.caCert", "elasticsearch-ca-cert", "PEM file of the CAs that sign Elasticsearch's certificate", kString, &c.Storage.Elasticsearch.CACert},
		{"storage.elasticsearch.tlsVerify", "elasticsearch-tls-verify", "verify Elasticsearch's TLS certificate (true/false; false only for tests)", kBool, &c.Storage.Elasticsearch.TLSVerify},
		{"storage.elasticsearch.requestTimeout", "elasticsearch-request-timeout", "longest one Elasticsearch request may take (ms or Go duration)", kDuration, &c.Storage.Elasticsearch.RequestTimeout},
		{"storage.elasticsearch.maxRetries", "elasticsearch-max-retries", "retries of a request on a connection error or 502/503/504", kInt, &c.Storage.Elasticsearch.MaxRetries},
		{"storage.diskMinFree", "disk-min-free", `free space under which the node refuses writes, before the disk is full`, kSize, &c.Storage.DiskMinFree},
		{"storage.readConsistency", "read-consistency", `"linearizable" or "local" (fast, possibly stale reads)`, kString, &c.Storage.ReadConsistency},
		{"cluster.addr", "cluster-addr", "address of the cluster port (Raft and node-to-node calls)", kString, &c.Cluster.Addr},
		{"cluster.advertiseAddr", "advertise-addr", "cluster address other nodes dial (default: from --cluster-addr)", kString, &c.Cluster.AdvertiseAddr},
		{"cluster.nodeId", "node-id", "node id (default: generated once and kept in the data dir)", kString, &c.Cluster.NodeID},
		{"cluster.secret", "cluster-secret", "shared secret every node of the cluster must know (with cluster TLS: optional, checked as a second factor)", kString, &c.Cluster.Secret},
		{"cluster.tls.ca", "cluster-tls-ca", "PEM file of the cluster CA: with --cluster-tls-cert and --cluster-tls-key, the cluster port runs mutual TLS and admits only peers with a certificate of this CA; re-read on SIGHUP", kString, &c.Cluster.TLSCA},
		{"cluster.tls.cert", "cluster-tls-cert", "PEM node certificate (server and client authentication) for the cluster port; reloaded on SIGHUP", kString, &c.Cluster.TLSCert},
		{"cluster.tls.key", "cluster-tls-key", "PEM private key of --cluster-tls-cert; reloaded on SIGHUP", kString, &c.Cluster.TLSKey},
		{"cluster.join", "join", "comma-separated cluster addresses of nodes to join", kList, &c.Cluster.Join},
		{"cluster.redis", "redis", "Redis URL used to discover the other nodes (redis://host:port)", kString, &c.Cluster.Redis},
		{"cluster.heartbeatTimeout", "raft-heartbeat-timeout", "Raft heartbeat timeout (ms or Go duration)", kDuration, &c.Cluster.HeartbeatTimeout},
		{"cluster.electionTimeout", "raft-election-timeout", "Raft election timeout (ms or Go duration)", kDuration, &c.Cluster.ElectionTimeout},
		{"cluster.leaderLeaseTimeout", "raft-leader-lease-timeout", "Raft leader lease timeout (ms or Go duration)", kDuration, &c.Cluster.LeaderLeaseTimeout},
		{"cluster.snapshotThreshold", "raft-snapshot-threshold", "log entries since the last snapshot that trigger a new one", kInt, &c.Cluster.SnapshotThreshold},
		{"cluster.snapshotInterval", "raft-snapshot-interval", "how often to check the snapshot threshold", kDuration, &c.Cluster.SnapshotInterval},
		{"cluster.trailingLogs", "raft-trailing-logs", "log entries kept after a snapshot, so a slightly lagging node catches up without one", kInt, &c.Cluster.TrailingLogs},
		{"cluster.voters", "voters", "Raft voters to keep (3 or 5); other nodes are non-voters", kInt, &c.Cluster.Voters},
		{"cluster.minimumNodes", "minimum-nodes", "new nodes found through Redis wait for this many to start the cluster together, all voters", kInt, &c.Cluster.MinimumNodes},
		{"cluster.heartbeat", "heartbeat", "Redis ID card refresh period (ms or Go duration)", kDuration, &c.Cluster.Heartbeat},
		{"cluster.joinTimeout", "join-timeout", "longest a starting node may take to join (ms or Go duration)", kDuration, &c.Cluster.JoinTimeout},
		{"cluster.quorumContactTimeout", "quorum-contact-timeout", "a node out of touch with a quorum (or lagging) this long exits", kDuration, &c.Cluster.QuorumContactTimeout},
		{"cluster.maxLag", "max-lag", "log entries a node may trail the leader's commit index by", kInt, &c.Cluster.MaxLag},
		{"cluster.deadNodeTimeout", "dead-node-timeout", "the leader removes a node silent this long", kDuration, &c.Cluster.DeadNodeTimeout},
		{"cluster.ip", "ip", `address kind to advertise on a wildcard cluster port: "private", "public" or ""`, kString, &c.Cluster.IP},
		{"cluster.interface", "interface", "network interface name or address to advertise", kString, &c.Cluster.Interface},
		{"cluster.ipv6", "ipv6", "advertise an IPv6 address (true/false)", kBool, &c.Cluster.IPv6},
		{"cluster.activityDepth", "activity-depth", "join and eviction events kept for cluster:status", kInt, &c.Cluster.ActivityDepth},
		{"limits.loginsPerSecond", "logins-per-second", "auth:login attempts allowed per username per second on a node (0: no limit)", kInt, &c.Limits.LoginsPerSecond},
		{"security.authToken.secret", "jwt-secret", "secret signing tokens, the same on every node (empty: generated and replicated)", kString, &c.Security.JWTSecret},
		{"security.authToken.expiresIn", "jwt-expires-in", "default lifetime of a login token (ms or Go duration)", kDuration, &c.Security.JWTExpiresIn},
		{"security.authToken.maxTTL", "jwt-max-ttl", "longest lifetime a client may ask for a token (0: no limit)", kDuration, &c.Security.JWTMaxTTL},
		{"security.authToken.gracePeriod", "jwt-grace-period", "how long a token stays valid after auth:refreshToken replaced it", kDuration, &c.Security.JWTGracePeriod},
		{"security.apiKey.maxTTL", "api-key-max-ttl", "longest lifetime of an API key (0: no limit)", kDuration, &c.Security.APIKeyMaxTTL},
		{"security.firstAdminFile", "first-admin-file", `JSON file {"kuid","username","password"}: the admin created, and the default roles locked down, at the first start`, kString, &c.Security.FirstAdminFile},
		{"log.level", "log-level", "debug, info, warn or error", kString, &c.Log.Level},
		{"stats.statsInterval", "stats-interval", "seconds between two server:getStats frames", kInt, &c.Stats.StatsInterval},
		{"stats.ttl", "stats-ttl", "seconds server:getStats frames are kept (10000 frames at most)", kInt, &c.Stats.TTL},
		{"log.format", "log-format", "text or json", kString, &c.Log.Format},
	}
}

// ConfigError names the offending key.
type ConfigError struct {
	Key, Source, Msg string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("configuration: %s (%s): %s", e.Key, e.Source, e.Msg)
}

func (o option) setString(s, source string) error {
	bad := func(msg string) error { return &ConfigError{Key: o.key, Source: source, Msg: msg} }
	switch o.kind {
	case kString:
		*o.ptr.(*string) = s
	case kInt:
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 0 {
			return bad(fmt.Sprintf("%q is not a non-negative integer", s))
		}
		*o.ptr.(*int) = n
	case kSize:
		n, err := parseSize(s)
		if err != nil {
			return bad(err.Error())
		}
		*o.ptr.(*int64) = n
	case kDuration:
		d, err := parseDuration(s)
		if err != nil {
			return bad(err.Error())
		}
		*o.ptr.(*time.Duration) = d
	case kBool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return bad(fmt.Sprintf("%q is not a boolean", s))
		}
		*o.ptr.(*bool) = b
	case kList:
		var list []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				list = append(list, p)
			}
		}
		*o.ptr.(*[]string) = list
	}
	return nil
}

func (o option) setJSON(v any, source string) error {
	bad := func(msg string) error { return &ConfigError{Key: o.key, Source: source, Msg: msg} }
	switch x := v.(type) {
	case string:
		if o.kind == kInt {
			return bad("expected a number")
		}
		return o.setString(x, source)
	case float64:
		switch o.kind {
		case kInt, kSize:
			if x != float64(int64(x)) || x < 0 {
				return bad(fmt.Sprintf("%v is not a non-negative integer", x))
			}
			return o.setString(strconv.FormatInt(int64(x), 10), source)
		case kDuration:
			if x < 0 {
				return bad("a duration cannot be negative")
			}
			*o.ptr.(*time.Duration) = time.Duration(x * float64(time.Millisecond))
			return nil
		}
		return bad("expected a string")
	case bool:
		if o.kind != kBool {
			return bad("did not expect a boolean")
		}
		*o.ptr.(*bool) = x
		return nil
	case []any:
		if o.kind != kList {
			return bad("did not expect an array")
		}
		parts := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return bad("expected an array of strings")
			}
			parts[i] = s
		}
		return o.setString(strings.Join(parts, ","), source)
	case nil:
		return nil
	}
	return bad(fmt.Sprintf("unexpected %T", v))
}

func parseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"gb", 1 << 30}, {"mb", 1 << 20}, {"kb", 1 << 10}, {"b", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			mult, t = u.m, strings.TrimSpace(strings.TrimSuffix(t, u.suffix))
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size (bytes, or a number with kb/mb/gb)", s)
	}
	return n * mult, nil
}

func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if ms, err := strconv.ParseFloat(s, 64); err == nil && ms >= 0 {
		return time.Duration(ms * float64(time.Millisecond)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration (milliseconds, or Go syntax like 1.5s)", s)
	}
	return d, nil
}

// ErrHelp is returned when --help was asked for; the usage was printed.
var ErrHelp = flag.ErrHelp

// ParseConfig builds the configuration from defaults, the --config file,
// the environment and the command line.
func ParseConfig(args []string, getenv func(string) string, usage io.Writer) (Config, error) {
	c := Defaults()
	opts := options(&c)
	fs := flag.NewFlagSet("korum", flag.ContinueOnError)
	fs.SetOutput(usage)
	configPath := fs.String("config", getenv("KORUM_CONFIG"), "JSON configuration file (sections server, limits, storage, cluster, log, security) [KORUM_CONFIG]")
	flagVals := map[string]*string{}
	for _, o := range opts {
		flagVals[o.flag] = fs.String(o.flag, "", fmt.Sprintf("%s [%s; %s; default %s]", o.help, o.env(), o.key, describe(o)))
	}
	fs.Usage = func() {
		fmt.Fprintf(usage, "Usage: korum [options]\n       korum recover --data-dir DIR ...       rebuild a cluster that lost its quorum (see README)\n       korum snapshot save|status|restore ...  back up and restore a cluster (see README)\n       korum tls init --dir DIR --nodes ...    make a test CA and node certificates\n\nKorum is a clustered, Kuzzle-compatible realtime backend. Every option is also an\nenvironment variable and a key of the --config file; flags win over the environment,\nwhich wins over the file.\n\nOptions:\n")
		fs.VisitAll(func(f *flag.Flag) {
			fmt.Fprintf(usage, "  --%s VALUE\n      %s\n", f.Name, f.Usage)
		})
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	if *configPath != "" {
		if err := loadFile(*configPath, opts); err != nil {
			return c, err
		}
	}
	for _, o := range opts {
		if v := getenv(o.env()); v != "" {
			if err := o.setString(v, o.env()); err != nil {
				return c, err
			}
		}
	}
	var ferr error
	fs.Visit(func(f *flag.Flag) {
		if v, ok := flagVals[f.Name]; ok && ferr == nil {
			for _, o := range opts {
				if o.flag == f.Name {
					ferr = o.setString(*v, "--"+f.Name)
				}
			}
		}
	})
	if ferr != nil {
		return c, ferr
	}
	return c, c.validate()
}

func describe(o option) string {
	switch p := o.ptr.(type) {
	case *string:
		if *p == "" {
			return `""`
		}
		return *p
	case *int:
		return strconv.Itoa(*p)
	case *int64:
		return strconv.FormatInt(*p, 10)
	case *time.Duration:
		if *p == 0 {
			return "built-in"
		}
		return p.String()
	case *[]string:
		return `""`
	case *bool:
		return strconv.FormatBool(*p)
	}
	return ""
}

func loadFile(path string, opts []option) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("configuration: reading %s: %w", path, err)
	}
	var root map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		return fmt.Errorf("configuration: %s is not a JSON object: %w", path, err)
	}
	byKey := map[string]option{}
	for _, o := range opts {
		byKey[o.key] = o
	}
	sections := make([]string, 0, len(root))
	for s := range root {
		sections = append(sections, s)
	}
	sort.Strings(sections)
	for _, s := range sections {
		sec, ok := root[s].(map[string]any)
		if !ok {
			return &ConfigError{Key: s, Source: path, Msg: "expected an object (section)"}
		}
		if err := loadObject(s, sec, byKey, path); err != nil {
			return err
		}
	}
	return nil
}

// loadObject sets the keys of one object of the file; an object that is
// not a key's value is a subsection (server.protocols.websocket).
func loadObject(prefix string, obj map[string]any, byKey map[string]option, path string) error {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		key := prefix + "." + k
		o, ok := byKey[key]
		if !ok {
			sub, isObj := obj[k].(map[string]any)
			if !isObj || !hasPrefixKey(byKey, key+".") {
				return &ConfigError{Key: key, Source: path, Msg: "unknown key"}
			}
			if err := loadObject(key, sub, byKey, path); err != nil {
				return err
			}
			continue
		}
		if err := o.setJSON(obj[k], path); err != nil {
			return err
		}
	}
	return nil
}

func hasPrefixKey(byKey map[string]option, prefix string) bool {
	for k := range byKey {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

func (c Config) validate() error {
	bad := func(key, msg string) error { return &ConfigError{Key: key, Source: "value", Msg: msg} }
	if c.Server.APIAddr == "" {
		return bad("server.apiAddr", "must not be empty")
	}
	if c.Cluster.Addr == "" {
		return bad("cluster.addr", "must not be empty")
	}
	if c.Storage.DataDir == "" {
		return bad("storage.dataDir", "must not be empty")
	}
	switch c.Storage.Engine {
	case "embedded":
	case "elasticsearch":
		es := c.Storage.Elasticsearch
		if len(es.URLs) == 0 {
			return bad("storage.elasticsearch.urls", "at least one URL is required with the elasticsearch engine")
		}
		for _, u := range es.URLs {
			if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
				return bad("storage.elasticsearch.urls", fmt.Sprintf("%q is not an http(s) URL", u))
			}
		}
		if es.RequestTimeout <= 0 {
			return bad("storage.elasticsearch.requestTimeout", "must be positive")
		}
		if es.MaxRetries < 0 {
			return bad("storage.elasticsearch.maxRetries", "must be 0 or more")
		}
		if es.APIKey != "" && es.Username != "" {
			return bad("storage.elasticsearch.apiKey", "use either an API key or a username, not both")
		}
	default:
		return bad("storage.engine", fmt.Sprintf("%q is not supported (embedded, elasticsearch)", c.Storage.Engine))
	}
	switch c.Storage.ReadConsistency {
	case "linearizable", "local":
	default:
		return bad("storage.readConsistency", `must be "linearizable" or "local"`)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return bad("log.level", "must be debug, info, warn or error")
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return bad("log.format", "must be text or json")
	}
	h := c.Server.HTTP
	if h.ReadHeaderTimeout <= 0 || h.ReadTimeout <= 0 || h.WriteTimeout <= 0 || h.IdleTimeout <= 0 {
		return bad("server.protocols.http", "readHeaderTimeout, readTimeout, writeTimeout and idleTimeout must be positive: every connection needs its timeouts")
	}
	if h.MaxEncodingLayers < 1 || h.MaxFormFileSize < 1 {
		return bad("server.protocols.http", "maxEncodingLayers and maxFormFileSize must be positive")
	}
	if c.Server.WebSocket.IdleTimeout < time.Second {
		return bad("server.protocols.websocket.idleTimeout", "must be at least 1s (Kuzzle's minimum: it cannot be disabled)")
	}
	if c.Stats.StatsInterval < 1 || c.Stats.TTL < 0 {
		return bad("stats", "statsInterval must be at least 1 (second) and ttl at least 0")
	}
	if c.Limits.ConcurrentRequests < 1 {
		return bad("limits.concurrentRequests", "must be at least 1")
	}
	if c.Limits.RequestTimeout <= 0 {
		return bad("limits.requestTimeout", "must be positive")
	}
	if c.Limits.MappingDepth < 1 || c.Limits.MappingDepth > embedded.MaxMappingDepth {
		return bad("limits.mappingDepth", fmt.Sprintf("must be between 1 and %d", embedded.MaxMappingDepth))
	}
	if c.Limits.MappingTotalFields < 1 {
		return bad("limits.mappingTotalFields", "must be at least 1")
	}
	if c.Limits.FieldNameLength < 1 {
		return bad("limits.fieldNameLength", "must be at least 1")
	}
	if c.Cluster.Voters < 1 || c.Cluster.Voters > 7 {
		return bad("cluster.voters", "must be between 1 and 7 (3 or 5 recommended)")
	}
	if c.Cluster.MinimumNodes < 1 || c.Cluster.MinimumNodes > 100 {
		return bad("cluster.minimumNodes", "must be between 1 and 100")
	}
	switch c.Cluster.IP {
	case "", "private", "public", "null":
	default:
		return bad("cluster.ip", `must be "private", "public" or ""`)
	}
	if c.Cluster.Heartbeat <= 0 || c.Cluster.JoinTimeout <= 0 || c.Cluster.QuorumContactTimeout <= 0 || c.Cluster.DeadNodeTimeout <= 0 {
		return bad("cluster", "heartbeat, joinTimeout, quorumContactTimeout and deadNodeTimeout must be positive")
	}
	if c.Cluster.DeadNodeTimeout <= c.Cluster.QuorumContactTimeout {
		return bad("cluster.deadNodeTimeout", "must exceed cluster.quorumContactTimeout, so a partitioned node stops before it is removed")
	}
	if (c.Server.TLSCert == "") != (c.Server.TLSKey == "") {
		return bad("server.tls", "give both the certificate and the key (--tls-cert, --tls-key), or neither")
	}
	ct := c.Cluster
	if n := btoi(ct.TLSCA != "") + btoi(ct.TLSCert != "") + btoi(ct.TLSKey != ""); n != 0 && n != 3 {
		return bad("cluster.tls", "give the CA, the certificate and the key (--cluster-tls-ca, --cluster-tls-cert, --cluster-tls-key), or none")
	}
	if (c.Cluster.Redis != "" || len(c.Cluster.Join) > 0) && c.Cluster.Secret == "" && c.Cluster.TLSCA == "" && !loopbackAddr(c.Cluster.Addr) {
		return bad("cluster.secret", "required when the cluster port is reachable from other machines (--cluster-secret, or cluster TLS)")
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}
