package integration

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// specsReady sets a specification, waiting for the fresh cluster to agree
// on the feature version specifications need.
func specsReady(t *testing.T, p *proc, path, spec string) {
	t.Helper()
	eventually(t, 20*time.Second, "the specification to be accepted", func() bool {
		_, env := p.do(t, "PUT", path, spec)
		if env.Error != nil && env.Error.ID != "cluster.process.feature_unavailable" {
			t.Fatalf("updateSpecifications: %+v", env.Error)
		}
		return env.Error == nil
	})
}

// A specification set through node A is enforced by node C as soon as the
// call returns, and lifted everywhere once deleted through B: it is
// replicated state, not a per-node cache.
func TestSpecificationsHoldOnEveryNode(t *testing.T) {
	r := startRedis(t)
	ms := formRedis(t, r, 3)
	a, b, c := ms[0].proc, ms[1].proc, ms[2].proc
	mustOK(t, a, "POST", "/shop/_create", "")
	mustOK(t, a, "PUT", "/shop/items", "")
	for i := range 5 {
		spec := fmt.Sprintf(`{"fields":{"price":{"type":"integer","mandatory":true,"typeOptions":{"range":{"min":%d}}}}}`, i)
		specsReady(t, a, "/shop/items/_specifications", spec)
		_, env := c.do(t, "POST", "/shop/items/_create", fmt.Sprintf(`{"price":%d}`, i-1))
		if env.Error == nil || env.Error.ID != "validation.check.failed_field" {
			t.Fatalf("round %d: a price below the minimum written through C: %+v", i, env.Error)
		}
		mustOK(t, c, "POST", "/shop/items/_create", fmt.Sprintf(`{"price":%d}`, i))
	}
	mustOK(t, b, "DELETE", "/shop/items/_specifications", "")
	for _, m := range ms {
		mustOK(t, m.proc, "POST", "/shop/items/_create", `{"anything":"goes"}`)
		if _, env := m.proc.do(t, "GET", "/shop/items/_specifications", ""); env.Error == nil || env.Error.ID != "validation.assert.not_found" {
			t.Fatalf("%s: specification still there after its deletion: %+v", m.api, env.Error)
		}
	}
}

// Specifications survive a restart, from the log and from a snapshot.
func TestSpecificationsSurviveRestart(t *testing.T) {
	for _, snap := range []bool{false, true} {
		dir := t.TempDir()
		var args []string
		if snap {
			args = []string{"--raft-snapshot-threshold", "5", "--raft-snapshot-interval", "100ms", "--raft-trailing-logs", "2"}
		}
		// Its own index per round: in elasticsearch mode the storage
		// outlives the node's data dir.
		idx := map[bool]string{false: "/ilog", true: "/isnap"}[snap]
		p := start(t, dir, args...)
		mustOK(t, p, "POST", idx+"/_create", "")
		mustOK(t, p, "PUT", idx+"/c", "")
		specsReady(t, p, idx+"/c/_specifications", `{"strict":true,"fields":{"n":{"type":"numeric"}}}`)
		for i := range 10 {
			mustOK(t, p, "POST", idx+"/c/_create", fmt.Sprintf(`{"n":%d}`, i))
		}
		if snap {
			eventually(t, 10*time.Second, "a snapshot", func() bool {
				m, _ := filepath.Glob(filepath.Join(dir, "raft", "snapshots", "*", "state.bin"))
				return len(m) > 0
			})
		}
		if code := p.stop(); code != 0 {
			t.Fatalf("exit code %d after SIGTERM\n%s", code, p.Logs())
		}
		q := start(t, dir, args...)
		if _, env := q.do(t, "POST", idx+"/c/_create", `{"n":1,"extra":true}`); env.Error == nil || env.Error.ID != "validation.check.failed_document" {
			t.Fatalf("snapshot %v: strict specification not enforced after restart: %+v", snap, env.Error)
		}
		mustOK(t, q, "GET", idx+"/c/_specifications", "")
		q.stop()
	}
}
