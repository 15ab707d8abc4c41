package memstore

import (
	"encoding/json"
	"strings"
	"testing"
)

// tester drives a store as the state machine does (writes) and as a node
// does (reads), with a clock the test moves.
type tester struct {
	t   *testing.T
	s   *Store
	now int64
}

func newTester(t *testing.T) *tester { return &tester{t: t, s: New(), now: 1_700_000_000_000} }

// do runs one command, as a write through Apply when it is one.
func (tt *tester) do(argv ...string) (any, error) {
	tt.t.Helper()
	if IsWrite(argv) {
		r := tt.s.Apply(&Command{Now: tt.now, Seed: 42, Cmds: [][]string{argv}})[0]
		if r.Err != "" {
			return nil, &Error{r.Err}
		}
		return r.Value, nil
	}
	return tt.s.Read(argv, tt.now, nil)
}

// is asserts a command's reply, compared as JSON (what clients see).
func (tt *tester) is(want any, argv ...string) {
	tt.t.Helper()
	got, err := tt.do(argv...)
	if err != nil {
		tt.t.Fatalf("%v: unexpected error %v", argv, err)
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		tt.t.Fatalf("%v = %s, want %s", argv, g, w)
	}
}

// fails asserts a command's error starts with prefix.
func (tt *tester) fails(prefix string, argv ...string) {
	tt.t.Helper()
	_, err := tt.do(argv...)
	if err == nil || !strings.HasPrefix(err.Error(), prefix) {
		tt.t.Fatalf("%v: error %v, want %q", argv, err, prefix)
	}
}

func TestStrings(t *testing.T) {
	tt := newTester(t)
	tt.is(nil, "get", "k")
	tt.is("OK", "set", "k", "v")
	tt.is("v", "get", "k")
	tt.is(nil, "set", "k", "w", "NX")
	tt.is("OK", "set", "k", "w", "XX")
	tt.is(nil, "set", "nope", "w", "XX")
	tt.is(int64(4), "append", "k", "xyz")
	tt.is("wxyz", "get", "k")
	tt.is(int64(4), "strlen", "k")
	tt.is("xy", "getrange", "k", "1", "2")
	tt.is("yz", "getrange", "k", "-2", "-1")
	tt.is("wxyz", "getset", "k", "new")
	tt.is(int64(1), "setnx", "n", "10")
	tt.is(int64(0), "setnx", "n", "11")
	tt.is(int64(11), "incr", "n")
	tt.is(int64(16), "incrby", "n", "5")
	tt.is(int64(15), "decr", "n")
	tt.is(int64(5), "decrby", "n", "10")
	tt.is("5.5", "incrbyfloat", "n", "0.5")
	tt.fails("ERR value is not an integer", "incr", "n")
	tt.fails("ERR value is not an integer", "incrby", "x", "abc")
	tt.is(int64(1), "incr", "fresh")
	tt.is("OK", "mset", "a", "1", "b", "2")
	tt.is([]any{"1", "2", nil}, "mget", "a", "b", "c")
	tt.is(int64(0), "msetnx", "a", "9", "c", "3")
	tt.is(nil, "get", "c")
	tt.is(int64(1), "msetnx", "c", "3", "d", "4")
	tt.fails("ERR wrong number of arguments for 'mset'", "mset", "a", "1", "b")
	tt.fails("ERR wrong number of arguments for 'get'", "get")
	tt.fails("ERR unknown command", "flushall")
	tt.fails("ERR syntax error", "set", "k", "v", "BOGUS")
	tt.fails("ERR invalid expire time in 'set'", "set", "k", "v", "EX", "0")
}

func TestBits(t *testing.T) {
	tt := newTester(t)
	tt.is("OK", "set", "b", "\xff\xf0\x00")
	tt.is(int64(12), "bitcount", "b")
	tt.is(int64(4), "bitcount", "b", "1", "1")
	tt.is(int64(1), "getbit", "b", "0")
	tt.is(int64(0), "getbit", "b", "12")
	tt.is(int64(0), "getbit", "b", "1000")
	tt.is(int64(12), "bitpos", "b", "0")
	tt.is(int64(0), "bitpos", "b", "1")
	tt.is(int64(-1), "bitpos", "b", "1", "2", "2")
	tt.is("OK", "set", "c", "\x0f")
	tt.is(int64(3), "bitop", "AND", "dest", "b", "c")
	tt.is("\x0f\x00\x00", "get", "dest")
	tt.is(int64(3), "bitop", "OR", "dest", "b", "c")
	tt.is("\xff\xf0\x00", "get", "dest")
	tt.is(int64(1), "bitop", "NOT", "dest", "c")
	tt.is("\xf0", "get", "dest")
	tt.fails("ERR syntax error", "bitop", "NAND", "dest", "b", "c")
}

func TestKeysAndExpiry(t *testing.T) {
	tt := newTester(t)
	tt.is("OK", "set", "a", "1")
	tt.is("OK", "set", "b", "2", "PX", "1500")
	tt.is(int64(2), "ttl", "b")
	tt.is(int64(1500), "pttl", "b")
	tt.is(int64(-1), "ttl", "a")
	tt.is(int64(-2), "ttl", "zz")
	tt.is(int64(3), "exists", "a", "b", "a", "zz")
	tt.is("string", "type", "a")
	tt.is("none", "type", "zz")
	tt.is(int64(2), "dbsize")
	tt.is([]any{"a", "b"}, "keys", "*")
	tt.is([]any{"b"}, "keys", "[b-c]")
	tt.now += 1500
	// Expired at the reader's clock: absent at once, before any sweep.
	tt.is(nil, "get", "b")
	tt.is(int64(1), "dbsize")
	if n := tt.s.Expired(tt.now); n != 1 {
		t.Fatalf("Expired = %d, want 1", n)
	}
	r := tt.s.Apply(&Command{Now: tt.now, Sweep: true})
	if r[0].Value != int64(1) {
		t.Fatalf("sweep removed %v", r[0].Value)
	}
	if keys, _ := tt.s.Stats(); keys != 1 {
		t.Fatalf("%d keys after the sweep, want 1", keys)
	}
	tt.is(int64(1), "expire", "a", "10")
	tt.is(int64(10), "ttl", "a")
	tt.is(int64(1), "persist", "a")
	tt.is(int64(-1), "ttl", "a")
	tt.is(int64(1), "pexpireat", "a", "1")
	tt.is(nil, "get", "a") // a past time deletes
	tt.is("OK", "set", "a", "1")
	tt.is(int64(1), "expireat", "a", "99999999999")
	tt.is(int64(0), "expire", "missing", "10")
	tt.is("OK", "setex", "s", "10", "v")
	tt.is(int64(10), "ttl", "s")
	tt.is("OK", "psetex", "p", "100", "v")
	tt.is(int64(100), "pttl", "p")
	tt.is("OK", "rename", "s", "s2")
	tt.is(int64(10), "ttl", "s2")
	tt.fails("ERR no such key", "rename", "s", "x")
	tt.is(int64(0), "renamenx", "s2", "p")
	tt.is(int64(1), "renamenx", "s2", "s3")
	tt.is(int64(2), "del", "s3", "p", "nope")
	tt.is(int64(1), "touch", "a", "nope")
	tt.is("PONG", "ping")
	tt.is("int", "object", "encoding", "a")
	tt.is(int64(1), "object", "refcount", "a")
	tt.is(nil, "object", "encoding", "nope")
	tt.is([]any{"1700000001", "500000"}, "time")
	tt.is("a", "randomkey")
	tt.is("OK", "flushdb")
	tt.is(int64(0), "dbsize")
	tt.is(nil, "randomkey")
}

func TestExpiryUsesTheCommandsTime(t *testing.T) {
	tt := newTester(t)
	tt.is("OK", "set", "k", "v", "EX", "1")
	// A replica applying a later command sees the key expired whatever
	// its own clock says: only the stamped time counts.
	r := tt.s.Apply(&Command{Now: tt.now + 1000, Cmds: [][]string{{"setnx", "k", "w"}}})
	if r[0].Value != int64(1) {
		t.Fatalf("setnx on an expired key = %v, want 1", r[0].Value)
	}
	// A command stamped earlier (a proposer's clock behind) does not take
	// the store back in time: k (no expiry now) stays.
	r = tt.s.Apply(&Command{Now: tt.now, Cmds: [][]string{{"get", "k"}}})
	if r[0].Value != "w" {
		t.Fatalf("get = %v", r[0].Value)
	}
}

func TestScan(t *testing.T) {
	tt := newTester(t)
	for _, k := range []string{"a1", "a2", "b1", "a3"} {
		tt.is("OK", "set", k, "v")
	}
	tt.is([]any{"2", []any{"a1", "a2"}}, "scan", "0", "COUNT", "2")
	tt.is([]any{"0", []any{"a3"}}, "scan", "2", "MATCH", "a*", "COUNT", "2")
	tt.fails("ERR invalid cursor", "scan", "x")
	tt.fails("ERR syntax error", "scan", "0", "FOO")
}

func TestHashes(t *testing.T) {
	tt := newTester(t)
	tt.is(int64(2), "hset", "h", "f1", "v1", "f2", "v2")
	tt.is(int64(0), "hset", "h", "f1", "x")
	tt.is("x", "hget", "h", "f1")
	tt.is(nil, "hget", "h", "nope")
	tt.is(int64(1), "hexists", "h", "f1")
	tt.is(int64(0), "hexists", "h", "f3")
	tt.is(int64(0), "hsetnx", "h", "f1", "y")
	tt.is(int64(1), "hsetnx", "h", "f3", "y")
	tt.is(int64(3), "hlen", "h")
	tt.is([]any{"f1", "f2", "f3"}, "hkeys", "h")
	tt.is([]any{"x", "v2", "y"}, "hvals", "h")
	tt.is(map[string]string{"f1": "x", "f2": "v2", "f3": "y"}, "hgetall", "h")
	tt.is([]any{"x", nil}, "hmget", "h", "f1", "no")
	tt.is("OK", "hmset", "h", "n", "1", "m", "2")
	tt.is(int64(11), "hincrby", "h", "n", "10")
	tt.is("2.5", "hincrbyfloat", "h", "m", "0.5")
	tt.fails("ERR hash value is not an integer", "hincrby", "h", "f1", "1")
	tt.is(int64(2), "hstrlen", "h", "f2")
	tt.is([]any{"0", []any{"f1", "x", "f2", "v2"}}, "hscan", "h", "0", "MATCH", "f[12]")
	tt.is(int64(2), "hdel", "h", "f1", "f2", "zz")
	tt.is(map[string]string{}, "hgetall", "nope")
	tt.fails("WRONGTYPE", "get", "h")
	tt.is("OK", "set", "str", "v")
	tt.fails("WRONGTYPE", "hget", "str", "f")
	tt.fails("WRONGTYPE", "hset", "str", "f", "v")
}
