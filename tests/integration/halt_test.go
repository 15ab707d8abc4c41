package integration

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// A replica whose store cannot commit a committed entry (here a failpoint
// fails every commit after the first two, as a full or broken disk would)
// must stop with its own exit code instead of skipping the entry, while the
// others keep serving; restarted healthy on its data dir, it replays what it
// missed and ends with exactly the others' documents.
func TestFailedApplyStopsTheNodeAndItConvergesOnRestart(t *testing.T) {
	failBin := failpointBin(t)
	r := startRedis(t)
	join := []string{"--redis", r.url()}
	ms := formRedis(t, r, 2)
	// No document write has been applied yet: the broken node's first two
	// store commits are the index and the collection below.
	broken := clusterNodeWith(t, failBin, []string{"KORUM_FAILPOINT_STORE_FAIL_AFTER=2"}, 3, "", true, join...)
	waitMembers(t, append(ms, broken), 3)
	if !strings.Contains(broken.Logs(), "failpoint: the store fails every commit") {
		t.Fatal("the failpoint is not enabled")
	}
	mustOK(t, ms[0].proc, "POST", "/halt/_create", "")
	mustOK(t, ms[0].proc, "PUT", "/halt/c", "{}")

	// Each write is retried until acknowledged: one sent while the broken
	// node led, or was forwarded to it, may get an unknown outcome.
	const docs = 20
	for i := range docs {
		path := fmt.Sprintf("/halt/c/d%d", i)
		body := fmt.Sprintf(`{"n":%d}`, i)
		eventually(t, 30*time.Second, "write "+path, func() bool {
			_, env := ms[i%2].do(t, "PUT", path, body)
			return env.Error == nil
		})
	}
	if code := broken.exitCode(t, 30*time.Second); code != 15 {
		t.Fatalf("the node that could not apply exited with %d, want 15\n%s", code, tail(broken.Logs(), 20))
	}
	if !strings.Contains(broken.Logs(), "a committed log entry could not be applied") {
		t.Fatalf("the node did not say why it stopped:\n%s", tail(broken.Logs(), 20))
	}

	// Its supervisor restarts it, without the fault.
	back := clusterNode(t, 3, broken.dataDir, true, join...)
	all := append(ms, back)
	waitMembers(t, all, 3)
	want := documents(t, ms[0].proc)
	if len(want) != docs {
		t.Fatalf("the healthy nodes hold %d documents, want %d", len(want), docs)
	}
	for _, m := range all {
		eventually(t, 30*time.Second, m.api+" to hold the same documents", func() bool {
			return reflect.DeepEqual(documents(t, m.proc), want)
		})
	}
}

// documents returns every document of halt/c on p, by id.
func documents(t *testing.T, p *proc) map[string]any {
	t.Helper()
	_, env := p.do(t, "POST", "/halt/c/_search?size=1000", `{"sort":["_id"]}`)
	if env.Error != nil {
		return nil
	}
	var res struct {
		Hits []struct {
			ID     string         `json:"_id"`
			Source map[string]any `json:"_source"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(env.Result, &res); err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	for _, h := range res.Hits {
		out[h.ID] = h.Source["n"]
	}
	return out
}
