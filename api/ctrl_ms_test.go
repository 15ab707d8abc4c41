package api

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/memstore"
)

func msRequest(t testing.TB, js string) *Request {
	t.Helper()
	r, err := DecodeRequest([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Requests become the Redis argument vectors Kuzzle's controller builds,
// arguments taken from the same places, in Redis's order.
func TestMSArgumentVectors(t *testing.T) {
	for _, c := range []struct {
		action, req string
		want        []string
	}{
		{"set", `{"_id":"k","body":{"value":3,"ex":10,"nx":true}}`, []string{"set", "k", "3", "EX", "10", "NX"}},
		{"get", `{"_id":"k"}`, []string{"get", "k"}},
		{"mget", `{"keys":"a,b"}`, []string{"mget", "a", "b"}},
		{"mget", `{"keys":["a","b"]}`, []string{"mget", "a", "b"}},
		{"hmset", `{"_id":"h","body":{"entries":[{"field":"f","value":"v"},{"field":"g","value":1}]}}`, []string{"hmset", "h", "f", "v", "g", "1"}},
		{"zrangebyscore", `{"_id":"z","min":1,"max":"(5","options":"withscores","limit":"0,2"}`,
			[]string{"zrangebyscore", "z", "1", "(5", "WITHSCORES", "LIMIT", "0", "2"}},
		{"zrevrangebyscore", `{"_id":"z","min":1,"max":5}`, []string{"zrevrangebyscore", "z", "5", "1"}},
		{"zadd", `{"_id":"z","body":{"ch":true,"elements":[{"score":1.5,"member":"a"}]}}`, []string{"zadd", "z", "CH", "1.5", "a"}},
		{"zunionstore", `{"_id":"d","body":{"keys":["a","b"],"weights":[1,2],"aggregate":"max"}}`,
			[]string{"zunionstore", "d", "2", "a", "b", "WEIGHTS", "1", "2", "AGGREGATE", "MAX"}},
		{"geoadd", `{"_id":"g","body":{"points":[{"lon":1.5,"lat":2,"name":"p"}]}}`, []string{"geoadd", "g", "1.5", "2", "p"}},
		{"georadius", `{"_id":"g","lon":1,"lat":2,"distance":3,"unit":"km","options":["withdist","count",2]}`,
			[]string{"georadius", "g", "1", "2", "3", "km", "WITHDIST", "COUNT", "2"}},
		{"sort", `{"_id":"l","body":{"alpha":true,"direction":"desc","limit":[0,2],"get":["#"],"store":"d"}}`,
			[]string{"sort", "l", "ALPHA", "DESC", "LIMIT", "0", "2", "GET", "#", "STORE", "d"}},
		{"scan", `{"cursor":0,"match":"a*","count":5}`, []string{"scan", "0", "MATCH", "a*", "COUNT", "5"}},
		{"object", `{"_id":"k","subcommand":"encoding"}`, []string{"object", "encoding", "k"}},
		{"lindex", `{"_id":"l","idx":-1}`, []string{"lindex", "l", "-1"}},
		{"sdiffstore", `{"_id":"k","body":{"destination":"d","keys":["x"]}}`, []string{"sdiffstore", "d", "k", "x"}},
	} {
		got, err := msArgv(msRequest(t, c.req), c.action)
		if err != nil {
			t.Errorf("%s %s: %v", c.action, c.req, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s %s = %q, want %q", c.action, c.req, got, c.want)
		}
	}
}

// Bad arguments are Kuzzle's errors, found before anything is proposed.
func TestMSArgumentErrors(t *testing.T) {
	for _, c := range []struct{ action, req, id string }{
		{"set", `{"_id":"k","body":{"value":{"an":"object"}}}`, "api.assert.invalid_type"},
		{"set", `{"_id":"k","body":{"value":1,"nx":true,"xx":true}}`, "api.assert.mutually_exclusive"},
		{"set", `{"_id":"k","body":{"value":1,"ex":1,"px":1}}`, "api.assert.mutually_exclusive"},
		{"expire", `{"_id":"k","body":{}}`, "api.assert.missing_argument"},
		{"zadd", `{"_id":"z","body":{"elements":[]}}`, "api.assert.empty_argument"},
		{"zadd", `{"_id":"z","body":{"incr":true,"elements":[{"score":1,"member":"a"},{"score":2,"member":"b"}]}}`, "api.assert.too_many_arguments"},
		{"zadd", `{"_id":"z","body":{"elements":[{"score":"x","member":"a"}]}}`, "api.assert.invalid_type"},
		{"zadd", `{"_id":"z","body":{"elements":[{"score":1}]}}`, "api.assert.missing_argument"},
		{"zinterstore", `{"_id":"d","body":{"keys":["a"],"aggregate":"avg"}}`, "api.assert.invalid_argument"},
		{"geoadd", `{"_id":"g","body":{"points":[]}}`, "api.assert.empty_argument"},
		{"geoadd", `{"_id":"g","body":{"points":[{"lon":"x","lat":1,"name":"p"}]}}`, "api.assert.invalid_type"},
		{"mset", `{"body":{"entries":[{"key":"a"}]}}`, "api.assert.invalid_argument"},
		{"sort", `{"_id":"l","body":{"direction":"up"}}`, "api.assert.invalid_argument"},
		{"scan", `{"cursor":0,"match":3}`, "api.assert.invalid_type"},
		{"scan", `{"cursor":0,"count":"many"}`, "api.assert.invalid_type"},
		{"zrangebylex", `{"_id":"z","min":"-","max":"+","limit":"1"}`, "api.assert.invalid_argument"},
	} {
		_, err := msArgv(msRequest(t, c.req), c.action)
		if !kerror.Is(err, c.id) {
			t.Errorf("%s %s: %v, want %s", c.action, c.req, err, c.id)
		}
	}
}

// Every action of the SDK's ms controller is served; bgsave and
// bgrewriteaof, which Kuzzle 2 does not serve either, are not.
func TestMSServesEverySDKAction(t *testing.T) {
	c := (&msController{}).actions()
	for _, a := range []string{"append", "bitcount", "bitop", "bitpos", "dbsize", "decr", "decrby", "del", "exists", "expire",
		"expireat", "flushdb", "geoadd", "geodist", "geohash", "geopos", "georadius", "georadiusbymember", "get", "getbit",
		"getrange", "getset", "hdel", "hexists", "hget", "hgetall", "hincrby", "hincrbyfloat", "hkeys", "hlen", "hmget",
		"hmset", "hscan", "hset", "hsetnx", "hstrlen", "hvals", "incr", "incrby", "incrbyfloat", "keys", "lindex", "linsert",
		"llen", "lpop", "lpush", "lpushx", "lrange", "lrem", "lset", "ltrim", "mexecute", "mget", "mset", "msetnx", "object",
		"persist", "pexpire", "pexpireat", "pfadd", "pfcount", "pfmerge", "ping", "psetex", "pttl", "randomkey", "rename",
		"renamenx", "rpop", "rpoplpush", "rpush", "rpushx", "sadd", "scan", "scard", "sdiff", "sdiffstore", "set", "setex",
		"setnx", "sinter", "sinterstore", "sismember", "smembers", "smove", "sort", "spop", "srandmember", "srem", "sscan",
		"strlen", "sunion", "sunionstore", "time", "touch", "ttl", "type", "zadd", "zcard", "zcount", "zincrby",
		"zinterstore", "zlexcount", "zrange", "zrangebylex", "zrevrangebylex", "zrangebyscore", "zrank", "zrem",
		"zremrangebylex", "zremrangebyrank", "zremrangebyscore", "zrevrange", "zrevrangebyscore", "zrevrank", "zscan",
		"zscore", "zunionstore"} {
		if c[a] == nil {
			t.Errorf("ms:%s is not served", a)
		}
		if a != "mexecute" && !memstore.Known(a) {
			t.Errorf("ms:%s has no memstore command", a)
		}
	}
	if len(c) != 118 {
		t.Errorf("%d ms actions", len(c))
	}
}

// Any request either fails with a Kuzzle error or gives an argument vector
// the store accepts or rejects cleanly, never a panic.
func FuzzMSArgv(f *testing.F) {
	f.Add("zadd", `{"_id":"z","body":{"elements":[{"score":1,"member":"a"}]}}`)
	f.Add("georadius", `{"_id":"g","lon":1,"lat":2,"distance":3,"unit":"km","options":"withdist,count,2"}`)
	f.Add("mexecute", `{"body":{"actions":[{"action":"set","args":{"_id":"k","body":{"value":1}}}]}}`)
	f.Fuzz(func(t *testing.T, action, req string) {
		r, err := DecodeRequest([]byte(req))
		if err != nil {
			return
		}
		argv, err := msArgv(r, action)
		if err != nil {
			if kerror.From(err).Status >= 500 {
				t.Fatalf("%s %s: %v", action, req, err)
			}
			return
		}
		if memstore.Validate(argv) == nil {
			s := memstore.New()
			if memstore.IsWrite(argv) {
				s.Apply(&memstore.Command{Now: 1, Cmds: [][]string{argv}})
			} else {
				_, _ = s.Read(argv, 1, nil)
			}
		}
	})
}

// A bulk body either parses into one write per action or is refused with
// a Kuzzle error, never a panic.
func FuzzParseBulk(f *testing.F) {
	f.Add(`[{"create":{"_id":"a"}},{"x":1},{"delete":{"_id":"b"}},{"update":{"_id":"c"}},{"doc":{"y":2},"upsert":{}}]`)
	f.Add(`[{"index":{}},{}]`)
	f.Fuzz(func(t *testing.T, body string) {
		var lines []any
		if json.Unmarshal([]byte(body), &lines) != nil {
			return
		}
		n := 0
		docs, acts, err := parseBulk(lines, func() string { n++; return "gen" })
		if err != nil {
			if kerror.From(err).Status != 400 {
				t.Fatalf("%s: %v", body, err)
			}
			return
		}
		if len(docs) != len(acts) {
			t.Fatalf("%d writes for %d actions", len(docs), len(acts))
		}
		for _, d := range docs {
			if d.ID == "" || d.Op == "" {
				t.Fatalf("incomplete write %+v", d)
			}
		}
	})
}
