package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// tryWrite creates a document through p and reports whether it was
// acknowledged, without failing the test on a refused connection.
func tryWrite(p *proc, path string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", "http://"+p.api+path, strings.NewReader(`{}`))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == 200
}

// startTogether starts n nodes through one Redis at once, as `docker
// compose up` does, and waits until every one reports /_ready.
func startTogether(t *testing.T, r *redisServer, n int, extra ...string) []*member {
	t.Helper()
	ms := make([]*member, n)
	for i := range ms {
		ms[i] = clusterNode(t, i+1, "", false, append([]string{"--redis", r.url()}, extra...)...)
	}
	for _, m := range ms {
		m.waitReady(t)
	}
	return ms
}

// The young cluster of the reliability finding: three nodes formed through
// Redis, one killed (SIGKILL, never restarted) as soon as all three report
// ready. The two others must keep serving: with cluster.minimumNodes 3
// they were voters from the first entry; with 1, each joiner was promoted
// as soon as it caught up, and a node reports ready only once it votes.
func TestYoungClusterSurvivesTheLossOfANode(t *testing.T) {
	for _, minimum := range []int{1, 3} {
		t.Run(fmt.Sprintf("minimumNodes=%d", minimum), func(t *testing.T) {
			r := startRedis(t)
			ms := startTogether(t, r, 3, "--minimum-nodes", fmt.Sprint(minimum))
			// Kill the bootstrap node (with 1) or the leader (with 3,
			// where all three bootstrapped), right after readiness.
			var victim *member
			if minimum == 1 {
				for _, m := range ms {
					if strings.Contains(m.Logs(), "bootstrapped new cluster") {
						victim = m
					}
				}
			} else {
				victim, _ = leaderOf(t, ms)
			}
			if victim == nil {
				t.Fatal("no node bootstrapped")
			}
			victimID := victim.nodeID(t)
			victim.kill()
			var rest []*member
			for _, m := range ms {
				if m != victim {
					rest = append(rest, m)
				}
			}
			for i, m := range rest {
				eventually(t, 30*time.Second, m.api+" to accept writes without "+victimID, func() bool {
					if !m.alive() {
						t.Fatalf("%s exited (code %d) after %s died:\n%s", m.api, m.cmd.ProcessState.ExitCode(), victimID, tail(m.Logs(), 30))
					}
					return tryWrite(m.proc, fmt.Sprintf("/young%d/_create", i))
				})
			}
			st, kerr := rest[0].status(t)
			if kerr != nil || st.Leader == victimID || st.Voters != 3 || st.VotersWanted != 3 {
				t.Fatalf("status after the loss: %+v %+v (want a new leader, voters 3 of 3 wanted until the dead one is evicted)", st, kerr)
			}
			if minimum == 3 && strings.Contains(rest[0].Logs()+rest[1].Logs(), "promoted to voter") {
				t.Fatal("with minimumNodes 3 no promotion should ever be needed")
			}
		})
	}
}

func TestClusterStatusShowsVoters(t *testing.T) {
	r := startRedis(t)
	ms := startTogether(t, r, 2, "--minimum-nodes", "2")
	eventually(t, 20*time.Second, "status with 2 voters out of 3 wanted", func() bool {
		st, err := ms[1].status(t)
		return err == nil && st.Voters == 2 && st.VotersWanted == 3 && voters(st) == 2
	})
}

// korum recover: a cluster whose majority is gone for good is brought back
// on its survivor, with its data.
func TestRecoverASurvivorOfALostMajority(t *testing.T) {
	r := startRedis(t)
	ms := startTogether(t, r, 3, "--minimum-nodes", "3")
	waitMembers(t, ms, 3)
	mustOK(t, ms[0].proc, "POST", "/rec/_create", "")
	mustOK(t, ms[0].proc, "PUT", "/rec/c", "{}")
	for i := range 10 {
		mustOK(t, ms[i%3].proc, "POST", fmt.Sprintf("/rec/c/d%d/_create", i), `{}`)
	}
	survivor := ms[2]
	survivorID := survivor.nodeID(t)
	ms[0].kill()
	ms[1].kill()
	// Cut from its quorum, the survivor exits on its own (quorum lost).
	if code := survivor.exitCode(t, 20*time.Second); code != 10 {
		t.Fatalf("survivor exit code %d, want 10 (quorum lost)", code)
	}

	// Bad input is refused without touching the data dir.
	for _, args := range [][]string{
		{"recover", "--data-dir", survivor.dataDir},
		{"recover", "--data-dir", survivor.dataDir, "--peers", "someone-else=" + survivor.cluster},
		{"recover", "--data-dir", survivor.dataDir, "--peers", survivorID + "=no-port"},
	} {
		if out, err := exec.Command(korumBin, args...).CombinedOutput(); err == nil {
			t.Fatalf("korum %v succeeded:\n%s", args, out)
		}
	}
	out, err := exec.Command(korumBin, "recover", "--data-dir", survivor.dataDir, "--peers", survivorID+"="+survivor.cluster).CombinedOutput()
	if err != nil {
		t.Fatalf("korum recover: %v\n%s", err, out)
	}

	back := &member{ip: survivor.ip, cluster: survivor.cluster, args: survivor.args}
	back.proc = launch(t, survivor.dataDir, survivor.api, survivor.args...)
	back.waitReady(t)
	if id := back.nodeID(t); id != survivorID {
		t.Fatalf("recovered node came back as %s, want %s", id, survivorID)
	}
	_, env := back.do(t, "POST", "/rec/c/_count", `{}`)
	if env.Error != nil || !strings.Contains(string(env.Result), `"count":10`) {
		t.Fatalf("the recovered cluster must hold the data: %+v %s", env.Error, env.Result)
	}
	mustOK(t, back.proc, "POST", "/rec/c/after/_create", `{}`)
	st, kerr := back.status(t)
	if kerr != nil || st.ActiveNodes != 1 || st.Voters != 1 {
		t.Fatalf("status after recovery: %+v %+v, want one node, one voter", st, kerr)
	}

	// The cluster grows again: a new node joins through Redis and, the
	// cluster having fewer voters than wanted, is promoted at once.
	fresh := clusterNode(t, 4, "", true, "--redis", r.url())
	waitMembers(t, []*member{back, fresh}, 2)
	mustOK(t, fresh.proc, "GET", "/rec/c/after", "")
}

// A node waiting for cluster.minimumNodes is not ready, and a stop request
// while it waits is a clean exit.
func TestWaitingForMinimumNodesStopsCleanly(t *testing.T) {
	r := startRedis(t)
	m := clusterNode(t, 1, "", false, "--redis", r.url(), "--minimum-nodes", "2")
	eventually(t, 20*time.Second, "the node to wait for a second one", func() bool {
		return strings.Contains(m.Logs(), "waiting for nodes to form the cluster")
	})
	if m.ready() {
		t.Fatal("a node waiting to form its cluster reports ready")
	}
	if code := m.stop(); code != 0 {
		t.Fatalf("stopped while waiting: exit code %d, want 0\n%s", code, tail(m.Logs(), 10))
	}
}
