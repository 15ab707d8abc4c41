package node

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestPrecedenceFlagOverEnvOverFileOverDefault(t *testing.T) {
	path := filepath.Join(t.TempDir(), "korum.json")
	os.WriteFile(path, []byte(`{"server":{"apiAddr":":1000","maxRequestSize":"2mb"},
		"limits":{"concurrentRequests":7,"requestTimeout":1500},"storage":{"dataDir":"/file"},
		"cluster":{"join":["a:1","b:2"],"heartbeatTimeout":"250ms"}}`), 0o644)
	_, err := ParseConfig([]string{"--config", path}, env(nil), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "cluster.secret") {
		t.Fatalf("joining over a wildcard cluster port without a secret must be refused, got %v", err)
	}
	os.WriteFile(path, []byte(`{"server":{"apiAddr":":1000","maxRequestSize":"2mb"},
		"limits":{"concurrentRequests":7,"requestTimeout":1500},"storage":{"dataDir":"/file"},
		"cluster":{"heartbeatTimeout":"250ms"}}`), 0o644)
	c, err := ParseConfig([]string{"--config", path, "--data-dir", "/flag"},
		env(map[string]string{"KORUM_DATA_DIR": "/env", "KORUM_API_ADDR": ":2000"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Storage.DataDir != "/flag" || c.Server.APIAddr != ":2000" || c.Server.MaxRequestSize != 2<<20 ||
		c.Limits.ConcurrentRequests != 7 || c.Limits.RequestTimeout != 1500*time.Millisecond ||
		c.Cluster.HeartbeatTimeout != 250*time.Millisecond || c.Cluster.Addr != ":7511" {
		t.Fatalf("unexpected %+v", c)
	}
}

// The dashboard is on by default; the flag, the environment and the file
// each turn it off.
func TestDashboardOption(t *testing.T) {
	path := filepath.Join(t.TempDir(), "korum.json")
	os.WriteFile(path, []byte(`{"server":{"dashboard":false}}`), 0o644)
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		want bool
	}{
		"default": {want: true},
		"flag":    {args: []string{"--dashboard=false"}},
		"env":     {env: map[string]string{"KORUM_DASHBOARD": "false"}},
		"file":    {args: []string{"--config", path}},
	} {
		c, err := ParseConfig(tc.args, env(tc.env), io.Discard)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c.Server.Dashboard != tc.want {
			t.Errorf("%s: dashboard %v, want %v", name, c.Server.Dashboard, tc.want)
		}
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		file string
		args []string
		env  map[string]string
		key  string
	}{
		{file: `{"limits":{"concurrentRequests":"many"}}`, key: "limits.concurrentRequests"},
		{file: `{"limits":{"concurrentRequests":1.5}}`, key: "limits.concurrentRequests"},
		{file: `{"server":{"nope":1}}`, key: "server.nope"},
		{file: `{"server":3}`, key: "server"},
		{file: `{"storage":{"engine":"solr"}}`, key: "storage.engine"},
		{file: `{"storage":{"engine":"elasticsearch","elasticsearch":{"urls":["127.0.0.1:9200"]}}}`, key: "storage.elasticsearch.urls"},
		{args: []string{"--storage-engine", "elasticsearch", "--elasticsearch-api-key", "k", "--elasticsearch-username", "u"}, key: "storage.elasticsearch.apiKey"},
		{args: []string{"--max-request-size", "lots"}, key: "server.maxRequestSize"},
		{env: map[string]string{"KORUM_REQUEST_TIMEOUT": "-1s"}, key: "limits.requestTimeout"},
		{args: []string{"--log-level", "loud"}, key: "log.level"},
		{args: []string{"--concurrent-requests", "0"}, key: "limits.concurrentRequests"},
		{env: map[string]string{"KORUM_MINIMUM_NODES": "0"}, key: "cluster.minimumNodes"},
		{file: `{"cluster":{"minimumNodes":-3}}`, key: "cluster.minimumNodes"},
		{args: []string{"--request-timeout", "0"}, key: "limits.requestTimeout"},
		{args: []string{"--mapping-depth", "1001"}, key: "limits.mappingDepth"},
		{env: map[string]string{"KORUM_MAPPING_TOTAL_FIELDS": "0"}, key: "limits.mappingTotalFields"},
		{file: `{"limits":{"fieldNameLength":0}}`, key: "limits.fieldNameLength"},
	}
	for i, tc := range cases {
		args := tc.args
		if tc.file != "" {
			p := filepath.Join(dir, "c.json")
			os.WriteFile(p, []byte(tc.file), 0o644)
			args = append([]string{"--config", p}, args...)
		}
		_, err := ParseConfig(args, env(tc.env), io.Discard)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != tc.key {
			t.Errorf("case %d: got %v, want an error naming %s", i, err, tc.key)
		}
	}
	if _, err := ParseConfig([]string{"--config", filepath.Join(dir, "missing.json")}, env(nil), io.Discard); err == nil {
		t.Error("a missing config file must be an error")
	}
	if _, err := ParseConfig([]string{"--help"}, env(nil), io.Discard); !errors.Is(err, ErrHelp) {
		t.Errorf("--help: %v", err)
	}
}

func TestSizesAndDurations(t *testing.T) {
	for in, want := range map[string]int64{"1mb": 1 << 20, "512": 512, "64KB": 64 << 10, "1 gb": 1 << 30} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("%q: %d %v", in, got, err)
		}
	}
	for in, want := range map[string]time.Duration{"2000": 2 * time.Second, "1.5s": 1500 * time.Millisecond} {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
}

func TestParsePeers(t *testing.T) {
	got, err := ParsePeers(" a=10.0.0.1:7511, b=[::1]:7511 ,")
	if err != nil || len(got) != 2 || got[0].ID != "a" || got[0].Address != "10.0.0.1:7511" || got[1].Address != "[::1]:7511" {
		t.Fatalf("got %+v, %v", got, err)
	}
	for _, bad := range []string{"", ",", "a", "=10.0.0.1:7511", "a=10.0.0.1", "a=:7511", "a=h:1,a=i:2", "a=h:1,b=h:1"} {
		if _, err := ParsePeers(bad); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

// The connection settings take Kuzzle's nested keys in the file, and are
// flags and variables like any other option.
func TestConnectionOptions(t *testing.T) {
	c, err := ParseConfig(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if ws := c.Server.WebSocket; ws.IdleTimeout != 60*time.Second || !ws.SendPingsAutomatically {
		t.Fatalf("websocket defaults %+v", ws)
	}
	if h := c.Server.HTTP; h.ReadTimeout <= 0 || h.WriteTimeout <= 0 || h.IdleTimeout <= 0 || h.ReadHeaderTimeout <= 0 {
		t.Fatalf("http defaults %+v", h)
	}
	path := filepath.Join(t.TempDir(), "korum.json")
	os.WriteFile(path, []byte(`{"server":{"protocols":{
			"websocket":{"idleTimeout":5000,"sendPingsAutomatically":false},
			"http":{"readTimeout":"3s","writeTimeout":4000,"idleTimeout":"7s","readHeaderTimeout":2000,
				"allowCompression":false,"maxEncodingLayers":2,"maxFormFileSize":"2kb"}}},
		"http":{"accessControlAllowOrigin":["https://a.example","https://b.example"]},
		"limits":{"maxConnections":500,"maxConnectionsPerIp":20}}`), 0o644)
	c, err = ParseConfig([]string{"--config", path, "--http-idle-timeout", "8s"},
		env(map[string]string{"KORUM_MAX_CONNECTIONS_PER_IP": "30", "KORUM_WEBSOCKET_SEND_PINGS": ""}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	def := Defaults().Server.HTTP
	want := HTTPConfig{ReadHeaderTimeout: 2 * time.Second, ReadTimeout: 3 * time.Second, WriteTimeout: 4 * time.Second, IdleTimeout: 8 * time.Second,
		MaxEncodingLayers: 2, MaxFormFileSize: 2048, AllowOrigin: []string{"https://a.example", "https://b.example"},
		AllowMethods: def.AllowMethods, AllowHeaders: def.AllowHeaders}
	if !reflect.DeepEqual(c.Server.HTTP, want) {
		t.Fatalf("http %+v, want %+v", c.Server.HTTP, want)
	}
	if ws := c.Server.WebSocket; ws.IdleTimeout != 5*time.Second || ws.SendPingsAutomatically {
		t.Fatalf("websocket %+v", ws)
	}
	if c.Limits.MaxConnections != 500 || c.Limits.MaxConnectionsPerIP != 30 {
		t.Fatalf("limits %+v", c.Limits)
	}
	c, err = ParseConfig([]string{"--websocket-idle-timeout", "2500", "--websocket-send-pings", "true"}, env(nil), io.Discard)
	if err != nil || c.Server.WebSocket.IdleTimeout != 2500*time.Millisecond || !c.Server.WebSocket.SendPingsAutomatically {
		t.Fatalf("flags: %+v, %v", c.Server.WebSocket, err)
	}

	dir := t.TempDir()
	for i, tc := range []struct {
		file string
		args []string
		key  string
	}{
		{args: []string{"--websocket-idle-timeout", "500ms"}, key: "server.protocols.websocket.idleTimeout"},
		{args: []string{"--http-read-timeout", "0"}, key: "server.protocols.http"},
		{file: `{"server":{"protocols":{"websocket":{"heartbeat":1000}}}}`, key: "server.protocols.websocket.heartbeat"},
		{file: `{"server":{"protocols":{"http":3}}}`, key: "server.protocols.http"},
		{file: `{"server":{"protocols":{"websocket":{"idleTimeout":{"x":1}}}}}`, key: "server.protocols.websocket.idleTimeout"},
		{args: []string{"--max-connections", "-1"}, key: "limits.maxConnections"},
	} {
		args := tc.args
		if tc.file != "" {
			p := filepath.Join(dir, "c.json")
			os.WriteFile(p, []byte(tc.file), 0o644)
			args = append([]string{"--config", p}, args...)
		}
		_, err := ParseConfig(args, env(nil), io.Discard)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != tc.key {
			t.Errorf("case %d: got %v, want an error naming %s", i, err, tc.key)
		}
	}
}

// An automatic limits.maxConnections leaves file descriptors to the rest
// of the node; an explicit one is kept.
func TestConnLimits(t *testing.T) {
	if lim := connLimits(LimitsConfig{MaxConnections: 10, MaxConnectionsPerIP: 3}); lim.Max != 10 || lim.PerIP != 3 || lim.Reserve != probeReserve {
		t.Fatalf("explicit: %+v", lim)
	}
	fds := fdLimit()
	if fds == 0 {
		t.Skip("no file descriptor limit here")
	}
	lim := connLimits(LimitsConfig{})
	if lim.Max <= 0 || lim.Max+lim.Reserve >= fds {
		t.Fatalf("automatic cap %+v with %d descriptors", lim, fds)
	}
}

func TestMappingLimits(t *testing.T) {
	c, err := ParseConfig(nil, env(nil), io.Discard)
	if err != nil || c.Limits.MappingDepth != 20 || c.Limits.MappingTotalFields != 1000 || c.Limits.FieldNameLength != 256 {
		t.Fatalf("defaults: %+v, %v", c.Limits, err)
	}
	path := filepath.Join(t.TempDir(), "korum.json")
	os.WriteFile(path, []byte(`{"limits":{"mappingTotalFields":5000}}`), 0o644)
	c, err = ParseConfig([]string{"--config", path, "--mapping-depth", "50"},
		env(map[string]string{"KORUM_FIELD_NAME_LENGTH": "1000"}), io.Discard)
	if err != nil || c.Limits.MappingDepth != 50 || c.Limits.MappingTotalFields != 5000 || c.Limits.FieldNameLength != 1000 {
		t.Fatalf("configured: %+v, %v", c.Limits, err)
	}
}

func TestPublicConfigRedactsSecrets(t *testing.T) {
	c := Defaults()
	c.Cluster.Secret = "s3cret"
	c.Cluster.Redis = "redis://user:pw@10.0.0.9:6379"
	p := c.Public()
	cl := p["cluster"].(map[string]any)
	if cl["secret"] != "[redacted]" || cl["redis"] != "redis://user:redacted@10.0.0.9:6379" {
		t.Fatalf("secrets shown: %v %v", cl["secret"], cl["redis"])
	}
	if p["limits"].(map[string]any)["documentsFetchCount"] != c.Limits.DocumentsFetchCount {
		t.Fatalf("limits: %v", p["limits"])
	}
	if p["limits"].(map[string]any)["requestTimeout"] != c.Limits.RequestTimeout.Milliseconds() {
		t.Fatalf("durations are milliseconds: %v", p["limits"])
	}
}

func TestElasticsearchOptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "korum.json")
	os.WriteFile(path, []byte(`{"storage":{"engine":"elasticsearch","elasticsearch":{"urls":["http://a:9200","https://b:9200"],
		"username":"u","caCert":"/ca.pem","requestTimeout":"5s"}}}`), 0o644)
	c, err := ParseConfig([]string{"--config", path, "--elasticsearch-max-retries", "7"},
		env(map[string]string{"KORUM_ELASTICSEARCH_PASSWORD": "p", "KORUM_ELASTICSEARCH_TLS_VERIFY": "false"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	es := c.Storage.Elasticsearch
	if c.Storage.Engine != "elasticsearch" || len(es.URLs) != 2 || es.URLs[1] != "https://b:9200" || es.Username != "u" ||
		es.Password != "p" || es.CACert != "/ca.pem" || es.TLSVerify || es.RequestTimeout != 5*time.Second || es.MaxRetries != 7 {
		t.Fatalf("unexpected %+v", es)
	}
	c, err = ParseConfig([]string{"--storage-engine", "elasticsearch", "--elasticsearch-url", "http://x:1,http://y:2"}, env(nil), io.Discard)
	if err != nil || len(c.Storage.Elasticsearch.URLs) != 2 || !c.Storage.Elasticsearch.TLSVerify {
		t.Fatalf("flags: %+v %v", c.Storage.Elasticsearch, err)
	}
	if c, _ := ParseConfig(nil, env(nil), io.Discard); c.Storage.Engine != "embedded" {
		t.Fatalf("default engine %q", c.Storage.Engine)
	}
}

func TestTLSOptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "korum.json")
	os.WriteFile(path, []byte(`{"server":{"tls":{"cert":"/f/api.pem","key":"/f/api-key.pem"}},
		"cluster":{"tls":{"ca":"/f/ca.pem","cert":"/f/n1.pem","key":"/f/n1-key.pem"}}}`), 0o644)
	c, err := ParseConfig([]string{"--config", path, "--cluster-tls-key", "/flag/n1-key.pem"},
		env(map[string]string{"KORUM_TLS_CERT": "/env/api.pem"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.TLSCert != "/env/api.pem" || c.Server.TLSKey != "/f/api-key.pem" || c.Cluster.TLSCA != "/f/ca.pem" ||
		c.Cluster.TLSCert != "/f/n1.pem" || c.Cluster.TLSKey != "/flag/n1-key.pem" {
		t.Fatalf("unexpected %+v %+v", c.Server, c.Cluster)
	}
	// Cluster TLS stands in for the secret on a port that faces a network.
	if _, err := ParseConfig([]string{"--join", "10.0.0.1:7511", "--cluster-tls-ca", "ca.pem", "--cluster-tls-cert", "n.pem",
		"--cluster-tls-key", "n-key.pem"}, env(nil), io.Discard); err != nil {
		t.Fatalf("TLS without a secret: %v", err)
	}
	for _, args := range [][]string{
		{"--tls-cert", "a.pem"},
		{"--tls-key", "a-key.pem"},
		{"--cluster-tls-ca", "ca.pem", "--cluster-tls-cert", "n.pem"},
		{"--cluster-tls-cert", "n.pem", "--cluster-tls-key", "n-key.pem"},
	} {
		var ce *ConfigError
		if _, err := ParseConfig(args, env(nil), io.Discard); !errors.As(err, &ce) || !strings.Contains(ce.Key, "tls") {
			t.Errorf("%v: got %v, want an error naming the tls section", args, err)
		}
	}
}
