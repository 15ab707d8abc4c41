package integration

import (
	"fmt"
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
