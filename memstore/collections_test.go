package memstore

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

func TestLists(t *testing.T) {
	tt := newTester(t)
	tt.is(int64(3), "rpush", "l", "a", "b", "c")
	tt.is(int64(5), "lpush", "l", "y", "z")
	tt.is([]any{"z", "y", "a", "b", "c"}, "lrange", "l", "0", "-1")
	tt.is(int64(0), "lpushx", "nope", "v")
	tt.is(int64(0), "rpushx", "nope", "v")
	tt.is(int64(6), "rpushx", "l", "a")
	tt.is(int64(6), "llen", "l")
	tt.is("a", "lindex", "l", "-1")
	tt.is(nil, "lindex", "l", "99")
	tt.is(int64(7), "linsert", "l", "BEFORE", "b", "ins")
	tt.is(int64(-1), "linsert", "l", "AFTER", "nope", "x")
	tt.fails("ERR syntax error", "linsert", "l", "MIDDLE", "b", "x")
	tt.is(int64(2), "lrem", "l", "0", "a")
	tt.is([]any{"z", "y", "ins", "b", "c"}, "lrange", "l", "0", "-1")
	tt.is("OK", "lset", "l", "0", "Z")
	tt.fails("ERR index out of range", "lset", "l", "10", "x")
	tt.fails("ERR no such key", "lset", "nope", "0", "x")
	tt.is("Z", "lpop", "l")
	tt.is("c", "rpop", "l")
	tt.is("OK", "ltrim", "l", "1", "-1")
	tt.is([]any{"ins", "b"}, "lrange", "l", "0", "-1")
	tt.is("b", "rpoplpush", "l", "l2")
	tt.is([]any{"b"}, "lrange", "l2", "0", "-1")
	tt.is("ins", "rpoplpush", "l", "l2")
	tt.is(int64(0), "llen", "l") // emptied lists disappear
	tt.is("none", "type", "l")
	tt.is(nil, "lpop", "l")
	tt.is(int64(3), "rpush", "r", "a", "b", "a")
	tt.is(int64(1), "lrem", "r", "-1", "a")
	tt.is([]any{"a", "b"}, "lrange", "r", "0", "-1")
}

func TestSets(t *testing.T) {
	tt := newTester(t)
	tt.is(int64(3), "sadd", "s1", "a", "b", "c")
	tt.is(int64(0), "sadd", "s1", "a")
	tt.is(int64(2), "sadd", "s2", "b", "d")
	tt.is(int64(3), "scard", "s1")
	tt.is(int64(1), "sismember", "s1", "a")
	tt.is(int64(0), "sismember", "s1", "z")
	tt.is([]any{"a", "b", "c"}, "smembers", "s1")
	tt.is([]any{"a", "c"}, "sdiff", "s1", "s2")
	tt.is([]any{"b"}, "sinter", "s1", "s2")
	tt.is([]any{"a", "b", "c", "d"}, "sunion", "s1", "s2")
	tt.is(int64(2), "sdiffstore", "d", "s1", "s2")
	tt.is([]any{"a", "c"}, "smembers", "d")
	tt.is(int64(1), "sinterstore", "i", "s1", "s2")
	tt.is(int64(4), "sunionstore", "u", "s1", "s2")
	tt.is(int64(1), "smove", "s1", "s2", "a")
	tt.is(int64(0), "smove", "s1", "s2", "a")
	tt.is(int64(1), "srem", "s1", "b", "zz")
	tt.is([]any{"0", []any{"a", "b"}}, "sscan", "s2", "0", "MATCH", "[ab]")
	m, err := tt.do("srandmember", "u")
	if err != nil || !strings.Contains("abcd", m.(string)) {
		t.Fatalf("srandmember = %v, %v", m, err)
	}
	ms, _ := tt.do("srandmember", "u", "2")
	if len(ms.([]any)) != 2 {
		t.Fatalf("srandmember 2 = %v", ms)
	}
	ms, _ = tt.do("srandmember", "u", "-6")
	if len(ms.([]any)) != 6 {
		t.Fatalf("srandmember -6 = %v", ms)
	}
	popped, _ := tt.do("spop", "u", "3")
	if len(popped.([]any)) != 3 {
		t.Fatalf("spop 3 = %v", popped)
	}
	tt.is(int64(1), "scard", "u")
	one, _ := tt.do("spop", "u")
	if _, ok := one.(string); !ok {
		t.Fatalf("spop = %v", one)
	}
	tt.is(nil, "spop", "u")
	tt.is("OK", "set", "str", "v")
	tt.fails("WRONGTYPE", "sadd", "str", "x")
	tt.fails("WRONGTYPE", "sunion", "s2", "str")
}

func TestSpopIsTheSameOnEveryReplica(t *testing.T) {
	var got []string
	for range 3 {
		s := New()
		c := &Command{Now: 1, Seed: 7, Cmds: [][]string{{"sadd", "s", "a", "b", "c", "d", "e", "f"}, {"spop", "s", "3"}}}
		b, _ := json.Marshal(s.Apply(c))
		got = append(got, string(b))
	}
	if got[0] != got[1] || got[1] != got[2] {
		t.Fatalf("replicas disagree: %v", got)
	}
}

func TestSortedSets(t *testing.T) {
	tt := newTester(t)
	tt.is(int64(3), "zadd", "z", "1", "a", "2", "b", "3", "c")
	tt.is(int64(0), "zadd", "z", "NX", "5", "a")
	tt.is(int64(1), "zadd", "z", "CH", "XX", "1.5", "a", "9", "new")
	tt.is("3.5", "zadd", "z", "INCR", "2", "a")
	tt.fails("ERR XX and NX", "zadd", "z", "NX", "XX", "1", "a")
	tt.fails("ERR value is not a valid float", "zadd", "z", "x", "a")
	tt.is(int64(3), "zcard", "z")
	tt.is("3.5", "zscore", "z", "a")
	tt.is(nil, "zscore", "z", "nope")
	tt.is("5", "zincrby", "z", "3", "b")
	tt.is([]any{"c", "a", "b"}, "zrange", "z", "0", "-1")
	tt.is([]any{"c", "3", "a", "3.5"}, "zrange", "z", "0", "1", "WITHSCORES")
	tt.is([]any{"b", "a", "c"}, "zrevrange", "z", "0", "-1")
	tt.is(int64(0), "zrank", "z", "c")
	tt.is(int64(0), "zrevrank", "z", "b")
	tt.is(nil, "zrank", "z", "nope")
	tt.is(int64(2), "zcount", "z", "3", "(5")
	tt.is([]any{"a", "3.5", "b", "5"}, "zrangebyscore", "z", "(3", "+inf", "WITHSCORES")
	tt.is([]any{"b"}, "zrangebyscore", "z", "-inf", "+inf", "LIMIT", "2", "1")
	tt.is([]any{"b", "a"}, "zrevrangebyscore", "z", "+inf", "(3")
	tt.fails("ERR min or max is not a float", "zrangebyscore", "z", "x", "1")
	tt.is(int64(3), "zadd", "lex", "0", "a", "0", "b", "0", "c")
	tt.is([]any{"a", "b"}, "zrangebylex", "lex", "-", "(c")
	tt.is([]any{"c", "b"}, "zrevrangebylex", "lex", "+", "[b")
	tt.is([]any{"b"}, "zrangebylex", "lex", "-", "+", "LIMIT", "1", "1")
	tt.is(int64(2), "zlexcount", "lex", "[b", "+")
	tt.fails("ERR min or max not valid string range item", "zrangebylex", "lex", "a", "+")
	tt.is(int64(1), "zremrangebylex", "lex", "[a", "[a")
	tt.is(int64(1), "zremrangebyrank", "lex", "0", "0")
	tt.is([]any{"c"}, "zrange", "lex", "0", "-1")
	tt.is(int64(2), "zadd", "u", "1", "a", "10", "x")
	tt.is(int64(4), "zunionstore", "dst", "2", "z", "u", "WEIGHTS", "1", "2")
	tt.is([]any{"c", "3", "b", "5", "a", "5.5", "x", "20"}, "zrange", "dst", "0", "-1", "WITHSCORES")
	tt.is(int64(1), "zinterstore", "dst2", "2", "z", "u", "AGGREGATE", "MAX")
	tt.is([]any{"a", "3.5"}, "zrange", "dst2", "0", "-1", "WITHSCORES")
	tt.is(int64(1), "zremrangebyscore", "dst", "20", "20")
	tt.is(int64(2), "zrem", "dst", "a", "b", "nope")
	tt.is([]any{"0", []any{"a", "3.5"}}, "zscan", "z", "0", "MATCH", "a")
}

func TestGeo(t *testing.T) {
	tt := newTester(t)
	tt.is(int64(2), "geoadd", "Sicily", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania")
	d, err := tt.do("geodist", "Sicily", "Palermo", "Catania")
	if err != nil {
		t.Fatal(err)
	}
	// Redis answers 166274.1516 for these points.
	if f, _ := strconv.ParseFloat(d.(string), 64); f < 166274 || f > 166275 {
		t.Fatalf("geodist = %v", d)
	}
	tt.is("166.2742", "geodist", "Sicily", "Palermo", "Catania", "km")
	tt.is(nil, "geodist", "Sicily", "Palermo", "nope")
	tt.is([]any{"sqc8b49rny0", "sqdtr74hyu0"}, "geohash", "Sicily", "Palermo", "Catania")
	pos, _ := tt.do("geopos", "Sicily", "Palermo", "nope")
	p := pos.([]any)
	lon, _ := strconv.ParseFloat(p[0].([]any)[0].(string), 64)
	if lon < 13.3613 || lon > 13.3614 || p[1] != nil {
		t.Fatalf("geopos = %v", pos)
	}
	tt.is([]any{"Catania", "Palermo"}, "georadius", "Sicily", "15", "37", "200", "km", "ASC")
	tt.is([]any{"Palermo"}, "georadius", "Sicily", "15", "37", "200", "km", "DESC", "COUNT", "1")
	tt.is([]any{"Catania"}, "georadius", "Sicily", "15", "37", "100", "km")
	tt.is([]any{[]any{"Catania", "56.4413"}}, "georadius", "Sicily", "15", "37", "100", "km", "WITHDIST")
	tt.is([]any{"Palermo"}, "georadiusbymember", "Sicily", "Palermo", "10", "km")
	tt.fails("ERR invalid longitude,latitude pair", "geoadd", "Sicily", "200", "10", "x")
	tt.fails("ERR unsupported unit", "georadius", "Sicily", "15", "37", "100", "parsec")
}

func TestSortAndHyperLogLog(t *testing.T) {
	tt := newTester(t)
	tt.is(int64(4), "rpush", "l", "3", "1", "10", "2")
	tt.is([]any{"1", "2", "3", "10"}, "sort", "l")
	tt.is([]any{"1", "10", "2", "3"}, "sort", "l", "ALPHA")
	tt.is([]any{"10", "3"}, "sort", "l", "DESC", "LIMIT", "0", "2")
	tt.is("OK", "mset", "w_1", "9", "w_2", "1", "w_3", "5", "w_10", "0")
	tt.is(int64(1), "hset", "h_1", "name", "one")
	tt.is([]any{"10", "2", "3", "1"}, "sort", "l", "BY", "w_*")
	tt.is([]any{"one", "1"}, "sort", "l", "BY", "w_*", "LIMIT", "3", "1", "GET", "h_*->name", "GET", "#")
	if !IsWrite([]string{"sort", "l", "STORE", "dst"}) || IsWrite([]string{"sort", "l"}) {
		t.Fatal("sort is a write only with STORE")
	}
	tt.is(int64(4), "sort", "l", "STORE", "dst")
	tt.is([]any{"1", "2", "3", "10"}, "lrange", "dst", "0", "-1")
	tt.is("OK", "set", "bad", "x")
	tt.is(int64(1), "rpush", "bl", "x")
	tt.fails("ERR One or more scores", "sort", "bl")

	tt.is(int64(1), "pfadd", "hll", "a", "b", "c")
	tt.is(int64(0), "pfadd", "hll", "a")
	tt.is(int64(3), "pfcount", "hll")
	tt.is(int64(1), "pfadd", "hll2", "c", "d")
	tt.is(int64(4), "pfcount", "hll", "hll2")
	tt.is("OK", "pfmerge", "hll3", "hll", "hll2")
	tt.is(int64(4), "pfcount", "hll3")
	tt.fails("WRONGTYPE", "pfadd", "bad", "x")
}

func TestLimitsLeaveTheStoreUnchanged(t *testing.T) {
	tt := newTester(t)
	big := strings.Repeat("x", MaxValueLen)
	tt.is("OK", "set", "k", big)
	tt.fails("LIMIT string exceeds maximum allowed size", "append", "k", "y")
	tt.is(int64(MaxValueLen), "strlen", "k")
	args := []string{"rpush", "l"}
	for i := range MaxElements {
		args = append(args, strconv.Itoa(i))
	}
	tt.is(int64(MaxElements), args...)
	tt.fails("LIMIT a list may hold at most", "rpush", "l", "one more")
	tt.is(int64(MaxElements), "llen", "l")
	// A failure half-way through restores what the command had changed.
	tt.is(int64(2), "sadd", "s", "a", "b")
	sargs := []string{"sadd", "s"}
	for i := range MaxElements {
		sargs = append(sargs, "m"+strconv.Itoa(i))
	}
	tt.fails("LIMIT a set may hold at most", sargs...)
	tt.is([]any{"a", "b"}, "smembers", "s")
	tt.fails("LIMIT key too long", "set", strings.Repeat("k", MaxKeyLen+1), "v")
	tt.fails("LIMIT an argument is larger", "set", "k", big+"y")
	_, before := tt.s.Stats()
	tt.is(int64(1), "del", "k")
	if _, after := tt.s.Stats(); after >= before-MaxValueLen {
		t.Fatalf("deleting a 1 MiB value took the size from %d to %d", before, after)
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	tt := newTester(t)
	for _, c := range [][]string{
		{"set", "s", "v", "EX", "100"}, {"hset", "h", "f", "v"}, {"rpush", "l", "a", "b"},
		{"sadd", "set", "x", "y"}, {"zadd", "z", "-inf", "lo", "2.5", "mid", "+inf", "hi"}, {"pfadd", "p", "a", "b"},
	} {
		tt.do(c...)
	}
	b, err := json.Marshal(tt.s)
	if err != nil {
		t.Fatal(err)
	}
	r := New()
	if err := json.Unmarshal(b, r); err != nil {
		t.Fatal(err)
	}
	b2, _ := json.Marshal(r)
	if string(b) != string(b2) {
		t.Fatalf("snapshot changed through a round trip:\n%s\n%s", b, b2)
	}
	_, sz1 := tt.s.Stats()
	_, sz2 := r.Stats()
	if sz1 != sz2 {
		t.Fatalf("sizes %d and %d", sz1, sz2)
	}
	got, _ := r.Read([]string{"zrange", "z", "0", "-1", "WITHSCORES"}, tt.now, nil)
	g, _ := json.Marshal(got)
	if string(g) != `["lo","-inf","mid","2.5","hi","inf"]` {
		t.Fatalf("restored zset = %s", g)
	}
	ttl, _ := r.Read([]string{"ttl", "s"}, tt.now, nil)
	if ttl != int64(100) {
		t.Fatalf("restored ttl = %v", ttl)
	}
}

func TestReadRefusesWrites(t *testing.T) {
	s := New()
	if _, err := s.Read([]string{"set", "k", "v"}, 0, nil); err == nil {
		t.Fatal("Read ran a write")
	}
}

func FuzzApply(f *testing.F) {
	f.Add("set k v EX 10\nget k\nzadd z 1 a\nzrange z 0 -1")
	f.Add("rpush l a b\nlrem l 0 a\nsort l ALPHA STORE d")
	// One line per family, so that mutations reach every command.
	f.Add("set s 10\nappend s x\nincrby n 3\nincrbyfloat f 1.5\ngetrange s 0 -1\nsetex t 5 v\npsetex p 5 v\ngetset s y\nmset a 1 b 2\nmsetnx c 1\nbitop XOR d a b\nbitcount a 0 -1\nbitpos a 1 0\ngetbit a 3\npfadd h a b\npfmerge h2 h\npfcount h h2")
	f.Add("hset h f v g w\nhincrby h n 2\nhincrbyfloat h x 0.5\nhdel h f\nhmset h a 1\nhsetnx h a 2\nhscan h 0 MATCH * COUNT 2\nhgetall h\nhstrlen h g")
	f.Add("lpush l a b c\nlinsert l BEFORE b x\nlset l 0 y\nltrim l 0 1\nrpoplpush l m\nlpop l\nrpushx m z\nlindex m -1\nlrange m 0 -1")
	f.Add("sadd s a b c\nsadd t b\nsdiffstore d s t\nsinterstore i s t\nsunionstore u s t\nsmove s t a\nspop s 2\nsrandmember u -3\nsscan u 0")
	f.Add("zadd z NX CH 1 a 2 b\nzincrby z 3 a\nzunionstore d 2 z z WEIGHTS 1 2 AGGREGATE MAX\nzinterstore e 1 z\nzrangebyscore z (1 +inf WITHSCORES LIMIT 0 1\nzrevrangebylex z + - LIMIT 0 2\nzremrangebyrank z 0 0\nzremrangebyscore z -inf 1\nzremrangebylex z - +\nzscan z 0")
	f.Add("geoadd g 13.3 38.1 p 15.0 37.5 c\ngeodist g p c km\ngeohash g p\ngeopos g p x\ngeoradius g 15 37 200 km WITHDIST WITHCOORD WITHHASH COUNT 1 DESC\ngeoradiusbymember g p 100 km")
	f.Add("set k v\nexpire k 10\npexpireat k 5000\npersist k\nrename k k2\nrenamenx k2 k3\nttl k3\ntype k3\nscan 0 MATCH k* COUNT 5\nkeys *\nobject encoding k3\ntouch k3\ndbsize\nrandomkey\nflushdb")
	f.Fuzz(func(t *testing.T, script string) {
		var cmds [][]string
		for _, line := range strings.Split(script, "\n") {
			if f := strings.Fields(line); len(f) > 0 {
				cmds = append(cmds, f)
			}
		}
		if len(cmds) > 50 {
			cmds = cmds[:50]
		}
		a, b := New(), New()
		ra := a.Apply(&Command{Now: 1000, Seed: 1, Cmds: cmds})
		rb := b.Apply(&Command{Now: 1000, Seed: 1, Cmds: cmds})
		ja, _ := json.Marshal(ra)
		jb, _ := json.Marshal(rb)
		sa, _ := json.Marshal(a)
		sb, _ := json.Marshal(b)
		if string(ja) != string(jb) || string(sa) != string(sb) {
			t.Fatalf("two replicas disagree on %q", script)
		}
		a.mu.RLock()
		var sum int64
		for _, e := range a.keys {
			sum += e.size
		}
		a.mu.RUnlock()
		if _, bytes := a.Stats(); bytes != sum {
			t.Fatalf("accounted %d bytes, entries hold %d", bytes, sum)
		}
	})
}

// The replies of one logged command are bounded: past the bound, a command
// fails whole and changes nothing.
func TestRepliesAreBounded(t *testing.T) {
	s := New()
	big := strings.Repeat("v", MaxValueLen)
	var cmds [][]string
	for i := range 20 {
		cmds = append(cmds, []string{"set", "k" + strconv.Itoa(i), big})
	}
	for _, r := range s.Apply(&Command{Now: 1, Cmds: cmds}) {
		if r.Err != "" {
			t.Fatal(r.Err)
		}
	}
	cmds = nil
	for i := range 20 {
		cmds = append(cmds, []string{"getset", "k" + strconv.Itoa(i), "small"})
	}
	rs := s.Apply(&Command{Now: 2, Cmds: cmds})
	ok := 0
	for i, r := range rs {
		v, _ := s.Read([]string{"get", "k" + strconv.Itoa(i)}, 2, nil)
		switch {
		case r.Err == "":
			ok++
			if v != "small" {
				t.Fatalf("getset %d replied but did not apply", i)
			}
		case strings.HasPrefix(r.Err, "LIMIT the replies"):
			if v != big {
				t.Fatalf("getset %d failed but changed the value", i)
			}
		default:
			t.Fatalf("getset %d: %s", i, r.Err)
		}
	}
	if ok == 0 || ok == 20 {
		t.Fatalf("%d of 20 replies fit in %d bytes", ok, MaxReplyBytes)
	}
}
