package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Acknowledged means fsynced in the Raft log of a majority; the embedded
// store is written without fsync and rebuilt at every start (from the
// latest snapshot and the log after it, or from the whole log when there is
// no snapshot yet). Every node of a 3-node cluster is SIGKILLed right after
// the last acknowledgement, one node's document store is replaced by
// garbage (what a power loss could leave of a file written without syncs),
// and the restarted nodes must all hold every acknowledged write: first
// before any snapshot exists, then after every node has taken one.
func TestAcknowledgedWritesSurviveAKillOfEveryNode(t *testing.T) {
	r := startRedis(t)
	// Snapshots only when asked: phase 2 lowers the threshold by restart.
	ms := formRedis(t, r, 3)
	mustOK(t, ms[0].proc, "POST", "/dur/_create", "")
	mustOK(t, ms[0].proc, "PUT", "/dur/c", "{}")

	var acked atomic.Int64
	write := func(prefix string, n int) {
		var wg sync.WaitGroup
		for w := range 6 {
			wg.Go(func() {
				m := ms[w%len(ms)]
				for i := w; i < n; i += 6 {
					if _, env := m.do(t, "POST", fmt.Sprintf("/dur/c/%s%d/_create", prefix, i), `{"i":1}`); env.Error == nil {
						acked.Add(1)
					}
				}
			})
		}
		wg.Wait()
	}
	killAll := func(extra ...string) {
		for _, m := range ms {
			m.kill()
		}
		// A torn store: the file no longer even opens.
		if err := os.WriteFile(filepath.Join(ms[1].dataDir, "documents.db"), []byte(strings.Repeat("torn", 4096)), 0o600); err != nil {
			t.Fatal(err)
		}
		for i, m := range ms {
			back := &member{ip: m.ip, cluster: m.cluster, args: append(append([]string(nil), m.args...), extra...)}
			back.proc = launch(t, m.dataDir, m.api, back.args...)
			ms[i] = back
		}
		for _, m := range ms {
			m.waitReady(t)
		}
	}
	check := func(phase string) {
		for _, m := range ms {
			want := fmt.Sprintf(`"count":%d`, acked.Load())
			eventually(t, 30*time.Second, phase+": every acknowledged write on "+m.api, func() bool {
				_, env := m.do(t, "POST", "/dur/c/_count", `{}`)
				return env.Error == nil && strings.Contains(string(env.Result), want)
			})
		}
	}

	write("a", 60)
	if acked.Load() == 0 {
		t.Fatal("no write acknowledged")
	}
	for _, m := range ms {
		if snaps, _ := os.ReadDir(filepath.Join(m.dataDir, "raft", "snapshots")); len(snaps) > 0 {
			t.Fatalf("%s already has a snapshot: phase 1 must replay the whole log", m.api)
		}
	}
	killAll("--raft-snapshot-threshold", "16", "--raft-snapshot-interval", "200ms")
	check("no snapshot")

	write("b", 120)
	for _, m := range ms {
		eventually(t, 30*time.Second, "a snapshot on "+m.api, func() bool {
			snaps, _ := os.ReadDir(filepath.Join(m.dataDir, "raft", "snapshots"))
			return len(snaps) > 0
		})
	}
	write("c", 30)
	killAll()
	check("after a snapshot")
}
