package integration

import (
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// A memory storage write acknowledged by one node is read on every other
// node right after it returns: the keys are replicated state, read after
// the node's read barrier, not a per-node cache. Expirations too: a key
// given a short life reads as absent on every node once it is over, and
// the leader's sweep removes it from all of them.
func TestMemoryStorageWriteOnAReadOnC(t *testing.T) {
	r := startRedis(t)
	ms := formRedis(t, r, 3)
	a, c := ms[0], ms[2]
	for i := range 20 {
		mustOK(t, a.proc, "POST", fmt.Sprintf("/ms/_set/k%d", i), fmt.Sprintf(`{"value":"v%d"}`, i))
		env := mustOK(t, c.proc, "GET", fmt.Sprintf("/ms/k%d", i), "")
		if want := fmt.Sprintf(`"v%d"`, i); string(env.Result) != want {
			t.Fatalf("k%d read on C right after its write on A = %s, want %s", i, env.Result, want)
		}
		mustOK(t, c.proc, "POST", "/ms/_incr/counter", "")
		env = mustOK(t, ms[1].proc, "GET", "/ms/counter", "")
		if want := fmt.Sprintf(`"%d"`, i+1); string(env.Result) != want {
			t.Fatalf("counter read on B after %d increments on C = %s", i+1, env.Result)
		}
	}
	mustOK(t, a.proc, "POST", "/ms/_set/short", `{"value":"v","px":300}`)
	for _, m := range ms {
		eventually(t, 10*time.Second, "the short-lived key to read as absent on "+m.api, func() bool {
			_, env := m.do(t, "GET", "/ms/short", "")
			return env.Error == nil && string(env.Result) == "null"
		})
		eventually(t, 10*time.Second, "the sweep to remove it on "+m.api, func() bool {
			_, env := m.do(t, "GET", "/ms/_dbsize", "")
			return env.Error == nil && string(env.Result) == "21"
		})
	}
}

// Memory storage keys survive a restart, from the log alone and from a
// snapshot plus the log, with their expirations.
func TestMemoryStorageSurvivesRestart(t *testing.T) {
	for _, snap := range []bool{false, true} {
		dir := t.TempDir()
		var args []string
		if snap {
			args = []string{"--raft-snapshot-threshold", "5", "--raft-snapshot-interval", "100ms", "--raft-trailing-logs", "2"}
		}
		p := start(t, dir, args...)
		for i := range 12 {
			mustOK(t, p, "POST", "/ms/_rpush/list", fmt.Sprintf(`{"values":["v%d"]}`, i))
		}
		mustOK(t, p, "POST", "/ms/_set/ttl", `{"value":"x","ex":1000}`)
		mustOK(t, p, "POST", "/ms/_zadd/z", `{"elements":[{"score":"-inf","member":"lo"},{"score":2.5,"member":"mid"}]}`)
		if snap {
			// The keys must come back from a snapshot, not only the log.
			eventually(t, 10*time.Second, "a snapshot", func() bool {
				m, _ := filepath.Glob(filepath.Join(dir, "raft", "snapshots", "*", "state.bin"))
				return len(m) > 0
			})
		}
		if code := p.stop(); code != 0 {
			t.Fatalf("exit code %d after SIGTERM\n%s", code, p.Logs())
		}
		q := start(t, dir, args...)
		if env := mustOK(t, q, "GET", "/ms/_llen/list", ""); string(env.Result) != "12" {
			t.Fatalf("snapshot %v: list length after restart %s", snap, env.Result)
		}
		env := mustOK(t, q, "GET", "/ms/_ttl/ttl", "")
		if ttl, err := strconv.Atoi(string(env.Result)); err != nil || ttl < 990 || ttl > 1000 {
			t.Fatalf("snapshot %v: ttl after restart %s", snap, env.Result)
		}
		if env := mustOK(t, q, "GET", "/ms/_zrange/z?start=0&stop=-1&options=withscores", ""); string(env.Result) != `["lo","-inf","mid","2.5"]` {
			t.Fatalf("snapshot %v: zset after restart %s", snap, env.Result)
		}
		q.stop()
	}
}
