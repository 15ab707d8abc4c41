package integration

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitMembersAs is waitMembers for a cluster whose anonymous user may not
// read cluster:status.
func waitMembersAs(t *testing.T, token string, ms []*member, n int) {
	t.Helper()
	for _, m := range ms {
		eventually(t, 30*time.Second, fmt.Sprintf("%s to see %d nodes", m.api, n), func() bool {
			env := m.doAs(t, token, "GET", "/cluster/_status", "")
			var st clusterStatus
			return env.Error == nil && json.Unmarshal(env.Result, &st) == nil &&
				st.ActiveNodes == n && st.Leader != "" && voters(st) == min(n, 3)
		})
	}
}

// canonical re-encodes a JSON value with sorted keys.
func canonical(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

type hits struct {
	Hits []struct {
		ID     string          `json:"_id"`
		Source json.RawMessage `json:"_source"`
	} `json:"hits"`
	Total int `json:"total"`
}

// sortedHits is a search's hits as "id source" lines, sorted.
func sortedHits(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var h hits
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	if h.Total != len(h.Hits) {
		t.Fatalf("search returned %d of %d hits: raise its size", len(h.Hits), h.Total)
	}
	var out []string
	for _, x := range h.Hits {
		out = append(out, x.ID+" "+canonical(t, x.Source))
	}
	sort.Strings(out)
	return out
}

// clusterState reads, through p with token, everything a backup must carry
// over: indexes, collections, mappings, documents, memory storage keys and
// values, users, profiles and roles.
func clusterState(t *testing.T, p *proc, token string) map[string]any {
	t.Helper()
	st := map[string]any{}
	var il struct {
		Indexes []string `json:"indexes"`
	}
	json.Unmarshal(okAs(t, p, token, "GET", "/_list", "").Result, &il)
	sort.Strings(il.Indexes)
	st["indexes"] = il.Indexes
	for _, i := range il.Indexes {
		var cl struct {
			Collections []struct {
				Name string `json:"name"`
			} `json:"collections"`
		}
		json.Unmarshal(okAs(t, p, token, "GET", "/"+i+"/_list?type=stored", "").Result, &cl)
		var names []string
		for _, c := range cl.Collections {
			names = append(names, c.Name)
		}
		sort.Strings(names)
		st["collections "+i] = names
		for _, c := range names {
			st["mapping "+i+"/"+c] = canonical(t, okAs(t, p, token, "GET", "/"+i+"/"+c+"/_mapping", "").Result)
			st["documents "+i+"/"+c] = sortedHits(t, okAs(t, p, token, "POST", "/"+i+"/"+c+"/_search?size=5000", `{}`).Result)
		}
	}
	var keys []string
	json.Unmarshal(okAs(t, p, token, "GET", "/ms/_keys/*", "").Result, &keys)
	sort.Strings(keys)
	st["ms keys"] = keys
	for _, k := range keys {
		path := "/ms/" + url.PathEscape(k)
		if strings.HasPrefix(k, "h:") {
			path = "/ms/_hgetall/" + url.PathEscape(k)
		}
		st["ms "+k] = canonical(t, okAs(t, p, token, "GET", path, "").Result)
	}
	for _, kind := range []string{"users", "profiles", "roles"} {
		st[kind] = sortedHits(t, okAs(t, p, token, "POST", "/"+kind+"/_search?size=1000", `{}`).Result)
	}
	return st
}

func snapshotStatus(t *testing.T, file string) string {
	t.Helper()
	code, out := runKorum(t, "snapshot", "status", file)
	if code != 0 || !strings.Contains(out, "checksum:       ok") {
		t.Fatalf("snapshot status %s: %d\n%s", file, code, out)
	}
	return out
}

// An idle cluster's whole state survives save and restore: the restored
// cluster (one node founding it, two joining through Redis) holds the same
// indexes, collections, mappings, documents, memory storage and security
// (its users log in with their passwords). Saving needs admin:snapshot's
// right once the cluster is locked down, and a damaged backup is refused.
func TestSnapshotSaveAndRestoreAnIdleCluster(t *testing.T) {
	r := startRedis(t)
	// Logins are not rate limited: the test logs in often as one user.
	src := formRedis(t, r, 3, "--logins-per-second", "0")
	// Security changes go through the leader: one made through a follower
	// is acknowledged once the leader applied it, which that follower may
	// not have yet (see the report of this branch), and the next change
	// is checked against the state of the node that receives it.
	leader, _ := leaderOf(t, src)
	p := leader.proc
	okAs(t, p, "", "POST", "/_createFirstAdmin/admin?reset=true",
		`{"credentials":{"local":{"username":"admin","password":"adminpw"}}}`)
	admin := login(t, p, "admin", "adminpw")
	for _, i := range []string{"shop", "logs"} {
		okAs(t, p, admin, "POST", "/"+i+"/_create", "")
	}
	okAs(t, p, admin, "PUT", "/shop/items", `{"mappings":{"properties":{"price":{"type":"float"},"name":{"type":"keyword"}}}}`)
	okAs(t, p, admin, "PUT", "/shop/orders", `{"mappings":{"dynamic":"strict","properties":{"item":{"type":"keyword"},"qty":{"type":"integer"}}}}`)
	okAs(t, p, admin, "PUT", "/logs/events", `{}`)
	for k := range 20 {
		m := src[k%3].proc
		okAs(t, m, admin, "POST", fmt.Sprintf("/shop/items/item%d/_create", k), fmt.Sprintf(`{"name":"n%d","price":%d.5}`, k, k))
		okAs(t, m, admin, "POST", fmt.Sprintf("/shop/orders/o%d/_create", k), fmt.Sprintf(`{"item":"item%d","qty":%d}`, k, k+1))
		okAs(t, m, admin, "POST", "/logs/events/_create", fmt.Sprintf(`{"seq":%d,"nested":{"a":[1,2,%d]}}`, k, k))
	}
	okAs(t, p, admin, "DELETE", "/shop/items/item3", "")
	okAs(t, p, admin, "PUT", "/shop/items/item4/_update", `{"price":99}`)
	okAs(t, p, admin, "POST", "/ms/_set/s:greeting", `{"value":"hello"}`)
	okAs(t, p, admin, "POST", "/ms/_set/s:counter", `{"value":"41"}`)
	okAs(t, p, admin, "POST", "/ms/_incr/s:counter", "")
	okAs(t, p, admin, "POST", "/ms/_hset/h:user", `{"field":"name","value":"ada"}`)
	okAs(t, p, admin, "POST", "/roles/reader/_create", `{"controllers":{"document":{"actions":{"get":true,"search":true}}}}`)
	okAs(t, p, admin, "POST", "/profiles/reader/_create", `{"policies":[{"roleId":"reader","restrictedTo":[{"index":"shop"}]}]}`)
	okAs(t, p, admin, "POST", "/users/ann/_create",
		`{"content":{"profileIds":["reader"],"name":"Ann"},"credentials":{"local":{"username":"ann","password":"annpw"}}}`)
	// Every node knows the users (see above).
	for _, m := range src {
		for u, pw := range map[string]string{"admin": "adminpw", "ann": "annpw"} {
			eventually(t, 10*time.Second, u+" known to "+m.api, func() bool {
				_, env := m.do(t, "POST", "/_login/local", `{"username":"`+u+`","password":"`+pw+`"}`)
				return env.Error == nil
			})
		}
	}
	want := clusterState(t, src[2].proc, admin)
	// The comparison below is only as good as what was read.
	if len(want["indexes"].([]string)) != 2 || len(want["documents shop/items"].([]string)) != 19 ||
		len(want["documents logs/events"].([]string)) != 20 || len(want["ms keys"].([]string)) != 3 ||
		want["ms s:counter"] != `"42"` || len(want["users"].([]string)) != 2 || len(want["roles"].([]string)) < 4 ||
		!strings.Contains(want["mapping shop/orders"].(string), `"dynamic":"strict"`) {
		t.Fatalf("the source state was not read whole: %v", want)
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "backup.korum")
	// Locked down: the anonymous user and a user without the right are
	// refused, and no file is left behind.
	if code, out := runKorum(t, "snapshot", "save", file, "--addr", src[1].api); code != 1 || !strings.Contains(out, "security.rights.unauthorized") {
		t.Fatalf("anonymous save: %d\n%s", code, out)
	}
	if code, out := runKorum(t, "snapshot", "save", file, "--addr", src[1].api, "--username", "ann", "--password", "annpw"); code != 1 || !strings.Contains(out, "security.rights.forbidden") {
		t.Fatalf("save as a reader: %d\n%s", code, out)
	}
	if code, out := runKorum(t, "snapshot", "save", file, "--addr", src[1].api, "--username", "admin", "--password", "wrong"); code != 1 || !strings.Contains(out, "security.credentials.rejected") {
		t.Fatalf("save with a wrong password: %d\n%s", code, out)
	}
	if _, err := os.Stat(file); err == nil {
		t.Fatal("a refused save left a file")
	}
	if code, out := runKorum(t, "snapshot", "save", file, "--addr", src[1].api, "--username", "admin", "--password", "adminpw"); code != 0 {
		t.Fatalf("save: %d\n%s", code, out)
	}
	tokFile := filepath.Join(dir, "with-token.korum")
	if code, out := runKorum(t, "snapshot", "save", tokFile, "--addr", src[2].api, "--token", admin); code != 0 {
		t.Fatalf("save with --token: %d\n%s", code, out)
	}
	snapshotStatus(t, tokFile)
	out := snapshotStatus(t, file)
	if !strings.Contains(out, "storage engine: embedded") {
		t.Fatalf("status:\n%s", out)
	}

	// A damaged copy is refused, and the data dir is not created.
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	bad := filepath.Join(dir, "damaged.korum")
	os.WriteFile(bad, b, 0o600)
	if code, out := runKorum(t, "snapshot", "status", bad); code != 1 || !strings.Contains(out, "checksum mismatch") {
		t.Fatalf("status of a damaged backup: %d\n%s", code, out)
	}
	badDir := filepath.Join(dir, "bad-data")
	if code, out := runKorum(t, "snapshot", "restore", bad, "--data-dir", badDir); code != 1 || !strings.Contains(out, "checksum mismatch") {
		t.Fatalf("restore of a damaged backup: %d\n%s", code, out)
	}
	if _, err := os.Stat(badDir); err == nil {
		t.Fatal("a refused restore created the data dir")
	}
	// A data dir in use is refused.
	if code, out := runKorum(t, "snapshot", "restore", file, "--data-dir", src[0].dataDir); code != 1 || !strings.Contains(out, "not empty") {
		t.Fatalf("restore into a used data dir: %d\n%s", code, out)
	}

	// Restore: one node founds the new cluster, two empty ones join it
	// through their own Redis.
	data := filepath.Join(dir, "restored")
	if code, out := runKorum(t, "snapshot", "restore", file, "--data-dir", data); code != 0 {
		t.Fatalf("restore: %d\n%s", code, out)
	}
	r2 := startRedis(t)
	opts := []string{"--redis", r2.url(), "--logins-per-second", "0"}
	first := clusterNode(t, 4, data, true, opts...)
	dst := []*member{first, clusterNode(t, 5, "", true, opts...), clusterNode(t, 6, "", true, opts...)}
	// The tokens of the source cluster stay valid: its signing secret is
	// part of the security state.
	waitMembersAs(t, admin, dst, 3)
	var srcSt, dstSt struct {
		ClusterID string `json:"clusterId"`
	}
	json.Unmarshal(okAs(t, src[0].proc, admin, "GET", "/cluster/_status", "").Result, &srcSt)
	json.Unmarshal(okAs(t, first.proc, admin, "GET", "/cluster/_status", "").Result, &dstSt)
	if dstSt.ClusterID == "" || dstSt.ClusterID == srcSt.ClusterID {
		t.Fatalf("restored cluster id %q, source %q: want a new one", dstSt.ClusterID, srcSt.ClusterID)
	}
	for _, m := range dst {
		tok := login(t, m.proc, "admin", "adminpw")
		if got := clusterState(t, m.proc, tok); !reflect.DeepEqual(got, want) {
			for k := range want {
				if !reflect.DeepEqual(got[k], want[k]) {
					t.Errorf("%s: %s differs:\n got %v\nwant %v", m.api, k, got[k], want[k])
				}
			}
			t.Fatalf("%s: the restored state differs from the source's", m.api)
		}
	}
	ann := login(t, dst[2].proc, "ann", "annpw")
	okAs(t, dst[2].proc, ann, "GET", "/shop/items/item1", "")
	refusedWith(t, dst[2].doAs(t, ann, "GET", "/logs/events/_search", ""), "security.rights.forbidden")
	// The restored cluster takes writes, and they do not reach the source.
	okAs(t, dst[1].proc, admin, "POST", "/shop/items/new/_create", `{"name":"new"}`)
	okAs(t, first.proc, admin, "GET", "/shop/items/new", "")
	refusedWith(t, src[0].doAs(t, admin, "GET", "/shop/items/new", ""), "services.storage.not_found")
}

// A backup taken under write load is one point in the log: each writer
// sends its next write only once the previous one was acknowledged,
// alternating a document (the embedded store) and a memory storage key
// (the in-memory state), or creating users (the security state), so what a
// consistent backup holds of each writer is a prefix of its writes with no
// gap, in every part of the state together. Every
// write acknowledged before the save started is in it; no write sent after
// the save ended is.
func TestSnapshotUnderWriteLoad(t *testing.T) {
	r := startRedis(t)
	src := formRedis(t, r, 3)
	mustOK(t, src[0].proc, "POST", "/load/_create", "")
	mustOK(t, src[0].proc, "PUT", "/load/docs", `{}`)

	// Writers 0-3 alternate documents and ms keys; writer 4 creates users
	// (the security state).
	const writers = 5
	var stop atomic.Bool
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := make([]int, writers) // writes acknowledged, per writer
	sent := make([]int, writers)  // writes sent (acknowledged, failed or in flight)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := httpClient()
			for i := 0; !stop.Load(); i++ {
				m := src[(w+i)%3]
				path, body := fmt.Sprintf("/load/docs/w%d-%d/_create", w, i), `{"w":1}`
				if w == 4 {
					path, body = fmt.Sprintf("/users/w%d-%d/_create", w, i), `{"content":{"profileIds":["default"]}}`
				} else if i%2 == 1 {
					path, body = fmt.Sprintf("/ms/_set/m:w%d-%d", w, i), `{"value":"v"}`
				}
				mu.Lock()
				sent[w] = i + 1
				mu.Unlock()
				resp, err := c.Post("http://"+m.api+path, "application/json", strings.NewReader(body))
				if err != nil || resp.StatusCode != 200 {
					if resp != nil {
						resp.Body.Close()
					}
					// An unknown outcome ends this writer: a retry would
					// break the one-write-in-flight rule the check needs.
					return
				}
				resp.Body.Close()
				mu.Lock()
				acked[w] = i + 1
				mu.Unlock()
			}
		}()
	}
	defer func() { stop.Store(true); wg.Wait() }()
	total := func(counts []int) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, c := range counts {
			n += c
		}
		return n
	}
	eventually(t, 30*time.Second, "some load", func() bool {
		mu.Lock()
		users := acked[4]
		mu.Unlock()
		return total(acked) >= 80 && users >= 3
	})
	mu.Lock()
	before := append([]int(nil), acked...)
	mu.Unlock()
	file := filepath.Join(t.TempDir(), "load.korum")
	if code, out := runKorum(t, "snapshot", "save", file, "--addr", src[1].api); code != 0 {
		t.Fatalf("save: %d\n%s", code, out)
	}
	mu.Lock()
	after := append([]int(nil), sent...)
	mu.Unlock()
	// Let the load go on past the save, then stop it.
	sentByEnd := 0
	for _, n := range after {
		sentByEnd += n
	}
	eventually(t, 30*time.Second, "writes after the save", func() bool { return total(acked) > sentByEnd+20 })
	stop.Store(true)
	wg.Wait()
	snapshotStatus(t, file)

	data := filepath.Join(t.TempDir(), "restored")
	if code, out := runKorum(t, "snapshot", "restore", file, "--data-dir", data); code != 0 {
		t.Fatalf("restore: %d\n%s", code, out)
	}
	dst := clusterNode(t, 4, data, true)
	var docs hits
	json.Unmarshal(mustOK(t, dst.proc, "POST", "/load/docs/_search?size=10000", `{}`).Result, &docs)
	if docs.Total != len(docs.Hits) {
		t.Fatalf("%d of %d documents returned", len(docs.Hits), docs.Total)
	}
	var keys []string
	json.Unmarshal(mustOK(t, dst.proc, "GET", "/ms/_keys/m:*", "").Result, &keys)
	held := make([]map[int]bool, writers)
	for w := range held {
		held[w] = map[int]bool{}
	}
	add := func(name string) {
		var w, i int
		if _, err := fmt.Sscanf(name, "w%d-%d", &w, &i); err != nil || w >= writers {
			t.Fatalf("unexpected entry %q", name)
		}
		held[w][i] = true
	}
	for _, h := range docs.Hits {
		add(h.ID)
	}
	for _, k := range keys {
		add(strings.TrimPrefix(k, "m:"))
	}
	var users hits
	json.Unmarshal(mustOK(t, dst.proc, "POST", "/users/_search?size=10000", `{}`).Result, &users)
	for _, u := range users.Hits {
		add(u.ID)
	}
	if len(held[4]) == 0 || len(held[0]) == 0 {
		t.Fatalf("the backup holds no user or no document: %d users, %d documents", len(users.Hits), len(docs.Hits))
	}
	for w := range writers {
		n := len(held[w])
		for i := range n {
			if !held[w][i] {
				t.Fatalf("writer %d: the backup holds %d of its writes but not write %d: not one point in the log", w, n, i)
			}
		}
		if n < before[w] || n > after[w] {
			t.Fatalf("writer %d: the backup holds its first %d writes; %d were acknowledged before the save, %d sent before it ended",
				w, n, before[w], after[w])
		}
		t.Logf("writer %d: %d writes in the backup (acknowledged before the save: %d, sent before its end: %d)", w, n, before[w], after[w])
	}
	// Each held write reads back as written on the source.
	for _, h := range docs.Hits[:min(len(docs.Hits), 20)] {
		_, env := src[0].do(t, "GET", "/load/docs/"+h.ID, "")
		var d struct {
			Source json.RawMessage `json:"_source"`
		}
		json.Unmarshal(env.Result, &d)
		if env.Error != nil || canonical(t, d.Source) != canonical(t, h.Source) {
			t.Fatalf("%s differs from the source: %s vs %s", h.ID, d.Source, h.Source)
		}
	}
}
