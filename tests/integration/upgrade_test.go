package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// previousRelease is the git tag of the release a rolling upgrade starts
// from: the last one whose formats HEAD must read (fsm/testdata/v1).
const previousRelease = "v0.2.0"

// releaseBin builds the korum binary of a git tag of this repository into
// the test's temporary directory, or skips when git or the tag is missing.
func releaseBin(t *testing.T, tag string) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed: the previous release cannot be built")
	}
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("tar is not installed: the previous release cannot be unpacked")
	}
	if out, err := exec.Command("git", "-C", "../..", "rev-parse", "--verify", "--quiet", tag+"^{commit}").CombinedOutput(); err != nil {
		t.Skipf("git tag %s is not in this checkout (git fetch --tags): %v %s", tag, err, out)
	}
	src := t.TempDir()
	tarball := filepath.Join(t.TempDir(), tag+".tar")
	if out, err := exec.Command("git", "-C", "../..", "archive", "--format=tar", "-o", tarball, tag).CombinedOutput(); err != nil {
		t.Fatalf("git archive %s: %v\n%s", tag, err, out)
	}
	if out, err := exec.Command("tar", "-x", "-f", tarball, "-C", src).CombinedOutput(); err != nil {
		t.Fatalf("unpacking %s: %v\n%s", tag, err, out)
	}
	bin := filepath.Join(t.TempDir(), "korum-"+tag)
	build := exec.Command("go", "build", "-o", bin, "./cmd/node")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", tag, err, out)
	}
	return bin
}

// upgradeLoad is the clients of the rolling upgrade: writers creating
// documents through random nodes, and subscribers to every creation.
type upgradeLoad struct {
	t     *testing.T
	procs []*proc
	// slot[i] is held for reading by a request to node i, for writing
	// while node i restarts: clients only use the nodes that stay up.
	slot []sync.RWMutex

	invoked atomic.Int64 // writes invoked so far (each write's sequence)
	mu      sync.Mutex
	acked   []ackedWrite
	failed  []string
	retries int

	subsMu sync.Mutex
	subs   []*upgradeSub
}

type ackedWrite struct {
	seq int64
	id  string
}

// upgradeSub is one subscription to every creation in up/docs. start is
// the writes invoked when subscribe returned: every later acknowledged
// write must be notified to it while it lives.
type upgradeSub struct {
	node  int
	ws    *websocket.Conn
	start int64
	mu    sync.Mutex
	got   map[string]bool
	err   error
	done  chan struct{}
}

func (s *upgradeSub) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got[id]
}

func (l *upgradeLoad) subscribe(node int) *upgradeSub {
	t := l.t
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+l.procs[node].api+"/", nil)
	if err != nil {
		t.Fatalf("subscriber on node %d: %v", node+1, err)
	}
	req, _ := json.Marshal(map[string]any{"controller": "realtime", "action": "subscribe", "index": "up", "collection": "docs",
		"body": map[string]any{}, "requestId": "sub"})
	if err := ws.WriteMessage(websocket.TextMessage, req); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("subscribing on node %d: %v", node+1, err)
		}
		var env envelope
		json.Unmarshal(data, &env)
		if env.RequestID == "sub" && env.Room == "sub" {
			if env.Error != nil {
				t.Fatalf("subscribing on node %d: %+v", node+1, env.Error)
			}
			break
		}
	}
	s := &upgradeSub{node: node, ws: ws, start: l.invoked.Load(), got: map[string]bool{}, done: make(chan struct{})}
	_ = ws.SetReadDeadline(time.Time{})
	go func() {
		defer close(s.done)
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				s.mu.Lock()
				s.err = err
				s.mu.Unlock()
				return
			}
			var n struct {
				Type   string `json:"type"`
				Action string `json:"action"`
				Result struct {
					ID string `json:"_id"`
				} `json:"result"`
			}
			if json.Unmarshal(data, &n) == nil && n.Type == "document" && n.Action == "create" {
				s.mu.Lock()
				s.got[n.Result.ID] = true
				s.mu.Unlock()
			}
		}
	}()
	l.subsMu.Lock()
	l.subs = append(l.subs, s)
	l.subsMu.Unlock()
	return s
}

func (l *upgradeLoad) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// owed returns the acknowledged writes s must have been notified of so far.
func (l *upgradeLoad) owed(s *upgradeSub) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ids []string
	for _, a := range l.acked {
		if a.seq > s.start {
			ids = append(ids, a.id)
		}
	}
	return ids
}

// settle waits until s has every notification it owes now; then it may
// go (its node restarts): later writes are the other subscribers' to see.
func (l *upgradeLoad) settle(s *upgradeSub) {
	l.t.Helper()
	owed := l.owed(s)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var missing []string
		for _, id := range owed {
			if !s.has(id) {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 {
			return
		}
		s.mu.Lock()
		err := s.err
		s.mu.Unlock()
		if err != nil || time.Now().After(deadline) {
			l.t.Fatalf("subscriber on node %d lost %d of %d notifications (e.g. %v); connection: %v",
				s.node+1, len(missing), len(owed), missing[:min(5, len(missing))], err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// retire settles then closes the subscriptions on node.
func (l *upgradeLoad) retire(node int) {
	l.t.Helper()
	l.subsMu.Lock()
	var keep, gone []*upgradeSub
	for _, s := range l.subs {
		if s.node == node {
			gone = append(gone, s)
		} else {
			keep = append(keep, s)
		}
	}
	l.subs = keep
	l.subsMu.Unlock()
	for _, s := range gone {
		l.settle(s)
		s.ws.Close()
		<-s.done
	}
}

// write creates documents until ctx ends. A write is retried only when
// its error proves it was not applied; any other error, a lost connection
// or a timeout is a failure (its outcome is unknown).
func (l *upgradeLoad) write(ctx context.Context, g int) {
	c := &http.Client{Timeout: 30 * time.Second}
	for i := 0; ctx.Err() == nil; i++ {
		id := fmt.Sprintf("w%d-%d", g, i)
		seq := l.invoked.Add(1)
		for attempt := 0; ; attempt++ {
			node := rand.IntN(len(l.procs))
			if !l.slot[node].TryRLock() {
				continue // restarting: another node
			}
			p := l.procs[node]
			errID, err := postCreate(c, p.api, "/up/docs/"+id+"/_create")
			l.slot[node].RUnlock()
			l.mu.Lock()
			switch {
			case err == nil && errID == "":
				l.acked = append(l.acked, ackedWrite{seq: seq, id: id})
			case err == nil && errID == "api.process.not_enough_nodes" && attempt < 10:
				// Refused before it entered the log (no leader known
				// within the wait): safe to send again.
				l.retries++
				l.mu.Unlock()
				continue
			default:
				l.failed = append(l.failed, fmt.Sprintf("%s on node %d: %v %s", id, node+1, err, errID))
			}
			l.mu.Unlock()
			break
		}
	}
}

func postCreate(c *http.Client, api, path string) (errID string, err error) {
	req, err := http.NewRequest("POST", "http://"+api+path, strings.NewReader(`{"k":1}`))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return "", fmt.Errorf("status %d, not an envelope: %.200s", resp.StatusCode, b)
	}
	if env.Error != nil {
		return env.Error.ID, nil
	}
	return "", nil
}

// featureVersion is cluster:status's featureVersion on p (0: absent, as
// on v0.2.0).
func featureVersion(t *testing.T, p *proc) int {
	t.Helper()
	_, env := p.do(t, "GET", "/cluster/_status", "")
	var st struct {
		FeatureVersion int `json:"featureVersion"`
	}
	json.Unmarshal(env.Result, &st)
	return st.FeatureVersion
}

// A rolling upgrade from the previous release to HEAD, one node at a time,
// under writes through every node that stays up and subscribers on them:
// no acknowledged write fails, no notification is lost, and the cluster
// agrees on the new feature version once every node runs HEAD. While a
// node of the previous release remains, a HEAD node may go back to it;
// after the agreement, the previous release refuses the data directory
// (it exits with a clear message) and HEAD takes it back.
func TestRollingUpgrade(t *testing.T) {
	oldBin := releaseBin(t, previousRelease)
	r := startRedis(t)
	ms := make([]*member, 3)
	var all []*proc // every process started, for the snapshot figures
	for i := range ms {
		// Frequent snapshots and a short log tail: restarted nodes catch
		// up by snapshots sent across releases, not only by the log.
		ms[i] = clusterNodeWith(t, oldBin, nil, i+1, "", false, "--redis", r.url(),
			"--raft-snapshot-threshold", "64", "--raft-snapshot-interval", "500ms", "--raft-trailing-logs", "16")
		all = append(all, ms[i].proc)
	}
	for _, m := range ms {
		m.waitReady(t)
	}
	waitMembers(t, ms, 3)
	mustOK(t, ms[0].proc, "POST", "/up/_create", "")
	mustOK(t, ms[0].proc, "PUT", "/up/docs", "{}")

	l := &upgradeLoad{t: t, procs: []*proc{ms[0].proc, ms[1].proc, ms[2].proc}, slot: make([]sync.RWMutex, 3)}
	l.subscribe(1)
	l.subscribe(2)
	ctx, stopLoad := context.WithCancel(context.Background())
	var writers sync.WaitGroup
	for g := range 4 {
		writers.Add(1)
		go func() { defer writers.Done(); l.write(ctx, g) }()
	}
	defer func() { stopLoad(); writers.Wait() }()

	// replace restarts node i with bin on its data directory, the clients
	// kept off it: subscribers on the two others, writers too.
	replace := func(i int, bin string) {
		t.Helper()
		for j := range ms {
			if j == i {
				continue
			}
			l.subsMu.Lock()
			has := false
			for _, s := range l.subs {
				has = has || s.node == j
			}
			l.subsMu.Unlock()
			if !has {
				l.subscribe(j)
			}
		}
		l.retire(i)
		l.slot[i].Lock()
		if code := ms[i].stop(); code != 0 {
			t.Fatalf("node %d stopped with code %d:\n%s", i+1, code, tail(ms[i].Logs(), 30))
		}
		ms[i].proc = launchWith(t, bin, nil, ms[i].dataDir, ms[i].api, ms[i].args...)
		all = append(all, ms[i].proc)
		ms[i].waitReady(t)
		l.procs[i] = ms[i].proc
		l.slot[i].Unlock()
		waitMembers(t, ms, 3)
		t.Logf("node %d now runs %s; %d writes acknowledged", i+1, filepath.Base(bin), l.ackedCount())
	}

	// Mixed: the cluster stays at feature version 1, and the new node can
	// go back to the old release.
	replace(0, korumBin)
	if v := featureVersion(t, ms[0].proc); v != 1 {
		t.Fatalf("feature version %d while a node runs %s, want 1", v, previousRelease)
	}
	// An operation newer than its entry kind is gated like a new kind:
	// the old nodes would answer a security mapping update "unknown
	// security command" and keep the old mapping.
	const mappingBody = `{"properties":{"nickname":{"type":"keyword"}}}`
	if _, env := ms[0].do(t, "PUT", "/users/_mapping", mappingBody); env.Error == nil || env.Error.ID != "cluster.process.feature_unavailable" {
		t.Fatalf("a security mapping update while a node runs %s: %+v", previousRelease, env.Error)
	}
	replace(0, oldBin)
	replace(0, korumBin)
	replace(1, korumBin)
	replace(2, korumBin)
	for _, m := range ms {
		eventually(t, 30*time.Second, m.api+" at feature version 2", func() bool { return featureVersion(t, m.proc) == 2 })
	}
	mustOK(t, ms[1].proc, "PUT", "/users/_mapping", mappingBody)
	replace(0, korumBin) // a restart at the new version
	// The mapping is in the replicated state: every node answers it, the
	// restarted one too.
	for _, m := range ms {
		if env := mustOK(t, m.proc, "GET", "/users/_mapping", ""); !strings.Contains(string(env.Result), `"nickname":{"type":"keyword"}`) {
			t.Fatalf("node %s answers the users mapping %s", m.api, env.Result)
		}
	}

	stopLoad()
	writers.Wait()
	l.mu.Lock()
	acked, failed, retries := len(l.acked), l.failed, l.retries
	l.mu.Unlock()
	snaps, installs := 0, 0
	for _, p := range all {
		snaps += strings.Count(p.Logs(), "snapshot complete")
		installs += strings.Count(p.Logs(), "Installed remote snapshot")
	}
	t.Logf("%d snapshots taken, %d installed from a leader", snaps, installs)
	t.Logf("%d writes acknowledged, %d failed, %d retried after a refusal that proves they were not applied", acked, len(failed), retries)
	if len(failed) > 0 {
		t.Fatalf("%d writes failed during the rolling upgrade: %v", len(failed), failed[:min(10, len(failed))])
	}
	if acked == 0 {
		t.Fatal("no write was acknowledged: the load did not run")
	}
	l.subsMu.Lock()
	subs := append([]*upgradeSub(nil), l.subs...)
	l.subsMu.Unlock()
	for _, s := range subs {
		l.settle(s)
	}
	for _, m := range ms {
		_, env := m.do(t, "POST", "/up/docs/_count", `{}`)
		if env.Error != nil || !strings.Contains(string(env.Result), fmt.Sprintf(`"count":%d`, acked)) {
			t.Fatalf("node %s counts %s, want %d acknowledged documents (%+v)", m.api, env.Result, acked, env.Error)
		}
	}

	// The reverse direction, once the cluster agreed on version 2: the
	// previous release refuses the data directory instead of diverging.
	if code := ms[2].stop(); code != 0 {
		t.Fatalf("node 3 stopped with code %d", code)
	}
	old := launchWith(t, oldBin, nil, ms[2].dataDir, ms[2].api, ms[2].args...)
	if code := old.exitCode(t, 60*time.Second); code == 0 || !strings.Contains(old.Logs(), "unsupported storage format") {
		t.Fatalf("%s on a data directory of feature version 2 must exit with a clear message; exit code %d:\n%s",
			previousRelease, code, tail(old.Logs(), 20))
	}
	mustOK(t, ms[0].proc, "POST", "/up/docs/after-downgrade/_create", `{}`)
	ms[2].proc = launchWith(t, korumBin, nil, ms[2].dataDir, ms[2].api, ms[2].args...)
	ms[2].waitReady(t)
	waitMembers(t, ms, 3)
	mustOK(t, ms[2].proc, "GET", "/up/docs/after-downgrade", "")

	// A new node of the previous release is refused at its join: it would
	// meet entries or a snapshot of a version it cannot read.
	fresh := clusterNodeWith(t, oldBin, nil, 4, "", false, "--redis", r.url())
	if code := fresh.exitCode(t, 90*time.Second); code != 13 {
		t.Fatalf("a %s node joining a cluster at feature version 2 must give up at its join timeout (13), exit code %d:\n%s",
			previousRelease, code, tail(fresh.Logs(), 20))
	}
	refused := false
	for _, m := range ms {
		refused = refused || strings.Contains(m.Logs(), "join refused")
	}
	if !refused {
		t.Fatal("the leader must log why it refused the join")
	}
	waitMembers(t, ms, 3)
}
