package node

import (
	"errors"
	"io"
	"os"
	"path/filepath"
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
		{file: `{"storage":{"engine":"elasticsearch"}}`, key: "storage.engine"},
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
