package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// redisServer is a real redis-server started for one test.
type redisServer struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{}
}

func startRedis(t *testing.T) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed (.ci/run installs it)")
	}
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	r := &redisServer{addr: addr, done: make(chan struct{})}
	r.cmd = exec.Command(bin, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no", "--protected-mode", "no")
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.cmd.Wait(); close(r.done) }()
	t.Cleanup(r.stop)
	eventually(t, 10*time.Second, "redis to answer", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		fmt.Fprintf(c, "PING\r\n")
		line, _ := bufio.NewReader(c).ReadString('\n')
		return strings.HasPrefix(line, "+PONG")
	})
	return r
}

func (r *redisServer) url() string { return "redis://" + r.addr }

func (r *redisServer) stop() {
	select {
	case <-r.done:
	default:
		r.cmd.Process.Kill()
		<-r.done
	}
}

// member is one korum process of a test cluster, on its own loopback IP.
type member struct {
	*proc
	ip      string
	cluster string
	args    []string
}

const testSecret = "integration-secret"

// clusterNode starts korum on 127.0.0.N with the given extra arguments and
// fast cluster timings; it does not wait for readiness when wait is false.
func clusterNode(t *testing.T, n int, dataDir string, wait bool, extra ...string) *member {
	t.Helper()
	return clusterNodeWith(t, korumBin, nil, n, dataDir, wait, extra...)
}

// clusterNodeWith is clusterNode with another binary and extra environment
// variables (the failpoint build).
func clusterNodeWith(t *testing.T, bin string, env []string, n int, dataDir string, wait bool, extra ...string) *member {
	t.Helper()
	ip := "127.0.0." + strconv.Itoa(ipBase()+n)
	m := &member{ip: ip, cluster: ip + ":" + strconv.Itoa(17000+n)}
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	m.args = append([]string{"--cluster-addr", m.cluster, "--cluster-secret", testSecret,
		"--quorum-contact-timeout", "3s", "--dead-node-timeout", "6s", "--heartbeat", "500ms",
		"--join-timeout", "20s", "--log-level", "info"}, extra...)
	m.proc = launchWith(t, bin, env, dataDir, ip+":"+strconv.Itoa(18000+n), m.args...)
	if wait {
		m.waitReady(t)
	}
	return m
}

// launch starts korum without waiting.
func launch(t *testing.T, dataDir, api string, args ...string) *proc {
	t.Helper()
	return launchWith(t, korumBin, nil, dataDir, api, args...)
}

func launchWith(t *testing.T, bin string, env []string, dataDir, api string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, api: api, dataDir: dataDir, exited: make(chan struct{})}
	all := append([]string{"--data-dir", dataDir, "--api-addr", api}, storageArgs(t, args)...)
	p.cmd = exec.Command(bin, all...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("logs of %s:\n%s", api, tail(p.Logs(), 60))
		}
	})
	return p
}

// ipBase is the last byte before the cluster tests' loopback addresses
// (127.0.0.11 and up by default); KORUM_TEST_IP_BASE moves them so that two
// runs can share a machine.
func ipBase() int {
	if v, err := strconv.Atoi(os.Getenv("KORUM_TEST_IP_BASE")); err == nil && v > 0 && v < 240 {
		return v
	}
	return 10
}

// failpointBin builds korum with -tags korum_failpoints (node/failpoint_on.go)
// into the test's temporary directory.
func failpointBin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "korum-failpoints")
	cmd := exec.Command("go", "build", "-tags", "korum_failpoints", "-o", bin, "../../cmd/node")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the failpoint binary: %v\n%s", err, out)
	}
	return bin
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (p *proc) waitReady(t *testing.T) {
	t.Helper()
	eventually(t, 30*time.Second, p.api+" /_ready", func() bool {
		select {
		case <-p.exited:
			t.Fatalf("%s exited early: %v\n%s", p.api, p.err, tail(p.Logs(), 40))
		default:
		}
		return p.ready()
	})
}

func (p *proc) ready() bool {
	c := httpClient()
	resp, err := c.Get("http://" + p.api + "/_ready")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

func (p *proc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// exitCode waits for the process to exit on its own.
func (p *proc) exitCode(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("%s still running after %s", p.api, within)
		return -1
	}
}

func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.exited
}

// clusterStatus is the part of cluster:status the tests read.
type clusterStatus struct {
	ActiveNodes  int    `json:"activeNodes"`
	Leader       string `json:"leader"`
	Voters       int    `json:"voters"`
	VotersWanted int    `json:"votersWanted"`
	Nodes        []struct {
		ID      string `json:"id"`
		Address string `json:"address"`
		Role    string `json:"role"`
	} `json:"nodes"`
	Activity []struct {
		ID     string `json:"id"`
		Event  string `json:"event"`
		Reason string `json:"reason"`
	} `json:"activity"`
}

func (p *proc) status(t *testing.T) (clusterStatus, *kerr) {
	t.Helper()
	_, env := p.do(t, "GET", "/cluster/_status", "")
	var st clusterStatus
	if env.Error == nil {
		json.Unmarshal(env.Result, &st)
	}
	return st, env.Error
}

// nodeID returns the id a member reports in its envelopes.
func (p *proc) nodeID(t *testing.T) string {
	t.Helper()
	_, env := p.do(t, "GET", "/_now", "")
	return env.Node
}

// iptablesChain isolates loopback addresses in a dedicated chain.
type firewall struct {
	t     *testing.T
	chain string
}

func newFirewall(t *testing.T) *firewall {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("iptables partitions need root")
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("iptables is not installed (.ci/run installs it)")
	}
	f := &firewall{t: t, chain: "KORUM-IT-" + strconv.Itoa(os.Getpid()%100000)}
	f.run("-N", f.chain)
	f.run("-I", "INPUT", "-j", f.chain)
	t.Cleanup(func() {
		exec.Command("iptables", "-D", "INPUT", "-j", f.chain).Run()
		exec.Command("iptables", "-F", f.chain).Run()
		exec.Command("iptables", "-X", f.chain).Run()
	})
	return f
}

func (f *firewall) run(args ...string) {
	f.t.Helper()
	if out, err := exec.Command("iptables", append([]string{"-w"}, args...)...).CombinedOutput(); err != nil {
		f.t.Fatalf("iptables %v: %v: %s", args, err, out)
	}
}

// isolate drops every packet between ip and the other cluster members
// (the test process can still reach its API on the same address).
func (f *firewall) isolate(ip string, others ...string) {
	for _, o := range others {
		f.run("-A", f.chain, "-s", ip, "-d", o, "-j", "DROP")
		f.run("-A", f.chain, "-s", o, "-d", ip, "-j", "DROP")
	}
}

func (f *firewall) heal() { f.run("-F", f.chain) }

func httpClient() *http.Client { return &http.Client{Timeout: 3 * time.Second} }
